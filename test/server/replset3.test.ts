// The three-member replica set (`topology: 'replset3'`): each member's hello, step-downs and a
// silent primary seen through the Node driver (retryable writes, change streams), a stepped-down
// member's errors byte for byte, pymongo, and `npm run -s test-server -- --topology replset3`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Document, Double, Int32, Long, type ObjectId, type Timestamp, UUID } from 'bson';
import { type ChangeStreamInsertDocument, MongoClient, MongoServerError } from 'mongodb';
import { type TestServer, startTestServer } from './index.js';
import { WireClient } from './wire-client.js';
import { jest } from '@jest/globals';

jest.setTimeout(30_000);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = '/usr/bin/python3';

let server: TestServer;
const clients: MongoClient[] = [];
const wires: WireClient[] = [];

beforeAll(async () => {
  server = await startTestServer({ topology: 'replset3', electionDelayMs: 100 });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(wires.splice(0).map((w) => w.close()));
});
afterAll(async () => {
  await server.stop();
});

function client(uri = server.uri): MongoClient {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  clients.push(c);
  return c;
}

async function wire(port: number): Promise<WireClient> {
  const w = await WireClient.connect(port, { exact: true });
  wires.push(w);
  return w;
}

const portOfHost = (host: string): number => Number(host.slice(host.lastIndexOf(':') + 1));

/** The primary the driver's topology description shows now, if any. */
function drivenPrimary(c: MongoClient): string | undefined {
  const description = (
    c as unknown as { topology?: { description: { servers: Map<string, { type: string }> } } }
  ).topology?.description;
  for (const [address, sd] of description?.servers ?? []) {
    if (sd.type === 'RSPrimary') return address;
  }
  return undefined;
}

