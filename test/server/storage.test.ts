import { type Document, Double, Int32, Long, ObjectId, UUID } from 'bson';
import { RecordingOplog } from './data-fixtures.js';
import { ServerError } from './errors.js';
import { DuplicateKeyError, Storage, idIndexSpec } from './storage.js';
import { normalize } from './values.js';

const plain = (v: unknown): unknown => normalize(v);

function setup(): { oplog: RecordingOplog; storage: Storage } {
  const oplog = new RecordingOplog();
  return { oplog, storage: new Storage(oplog) };
}

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ServerError) return e.code;
    throw e;
  }
  return undefined;
}

describe('Storage: collections', () => {
  it('creates collections implicitly with a create entry before the first insert', () => {
    const { oplog, storage } = setup();
    const { coll, created } = storage.ensureCollection('db', 'c');
    storage.insert(coll, { a: 1 });
    expect(created).toBe(true);
    expect(coll.uuid).toBeInstanceOf(UUID);
    expect(coll.indexes).toEqual([idIndexSpec()]);
    expect(oplog.entries.map((e) => e.op)).toEqual(['create', 'insert']);
    const [create] = oplog.entries;
    expect(create).toMatchObject({
      db: 'db',
      coll: 'c',
      operationDescription: { idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } },
    });
    expect(create?.uuid?.equals(coll.uuid)).toBe(true);
    expect(storage.ensureCollection('db', 'c').created).toBe(false);
    expect(storage.listDatabases()).toEqual(['db']);
  });

  it('puts create options before idIndex and gives views no UUID or idIndex', () => {
    const { oplog, storage } = setup();
    storage.createCollection('db', 'c', { changeStreamPreAndPostImages: { enabled: true } });
    storage.createCollection('db', 'v', { viewOn: 'c', pipeline: [] });
    const [c, v] = oplog.entries;
    expect(Object.keys(c?.operationDescription ?? {})).toEqual([
      'changeStreamPreAndPostImages',
      'idIndex',
    ]);
    expect(v?.uuid).toBeUndefined();
    expect(v?.operationDescription).toEqual({ viewOn: 'c', pipeline: [] });
    expect(storage.getCollection('db', 'v')?.isView).toBe(true);
    expect(codeOf(() => storage.createCollection('db', 'c'))).toBe(48);
  });

  it('rejects invalid names with 73', () => {
    const { storage } = setup();
    expect(codeOf(() => storage.createCollection('bad.db', 'c'))).toBe(73);
    expect(codeOf(() => storage.createCollection('db', ''))).toBe(73);
    expect(codeOf(() => storage.createCollection('db', 'a$b'))).toBe(73);
    expect(codeOf(() => storage.createCollection('', 'c'))).toBe(73);
  });

  it('drops a collection with one entry and a database with drops then dropDatabase', () => {
    const { oplog, storage } = setup();
    storage.createCollection('db', 'a');
    storage.createCollection('db', 'b');
    oplog.take();
    expect(storage.dropCollection('db', 'a')).toBe(true);
    expect(storage.dropCollection('db', 'a')).toBe(false);
    expect(oplog.take().map((e) => `${e.op}:${e.coll}`)).toEqual(['drop:a']);
    storage.createCollection('db', 'a');
    oplog.take();
    expect(storage.dropDatabase('db')).toBe(true);
    expect(oplog.take().map((e) => `${e.op}:${e.coll ?? ''}`)).toEqual([
      'drop:a',
      'drop:b',
      'dropDatabase:',
    ]);
    expect(storage.listDatabases()).toEqual([]);
    expect(storage.dropDatabase('db')).toBe(false);
  });

  it('renames with one rename entry carrying the replaced collection as dropTarget', () => {
    const { oplog, storage } = setup();
    const a = storage.createCollection('db', 'a');
    const b = storage.createCollection('db', 'b');
    oplog.take();
    storage.renameCollection(a, 'db', 'b', true);
    const entries = oplog.take();
    expect(entries.map((e) => e.op)).toEqual(['rename']);
    expect(entries[0]).toMatchObject({ db: 'db', coll: 'a', to: { db: 'db', coll: 'b' } });
    expect(entries[0]?.uuid?.equals(a.uuid)).toBe(true);
    expect(entries[0]?.dropTarget?.equals(b.uuid)).toBe(true);
    expect(storage.getCollection('db', 'b')).toBe(a);
    expect(storage.getCollection('db', 'a')).toBeUndefined();
    const c = storage.createCollection('db', 'c');
    expect(codeOf(() => storage.renameCollection(c, 'db', 'b', false))).toBe(48);
  });

  it('logs index creation and removal one entry per index', () => {
    const { oplog, storage } = setup();
    const coll = storage.createCollection('db', 'c');
    oplog.take();
    const x = { v: 2, key: { x: 1 }, name: 'x_1' };
    const y = { v: 2, key: { y: -1 }, name: 'y_-1', unique: true };
    storage.createIndexes(coll, [x, y]);
    storage.dropIndexes(coll, [x]);
    storage.modifyCollection(coll, { changeStreamPreAndPostImages: { enabled: true } });
    expect(oplog.take().map((e) => [e.op, plain(e.operationDescription)])).toEqual([
      ['createIndexes', { indexes: [x] }],
      ['createIndexes', { indexes: [y] }],
      ['dropIndexes', { indexes: [x] }],
      ['modify', { changeStreamPreAndPostImages: { enabled: true } }],
    ]);
    expect(coll.indexes.map((i) => i.name)).toEqual(['_id_', 'y_-1']);
  });
});

