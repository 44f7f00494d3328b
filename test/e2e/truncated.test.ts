// History lost while mongo-tail was stopped: the oplog no longer holds the saved position.
// The run exits 4 (never retried, never a silent jump to "now"), says which window is lost
// (from the saved position's time to the oldest time the server still has) and leaves the
// token file as it was. Truncating an oplog on demand needs the test server: a private one.
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { tokenTime } from '../../src/source/position.js';
import { formatTimestamp } from '../../src/when.js';
import { startTestServer, type TestServer } from '../server/index.js';
import { runCli } from './harness.js';
import { clusterTime, connect, type AnyDoc } from './util.js';

let server: TestServer;
let client: MongoClient;
let dir: string;
beforeAll(async () => {
  server = await startTestServer();
  client = await connect(server.uri);
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-truncated-'));
});
afterAll(async () => {
  await client.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `T,I`: how mongo-tail writes a cluster time in messages. */
function when(ts: { t: number; i: number }): string {
  return `${ts.t},${ts.i}`;
}

/** An ISO time to the second, how mongo-tail writes wall times in messages. */
function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A token file saved over three events, then more writes and a truncated oplog. */
async function lostHistory(name: string) {
  const coll = client.db(name).collection<AnyDoc>('c');
  const file = join(dir, `${name}.json`);
  const since = await clusterTime(client);
  await coll.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
  const first = await runCli([
    '--uri',
    server.uri,
    '--since',
    since,
    '--token-file',
    file,
    '-n',
    '3',
    `${name}.c`,
  ]);
  expect(first.code).toBe(0);
  const saved = await loadToken(file);
  const savedAt = saved === undefined ? undefined : tokenTime(saved);
  if (savedAt === undefined) throw new Error('no position saved');
  await coll.insertMany([{ _id: 4 }, { _id: 5 }]);
  server.truncateOplog();
  const held = server.state.oplog.first;
  if (held === undefined) throw new Error('the oplog is empty');
  return {
    file,
    since,
    bytes: await readFile(file),
    savedAt,
    oldest: held.ts,
    oldestWall: held.wall,
  };
}

test('resuming from a token file whose position left the oplog: exit 4, file untouched', async () => {
  const { file, bytes, savedAt } = await lostHistory('lost_token');
  const started = Date.now();
  const result = await runCli(['--uri', server.uri, '--token-file', file, 'lost_token.c']);
  expect(result.code).toBe(4);
  expect(result.stdout).toBe('');
  // Never retried: the answer comes at once, not after --retry-for.
  expect(Date.now() - started).toBeLessThan(10_000);
  const [message, hint] = result.stderr.trimEnd().split('\n');
  expect(message).toContain(
    `mongo-tail: cannot resume after the resume token at cluster time ${formatTimestamp(savedAt)}`,
  );
  expect(message).toContain('ChangeStreamHistoryLost');
  expect(hint).toBe(
    `hint: remove ${file} and start again with --since at a time the oplog still holds (or from now)`,
  );
  expect(await readFile(file)).toEqual(bytes);
}, 30_000);

test('the message names the lost window: the saved time and the oldest time still held', async () => {
  const { file, savedAt, oldest, oldestWall } = await lostHistory('lost_window');
  const result = await runCli(['--uri', server.uri, '--token-file', file, 'lost_window.c']);
  expect(result.code).toBe(4);
  const [message, hint, ...rest] = result.stderr.trimEnd().split('\n');
  expect(rest).toEqual([]);
  expect(message).toMatch(
    new RegExp(
      `^mongo-tail: cannot resume after the resume token at cluster time ${when(savedAt)} \\(.*\\): ` +
        'that point is no longer in the oplog \\(ChangeStreamHistoryLost\\); ' +
        `the oldest still held is ${when(oldest)} \\(${iso(oldestWall)}\\), ` +
        `so the events between ${when(savedAt)} and then are lost$`,
    ),
  );
  expect(hint).toMatch(/^hint: /);
}, 30_000);

test('--since before the oldest time still held: exit 4, no token file written', async () => {
  const { since, oldest, oldestWall } = await lostHistory('lost_since');
  const file = join(dir, 'lost_since_new.json');
  const result = await runCli([
    '--uri',
    server.uri,
    '--since',
    since,
    '--token-file',
    file,
    'lost_since.c',
  ]);
  expect(result.code).toBe(4);
  const message = result.stderr.split('\n')[0] ?? '';
  expect(message).toContain(`mongo-tail: cannot resume from cluster time ${since}`);
  expect(message).toContain(
    `the oldest still held is ${when(oldest)} (${iso(oldestWall)}), so the events between ${since} and then are lost`,
  );
  expect(await loadToken(file)).toBeUndefined();
}, 30_000);

test('a user who may not read the oplog: the same exit 4, the oldest time left out', async () => {
  // Reading local.oplog.rs needs read on `local`; without it the look-up fails (13) quietly.
  const secured = await startTestServer({
    auth: [
      { user: 'root', password: 'r00t-pw' },
      { user: 'app', password: 'app-pw', roles: ['readWrite@lost_auth'] },
    ],
  });
  const root = new MongoClient(secured.uri, { auth: { username: 'root', password: 'r00t-pw' } });
  try {
    const since = await clusterTime(root);
    await root
      .db('lost_auth')
      .collection<{ _id: number }>('c')
      .insertMany([{ _id: 1 }, { _id: 2 }]);
    secured.truncateOplog();
    const result = await runCli([
      '--uri',
      secured.uri,
      '--username',
      'app',
      '--password',
      'app-pw',
      '--since',
      since,
      'lost_auth.c',
    ]);
    expect(result.code).toBe(4);
    expect(result.stderr.split('\n')[0]).toBe(
      `mongo-tail: cannot resume from cluster time ${since} (${iso(new Date(Number(since.split(',')[0]) * 1000))}): ` +
        'that point is no longer in the oplog (ChangeStreamHistoryLost); ' +
        'the events since then cannot be read from this deployment any more',
    );
  } finally {
    await root.close();
    await secured.stop();
  }
}, 30_000);
