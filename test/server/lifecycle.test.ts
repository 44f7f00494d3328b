// The test server as people start it: `npm run -s test-server -- ...`, spawned for real.
import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { MongoClient, MongoNetworkError } from 'mongodb';
import { startTestServer } from './index.js';
import { WireClient } from './wire-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete ENV.MONGO_TAIL_TEST_SERVER_DEBUG;

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The first stdout line, once printed. */
  firstLine: Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];

/** Starts `cmd args` in its own process group (so cleanup can reach every descendant). */
function start(cmd: string, args: string[]): Running {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: ENV,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', () => reject(new Error(`exited before printing a line; stderr: ${err}`)));
  });
  firstLine.catch(() => undefined);
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, firstLine, exit };
}

const npmServer = (args: string[]): Running =>
  start('npm', ['run', '-s', 'test-server', '--', ...args]);
const nodeServer = (args: string[]): Running =>
  start(process.execPath, ['--import', './test/register.mjs', 'test/server/main.ts', ...args]);

/** stderr without npm's own notices (e.g. its warning about an unknown user config). */
const ownStderr = (r: Running): string[] =>
  r
    .stderr()
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('npm '));

async function ping(uri: string): Promise<number> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    return (await client.db('admin').command({ ping: 1 })).ok as number;
  } finally {
    await client.close();
  }
}

/** Resolves true once nothing accepts connections on `port` (within `ms`). */
async function portClosed(port: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (!open) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const portOf = (uri: string): number => Number(/:(\d+)\//.exec(uri)?.[1]);

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

describe('npm run -s test-server', () => {
  test('prints exactly one line, a working replica-set URI, and stops on SIGTERM', async () => {
    const server = npmServer(['--port', '0']);
    const uri = await server.firstLine;
    expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs0$/);
    expect(await ping(uri)).toBe(1);

    server.child.kill('SIGTERM');
    const { code, signal } = await server.exit;
    expect(server.stdout()).toBe(`${uri}\n`);
    expect(ownStderr(server)).toEqual([]);
    expect(await portClosed(portOf(uri))).toBe(true);
    // npm runs the script through `sh -c`; the script's `exec` hands the signal to the server,
    // so the whole command exits 0 as the issue asks.
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  test('--topology standalone prints a URI without replicaSet', async () => {
    const server = npmServer(['--port', '0', '--topology', 'standalone']);
    const uri = await server.firstLine;
    expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const hello = await client.db('admin').command({ hello: 1 });
      expect(hello.setName).toBeUndefined();
      expect(hello.isWritablePrimary).toBe(true);
    } finally {
      await client.close();
    }
    process.kill(-server.child.pid!, 'SIGTERM');
    await server.exit;
    expect(await portClosed(portOf(uri))).toBe(true);
  });

  test('a bad flag exits 2 with one line on stderr', async () => {
    const server = npmServer(['--bogus']);
    const { code } = await server.exit;
    expect(code).toBe(2);
    expect(server.stdout()).toBe('');
    const lines = ownStderr(server);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^test-server: Unknown option '--bogus' \(usage: test-server /);
  });
});

describe('the server process itself (the command npm runs)', () => {
  test.each([
    [['--port', 'abc'], /^test-server: --port must be an integer from 0 to 65535, got 'abc'/],
    [['--port', '70000'], /^test-server: --port must be an integer/],
    [
      ['--topology', 'bogus'],
      /^test-server: --topology must be replset, replset3, standalone or sharded, got 'bogus'/,
    ],
    [['--oplog-size', '0'], /^test-server: --oplog-size must be a positive integer, got '0'/],
    [['--oplog-size', '1e3'], /^test-server: --oplog-size must be a positive integer, got '1e3'/],
    [['positional'], /^test-server: Unexpected argument 'positional'/],
  ])('bad flags %j exit 2 with one line on stderr', async (args, message) => {
    const server = nodeServer(args);
    expect((await server.exit).code).toBe(2);
    expect(server.stdout()).toBe('');
    const lines = server
      .stderr()
      .split('\n')
      .filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  test.each(['SIGTERM', 'SIGINT'] as const)('%s stops it cleanly with exit code 0', async (sig) => {
    const server = nodeServer(['--port', '0', '--oplog-size', '100']);
    const uri = await server.firstLine;
    expect(await ping(uri)).toBe(1);
    server.child.kill(sig);
    expect(await server.exit).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toBe(`${uri}\n`);
    expect(server.stderr()).toBe('');
  });

  test('--port N listens on that port', async () => {
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const server = nodeServer(['--port', String(free)]);
    expect(await server.firstLine).toBe(`mongodb://127.0.0.1:${free}/?replicaSet=rs0`);
    server.child.kill('SIGTERM');
    expect((await server.exit).code).toBe(0);
  });

  test('a port already in use fails with exit 1 and a message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const server = nodeServer(['--port', String(port)]);
      expect((await server.exit).code).toBe(1);
      expect(server.stdout()).toBe('');
      expect(server.stderr()).toMatch(/^test-server: cannot listen: .*EADDRINUSE/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('startTestServer (in process)', () => {
  test('dropConnections cuts every client socket; the driver reconnects', async () => {
    const server = await startTestServer();
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.state.me).toBe(`127.0.0.1:${server.port}`);
      await client.db('admin').command({ ping: 1 });
      const raw = await WireClient.connect(server.port);
      server.dropConnections();
      await raw.closed;
      expect(raw.isClosed).toBe(true);
      // The pooled connection is gone: one network error at most, then a fresh connection.
      const first = await client
        .db('admin')
        .command({ ping: 1 })
        .then(
          () => 'ok',
          (e: unknown) => e,
        );
      if (first !== 'ok') expect(first).toBeInstanceOf(MongoNetworkError);
      expect((await client.db('admin').command({ ping: 1 })).ok).toBe(1);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('truncateOplog drops history: resuming from before it fails with 286', async () => {
    const server = await startTestServer({ oplogSize: 1000 });
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const coll = client.db('life').collection('trunc');
      const stream = coll.watch();
      await stream.tryNext(); // opens the stream before the write
      await coll.insertOne({ a: 1 });
      const event = await stream.next();
      await stream.close();
      await coll.insertOne({ a: 2 });
      server.truncateOplog();
      expect(server.state.oplog.first?.ts).toEqual(server.state.oplog.lastTimestamp);
      const resumed = coll.watch([], { resumeAfter: event._id });
      await expect(resumed.next()).rejects.toMatchObject({ code: 286 });
      await resumed.close();
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('oplogSize bounds the oplog', async () => {
    const server = await startTestServer({ oplogSize: 3 });
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      const coll = client.db('life').collection('bounded');
      for (let i = 0; i < 6; i++) await coll.insertOne({ i });
      const first = server.state.oplog.first;
      expect(first?.op).toBe('insert');
      expect(first?.fullDocument?.i.valueOf()).toBe(3);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('a TLS handshake is closed at once, as by a mongod without TLS', async () => {
    const server = await startTestServer();
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => undefined);
      // The start of a ClientHello: handshake record, TLS 1.0 record version, a length.
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      await closed;
    } finally {
      await server.stop();
    }
  });

  test('stop closes the listener and can be called twice', async () => {
    const server = await startTestServer({ topology: 'standalone' });
    expect(server.uri).toBe(`mongodb://127.0.0.1:${server.port}/`);
    expect(server.state.setName).toBeUndefined();
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(await portClosed(server.port, 500)).toBe(true);
  });
});
