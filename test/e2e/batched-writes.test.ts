// End to end on MongoDB 8.0's shared cluster times: an insertMany is written as one applyOps per
// batch of up to 500 documents, a deleteMany as one applyOps per batch, a transaction as one
// applyOps at commit. Their events share a clusterTime and count up txnOpIndex in the token.
// Everything asserted here is what a real 8.0 server does.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Document } from 'bson';
import type { MongoClient } from 'mongodb';
import { decodeToken } from '../../src/token.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, events, type AnyDoc } from './util.js';

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-batched-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

const uri = (): string => testUri();
const ids = (stdout: string): unknown[] => events(stdout).map((e) => e.documentKey?._id);
const timeOf = (e: Document): string => {
  const ts = e.clusterTime as { t: number; i: number };
  return `${ts.t},${ts.i}`;
};
/** The cluster time just after `ts`: a start that excludes the writes made up to it. */
function after(ts: string): string {
  const [t, i] = ts.split(',').map(Number);
  return `${t},${(i ?? 0) + 1}`;
}
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, k) => from + k);

async function insertBatch(db: string, from: number, to: number): Promise<void> {
  await client
    .db(db)
    .collection<AnyDoc>('c')
    .insertMany(range(from, to).map((_id) => ({ _id })));
}

/** Every event of `db.c` from `since` until now, as -f json. */
function jsonSince(db: string, since: string) {
  return runCli(['--uri', uri(), '--since', since, '--until', 'now', '-f', 'json', `${db}.c`]);
}

