// A stalled reader: stdout (a Unix socket, what Node's spawn gives; a pipe behaves alike) goes
// unread for 20 s while 20,000 events (~600 B each, 12 MB) arrive. mongo-tail must stop reading the change stream while stdout is full, so its
// memory stays flat: one batch being written (~1 MiB, BATCH_TARGET_BYTES), one prefetched,
// one 64 KiB chunk in stdout's buffer. Then the reader reads, and every event arrives once,
// in order.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { clusterTime, connect, eventually, type AnyDoc } from './util.js';
import { BIN, ENV, ROOT, ensureBuilt } from './bin.js';

const EVENTS = 20_000;
const STALL_MS = 20_000;
/**
 * How far RSS may grow while stalled: by design two batches of ~1 MiB (the one being written,
 * the prefetched one), their reply buffers and a 64 KiB chunk, ~4 MiB; 16 MiB leaves room for
 * the heap. Measured (Linux x64, Node 20): +1.3 MiB. The same run with the wait for `drain`
 * removed grew by 33 MiB: the bound tells the two apart.
 */
const RSS_GROWTH_BOUND = 16 * 1024 * 1024;

/** A process's resident set in bytes (undefined once it is gone, or without /proc). */
function rss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-stalled-'));
}, 120_000);
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

test('stdout unread for 20 s: RSS stays bounded, then every event arrives in order', async () => {
  if (!existsSync(`/proc/${process.pid}/status`)) {
    console.log('skipping: no /proc to read a process RSS from');
    return;
  }
  const db = uniqueDbName('stalled');
  const coll = client.db(db).collection<AnyDoc>('c');
  const since = await clusterTime(client);
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...['--uri', testUri(), '--since', since, '-q', '-f', 'json'],
      ...['--token-file', join(dir, 'pos.json'), '-n', String(EVENTS), `${db}.c`],
    ],
    { env: ENV, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid as number;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

  // Read until the first event came (connected and streaming), then stop reading.
  let text = '';
  const onData = (d: Buffer): void => {
    text += d.toString();
  };
  child.stdout.on('data', onData);
  const pad = 'x'.repeat(20);
  await coll.insertOne({ _id: 0, pad });
  await eventually(() => text.includes('\n'), 15_000, 'the first event');
  child.stdout.pause();
  const base = rss(pid) as number;

  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss(pid) ?? 0);
  }, 250);
  const stalledAt = Date.now();
  // 19,999 more events over ~15 s while nobody reads.
  for (let next = 1; next < EVENTS; next += 500) {
    const count = Math.min(500, EVENTS - next);
    await coll.insertMany(Array.from({ length: count }, (_, k) => ({ _id: next + k, pad })));
    await new Promise((resolve) => setTimeout(resolve, 350));
  }
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, stalledAt + STALL_MS - Date.now())),
  );
  clearInterval(sampler);
  const unreadAtEnd = text.split('\n').length - 1;

  child.stdout.resume();
  const code = await exited;
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const ids = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { documentKey: { _id: number } }).documentKey._id);
  expect(ids).toHaveLength(EVENTS);
  expect(ids.every((id, index) => id === index)).toBe(true);
  console.log(
    `stalled-reader: RSS ${(base / 2 ** 20).toFixed(1)} MiB when stalled, peak ` +
      `${(peak / 2 ** 20).toFixed(1)} MiB (+${((peak - base) / 2 ** 20).toFixed(1)} MiB); ` +
      `${unreadAtEnd} lines had reached the test while it did not read`,
  );
  expect(peak - base).toBeLessThan(RSS_GROWTH_BOUND);
}, 45_000);
