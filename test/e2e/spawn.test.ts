// A few runs of the real bin (bin/mongo-tail.js → dist/) as a separate process, with a pinned
// environment: help, exit codes, EPIPE through `| head -n 1`, SIGINT, SIGHUP, a second signal,
// and the token-file lock.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, eventually, type AnyDoc, SUMMARY_ONLY } from './util.js';
import { BIN, ENV, ROOT, ensureBuilt } from './bin.js';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Finished> & { stdout: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(done, { stdout: () => stdout });
}

function bin(args: string[]) {
  return collect(spawn(process.execPath, [BIN, ...args], { env: ENV, cwd: ROOT }));
}

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-spawn-'));
}, 120_000);
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

test('--help: the same text as in-process, exit 0', async () => {
  const result = await bin(['--help']);
  expect(result.code).toBe(0);
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe((await runCli(['--help'])).stdout);
});

/** The module URLs one run of the bin loads. */
async function modulesLoadedBy(args: string[]): Promise<{ code: number | null; urls: string[] }> {
  const trace = join(dir, `imports-${args.join('_').replace(/\W/g, '')}.txt`);
  const hook = join(ROOT, 'test', 'helpers', 'trace-imports.mjs');
  const result = await collect(
    spawn(process.execPath, ['--import', hook, BIN, ...args], {
      env: { ...ENV, MONGO_TAIL_TRACE_IMPORTS: trace },
      cwd: ROOT,
    }),
  );
  const urls = existsSync(trace) ? (await readFile(trace, 'utf8')).split('\n') : [];
  return { code: result.code, urls };
}

