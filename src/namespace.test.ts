import { Query } from 'mingo';
import { UsageError } from './errors.js';
import { nsMatchFor, parseNamespace, resolveTarget } from './namespace.js';

describe('parseNamespace', () => {
  test.each([
    ['shop', { db: 'shop' }],
    ['shop.orders', { db: 'shop', coll: 'orders' }],
    ['shop.a.b', { db: 'shop', coll: 'a.b' }],
    ['my-db.Orders_2024', { db: 'my-db', coll: 'Orders_2024' }],
    ['données.café', { db: 'données', coll: 'café' }],
  ])('%s', (text, expected) => {
    expect(parseNamespace(text)).toEqual(expected);
  });

  test.each([
    ['', 'invalid namespace "": it is empty'],
    ['.orders', 'invalid namespace ".orders": the database name is empty'],
    ['shop.', 'invalid namespace "shop.": the collection name is empty'],
    ['sh$op', 'invalid namespace "sh$op": database names cannot contain "$"'],
    ['sh op.x', 'invalid namespace "sh op.x": database names cannot contain spaces'],
    ['sh/op', 'invalid namespace "sh/op": database names cannot contain "/"'],
    ['sh\0op', 'invalid namespace "sh\\0op": database names cannot contain a nul character'],
    ['shop.ord$ers', 'invalid namespace "shop.ord$ers": collection names cannot contain "$"'],
    // Control characters are shown escaped: the message stays one line, no terminal escapes.
    ['sh op\n.x', 'invalid namespace "sh op\\n.x": database names cannot contain spaces'],
    ['\u001b[2J.x$', 'invalid namespace "\\x1b[2J.x$": collection names cannot contain "$"'],
    [
      'shop.a\0b',
      'invalid namespace "shop.a\\0b": collection names cannot contain a nul character',
    ],
    [
      'shop.system.views',
      'invalid namespace "shop.system.views": MongoDB does not allow change streams on system collections',
    ],
    [
      'admin',
      'invalid namespace "admin": MongoDB does not allow change streams on the admin database',
    ],
    [
      'local.oplog.rs',
      'invalid namespace "local.oplog.rs": MongoDB does not allow change streams on the local database',
    ],
    [
      'config.x',
      'invalid namespace "config.x": MongoDB does not allow change streams on the config database',
    ],
    ['x'.repeat(64), `invalid namespace "${'x'.repeat(64)}": database names are at most 63 bytes`],
  ])('%j is a usage error', (text, message) => {
    expect(() => parseNamespace(text)).toThrow(new UsageError(message));
  });

  test('the reserved-database error hints at the cluster stream', () => {
    try {
      parseNamespace('admin');
      throw new Error('no error');
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).hint).toBe('give no namespace to watch the whole deployment');
      expect((error as UsageError).exitCode).toBe(2);
    }
  });
});

describe('resolveTarget', () => {
  test('nothing → the whole deployment', () => {
    expect(resolveTarget([])).toEqual({
      scope: { kind: 'cluster' },
      label: 'the whole deployment',
    });
  });

  test('one database / one collection', () => {
    expect(resolveTarget(['shop'])).toEqual({
      scope: { kind: 'database', db: 'shop' },
      label: 'shop',
    });
    expect(resolveTarget(['shop.orders'])).toEqual({
      scope: { kind: 'collection', db: 'shop', coll: 'orders' },
      label: 'shop.orders',
    });
  });

  test('duplicates collapse; a database absorbs its collections', () => {
    expect(resolveTarget(['shop.orders', 'shop.orders']).scope).toEqual({
      kind: 'collection',
      db: 'shop',
      coll: 'orders',
    });
    expect(resolveTarget(['shop.orders', 'shop'])).toEqual({
      scope: { kind: 'database', db: 'shop' },
      label: 'shop',
    });
  });

  test('two collections of one database → database stream + ns filter', () => {
    const target = resolveTarget(['shop.orders', 'shop.users']);
    expect(target.scope).toEqual({ kind: 'database', db: 'shop' });
    expect(target.label).toBe('shop.orders, shop.users');
    expect(target.nsMatch).toEqual({
      $match: {
        $or: [
          { 'ns.db': 'shop', 'ns.coll': 'orders' },
          { 'to.db': 'shop', 'to.coll': 'orders' },
          { 'ns.db': 'shop', 'ns.coll': 'users' },
          { 'to.db': 'shop', 'to.coll': 'users' },
          { operationType: 'dropDatabase', 'ns.db': 'shop' },
          { operationType: 'invalidate' },
        ],
      },
    });
  });

  test('across databases → cluster stream + ns filter', () => {
    const target = resolveTarget(['shop.orders', 'crm']);
    expect(target.scope).toEqual({ kind: 'cluster' });
    expect(target.label).toBe('crm, shop.orders');
    expect(target.nsMatch).toEqual(nsMatchFor([{ db: 'crm' }, { db: 'shop', coll: 'orders' }]));
  });

  test('an invalid namespace among several is reported', () => {
    expect(() => resolveTarget(['shop.orders', 'admin.x'])).toThrow(UsageError);
  });
});

describe('the ns filter keeps exactly the events about the watched namespaces', () => {
  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    [
      'insert into a watched collection',
      { operationType: 'insert', ns: { db: 'shop', coll: 'orders' } },
      true,
    ],
    [
      'insert elsewhere in the database',
      { operationType: 'insert', ns: { db: 'shop', coll: 'carts' } },
      false,
    ],
    [
      'insert into the watched database',
      { operationType: 'insert', ns: { db: 'crm', coll: 'x' } },
      true,
    ],
    ['another database', { operationType: 'insert', ns: { db: 'other', coll: 'orders' } }, false],
    [
      'a rename into a watched collection',
      {
        operationType: 'rename',
        ns: { db: 'shop', coll: 'tmp' },
        to: { db: 'shop', coll: 'orders' },
      },
      true,
    ],
    [
      'a rename elsewhere',
      { operationType: 'rename', ns: { db: 'shop', coll: 'a' }, to: { db: 'shop', coll: 'b' } },
      false,
    ],
    [
      'dropDatabase of a database holding a watched collection',
      { operationType: 'dropDatabase', ns: { db: 'shop' } },
      true,
    ],
    [
      'dropDatabase of another database',
      { operationType: 'dropDatabase', ns: { db: 'other' } },
      false,
    ],
    ['invalidate (no ns)', { operationType: 'invalidate' }, true],
    [
      'a DDL event on a watched collection (--expanded)',
      { operationType: 'createIndexes', ns: { db: 'shop', coll: 'orders' } },
      true,
    ],
  ];
  const target = resolveTarget(['shop.orders', 'crm']);
  const query = new Query(target.nsMatch?.$match as Record<string, unknown>);

  test.each(cases)('%s', (_name, event, kept) => {
    expect(query.test(event)).toBe(kept);
  });
});
