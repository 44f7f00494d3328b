/* eslint-disable no-control-regex -- these tests look for raw control characters and ANSI escapes */
import { Binary, Int32, Long, Timestamp, type Document } from 'bson';
import { nestedDocument } from '../transcode/bson-samples.test-util.js';
import { createEventFormatter } from './index.js';
import { inspectValue, MAX_DEPTH } from './inspect.js';
import { createPrettyFormatter } from './pretty.js';
import { event, OID, WALL } from './samples.test-util.js';

/** A fresh formatter per event (the namespace column remembers), on the events' day. */
const pretty = (e: Document): string =>
  createPrettyFormatter({ color: false, timeZone: 'UTC', now: () => WALL })(e);
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
  expect(line).toBe(`21:44:35.123 insert        shop.orders ${K} [txn 7·a1b2c3] { item: 'pen' }`);
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
      `21:44:35.123 insert        shop.orders ${K} { item: 'pen', qty: 2 }`,
    ],
    [
      'insert of a document that is only an _id',
      event('insert', { fullDocument: { _id: OID }, documentKey: key }),
      `21:44:35.123 insert        shop.orders ${K} {}`,
    ],
    [
      'replace',
      event('replace', { fullDocument: { _id: OID, item: 'ink' }, documentKey: key }),
      `21:44:35.123 replace       shop.orders ${K} { item: 'ink' }`,
    ],
    [
      'replace with a pre-image',
      event('replace', {
        fullDocument: { _id: OID, item: 'ink' },
        documentKey: key,
        fullDocumentBeforeChange: { _id: OID, item: 'pen' },
      }),
      `21:44:35.123 replace       shop.orders ${K} { item: 'ink' } was { item: 'pen' }`,
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
      `21:44:35.123 update        shop.orders ${K} $set { qty: 3, 'b.c': 2 } $unset [note, 'x.y'] truncated [tags→2]`,
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
      `21:44:35.123 update        shop.orders ${K} $set { qty: 2 → 3, 'b.c': (absent) → 2, 'arr.1': 'b' → 'z' } $unset [note (was 'n'), gone]`,
    ],
    [
      'update with updateLookup (or a post-image): the change, then the whole document',
      event('update', {
        documentKey: key,
        updateDescription: {
          updatedFields: { qty: new Int32(3) },
          removedFields: [],
          truncatedArrays: [],
        },
        fullDocument: { _id: OID, qty: new Int32(3), item: 'pen' },
      }),
      `21:44:35.123 update        shop.orders ${K} $set { qty: 3 } now { qty: 3, item: 'pen' }`,
    ],
    [
      'update with a pre-image and a post-image: before → after, then the whole document',
      event('update', {
        documentKey: key,
        updateDescription: {
          updatedFields: { qty: new Int32(3) },
          removedFields: ['note'],
          truncatedArrays: [],
        },
        fullDocumentBeforeChange: { _id: OID, qty: new Int32(2), item: 'pen', note: 'n' },
        fullDocument: { _id: OID, qty: new Int32(3), item: 'pen' },
      }),
      `21:44:35.123 update        shop.orders ${K} $set { qty: 2 → 3 } $unset [note (was 'n')] now { qty: 3, item: 'pen' }`,
    ],
    [
      'update with updateLookup when the document is gone (fullDocument null)',
      event('update', {
        documentKey: key,
        updateDescription: { updatedFields: { qty: new Int32(3) }, removedFields: [] },
        fullDocument: null,
      }),
      `21:44:35.123 update        shop.orders ${K} $set { qty: 3 } now (none)`,
    ],
    [
      'delete',
      event('delete', { documentKey: key }),
      `21:44:35.123 delete        shop.orders ${K}`,
    ],
    [
      'delete with a pre-image',
      event('delete', { documentKey: key, fullDocumentBeforeChange: { _id: OID, item: 'pen' } }),
      `21:44:35.123 delete        shop.orders ${K} was { item: 'pen' }`,
    ],
    [
      'delete on a sharded collection shows the whole key',
      event('delete', { documentKey: { region: 'EU', _id: new Int32(7) } }),
      "21:44:35.123 delete        shop.orders { region: 'EU', _id: 7 }",
    ],
    ['drop', event('drop'), '21:44:35.123 drop          shop.orders'],
    [
      'rename',
      event('rename', { to: { db: 'shop', coll: 'archive' } }),
      '21:44:35.123 rename        shop.orders → shop.archive',
    ],
    [
      'rename (expanded: operationDescription.to)',
      event('rename', { operationDescription: { to: { db: 'old', coll: 'x' } } }),
      '21:44:35.123 rename        shop.orders → old.x',
    ],
    [
      'dropDatabase',
      event('dropDatabase', { ns: { db: 'shop' } }),
      '21:44:35.123 dropDatabase  shop',
    ],
    [
      'invalidate',
      event('invalidate', { ns: null }),
      '21:44:35.123 invalidate    ── stream invalidated ──',
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
      "21:44:35.123 create        shop.orders { idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } }",
    ],
    [
      'a fragment of a split event',
      event('update', {
        documentKey: key,
        updateDescription: { updatedFields: { big: 'x' }, removedFields: [], truncatedArrays: [] },
        splitEvent: { fragment: new Int32(1), of: new Int32(3) },
      }),
      `21:44:35.123 update        shop.orders ${K} [fragment 1/3] $set { big: 'x' }`,
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
    expect(pretty(ev)).toBe('21:44:35.000 drop          shop.orders');
  });

  test('a placeholder when the event has no time at all', () => {
    const ev = event('drop');
    delete ev.wallTime;
    delete ev.clusterTime;
    expect(pretty(ev)).toBe('--:--:--.--- drop          shop.orders');
  });

  test('an IANA zone shifts the clock', () => {
    const tokyo = createPrettyFormatter({ color: false, timeZone: 'Asia/Tokyo', now: () => WALL });
    expect(tokyo(event('drop'))).toBe('06:44:35.123 drop          shop.orders');
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
      "21:44:35.123 insert        shop.we\\nird Long('1') { 'multi\\nline': 'a\\nb\\x1b[2J', re: { $x: 1 } }",
    );
    expect(line).not.toMatch(/[\x00-\x1f]/);
  });

  test('an event with no operationType still renders', () => {
    expect(pretty({ ns: { db: 'a', coll: 'b' } })).toBe('--:--:--.--- ?             a.b');
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
    const coloured = createPrettyFormatter({ color: true, timeZone: 'UTC', now: () => WALL })(ev);
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
    const line = createPrettyFormatter({ color: true, timeZone: 'UTC', now: () => WALL })(
      event(op),
    );
    expect(line).toContain(`${code}${op}\x1b[39m`);
  });
});

