// `local.oplog.rs` through the real driver: the oplog as the documents a replica-set member
// holds there, oldest first, so tools can find the oldest time still held (how
// `rs.printReplicationInfo()` finds "oplog first event time").
import type { Document, Timestamp } from 'bson';
import { MongoClient } from 'mongodb';
import { compareTimestamps } from './oplog.js';
import { startTestServer, type TestServer } from './index.js';

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

const oplogRs = () => client.db('local').collection('oplog.rs');

test('a new set starts with the "initiating set" no-op, fields in a real entry’s order', async () => {
  const [first] = await oplogRs().find().sort({ $natural: 1 }).limit(1).toArray();
  const held = server.state.oplog.first;
  expect(first).toBeDefined();
  expect(Object.keys(first as Document)).toEqual(['op', 'ns', 'o', 'ts', 't', 'v', 'wall']);
  expect(first).toMatchObject({ op: 'n', ns: '', o: { msg: 'initiating set' } });
  expect((first?.ts as Timestamp).equals(held?.ts as Timestamp)).toBe(true);
  expect(first?.wall).toEqual(held?.wall);
  expect(first?.t).toBe(1);
  expect(first?.v).toBe(2);
});

test('$natural order, both ways, and the oldest entry after a truncation', async () => {
  const coll = client.db('oplog_coll').collection<{ _id: number; a?: string }>('c');
  await coll.insertOne({ _id: 1, a: 'x' });
  await coll.updateOne({ _id: 1 }, { $set: { a: 'y' } });
  await coll.deleteOne({ _id: 1 });
  const all = await oplogRs().find({}, { batchSize: 2 }).toArray(); // several getMores
  const times = all.map((d) => d.ts as Timestamp);
  for (let i = 1; i < times.length; i++) {
    expect(compareTimestamps(times[i - 1] as Timestamp, times[i] as Timestamp)).toBe(-1);
  }
  const writes = all.filter((d) => d.ns === 'oplog_coll.c');
  expect(writes.map((d) => d.op)).toEqual(['i', 'u', 'd']);
  const [insert, update, remove] = writes as Document[] as [Document, Document, Document];
  expect(Object.keys(insert)).toEqual(
    expect.arrayContaining(['op', 'ns', 'ui', 'o', 'o2', 'ts', 't', 'v', 'wall']),
  );
  // The collection's UUID (a Binary of subtype 4; the driver's bson build, not ours).
  expect(insert.ui).toMatchObject({ _bsontype: 'Binary', sub_type: 4 });
  expect(insert.o).toEqual({ _id: 1, a: 'x' });
  expect(insert.o2).toEqual({ _id: 1 });
  expect(update.o).toEqual({ $v: 2, diff: { u: { a: 'y' } } });
  expect(remove.o).toEqual({ _id: 1 });

  const [newest] = await oplogRs().find().sort({ $natural: -1 }).limit(1).toArray();
  expect((newest?.ts as Timestamp).equals(server.state.oplog.lastTimestamp)).toBe(true);

  await coll.insertOne({ _id: 2 });
  server.truncateOplog();
  const held = server.state.oplog.first;
  // What mongo-tail asks after a 286: the oldest entry's ts and wall only.
  const reply = await client.db('local').command({
    find: 'oplog.rs',
    sort: { $natural: 1 },
    projection: { _id: 0, ts: 1, wall: 1 },
    limit: 1,
    singleBatch: true,
  });
  const [oldest] = (reply.cursor as { firstBatch: Document[] }).firstBatch;
  expect(Object.keys(oldest as Document)).toEqual(['ts', 'wall']);
  expect((oldest?.ts as Timestamp).equals(held?.ts as Timestamp)).toBe(true);
  expect(oldest?.wall).toEqual(held?.wall);
});

test('filters and field sorts work as on any collection', async () => {
  const coll = client.db('oplog_filter').collection<{ _id: number }>('c');
  await coll.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }], { ordered: true });
  await coll.insertOne({ _id: 4 });
  await coll.insertOne({ _id: 5 });
  const inserts = await oplogRs()
    .find({ op: 'i', ns: 'oplog_filter.c' }, { projection: { _id: 0, o: 1 } })
    .sort({ ts: -1 })
    .toArray();
  expect(inserts).toEqual([{ o: { _id: 5 } }, { o: { _id: 4 } }]);
  // insertMany is one applyOps entry, as on 8.0 (its inner operations carry no ts).
  const [batch] = await oplogRs().find({ 'o.applyOps.ns': 'oplog_filter.c' }).toArray();
  expect(batch?.op).toBe('c');
  expect(batch?.ns).toBe('admin.$cmd');
  expect(typeof batch?.txnNumber).toBe('number'); // an Int64, promoted by the driver
  const inner = (batch?.o as { applyOps: Document[] }).applyOps;
  expect(inner.map((op) => [op.op, op.o])).toEqual([
    ['i', { _id: 1 }],
    ['i', { _id: 2 }],
    ['i', { _id: 3 }],
  ]);
  expect(inner[0]?.ts).toBeUndefined();
});

test('a standalone has no oplog: local.oplog.rs is empty', async () => {
  const standalone = await startTestServer({ topology: 'standalone' });
  const direct = new MongoClient(standalone.uri);
  try {
    await direct.db('x').collection<{ _id: number }>('c').insertOne({ _id: 1 });
    expect(await direct.db('local').collection('oplog.rs').find().toArray()).toEqual([]);
  } finally {
    await direct.close();
    await standalone.stop();
  }
});
