// Times that mean what the user wrote (issue 9): --since/--until given to the millisecond cut
// inside a cluster-time second by the events' wallTime; a time of day is today's; 13 digits are
// epoch milliseconds; --since oldest starts at the oldest event the oplog still holds.
import { PassThrough } from 'node:stream';
import type { MongoClient } from 'mongodb';
import { main } from '../../src/main.js';
import { startTestServer } from '../server/index.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, events, type AnyDoc } from './util.js';
import { peopleTime } from '../../src/format/time.js';

let client: MongoClient;
beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  await client.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Seen {
  id: number;
  wall: number;
  second: number;
}

/** Every event of `db.c` since `since`, with its wallTime and clusterTime second. */
async function readAll(db: string, since: string): Promise<Seen[]> {
  const all = await runCli(['--uri', testUri(), '--since', since, '--until', 'now', `${db}.c`]);
  expect(all.code).toBe(0);
  return events(all.stdout).map((e) => {
    const wall = e.wallTime as unknown;
    if (!(wall instanceof Date)) throw new Error('an event without wallTime (MongoDB < 6.0?)');
    return {
      id: (e.documentKey as { _id: number })._id,
      wall: wall.getTime(),
      second: (e.clusterTime as { t: number }).t,
    };
  });
}

/** An index k > 0 whose event shares its second (cluster and wall) with the one before it. */
function withinASecond(seen: Seen[], from: number): number {
  for (let k = Math.max(1, from); k < seen.length; k += 1) {
    const [a, b] = [seen[k - 1] as Seen, seen[k] as Seen];
    const same =
      a.second === b.second &&
      Math.floor(a.wall / 1000) === a.second &&
      Math.floor(b.wall / 1000) === b.second;
    if (same && b.wall - a.wall >= 2) return k;
  }
  throw new Error('no two events 2 ms apart within one second');
}

/** `HH:MM:SS.mmm` in the local zone, what --since reads as a time of day today. */
function timeOfDay(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.` +
    String(d.getMilliseconds()).padStart(3, '0')
  );
}

test('--since and --until to the millisecond print exactly the events between, by wallTime', async () => {
  const db = uniqueDbName('times_ms');
  const since = await clusterTime(client);
  // 14 inserts 120 ms apart: at least one second holds several events a few ms apart.
  for (let id = 1; id <= 14; id += 1) {
    await client.db(db).collection<AnyDoc>('c').insertOne({ _id: id });
    await sleep(120);
  }
  const seen = await readAll(db, since);
  expect(seen.map((e) => e.id)).toEqual([...Array(14).keys()].map((i) => i + 1));

  // Cut between two events of one second at each end.
  const first = withinASecond(seen, 1);
  const last = withinASecond(seen, first + 1) - 1;
  const from = Math.floor(((seen[first - 1] as Seen).wall + (seen[first] as Seen).wall) / 2) + 1;
  const to = Math.floor(((seen[last] as Seen).wall + (seen[last + 1] as Seen).wall) / 2);
  const expected = seen.filter((e) => e.wall >= from && e.wall <= to).map((e) => e.id);
  expect(expected).toEqual(seen.slice(first, last + 1).map((e) => e.id));

  const iso = await runCli([
    '--uri',
    testUri(),
    '--since',
    new Date(from).toISOString(),
    '--until',
    new Date(to).toISOString(),
    `${db}.c`,
  ]);
  expect(iso.code).toBe(0);
  expect(events(iso.stdout).map((e) => (e.documentKey as { _id: number })._id)).toEqual(expected);

  // The same bounds as a time of day today (local zone) and as epoch milliseconds.
  if (new Date(from).getDate() !== new Date().getDate()) {
    console.log('skipping the time-of-day form: the events were written before midnight');
    return;
  }
  const other = await runCli([
    '--uri',
    testUri(),
    '--since',
    timeOfDay(from),
    '--until',
    String(to),
    `${db}.c`,
  ]);
  expect(other.code).toBe(0);
  expect(events(other.stdout).map((e) => (e.documentKey as { _id: number })._id)).toEqual(expected);
  expect(other.stderr).toContain(
    `--until: read ${to} as epoch milliseconds (${peopleTime(new Date(to), 'UTC')})`,
  );
}, 30_000);

test('a time of day later than now: exit 2 with a hint to give the date', async () => {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const now = new Date(2024, 4, 1, 12, 0, 0); // local noon, 1 May 2024
  const code = await main(['--uri', testUri(), '--since', '12:03', 'x.c'], {
    stdout,
    stderr,
    env: {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
    now: () => now,
  });
  expect(code).toBe(2);
  expect(err).toBe(
    'mongo-tail: --since 12:03 is later than now (a time of day means today)\n' +
      'hint: did you mean yesterday? give the date: --since 2024-04-30T12:03\n',
  );
});

describe('--since oldest', () => {
  test('starts at the oldest event the oplog still holds, and says which', async () => {
    // Truncating the oplog on demand needs the test server: a private one.
    const server = await startTestServer();
    const own = await connect(server.uri);
    try {
      const coll = own.db('oldest').collection<AnyDoc>('c');
      await coll.insertMany([{ _id: 1 }, { _id: 2 }]);
      await coll.insertOne({ _id: 3 });
      server.truncateOplog(); // keeps only the newest entry: the insert of 3
      await coll.insertMany([{ _id: 4 }, { _id: 5 }]);
      const oldest = await own
        .db('local')
        .collection('oplog.rs')
        .find({}, { sort: { $natural: 1 }, limit: 1 })
        .next();
      const ts = oldest?.ts as { t: number; i: number } | undefined;
      const wall = oldest?.wall as Date | undefined;
      if (ts === undefined || wall === undefined) throw new Error('no oldest oplog entry');

      const result = await runCli([
        '--uri',
        server.uri,
        '--since',
        'oldest',
        '--until',
        'now',
        'oldest.c',
      ]);
      expect(result.code).toBe(0);
      expect(events(result.stdout).map((e) => (e.documentKey as { _id: number })._id)).toEqual([
        3, 4, 5,
      ]);
      expect(result.stderr).toContain(
        `starting at the oldest event still held: ${ts.t},${ts.i} (${peopleTime(wall, 'UTC')})`,
      );
    } finally {
      await own.close();
      await server.stop();
    }
  }, 30_000);

  test('a user who may not read the oplog: exit 3, told to give a time', async () => {
    const server = await startTestServer({
      auth: [
        { user: 'root', password: 'r00t-pw' },
        { user: 'app', password: 'app-pw', roles: ['readWrite@oldest_auth'] },
      ],
    });
    try {
      const result = await runCli([
        '--uri',
        server.uri,
        '--username',
        'app',
        '--password',
        'app-pw',
        '--since',
        'oldest',
        'oldest_auth.c',
      ]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(
        "mongo-tail: --since oldest: cannot read the oplog's oldest time (not authorized to read local.oplog.rs)\n" +
          'hint: give --since a time instead (e.g. --since 1d), or connect as a user with read on the local database\n',
      );
    } finally {
      await server.stop();
    }
  }, 30_000);
});
