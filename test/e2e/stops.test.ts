// Stopping when the outside world misbehaves: a stdout nobody reads, a closed stderr, a
// connection that never comes, a DNS name that does not resolve.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { main, type Io } from '../../src/main.js';
import type { StopSignal } from '../../src/tail.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect } from './util.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let client: MongoClient;
let dir: string;

beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-stops-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * A stdout that accepts `accept` writes and then never takes another byte. mongo-tail writes
 * lines in chunks (one write per batch, or per ~64 KB), so `lines` are the accepted chunks'
 * lines.
 */
function stuckStdout(accept: number): Writable & { lines: string[] } {
  const lines: string[] = [];
  let writes = 0;
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      if (writes < accept) {
        writes += 1;
        lines.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((line) => line !== ''),
        );
        done();
      }
      // else: never call back, like a full pipe whose reader went to sleep
    },
  });
  return Object.assign(stream, { lines });
}

test('SIGINT while stdout is blocked: exit 130 quickly, token of the lines stdout took saved', async () => {
  const db = uniqueDbName('stuck');
  const file = join(dir, `${db}.json`);
  const since = await clusterTime(client);
  const coll = client.db(db).collection<{ _id: number }>('c');
  await coll.insertMany([1, 2].map((i) => ({ _id: i })));
  const stdout = stuckStdout(1);
  let deliver: ((signal: StopSignal) => void) | undefined;
  const io: Io = {
    stdout,
    stderr: new PassThrough().resume(),
    env: {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
    onSignal: (handler) => {
      deliver = handler;
      return () => undefined;
    },
  };
  const run = main(['--uri', testUri(), '--since', since, '--token-file', file, `${db}.c`], io);
  const until = Date.now() + 10_000;
  while (stdout.lines.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(stdout.lines).toHaveLength(2);
  // The next batch's lines are now stuck in stdout.
  await coll.insertMany([3, 4].map((i) => ({ _id: i })));
  await new Promise((r) => setTimeout(r, 1500));
  const signalledAt = Date.now();
  deliver?.('SIGINT');
  expect(await run).toBe(130);
  expect(Date.now() - signalledAt).toBeLessThan(5_000);
  // The saved position is the second event: the next run starts with the third.
  const saved = await loadToken(file);
  const second = JSON.parse(stdout.lines[1] ?? '{}') as { _id: { _data: string } };
  expect(saved?._data).toBe(second._id._data);
  expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
  const next = await runCli([
    '--uri',
    testUri(),
    '--token-file',
    file,
    '--until',
    'now',
    `${db}.c`,
  ]);
  expect(
    next.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).documentKey._id),
  ).toEqual([3, 4]);
}, 20_000);

test('a closed stderr does not crash the run: exit 0, token saved, lock released', async () => {
  const db = uniqueDbName('stderr');
  const file = join(dir, `${db}.json`);
  const rcFile = join(dir, `${db}.rc`);
  // stderr goes into a pipe whose reader exits at once; stdout is discarded.
  const script =
    `( node bin/mongo-tail.js --uri '${testUri()}' --filter '{}' --token-file '${file}' ` +
    `--idle-timeout 1s ${db}.c; echo $? > '${rcFile}' ) 2>&1 >/dev/null | true; sleep 3`;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { cwd: ROOT, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  const { readFile } = await import('node:fs/promises');
  expect((await readFile(rcFile, 'utf8')).trim()).toBe('0');
  expect(await loadToken(file)).toBeDefined();
  expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
}, 20_000);

test('a mongodb+srv name that does not resolve: exit 3, password hidden', async () => {
  const result = await runCli([
    '--uri',
    'mongodb+srv://bob:s3cret@nonexistent.invalid/',
    '--connect-timeout',
    '2s',
    'a.b',
  ]);
  expect(result.code).toBe(3);
  expect(result.stderr).toMatch(/^mongo-tail: cannot connect to mongodb\+srv:\/\/bob:\*\*\*\*@/);
  expect(result.stderr).not.toContain('s3cret');
}, 20_000);

test('SIGINT while connecting: exit 130 at once, not after --connect-timeout', async () => {
  // A server that accepts and never answers: server selection keeps trying. (A closed port
  // is refused, and a refusal ends the connect at once with exit 3.)
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as AddressInfo;
  const stderr = new PassThrough().resume();
  let deliver: ((signal: StopSignal) => void) | undefined;
  const uri = `mongodb://127.0.0.1:${port}/`;
  const run = main(['--uri', uri, '--connect-timeout', '20s', 'a.b'], {
    stdout: new PassThrough().resume(),
    stderr,
    env: {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
    onSignal: (handler) => {
      deliver = handler;
      return () => undefined;
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  const signalledAt = Date.now();
  deliver?.('SIGINT');
  try {
    expect(await run).toBe(130);
    expect(Date.now() - signalledAt).toBeLessThan(5_000);
  } finally {
    silent.close();
    for (const socket of sockets) socket.destroy();
  }
}, 30_000);
