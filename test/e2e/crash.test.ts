// Crash safety of the token file, as a real process (bin/mongo-tail.js → dist/, built by
// `npm run -s build`): runs killed with SIGKILL at random moments (also during a save) while
// documents keep coming. After every kill the token file is absent (nothing saved yet) or
// holds a valid token, never one older than before; the next start removes the dead run's temp
// files and takes over its lock; and the outputs of all runs together hold every event.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { clusterTime, connect, type AnyDoc } from './util.js';
import { BIN, ENV, ensureBuilt } from './bin.js';

const RUNS = 15;

let client: MongoClient;
let dir: string;
/** The runs' stdout files (apart from the token file's directory, which is checked). */
let outs: string;
beforeAll(async () => {
  ensureBuilt();
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-crash-'));
  outs = await mkdtemp(join(tmpdir(), 'mongo-tail-crash-out-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
  await rm(outs, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  /** Where its stdout goes: a file keeps all the run wrote, even once it is killed. */
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * Starts the bin with stdout into the file `out`. A file, not a pipe: the token then follows
 * the output without the lag a pipe's unread capacity needs, so saves happen all the time.
 */
function start(args: string[], out: string, imports: string[] = []): Run {
  const fd = openSync(out, 'w');
  const child = spawn(
    process.execPath,
    [...imports.flatMap((m) => ['--import', m]), BIN, ...args],
    {
      env: ENV,
      stdio: ['ignore', fd, 'pipe'],
    },
  );
  closeSync(fd);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
  }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, out, exited };
}

/** The `_id`s of the whole lines in `out` (a run killed mid-write may leave half a line). */
function idsIn(out: string): number[] {
  return readFileSync(out, 'utf8')
    .split('\n')
    .slice(0, -1)
    .map((line) => (JSON.parse(line) as { documentKey: { _id: number } }).documentKey._id);
}

/**
 * A module for `--import` that makes every fsync take 40 ms longer: a save then spends that
 * long between writing its temp file and renaming it, and random kills land inside saves.
 */
const SLOW_FSYNC = `
  import { open } from 'node:fs/promises';
  const handle = await open('/dev/null');
  const proto = Object.getPrototypeOf(handle);
  await handle.close();
  const sync = proto.sync;
  proto.sync = async function () {
    await new Promise((r) => setTimeout(r, 40));
    return sync.call(this);
  };
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('SIGKILL at random moments over many restarts: the token file is never damaged, no event is lost', async () => {
  const db = uniqueDbName('crash');
  const coll = client.db(db).collection<AnyDoc>('c');
  const file = join(dir, 'pos.json');
  const since = await clusterTime(client);
  const args = [
    '--uri',
    testUri(),
    '--since',
    since,
    '--token-file',
    file,
    '--checkpoint-interval',
    '0s',
    '-q',
    `${db}.c`,
  ];

  // A steady write load for the whole kill loop.
  let written = 0;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await coll.insertMany(
        Array.from({ length: 5 }, () => ({ _id: written++, pad: 'x'.repeat(300) })),
      );
      await sleep(10);
    }
  })();

  const slow = join(outs, 'slow-fsync.mjs');
  await writeFile(slow, SLOW_FSYNC);
  const outputs: number[][] = [];
  const stats = { midSave: 0, lockLeft: 0, starting: 0, saved: 0 };
  let previous = '';
  for (let round = 0; round < RUNS; round += 1) {
    // Every other run saves slowly, so that kills land inside saves too.
    const run = start(args, join(outs, `${round}.ndjson`), round % 2 === 1 ? [slow] : []);
    // A third of the runs die while starting; the others once they print, at a random moment.
    if (round % 3 === 0) {
      stats.starting += 1;
    } else {
      const deadline = Date.now() + 10_000;
      while (statSync(run.out).size === 0 && Date.now() < deadline) await sleep(10);
      // The start removed the temp files the previous run left; only this run's may exist.
      const strays = (await readdir(dir)).filter(
        (name) => name.endsWith('.tmp') && !name.includes(`.${run.child.pid}.`),
      );
      expect(strays).toEqual([]);
    }
    await sleep(50 + Math.floor(Math.random() * 350));
    run.child.kill('SIGKILL');
    const { signal } = await run.exited;
    expect(signal).toBe('SIGKILL');
    outputs.push(idsIn(run.out));

    const names = await readdir(dir);
    if (names.some((name) => name.endsWith('.tmp'))) stats.midSave += 1;
    if (names.includes('pos.json.mongo-tail.lock')) stats.lockLeft += 1;
    // Absent before the first save; after it, always a valid token, never an older one.
    const saved = (await loadToken(file))?._data ?? '';
    expect(saved >= previous).toBe(true);
    if (saved > previous) stats.saved += 1;
    previous = saved;
  }
  writing = false;
  await writer;

  // A last run to the end: every event is in some run's output; each run's are in order.
  const last = start([...args, '--until', 'now'], join(outs, 'last.ndjson'));
  const end = await last.exited;
  expect({ code: end.code, stderr: end.stderr }).toEqual({ code: 0, stderr: '' });
  outputs.push(idsIn(last.out));
  expect((await readdir(dir)).sort()).toEqual(['pos.json']);
  for (const ids of outputs) {
    expect(ids.every((id, i) => i === 0 || id === (ids[i - 1] as number) + 1)).toBe(true);
  }
  const seen = new Set(outputs.flat());
  const missing = Array.from({ length: written }, (_, id) => id).filter((id) => !seen.has(id));
  expect(missing).toEqual([]);
  const printed = outputs.reduce((sum, ids) => sum + ids.length, 0);
  console.log(
    `${RUNS} runs killed (${stats.starting} while starting), ${written} events, ` +
      `${printed} lines printed (${printed - written} again after a kill); after a kill: ` +
      `${stats.saved} times a newer token, ${stats.midSave} times temp files of a save, ` +
      `${stats.lockLeft} times a lock left (all cleaned up by the next start)`,
  );
}, 90_000);
