// End to end: connect failures that name their cause and say the fix for it (nothing listens,
// the wrong replica set, a standalone, TLS, a wrong password), told apart fast, and the note for
// a namespace that does not exist (yet) (issue 9).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { MongoServerError, type MongoClient } from 'mongodb';
import type { ConnectError } from '../../src/errors.js';
import {
  explainServers,
  seenInFailure,
  seenInHello,
  toConnectError,
  UNREACHABLE_HINT,
  type ServerSeen,
} from '../../src/source/diagnose.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { startTestServer } from '../server/index.js';
import { runCli, type CliResult } from './harness.js';
import { connect } from './util.js';

let client: MongoClient;
let dir: string;

beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-friction-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

/** The hint line of a failed run. */
function hintOf(result: CliResult): string {
  return /^hint: (.*)$/m.exec(result.stderr)?.[1] ?? '';
}

/** Listens on a free loopback port; `sockets` collects each connection (to end at close). */
async function listen(server: Server, sockets: Socket[]): Promise<number> {
  server.on('connection', (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server, sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
}

/** A loopback port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, []);
  await close(server, []);
  return port;
}

/** The connection string with one option set (replaced when present). */
function withOption(uri: string, name: string, value: string): string {
  const [head = '', query = ''] = uri.split('?');
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) {
    if (key.toLowerCase() === name.toLowerCase()) params.delete(key);
  }
  params.set(name, value);
  // "mongodb://h:1" has no path: the options need the "/" before "?".
  return `${/^mongodb(?:\+srv)?:\/\/[^/]*$/.test(head) ? `${head}/` : head}?${params.toString()}`;
}

describe('connect failures: exit 3, one line naming the cause, a hint for it', () => {
  test('nothing listens on the port: at once, not after --connect-timeout', async () => {
    const port = await closedPort();
    const started = Date.now();
    const result = await runCli([
      '--uri',
      `mongodb://127.0.0.1:${port}/`,
      '--connect-timeout',
      '30s',
      'shop.orders',
    ]);
    const took = Date.now() - started;
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(
      `mongo-tail: cannot connect to mongodb://127.0.0.1:${port}/: ` +
        `nothing listens on 127.0.0.1:${port} (connection refused)`,
    );
    expect(hintOf(result)).toMatch(/mongod is started and listens on that port/);
    // The refusal comes within milliseconds; waiting the 30 s asked for would fail this.
    expect(took).toBeLessThan(5_000);
    console.log(`connection refused reported in ${took} ms`);
  }, 40_000);

  test('a replicaSet name the server is not in: names the set it is in', async () => {
    // The shared backend (test server or a real replica set) under a set name it does not have.
    const uri = withOption(testUri(), 'replicaSet', 'nope');
    const started = Date.now();
    const result = await runCli(['--uri', uri, '--connect-timeout', '30s', 'shop.orders']);
    expect(result.code).toBe(3);
    const line = result.stderr.split('\n')[0] ?? '';
    const named = /is a member of replica set '([^']+)', not 'nope'$/.exec(line);
    expect(named).not.toBeNull();
    expect(hintOf(result)).toBe(
      `fix replicaSet= in the connection string: replicaSet=${named?.[1] ?? ''}`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 40_000);

  test('replicaSet= given for a standalone server: says it is a standalone', async () => {
    // No route to a standalone from the shared replica set: start one here.
    const server = await startTestServer({ topology: 'standalone' });
    try {
      const host = server.uri.replace(/^mongodb:\/\/([^/]*).*$/, '$1');
      const result = await runCli([
        '--uri',
        `mongodb://${host}/?replicaSet=rs0`,
        '--connect-timeout',
        '30s',
        'shop.orders',
      ]);
      expect(result.code).toBe(3);
      expect(result.stderr.split('\n')[0]).toBe(
        `mongo-tail: cannot connect to mongodb://${host}/?replicaSet=rs0: ` +
          `${host} is a standalone server, not in replica set 'rs0'`,
      );
      expect(hintOf(result)).toMatch(/restart mongod with --replSet rs0/);
    } finally {
      await server.stop();
    }
  }, 40_000);

  test('--tls against a server without TLS: the TLS handshake failed', async () => {
    // mongod without TLS closes a connection that starts with a TLS hello ("SSL handshake
    // received but server is started without SSL support"); this listener does the same.
    const sockets: Socket[] = [];
    const plain = createServer((socket) => socket.once('data', () => socket.destroy()));
    const port = await listen(plain, sockets);
    try {
      const result = await runCli([
        '--uri',
        `mongodb://127.0.0.1:${port}/`,
        '--tls',
        '--connect-timeout',
        '30s',
        'shop.orders',
      ]);
      expect(result.code).toBe(3);
      expect(result.stderr.split('\n')[0]).toMatch(
        new RegExp(`: TLS handshake with 127\\.0\\.0\\.1:${port} failed: .*TLS`),
      );
      expect(hintOf(result)).toMatch(
        /does the server use TLS on that port\? if not, leave out --tls/,
      );
    } finally {
      await close(plain, sockets);
    }
  }, 40_000);

  test('--tls and a certificate no CA given vouches for: names the certificate problem', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '2',
          '-keyout',
          key,
          '-out',
          cert,
          '-subj',
          '/CN=localhost',
        ],
        { stdio: 'ignore' },
      );
    } catch {
      console.log('skipping: openssl is needed to make a self-signed certificate');
      return;
    }
    const sockets: Socket[] = [];
    const secure = createTlsServer({ key: await readFile(key), cert: await readFile(cert) });
    secure.on('tlsClientError', () => undefined);
    const port = await listen(secure, sockets);
    try {
      const result = await runCli([
        '--uri',
        `mongodb://localhost:${port}/`,
        '--tls',
        '--connect-timeout',
        '30s',
        'shop.orders',
      ]);
      expect(result.code).toBe(3);
      expect(result.stderr.split('\n')[0]).toMatch(
        new RegExp(`: TLS handshake with localhost:${port} failed: self[- ]signed certificate`),
      );
      expect(hintOf(result)).toMatch(/^--tls-ca-file names the CA that signed/);
    } finally {
      await close(secure, sockets);
    }
  }, 40_000);

  test('a wrong password: authentication failed, with the hint for credentials', async () => {
    const server = await startTestServer({ auth: [{ user: 'root', password: 'right-pw' }] });
    try {
      const result = await runCli([
        '--uri',
        server.uri,
        '-u',
        'root',
        '-p',
        'wrong-pw',
        '--connect-timeout',
        '30s',
        'shop.orders',
      ]);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/^mongo-tail: authentication failed as root on mongodb:\/\//);
      expect(result.stderr).not.toContain('wrong-pw');
      expect(hintOf(result)).toMatch(/^check --username, --password and --auth-source/);
    } finally {
      await server.stop();
    }
  }, 40_000);
});

