// The cached event BSON is exactly `serialize(buildEvent(...))`: for every operation, every
// combination of event options, every BSON type a document may hold, with and without the
// storage layer's document bytes; and it is cached only where the event is pure.
import {
  type Document,
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
  serialize,
} from 'bson';
import { entryCache } from './entry-cache.js';
import { encodeEventView, eventBson, eventCacheKey, prepareEvent } from './event-bytes.js';
import {
  DEFAULT_EVENT_OPTIONS,
  buildEvent,
  buildEventView,
  type EventLookups,
  type EventOptions,
  type FullDocumentBeforeChangeMode,
  type FullDocumentMode,
} from './events.js';
import { ServerError } from '../errors.js';
import { startTestServer } from '../index.js';
import { type Oplog, stampEntry } from '../oplog.js';
import type { Storage } from '../storage.js';
import type { OplogEntry } from '../types.js';
import { cloneWithBson } from '../values.js';

const UUID_A = new UUID('00112233-4455-6677-8899-aabbccddeeff');
const UUID_B = new UUID('ffeeddcc-bbaa-9988-7766-554433221100');
let tick = 0;

/** A document with every BSON type the server may store, nested and in arrays. */
function everyType(id: unknown): Document {
  return {
    _id: id,
    str: 'plain',
    unicode: 'żółw 🐢 \u00e9\u0301',
    empty: '',
    'dotted.key': 'x',
    ключ: 'non-ASCII key',
    int: new Int32(-7),
    long: Long.fromString('-9223372036854775808'),
    bigLong: Long.fromString('9007199254740993'),
    double: new Double(1.5),
    wholeDouble: new Double(2),
    negZero: new Double(-0),
    nan: new Double(NaN),
    inf: new Double(-Infinity),
    jsInt: 42,
    jsBig: 2 ** 40,
    jsFrac: 0.25,
    jsNegZero: -0,
    dec: Decimal128.fromString('-12345.6789E-10'),
    decNaN: Decimal128.fromString('NaN'),
    date: new Date(1_700_000_000_123),
    oldDate: new Date(-86_400_000 * 365 * 100 - 1),
    badDate: new Date(NaN),
    oid: new ObjectId('65a1b2c3d4e5f60718293a4b'),
    bin: new Binary(Buffer.from([1, 2, 3]), 0),
    oldBin: new Binary(Buffer.from([4, 5]), 2),
    uuid: UUID_B,
    md5: new Binary(Buffer.alloc(16, 7), 5),
    emptyBin: new Binary(Buffer.alloc(0), 0),
    ts: new Timestamp({ t: 1_700_000_000, i: 3 }),
    regex: new BSONRegExp('^a.*b$', 'im'),
    jsRegex: /x+y/g,
    code: new Code('function () { return 1; }'),
    codeScope: new Code('x + 1', { x: new Int32(1) }),
    symbol: new BSONSymbol('sym'),
    min: new MinKey(),
    max: new MaxKey(),
    dbref: new DBRef('coll', new ObjectId('65a1b2c3d4e5f60718293a4c'), 'db', { extra: true }),
    yes: true,
    no: false,
    nothing: null,
    missing: undefined,
    nested: { a: { b: { c: [new Int32(1), { d: 'e' }, [null, undefined, 'f']] } } },
    emptyDoc: {},
    emptyArray: [],
    sparse: [1, , 3], // eslint-disable-line no-sparse-arrays -- a hole is written as null
    nullProto: Object.assign(Object.create(null) as Document, { k: 'v' }),
  };
}

function stamped(e: Omit<OplogEntry, 'ts' | 'wall'>): OplogEntry {
  tick++;
  return {
    ...e,
    ts: new Timestamp({ t: 1_700_000_000, i: tick }),
    wall: new Date(1_700_000_000_000 + tick),
  };
}

/** What the storage layer appends: owned copies, with their BSON when `withBson`. */
function images(
  fullDocument: Document | undefined,
  preImage: Document | undefined,
  withBson: boolean,
): Partial<OplogEntry> {
  const out: Partial<OplogEntry> = {};
  if (fullDocument) {
    const { copy, bson } = cloneWithBson(fullDocument);
    out.fullDocument = copy;
    if (withBson) out.fullDocumentBson = bson;
  }
  if (preImage) {
    const { copy, bson } = cloneWithBson(preImage);
    out.preImage = copy;
    if (withBson) out.preImageBson = bson;
  }
  return out;
}

