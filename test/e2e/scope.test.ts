// End to end against the shared backend: scopes and filters. Each test writes into its own
// database, then catches up with `--since <before the writes> --until now`, which makes the
// run deterministic: no waiting for the stream to be open before writing.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli, startCli } from './harness.js';
import {
  clusterTime,
  connect,
  events,
  summary,
  type AnyDoc,
  SUMMARY_ONLY,
  withoutSummary,
} from './util.js';

let client: MongoClient;
beforeAll(async () => {
  client = await connect();
});
afterAll(async () => {
  await client.close();
});

/** Writes a small, mixed workload into `db` (orders and users) and returns its start time. */
async function workload(db: string): Promise<string> {
  const since = await clusterTime(client);
  const orders = client.db(db).collection<AnyDoc>('orders');
  const users = client.db(db).collection<AnyDoc>('users');
  await orders.insertOne({ _id: 1, status: 'paid', total: 10 });
  await orders.insertOne({ _id: 2, status: 'open', total: 5 });
  await users.insertOne({ _id: 'u1', name: 'Ann' });
  await orders.updateOne({ _id: 2 }, { $set: { status: 'paid' } });
  await orders.replaceOne({ _id: 1 }, { status: 'refunded', total: 10 });
  await orders.deleteOne({ _id: 1 });
  return since;
}

function tail(args: string[]) {
  return runCli(['--uri', testUri(), '--until', 'now', ...args]);
}

