import { type Document, Int32, Long, UUID } from 'bson';
import { MongoClient, MongoServerError } from 'mongodb';
import { crudCommands } from './commands/crud.js';
import { cursorCommands } from './commands/cursors.js';
import { ddlCommands } from './commands/ddl.js';
import { dataFixture } from './data-fixtures.js';
import { type TestServer, startTestServer } from './index.js';
import { normalize } from './values.js';

const plain = (v: unknown): unknown => normalize(v);
const handlers = { ...crudCommands, ...cursorCommands, ...ddlCommands };

describe('CRUD handlers (no socket)', () => {
  it('insert: ordered stops at the first error, unordered goes on; write errors carry the key', async () => {
    const f = dataFixture();
    const ordered = await f.run(handlers, {
      insert: 'c',
      documents: [{ _id: 1 }, { _id: 1 }, { _id: 2 }],
    });
    expect(plain(ordered)).toEqual({
      n: 1,
      writeErrors: [
        {
          index: 1,
          code: 11000,
          errmsg: 'E11000 duplicate key error collection: test.c index: _id_ dup key: { _id: 1 }',
          keyPattern: { _id: 1 },
          keyValue: { _id: 1 },
        },
      ],
      ok: 1,
    });
    const unordered = await f.run(handlers, {
      insert: 'c',
      ordered: false,
      documents: [{ _id: 1 }, { _id: 3 }, { _id: 3 }, { _id: 4 }],
    });
    expect(unordered.n).toBe(2);
    expect((unordered.writeErrors as Document[]).map((e) => e.index)).toEqual([0, 2]);
    expect(f.oplog.entries.map((e) => e.op)).toEqual(['create', 'insert', 'insert', 'insert']);
  });

  it('update: counts matches and modifications, upserts, and logs only real changes', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { _id: 1, a: 1 },
        { _id: 2, a: 1 },
        { _id: 3, a: 2 },
      ],
    });
    f.oplog.take();
    const reply = await f.run(handlers, {
      update: 'c',
      updates: [
        { q: { a: 1 }, u: { $set: { b: 1 } }, multi: true },
        { q: { _id: 3 }, u: { $set: { a: 2 } } },
        { q: { _id: 9 }, u: { $set: { z: 1 } }, upsert: true },
      ],
    });
    expect(plain(reply)).toEqual({ n: 4, upserted: [{ index: 2, _id: 9 }], nModified: 2, ok: 1 });
    expect(Object.keys(reply)).toEqual(['n', 'upserted', 'nModified', 'ok']);
    const ops = f.oplog.take();
    expect(ops.map((e) => e.op)).toEqual(['update', 'update', 'insert']);
    expect(plain(ops[0]?.updateDescription)).toEqual({
      updatedFields: { b: 1 },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(plain(ops[2]?.fullDocument)).toEqual({ _id: 9, z: 1 });
  });

  it('update: replacement and pipeline statements, and statement errors as writeErrors', async () => {
    const f = dataFixture();
    await f.run(handlers, { insert: 'c', documents: [{ _id: 1, a: 1, arr: [1, 2, 3] }] });
    f.oplog.take();
    await f.run(handlers, { update: 'c', updates: [{ q: { _id: 1 }, u: { x: 1 } }] });
    await f.run(handlers, { update: 'c', updates: [{ q: { _id: 1 }, u: [{ $set: { y: 2 } }] }] });
    const ops = f.oplog.take();
    expect(ops.map((e) => e.op)).toEqual(['replace', 'update']);
    const bad = await f.run(handlers, {
      update: 'c',
      updates: [
        { q: { _id: 1 }, u: { $set: { _id: 5 } } },
        { q: { _id: 1 }, u: { x: 2 }, multi: true },
      ],
      ordered: false,
    });
    expect((bad.writeErrors as Document[]).map((e) => [e.index, e.code])).toEqual([
      [0, 66],
      [1, 9],
    ]);
  });

  it('update: positional operator and arrayFilters', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [{ _id: 1, grades: [80, 95, 70], items: [{ n: 1 }, { n: 5 }] }],
    });
    await f.run(handlers, {
      update: 'c',
      updates: [{ q: { grades: 95 }, u: { $set: { 'grades.$': 96 } } }],
    });
    await f.run(handlers, {
      update: 'c',
      updates: [
        { q: {}, u: { $inc: { 'items.$[big].n': 10 } }, arrayFilters: [{ 'big.n': { $gt: 2 } }] },
      ],
    });
    expect(plain(f.storage.getCollection('test', 'c')?.findById(1))).toEqual({
      _id: 1,
      grades: [80, 96, 70],
      items: [{ n: 1 }, { n: 15 }],
    });
  });

  it('delete: limit 1 and 0', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { _id: 1, a: 1 },
        { _id: 2, a: 1 },
        { _id: 3, a: 1 },
      ],
    });
    expect((await f.run(handlers, { delete: 'c', deletes: [{ q: { a: 1 }, limit: 1 }] })).n).toBe(
      1,
    );
    expect((await f.run(handlers, { delete: 'c', deletes: [{ q: { a: 1 }, limit: 0 }] })).n).toBe(
      2,
    );
    expect((await f.run(handlers, { delete: 'missing', deletes: [{ q: {}, limit: 0 }] })).n).toBe(
      0,
    );
    const bad = await f.run(handlers, { delete: 'c', deletes: [{ q: {}, limit: 2 }] });
    expect((bad.writeErrors as Document[])[0]?.code).toBe(9);
    // 8.0 batches the multi-delete into one applyOps (batchUserMultiDeletes); limit 1 is alone.
    const deletes = f.oplog.entries
      .flatMap((e) => e.applyOps ?? [e])
      .filter((e) => e.op === 'delete');
    // Two applyOps: the 3-document insert (a vectored insert) and the multi-delete of 2.
    expect(f.oplog.entries.filter((e) => e.op === 'applyOps')).toHaveLength(2);
    expect(deletes.map((e) => plain(e.preImage))).toEqual([
      { _id: 1, a: 1 },
      { _id: 2, a: 1 },
      { _id: 3, a: 1 },
    ]);
  });

  it('find: batches of 101, getMore, Long ids, Long.ZERO when exhausted', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: Array.from({ length: 250 }, (_, i) => ({ _id: i, i })),
    });
    const first = await f.run(handlers, { find: 'c', filter: {}, sort: { i: -1 } });
    const cursor = first.cursor as Document;
    expect(cursor.ns).toBe('test.c');
    expect((cursor.firstBatch as Document[]).length).toBe(101);
    expect(plain((cursor.firstBatch as Document[])[0])).toEqual({ _id: 249, i: 249 });
    expect(cursor.id).toBeInstanceOf(Long);
    expect((cursor.id as Long).isZero()).toBe(false);
    const more = await f.run(handlers, { getMore: cursor.id, collection: 'c', batchSize: 100 });
    expect(((more.cursor as Document).nextBatch as Document[]).length).toBe(100);
    const last = await f.run(handlers, { getMore: cursor.id, collection: 'c' });
    expect(((last.cursor as Document).nextBatch as Document[]).length).toBe(49);
    expect((last.cursor as Document).id).toEqual(Long.ZERO);
    expect((await f.runError(handlers, { getMore: cursor.id, collection: 'c' })).code).toBe(43);
  });

  it('find: filter, projection, skip, limit, singleBatch, batchSize 0', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: Array.from({ length: 10 }, (_, i) => ({ _id: i, even: i % 2 === 0, i })),
    });
    const r = await f.run(handlers, {
      find: 'c',
      filter: { even: true },
      projection: { i: 1, _id: 0 },
      skip: 1,
      limit: 2,
    });
    expect(plain((r.cursor as Document).firstBatch)).toEqual([{ i: 2 }, { i: 4 }]);
    expect((r.cursor as Document).id).toEqual(Long.ZERO);
    const single = await f.run(handlers, { find: 'c', batchSize: 3, singleBatch: true });
    expect(((single.cursor as Document).firstBatch as Document[]).length).toBe(3);
    expect((single.cursor as Document).id).toEqual(Long.ZERO);
    const zero = await f.run(handlers, { find: 'c', batchSize: 0 });
    expect((zero.cursor as Document).firstBatch).toEqual([]);
    expect(((zero.cursor as Document).id as Long).isZero()).toBe(false);
    expect(plain((await f.run(handlers, { find: 'nothing' })).cursor)).toEqual({
      firstBatch: [],
      id: 0,
      ns: 'test.nothing',
    });
  });

  it('caps a batch at 16 MiB of documents', async () => {
    const f = dataFixture();
    const big = 'x'.repeat(4 * 1024 * 1024);
    await f.run(handlers, {
      insert: 'c',
      documents: Array.from({ length: 5 }, (_, i) => ({ _id: i, big })),
    });
    const first = await f.run(handlers, { find: 'c' });
    expect(((first.cursor as Document).firstBatch as Document[]).length).toBe(3);
    const rest = await f.run(handlers, { getMore: (first.cursor as Document).id, collection: 'c' });
    expect(((rest.cursor as Document).nextBatch as Document[]).map((d) => plain(d._id))).toEqual([
      3, 4,
    ]);
  });

  it('getMore checks the namespace; killCursors reports killed and unknown ids', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: Array.from({ length: 5 }, (_, i) => ({ _id: i })),
    });
    const id = ((await f.run(handlers, { find: 'c', batchSize: 1 })).cursor as Document).id as Long;
    expect((await f.runError(handlers, { getMore: id, collection: 'other' })).code).toBe(13);
    const killed = await f.run(handlers, {
      killCursors: 'c',
      cursors: [id, Long.fromNumber(12345)],
    });
    expect(killed).toEqual({
      cursorsKilled: [id],
      cursorsNotFound: [Long.fromNumber(12345)],
      cursorsAlive: [],
      cursorsUnknown: [],
      ok: 1,
    });
    expect(f.cursors.size).toBe(0);
  });

  it('findAndModify: update, new, upsert, remove, fields, sort', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { _id: 1, n: 1 },
        { _id: 2, n: 2 },
      ],
    });
    const before = await f.run(handlers, {
      findAndModify: 'c',
      query: {},
      sort: { n: -1 },
      update: { $inc: { n: 10 } },
    });
    expect(plain(before)).toEqual({
      lastErrorObject: { n: 1, updatedExisting: true },
      value: { _id: 2, n: 2 },
      ok: 1,
    });
    const after = await f.run(handlers, {
      findAndModify: 'c',
      query: { _id: 1 },
      update: { $set: { x: 1 } },
      new: true,
      fields: { x: 1 },
    });
    expect(plain(after.value)).toEqual({ _id: 1, x: 1 });
    const up = await f.run(handlers, {
      findAndModify: 'c',
      query: { _id: 5 },
      update: { $set: { y: 1 } },
      upsert: true,
      new: true,
    });
    expect(plain(up)).toEqual({
      lastErrorObject: { n: 1, updatedExisting: false, upserted: 5 },
      value: { _id: 5, y: 1 },
      ok: 1,
    });
    const removed = await f.run(handlers, { findAndModify: 'c', query: { _id: 5 }, remove: true });
    expect(plain(removed)).toEqual({ lastErrorObject: { n: 1 }, value: { _id: 5, y: 1 }, ok: 1 });
    const none = await f.run(handlers, {
      findAndModify: 'c',
      query: { _id: 77 },
      update: { $set: { a: 1 } },
    });
    expect(plain(none)).toEqual({
      lastErrorObject: { n: 0, updatedExisting: false },
      value: null,
      ok: 1,
    });
    expect(
      (
        await f.runError(handlers, {
          findAndModify: 'c',
          query: {},
          remove: true,
          update: { $set: { a: 1 } },
        })
      ).code,
    ).toBe(9);
    expect((await f.runError(handlers, { findAndModify: 'c', query: {} })).code).toBe(9);
  });

  it('count and distinct', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { _id: 1, t: ['b', 'a'] },
        { _id: 2, t: 'c' },
        { _id: 3, t: new Int32(1) },
        { _id: 4 },
      ],
    });
    expect((await f.run(handlers, { count: 'c', query: { t: { $exists: true } } })).n).toBe(3);
    expect((await f.run(handlers, { count: 'c', skip: 1, limit: 2 })).n).toBe(2);
    expect((await f.run(handlers, { count: 'none' })).n).toBe(0);
    expect(plain((await f.run(handlers, { distinct: 'c', key: 't' })).values)).toEqual([
      1,
      'a',
      'b',
      'c',
    ]);
  });

  it('aggregate: plain pipelines, collection-less stages and errors', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { _id: 1, k: 'x' },
        { _id: 2, k: 'x' },
        { _id: 3, k: 'y' },
      ],
    });
    const r = await f.run(handlers, {
      aggregate: 'c',
      pipeline: [{ $group: { _id: '$k', n: { $sum: 1 } } }, { $sort: { _id: 1 } }],
      cursor: {},
    });
    expect(plain(r.cursor)).toEqual({
      firstBatch: [
        { _id: 'x', n: 2 },
        { _id: 'y', n: 1 },
      ],
      id: 0,
      ns: 'test.c',
    });
    const op = await f.run(
      handlers,
      { aggregate: 1, pipeline: [{ $currentOp: {} }], cursor: {} },
      'admin',
    );
    expect(plain(op.cursor)).toEqual({ firstBatch: [], id: 0, ns: 'admin.$cmd.aggregate' });
    // mongosh's start-up probe.
    const atlas = await f.run(
      handlers,
      {
        aggregate: 'atlascli',
        pipeline: [
          { $match: { managedClusterType: 'atlasCliLocalDevCluster' } },
          { $count: 'count' },
        ],
        cursor: {},
      },
      'admin',
    );
    expect((atlas.cursor as Document).firstBatch).toEqual([]);
    const docs = await f.run(handlers, {
      aggregate: 1,
      pipeline: [{ $documents: [{ a: 1 }, { a: 2 }] }, { $match: { a: 2 } }],
      cursor: {},
    });
    expect(plain((docs.cursor as Document).firstBatch)).toEqual([{ a: 2 }]);
    expect(
      (
        await f.runError(handlers, {
          aggregate: 'c',
          pipeline: [{ $match: {} }, { $changeStream: {} }],
          cursor: {},
        })
      ).code,
    ).toBe(40602);
    expect(
      (await f.runError(handlers, { aggregate: 'c', pipeline: [{ $nope: {} }], cursor: {} })).code,
    ).toBe(40324);
    expect((await f.runError(handlers, { aggregate: 'c', pipeline: [] })).code).toBe(9);
    expect(
      (await f.runError(handlers, { aggregate: 1, pipeline: [{ $match: {} }], cursor: {} })).code,
    ).toBe(73);
  });

  it('retryable writes with the same lsid + txnNumber apply once', async () => {
    const f = dataFixture();
    const lsid = { id: new UUID() };
    const cmd = { insert: 'c', documents: [{ _id: 1 }], lsid, txnNumber: Long.fromNumber(1) };
    const first = await f.run(handlers, cmd);
    const retry = await f.run(handlers, cmd);
    expect(plain(retry)).toEqual(plain(first));
    expect(retry.writeErrors).toBeUndefined();
    expect(f.oplog.entries.filter((e) => e.op === 'insert')).toHaveLength(1);
    const fam = {
      findAndModify: 'c',
      query: { _id: 1 },
      update: { $inc: { n: 1 } },
      lsid,
      txnNumber: Long.fromNumber(2),
      new: true,
    };
    await f.run(handlers, fam);
    await f.run(handlers, fam);
    expect(plain(f.storage.getCollection('test', 'c')?.findById(1))).toEqual({ _id: 1, n: 1 });
    // A new txnNumber is a new write.
    const again = await f.run(handlers, { ...cmd, txnNumber: Long.fromNumber(3) });
    expect((again.writeErrors as Document[])[0]?.code).toBe(11000);
  });

  it('views: reads run the view pipeline, writes fail with 166', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      insert: 'src',
      documents: [
        { _id: 1, a: 1 },
        { _id: 2, a: 2 },
        { _id: 3, a: 3 },
      ],
    });
    await f.run(handlers, {
      create: 'big',
      viewOn: 'src',
      pipeline: [{ $match: { a: { $gte: 2 } } }],
    });
    await f.run(handlers, { create: 'bigger', viewOn: 'big', pipeline: [{ $match: { a: 3 } }] });
    const found = await f.run(handlers, { find: 'big', sort: { a: -1 }, projection: { _id: 1 } });
    expect(plain((found.cursor as Document).firstBatch)).toEqual([{ _id: 3 }, { _id: 2 }]);
    const nested = await f.run(handlers, { aggregate: 'bigger', pipeline: [], cursor: {} });
    expect(plain((nested.cursor as Document).firstBatch)).toEqual([{ _id: 3, a: 3 }]);
    expect((await f.run(handlers, { count: 'big' })).n).toBe(2);
    expect((await f.runError(handlers, { insert: 'big', documents: [{ a: 5 }] })).code).toBe(166);
    expect(
      (await f.runError(handlers, { update: 'big', updates: [{ q: {}, u: { $set: { a: 1 } } }] }))
        .code,
    ).toBe(166);
    expect(
      (await f.runError(handlers, { delete: 'big', deletes: [{ q: {}, limit: 0 }] })).code,
    ).toBe(166);
  });

  it('refuses writes to system collections, and transaction numbers on a standalone', async () => {
    const f = dataFixture();
    expect((await f.runError(handlers, { insert: 'system.x', documents: [{}] })).code).toBe(73);
    // (Transactions themselves are routed by dispatch.ts: see transactions.test.ts.)
    const standalone = dataFixture('standalone');
    expect(
      (
        await standalone.runError(handlers, {
          insert: 'c',
          documents: [{}],
          lsid: { id: new UUID() },
          txnNumber: Long.ONE,
        })
      ).code,
    ).toBe(20);
  });
});

