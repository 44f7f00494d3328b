// Scaling out (issue 10): N tailers with --partition i/N print every event exactly once between
// them, each document's events in one tailer and in order, keyless events (DDL) in partition 0;
// --key prints `<canonical documentKey>\t<event>`.
import { EJSON, ObjectId, type Document } from 'bson';
import type { MongoClient } from 'mongodb';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect } from './util.js';

const LONG = 60_000;

let client: MongoClient;
let db: string;
let probeDb: string;
let since: string;
/** Every event since `since`, as one unpartitioned tailer prints it. */
let all: Document[] = [];
let supported = true;
/** How many events the writes make. */
let written = 0;

/** The _id types written: ints, strings, ObjectIds, documents. */
type MixedId = number | string | ObjectId | { region: number; n: number };

/** The resume token's `_data`: an event's identity across tailers. */
const idOf = (e: Document): string => (e._id as { _data: string })._data;
/** A document's identity: its key as canonical Extended JSON (`ns` for keyless events). */
const keyOf = (e: Document): string =>
  EJSON.stringify(e.documentKey ?? { ns: e.ns as unknown }, { relaxed: false });

function parseLines(stdout: string): Document[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => EJSON.parse(line, { relaxed: false }) as Document);
}

async function tail(extra: string[]): Promise<string> {
  const run = await runCli(['--uri', testUri(), '--since', since, '--until', 'now', ...extra, db]);
  expect(run.stderr).not.toMatch(/error/i);
  expect(run.code).toBe(0);
  return run.stdout;
}

beforeAll(async () => {
  client = await connect();
  db = uniqueDbName('partition');
  // Another database: the probe's insert is not one of the events counted.
  probeDb = uniqueDbName('partition_probe');
  const probe = client.db(probeDb).collection('probe');
  await probe.insertOne({ v: 'string to hash' });
  try {
    const [out] = await probe
      .aggregate([{ $project: { _id: 0, h: { $toHashedIndexKey: '$v' } } }])
      .toArray();
    // The manual's example: the backend hashes like MongoDB (the test server included).
    expect(String(out?.h)).toBe('763543691661428748');
  } catch (error) {
    if ((error as { code?: number }).code !== 168) throw error;
    supported = false;
    return;
  }
  since = await clusterTime(client);

  // Mixed _id types: ints, strings, ObjectIds, documents; inserts, updates, deletes, a drop.
  const ids: MixedId[] = [];
  for (let n = 0; n < 44; n++) {
    ids.push(n, `user-${n}`, new ObjectId(), { region: n % 3, n });
  }
  const c = client.db(db).collection<{ _id: MixedId; i: number; v: number }>('c');
  await c.insertMany(ids.map((_id, i) => ({ _id, i, v: 0 })));
  await c.bulkWrite(
    [...ids, ...ids].map((_id) => ({ updateOne: { filter: { _id }, update: { $inc: { v: 1 } } } })),
  );
  await c.bulkWrite(
    ids.filter((_, i) => i % 2 === 0).map((_id) => ({ deleteOne: { filter: { _id } } })),
  );
  const other = client.db(db).collection<{ _id: number }>('other');
  await other.insertMany(Array.from({ length: 10 }, (_, n) => ({ _id: n })));
  await other.drop();
  // An insert and two updates per document, a delete for half of them, 10 inserts and a drop.
  written = ids.length * 3 + ids.length / 2 + 11;

  all = parseLines(await tail(['-f', 'canonical']));
}, LONG);

afterAll(async () => {
  await client.db(db).dropDatabase();
  await client.db(probeDb).dropDatabase();
  await client.close();
});

function skipped(): boolean {
  if (supported) return false;
  console.log('skipping: this server has no $toHashedIndexKey (MongoDB 7.0+)');
  return true;
}

test.each([1, 2, 3, 7])(
  'N = %i tailers print every event exactly once',
  async (n) => {
    if (skipped()) return;
    const outputs = await Promise.all(
      Array.from({ length: n }, (_, i) => tail(['--partition', `${i}/${n}`, '-f', 'canonical'])),
    );
    const parts = outputs.map(parseLines);
    console.log(
      `--partition */${n}: ${written} events written, printed per tailer: ` +
        parts.map((p) => p.length).join(', '),
    );

    // Exactly once: the union is every event, no duplicates.
    const owner = new Map<string, number>();
    parts.forEach((events, i) => {
      for (const e of events) {
        expect(owner.has(idOf(e))).toBe(false);
        owner.set(idOf(e), i);
      }
    });
    expect([...owner.keys()].sort()).toEqual(all.map(idOf).sort());
    expect(all.length).toBe(written);

    // Each document in one partition, its events in the order of the unpartitioned stream.
    const docPartition = new Map<string, number>();
    for (const e of all) {
      const part = owner.get(idOf(e)) as number;
      const key = keyOf(e);
      if (!docPartition.has(key)) docPartition.set(key, part);
      expect(docPartition.get(key)).toBe(part);
    }
    for (const events of parts) {
      const order = new Map(all.map((e, k) => [idOf(e), k]));
      const positions = events.map((e) => order.get(idOf(e)) as number);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }

    // Keyless events (the drop) are partition 0's only.
    const drops = all.filter((e) => e.operationType === 'drop');
    expect(drops).toHaveLength(1);
    expect(owner.get(idOf(drops[0] as Document))).toBe(0);
    if (n > 1) {
      // A real spread: no tailer is left empty or given everything.
      for (const events of parts) expect(events.length).toBeGreaterThan(0);
      for (const events of parts) expect(events.length).toBeLessThan(all.length);
    }
  },
  LONG,
);

test(
  '--key: <canonical documentKey>\\t<event>, ns for keyless events',
  async () => {
    if (skipped()) return;
    const lines = (await tail(['--partition', '1/2', '-f', 'json', '--key'])).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const tab = line.indexOf('\t');
      const key = line.slice(0, tab);
      const event = EJSON.parse(line.slice(tab + 1), { relaxed: false }) as Document;
      expect(key).not.toMatch(/\s/);
      expect(EJSON.parse(key, { relaxed: false })).toEqual(event.documentKey);
      expect(key).toBe(EJSON.stringify(event.documentKey, { relaxed: false }));
    }
    const first = (await tail(['--partition', '0/2', '-f', 'json', '--key'])).split('\n');
    const drop = first.find((line) => line.includes('"operationType":"drop"'));
    expect(drop?.split('\t')[0]).toBe(`{"db":"${db}","coll":"other"}`);
  },
  LONG,
);

test('bad --partition and --key with pretty exit 2 naming the flag', async () => {
  const bad = await runCli(['--uri', testUri(), '--partition', '3/3', db]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--partition 3/3: i must be less than N');
  const pretty = await runCli(['--uri', testUri(), '--key', '-f', 'pretty', db]);
  expect(pretty.code).toBe(2);
  expect(pretty.stderr).toContain('--key applies to json and canonical output');
});