describe('scopes', () => {
  test('a collection', async () => {
    const db = uniqueDbName('scope_coll');
    const since = await workload(db);
    const result = await tail(['--since', since, `${db}.orders`]);
    expect(result.stderr).toMatch(SUMMARY_ONLY);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual([
      'insert orders',
      'insert orders',
      'update orders',
      'replace orders',
      'delete orders',
    ]);
  });

  test('a database', async () => {
    const db = uniqueDbName('scope_db');
    const since = await workload(db);
    const result = await tail(['--since', since, db]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual([
      'insert orders',
      'insert orders',
      'insert users',
      'update orders',
      'replace orders',
      'delete orders',
    ]);
  });

  test('the whole deployment (other tests write too: look at our database only)', async () => {
    const db = uniqueDbName('scope_all');
    const other = uniqueDbName('scope_other');
    const since = await workload(db);
    await client.db(other).collection<AnyDoc>('x').insertOne({ _id: 1 });
    const result = await tail(['--since', since]);
    expect(result.code).toBe(0);
    const all = events(result.stdout);
    const ours = all.filter((e) => (e.ns as { db?: string } | undefined)?.db === db);
    expect(ours.map((e) => `${e.operationType} ${e.ns.coll}`)).toEqual([
      'insert orders',
      'insert orders',
      'insert users',
      'update orders',
      'replace orders',
      'delete orders',
    ]);
    expect(all.some((e) => e.ns?.db === other)).toBe(true);
  });

  test('two collections of one database: one stream plus an ns filter', async () => {
    const db = uniqueDbName('scope_two');
    const since = await workload(db);
    await client.db(db).collection<AnyDoc>('other').insertOne({ _id: 1 });
    const result = await tail(['--since', since, `${db}.users`, `${db}.orders`]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual([
      'insert orders',
      'insert orders',
      'insert users',
      'update orders',
      'replace orders',
      'delete orders',
    ]);
  });

  test('namespaces across databases', async () => {
    const a = uniqueDbName('scope_a');
    const b = uniqueDbName('scope_b');
    const since = await clusterTime(client);
    await client.db(a).collection<AnyDoc>('x').insertOne({ _id: 1 });
    await client.db(b).collection<AnyDoc>('y').insertOne({ _id: 2 });
    await client.db(b).collection<AnyDoc>('z').insertOne({ _id: 3 });
    const result = await tail(['--since', since, `${a}.x`, b]);
    expect(result.code).toBe(0);
    expect(events(result.stdout).map((e) => `${e.ns.db === a ? 'a' : 'b'}.${e.ns.coll}`)).toEqual([
      'a.x',
      'b.y',
      'b.z',
    ]);
  });
});

describe('filters', () => {
  test('--ops', async () => {
    const db = uniqueDbName('ops');
    const since = await workload(db);
    const result = await tail(['--since', since, '--ops', 'insert,delete', `${db}.orders`]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual(['insert orders', 'insert orders', 'delete orders']);
  });

  test('--filter matches the document (updates via updateLookup, with a note)', async () => {
    const db = uniqueDbName('filter');
    const since = await workload(db);
    const result = await tail(['--since', since, '--filter', '{"status": "paid"}', `${db}.orders`]);
    expect(result.code).toBe(0);
    expect(withoutSummary(result.stderr)).toBe(
      'mongo-tail: --filter matches fullDocument, which update events only carry with a ' +
        'full-document mode: using --full-document updateLookup\n',
    );
    // insert 1 (paid), update of 2 (paid now); insert 2 was open, the replace made 1
    // refunded and the delete has no document.
    const got = events(result.stdout);
    expect(got.map((e) => `${e.operationType} ${e.documentKey._id}`)).toEqual([
      'insert 1',
      'update 2',
    ]);
    expect(got[1]?.fullDocument).toEqual({ _id: 2, status: 'paid', total: 5 });
  });

  test('--filter with -q says nothing on stderr', async () => {
    const db = uniqueDbName('filter_q');
    const since = await workload(db);
    const result = await tail(['-q', '--since', since, '--filter', '{"total": 5}', `${db}.orders`]);
    expect(result.stderr).toBe('');
    expect(summary(result.stdout)).toEqual(['insert orders', 'update orders']);
  });

  test('--filter with pre-images matches deletes by their pre-image', async () => {
    const db = uniqueDbName('filter_pre');
    await client
      .db(db)
      .createCollection('orders', { changeStreamPreAndPostImages: { enabled: true } });
    const since = await workload(db);
    const result = await tail([
      '--since',
      since,
      '--filter',
      '{"status": "refunded"}',
      '--full-document-before-change',
      'whenAvailable',
      `${db}.orders`,
    ]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual(['replace orders', 'delete orders']);
  });

  test('--match is a raw $match on the event (Extended JSON accepted)', async () => {
    const db = uniqueDbName('match');
    const since = await workload(db);
    const result = await tail([
      '--since',
      since,
      '--match',
      '{"documentKey._id": {"$numberInt": "2"}}',
      `${db}.orders`,
    ]);
    expect(result.code).toBe(0);
    expect(summary(result.stdout)).toEqual(['insert orders', 'update orders']);
  });

  test('--pipeline stages are applied, inline or from @file', async () => {
    const db = uniqueDbName('pipeline');
    const since = await workload(db);
    const stages =
      '[{"$match": {"operationType": "insert"}}, {"$project": {"operationType": 1, "documentKey": 1}}]';
    const inline = await tail(['--since', since, '--pipeline', stages, `${db}.orders`]);
    expect(inline.code).toBe(0);
    const got = events(inline.stdout);
    expect(got.map((e) => Object.keys(e))).toEqual([
      ['_id', 'operationType', 'documentKey'],
      ['_id', 'operationType', 'documentKey'],
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'mongo-tail-pipeline-'));
    try {
      await writeFile(join(dir, 'p.json'), stages);
      const fromFile = await tail([
        '--since',
        since,
        '--pipeline',
        `@${join(dir, 'p.json')}`,
        `${db}.orders`,
      ]);
      expect(fromFile.stdout).toBe(inline.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a pipeline that drops the resume token is refused by the server: usage error', async () => {
    const db = uniqueDbName('pipeline_id');
    const since = await workload(db);
    const result = await tail([
      '--since',
      since,
      '--pipeline',
      '[{"$project": {"_id": 0}}]',
      `${db}.orders`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^mongo-tail: /);
  });
});

test('live: events written after the start are printed as they come', async () => {
  const db = uniqueDbName('live');
  const since = await clusterTime(client);
  const run = startCli(['--uri', testUri(), '--since', since, '-n', '3', `${db}.c`]);
  const c = client.db(db).collection<AnyDoc>('c');
  await c.insertOne({ _id: 1 });
  await run.waitForLines(1);
  await c.insertOne({ _id: 2 });
  await run.waitForLines(2);
  await c.insertOne({ _id: 3 });
  const result = await run.done;
  expect(result.code).toBe(0);
  expect(events(result.stdout).map((e) => e.documentKey._id)).toEqual([1, 2, 3]);
});

test('stderr on a terminal: the spinner runs and is cleaned up; -q keeps stderr silent', async () => {
  const db = uniqueDbName('spinner');
  const since = await clusterTime(client);
  await client.db(db).collection<AnyDoc>('c').insertOne({ _id: 1 });
  const args = ['--uri', testUri(), '--since', since, '-n', '1', `${db}.c`];
  const tty = await runCli(args, { stderrIsTTY: true });
  expect(tty.code).toBe(0);
  expect(events(tty.stdout)).toHaveLength(1);
  expect(withoutSummary(tty.stderr)).not.toContain('mongo-tail:');
  const quiet = await runCli(['-q', ...args], { stderrIsTTY: true });
  expect(quiet).toMatchObject({ code: 0, stderr: '' });
});
