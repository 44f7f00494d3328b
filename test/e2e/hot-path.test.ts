// End to end: the batch pipeline. Lines leave in chunks (not one write per event), stdout's
// backpressure holds the reading back without losing or reordering anything, `-n` inside a
// batch keeps its exact position, and the JSON formats keep the server's field order.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { BSON, Timestamp } from 'bson';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { main, type Io } from '../../src/main.js';
import { readCursor } from '../../src/source/batch.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, type AnyDoc } from './util.js';

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-hot-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

/** Inserts `count` documents with _id 0…count-1 (in chunks of 1000, as one would). */
async function preload(db: string, count: number, pad = 'p'.repeat(200)): Promise<string> {
  const since = await clusterTime(client);
  const coll = client.db(db).collection<AnyDoc>('c');
  for (let start = 0; start < count; start += 1000) {
    const size = Math.min(1000, count - start);
    await coll.insertMany(Array.from({ length: size }, (_, k) => ({ _id: start + k, pad })));
  }
  return since;
}

/** A stdout that records each write; `delayMs` makes it a slow reader (backpressure). */
function recordingStdout(opts: { highWaterMark?: number; delayMs?: number } = {}) {
  const writes: string[] = [];
  const stream = new Writable({
    highWaterMark: opts.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      writes.push(chunk.toString());
      if (opts.delayMs === undefined) done();
      else setTimeout(done, opts.delayMs);
    },
  });
  return { stream, writes, lines: () => writes.join('').split('\n').filter(Boolean) };
}

function io(stdout: Writable): Io {
  return {
    stdout,
    stderr: new PassThrough().resume(),
    env: { TZ: 'UTC' },
    stdoutIsTTY: false,
    stderrIsTTY: false,
  };
}

const idOf = (line: string): number =>
  (JSON.parse(line) as { documentKey: { _id: number } }).documentKey._id;

test('5,000 events leave in a few large writes, complete and in order', async () => {
  const db = uniqueDbName('chunks');
  const since = await preload(db, 5000);
  const out = recordingStdout();
  const code = await main(
    ['--uri', testUri(), '--since', since, '-n', '5000', '-f', 'json', `${db}.c`],
    io(out.stream),
  );
  expect(code).toBe(0);
  const lines = out.lines();
  expect(lines.map(idOf)).toEqual(Array.from({ length: 5000 }, (_, k) => k));
  // ~1.5 MB of lines: one write per ~64 KB chunk (and per batch), never one per event.
  expect(out.writes.length).toBeLessThan(200);
  // Whole lines only ('' is the flush mark of the close).
  expect(out.writes.filter((chunk) => chunk !== '').every((chunk) => chunk.endsWith('\n'))).toBe(
    true,
  );
}, 60_000);

test('a slow stdout (backpressure): every event arrives in order; the token is the last one', async () => {
  const db = uniqueDbName('slow');
  const since = await preload(db, 3000);
  const file = join(dir, `${db}.json`);
  const out = recordingStdout({ highWaterMark: 1024, delayMs: 2 });
  const code = await main(
    ['--uri', testUri(), '--since', since, '--token-file', file, '-n', '3000', `${db}.c`],
    io(out.stream),
  );
  expect(code).toBe(0);
  const lines = out.lines();
  expect(lines.map(idOf)).toEqual(Array.from({ length: 3000 }, (_, k) => k));
  const last = JSON.parse(lines[2999] ?? '{}') as { _id: { _data: string } };
  expect((await loadToken(file))?._data).toBe(last._id._data);
}, 60_000);

test('-n inside a batch: the token is that event, and the next run continues right after it', async () => {
  const db = uniqueDbName('limit');
  const since = await preload(db, 2500);
  const file = join(dir, `${db}.json`);
  const base = ['--uri', testUri(), '--token-file', file, `${db}.c`];
  const first = await runCli([...base, '--since', since, '-n', '1234']);
  expect(first.code).toBe(0);
  const firstIds = first.stdout.trimEnd().split('\n').map(idOf);
  expect(firstIds).toEqual(Array.from({ length: 1234 }, (_, k) => k));
  const second = await runCli([...base, '--until', 'now']);
  expect(second.code).toBe(0);
  const secondIds = second.stdout.trimEnd().split('\n').map(idOf);
  expect(secondIds).toEqual(Array.from({ length: 2500 - 1234 }, (_, k) => 1234 + k));
}, 60_000);

/** The field names of `fullDocument` in the first event after `since`, as the server sent them. */
async function serverFieldOrder(db: string, since: string): Promise<string[]> {
  const [t, i] = since.split(',').map(Number);
  const reply = await client.db(db).command(
    {
      aggregate: 'c',
      pipeline: [
        { $changeStream: { startAtOperationTime: new Timestamp({ t: t ?? 0, i: i ?? 0 }) } },
      ],
      cursor: {},
    },
    { raw: true } as never,
  );
  let batch = readCursor(reply.cursor as Uint8Array);
  for (let tries = 0; batch.starts.length === 0 && tries < 20; tries += 1) {
    const more = await client
      .db(db)
      .command({ getMore: batch.id, collection: 'c', maxTimeMS: 200 }, { raw: true } as never);
    batch = readCursor(more.cursor as Uint8Array);
  }
  const start = batch.starts[0] ?? 0;
  const event = batch.bytes.subarray(start, start + batch.bytes.readInt32LE(start));
  const names = (bytes: Uint8Array, offset = 0): Array<[string, number, number]> =>
    [...BSON.onDemand.parseToElements(bytes, offset)].map(([, nameAt, nameLength, at, length]) => [
      Buffer.from(bytes.buffer, bytes.byteOffset + nameAt, nameLength).toString(),
      at,
      length,
    ]);
  const full = names(event).find(([name]) => name === 'fullDocument');
  if (full === undefined) throw new Error('no fullDocument in the event');
  return names(event.subarray(full[1], full[1] + full[2])).map(([name]) => name);
}

test.each(['json', 'canonical'])(
  '-f %s keeps the field order the server sent, integer-like names included',
  async (format) => {
    const db = uniqueDbName('order');
    const since = await clusterTime(client);
    // Built as BSON in this order (a JS object would move "2" and "10" first). A real server
    // keeps it; the built-in test server stores JS objects and sends "2", "10" first: either
    // way mongo-tail must print what was sent.
    await client
      .db(db)
      .collection<AnyDoc>('c')
      .insertOne(
        new Map<string, unknown>([
          ['_id', 1],
          ['b', 1],
          ['2', 2],
          ['a', 3],
          ['10', 4],
        ]) as unknown as AnyDoc,
      );
    const sent = await serverFieldOrder(db, since);
    expect([...sent].sort()).toEqual(['10', '2', '_id', 'a', 'b']);
    const result = await runCli([
      '--uri',
      testUri(),
      '--since',
      since,
      '--until',
      'now',
      '-f',
      format,
      `${db}.c`,
    ]);
    expect(result.code).toBe(0);
    const line = result.stdout.trimEnd();
    const body = line.slice(line.indexOf('"fullDocument":'));
    const keys = [...body.matchAll(/"(_id|b|2|a|10)":/g)].map((m) => m[1]);
    expect(keys.slice(0, 5)).toEqual(sent);
  },
);
