// End to end: where a run starts and stops, the token file, invalidation, and the errors a
// position can run into.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { tokenTime } from '../../src/source/position.js';
import { decodeToken } from '../../src/token.js';
import { compareTimestamps } from '../../src/when.js';
import { startTestServer } from '../server/index.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli, startCli } from './harness.js';
import {
  clusterTime,
  connect,
  events,
  eventually,
  summary,
  type AnyDoc,
  SUMMARY_ONLY,
  withoutSummary,
} from './util.js';

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-e2e-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

const uri = (): string => testUri();
const ids = (stdout: string): unknown[] => events(stdout).map((e) => e.documentKey?._id);

/** The cluster time just after `ts` ("T,I" → "T,I+1"): a start that excludes what came before. */
function after(ts: string): string {
  const [t, i] = ts.split(',').map(Number);
  return `${t},${(i ?? 0) + 1}`;
}

async function insertMany(db: string, coll: string, from: number, to: number): Promise<void> {
  for (let id = from; id <= to; id += 1)
    await client.db(db).collection<AnyDoc>(coll).insertOne({ _id: id });
}

describe('stop conditions', () => {
  test('-n/--limit: exit 0 after N events', async () => {
    const db = uniqueDbName('limit');
    const since = await clusterTime(client);
    await insertMany(db, 'c', 1, 5);
    const result = await runCli(['--uri', uri(), '--since', since, '-n', '2', `${db}.c`]);
    expect(result).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    expect(ids(result.stdout)).toEqual([1, 2]);
  });

  test('--until now: catch up and exit', async () => {
    const db = uniqueDbName('until_now');
    const since = await clusterTime(client);
    await insertMany(db, 'c', 1, 3);
    const started = Date.now();
    const result = await runCli(['--uri', uri(), '--since', since, '--until', 'now', `${db}.c`]);
    expect(result).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    expect(ids(result.stdout)).toEqual([1, 2, 3]);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  test('--until T,I: stops once the stream passes that time', async () => {
    const db = uniqueDbName('until_ts');
    const since = await clusterTime(client);
    await insertMany(db, 'c', 1, 2);
    const until = await clusterTime(client);
    await insertMany(db, 'c', 3, 4);
    const result = await runCli(['--uri', uri(), '--since', since, '--until', until, `${db}.c`]);
    expect(result.code).toBe(0);
    expect(ids(result.stdout)).toEqual([1, 2]);
  });

  test('--since: starts at that cluster time', async () => {
    const db = uniqueDbName('since');
    await insertMany(db, 'c', 1, 2);
    const mark = await clusterTime(client);
    await insertMany(db, 'c', 3, 4);
    const result = await runCli([
      '--uri',
      uri(),
      '--since',
      after(mark),
      '--until',
      'now',
      `${db}.c`,
    ]);
    expect(result.code).toBe(0);
    expect(ids(result.stdout)).toEqual([3, 4]);
  });

  test('--idle-timeout: exit 0 after that long without an event', async () => {
    const db = uniqueDbName('idle');
    // (A collection that exists: a missing one gets a note on stderr.)
    await client.db(db).createCollection('c');
    const started = Date.now();
    const result = await runCli(['--uri', uri(), '--idle-timeout', '400ms', `${db}.c`]);
    expect(result).toEqual({
      code: 0,
      stdout: '',
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(5000);
  });

  test('SIGINT / SIGTERM: exit 130 / 143', async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      // A database of its own per run: --since is inclusive, so a shared one would show the
      // previous run's event too.
      const db = uniqueDbName('signal');
      const since = await clusterTime(client);
      const run = startCli(['--uri', uri(), '--since', since, `${db}.c`]);
      await client.db(db).collection('c').insertOne({ signal });
      await run.waitForLines(1);
      run.signal(signal);
      const result = await run.done;
      expect(result.code).toBe(code);
      expect(events(result.stdout)).toHaveLength(1);
    }
  });
});

describe('--token-file', () => {
  test('stop and restart: every event exactly once', async () => {
    const db = uniqueDbName('restart');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    await insertMany(db, 'c', 1, 6);
    const base = ['--uri', uri(), '--token-file', file, `${db}.c`];

    const first = await runCli([...base, '--since', since, '-n', '2']);
    expect(first).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    expect(ids(first.stdout)).toEqual([1, 2]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^\{"_data":"[0-9A-F]+"\}\n$/);

    // The file wins over --since once it exists, and says so.
    const second = await runCli([...base, '--since', since, '-n', '2']);
    expect(second.code).toBe(0);
    expect(withoutSummary(second.stderr)).toBe(
      `mongo-tail: resuming from ${file}; the start position given only applies to a first run\n`,
    );
    expect(ids(second.stdout)).toEqual([3, 4]);

    const third = await runCli([...base, '--until', 'now']);
    expect(third).toMatchObject({ code: 0, stderr: expect.stringMatching(SUMMARY_ONLY) });
    expect(ids(third.stdout)).toEqual([5, 6]);

    // Nothing new: nothing printed, and still nothing lost.
    const fourth = await runCli([...base, '--until', 'now']);
    expect(fourth).toEqual({ code: 0, stdout: '', stderr: expect.stringMatching(SUMMARY_ONLY) });
    await insertMany(db, 'c', 7, 7);
    expect(ids((await runCli([...base, '--until', 'now'])).stdout)).toEqual([7]);
  });

  test('interrupted (SIGINT): exit 130 with the token of the last printed event saved', async () => {
    const db = uniqueDbName('sigint_file');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    const run = startCli(['--uri', uri(), '--since', since, '--token-file', file, `${db}.c`]);
    await insertMany(db, 'c', 1, 3);
    await run.waitForLines(3);
    run.signal('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    // Tokens sort in stream order: the saved one covers the last printed event (an idle
    // stream may have moved it further on), and the next run repeats nothing.
    const saved = await loadToken(file);
    const lastPrinted = String(events(result.stdout)[2]?._id._data);
    expect(saved !== undefined && saved._data >= lastPrinted).toBe(true);
    await insertMany(db, 'c', 4, 5);
    const next = await runCli(['--uri', uri(), '--token-file', file, '--until', 'now', `${db}.c`]);
    expect(ids(next.stdout)).toEqual([4, 5]);
  });

  test('a quiet filtered stream still advances its token file', async () => {
    const db = uniqueDbName('quiet');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    const run = startCli([
      '--uri',
      uri(),
      '--since',
      since,
      '--ops',
      'delete',
      '--token-file',
      file,
      '--checkpoint-interval',
      '100ms',
      '--max-await',
      '200',
      `${db}.c`,
    ]);
    const session = client.startSession();
    try {
      for (let id = 1; id <= 3; id += 1) {
        await client.db(db).collection<AnyDoc>('c').insertOne({ _id: id }, { session });
      }
      const lastWrite = session.operationTime;
      if (lastWrite === undefined) throw new Error('no operationTime');
      // No event matches, yet the saved position moves past the inserts.
      await eventually(
        async () => {
          const token = await loadToken(file).catch(() => undefined);
          const at = token === undefined ? undefined : tokenTime(token);
          return at !== undefined && compareTimestamps(at, lastWrite) >= 0;
        },
        8000,
        'the token file to pass the last insert',
      );
    } finally {
      await session.endSession();
    }
    run.signal('SIGINT');
    const result = await run.done;
    expect(result).toEqual({
      code: 130,
      stdout: '',
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    // The next run continues from there and sees the delete that comes after.
    await client.db(db).collection<AnyDoc>('c').deleteOne({ _id: 2 });
    const next = await runCli([
      '--uri',
      uri(),
      '--ops',
      'delete',
      '--token-file',
      file,
      '--until',
      'now',
      `${db}.c`,
    ]);
    expect(next).toMatchObject({ code: 0, stderr: expect.stringMatching(SUMMARY_ONLY) });
    expect(summary(next.stdout)).toEqual(['delete c']);
  });
});

describe('invalidation', () => {
  test('drop + re-create is followed like tail -F', async () => {
    const db = uniqueDbName('follow');
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1 });
    await c.drop();
    await c.insertOne({ _id: 2 });
    const result = await runCli(['--uri', uri(), '--since', since, '-n', '4', `${db}.c`]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual(['insert c', 'drop c', 'invalidate', 'insert c']);
    expect(withoutSummary(result.stderr)).toBe(
      `mongo-tail: ${db}.c was dropped or renamed; following it (startAfter the invalidate)\n`,
    );
  });

  test('--ops without invalidate: still followed, the invalidate is not printed', async () => {
    const db = uniqueDbName('follow_ops');
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1 });
    await c.drop();
    await c.insertOne({ _id: 2 });
    const result = await runCli([
      '--uri',
      uri(),
      '-q',
      '--since',
      since,
      '--ops',
      'insert',
      '-n',
      '2',
      `${db}.c`,
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(ids(result.stdout)).toEqual([1, 2]);
  });

  test('a rename is followed too', async () => {
    const db = uniqueDbName('rename');
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1 });
    await c.rename('d');
    await client.db(db).collection<AnyDoc>('c').insertOne({ _id: 2 });
    const result = await runCli(['--uri', uri(), '-q', '--since', since, '-n', '4', `${db}.c`]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual(['insert c', 'rename c', 'invalidate', 'insert c']);
  });

  test('--exit-on-invalidate: exit 5 after the events; the next run continues with startAfter', async () => {
    const db = uniqueDbName('exit_inv');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1 });
    await c.drop();
    await c.insertOne({ _id: 2 });
    const base = ['--uri', uri(), '--token-file', file, `${db}.c`];
    const first = await runCli([...base, '--since', since, '--exit-on-invalidate']);
    expect(first.code).toBe(5);
    expect(summary(first.stdout)).toEqual(['insert c', 'drop c', 'invalidate']);
    expect(first.stderr).toBe(
      `mongo-tail: the change stream on ${db}.c was invalidated (dropped or renamed)\n` +
        `hint: a next run with --token-file ${file} continues after the invalidate\n`,
    );
    const saved = await loadToken(file);
    if (saved === undefined) throw new Error('no token saved');
    expect(decodeToken(saved).fromInvalidate).toBe(true);

    const second = await runCli([...base, '--until', 'now']);
    expect(second).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(SUMMARY_ONLY),
    });
    expect(ids(second.stdout)).toEqual([2]);
  });

  test('--resume-after an invalidate token: exit 4, pointing at --start-after', async () => {
    const db = uniqueDbName('resume_inv');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    const c = client.db(db).collection<AnyDoc>('c');
    await c.insertOne({ _id: 1 });
    await c.drop();
    await runCli([
      '--uri',
      uri(),
      '--token-file',
      file,
      '--since',
      since,
      '--exit-on-invalidate',
      `${db}.c`,
    ]);
    const token = await readFile(file, 'utf8');
    const result = await runCli([
      '--uri',
      uri(),
      '--resume-after',
      token,
      '--until',
      'now',
      `${db}.c`,
    ]);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    // (After the note that the dropped collection does not exist.)
    expect(result.stderr).toMatch(
      /^mongo-tail: cannot resume after the resume token at cluster time \d+,\d+ \(.+Z\): .*\(InvalidResumeToken\)\n/m,
    );
    expect(result.stderr).toContain(
      'hint: a token from an invalidate (drop/rename) continues with --start-after',
    );
    // -q: the collection is gone, which a note would say.
    const started = await runCli([
      '--uri',
      uri(),
      '-q',
      '--start-after',
      token,
      '--until',
      'now',
      `${db}.c`,
    ]);
    expect(started).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });
});

