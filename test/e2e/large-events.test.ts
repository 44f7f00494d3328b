// End to end: events over 16 MB. With --split-large-events the server sends them in fragments
// ($changeStreamSplitLargeEvent) and mongo-tail prints each event whole, under the last
// fragment's token, and never saves a position inside the fragments; without it, a clear error
// that names the flag.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, type AnyDoc, SUMMARY_ONLY } from './util.js';

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-large-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

const NINE_MB = 9 * 1024 * 1024;

/** insert a 9 MB document, replace it by another: the replace event with its pre-image is ~18 MB. */
async function largeHistory(db: string): Promise<string> {
  await client.db(db).createCollection('c', { changeStreamPreAndPostImages: { enabled: true } });
  const since = await clusterTime(client);
  const c = client.db(db).collection<AnyDoc>('c');
  await c.insertOne({ _id: 1, v: 'a'.repeat(NINE_MB) });
  await c.replaceOne({ _id: 1 }, { v: 'b'.repeat(NINE_MB) });
  await c.insertOne({ _id: 2, v: 'small' });
  return since;
}

const args = (db: string, since: string) => [
  '--uri',
  testUri(),
  '--since',
  since,
  '--until',
  'now',
  '--full-document-before-change',
  'whenAvailable',
  '-f',
  'json',
  `${db}.c`,
];

test('--split-large-events: the ~18 MB event prints whole, once; the token is its last fragment', async () => {
  const db = uniqueDbName('large');
  const since = await largeHistory(db);
  const file = join(dir, `${db}.json`);
  const result = await runCli([...args(db, since), '--split-large-events', '--token-file', file]);
  expect(result.stderr).toMatch(SUMMARY_ONLY);
  expect(result.code).toBe(0);
  const lines = result.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(3);
  const [insert, replace, small] = lines.map(
    (line) => JSON.parse(line) as Record<string, AnyDoc> & { _id: { _data: string } },
  );
  expect(insert?.operationType).toBe('insert');
  expect(replace?.operationType).toBe('replace');
  expect(replace).not.toHaveProperty('splitEvent');
  expect((replace?.fullDocument?.v as string).length).toBe(NINE_MB);
  expect((replace?.fullDocumentBeforeChange?.v as string).length).toBe(NINE_MB);
  // A plain comparison: a regex over 9 MB can exhaust V8's regex stack.
  expect(replace?.fullDocument?.v === 'b'.repeat(NINE_MB)).toBe(true);
  expect(small?.documentKey).toEqual({ _id: 2 });
  // Each key once: the fragments' fields were merged, not repeated.
  expect(Object.keys(replace ?? {}).sort()).toEqual(
    [...new Set(Object.keys(replace ?? {}))].sort(),
  );
  // At least the last printed event (an idle stream may have moved it further on).
  expect(((await loadToken(file))?._data ?? '') >= (small?._id._data ?? '~')).toBe(true);

  // Stopping right after the big event: the saved token is the event's (last fragment's), and
  // the next run continues with the small insert — the big one is not replayed in part.
  const file2 = join(dir, `${db}-2.json`);
  const first = await runCli([
    ...args(db, since),
    '--split-large-events',
    '--token-file',
    file2,
    '-n',
    '2',
  ]);
  expect(first.code).toBe(0);
  const firstLines = first.stdout.trimEnd().split('\n');
  expect(firstLines).toHaveLength(2);
  const big = JSON.parse(firstLines[1] ?? '{}') as { _id: { _data: string } };
  const saved = (await loadToken(file2))?._data ?? '';
  expect(saved >= big._id._data).toBe(true);
  const next = await runCli([...args(db, since), '--split-large-events', '--token-file', file2]);
  expect(next.code).toBe(0);
  const nextLines = next.stdout.trimEnd().split('\n');
  expect(nextLines).toHaveLength(1);
  expect((JSON.parse(nextLines[0] ?? '{}') as AnyDoc).documentKey).toEqual({ _id: 2 });
}, 120_000);

test('without the flag: exit 1, one clear message naming --split-large-events', async () => {
  const db = uniqueDbName('toolarge');
  const since = await largeHistory(db);
  const result = await runCli(args(db, since));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /^mongo-tail: an event is larger than the 16 MB a server can send in one piece: .*\(BSONObjectTooLarge\)\nhint: add --split-large-events/,
  );
  expect(result.stderr).not.toMatch(/\n\s+at /);
}, 120_000);
