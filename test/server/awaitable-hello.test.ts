// topologyVersion, the awaitable hello and its exhaust stream (awaitable-hello.ts), byte-level
// and through the Node driver's streaming monitor.
import { type Document, Long, ObjectId } from 'bson';
import { MongoClient, type ServerHeartbeatSucceededEvent } from 'mongodb';
import { type TestServer, startTestServer } from './index.js';
import { topologyOf } from './topology.js';
import { WireClient } from './wire-client.js';
import { EXHAUST_ALLOWED, MORE_TO_COME, OP_MSG, type OpMsg } from './wire.js';

let server: TestServer;
const wires: WireClient[] = [];

beforeAll(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await Promise.all(wires.splice(0).map((w) => w.close()));
});
afterAll(async () => {
  await server.stop();
});

async function wire(): Promise<WireClient> {
  const w = await WireClient.connect(server.port, { exact: true });
  wires.push(w);
  return w;
}

async function nextMsg(w: WireClient, timeoutMs = 2000): Promise<OpMsg> {
  const msg = await w.next(timeoutMs);
  if (!msg || msg.opCode !== OP_MSG) throw new Error('no OP_MSG reply');
  return msg;
}

async function currentVersion(w: WireClient): Promise<Document> {
  return (await w.command({ hello: 1, $db: 'admin' })).topologyVersion as Document;
}

describe('topologyVersion', () => {
  test('every hello and isMaster carries {processId: ObjectId, counter: Long}, stable', async () => {
    const [a, b] = [await wire(), await wire()];
    const hello = await a.command({ hello: 1, $db: 'admin' });
    const isMaster = await b.command({ isMaster: 1, $db: 'admin' });
    expect(Object.keys(hello)[0]).toBe('topologyVersion');
    expect(hello.topologyVersion.processId).toBeInstanceOf(ObjectId);
    expect(hello.topologyVersion.counter).toBeInstanceOf(Long);
    expect(isMaster.topologyVersion).toEqual(hello.topologyVersion);
    expect(await currentVersion(a)).toEqual(hello.topologyVersion);
  });

  test('another server has another processId', async () => {
    const other = await startTestServer({ topology: 'standalone' });
    try {
      const w = await WireClient.connect(other.port, { exact: true });
      const tv = await currentVersion(w);
      await w.close();
      expect(tv.processId).not.toEqual(topologyOf(server.state).processId);
    } finally {
      await other.stop();
    }
  });
});

test('NotPrimary errors carry topologyVersion, other errors do not', async () => {
  const w = await wire();
  const topologyVersion = await currentVersion(w);
  for (const errorCode of [10107, 91]) {
    await w.command({
      configureFailPoint: 'failCommand',
      mode: { times: 1 },
      data: { failCommands: ['ping'], errorCode },
      $db: 'admin',
    });
    const reply = await w.command({ ping: 1, $db: 'admin' });
    expect(Number(reply.code)).toBe(errorCode);
    if (errorCode === 10107) expect(reply.topologyVersion).toEqual(topologyVersion);
    else expect(reply).not.toHaveProperty('topologyVersion');
  }
});