describe('what a server monitor saw → the cause', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  });
  test.each<[string, unknown, ServerSeen['kind']]>([
    ['refused', refused, 'refused'],
    [
      'no such host',
      Object.assign(new Error('getaddrinfo ENOTFOUND db'), { code: 'ENOTFOUND' }),
      'unresolved',
    ],
    [
      'no route',
      Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' }),
      'unreachable',
    ],
    [
      'a certificate',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'tls',
    ],
    [
      'closed in the handshake',
      new Error('Client network socket disconnected before secure TLS connection was established'),
      'tls',
    ],
    ['a timeout: may pass', new Error('connection timed out'), 'waiting'],
    [
      'a reset: may pass',
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      'waiting',
    ],
  ])('%s', (_, failure, kind) => {
    expect(seenInFailure(failure).kind).toBe(kind);
  });

  test('hello replies against the replicaSet asked for', () => {
    expect(seenInHello({ setName: 'rs0' }, 'rs0')).toEqual({ kind: 'fine' });
    expect(seenInHello({ setName: 'rs1' }, 'rs0')).toEqual({ kind: 'otherSet', setName: 'rs1' });
    expect(seenInHello({}, 'rs0')).toEqual({ kind: 'standalone' });
    expect(seenInHello({ isreplicaset: true }, 'rs0')).toEqual({ kind: 'ghost' });
    expect(seenInHello({ msg: 'isdbgrid' }, 'rs0')).toEqual({ kind: 'mongos' });
    // Without replicaSet= the driver finds out what it is talking to.
    expect(seenInHello({}, undefined)).toEqual({ kind: 'fine' });
  });

  test('each cause has its own hint, and none is the one for credentials', () => {
    const causes: ServerSeen[] = [
      { kind: 'refused', detail: 'connect ECONNREFUSED' },
      { kind: 'unresolved', detail: 'getaddrinfo ENOTFOUND db1' },
      { kind: 'unreachable', detail: 'connect EHOSTUNREACH' },
      { kind: 'tls', detail: 'Client network socket disconnected before secure TLS connection' },
      { kind: 'tls', detail: 'self-signed certificate' },
      { kind: 'tls', detail: "Hostname/IP does not match certificate's altnames" },
      { kind: 'otherSet', setName: 'rs1' },
      { kind: 'standalone' },
      { kind: 'ghost' },
      { kind: 'mongos' },
    ];
    const hints = causes.map(
      (seen) => explainServers(new Map([['db1:27017', seen]]), 'mongodb://db1/', 'rs0')?.hint,
    );
    const auth = toConnectError(new MongoServerError({ code: 18, errmsg: 'x' }), {
      uri: 'mongodb://db1/',
    });
    hints.push((auth as ConnectError).hint);
    hints.push(UNREACHABLE_HINT);
    for (const hint of hints) expect(hint).toMatch(/\w/);
    expect(new Set(hints).size).toBe(hints.length);
  });

  test('several servers: the likeliest mistake first, its hint, passwords masked', () => {
    const seen = new Map<string, ServerSeen>([
      ['db1:27017', { kind: 'waiting', detail: 'connection timed out' }],
      ['db2:27017', { kind: 'refused', detail: 'x' }],
      ['db3:27017', { kind: 'otherSet', setName: 'rs1' }],
    ]);
    const error = explainServers(seen, 'mongodb://alice:pw1234@db1,db2,db3/?replicaSet=rs0', 'rs0');
    expect(error?.message).toBe(
      'cannot connect to mongodb://alice:****@db1,db2,db3/?replicaSet=rs0: ' +
        "db3:27017 is a member of replica set 'rs1', not 'rs0'; " +
        'nothing listens on db2:27017 (connection refused); db1:27017: connection timed out',
    );
    expect(error?.hint).toBe('fix replicaSet= in the connection string: replicaSet=rs1');
    // Only causes that may pass: no verdict (the driver's own timeout message stays).
    seen.delete('db2:27017');
    seen.delete('db3:27017');
    expect(explainServers(seen, 'mongodb://db1/', undefined)).toBeUndefined();
  });
});