describe('CRUD through the official driver', () => {
  let server: TestServer;
  let client: MongoClient;

  beforeAll(async () => {
    server = await startTestServer();
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  it('inserts, finds, updates and deletes', async () => {
    const c = client.db('driver').collection<{ a: number; tags?: string[] }>('crud');
    const ins = await c.insertMany([{ a: 1 }, { a: 2 }, { a: 3, tags: ['x'] }]);
    expect(ins.insertedCount).toBe(3);
    expect(await c.countDocuments({ a: { $gte: 2 } })).toBe(2);
    const upd = await c.updateMany({ a: { $gte: 2 } }, { $push: { tags: 'y' } });
    expect([upd.matchedCount, upd.modifiedCount]).toEqual([2, 2]);
    expect(await c.findOne({ a: 3 }, { projection: { _id: 0 } })).toEqual({
      a: 3,
      tags: ['x', 'y'],
    });
    const rep = await c.replaceOne({ a: 1 }, { a: 10 });
    expect(rep.modifiedCount).toBe(1);
    expect((await c.deleteMany({ a: { $lt: 5 } })).deletedCount).toBe(2);
    expect(await c.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ a: 10 }]);
  });

  it('iterates a large result with getMore and kills a cursor early', async () => {
    const c = client.db('driver').collection('many');
    await c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ i })));
    const all = await c.find({}, { batchSize: 64 }).sort({ i: -1 }).toArray();
    expect(all).toHaveLength(1000);
    expect(all[0]?.i).toBe(999);
    const cursor = c.find({}, { batchSize: 10 });
    await cursor.next();
    await cursor.close();
    expect(await c.estimatedDocumentCount()).toBe(1000);
  });

  it('upserts and applies arrayFilters', async () => {
    const c = client.db('driver').collection('up');
    const r = await c.updateOne(
      { k: 'a' },
      { $set: { items: [{ q: 1 }, { q: 5 }] } },
      { upsert: true },
    );
    expect(r.upsertedCount).toBe(1);
    await c.updateOne(
      { k: 'a' },
      { $set: { 'items.$[e].big': true } },
      { arrayFilters: [{ 'e.q': { $gt: 2 } }] },
    );
    expect(await c.findOne({ k: 'a' }, { projection: { _id: 0 } })).toEqual({
      k: 'a',
      items: [{ q: 1 }, { q: 5, big: true }],
    });
  });

  it('findOneAndUpdate / findOneAndDelete', async () => {
    const c = client.db('driver').collection<{ _id: string; n: number }>('fam');
    await c.insertOne({ _id: 'x', n: 1 });
    const after = await c.findOneAndUpdate(
      { _id: 'x' },
      { $inc: { n: 1 } },
      { returnDocument: 'after' },
    );
    expect(after).toEqual({ _id: 'x', n: 2 });
    const up = await c.findOneAndUpdate(
      { _id: 'y' },
      { $set: { n: 0 } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(up).toEqual({ _id: 'y', n: 0 });
    expect(await c.findOneAndDelete({ n: 0 })).toEqual({ _id: 'y', n: 0 });
  });

  it('de-duplicates a retried write sent twice with the same lsid and txnNumber', async () => {
    const db = client.db('driver');
    // The driver sends its (pooled, maybe reused) session's lsid: pick a txnNumber no earlier
    // write on that session can have used.
    const session = client.startSession();
    const cmd = {
      insert: 'retry',
      documents: [{ _id: 1, v: 'once' }],
      txnNumber: Long.fromNumber(1_000_000_007),
    };
    const first = await db.command(cmd, { session });
    const second = await db.command(cmd, { session });
    await session.endSession();
    expect(first.n).toBe(1);
    expect(second.n).toBe(1);
    expect(second.writeErrors).toBeUndefined();
    expect(await db.collection('retry').countDocuments()).toBe(1);
  });

  it('reports real error codes', async () => {
    const c = client.db('driver').collection<{ _id: number }>('errors');
    await c.insertOne({ _id: 1 });
    const dup = await c.insertOne({ _id: 1 }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(MongoServerError);
    expect((dup as MongoServerError).code).toBe(11000);
    expect((dup as MongoServerError).keyValue).toEqual({ _id: 1 });
    const immutable = await c.updateOne({ _id: 1 }, { $set: { _id: 2 } }).catch((e: unknown) => e);
    expect((immutable as MongoServerError).code).toBe(66);
    const unknown = await c
      .updateOne({}, { $bogus: { a: 1 } } as unknown as Document)
      .catch((e: unknown) => e);
    expect((unknown as MongoServerError).code).toBe(9);
    const stage = await c
      .aggregate([{ $bogus: {} }])
      .toArray()
      .catch((e: unknown) => e);
    expect((stage as MongoServerError).code).toBe(40324);
    const dead = await client
      .db('driver')
      .command({ getMore: Long.fromNumber(42), collection: 'errors' })
      .catch((e: unknown) => e);
    expect((dead as MongoServerError).code).toBe(43);
    expect((dead as MongoServerError).codeName).toBe('CursorNotFound');
  });

  it('reads through views and refuses writes to them', async () => {
    const db = client.db('driver');
    await db.collection('base').insertMany([{ v: 1 }, { v: 2 }]);
    await db.createCollection('onlyTwo', { viewOn: 'base', pipeline: [{ $match: { v: 2 } }] });
    expect(
      await db
        .collection('onlyTwo')
        .find({}, { projection: { _id: 0 } })
        .toArray(),
    ).toEqual([{ v: 2 }]);
    const err = await db
      .collection('onlyTwo')
      .insertOne({ v: 3 })
      .catch((e: unknown) => e);
    expect((err as MongoServerError).code).toBe(166);
  });
});