describe('starting fast: no driver, ora or chalk where they are not needed', () => {
  const heavy = /\/node_modules\/(mongodb|ora|chalk)\//;
  test.each([
    [['--version']],
    [['--help']],
    [['--nope']],
    [['--since', 'yesterday-ish', 'shop']],
    [['token', '{"_data":"8266D3EF23000000012B042C0100296E5A1004"}']],
    [['-q', 'token', '--json', '{"_data":"8266D3EF23000000012B042C0100296E5A1004"}']],
    [['completion', 'bash']],
    [['-u', 'alice', '-p']],
  ])('%j', async (args) => {
    const { code, urls } = await modulesLoadedBy(args);
    expect(code).not.toBeNull();
    // The trace works: the CLI's own modules are in it.
    expect(urls.some((url) => url.endsWith('/dist/cli.js'))).toBe(true);
    expect(urls.filter((url) => heavy.test(url))).toEqual([]);
  });

  test('a tail does load the driver (the check above can fail)', async () => {
    const { urls } = await modulesLoadedBy([
      '--uri',
      'mongodb://127.0.0.1:1/?replicaSet=rs0',
      '--connect-timeout',
      '200ms',
      'shop',
    ]);
    expect(urls.some((url) => /\/node_modules\/mongodb\//.test(url))).toBe(true);
  });
});

test('a small heap streams far past where a per-event leak would die', async () => {
  // Before the batch pipeline, each event left ~1.6 KB behind (a Promise.race against a
  // long-lived promise): with a 64 MB heap the process aborted after 27,940 events.
  const db = uniqueDbName('heap');
  const since = await clusterTime(client);
  const coll = client.db(db).collection<AnyDoc>('c');
  const total = 60_000;
  const pad = 'x'.repeat(400);
  for (let start = 0; start < total; start += 5000) {
    await coll.insertMany(Array.from({ length: 5000 }, (_, k) => ({ _id: start + k, pad })));
  }
  const child = spawn(
    process.execPath,
    [
      '--max-old-space-size=24',
      BIN,
      '--uri',
      testUri(),
      '--since',
      since,
      '-n',
      String(total),
      '-q',
      `${db}.c`,
    ],
    { env: ENV, cwd: ROOT },
  );
  let lines = 0;
  let lastId = -1;
  let ordered = true;
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const id = (JSON.parse(line) as { documentKey: { _id: number } }).documentKey._id;
      if (id !== lastId + 1) ordered = false;
      lastId = id;
      lines += 1;
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(lines).toBe(total);
  expect(ordered).toBe(true);
}, 120_000);

test('an unknown flag exits 2 with one line on stderr', async () => {
  const result = await bin(['--nope']);
  expect(result).toEqual({
    code: 2,
    signal: null,
    stdout: '',
    stderr:
      "mongo-tail: unknown option '--nope' (Did you mean --ops?)\nhint: see mongo-tail --help\n",
  });
});

test('piped into head -n 1: EPIPE ends the run quietly, exit 0, token never past the printed line', async () => {
  const db = uniqueDbName('epipe');
  const file = join(dir, `${db}.json`);
  const codeFile = join(dir, `${db}.code`);
  const since = await clusterTime(client);
  await client.db(db).collection<AnyDoc>('c').insertOne({ _id: 0 });
  const script =
    `{ "${process.execPath}" "${BIN}" --uri "${testUri()}" --since ${since} ` +
    `--token-file "${file}" ${db}.c 2>"${codeFile}.err"; echo $? > "${codeFile}"; } | head -n 1`;
  const shell = collect(spawn('sh', ['-c', script], { env: ENV, cwd: ROOT }));
  // Keep writing until the tailer notices the closed pipe and exits.
  let id = 1;
  const writer = (async () => {
    while (!existsSync(codeFile) && id < 400) {
      await client.db(db).collection<AnyDoc>('c').insertOne({ _id: id++ });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const result = await shell;
  await writer;
  expect(result.code).toBe(0);
  expect(result.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  expect(JSON.parse(result.stdout).documentKey).toEqual({ _id: 0 });
  await eventually(() => existsSync(codeFile), 5000, 'the exit code file');
  expect((await readFile(codeFile, 'utf8')).trim()).toBe('0');
  expect(await readFile(`${codeFile}.err`, 'utf8')).toMatch(SUMMARY_ONLY);
  // What head read was one line; what it was given and threw away must come again next run,
  // so the token stays behind by what the pipe could hold unread (pipe-reader.test.ts).
  const printed = (JSON.parse(result.stdout) as { _id: { _data: string } })._id._data;
  const saved = await loadToken(file);
  expect(saved === undefined || saved._data <= printed).toBe(true);
  expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
}, 20_000);

/**
 * Two events, and a tailer with a token file that has printed both (still running). Its
 * stdout is a file: into a pipe a signal saves a position behind what the pipe may still hold
 * (pipe-reader.test.ts), while a file keeps every line written.
 */
async function tailTwoEvents(name: string) {
  const db = uniqueDbName(name);
  const file = join(dir, `${db}.json`);
  const out = join(dir, `${db}.out`);
  const since = await clusterTime(client);
  await client
    .db(db)
    .collection<AnyDoc>('c')
    .insertMany([{ _id: 1 }, { _id: 2 }]);
  const fd = openSync(out, 'w');
  const child = spawn(
    process.execPath,
    [BIN, '--uri', testUri(), '--since', since, '--token-file', file, `${db}.c`],
    { env: ENV, cwd: ROOT, stdio: ['ignore', fd, 'pipe'] },
  );
  closeSync(fd);
  const printed = (): string => readFileSync(out, 'utf8');
  const exited = collect(child);
  const run = exited.then((result) => ({ ...result, stdout: printed() }));
  await eventually(() => printed().split('\n').filter(Boolean).length >= 2, 8000, 'two lines');
  return { db, file, child, run };
}

/** The run printed both events, saved at least the last one's token and released the lock. */
async function expectTwoSaved(stdout: string, file: string): Promise<void> {
  const lines = stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(2);
  // Saved: at least the last printed event (an idle stream may have moved it further on).
  const last = JSON.parse(lines[1] ?? '{}') as { _id: { _data: string } };
  const saved = await loadToken(file);
  expect(saved !== undefined && saved._data >= last._id._data).toBe(true);
  expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
}

test('SIGINT: exit 130, the token of the printed events saved, the lock released', async () => {
  const { db, file, child, run } = await tailTwoEvents('sigint');

  // A second process on the same token file is refused while the first holds it.
  const second = await bin(['--uri', testUri(), '--token-file', file, `${db}.c`]);
  expect(second.code).toBe(2);
  expect(second.stderr).toBe(
    `mongo-tail: token file ${file} is in use by another mongo-tail (pid ${child.pid})\n` +
      `hint: two processes cannot share one token file; if pid ${child.pid} is not mongo-tail, remove ${file}.mongo-tail.lock\n`,
  );

  child.kill('SIGINT');
  const result = await run;
  expect(result.code).toBe(130);
  expect(result.stderr).toMatch(SUMMARY_ONLY);
  await expectTwoSaved(result.stdout, file);
}, 20_000);

test('SIGHUP stops like SIGTERM: exit 129, the token saved, the lock released', async () => {
  const { file, child, run } = await tailTwoEvents('sighup');
  child.kill('SIGHUP');
  const result = await run;
  expect(result).toMatchObject({
    code: 129,
    signal: null,
    stderr: expect.stringMatching(SUMMARY_ONLY),
  });
  await expectTwoSaved(result.stdout, file);
}, 20_000);

test('a second Ctrl-C while stopping (stdout stuck) ends the process at once', async () => {
  const db = uniqueDbName('twice');
  const since = await clusterTime(client);
  // ~400 KB of events: far more than a pipe holds, so the stop waits for stdout.
  await client
    .db(db)
    .collection<AnyDoc>('c')
    .insertMany(Array.from({ length: 200 }, (_, i) => ({ _id: i, pad: 'x'.repeat(2000) })));
  const child = spawn(process.execPath, [BIN, '--uri', testUri(), '--since', since, `${db}.c`], {
    env: ENV,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // stdout is never read: its pipe fills and stays full.
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise((r) => setTimeout(r, 2000)); // connected, read, and stuck on stdout
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  const second = Date.now();
  child.kill('SIGINT');
  const result = await exited;
  // The first SIGINT alone waits up to 500 ms for stdout before saving and exiting 130.
  expect(result).toEqual({ code: null, signal: 'SIGINT' });
  expect(Date.now() - second).toBeLessThan(400);
  expect(stderr).toBe('');
  child.stdout?.destroy();
}, 20_000);