describe('a namespace that does not exist (yet): a note, not an error', () => {
  test('a typo in the collection: the note names the collections there; -q silences it', async () => {
    const db = uniqueDbName('friction');
    await client.db(db).collection('orders').insertOne({ x: 1 });
    await client.db(db).collection('users').insertOne({ x: 1 });
    const args = ['--uri', testUri(), '--idle-timeout', '300ms'];
    const typo = await runCli([...args, `${db}.ordrs`]);
    expect(typo.code).toBe(0);
    expect(typo.stderr.split('\n')[0]).toBe(
      `mongo-tail: ${db}.ordrs does not exist (yet); waiting for it. Collections in ${db}: orders, users`,
    );
    const quiet = await runCli([...args, '-q', `${db}.ordrs`]);
    expect(quiet).toEqual({ code: 0, stdout: '', stderr: '' });
    // What exists gets no note; nor does the whole deployment.
    const there = await runCli([...args, `${db}.orders`]);
    const all = await runCli([...args, '--until', 'now']);
    for (const result of [there, all]) expect(result.stderr).not.toMatch(/exist|no collections/);
    await client.db(db).dropDatabase();
  }, 30_000);

  test('a database with no collections: the note says so', async () => {
    const db = uniqueDbName('friction');
    const result = await runCli(['--uri', testUri(), '--idle-timeout', '300ms', db]);
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(
      `mongo-tail: database ${db} has no collections (yet)`,
    );
  }, 30_000);
});
