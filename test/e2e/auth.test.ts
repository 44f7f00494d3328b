// End to end: --username/--password/--auth-source/--tls… against a private test server that
// requires authentication (the shared backend may run without it), and passwords that never
// reach any output: not stdout, not stderr (with MONGO_TAIL_DEBUG=1 too), not the token file.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startTestServer, type TestServer } from '../server/index.js';
import { runCli, type CliResult } from './harness.js';
import { clusterTime, summary, SUMMARY_ONLY } from './util.js';

// Spaces, a %-escape look-alike and non-ASCII: each must be masked in every form.
const ROOT_PASSWORD = 'r00t p%41ss wörd☃';
const READER_PASSWORD = 'r3ader-only';
const WRONG_PASSWORD = 'wr0ng p%41ss wörd';

let server: TestServer;
let admin: MongoClient;
let dir: string;

beforeAll(async () => {
  server = await startTestServer({
    auth: [
      { user: 'root', password: ROOT_PASSWORD },
      { user: 'reader', password: READER_PASSWORD, roles: ['read@otherdb'] },
    ],
  });
  admin = new MongoClient(server.uri, {
    auth: { username: 'root', password: ROOT_PASSWORD },
    serverSelectionTimeoutMS: 5000,
  });
  await admin.connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-auth-'));
}, 30_000);

