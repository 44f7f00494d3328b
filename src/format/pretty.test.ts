/* eslint-disable no-control-regex -- these tests look for raw control characters and ANSI escapes */
import { Binary, Int32, Long, Timestamp } from 'bson';
import { createPrettyFormatter } from './pretty.js';
import { event, OID } from './samples.test-util.js';

const pretty = createPrettyFormatter({ color: false, timeZone: 'UTC' });
const key = { _id: OID };
const K = "ObjectId('65a1b2c3d4e5f6a7b8c9d0e1')";

test('events of one transaction (or retryable write) carry a short tag', () => {
  const lsid = {
    id: new Binary(Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex'), 4),
    uid: new Binary(Buffer.alloc(32), 0),
  };
  const line = pretty(
    event('insert', {
      fullDocument: { _id: OID, item: 'pen' },
      documentKey: key,
      lsid,
      txnNumber: Long.fromNumber(7),
    }),
  );
  expect(line).toBe(`21:44:35.123 insert       shop.orders ${K} [txn 7·a1b2c3] { item: 'pen' }`);
  const plain = pretty(event('insert', { fullDocument: { _id: OID }, documentKey: key }));
  expect(plain).not.toContain('[txn');
});

describe('pretty: one line per operation type (UTC, no colour)', () => {
  test.each([
    [
      'insert',
      event('insert', {
        fullDocument: { _id: OID, item: 'pen', qty: new Int32(2) },
        documentKey: key,
      }),
      `21:44:35.123 insert       shop.orders ${K} { item: 'pen', qty: 2 }`,
    ],
    [
      'insert of a document that is only an _id',
      event('insert', { fullDocument: { _id: OID }, documentKey: key }),
      `21:44:35.123 insert       shop.orders ${K} {}`,
    ],
    [
      'replace',
      event('replace', { fullDocument: { _id: OID, item: 'ink' }, documentKey: key }),
      `21:44:35.123 replace      shop.orders ${K} { item: 'ink' }`,
    ],
    [
      'replace with a pre-image',
      event('replace', {
        fullDocument: { _id: OID, item: 'ink' },
        documentKey: key,
        fullDocumentBeforeChange: { _id: OID, item: 'pen' },
      }),
      `21:44:35.123 replace      shop.orders ${K} { item: 'ink' } was { item: 'pen' }`,
    ],
    [
      'update',
      event('update', {
        documentKey: key,
        updateDescription: {
          updatedFields: { qty: new Int32(3), 'b.c': new Int32(2) },
          removedFields: ['note', 'x.y'],
          truncatedArrays: [{ field: 'tags', newSize: new Int32(2) }],
        },
      }),
      `21:44:35.123 update       shop.orders ${K} $set { qty: 3, 'b.c': 2 } $unset [note, 'x.y'] truncated [tags→2]`,
    ],
    [
      'update with a pre-image: before → after per field',
      event('update', {
        documentKey: key,
        updateDescription: {
          updatedFields: { qty: new Int32(3), 'b.c': new Int32(2), 'arr.1': 'z' },
          removedFields: ['note', 'gone'],
          truncatedArrays: [],
        },
        fullDocumentBeforeChange: { _id: OID, qty: new Int32(2), arr: ['a', 'b'], note: 'n' },
      }),
      `21:44:35.123 update       shop.orders ${K} $set { qty: 2 → 3, 'b.c': (absent) → 2, 'arr.1': 'b' → 'z' } $unset [note (was 'n'), gone]`,
    ],
    [
      'update with updateLookup shows the change, not the whole document',
      event('update', {
        documentKey: key,
        updateDescription: {
          updatedFields: { qty: new Int32(3) },
          removedFields: [],
          truncatedArrays: [],
        },
        fullDocument: { _id: OID, qty: new Int32(3), item: 'pen' },
      }),
      `21:44:35.123 update       shop.orders ${K} $set { qty: 3 }`,
    ],
    ['delete', event('delete', { documentKey: key }), `21:44:35.123 delete       shop.orders ${K}`],
    [
      'delete with a pre-image',
      event('delete', { documentKey: key, fullDocumentBeforeChange: { _id: OID, item: 'pen' } }),
      `21:44:35.123 delete       shop.orders ${K} was { item: 'pen' }`,
    ],
    [
      'delete on a sharded collection shows the whole key',
      event('delete', { documentKey: { region: 'EU', _id: new Int32(7) } }),
      "21:44:35.123 delete       shop.orders { region: 'EU', _id: 7 }",
    ],
    ['drop', event('drop'), '21:44:35.123 drop         shop.orders'],
    [
      'rename',
      event('rename', { to: { db: 'shop', coll: 'archive' } }),
      '21:44:35.123 rename       shop.orders → shop.archive',
    ],
    [
      'rename (expanded: operationDescription.to)',
      event('rename', { operationDescription: { to: { db: 'old', coll: 'x' } } }),
      '21:44:35.123 rename       shop.orders → old.x',
    ],
    [
      'dropDatabase',
      event('dropDatabase', { ns: { db: 'shop' } }),
      '21:44:35.123 dropDatabase shop',
    ],
    [
      'invalidate',
      event('invalidate', { ns: null }),
      '21:44:35.123 invalidate   ── stream invalidated ──',
    ],
    [
      'createIndexes (expanded)',
      event('createIndexes', {
        collectionUUID: new Binary(Buffer.alloc(16), 4),
        operationDescription: {
          indexes: [{ v: new Int32(2), key: { a: new Int32(1) }, name: 'a_1' }],
        },
      }),
      "21:44:35.123 createIndexes shop.orders { indexes: [ { v: 2, key: { a: 1 }, name: 'a_1' } ] }",
    ],
    [
      'create (expanded)',
      event('create', {
        operationDescription: {
          idIndex: { v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' },
        },
      }),
      "21:44:35.123 create       shop.orders { idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } }",
    ],
    [
      'a fragment of a split event',
      event('update', {
        documentKey: key,
        updateDescription: { updatedFields: { big: 'x' }, removedFields: [], truncatedArrays: [] },
        splitEvent: { fragment: new Int32(1), of: new Int32(3) },
      }),
      `21:44:35.123 update       shop.orders ${K} [fragment 1/3] $set { big: 'x' }`,
    ],
  ])('%s', (_name, ev, expected) => {
    expect(pretty(ev)).toBe(expected);
  });
});

describe('pretty: time column', () => {
  test('falls back to clusterTime when there is no wallTime', () => {
    const ev = event('drop', {
      wallTime: undefined,
      clusterTime: new Timestamp({ t: 1705095875, i: 9 }),
    });
    delete ev.wallTime;
    expect(pretty(ev)).toBe('21:44:35.000 drop         shop.orders');
  });

  test('a placeholder when the event has no time at all', () => {
    const ev = event('drop');
    delete ev.wallTime;
    delete ev.clusterTime;
    expect(pretty(ev)).toBe('--:--:--.--- drop         shop.orders');
  });

  test('an IANA zone shifts the clock', () => {
    const tokyo = createPrettyFormatter({ color: false, timeZone: 'Asia/Tokyo' });
    expect(tokyo(event('drop'))).toBe('06:44:35.123 drop         shop.orders');
  });

  test('an unknown zone is refused once, when the formatter is made', () => {
    expect(() => createPrettyFormatter({ color: false, timeZone: 'Mars/Olympus' })).toThrow(
      /unknown time zone 'Mars\/Olympus'/,
    );
  });
});

describe('pretty: always one line, never raw control characters', () => {
  test('newlines and escapes inside values, keys and names are escaped', () => {
    const ev = event('insert', {
      ns: { db: 'shop', coll: 'we\nird' },
      fullDocument: { _id: new Long(1), 'multi\nline': 'a\nb\x1b[2J', re: { $x: 1 } },
      documentKey: { _id: new Long(1) },
    });
    const line = pretty(ev);
    expect(line).toBe(
      "21:44:35.123 insert       shop.we\\nird Long('1') { 'multi\\nline': 'a\\nb\\x1b[2J', re: { $x: 1 } }",
    );
    expect(line).not.toMatch(/[\x00-\x1f]/);
  });

  test('an event with no operationType still renders', () => {
    expect(pretty({ ns: { db: 'a', coll: 'b' } })).toBe('--:--:--.--- ?            a.b');
  });
});

describe('pretty: colour', () => {
  const ev = event('insert', {
    fullDocument: { _id: OID, n: new Int32(1), s: 'x' },
    documentKey: key,
  });

  test('colour off emits no ANSI escapes', () => {
    expect(pretty(ev)).not.toContain('\x1b');
  });

  test('colour on emits ANSI, and the same text once the escapes are stripped', () => {
    const coloured = createPrettyFormatter({ color: true, timeZone: 'UTC' })(ev);
    expect(coloured).toContain('\x1b[32minsert\x1b[39m');
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(pretty(ev));
  });

  test.each([
    ['insert', '\x1b[32m'],
    ['update', '\x1b[33m'],
    ['replace', '\x1b[36m'],
    ['delete', '\x1b[31m'],
    ['drop', '\x1b[35m'],
    ['rename', '\x1b[35m'],
    ['dropDatabase', '\x1b[35m'],
    ['createIndexes', '\x1b[35m'],
    ['invalidate', '\x1b[90m'],
  ])('%s is coloured %j', (op, code) => {
    const line = createPrettyFormatter({ color: true, timeZone: 'UTC' })(event(op));
    expect(line).toContain(`${code}${op}\x1b[39m`);
  });
});