/** One entry of every kind the oplog holds. */
function entries(withBson: boolean, imagesEnabled: boolean): [string, OplogEntry][] {
  const id = new ObjectId('65a1b2c3d4e5f60718293a4d');
  const doc = everyType(id);
  const after = { ...everyType(id), str: 'changed' };
  const base = { db: 'db0', coll: 'c0', uuid: UUID_A, imagesEnabled };
  return [
    [
      'insert',
      stamped({
        ...base,
        op: 'insert',
        documentKey: { _id: id },
        ...images(doc, undefined, withBson),
      }),
    ],
    [
      'insert with an odd _id',
      stamped({
        ...base,
        op: 'insert',
        documentKey: { _id: { a: new Long(5), b: [1, 'x'] } },
        ...images(
          { _id: { a: new Long(5), b: [1, 'x'] }, v: new Decimal128('1.0') },
          undefined,
          withBson,
        ),
      }),
    ],
    [
      'update',
      stamped({
        ...base,
        op: 'update',
        documentKey: { _id: id },
        ...images(after, doc, withBson),
        updateDescription: {
          updatedFields: { str: 'changed', 'nested.a.b.c.1.d': 'e2', 'arr.0': new Int32(1) },
          removedFields: ['dotted.key', 'nested.a.b.c.2'],
          truncatedArrays: [{ field: 'nested.a.b.c', newSize: 2 }],
        },
      }),
    ],
    [
      'replace',
      stamped({
        ...base,
        op: 'replace',
        documentKey: { _id: id },
        ...images(after, doc, withBson),
      }),
    ],
    [
      'delete',
      stamped({
        ...base,
        op: 'delete',
        documentKey: { _id: id },
        ...images(undefined, doc, withBson),
      }),
    ],
    [
      'create',
      stamped({
        ...base,
        op: 'create',
        operationDescription: {
          idIndex: { v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' },
        },
      }),
    ],
    [
      'create view',
      stamped({
        db: 'db0',
        coll: 'v0',
        op: 'create',
        operationDescription: { viewOn: 'c0', pipeline: [{ $match: { a: new Int32(1) } }] },
      }),
    ],
    [
      'createIndexes',
      stamped({
        ...base,
        op: 'createIndexes',
        operationDescription: { indexes: [{ v: 2, key: { a: -1 }, name: 'a_-1', unique: true }] },
      }),
    ],
    [
      'dropIndexes',
      stamped({
        ...base,
        op: 'dropIndexes',
        operationDescription: { indexes: [{ v: 2, key: { a: -1 }, name: 'a_-1' }] },
      }),
    ],
    [
      'modify',
      stamped({
        ...base,
        op: 'modify',
        operationDescription: { index: { name: 'a_-1', hidden: true } },
        stateBeforeChange: {
          collectionOptions: { uuid: UUID_B, validationLevel: 'strict' },
          indexOptions: { expireAfterSeconds: Long.fromNumber(60), hidden: false },
        },
      }),
    ],
    ['drop', stamped({ ...base, op: 'drop' })],
    ['drop view', stamped({ db: 'db0', coll: 'v0', op: 'drop' })],
    [
      'rename',
      stamped({ ...base, op: 'rename', to: { db: 'db1', coll: 'c1' }, dropTarget: UUID_B }),
    ],
    ['rename in place', stamped({ ...base, op: 'rename', to: { db: 'db0', coll: 'c9' } })],
    ['dropDatabase', stamped({ db: 'db0', op: 'dropDatabase' })],
    ['noop', stamped({ db: '', op: 'noop' })],
    ...unwound(base, doc, after, id, withBson),
  ];
}

const LSID = {
  id: new UUID('0123abcd-0000-4000-8000-00000000beef'),
  uid: new Binary(Buffer.alloc(32, 0xe3), 0),
};

/**
 * The inner operations of applyOps entries (a retryable vectored insert, a transaction, a batched
 * delete), stamped as the oplog stamps them: one cluster time, txnOpIndex, lsid/txnNumber when
 * the write had them; and the applyOps entry itself, which yields no event.
 */
function unwound(
  base: Omit<OplogEntry, 'ts' | 'wall' | 'op'>,
  doc: Document,
  after: Document,
  id: ObjectId,
  withBson: boolean,
): [string, OplogEntry][] {
  tick++;
  const ts = new Timestamp({ t: 1_700_000_000, i: tick });
  const wall = new Date(1_700_000_000_000 + tick);
  const ids = { lsid: LSID, txnNumber: Long.fromNumber(7) };
  const insert = {
    ...base,
    op: 'insert' as const,
    documentKey: { _id: id },
    ...images(doc, undefined, withBson),
  };
  const retryable = stampEntry(
    {
      op: 'applyOps',
      db: 'admin',
      applyOps: [
        { ...insert, documentKey: { _id: 0 } },
        { ...insert, ...ids },
        { ...insert, ...ids },
      ],
    },
    ts,
    wall,
  );
  const txn = stampEntry(
    {
      op: 'applyOps',
      db: 'admin',
      applyOps: [
        { ...insert, ...ids },
        {
          ...base,
          ...ids,
          op: 'update',
          documentKey: { _id: id },
          ...images(after, doc, withBson),
          updateDescription: {
            updatedFields: { str: 'changed' },
            removedFields: ['gone'],
            truncatedArrays: [],
          },
        },
      ],
    },
    ts,
    wall,
  );
  const batchedDelete = stampEntry(
    {
      op: 'applyOps',
      db: 'admin',
      applyOps: [
        { ...base, op: 'delete', documentKey: { _id: id }, ...images(undefined, doc, withBson) },
        { ...base, op: 'delete', documentKey: { _id: 2 }, ...images(undefined, doc, withBson) },
      ],
    },
    ts,
    wall,
  );
  const inner = (e: OplogEntry, i: number): OplogEntry =>
    (e.applyOps as OplogEntry[])[i] as OplogEntry;
  return [
    ['insert, txnOpIndex 2 of a retryable vectored insert', inner(retryable, 2)],
    ['update, txnOpIndex 1 of a transaction', inner(txn, 1)],
    ['delete, txnOpIndex 1 of a batched delete', inner(batchedDelete, 1)],
    ['the applyOps entry itself', retryable],
  ];
}

const POST_MODES: FullDocumentMode[] = ['default', 'updateLookup', 'whenAvailable', 'required'];
const PRE_MODES: FullDocumentBeforeChangeMode[] = ['off', 'whenAvailable', 'required'];
const OPTIONS: EventOptions[] = POST_MODES.flatMap((fullDocument) =>
  PRE_MODES.flatMap((fullDocumentBeforeChange) =>
    [false, true].map((showExpandedEvents) => ({
      fullDocument,
      fullDocumentBeforeChange,
      showExpandedEvents,
    })),
  ),
);

/** updateLookup finds the current document (or, when `gone`, nothing). */
function lookups(gone = false): EventLookups {
  return {
    currentDocument: (_db, _coll, _uuid, key) =>
      gone ? null : { _id: key._id as unknown, now: 'current', n: new Long(9) },
  };
}

// Results as strings (hex, "null" or "error <code>"): jest compares Buffers byte by byte slowly.
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** `serialize(buildEvent(...))`, or the error code it throws. */
function reference(e: OplogEntry, opts: EventOptions, l: EventLookups): string {
  try {
    const ev = buildEvent(e, opts, l);
    return ev ? hex(serialize(ev)) : 'null';
  } catch (err) {
    if (err instanceof ServerError) return `error ${err.code}`;
    throw err;
  }
}

function encoded(e: OplogEntry, opts: EventOptions, l: EventLookups): string {
  try {
    const bson = eventBson(e, opts, l);
    return bson ? hex(bson) : 'null';
  } catch (err) {
    if (err instanceof ServerError) return `error ${err.code}`;
    throw err;
  }
}

describe('eventBson', () => {
  const cases: [string, boolean, boolean][] = [
    ['with the storage BSON, images on', true, true],
    ['with the storage BSON, images off', true, false],
    ['without it, images on', false, true],
    ['without it, images off', false, false],
  ];
  it.each(cases)(
    'is serialize(buildEvent()) for every op and option combination (%s)',
    (_label, withBson, imagesEnabled) => {
      let compared = 0;
      for (const [, e] of entries(withBson, imagesEnabled)) {
        for (const opts of OPTIONS) {
          for (const gone of [false, true]) {
            const want = reference(e, opts, lookups(gone));
            // Twice: the first encodes (and caches), the second may come from the cache.
            expect(encoded(e, opts, lookups(gone))).toBe(want);
            expect(encoded(e, opts, lookups(gone))).toBe(want);
            compared++;
          }
        }
      }
      expect(compared).toBe(20 * OPTIONS.length * 2);
    },
  );

  it('serves a pure event from the cache, once per entry for every mode that shapes it alike', () => {
    const [, e] = entries(true, true)[0] as [string, OplogEntry];
    const first = eventBson(e, OPTIONS[0] as EventOptions, lookups());
    for (const opts of OPTIONS.filter((o) => !o.showExpandedEvents)) {
      // An insert is the same event whatever fullDocument / fullDocumentBeforeChange say.
      expect(eventBson(e, opts, lookups())).toBe(first);
    }
    const expanded = eventBson(
      e,
      { ...(OPTIONS[0] as EventOptions), showExpandedEvents: true },
      lookups(),
    );
    expect(expanded).not.toBe(first);
    expect(Buffer.from(expanded as Uint8Array).equals(Buffer.from(first as Uint8Array))).toBe(
      false,
    );
  });

  it('never caches an update read with updateLookup: each read sees the document as it is', () => {
    const update = entries(true, true).find(([label]) => label === 'update')?.[1] as OplogEntry;
    const opts: EventOptions = { ...(OPTIONS[0] as EventOptions), fullDocument: 'updateLookup' };
    expect(eventCacheKey(update, opts)).toBeUndefined();
    let version = 0;
    const changing: EventLookups = {
      currentDocument: (_db, _coll, _uuid, key) => ({ _id: key._id as unknown, v: ++version }),
    };
    const a = eventBson(update, opts, changing);
    const b = eventBson(update, opts, changing);
    expect(Buffer.from(a as Uint8Array).equals(Buffer.from(b as Uint8Array))).toBe(false);
    expect(version).toBe(2);
  });

  it('keys the cache by the options that shape each kind of event', () => {
    const byOp = new Map(entries(true, true));
    const o = (p: Partial<EventOptions>): EventOptions => ({
      ...(OPTIONS[0] as EventOptions),
      ...p,
    });
    const insert = byOp.get('insert') as OplogEntry;
    const update = byOp.get('update') as OplogEntry;
    const del = byOp.get('delete') as OplogEntry;
    expect(eventCacheKey(insert, o({ fullDocument: 'required' }))).toBe(
      eventCacheKey(insert, o({})),
    );
    expect(eventCacheKey(insert, o({ showExpandedEvents: true }))).not.toBe(
      eventCacheKey(insert, o({})),
    );
    expect(eventCacheKey(del, o({ fullDocument: 'whenAvailable' }))).toBe(
      eventCacheKey(del, o({})),
    );
    expect(eventCacheKey(del, o({ fullDocumentBeforeChange: 'whenAvailable' }))).not.toBe(
      eventCacheKey(del, o({})),
    );
    expect(eventCacheKey(update, o({ fullDocument: 'whenAvailable' }))).not.toBe(
      eventCacheKey(update, o({ fullDocument: 'required' })),
    );
  });

  it('does not cache an event that fails (a missing required image)', () => {
    const [, e] = entries(true, false).find(([label]) => label === 'delete') as [
      string,
      OplogEntry,
    ];
    const opts: EventOptions = {
      ...(OPTIONS[0] as EventOptions),
      fullDocumentBeforeChange: 'required',
    };
    expect(encoded(e, opts, lookups())).toBe('error 47');
    expect(encoded(e, opts, lookups())).toBe('error 47');
    expect(entryCache(e).bson).toBeUndefined();
  });

  it('keeps the cache off the entry data: keys, spreads and equality are unchanged', () => {
    const [, e] = entries(true, true)[0] as [string, OplogEntry];
    const keys = Object.keys(e);
    const copy = { ...e };
    eventBson(e, OPTIONS[0] as EventOptions, lookups());
    expect(entryCache(e).bson).toBeDefined();
    expect(Object.keys(e)).toEqual(keys);
    expect(e).toEqual(copy);
    expect(Object.getOwnPropertySymbols({ ...e })).toEqual([]);
  });
});

describe('prepareEvent', () => {
  it('caches the default-options event of a document write, and nothing for DDL', () => {
    const all = new Map(entries(true, true));
    for (const label of ['insert', 'update', 'replace', 'delete']) {
      const e = all.get(label) as OplogEntry;
      prepareEvent(e);
      const cached = entryCache(e).bson as Uint8Array;
      expect(hex(cached)).toBe(reference(e, DEFAULT_EVENT_OPTIONS, lookups()));
      expect(eventBson(e, DEFAULT_EVENT_OPTIONS, lookups())).toBe(cached);
    }
    for (const label of ['create', 'drop', 'rename', 'dropDatabase', 'noop']) {
      const e = all.get(label) as OplogEntry;
      prepareEvent(e);
      expect(entryCache(e).bson).toBeUndefined();
    }
  });

  it('runs as the server appends each document write', async () => {
    const server = await startTestServer({ noopIntervalMs: 0 });
    try {
      const storage = server.state.storage as Storage;
      const { coll } = storage.ensureCollection('db0', 'c0');
      storage.insert(coll, { _id: 1, a: 'x' });
      const entry = (server.state.oplog as Oplog).newest as OplogEntry;
      expect(entry.op).toBe('insert');
      expect(hex(entryCache(entry).bson as Uint8Array)).toBe(
        reference(entry, DEFAULT_EVENT_OPTIONS, lookups()),
      );
    } finally {
      await server.stop();
    }
  });
});

describe('applyOps entries', () => {
  it('unwind into events with txnNumber and lsid first, txnOpIndex in the token', () => {
    const all = new Map(entries(true, false));
    const insert = all.get('insert, txnOpIndex 2 of a retryable vectored insert') as OplogEntry;
    const ev = buildEvent(insert, DEFAULT_EVENT_OPTIONS, lookups()) as Document;
    // change_stream_event_transform.cpp: addTransactionIdFieldsIfPresent runs before `_id`.
    expect(Object.keys(ev)).toEqual([
      'txnNumber',
      'lsid',
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    expect(ev.txnNumber).toEqual(Long.fromNumber(7));
    expect(ev.lsid).toEqual(LSID);
    const del = all.get('delete, txnOpIndex 1 of a batched delete') as OplogEntry;
    const delEv = buildEvent(del, DEFAULT_EVENT_OPTIONS, lookups()) as Document;
    expect(Object.keys(delEv)[0]).toBe('_id');
    expect(delEv.lsid).toBeUndefined();
    expect(delEv.clusterTime).toEqual(insert.ts);
    expect(
      buildEvent(
        all.get('the applyOps entry itself') as OplogEntry,
        DEFAULT_EVENT_OPTIONS,
        lookups(),
      ),
    ).toBeNull();
  });

  it('are prepared per inner operation as the server appends them', async () => {
    const server = await startTestServer({ noopIntervalMs: 0 });
    try {
      const storage = server.state.storage as Storage;
      const { coll } = storage.ensureCollection('db0', 'c0');
      storage.grouped(() => {
        storage.insert(coll, { _id: 1 });
        storage.insert(coll, { _id: 2 });
      });
      const entry = (server.state.oplog as Oplog).newest as OplogEntry;
      expect(entry.op).toBe('applyOps');
      const ops = entry.applyOps as OplogEntry[];
      expect(ops.map((o) => o.txnOpIndex)).toEqual([0, 1]);
      for (const op of ops) {
        expect(op.ts).toBe(entry.ts);
        expect(hex(entryCache(op).bson as Uint8Array)).toBe(
          reference(op, DEFAULT_EVENT_OPTIONS, lookups()),
        );
      }
    } finally {
      await server.stop();
    }
  });
});

describe('encodeEventView', () => {
  const opts = OPTIONS[0] as EventOptions;

  it('stays exact across slabs: many events, and events larger than a slab', () => {
    const made: [OplogEntry, Uint8Array][] = [];
    for (let i = 0; i < 2000; i++) {
      const big = i % 500 === 7 ? 'y'.repeat(300 * 1024 + i) : 'x'.repeat(i % 300);
      const doc = { _id: new Int32(i), big, n: new Long(i) };
      const e = stamped({
        op: 'insert',
        db: 'db0',
        coll: 'c0',
        uuid: UUID_A,
        documentKey: { _id: new Int32(i) },
        ...images(doc, undefined, i % 2 === 0),
      });
      made.push([e, eventBson(e, opts, lookups()) as Uint8Array]);
    }
    // Every view still holds its own event once later ones were written.
    for (const [e, bytes] of made) {
      expect(Buffer.from(bytes).equals(serialize(buildEvent(e, opts, lookups()) as Document))).toBe(
        true,
      );
    }
  });

  it('hands documents nested deeper than it follows to the bson package', () => {
    let deep: Document = { leaf: new Int32(1) };
    for (let i = 0; i < 100; i++) deep = i % 2 === 0 ? { d: deep } : { a: [new Int32(i), deep] };
    const e = stamped({
      op: 'insert',
      db: 'db0',
      coll: 'c0',
      uuid: UUID_A,
      documentKey: { _id: 1 },
      fullDocument: { _id: 1, deep },
    });
    const view = buildEventView(e, opts, lookups()) as Document;
    expect(Buffer.from(encodeEventView(view, e)).equals(serialize(view))).toBe(true);
  });

  it('rejects a key with a NUL byte as serialize does', () => {
    const e = stamped({
      op: 'insert',
      db: 'db0',
      coll: 'c0',
      uuid: UUID_A,
      documentKey: { _id: 1 },
    });
    const view: Document = { ...(buildEventView(e, opts, lookups()) as Document), 'a\0b': 1 };
    expect(() => serialize(view)).toThrow(/null bytes/);
    expect(() => encodeEventView(view, e)).toThrow(/null bytes/);
  });
});