async function until<T>(check: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('three members on three ports', () => {
  test('the URI names all three; each member answers hello with its role', async () => {
    const hosts = server.nodes.map((n) => n.host);
    expect(hosts).toHaveLength(3);
    expect(server.uri).toBe(`mongodb://${hosts.join(',')}/?replicaSet=rs0`);
    const primary = server.primary();
    expect(primary).toBeDefined();
    const replies = await Promise.all(
      server.nodes.map(async (n) => (await wire(n.port)).command({ hello: 1, $db: 'admin' })),
    );
    for (const [i, hello] of replies.entries()) {
      const node = server.nodes[i]!;
      const isPrimary = node.host === primary;
      expect(Object.keys(hello).slice(0, 10)).toEqual([
        'topologyVersion',
        'hosts',
        'setName',
        'setVersion',
        'isWritablePrimary',
        'secondary',
        'primary',
        'me',
        ...(isPrimary ? ['electionId'] : []),
        'lastWrite',
        ...(isPrimary ? [] : ['maxBsonObjectSize']),
      ]);
      expect(hello).toMatchObject({
        hosts,
        setName: 'rs0',
        setVersion: new Int32(1),
        isWritablePrimary: isPrimary,
        secondary: !isPrimary,
        primary,
        me: node.host,
      });
      expect(node.role()).toBe(isPrimary ? 'PRIMARY' : 'SECONDARY');
      if (isPrimary) {
        const term = Number((hello.lastWrite as Document).opTime.t);
        expect((hello.electionId as ObjectId).toHexString()).toBe(
          `7fffffff${term.toString(16).padStart(16, '0')}`,
        );
      } else {
        expect(hello.electionId).toBeUndefined();
      }
    }
    // Each member is its own process to a driver: its own topologyVersion.processId.
    const ids = replies.map((h) => (h.topologyVersion as Document).processId.toHexString());
    expect(new Set(ids).size).toBe(3);
  });

  test('replSetGetStatus lists one PRIMARY and two SECONDARYs, the same term on each member', async () => {
    const statuses = await Promise.all(
      server.nodes.map(async (n) =>
        (await wire(n.port)).command({ replSetGetStatus: 1, $db: 'admin' }),
      ),
    );
    const terms = statuses.map((s) => (s.term as Long).toNumber());
    expect(new Set(terms).size).toBe(1);
    for (const [i, status] of statuses.entries()) {
      const members = status.members as Document[];
      expect(members.map((m) => m.name)).toEqual(server.nodes.map((n) => n.host));
      expect(members.map((m) => m.stateStr).sort()).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
      expect(members.filter((m) => m.self === true).map((m) => m.name)).toEqual([
        server.nodes[i]!.host,
      ]);
      const mine = members.find((m) => m.self === true)!;
      expect(status.myState).toEqual(mine.state);
    }
  });
});

describe('step-down', () => {
  test('the driver sees a new primary with a greater electionId', async () => {
    const c = client();
    await c.connect();
    const elections: { address: string; electionId: ObjectId }[] = [];
    c.on('serverDescriptionChanged', (e) => {
      const sd = e.newDescription;
      if (sd.type === 'RSPrimary' && sd.electionId) {
        elections.push({ address: sd.address, electionId: sd.electionId as ObjectId });
      }
    });
    const before = await until(() => drivenPrimary(c), 5000, 'a primary');
    const oldHello = await c.db('admin').command({ hello: 1 });
    const started = Date.now();
    const { from, to } = await server.stepDown();
    expect(from).toBe(before);
    expect(to).not.toBe(from);
    const seen = await until(
      () => (drivenPrimary(c) === to ? to : undefined),
      8000,
      `the driver to see ${to} as primary`,
    );
    const ms = Date.now() - started;
    console.log(`replset3: step-down ${from} → ${to}, driver saw the new primary in ${ms} ms`);
    // Pushed by the streaming monitors, not found by a 10 s heartbeat.
    expect(ms).toBeLessThan(5000);
    expect(seen).toBe(to);
    const newest = elections.at(-1)!;
    expect(newest.address).toBe(to);
    expect(
      Buffer.compare(
        Buffer.from(newest.electionId.toHexString(), 'hex'),
        Buffer.from((oldHello.electionId as ObjectId).toHexString(), 'hex'),
      ),
    ).toBe(1);
    const hello = await c.db('admin').command({ hello: 1 });
    expect(hello.me).toBe(to);
    expect(hello.isWritablePrimary).toBe(true);
  });

  test('the old primary: topologyVersion moved, writes get 10107, reads need secondaryOk', async () => {
    const w0 = await wire(portOfHost(server.primary()!));
    const before = (await w0.command({ hello: 1, $db: 'admin' })).topologyVersion as Document;
    const { from, to } = await server.stepDown();
    // The step-down closed the old primary's client connections.
    await w0.closed;
    const w = await wire(portOfHost(from));
    const hello = await w.command({ hello: 1, $db: 'admin' });
    expect(hello).toMatchObject({ isWritablePrimary: false, secondary: true, primary: to });
    const after = hello.topologyVersion as Document;
    expect((after.processId as ObjectId).equals(before.processId as ObjectId)).toBe(true);
    expect((after.counter as Long).greaterThan(before.counter as Long)).toBe(true);

    // A plain write: 10107 without labels; a retryable one (lsid + txnNumber) gets the label.
    const plain = await w.command({ insert: 'rs3', documents: [{ _id: 1 }], $db: 'rs3' });
    expect(plain).toMatchObject({
      ok: new Double(0),
      code: new Int32(10107),
      codeName: 'NotWritablePrimary',
      errmsg: 'not primary',
      topologyVersion: after,
    });
    expect(plain.errorLabels).toBeUndefined();
    const retryable = await w.command({
      insert: 'rs3',
      documents: [{ _id: 2 }],
      lsid: { id: new UUID().toBinary() },
      txnNumber: Long.fromNumber(1),
      $db: 'rs3',
    });
    expect(retryable).toMatchObject({
      code: new Int32(10107),
      errorLabels: ['RetryableWriteError'],
    });
    // Reads: 13435 with the primary read preference, served with secondaryOk.
    const read = await w.command({ find: 'rs3', $db: 'rs3' });
    expect(read).toMatchObject({
      ok: new Double(0),
      code: new Int32(13435),
      codeName: 'NotPrimaryNoSecondaryOk',
    });
    const secondaryRead = await w.command({
      find: 'rs3',
      $db: 'rs3',
      $readPreference: { mode: 'secondaryPreferred' },
    });
    expect(secondaryRead.ok).toEqual(new Double(1));
    // replSetStepDown on a secondary: not primary.
    const again = await w.command({ replSetStepDown: 10, $db: 'admin' });
    expect(again).toMatchObject({ code: new Int32(10107) });
  });

  test('a write sent straight to the old primary (directConnection) fails with 10107', async () => {
    const { from } = await server.stepDown();
    const direct = client(`mongodb://${from}/?directConnection=true`);
    const error = await direct
      .db('rs3')
      .collection('direct')
      .insertOne({ x: 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 10107, codeName: 'NotWritablePrimary' });
    expect((error as MongoServerError).hasErrorLabel('RetryableWriteError')).toBe(true);
    // The same member still serves reads over a direct connection (primaryPreferred).
    expect(await direct.db('rs3').collection('direct').countDocuments()).toBe(0);
  });

  test('writes during a step-down all complete once, through retryable writes', async () => {
    const c = client();
    const coll = c.db('rs3').collection<{ _id: number }>('load');
    await coll.insertOne({ _id: 0 });
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let i = 1; !stop || i <= 50; i++) {
        await coll.insertOne({ _id: i });
        written = i;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await until(() => (written >= 10 ? true : undefined), 5000, 'the first writes');
    await server.stepDown();
    const mark = written;
    await until(() => (written >= mark + 20 ? true : undefined), 10_000, 'writes after');
    stop = true;
    await writer;
    const ids = (await coll.find().sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(ids).toEqual(Array.from({ length: written + 1 }, (_, i) => i));
  });

  test('a change stream keeps delivering across a step-down, no gap, no duplicate', async () => {
    const c = client();
    const coll = c.db('rs3').collection<{ _id: number }>('stream');
    // From a known cluster time: no insert can come before the stream is open.
    const { operationTime } = await c.db('admin').command({ ping: 1 });
    const stream = coll.watch<{ _id: number }, ChangeStreamInsertDocument<{ _id: number }>>([], {
      startAtOperationTime: operationTime as Timestamp,
    });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const event of stream) {
        seen.push(event.fullDocument._id);
        if (seen.length === 40) break;
      }
    })();
    for (let i = 0; i < 20; i++) await coll.insertOne({ _id: i });
    await until(() => (seen.length >= 20 ? true : undefined), 8000, 'the first 20 events');
    await server.stepDown();
    for (let i = 20; i < 40; i++) await coll.insertOne({ _id: i });
    await reading;
    await stream.close();
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  test('a one-member set cannot step down without force: 262 after the catch-up period', async () => {
    const single = await startTestServer();
    try {
      const w = await wire(single.port);
      const reply = await w.command({
        replSetStepDown: 1,
        secondaryCatchUpPeriodSecs: 0,
        $db: 'admin',
      });
      expect(reply).toMatchObject({
        ok: new Double(0),
        code: new Int32(262),
        codeName: 'ExceededTimeLimit',
      });
      expect(single.nodes[0]!.role()).toBe('PRIMARY');
    } finally {
      await single.stop();
    }
  });
});

describe('a primary that stops answering', () => {
  test('is replaced after the election timeout; it steps down when it answers again', async () => {
    const own = await startTestServer({
      topology: 'replset3',
      electionDelayMs: 50,
      electionTimeoutMs: 500,
    });
    const c = new MongoClient(own.uri, { serverSelectionTimeoutMS: 10_000 });
    try {
      const coll = c.db('rs3').collection<{ _id: number }>('silent');
      await coll.insertOne({ _id: 1 });
      const old = own.primary()!;
      const node = own.nodes.find((n) => n.host === old)!;
      const hang = node.hang(2000);
      const next = await until(
        () => {
          const p = own.primary();
          return p !== undefined && p !== old ? p : undefined;
        },
        5000,
        'a new primary',
      );
      // The driver finds the new primary while the old one is still silent.
      await coll.insertOne({ _id: 2 });
      expect(drivenPrimary(c)).toBe(next);
      await hang;
      expect(node.role()).toBe('SECONDARY');
      const w = await wire(node.port);
      expect(await w.command({ hello: 1, $db: 'admin' })).toMatchObject({
        secondary: true,
        primary: next,
      });
      expect((await coll.find().toArray()).map((d) => d._id)).toEqual([1, 2]);
    } finally {
      await c.close();
      await own.stop();
    }
  });
});

/** Why pymongo cannot run here, or undefined when it can. */
function pymongoMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import pymongo'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} cannot run: ${probe.error.message}`;
  if (probe.status !== 0) return `pymongo is not importable by ${PYTHON}`;
  return undefined;
}

