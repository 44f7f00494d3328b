// MongoDB 8.0 batched writes and multi-document transactions through the Node driver: one
// applyOps per batch or commit, shared cluster time, txnOpIndex, lsid/txnNumber in events.
import { type Document, MongoClient, MongoServerError } from 'mongodb';
import { startTestServer, type TestServer } from './index.js';
import { decodeResumeToken } from './change-stream/tokens.js';

let server: TestServer;
let client: MongoClient;

beforeAll(async () => {
  server = await startTestServer({ noopIntervalMs: 0 });
  client = new MongoClient(server.uri);
  await client.connect();
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

/** Every event of `db` after `since`, read by one change stream. */
async function eventsOf(db: string, count: number): Promise<Document[]> {
  const cs = client
    .db(db)
    .watch([], { startAtOperationTime: startTimes.get(db), maxAwaitTimeMS: 50 });
  const out: Document[] = [];
  try {
    while (out.length < count) {
      const ev = await cs.tryNext();
      if (ev) out.push(ev);
    }
  } finally {
    await cs.close();
  }
  return out;
}

const startTimes = new Map<string, never>();
async function fresh(db: string): Promise<string> {
  const r = await client.db('admin').command({ ping: 1 });
  startTimes.set(db, r.operationTime as never);
  return db;
}

test('insertMany: one applyOps per 500 documents, lsid + txnNumber first', async () => {
  const db = await fresh('txn_insert');
  await client
    .db(db)
    .collection<{ _id: number }>('c')
    .insertMany(Array.from({ length: 1200 }, (_, i) => ({ _id: i })));
  const evs = (await eventsOf(db, 1200)).filter((e) => e.operationType === 'insert');
  expect(evs).toHaveLength(1200);
  const times = new Set(evs.map((e) => (e.clusterTime as { toString(): string }).toString()));
  expect(times.size).toBe(3);
  const indexes = evs.map((e) => decodeResumeToken(e._id as { _data: string }).txnOpIndex);
  expect(indexes.slice(498, 502)).toEqual([498, 499, 0, 1]);
  expect(Object.keys(evs[0] as Document).slice(0, 3)).toEqual(['txnNumber', 'lsid', '_id']);
  expect(Object.keys((evs[0] as Document).lsid as Document)).toEqual(['id', 'uid']);
});

test('deleteMany: one applyOps, no lsid', async () => {
  const db = await fresh('txn_delete');
  const coll = client.db(db).collection<{ _id: number }>('c');
  await coll.insertOne({ _id: 1 });
  await coll.insertOne({ _id: 2 });
  await coll.deleteMany({});
  const evs = (await eventsOf(db, 4)).filter((e) => e.operationType === 'delete');
  expect(evs.map((e) => decodeResumeToken(e._id as { _data: string }).txnOpIndex)).toEqual([0, 1]);
  expect(String(evs[0]?.clusterTime)).toBe(String(evs[1]?.clusterTime));
  expect(evs[0]?.lsid).toBeUndefined();
});

test('withTransaction commits as one applyOps; an abort writes nothing; reads see own writes', async () => {
  const db = await fresh('txn_commit');
  const coll = client.db(db).collection<{ _id: number; a?: number }>('c');
  await coll.insertOne({ _id: 0 });
  const session = client.startSession();
  try {
    await session.withTransaction(async () => {
      await coll.insertOne({ _id: 1 }, { session });
      await coll.updateOne({ _id: 0 }, { $set: { a: 1 } }, { session });
      expect(await coll.countDocuments({}, { session })).toBe(2);
      expect(await coll.findOne({ _id: 1 })).toBeNull(); // not visible outside before commit
    });
    session.startTransaction();
    await coll.insertOne({ _id: 99 }, { session });
    await session.abortTransaction();
  } finally {
    await session.endSession();
  }
  expect(await coll.findOne({ _id: 99 })).toBeNull();
  await coll.insertOne({ _id: 2 });
  const evs = await eventsOf(db, 4);
  const inTxn = evs.slice(1, 3);
  expect(inTxn.map((e) => e.operationType)).toEqual(['insert', 'update']);
  expect(String(inTxn[0]?.clusterTime)).toBe(String(inTxn[1]?.clusterTime));
  expect(inTxn.every((e) => e.lsid !== undefined && e.txnNumber !== undefined)).toBe(true);
  expect(evs[3]?.documentKey).toEqual({ _id: 2 });
});

test('two transactions writing one document: 112 WriteConflict, TransientTransactionError', async () => {
  const coll = client.db('txn_conflict').collection<{ _id: number; a?: number }>('c');
  await coll.insertOne({ _id: 1 });
  const s1 = client.startSession();
  const s2 = client.startSession();
  try {
    s1.startTransaction();
    s2.startTransaction();
    await coll.updateOne({ _id: 1 }, { $set: { a: 1 } }, { session: s1 });
    const err = await coll.updateOne({ _id: 1 }, { $set: { a: 2 } }, { session: s2 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(112);
    expect((err as MongoServerError).hasErrorLabel('TransientTransactionError')).toBe(true);
    await s2.abortTransaction();
    await s1.commitTransaction();
  } finally {
    await s1.endSession();
    await s2.endSession();
  }
  expect(await coll.findOne({ _id: 1 })).toEqual({ _id: 1, a: 1 });
});
