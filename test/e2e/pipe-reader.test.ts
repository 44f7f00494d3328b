// A reader that leaves never costs an event: spawned runs of the bin into real pipes. The
// token may only cover lines a reader has certainly read; a pipe's unread bytes are bounded by
// its capacity (pipe-max-size), so after EPIPE or a signal the saved position stays that far
// behind what stdout accepted. A clean stop with the reader still there saves everything; a
// file lags nothing. (Before: `| head -n 3` runs skipped up to 98 events on the next run.)
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Collection, MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { pipeBound } from '../../src/readahead.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { clusterTime, connect, eventually, type AnyDoc } from './util.js';
import { BIN, ENV, ROOT, ensureBuilt } from './bin.js';

/** The backlog: ~600-byte lines, about three times what a pipe may hold unread (1 MiB). */
const BACKLOG = 5000;
const PAD = 'x'.repeat(20);

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finished(child: ReturnType<typeof spawn>): Promise<Finished> & { stdout: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return Object.assign(done, { stdout: () => stdout });
}

/** The shell text of one mongo-tail run (JSON lines, quiet). */
function tailCommand(args: string[]): string {
  const quoted = args.map((arg) => `"${arg}"`).join(' ');
  return `"${process.execPath}" "${BIN}" --uri "${testUri()}" -q -f json ${quoted}`;
}

/** The `documentKey._id` of each line. */
function ids(stdout: string): number[] {
  return lines(stdout).map(
    (line) => (JSON.parse(line) as { documentKey: { _id: number } }).documentKey._id,
  );
}

function lines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line !== '');
}

let client: MongoClient;
let dir: string;
let db: string;
let coll: Collection<AnyDoc>;
let since: string;
/** The next `_id` to insert (the backlog, then whatever the tests add). */
let nextId = 0;

beforeAll(async () => {
  ensureBuilt();
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-pipe-'));
  db = uniqueDbName('pipe');
  coll = client.db(db).collection<AnyDoc>('c');
  since = await clusterTime(client);
  for (; nextId < BACKLOG; nextId += 1000) {
    await coll.insertMany(Array.from({ length: 1000 }, (_, k) => ({ _id: nextId + k, pad: PAD })));
  }
}, 120_000);
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * `mongo-tail … | <reader>` in sh; returns what the reader printed and mongo-tail's exit code
 * and stderr. While it runs, one event is inserted every 100 ms, so a mongo-tail whose reader
 * left always has one more line to write (and learns of EPIPE) however far it got.
 */
async function piped(args: string[], reader: string) {
  const name = join(dir, `run-${Math.random().toString(36).slice(2)}`);
  const script = `{ ${tailCommand(args)} 2>"${name}.err"; echo $? > "${name}.code"; } | ${reader}`;
  const run = finished(spawn('sh', ['-c', script], { env: ENV, cwd: ROOT }));
  let done = false;
  const nudger = (async () => {
    while (!done) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (!done) await coll.insertOne({ _id: nextId++, pad: PAD });
    }
  })();
  const result = await run;
  done = true;
  await nudger;
  return {
    printed: result.stdout,
    code: Number((await readFile(`${name}.code`, 'utf8')).trim()),
    stderr: await readFile(`${name}.err`, 'utf8'),
  };
}

/** A run to the end (stdout read by the test), starting from the token file. */
async function rest(file: string): Promise<number[]> {
  const result = await finished(
    spawn('sh', ['-c', tailCommand(['--token-file', file, '--until', 'now', `${db}.c`])], {
      env: ENV,
      cwd: ROOT,
    }),
  );
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  return ids(result.stdout);
}

test('| head -n 3 ten times, then more: every event, in order, no gap', async () => {
  const file = join(dir, 'head.json');
  const runs: number[][] = [];
  const readers = [
    ...Array<string>(10).fill('head -n 3'),
    ...Array<string>(3).fill('head -n 2500'),
  ];
  for (const reader of readers) {
    const run = await piped(['--since', since, '--token-file', file, `${db}.c`], reader);
    // EPIPE is a quiet, successful stop.
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    runs.push(ids(run.printed));
  }
  runs.push(await rest(file));

  // Each run is in order, and starts no later than right after what earlier runs printed.
  const problems: string[] = [];
  let covered = -1;
  let printed = 0;
  runs.forEach((run, index) => {
    if (run.length === 0) return;
    if ((run[0] as number) > covered + 1) {
      problems.push(`run ${index} starts at ${run[0]}, after ${covered} (a gap)`);
    }
    run.forEach((id, k) => {
      if (k > 0 && id !== (run[k - 1] as number) + 1)
        problems.push(`run ${index}: ${id} out of order`);
    });
    covered = Math.max(covered, run.at(-1) as number);
    printed += run.length;
  });
  expect(problems).toEqual([]);
  expect(covered).toBe(nextId - 1);
  console.log(
    `pipe-reader: ${readers.length} piped runs + 1 to the end printed ${printed} lines for ` +
      `${nextId} events: ${printed - nextId} duplicates; runs started at ` +
      runs.map((run) => run[0]).join(','),
  );
}, 60_000);