const PYMONGO_SCRIPT = `
import json, sys
from pymongo import MongoClient
from pymongo.errors import AutoReconnect
c = MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
coll = c.rs3.pymongo
coll.insert_one({"_id": 1})
before = c.primary
try:
    c.admin.command("replSetStepDown", 5, secondaryCatchUpPeriodSecs=1)
except AutoReconnect:
    pass
coll.insert_one({"_id": 2})
print(json.dumps({"before": "%s:%d" % before, "after": "%s:%d" % c.primary,
                  "ids": [d["_id"] for d in coll.find().sort("_id", 1)]}))
`;

test('pymongo follows a replSetStepDown it ran itself', async () => {
  const missing = pymongoMissing();
  if (missing) {
    console.log(`skipping: ${missing}`);
    return;
  }
  const child = spawn(PYTHON, ['-c', PYMONGO_SCRIPT, server.uri], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  expect({ code, err }).toEqual({ code: 0, err: '' });
  const result = JSON.parse(out) as { before: string; after: string; ids: number[] };
  expect(result.after).not.toBe(result.before);
  expect(result.after).toBe(server.primary());
  expect(result.ids).toEqual([1, 2]);
});

describe('npm run -s test-server -- --topology replset3', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGKILL');
    }
  });

  test('prints one line: a three-host URI of a working set', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.MONGO_TAIL_TEST_SERVER_DEBUG;
    child = spawn(
      'npm',
      ['run', '-s', 'test-server', '--', '--topology', 'replset3', '--port', '0'],
      {
        cwd: ROOT,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const firstLine = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child!.once('exit', () => reject(new Error('exited before printing the URI')));
    });
    expect(firstLine).toMatch(
      /^mongodb:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/\?replicaSet=rs0$/,
    );
    const c = client(firstLine);
    const hello = await c.db('admin').command({ hello: 1 });
    expect(hello.hosts).toHaveLength(3);
    expect(await c.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    await c.close();
    const exit = new Promise<number | null>((resolve) => child!.once('close', resolve));
    // npm's script `exec`s the server, which stops cleanly on the signal npm passes on.
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toBe(`${firstLine}\n`);
  });
});
