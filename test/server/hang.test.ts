// A server that stops answering: `server.hang(ms)` in process, SIGSTOP/SIGCONT on a child
// process (its pid from `--print-pid`). Clients time out during the hang and recover after it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { type TestServer, startTestServer } from './index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The error `p` rejects with, or undefined if it fulfils. */
const failureOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('server.hang(ms)', () => {
  let server: TestServer;
  let client: MongoClient | undefined;

  beforeEach(async () => {
    server = await startTestServer();
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await server.stop();
  });

  // socketTimeoutMS, not timeoutMS: mongodb 7.9 makes timeoutMS a no-op (its
  // `TimeoutContext.create` never builds a CSOT context).
  test('an operation fails with a socket timeout during the hang and succeeds after it', async () => {
    // retryReads off: a retry would open a new connection, whose handshake waits out the hang
    // (connectTimeoutMS, not socketTimeoutMS, bounds it) and then succeeds.
    client = new MongoClient(server.uri, {
      serverSelectionTimeoutMS: 5000,
      socketTimeoutMS: 300,
      retryReads: false,
    });
    const coll = client.db('hang').collection<{ _id: number }>('items');
    await coll.insertOne({ _id: 1 });

    const resumed = server.hang(1500);
    const started = Date.now();
    const err = await failureOf(coll.findOne({ _id: 1 }));
    expect((err as Error).name).toBe('MongoNetworkTimeoutError');
    expect(Date.now() - started).toBeLessThan(1400);

    await resumed;
    expect(await coll.findOne({ _id: 1 })).toEqual({ _id: 1 });
  });

  test('a request sent during the hang is answered when it ends, in order', async () => {
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    const coll = client.db('hang').collection<{ _id: number }>('queued');
    await coll.insertOne({ _id: 0 });
    void server.hang(500);
    const started = Date.now();
    await coll.insertOne({ _id: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(await coll.countDocuments()).toBe(2);
  });

  test('hang(0) resumes at once, and stop() ends a hang', async () => {
    void server.hang(60_000);
    expect(await Promise.race([server.hang(0).then(() => 'resumed'), sleep(1000)])).toBe('resumed');
    const pending = server.hang(60_000);
    await server.stop();
    await pending;
  });

  test('pid is this process', () => {
    expect(server.pid).toBe(process.pid);
  });
});

describe('a child-process server under SIGSTOP', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    }
  });

  test('--print-pid names the process; stopped it times clients out, continued it answers', async () => {
    child = spawn(
      process.execPath,
      ['--import', './test/register.mjs', 'test/server/main.ts', '--port', '0', '--print-pid'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let errText = '';
    const uri = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child!.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
      child!.once('exit', () => reject(new Error(`exited early: ${errText}`)));
    });
    expect(errText).toBe(`test-server: pid ${child.pid}\n`);
    const pid = Number(/pid (\d+)/.exec(errText)![1]);

    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, socketTimeoutMS: 300 });
    try {
      await client.db('admin').command({ ping: 1 });
      process.kill(pid, 'SIGSTOP');
      const err = await failureOf(client.db('admin').command({ ping: 1 }));
      expect((err as Error).name).toBe('MongoNetworkTimeoutError');
      process.kill(pid, 'SIGCONT');
      expect((await client.db('admin').command({ ping: 1 })).ok).toBe(1);
    } finally {
      await client.close();
    }
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }, 20_000);
});

function sleep(ms: number): Promise<string> {
  return new Promise((resolve) => setTimeout(() => resolve('slept'), ms));
}