test('a clean -n 100 into a pipe saves the whole position: the next run starts at 101', async () => {
  const file = join(dir, 'limit.json');
  const first = await piped(
    ['--since', since, '--token-file', file, '-n', '100', `${db}.c`],
    'cat',
  );
  expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
  expect(ids(first.printed)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  const next = await piped(['--token-file', file, '-n', '1', `${db}.c`], 'cat');
  expect(ids(next.printed)).toEqual([100]);
}, 30_000);

/** Starts `exec mongo-tail … > target` (its pid is the child's), stdout a FIFO or a file. */
function redirected(args: string[], target: string) {
  const child = spawn('sh', ['-c', `exec ${tailCommand(args)} > "${target}"`], {
    env: ENV,
    cwd: ROOT,
  });
  return { child, run: finished(child) };
}

/** The index of the event whose resume token `file` holds (-1: none saved). */
async function savedIndex(file: string, printed: string[]): Promise<number> {
  const saved = await loadToken(file);
  if (saved === undefined) return -1;
  const index = printed.findIndex(
    (line) => (JSON.parse(line) as { _id: { _data: string } })._id._data === saved._data,
  );
  // Not an event's token: a later position (an idle stream's high-water mark), past them all.
  return index === -1 ? printed.length : index;
}

test('SIGINT into a pipe: the saved position stays a pipe capacity behind, no gap', async () => {
  const file = join(dir, 'sigint.json');
  const fifo = join(dir, 'out.fifo');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const { child, run } = redirected(['--since', since, '--token-file', file, `${db}.c`], fifo);
  // The test is the reader, and reads everything.
  let text = '';
  createReadStream(fifo).on('data', (d: Buffer | string) => (text += d.toString()));
  const total = nextId;
  await eventually(() => lines(text).length >= total, 20_000, 'every event read');
  child.kill('SIGINT');
  expect(await run).toMatchObject({ code: 130, stderr: '' });

  const printed = lines(text);
  const index = await savedIndex(file, printed);
  const lag = printed.slice(index + 1).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  const bound = pipeBound();
  // At least the pipe's capacity behind; at most that, the merge spacing and a 64 KiB chunk.
  expect(lag).toBeGreaterThanOrEqual(bound);
  expect(lag).toBeLessThanOrEqual(bound + bound / 16 + 2 * 64 * 1024);
  // The next run picks up right after the saved event.
  const savedId = index === -1 ? -1 : (ids(printed[index] ?? '')[0] as number);
  const next = await piped(['--since', since, '--token-file', file, '-n', '1', `${db}.c`], 'cat');
  expect(ids(next.printed)).toEqual([savedId + 1]);
}, 40_000);

test('SIGINT into a file: no lag, the token covers every line written', async () => {
  const file = join(dir, 'file.json');
  const out = join(dir, 'out.json');
  const { child, run } = redirected(['--since', since, '--token-file', file, `${db}.c`], out);
  const total = nextId;
  await eventually(
    async () => existsSync(out) && lines(await readFile(out, 'utf8')).length >= total,
    20_000,
    'every event written',
  );
  child.kill('SIGINT');
  expect(await run).toMatchObject({ code: 130, stderr: '' });
  const printed = lines(await readFile(out, 'utf8'));
  expect(await savedIndex(file, printed)).toBeGreaterThanOrEqual(printed.length - 1);
}, 40_000);

test('a first run that only idled into a pipe saves where it started: nothing is lost', async () => {
  const file = join(dir, 'idle.json');
  const fifo = join(dir, 'idle.fifo');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const name = uniqueDbName('idle');
  const { child, run } = redirected(['--token-file', file, `${name}.c`], fifo);
  let text = '';
  createReadStream(fifo).on('data', (d: Buffer | string) => (text += d.toString()));
  // Started at "now", nothing printed: the idle position is the first thing saved.
  await eventually(() => existsSync(file), 15_000, 'the start position saved');
  child.kill('SIGINT');
  expect(await run).toMatchObject({ code: 130, stderr: '' });
  expect(text).toBe('');
  // An event while no mongo-tail runs: the next run resumes there and prints it.
  await client.db(name).collection<AnyDoc>('c').insertOne({ _id: 1 });
  const next = await piped(['--token-file', file, '-n', '1', `${name}.c`], 'cat');
  expect(ids(next.printed)).toEqual([1]);
}, 30_000);