describe('positions that cannot be resumed', () => {
  test('--since before the oplog: exit 4 (history lost), never a silent start from now', async () => {
    // History must really be gone: while the oldest oplog entry is still the replica set's
    // "initiating set" no-op, MongoDB 8.0 lets any earlier start through (collection_scan.cpp
    // `isNewRS`), so a young deployment (the shared one) would simply start from its beginning.
    const server = await startTestServer();
    try {
      const db = uniqueDbName('lost');
      const client = await connect(server.uri);
      try {
        await client.db(db).collection('c').insertOne({ n: 1 });
      } finally {
        await client.close();
      }
      server.truncateOplog();
      const held = server.state.oplog.first;
      if (held === undefined) throw new Error('the truncated oplog holds no entry');
      const heldAt = `${held.ts.t},${held.ts.i} (${held.wall.toISOString().replace(/\.\d{3}Z$/, 'Z')})`;
      // A resume error is never retried, however long --retry-for allows.
      const result = await runCli([
        '--uri',
        server.uri,
        '--since',
        '1,1',
        '--retry-for',
        'forever',
        `${db}.c`,
      ]);
      expect(result.code).toBe(4);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        'mongo-tail: cannot resume from cluster time 1,1 (1970-01-01T00:00:01Z): that point is no ' +
          `longer in the oplog (ChangeStreamHistoryLost); the oldest still held is ${heldAt}, so ` +
          'the events between 1,1 and then are lost\n' +
          'hint: leave out --since to start from now, or use a later --since to read what the ' +
          'oplog still holds\n',
      );
    } finally {
      await server.stop();
    }
  });
});