describe('awaitable hello', () => {
  test('with the current version it waits maxAwaitTimeMS, then answers', async () => {
    const w = await wire();
    const topologyVersion = await currentVersion(w);
    const started = Date.now();
    const reply = await w.command({ hello: 1, topologyVersion, maxAwaitTimeMS: 300, $db: 'admin' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Number(reply.ok)).toBe(1);
    expect(reply.topologyVersion).toEqual(topologyVersion);
  });

  test('another processId or an older counter is answered at once; a newer one fails', async () => {
    const w = await wire();
    const before = await currentVersion(w);
    topologyOf(server.state).changed();
    const { processId, counter } = await currentVersion(w);
    for (const topologyVersion of [{ processId: new ObjectId(), counter }, before]) {
      const started = Date.now();
      await w.command({ hello: 1, topologyVersion, maxAwaitTimeMS: 5000, $db: 'admin' });
      expect(Date.now() - started).toBeLessThan(1000);
    }
    const newer = await w.command({
      hello: 1,
      topologyVersion: { processId, counter: counter.add(1) },
      maxAwaitTimeMS: 0,
      $db: 'admin',
    });
    expect(Number(newer.code)).toBe(31382);
  });

  test('malformed requests fail with mongod’s codes', async () => {
    const w = await wire();
    const topologyVersion = await currentVersion(w);
    const code = async (body: Document): Promise<unknown> =>
      Number((await w.command({ ...body, $db: 'admin' })).code);
    expect(await code({ hello: 1, topologyVersion })).toBe(31368);
    expect(await code({ hello: 1, maxAwaitTimeMS: 0 })).toBe(31368);
    expect(await code({ hello: 1, topologyVersion, maxAwaitTimeMS: -1 })).toBe(31373);
    expect(await code({ hello: 1, topologyVersion, maxAwaitTimeMS: 'x' })).toBe(14);
    expect(await code({ hello: 1, topologyVersion: 'x', maxAwaitTimeMS: 0 })).toBe(10065);
    expect(
      await code({ hello: 1, topologyVersion: { ...topologyVersion, x: 1 }, maxAwaitTimeMS: 0 }),
    ).toBe(40415);
  });

  test('exhaustAllowed: moreToCome replies every maxAwaitTimeMS, each answering the last', async () => {
    const w = await wire();
    const topologyVersion = await currentVersion(w);
    const requestID = w.sendMsg(
      { hello: 1, topologyVersion, maxAwaitTimeMS: 250, $db: 'admin' },
      EXHAUST_ALLOWED,
    );
    const started = Date.now();
    let responseTo = requestID;
    for (let i = 1; i <= 3; i++) {
      const reply = await nextMsg(w);
      expect(Date.now() - started).toBeGreaterThanOrEqual(i * 250 - 10);
      expect(reply.flagBits & MORE_TO_COME).toBe(MORE_TO_COME);
      expect(reply.header.responseTo).toBe(responseTo);
      expect(reply.body.topologyVersion).toEqual(topologyVersion);
      responseTo = reply.header.requestID;
    }
  });

  test('a topology change answers the stream at once, with the new counter', async () => {
    const w = await wire();
    const topologyVersion = await currentVersion(w);
    w.sendMsg({ hello: 1, topologyVersion, maxAwaitTimeMS: 10_000, $db: 'admin' }, EXHAUST_ALLOWED);
    expect(await w.next(200)).toBeUndefined();
    const started = Date.now();
    topologyOf(server.state).changed();
    const reply = await nextMsg(w);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(reply.flagBits & MORE_TO_COME).toBe(MORE_TO_COME);
    expect(reply.body.topologyVersion.counter).toEqual(topologyVersion.counter.add(1));
    expect(reply.body.topologyVersion.processId).toEqual(topologyVersion.processId);
  });

  test('an error ends the stream: no moreToCome', async () => {
    const w = await wire();
    const topologyVersion = await currentVersion(w);
    w.sendMsg({ hello: 1, topologyVersion, maxAwaitTimeMS: -1, $db: 'admin' }, EXHAUST_ALLOWED);
    const reply = await nextMsg(w);
    expect(Number(reply.body.code)).toBe(31373);
    expect(reply.flagBits & MORE_TO_COME).toBe(0);
    expect(await w.next(300)).toBeUndefined();
  });
});

test('dropConnections cuts a monitor’s stream too, a moment after the other sockets', async () => {
  const [monitor, app] = [await wire(), await wire()];
  const topologyVersion = await currentVersion(monitor);
  monitor.sendMsg(
    { hello: 1, topologyVersion, maxAwaitTimeMS: 10_000, $db: 'admin' },
    EXHAUST_ALLOWED,
  );
  await app.command({ ping: 1, $db: 'admin' }); // the exhaust hello has arrived by now
  server.dropConnections();
  await app.closed;
  expect(monitor.isClosed).toBe(false);
  await monitor.closed;
});

describe('the Node driver’s streaming monitor', () => {
  test('connects, runs a change stream, and closes promptly', async () => {
    const client = new MongoClient(server.uri, {
      serverMonitoringMode: 'stream',
      heartbeatFrequencyMS: 500,
    });
    const awaited: boolean[] = [];
    client.on('serverHeartbeatSucceeded', (e: ServerHeartbeatSucceededEvent) =>
      awaited.push(e.awaited),
    );
    try {
      const coll = client.db('awaitable').collection('c');
      const stream = coll.watch();
      await stream.tryNext(); // the aggregate has run: later writes are in the stream
      await coll.insertOne({ x: 1 });
      const change = await stream.next();
      expect(change).toMatchObject({ operationType: 'insert', fullDocument: { x: 1 } });
      // Streamed heartbeats arrive every heartbeatFrequencyMS without further requests.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(awaited.filter(Boolean).length).toBeGreaterThanOrEqual(2);
      await stream.close();
    } finally {
      const started = Date.now();
      await client.close();
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  test('server stop() with streaming monitors attached finishes promptly', async () => {
    const other = await startTestServer();
    const clients = [1, 2].map(
      () =>
        new MongoClient(other.uri, {
          serverMonitoringMode: 'stream',
          heartbeatFrequencyMS: 10_000,
          serverSelectionTimeoutMS: 2000,
        }),
    );
    try {
      for (const c of clients) await c.db('admin').command({ ping: 1 });
      // Let the monitors move from their handshake to the awaited hello.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      await other.stop();
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
