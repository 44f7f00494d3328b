// End to end: a server that stops answering (hung, SIGSTOPped) or drops its connections while
// getMores wait. Each run ends with every event once, in order, or with exit 3 after --retry-for;
// never with a silent wait, and never with exit 0 "idle" while the server did not answer.
// These need a server that can be made to hang: each test starts a private test server.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Collection, MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { startTestServer, type TestServer } from '../server/index.js';
import { runCli, startCli } from './harness.js';
import { clusterTime, connect, events, type AnyDoc, SUMMARY_ONLY } from './util.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Short waits and a 1 s answer margin: a getMore (1 s server await) counts as unanswered
// after 2 s instead of 11 s.
const FAST = { baseDelayMs: 20, maxDelayMs: 200, answerMarginMs: 1000 };
const NOTE =
  /^mongo-tail: change stream interrupted \(the server did not answer a getMore within \d+\.\ds\); re-opening from the last position in \d+ms \(failing for \d+\.\ds, giving up after [^)]+\)$/m;

let dir: string;
let server: TestServer | undefined;
let writer: MongoClient | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-hung-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await writer?.close();
  writer = undefined;
  await server?.stop();
  server = undefined;
});

const ids = (stdout: string): unknown[] => events(stdout).map((e) => e.documentKey?._id);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, k) => from + k);

/** Inserts _id from..to one by one; a write that failed on a dropped connection is tried again. */
async function insertRange(coll: Collection<AnyDoc>, from: number, to: number): Promise<void> {
  for (let id = from; id <= to; id += 1) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await coll.insertOne({ _id: id });
        break;
      } catch (error) {
        // Written before the connection went: the document is there, the event too.
        if ((error as { code?: unknown }).code === 11000) break;
        if (attempt >= 5) throw error;
      }
    }
  }
}

async function privateServer(): Promise<{ uri: string; coll: Collection<AnyDoc> }> {
  server = await startTestServer();
  writer = await connect(server.uri);
  return { uri: server.uri, coll: writer.db('hung').collection<AnyDoc>('c') };
}

test('a hang longer than the deadline: a note, a re-open, every event in order, exit 0 only when idle', async () => {
  const { uri, coll } = await privateServer();
  const since = await clusterTime(writer!);
  await insertRange(coll, 1, 50);
  const run = startCli(
    [
      '--uri',
      uri,
      '--since',
      since,
      '-f',
      'json',
      '--idle-timeout',
      '2s',
      '--connect-timeout',
      '2s',
      'hung.c',
    ],
    { retry: FAST },
  );
  await run.waitForLines(50);
  let finished = false;
  void run.done.then(() => (finished = true));
  const hangAt = Date.now();
  const hung = server!.hang(5000);
  // Writes sent during the hang wait in the server and land after it.
  const writing = insertRange(coll, 51, 100);
  await run.waitForStderr('did not answer', 8000);
  const noteAfter = Date.now() - hangAt;
  await hung;
  const hangEnd = Date.now();
  // The 5 s hang was longer than --idle-timeout 2s: not idle time.
  expect(finished).toBe(false);
  await writing;
  await run.waitForLines(100, 20_000);
  const lastAt = Date.now();
  const result = await run.done;
  const doneAt = Date.now();
  if (process.env.MONGO_TAIL_TEST_TIMINGS) {
    console.log(
      `hang: note after ${noteAfter} ms, all events ${lastAt - hangEnd} ms after the hang, ` +
        `exit ${doneAt - lastAt} ms after the last event`,
    );
  }
  expect(result.code).toBe(0);
  expect(ids(result.stdout)).toEqual(range(1, 100));
  expect(result.stderr).toMatch(NOTE);
}, 40_000);