describe('deeply nested documents (issue 8)', () => {
  /** `{ a: [ { a: [ … ] } ] }`: `depth` levels, arrays at odd levels, built without recursion. */
  function nested(depth: number): Document {
    let value: unknown = {};
    for (let level = depth - 1; level >= 0; level--) {
      value = level % 2 === 1 ? [value] : { a: value };
    }
    return value as Document;
  }

  /** What inspectValue prints for nested(levels) cut at 100 levels. */
  function cut(levels: number): string {
    let open = '';
    let close = '';
    for (let level = 0; level < Math.min(levels, MAX_DEPTH); level++) {
      open += level % 2 === 1 ? '[ ' : '{ a: ';
      close = (level % 2 === 1 ? ' ]' : ' }') + close;
    }
    return `${open}${MAX_DEPTH % 2 === 1 ? '[…]' : '{…}'}${close}`;
  }

  test('5,000 levels print cut at 100 as {…}/[…], never a RangeError, in every place', () => {
    const deep = nested(5_000);
    expect(inspectValue(deep)).toBe(cut(5_000));
    const insert = pretty(
      event('insert', { fullDocument: { _id: 1, d: deep }, documentKey: { _id: 1 } }),
    );
    expect(insert).toContain(`insert        shop.orders 1 { d: ${cut(5_000).slice(0, 40)}`);
    expect(insert).toContain('[…]');
    const update = pretty(
      event('update', {
        documentKey: { _id: deep },
        updateDescription: { updatedFields: { d: deep }, removedFields: ['d.a'] },
        fullDocumentBeforeChange: { _id: 1, d: deep },
      }),
    );
    expect(update).toContain('$set { d: { a: [ ');
    expect(update).toContain('$unset [');
    const ddl = pretty(event('modify', { operationDescription: deep }));
    expect(ddl).toContain('{…}');
    expect(
      createPrettyFormatter({ color: true, timeZone: 'UTC', now: () => WALL })(
        event('insert', { fullDocument: deep }),
      ),
    ).toContain('…');
  });

  test('the bytes path (deserialize, then pretty) survives 5,000 levels too', () => {
    // { operationType: 'insert', fullDocument: <5,000 levels> } as BSON bytes.
    const body = Buffer.concat([
      Buffer.from('\x02operationType\x00\x07\x00\x00\x00insert\x00', 'latin1'),
      Buffer.from('\x03fullDocument\x00', 'latin1'),
      nestedDocument(5_000, true),
      Buffer.from([0]),
    ]);
    const length = Buffer.alloc(4);
    length.writeInt32LE(body.length + 4);
    const line = createEventFormatter({ format: 'pretty', color: false, timeZone: 'UTC' })(
      Buffer.concat([length, body]),
      0,
    );
    expect(line).toMatch(/^--:--:--\.--- insert {8}\{ a: \[ \{ a: \[ /);
    expect(line).toContain('{…}');
  });

  test('100 levels and fewer print whole', () => {
    expect(inspectValue(nested(100))).not.toContain('…');
    expect(inspectValue(nested(101))).toContain('…');
  });
});
