// Change streams through the official Node driver against the in-process test server.
import {
  type ChangeStream,
  type ChangeStreamDocument,
  type Document,
  type Collection,
  MongoClient,
  MongoServerError,
  type ResumeToken,
  Timestamp,
} from 'mongodb';
import { startTestServer, type TestServer } from './index.js';
import { compareTokens, decodeResumeToken } from './change-stream/tokens.js';

type Doc = Document & { _id: number | string };

let server: TestServer;
let client: MongoClient;
const streams: ChangeStream[] = [];

beforeAll(async () => {
  server = await startTestServer({ noopIntervalMs: 200 });
  client = new MongoClient(server.uri);
  await client.connect();
});

afterEach(async () => {
  for (const cs of streams.splice(0)) await cs.close();
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

let dbCounter = 0;
/** A fresh database per test, so tests never see each other's writes. */
function freshDb(): string {
  dbCounter++;
  return `csdriver${dbCounter}`;
}

function watch<T extends Document>(
  target: { watch: (p: Document[], o: Document) => ChangeStream<T> },
  pipeline: Document[] = [],
  options: Document = {},
): ChangeStream<T> {
  // Short awaits keep `started()` quick; tests about waiting pass their own maxAwaitTimeMS.
  const cs = target.watch(pipeline, { maxAwaitTimeMS: 100, ...options });
  streams.push(cs as unknown as ChangeStream);
  return cs;
}

/** Opens the stream on the server (the driver sends the aggregate lazily). */
async function started<T extends Document>(cs: ChangeStream<T>): Promise<ChangeStream<T>> {
  await cs.tryNext();
  return cs;
}

async function nextN<T extends Document>(
  cs: ChangeStream<T>,
  n: number,
): Promise<ChangeStreamDocument<T>[]> {
  const out: ChangeStreamDocument<T>[] = [];
  for (let i = 0; i < n; i++) out.push((await cs.next()) as ChangeStreamDocument<T>);
  return out;
}

async function serverError(p: Promise<unknown>): Promise<MongoServerError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MongoServerError) return err;
    throw err;
  }
  throw new Error('expected a server error');
}

describe('scopes', () => {
  it('collection, database and cluster streams see their namespaces', async () => {
    const db0 = freshDb();
    const db1 = freshDb();
    const collStream = await started(watch(client.db(db0).collection('c0')));
    const dbStream = await started(watch(client.db(db0)));
    const clusterStream = await started(watch(client));
    await client.db(db0).collection<Doc>('c1').insertOne({ _id: 1 });
    await client.db(db1).collection<Doc>('c0').insertOne({ _id: 2 });
    await client.db(db0).collection<Doc>('c0').insertOne({ _id: 3 });
    const key = (e: ChangeStreamDocument): unknown =>
      'documentKey' in e ? e.documentKey._id : undefined;
    expect((await nextN(collStream, 1)).map(key)).toEqual([3]);
    expect((await nextN(dbStream, 2)).map(key)).toEqual([1, 3]);
    expect((await nextN(clusterStream, 3)).map(key)).toEqual([1, 2, 3]);
    expect((await nextN(dbStream, 0)).length).toBe(0);
  });
});