describe('Storage: documents', () => {
  it('stores owned copies with _id first and generates ObjectIds', () => {
    const { storage } = setup();
    const coll = storage.ensureCollection('db', 'c').coll;
    const input: Document = { a: { b: 1 }, _id: 'k' };
    storage.insert(coll, input);
    (input.a as Document).b = 2;
    expect(Object.keys(coll.findById('k') ?? {})).toEqual(['_id', 'a']);
    expect(plain(coll.findById('k'))).toEqual({ _id: 'k', a: { b: 1 } });
    const copy = coll.findById('k') as Document;
    copy.a = 'changed';
    expect(plain(coll.all()[0])).toEqual({ _id: 'k', a: { b: 1 } });
    const generated = storage.insert(coll, { z: 1 });
    expect(generated._id).toBeInstanceOf(ObjectId);
    expect(Object.keys(generated)).toEqual(['_id', 'z']);
    expect(coll.size).toBe(2);
  });

  it('treats numerically equal _ids as duplicates (11000 with the real message)', () => {
    const { storage } = setup();
    const coll = storage.ensureCollection('db', 'c').coll;
    storage.insert(coll, { _id: new Int32(1) });
    let err: unknown;
    try {
      storage.insert(coll, { _id: new Double(1) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DuplicateKeyError);
    expect((err as DuplicateKeyError).message).toBe(
      'E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }',
    );
    expect(plain((err as DuplicateKeyError).toReply())).toMatchObject({
      code: 11000,
      codeName: 'DuplicateKey',
      keyPattern: { _id: 1 },
      keyValue: { _id: 1 },
    });
    expect(coll.findById(Long.fromNumber(1))).toBeDefined();
    expect(codeOf(() => storage.insert(coll, { _id: [1] }))).toBe(2);
  });

  it('enforces unique indexes, including arrays, sparse and partial ones', () => {
    const { storage } = setup();
    const coll = storage.ensureCollection('db', 'c').coll;
    storage.createIndexes(coll, [
      { v: 2, key: { u: 1 }, name: 'u_1', unique: true },
      { v: 2, key: { s: 1 }, name: 's_1', unique: true, sparse: true },
      { v: 2, key: { p: 1 }, name: 'p_1', unique: true, partialFilterExpression: { on: true } },
    ]);
    storage.insert(coll, { _id: 1, u: [1, 2] });
    expect(codeOf(() => storage.insert(coll, { _id: 2, u: 2 }))).toBe(11000);
    storage.insert(coll, { _id: 3, u: 3 });
    // Missing fields index as null: only one document may lack `u`.
    storage.insert(coll, { _id: 4 });
    expect(codeOf(() => storage.insert(coll, { _id: 5 }))).toBe(11000);
    // Sparse: missing `s` is not indexed; partial: only documents with on:true count.
    storage.insert(coll, { _id: 6, u: 6, p: 1 });
    storage.insert(coll, { _id: 7, u: 7, p: 1 });
    storage.insert(coll, { _id: 8, u: 8, p: 1, on: true });
    expect(codeOf(() => storage.insert(coll, { _id: 9, u: 9, p: 1, on: true }))).toBe(11000);
    // Building a unique index over duplicates fails.
    expect(codeOf(() => coll.addUnique({ v: 2, key: { p: 1 }, name: 'p_dup', unique: true }))).toBe(
      11000,
    );
  });

  it('appends update, replace and delete entries with images and images flag', () => {
    const { oplog, storage } = setup();
    const coll = storage.createCollection('db', 'c', {
      changeStreamPreAndPostImages: { enabled: true },
    });
    const stored = storage.insert(coll, { _id: 1, a: 1 });
    oplog.take();
    const next = { _id: 1, a: 2 };
    storage.update(coll, stored, next, {
      updatedFields: { a: 2 },
      removedFields: [],
      truncatedArrays: [],
    });
    next.a = 99;
    const current = coll.rawById(1) as Document;
    storage.update(coll, current, { _id: 1, b: 1 });
    storage.delete(coll, coll.rawById(1) as Document);
    const [u, r, d] = oplog.take();
    expect(u).toMatchObject({
      op: 'update',
      db: 'db',
      coll: 'c',
      imagesEnabled: true,
      updateDescription: { updatedFields: { a: 2 } },
    });
    expect(plain(u?.preImage)).toEqual({ _id: 1, a: 1 });
    expect(plain(u?.fullDocument)).toEqual({ _id: 1, a: 2 });
    expect(plain(u?.documentKey)).toEqual({ _id: 1 });
    expect(r?.op).toBe('replace');
    expect(r?.updateDescription).toBeUndefined();
    expect(plain(r?.preImage)).toEqual({ _id: 1, a: 2 });
    expect(d).toMatchObject({ op: 'delete', imagesEnabled: true });
    expect(plain(d?.preImage)).toEqual({ _id: 1, b: 1 });
    expect(d?.fullDocument).toBeUndefined();
    expect(coll.size).toBe(0);
  });

  it('never lets a logged document share objects with the stored one', () => {
    const { oplog, storage } = setup();
    const coll = storage.ensureCollection('db', 'c').coll;
    storage.insert(coll, { _id: 1, nested: { n: 1 } });
    const entry = oplog.entries.at(-1);
    ((coll.rawById(1) as Document).nested as Document).n = 5;
    expect(plain(entry?.fullDocument)).toEqual({ _id: 1, nested: { n: 1 } });
  });

  it('refuses documents over 16 MiB', () => {
    const { storage } = setup();
    const coll = storage.ensureCollection('db', 'c').coll;
    const big = 'x'.repeat(16 * 1024 * 1024);
    expect(codeOf(() => storage.insert(coll, { big }))).toBe(10334);
    const small = storage.insert(coll, { _id: 1 });
    expect(codeOf(() => storage.update(coll, small, { _id: 1, big }))).toBe(17419);
    expect(coll.size).toBe(1);
  });

  it('remembers retryable-write replies as copies', () => {
    const { storage } = setup();
    const reply = { n: 1, ok: 1 };
    storage.rememberReply('k', reply);
    reply.n = 5;
    expect(plain(storage.retriedReply('k'))).toEqual({ n: 1, ok: 1 });
    expect(storage.retriedReply('other')).toBeUndefined();
  });
});