afterAll(async () => {
  await admin.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** No form of `password` in any byte the run printed. */
function expectNoPassword(result: CliResult, password: string): void {
  for (const form of [password, encodeURIComponent(password), JSON.stringify(password)]) {
    expect(result.stdout).not.toContain(form);
    expect(result.stderr).not.toContain(form);
  }
  for (const piece of password.split(/\s+/).filter((p) => p.length >= 3)) {
    expect(result.stderr).not.toContain(piece);
  }
}

test('the right user and password as flags: events stream; the token file holds no secret', async () => {
  const since = await clusterTime(admin);
  await admin
    .db('shop')
    .collection<{ _id: number }>('orders')
    .insertMany([{ _id: 1 }, { _id: 2 }]);
  const tokenFile = join(dir, 'ok.pos');
  const result = await runCli([
    '--uri',
    server.uri,
    '--username',
    'root',
    '--password',
    ROOT_PASSWORD,
    '--since',
    since,
    '--token-file',
    tokenFile,
    '-n',
    '2',
    'shop.orders',
  ]);
  expect(result.stderr).toMatch(SUMMARY_ONLY);
  expect(result.code).toBe(0);
  expect(summary(result.stdout)).toEqual(['insert orders', 'insert orders']);
  const saved = await readFile(tokenFile, 'utf8');
  expect(saved).toMatch(/^\{"_data":"[0-9A-F]+"/i);
  expect(saved).not.toContain('root');
  expect(saved).not.toContain(ROOT_PASSWORD);
}, 30_000);

test('a password asked for on the terminal is used, and masked like a flag', async () => {
  const asked: string[] = [];
  const since = await clusterTime(admin);
  await admin.db('shop').collection<{ _id: number }>('prompted').insertOne({ _id: 1 });
  const ok = await runCli(
    ['--uri', server.uri, '-u', 'root', '--since', since, '-n', '1', 'shop.prompted'],
    {
      promptPassword: (question) => {
        asked.push(question);
        return Promise.resolve(ROOT_PASSWORD);
      },
    },
  );
  expect(asked).toEqual(['Enter password for root: ']);
  expect(ok.code).toBe(0);
  expect(summary(ok.stdout)).toEqual(['insert prompted']);

  const wrong = await runCli(
    ['--uri', server.uri, '-u', 'root', '-p', '--connect-timeout', '5s', 'shop.prompted'],
    {
      env: { MONGO_TAIL_DEBUG: '1' },
      promptPassword: () => Promise.resolve(WRONG_PASSWORD),
    },
  );
  expect(wrong.code).toBe(3);
  expectNoPassword(wrong, WRONG_PASSWORD);
}, 30_000);

describe('a wrong password: exit 3, the password in no byte of output', () => {
  test.each([
    ['flags', {}],
    ['flags, MONGO_TAIL_DEBUG=1', { MONGO_TAIL_DEBUG: '1' }],
  ])(
    '%s',
    async (_, env) => {
      const tokenFile = join(dir, `wrong-${Object.keys(env).length}.pos`);
      const result = await runCli(
        [
          '--uri',
          server.uri,
          '--username',
          'root',
          `--password=${WRONG_PASSWORD}`,
          '--token-file',
          tokenFile,
          'shop.orders',
        ],
        { env },
      );
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^mongo-tail: authentication failed as root on mongodb:\/\//);
      expect(result.stderr).toContain('Authentication failed.');
      expect(result.stderr).toContain('hint: check --username, --password and --auth-source');
      if ('MONGO_TAIL_DEBUG' in env) expect(result.stderr).toMatch(/\n +at /);
      expectNoPassword(result, WRONG_PASSWORD);
      if (existsSync(tokenFile)) {
        expect(await readFile(tokenFile, 'utf8')).not.toContain(WRONG_PASSWORD);
      }
    },
    30_000,
  );

  test('in MONGODB_URI, with MONGO_TAIL_DEBUG=1', async () => {
    const uri = server.uri.replace(
      'mongodb://',
      `mongodb://root:${encodeURIComponent(WRONG_PASSWORD)}@`,
    );
    const result = await runCli(['shop.orders'], {
      env: { MONGODB_URI: uri, MONGO_TAIL_DEBUG: '1' },
      stderrIsTTY: true,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('root:****@');
    expectNoPassword(result, WRONG_PASSWORD);
  }, 30_000);
});

test("a user without the right role: exit 3 with the server's reason", async () => {
  const result = await runCli([
    '--uri',
    server.uri,
    '-u',
    'reader',
    '-p',
    READER_PASSWORD,
    '--auth-source',
    'admin',
    'shop.orders',
  ]);
  expect(result.code).toBe(3);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^mongo-tail: not allowed to open the change stream on /);
  expect(result.stderr).toMatch(/not authorized on shop/);
  expectNoPassword(result, READER_PASSWORD);
}, 30_000);

test('--auth-source names where the user is: the wrong database fails to log in', async () => {
  const result = await runCli([
    '--uri',
    server.uri,
    '-u',
    'root',
    '-p',
    ROOT_PASSWORD,
    '--auth-source',
    'shop',
    'shop.orders',
  ]);
  expect(result.code).toBe(3);
  expect(result.stderr).toContain('Authentication failed.');
  expectNoPassword(result, ROOT_PASSWORD);
}, 30_000);

test('credentials both in the URI and as flags: exit 2 before connecting', async () => {
  const uri = server.uri.replace('mongodb://', 'mongodb://root:s3cret-pw@');
  const password = await runCli(['--uri', uri, '--password', 'other-pw', 'shop.orders']);
  expect(password).toEqual({
    code: 2,
    stdout: '',
    stderr:
      'mongo-tail: --password and a password in the connection string cannot be used together\n' +
      'hint: give it once: with --password, or in the connection string\n',
  });
  const user = await runCli(['--uri', uri, '--username', 'bob', 'shop.orders']);
  expect(user.code).toBe(2);
  expect(user.stderr).toMatch(/^mongo-tail: --username and a user name in the connection string/);
  expect(user.stderr + password.stderr).not.toContain('s3cret-pw');
});

test('--tls against a server without TLS: exit 3 saying TLS', async () => {
  const result = await runCli([
    '--uri',
    server.uri,
    '--tls',
    '-u',
    'root',
    '-p',
    ROOT_PASSWORD,
    '--connect-timeout',
    '1500ms',
    'shop.orders',
  ]);
  expect(result.code).toBe(3);
  // The test server closes a TLS handshake at once, as mongod without TLS does: no timeout.
  expect(result.stderr).toMatch(
    /^mongo-tail: cannot connect to mongodb:\/\/\S+: TLS handshake with \S+ failed: /,
  );
  expect(result.stderr).toContain('hint: does the server use TLS on that port?');
  expectNoPassword(result, ROOT_PASSWORD);
}, 30_000);

test('--tls-ca-file that does not exist: exit 2 naming the file', async () => {
  const result = await runCli(['--uri', server.uri, '--tls-ca-file', '/nonexistent/ca.pem', 'a.b']);
  expect(result).toEqual({
    code: 2,
    stdout: '',
    stderr:
      'mongo-tail: --tls-ca-file: cannot read /nonexistent/ca.pem (no such file or directory)\n',
  });
});
