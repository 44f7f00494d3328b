// The sharded cluster (`topology: 'sharded'`) through the Node driver: a mongos the driver sees as
// such, writes routed by shard key, reads merged, and change streams merged across shards in
// cluster-time order the way the real mongos merges them (jstests/sharding/change_stream*.js).
// Each test starts a private server: no real deployment has these hooks (shards' no-ops).
import { type Document, Long, MaxKey, MinKey, type Timestamp } from 'bson';
import { MongoClient } from 'mongodb';
import { type TestServer, startTestServer } from './index.js';
import { compareTokens } from './change-stream/tokens.js';
import { compareTimestamps } from './oplog.js';
import { jest } from '@jest/globals';

jest.setTimeout(30_000);

const servers: TestServer[] = [];
const clients: MongoClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function cluster(
  opts: { noopIntervalMs?: number; rangeSplit?: unknown } = {},
): Promise<{ server: TestServer; client: MongoClient }> {
  const server = await startTestServer({
    topology: 'sharded',
    shards: 2,
    noopIntervalMs: opts.noopIntervalMs ?? 50,
    ...(opts.rangeSplit !== undefined ? { rangeSplit: opts.rangeSplit } : {}),
  });
  servers.push(server);
  const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 10_000 });
  clients.push(client);
  await client.connect();
  return { server, client };
}

/** How many documents of `db.coll` shard `i` holds. */
function shardCount(server: TestServer, i: number, db: string, coll: string): number {
  return server.shards[i]?.state.storage.getCollection(db, coll)?.size ?? 0;
}

/** Runs `getMore` on a raw change-stream cursor until `n` events came (at most `tries` times). */
async function nextEvents(
  client: MongoClient,
  db: string,
  coll: string,
  id: Long,
  n: number,
  tries = 100,
): Promise<{ events: Document[]; id: Long; pbrt: Document }> {
  const events: Document[] = [];
  let pbrt: Document = {};
  for (let i = 0; i < tries && events.length < n; i++) {
    const reply = await client
      .db(db)
      .command({ getMore: id, collection: coll, maxTimeMS: 200 }, { enableUtf8Validation: false });
    const cursor = reply.cursor as Document;
    events.push(...(cursor.nextBatch as Document[]));
    pbrt = cursor.postBatchResumeToken as Document;
    // (The driver hands a zero id back as a number.)
    id = Long.fromValue(cursor.id as Long | number);
    if (id.isZero()) break;
  }
  return { events, id, pbrt };
}

async function openStream(
  client: MongoClient,
  db: string,
  coll: string | 1,
  spec: Document = {},
): Promise<Long> {
  const reply = await client.db(db).command({
    aggregate: coll,
    pipeline: [{ $changeStream: spec }],
    cursor: { batchSize: 0 },
  });
  return (reply.cursor as Document).id as Long;
}