describe('event shapes', () => {
  it('insert, update, replace and delete carry the real fields in the real order', async () => {
    const coll: Collection<Doc> = client.db(freshDb()).collection('c');
    await coll.insertOne({ _id: 0 });
    const cs = await started(watch(coll));
    await coll.insertOne({ _id: 1, a: 1, b: { x: 0 } });
    await coll.updateOne({ _id: 1 }, { $set: { 'b.c': 2 }, $unset: { a: '' } });
    await coll.replaceOne({ _id: 1 }, { x: 3 });
    await coll.deleteOne({ _id: 1 });
    const [ins, upd, rep, del] = await nextN(cs, 4);
    expect(Object.keys(ins ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    expect(Object.keys(upd ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
      'updateDescription',
    ]);
    expect(Object.keys(rep ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    expect(Object.keys(del ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
    ]);
    expect(ins).toMatchObject({
      operationType: 'insert',
      fullDocument: { _id: 1, a: 1 },
      documentKey: { _id: 1 },
    });
    expect(upd).toMatchObject({
      operationType: 'update',
      updateDescription: { updatedFields: { 'b.c': 2 }, removedFields: ['a'], truncatedArrays: [] },
    });
    expect(rep).toMatchObject({ operationType: 'replace', fullDocument: { _id: 1, x: 3 } });
    expect(ins?.clusterTime).toBeInstanceOf(Timestamp);
    expect((ins as { wallTime?: unknown } | undefined)?.wallTime).toBeInstanceOf(Date);
    const tokens = [ins, upd, rep, del].map((e) => e?._id as ResumeToken as { _data: string });
    expect([...tokens].sort(compareTokens)).toEqual(tokens);
  });

  it('pre- and post-images when the collection records them', async () => {
    const db = client.db(freshDb());
    await db.createCollection('images', { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection<Doc>('images');
    await coll.insertOne({ _id: 1, v: 1 });
    const cs = await started(
      watch(coll, [], { fullDocument: 'required', fullDocumentBeforeChange: 'required' }),
    );
    await coll.updateOne({ _id: 1 }, { $inc: { v: 1 } });
    await coll.deleteOne({ _id: 1 });
    const [upd, del] = await nextN(cs, 2);
    expect(upd).toMatchObject({
      fullDocument: { _id: 1, v: 2 },
      fullDocumentBeforeChange: { _id: 1, v: 1 },
    });
    expect(Object.keys(upd ?? {}).slice(-1)).toEqual(['fullDocumentBeforeChange']);
    expect(del).toMatchObject({
      operationType: 'delete',
      fullDocumentBeforeChange: { _id: 1, v: 2 },
    });
  });
});

describe('invalidate and resume', () => {
  it('drop: drop then invalidate, then the stream is closed; startAfter continues', async () => {
    const db = client.db(freshDb());
    const coll = db.collection<Doc>('c');
    await coll.insertOne({ _id: 1 });
    const cs = await started(watch(coll));
    await coll.drop();
    await coll.insertOne({ _id: 2 });
    const [drop, invalidate] = await nextN(cs, 2);
    expect(drop?.operationType).toBe('drop');
    expect(invalidate?.operationType).toBe('invalidate');
    expect(Object.keys(invalidate ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
    ]);
    await expect(cs.next()).rejects.toThrow(/closed/i);
    const err = await serverError(started(watch(coll, [], { resumeAfter: invalidate?._id })));
    expect(err.code).toBe(260);
    const after = watch(coll, [], { startAfter: invalidate?._id });
    const [ins] = await nextN(after, 1);
    expect(ins).toMatchObject({ operationType: 'insert', documentKey: { _id: 2 } });
  });

  it('rename invalidates a stream on the renamed collection', async () => {
    const db = client.db(freshDb());
    const coll = db.collection<Doc>('from');
    await coll.insertOne({ _id: 1 });
    const cs = await started(watch(coll));
    await coll.rename('to');
    const [rename, invalidate] = await nextN(cs, 2);
    expect(rename).toMatchObject({
      operationType: 'rename',
      ns: { coll: 'from' },
      to: { coll: 'to' },
    });
    expect(invalidate?.operationType).toBe('invalidate');
  });

  it('resumeAfter an event and startAtOperationTime', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    const cs = await started(watch(coll));
    await coll.insertOne({ _id: 1 });
    await coll.insertOne({ _id: 2 });
    await coll.insertOne({ _id: 3 });
    const events = await nextN(cs, 3);
    const resumed = watch(coll, [], { resumeAfter: events[0]?._id });
    expect(
      (await nextN(resumed, 2)).map((e) => ('documentKey' in e ? e.documentKey._id : null)),
    ).toEqual([2, 3]);
    const fromTime = watch(coll, [], { startAtOperationTime: events[1]?.clusterTime });
    expect(
      (await nextN(fromTime, 2)).map((e) => ('documentKey' in e ? e.documentKey._id : null)),
    ).toEqual([2, 3]);
  });

  it('286 after the oplog was truncated, with NonResumableChangeStreamError', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    const cs = await started(watch(coll));
    await coll.insertOne({ _id: 1 });
    const [ev] = await nextN(cs, 1);
    await cs.close();
    await coll.insertOne({ _id: 2 });
    await coll.insertOne({ _id: 3 });
    server.truncateOplog();
    const err = await serverError(started(watch(coll, [], { resumeAfter: ev?._id })));
    expect(err.code).toBe(286);
    expect(err.codeName).toBe('ChangeStreamHistoryLost');
    // Raised while the pipeline runs: the aggregate's executor context comes first (run_aggregate.cpp).
    expect(err.message).toBe(
      'PlanExecutor error during aggregation :: caused by :: Resume of change stream was not possible, as the resume point may no longer be in the oplog.',
    );
    expect(err.hasErrorLabel('NonResumableChangeStreamError')).toBe(true);
  });

  it('the driver resumes by itself after the connection drops, without losing events', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    const cs = await started(watch(coll));
    await coll.insertOne({ _id: 1 });
    expect((await nextN(cs, 1))[0]).toMatchObject({ documentKey: { _id: 1 } });
    server.dropConnections();
    await coll.insertOne({ _id: 2 });
    await coll.insertOne({ _id: 3 });
    const rest = await nextN(cs, 2);
    expect(rest.map((e) => ('documentKey' in e ? e.documentKey._id : null))).toEqual([2, 3]);
  });
});

describe('awaitData and the postBatchResumeToken', () => {
  it('a waiting getMore returns soon after a write, and waits about maxAwaitTimeMS when idle', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    // The first tryNext sends the aggregate at once, then a getMore that waits for the write.
    const cs = watch(coll, [], { maxAwaitTimeMS: 3000 });
    const start = Date.now();
    setTimeout(() => void coll.insertOne({ _id: 1 }), 100);
    const ev = await cs.tryNext();
    expect(ev).toMatchObject({ documentKey: { _id: 1 } });
    expect(Date.now() - start).toBeLessThan(1500);

    const idle = await started(watch(coll, [], { maxAwaitTimeMS: 400 }));
    const t0 = Date.now();
    expect(await idle.tryNext()).toBeNull();
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(3000);
  });

  it('the resume token advances while idle and while everything is filtered out', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    const cs = await started(
      watch(coll, [{ $match: { operationType: 'delete' } }], { maxAwaitTimeMS: 250 }),
    );
    const first = cs.resumeToken as { _data: string };
    await new Promise((r) => setTimeout(r, 1100)); // the idle primary's no-ops move the oplog
    expect(await cs.tryNext()).toBeNull();
    const second = cs.resumeToken as { _data: string };
    expect(compareTokens(second, first)).toBe(1);
    await coll.insertOne({ _id: 1 }); // filtered out
    expect(await cs.tryNext()).toBeNull();
    const third = cs.resumeToken as { _data: string };
    expect(compareTokens(third, second)).toBe(1);
    expect(decodeResumeToken(third).tokenType).toBe(0);
  });
});

describe('limits and topology', () => {
  it('caps each batch at 16 MiB and still delivers every event', async () => {
    const coll = client.db(freshDb()).collection<Doc>('c');
    const replies: number[] = [];
    const listener = (ev: { commandName: string; reply: Document }): void => {
      if (ev.commandName !== 'getMore') return;
      const batch = (ev.reply.cursor as { nextBatch: Document[] }).nextBatch;
      if (batch.length > 0) replies.push(batch.length);
    };
    const monitored = new MongoClient(server.uri, { monitorCommands: true });
    monitored.on('commandSucceeded', listener);
    try {
      const cs = await started(watch(monitored.db(coll.dbName).collection<Doc>('c')));
      const big = 'x'.repeat(6 * 1024 * 1024);
      for (let i = 0; i < 4; i++) await coll.insertOne({ _id: i, big });
      const events = await nextN(cs, 4);
      expect(events.map((e) => ('documentKey' in e ? e.documentKey._id : null))).toEqual([
        0, 1, 2, 3,
      ]);
      expect(Math.max(...replies)).toBeLessThanOrEqual(2);
      await cs.close();
    } finally {
      await monitored.close();
    }
  });

  it('a standalone server refuses change streams with 40573', async () => {
    const standalone = await startTestServer({ topology: 'standalone' });
    const c = new MongoClient(standalone.uri);
    try {
      const cs = c.db('d').collection('c').watch();
      const err = await serverError(cs.tryNext());
      expect(err.code).toBe(40573);
      expect(err.message).toBe('The $changeStream stage is only supported on replica sets');
      await cs.close();
    } finally {
      await c.close();
      await standalone.stop();
    }
  });
});