describe('an insertMany of 1,200 documents (three applyOps)', () => {
  test('-n inside a batch with --token-file: every event once, in order', async () => {
    const db = uniqueDbName('batch_n');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    await insertBatch(db, 1, 1200);
    const base = ['--uri', uri(), '--token-file', file, '-f', 'json', `${db}.c`];

    const first = await runCli([...base, '--since', since, '-n', '250']);
    expect(first.code).toBe(0);
    expect(ids(first.stdout)).toEqual(range(1, 250));
    const saved = decodeToken(JSON.parse(await readFile(file, 'utf8')) as { _data: string });
    expect(saved.txnOpIndex).toBe(249);
    expect(String((saved.eventIdentifier?.documentKey as Document | undefined)?._id)).toBe('250');

    const second = await runCli([...base, '-n', '400']);
    expect(second.code).toBe(0);
    expect(ids(second.stdout)).toEqual(range(251, 650));
    const third = await runCli([...base, '--until', 'now']);
    expect(third.code).toBe(0);
    expect(ids(third.stdout)).toEqual(range(651, 1200));

    const all = [...events(first.stdout), ...events(second.stdout), ...events(third.stdout)];
    const times = [...new Set(all.map(timeOf))];
    expect(times).toHaveLength(3);
    expect(all.filter((e) => timeOf(e) === times[0])).toHaveLength(500);
  });

  test('a token-file resume at txnOpIndex N > 0 continues with N + 1', async () => {
    const db = uniqueDbName('batch_resume');
    const file = join(dir, `${db}.json`);
    const since = await clusterTime(client);
    await insertBatch(db, 1, 10);
    const base = ['--uri', uri(), '--token-file', file, '-f', 'json', `${db}.c`];
    expect(ids((await runCli([...base, '--since', since, '-n', '4'])).stdout)).toEqual([
      1, 2, 3, 4,
    ]);
    const saved = decodeToken(JSON.parse(await readFile(file, 'utf8')) as { _data: string });
    expect(saved.txnOpIndex).toBe(3);
    const rest = await runCli([...base, '--until', 'now']);
    expect(ids(rest.stdout)).toEqual(range(5, 10));
    const first = events(rest.stdout)[0] as Document;
    expect(decodeToken(first._id as unknown as { _data: string }).txnOpIndex).toBe(4);
  });

  test('--until / --since at the shared cluster time take the whole batch', async () => {
    const db = uniqueDbName('batch_time');
    const since = await clusterTime(client);
    await insertBatch(db, 1, 5);
    const probe = await runCli([
      '--uri',
      uri(),
      '--since',
      since,
      '-n',
      '1',
      '-f',
      'json',
      `${db}.c`,
    ]);
    const t = timeOf(events(probe.stdout)[0] as Document);
    await insertBatch(db, 6, 7);

    const until = await runCli([
      '--uri',
      uri(),
      '--since',
      since,
      '--until',
      t,
      `-f`,
      'json',
      `${db}.c`,
    ]);
    expect(until.code).toBe(0);
    expect(ids(until.stdout)).toEqual([1, 2, 3, 4, 5]);

    const from = await runCli([
      '--uri',
      uri(),
      '--since',
      t,
      '--until',
      'now',
      '-f',
      'json',
      `${db}.c`,
    ]);
    expect(from.code).toBe(0);
    expect(ids(from.stdout)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  test('its events carry txnNumber and lsid, in the server field order', async () => {
    const db = uniqueDbName('batch_lsid');
    const since = await clusterTime(client);
    await insertBatch(db, 1, 2);
    const out = await jsonSince(db, since);
    const evs = events(out.stdout);
    expect(evs).toHaveLength(2);
    for (const e of evs) {
      // change_stream_event_transform.cpp: txnNumber, lsid, then _id.
      expect(Object.keys(e).slice(0, 3)).toEqual(['txnNumber', 'lsid', '_id']);
      expect(Object.keys(e.lsid as Document)).toEqual(['id', 'uid']);
    }
    expect(String(evs[0]?.txnNumber)).toBe(String(evs[1]?.txnNumber));
  });
});

describe('deleteMany and transactions', () => {
  test("deleteMany's events share a clusterTime and carry no lsid", async () => {
    const db = uniqueDbName('batch_delete');
    await insertBatch(db, 1, 10);
    const since = after(await clusterTime(client));
    await client.db(db).collection<AnyDoc>('c').deleteMany({});
    const out = await jsonSince(db, since);
    const evs = events(out.stdout);
    expect(evs.map((e) => e.operationType)).toEqual(Array(10).fill('delete'));
    expect(new Set(evs.map(timeOf)).size).toBe(1);
    expect(evs.some((e) => 'lsid' in e || 'txnNumber' in e)).toBe(false);
  });

  test('a transaction: one clusterTime, lsid/txnNumber, a [txn] tag; an abort prints nothing', async () => {
    const db = uniqueDbName('txn');
    const coll = client.db(db).collection<AnyDoc>('c');
    await coll.insertOne({ _id: 0 });
    const since = after(await clusterTime(client));
    const session = client.startSession();
    try {
      await session.withTransaction(async () => {
        await coll.insertOne({ _id: 1 }, { session });
        await coll.updateOne({ _id: 0 }, { $set: { a: 1 } }, { session });
      });
      session.startTransaction();
      await coll.insertOne({ _id: 99 }, { session });
      await session.abortTransaction();
    } finally {
      await session.endSession();
    }
    const json = await jsonSince(db, since);
    const evs = events(json.stdout);
    expect(evs.map((e) => e.operationType)).toEqual(['insert', 'update']);
    expect(new Set(evs.map(timeOf)).size).toBe(1);
    expect(evs.every((e) => e.lsid !== undefined && e.txnNumber !== undefined)).toBe(true);

    const pretty = await runCli(
      ['--uri', uri(), '--since', since, '--until', 'now', '-f', 'pretty', `${db}.c`],
      {
        env: { NO_COLOR: '1' },
      },
    );
    const lines = pretty.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/\[txn \d+·[0-9a-f]{6}\]/);
  });
});

describe('pymongo insert_many', () => {
  test('one clusterTime for the batch, txnOpIndex 0…n-1', async () => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import pymongo'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn(`skipped: pymongo is not importable (${probe.stderr.trim()})`);
      return;
    }
    const db = uniqueDbName('pymongo_batch');
    const since = await clusterTime(client);
    const script = [
      'import sys',
      'from pymongo import MongoClient',
      'c = MongoClient(sys.argv[1])',
      'c[sys.argv[2]].c.insert_many([{"_id": i} for i in range(1, 6)])',
    ].join('\n');
    const run = spawnSync('/usr/bin/python3', ['-c', script, uri(), db], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const out = await jsonSince(db, since);
    const evs = events(out.stdout);
    expect(ids(out.stdout)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(evs.map(timeOf)).size).toBe(1);
    expect(evs.map((e) => decodeToken(e._id as unknown as { _data: string }).txnOpIndex)).toEqual([
      0, 1, 2, 3, 4,
    ]);
    expect(evs.every((e) => e.lsid !== undefined)).toBe(true);
  });
});