test('a hang longer than --retry-for: exit 3 with the last position kept, never exit 0', async () => {
  const { uri, coll } = await privateServer();
  const since = await clusterTime(writer!);
  const file = join(dir, 'retry-for.json');
  await insertRange(coll, 1, 20);
  const base = ['--uri', uri, '--token-file', file, '--connect-timeout', '1s', 'hung.c'];
  const run = startCli([...base, '--since', since, '--idle-timeout', '1s', '--retry-for', '3s'], {
    retry: { ...FAST, answerMarginMs: 500 },
  });
  await run.waitForLines(20);
  const hung = server!.hang(60_000);
  const started = Date.now();
  const result = await run.done;
  const took = Date.now() - started;
  if (process.env.MONGO_TAIL_TEST_TIMINGS) console.log(`retry-for 3s: exit 3 after ${took} ms`);
  void server!.hang(0);
  await hung;

  expect(result.code).toBe(3);
  expect(ids(result.stdout)).toEqual(range(1, 20));
  expect(result.stderr).toMatch(NOTE);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines.at(-2)).toMatch(
    /^mongo-tail: lost the change stream from .* and could not re-open it within --retry-for 3s \(\d+ tries? in \d+\.\ds\): /,
  );
  // The token file holds the last printed event (or a later position of the same stream).
  const saved = await loadToken(file);
  const lastPrinted = String(events(result.stdout).at(-1)?._id._data);
  expect(saved !== undefined && saved._data >= lastPrinted).toBe(true);

  // The server answers again: the next run continues from there, nothing lost or repeated.
  await insertRange(coll, 21, 25);
  const next = await runCli([...base, '--until', 'now']);
  expect(next).toMatchObject({ code: 0, stderr: expect.stringMatching(SUMMARY_ONLY) });
  expect(ids(next.stdout)).toEqual(range(21, 25));
}, 40_000);

test('a SIGSTOPped server for 6 s during writes: every event in order once it continues', async () => {
  let child: ChildProcess | undefined;
  try {
    child = spawn(
      process.execPath,
      ['--import', './test/register.mjs', 'test/server/main.ts', '--port', '0', '--print-pid'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const started = child;
    const uri = await new Promise<string>((resolve, reject) => {
      let out = '';
      started.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
      });
      started.once('exit', () => reject(new Error('the test server exited early')));
    });
    writer = await connect(uri);
    const coll = writer.db('hung').collection<AnyDoc>('c');
    const since = await clusterTime(writer);
    const run = startCli(
      [
        '--uri',
        uri,
        '--since',
        since,
        '-f',
        'json',
        '--idle-timeout',
        '2s',
        '--connect-timeout',
        '2s',
        'hung.c',
      ],
      { retry: FAST },
    );
    const writing = insertRange(coll, 1, 300);
    await run.waitForLines(50, 15_000);
    started.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await run.waitForStderr('did not answer', 8000);
    const noteAfter = Date.now() - stoppedAt;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, 6000 - (Date.now() - stoppedAt))),
    );
    started.kill('SIGCONT');
    const continuedAt = Date.now();
    await writing;
    await run.waitForLines(300, 20_000);
    const recovered = Date.now() - continuedAt;
    const result = await run.done;
    if (process.env.MONGO_TAIL_TEST_TIMINGS) {
      console.log(
        `SIGSTOP 6 s: note after ${noteAfter} ms, all events ${recovered} ms after SIGCONT`,
      );
    }
    expect(result.code).toBe(0);
    expect(ids(result.stdout)).toEqual(range(1, 300));
    expect(result.stderr).toMatch(NOTE);
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited;
    }
  }
}, 50_000);

test('connections dropped while getMores wait, again and again during writes: every event once, in order', async () => {
  const { uri, coll } = await privateServer();
  const since = await clusterTime(writer!);
  const run = startCli(
    ['--uri', uri, '--since', since, '-f', 'json', '--idle-timeout', '2s', 'hung.c'],
    { retry: FAST },
  );
  const writing = insertRange(coll, 1, 200);
  await run.waitForLines(20);
  for (let drop = 0; drop < 5; drop += 1) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    server!.dropConnections();
  }
  await writing;
  const result = await run.done;
  expect(result.code).toBe(0);
  expect(ids(result.stdout)).toEqual(range(1, 200));
  // The driver words a dropped connection as "connection N to … closed" or "read ECONNRESET".
  expect(result.stderr).toMatch(/^mongo-tail: change stream interrupted \(/m);
}, 40_000);