describe('sharded cluster', () => {
  test('the driver sees a mongos; hello says isdbgrid and names no set', async () => {
    const { client } = await cluster();
    const hello = await client.db('admin').command({ hello: 1 });
    expect(hello.msg).toBe('isdbgrid');
    expect(hello.setName).toBeUndefined();
    expect(Object.keys(hello).slice(0, 2)).toEqual(['isWritablePrimary', 'msg']);
    expect(hello.$clusterTime).toBeDefined();
    const description = (client as unknown as { topology: { description: { type: string } } })
      .topology.description;
    expect(description.type).toBe('Sharded');
  });

  test('the local database is refused (code 20), as by a real mongos', async () => {
    const { client } = await cluster();
    const err = await client
      .db('local')
      .collection('oplog.rs')
      .findOne({})
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 20, message: "Can't use 'local' database through mongos" });
    expect((await client.db('local').command({ ping: 1 })).ok).toBe(1);
  });

  test('a hashed key spreads inserts over both shards; reads and writes see them all', async () => {
    const { server, client } = await cluster();
    await client.db('admin').command({ shardCollection: 'db.c', key: { _id: 'hashed' } });
    const c = client.db('db').collection<{ _id: number; v?: number }>('c');
    await c.insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i })));
    const a = shardCount(server, 0, 'db', 'c');
    const b = shardCount(server, 1, 'db', 'c');
    expect(a + b).toBe(40);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(await c.countDocuments()).toBe(40);
    const sorted = await c.find({}, { sort: { _id: 1 } }).toArray();
    expect(sorted.map((d) => d._id)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect((await c.updateOne({ _id: 7 }, { $set: { v: 1 } })).modifiedCount).toBe(1);
    expect((await c.updateMany({ _id: { $lt: 10 } }, { $set: { v: 2 } })).modifiedCount).toBe(10);
    expect((await c.deleteMany({ v: 2 })).deletedCount).toBe(10);
    expect(await c.countDocuments()).toBe(30);
    const names = (await client.db('db').listCollections().toArray()).map((x) => x.name);
    expect(names).toEqual(['c']);
    const config = await client
      .db('config')
      .collection<{ _id: string; key: Document }>('collections')
      .findOne({ _id: 'db.c' });
    expect(config?.key).toEqual({ _id: 'hashed' });
  });

  test('a ranged key splits at the configured point', async () => {
    const { server, client } = await cluster({ rangeSplit: 10 });
    await client.db('admin').command({ shardCollection: 'db.r', key: { x: 1 } });
    await client
      .db('db')
      .collection('r')
      .insertMany([{ x: 1 }, { x: 9 }, { x: 10 }, { x: 50 }, { x: 70 }]);
    expect(shardCount(server, 0, 'db', 'r')).toBe(2);
    expect(shardCount(server, 1, 'db', 'r')).toBe(3);
  });

  test('a change stream merges both shards in cluster-time order', async () => {
    const { server, client } = await cluster();
    await client.db('admin').command({ shardCollection: 'db.m', key: { x: 1 } });
    const c = client.db('db').collection('m');
    const stream = c.watch();
    const events: Document[] = [];
    const done = (async () => {
      for await (const e of stream) {
        events.push(e);
        if (events.length === 10) break;
      }
    })();
    // Wait until the stream is open (its first getMore went out) before writing.
    await new Promise((resolve) => stream.once('resumeTokenChanged', resolve));
    for (let i = 0; i < 10; i++) await c.insertOne({ x: i % 2 === 0 ? -1 - i : i, i });
    await done;
    await stream.close();
    expect(shardCount(server, 0, 'db', 'm')).toBe(5);
    expect(shardCount(server, 1, 'db', 'm')).toBe(5);
    expect(events.map((e) => (e.fullDocument as Document).i)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    for (let i = 1; i < events.length; i++) {
      const prev = events[i - 1] as Document;
      const cur = events[i] as Document;
      expect(
        compareTimestamps(prev.clusterTime as Timestamp, cur.clusterTime as Timestamp),
      ).toBeLessThan(0);
      expect(compareTokens(prev._id as never, cur._id as never)).toBeLessThan(0);
    }
  });

  test('an idle shard holds the merged stream back until its no-op', async () => {
    // No periodic no-op: only `noop()` moves a shard's high-water mark.
    const { server, client } = await cluster({ noopIntervalMs: 0 });
    await client.db('admin').command({ shardCollection: 'db.i', key: { x: 1 } });
    const id = await openStream(client, 'db', 'i');
    await client.db('db').collection('i').insertOne({ x: -5 });
    const held = await nextEvents(client, 'db', 'i', id, 1, 3);
    // Not a timing assertion: without a write on shard 1 nothing can release the event.
    expect(held.events).toEqual([]);
    server.shards[1]?.noop();
    const released = await nextEvents(client, 'db', 'i', id, 1);
    expect(released.events.map((e) => e.operationType)).toEqual(['insert']);
    expect(released.pbrt).toEqual(released.events[0]?._id);
  });

  test('resumes from a mid-stream token of the merged stream', async () => {
    const { client } = await cluster();
    await client.db('admin').command({ shardCollection: 'db.t', key: { x: 1 } });
    const id = await openStream(client, 'db', 't');
    const c = client.db('db').collection('t');
    for (let i = 0; i < 4; i++) await c.insertOne({ x: i % 2 === 0 ? -1 - i : i, i });
    const first = await nextEvents(client, 'db', 't', id, 4);
    expect(first.events.map((e) => (e.fullDocument as Document).i)).toEqual([0, 1, 2, 3]);
    const token = first.events[1]?._id as Document;
    const resumed = await openStream(client, 'db', 't', { resumeAfter: token });
    const rest = await nextEvents(client, 'db', 't', resumed, 2);
    expect(rest.events.map((e) => (e.fullDocument as Document).i)).toEqual([2, 3]);
    expect(rest.events.map((e) => e._id)).toEqual(first.events.slice(2).map((e) => e._id));
  });

  test('expanded events: shardCollection and refineCollectionShardKey, once each', async () => {
    const { client } = await cluster();
    await client.db('db').createCollection('e');
    const id = await openStream(client, 'db', 'e', { showExpandedEvents: true });
    const admin = client.db('admin');
    await admin.command({ shardCollection: 'db.e', key: { x: 1 } });
    await admin.command({ refineCollectionShardKey: 'db.e', key: { x: 1, y: 1 } });
    const { events } = await nextEvents(client, 'db', 'e', id, 2);
    expect(events.map((e) => e.operationType)).toEqual([
      'shardCollection',
      'refineCollectionShardKey',
    ]);
    // jstests/change_streams/show_expanded_events.js and refine_collection_shard_key_event.js.
    expect(events[0]?.operationDescription).toEqual({
      shardKey: { x: 1 },
      unique: false,
      numInitialChunks: 0,
      presplitHashedZones: false,
    });
    expect(events[1]?.operationDescription).toEqual({
      shardKey: { x: 1, y: 1 },
      oldShardKey: { x: 1 },
    });
  });

  test('a database stream sees one dropDatabase after every shard dropped', async () => {
    const { client } = await cluster();
    await client.db('admin').command({ shardCollection: 'dd.s', key: { x: 1 } });
    const id = await openStream(client, 'dd', 1);
    await client
      .db('dd')
      .collection('s')
      .insertMany([{ x: -1 }, { x: 1 }]);
    await client.db('dd').collection('u').insertOne({ x: 1 });
    await client.db('dd').dropDatabase();
    const { events, id: after } = await nextEvents(client, 'dd', '$cmd.aggregate', id, 8);
    expect(
      events.map(
        (e) => `${e.operationType as string} ${(e.ns as Document | undefined)?.coll ?? ''}`,
      ),
    ).toEqual([
      'insert s',
      'insert s',
      'insert u',
      'drop s',
      'drop u',
      'dropDatabase ',
      'invalidate ',
    ]);
    expect(after.isZero()).toBe(true);
  });

  test('dropping a sharded collection: one drop, then invalidate', async () => {
    const { server, client } = await cluster();
    await client.db('admin').command({ shardCollection: 'db.d', key: { x: 1 } });
    const c = client.db('db').collection('d');
    const id = await openStream(client, 'db', 'd');
    await c.insertMany([{ x: -1 }, { x: 1 }]);
    expect(shardCount(server, 0, 'db', 'd')).toBe(1);
    expect(shardCount(server, 1, 'db', 'd')).toBe(1);
    await c.drop();
    const { events, id: after } = await nextEvents(client, 'db', 'd', id, 4);
    expect(events.map((e) => e.operationType)).toEqual(['insert', 'insert', 'drop', 'invalidate']);
    expect(after.isZero()).toBe(true);
    expect(server.shards.map((s) => s.state.storage.getCollection('db', 'd'))).toEqual([
      undefined,
      undefined,
    ]);
  });
});