describe('deployments that cannot stream', () => {
  test('a standalone server: exit 3, and how to make it a replica set', async () => {
    // No real-server route to a standalone from the shared replica set: start one here.
    const server = await startTestServer({ topology: 'standalone' });
    try {
      const expected =
        `mongo-tail: change streams need a replica set or sharded cluster, and ${server.uri} is a standalone server\n` +
        'hint: make a single mongod a one-node replica set: restart it with --replSet rs0, run ' +
        'rs.initiate() once in mongosh, then connect with ?replicaSet=rs0\n';
      const result = await runCli(['--uri', server.uri, 'shop.orders']);
      expect(result).toEqual({ code: 3, stdout: '', stderr: expected });
      // `--until now` asks for the cluster time first: the same message, not a riddle.
      const catchUp = await runCli(['--uri', server.uri, '--until', 'now', 'shop.orders']);
      expect(catchUp).toEqual({ code: 3, stdout: '', stderr: expected });
    } finally {
      await server.stop();
    }
  });
});

describe('re-opening after failures the driver does not resume from', () => {
  test('two failed getMores: re-opened from the last position, nothing lost or repeated', async () => {
    const db = uniqueDbName('reopen');
    const since = await clusterTime(client);
    // The fail point is server-wide: aim it at this run only, by application name.
    const appName = `reopen-${db}`.slice(0, 60);
    const own = `${uri()}${uri().includes('?') ? '&' : '?'}appName=${appName}`;
    const run = startCli(['--uri', own, '--since', since, '-n', '4', `${db}.c`], {
      retry: { baseDelayMs: 10, maxDelayMs: 50 },
    });
    await insertMany(db, 'c', 1, 2);
    await run.waitForLines(2);
    // Error 91 without labels: the driver gives up at once, mongo-tail re-opens.
    try {
      await client.db('admin').command({
        configureFailPoint: 'failCommand',
        mode: { times: 2 },
        data: { failCommands: ['getMore'], errorCode: 91, errorLabels: [], appName },
      });
    } catch (error) {
      run.signal('SIGINT');
      await run.done;
      console.log(`skipping: the backend has no failCommand fail point (${String(error)})`);
      return;
    }
    try {
      await insertMany(db, 'c', 3, 4);
      const result = await run.done;
      expect(result.code).toBe(0);
      expect(ids(result.stdout)).toEqual([1, 2, 3, 4]);
      expect(result.stderr).toMatch(
        /^mongo-tail: change stream interrupted \(.*\); re-opening from the last position in \d+ms \(failing for 0\.0s, giving up after 1m\)\n/,
      );
    } finally {
      await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
  });

  test('a failure that keeps coming: re-opened for --retry-for, then exit 3 with the last position kept', async () => {
    const db = uniqueDbName('reopen_fail');
    const appName = `fail-${db}`.slice(0, 60);
    const own = `${uri()}${uri().includes('?') ? '&' : '?'}appName=${appName}`;
    try {
      await client.db('admin').command({
        configureFailPoint: 'failCommand',
        mode: 'alwaysOn',
        data: { failCommands: ['getMore'], errorCode: 91, errorLabels: [], appName },
      });
    } catch (error) {
      console.log(`skipping: the backend has no failCommand fail point (${String(error)})`);
      return;
    }
    try {
      // --idle-timeout shorter than the outage: an outage is a failure (3), never "idle" (0).
      const started = Date.now();
      const result = await runCli(
        ['--uri', own, '--idle-timeout', '150ms', '--retry-for', '1500ms', `${db}.c`],
        { retry: { baseDelayMs: 100, maxDelayMs: 200 } },
      );
      const took = Date.now() - started;
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trimEnd().split('\n');
      const notes = lines.filter((l) => l.includes('change stream interrupted'));
      // Waits of 50-100, then 100-200 ms: up to ~10 re-opens fit in 1.5 s on an idle machine;
      // a loaded CI machine spends most of that window starting processes, so ask for two.
      expect(notes.length).toBeGreaterThanOrEqual(2);
      // Each note says the real time it has been failing, growing.
      const elapsed = notes.map((l) =>
        Number(/failing for (\d+\.\d)s, giving up after 1\.5s\)$/.exec(l)?.[1]),
      );
      expect(elapsed[0]).toBe(0);
      expect(elapsed.every((e, i) => i === 0 || e >= (elapsed[i - 1] ?? 0))).toBe(true);
      expect(lines.at(-2)).toMatch(
        /^mongo-tail: lost the change stream from .* and could not re-open it within --retry-for 1\.5s \(\d+ tries in \d+\.\ds\): /,
      );
      expect(lines.at(-1)).toBe(
        'hint: the token file (if any) holds the last position; run again to continue from there',
      );
      expect(took).toBeGreaterThanOrEqual(1_500);
      expect(took).toBeLessThan(12_000);

      // --retry-for 0: the first failure ends the run.
      const once = await runCli(['--uri', own, '--retry-for', '0', `${db}.c`]);
      expect(once.code).toBe(3);
      expect(once.stderr).not.toContain('change stream interrupted');
      // (After the note that the collection does not exist yet.)
      expect(once.stderr).toMatch(
        /^mongo-tail: lost the change stream from .* and could not re-open it \(--retry-for 0\): /m,
      );
    } finally {
      await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    // 1.5 s of outage plus a second run: jest's default 5 s is too tight on a loaded machine.
  }, 30_000);
});