// reshardCollection as 8.0 runs it: jstests/sharding/change_streams/reshard_collection_event.js
// (the event, then a resume after it sees the next insert) and
// src/mongo/db/repl/change_stream_oplog_notification.cpp (operationDescription's fields, in order).
describe('sharded cluster: reshardCollection', () => {
  /** The collection's UUID as listCollections reports it through the mongos. */
  async function uuidOf(client: MongoClient, db: string, coll: string): Promise<string> {
    const [info] = await client.db(db).listCollections({ name: coll }).toArray();
    return ((info as Document).info as { uuid: { toHexString(): string } }).uuid.toHexString();
  }

  test('one expanded event; documents move to the new key without events; stream goes on', async () => {
    const { server, client } = await cluster();
    const admin = client.db('admin');
    await admin.command({ shardCollection: 'db.r', key: { x: 1 } });
    const c = client.db('db').collection<{ _id: number; x: number; y: number; v?: number }>('r');
    await c.insertMany([
      { _id: 1, x: -1, y: 1 },
      { _id: 2, x: -2, y: 2 },
      { _id: 3, x: 3, y: -3 },
    ]);
    expect([shardCount(server, 0, 'db', 'r'), shardCount(server, 1, 'db', 'r')]).toEqual([2, 1]);
    const oldUuid = await uuidOf(client, 'db', 'r');
    const expanded = await openStream(client, 'db', 'r', { showExpandedEvents: true });
    const classic = await openStream(client, 'db', 'r');
    await admin.command({
      reshardCollection: 'db.r',
      key: { y: 1 },
      numInitialChunks: 2,
      collation: { locale: 'simple' },
      zones: [{ zone: 'z1', min: { y: new MinKey() }, max: { y: new MaxKey() } }],
    });
    const newUuid = await uuidOf(client, 'db', 'r');
    expect(newUuid).not.toBe(oldUuid);
    // Owned by the new key now, and routed by it.
    expect([shardCount(server, 0, 'db', 'r'), shardCount(server, 1, 'db', 'r')]).toEqual([1, 2]);
    expect(await c.countDocuments()).toBe(3);
    expect((await c.updateOne({ y: 2 }, { $set: { v: 1 } })).modifiedCount).toBe(1);
    expect(await c.findOne({ v: 1 })).toEqual({ _id: 2, x: -2, y: 2, v: 1 });
    await c.insertOne({ _id: 4, x: 9, y: -9 });
    expect(shardCount(server, 0, 'db', 'r')).toBe(2);
    const config = await client
      .db('config')
      .collection<{ _id: string; key: Document }>('collections')
      .findOne({ _id: 'db.r' });
    expect(config?.key).toEqual({ y: 1 });

    const seen = await nextEvents(client, 'db', 'r', expanded, 3);
    expect(seen.events.map((e) => e.operationType)).toEqual([
      'reshardCollection',
      'update',
      'insert',
    ]);
    // No invalidate: the cursor is still open.
    expect(seen.id.isZero()).toBe(false);
    const event = seen.events[0] as Document;
    expect(Object.keys(event)).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'collectionUUID',
      'wallTime',
      'ns',
      'operationDescription',
    ]);
    expect((event.collectionUUID as { toHexString(): string }).toHexString()).toBe(oldUuid);
    expect(event.ns).toEqual({ db: 'db', coll: 'r' });
    const description = event.operationDescription as Document;
    expect(Object.keys(description)).toEqual([
      'reshardUUID',
      'shardKey',
      'oldShardKey',
      'unique',
      'numInitialChunks',
      'collation',
      'zones',
    ]);
    expect((description.reshardUUID as { toHexString(): string }).toHexString()).toBe(newUuid);
    expect(description).toMatchObject({
      shardKey: { y: 1 },
      oldShardKey: { x: 1 },
      unique: false,
      numInitialChunks: 2,
      collation: { locale: 'simple' },
      zones: [{ zone: 'z1', min: { y: new MinKey() }, max: { y: new MaxKey() } }],
    });
    // Later events carry the new UUID.
    const after = seen.events[2] as Document;
    expect((after.collectionUUID as { toHexString(): string }).toHexString()).toBe(newUuid);

    // A stream without showExpandedEvents sees neither the event nor the moves.
    const plain = await nextEvents(client, 'db', 'r', classic, 2);
    expect(plain.events.map((e) => e.operationType)).toEqual(['update', 'insert']);
    expect(plain.id.isZero()).toBe(false);

    // Resuming after the reshardCollection event (as the jstest does) sees what followed.
    const resumed = await openStream(client, 'db', 'r', {
      showExpandedEvents: true,
      resumeAfter: event._id,
    });
    const rest = await nextEvents(client, 'db', 'r', resumed, 2);
    expect(rest.events.map((e) => e._id)).toEqual(seen.events.slice(1).map((e) => e._id));
  });

  test('the same key is a no-op unless forceRedistribution', async () => {
    const { client } = await cluster();
    const admin = client.db('admin');
    await admin.command({ shardCollection: 'db.f', key: { x: 1 } });
    const uuid = await uuidOf(client, 'db', 'f');
    const id = await openStream(client, 'db', 'f', { showExpandedEvents: true });
    await admin.command({ reshardCollection: 'db.f', key: { x: 1 } });
    expect(await uuidOf(client, 'db', 'f')).toBe(uuid);
    await admin.command({ reshardCollection: 'db.f', key: { x: 1 }, forceRedistribution: true });
    expect(await uuidOf(client, 'db', 'f')).not.toBe(uuid);
    await client.db('db').collection('f').insertOne({ x: 1 });
    const { events } = await nextEvents(client, 'db', 'f', id, 2);
    expect(events.map((e) => e.operationType)).toEqual(['reshardCollection', 'insert']);
    // Without numInitialChunks, collation or zones the description has none of them.
    expect(Object.keys(events[0]?.operationDescription as Document)).toEqual([
      'reshardUUID',
      'shardKey',
      'oldShardKey',
      'unique',
    ]);
    expect(events[0]?.operationDescription).toMatchObject({
      shardKey: { x: 1 },
      oldShardKey: { x: 1 },
    });
  });

  test('an unsharded or missing collection fails with 118; only on admin', async () => {
    const { client } = await cluster();
    await client.db('db').collection('u').insertOne({ x: 1 });
    for (const ns of ['db.u', 'db.missing']) {
      const err = await client
        .db('admin')
        .command({ reshardCollection: ns, key: { x: 1 } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 118,
        message: 'Collection has to be a sharded collection.',
      });
    }
    const wrongDb = await client
      .db('db')
      .command({ reshardCollection: 'db.u', key: { x: 1 } })
      .catch((e: unknown) => e);
    expect(wrongDb).toMatchObject({ code: 13 });
  });
});
