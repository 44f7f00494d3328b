// Authentication and authorization: the real Node driver logs in with SCRAM-SHA-256 and
// SCRAM-SHA-1 (speculatively in hello, and the long way), and gets MongoDB's errors otherwise.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Binary, Double, Int32 } from 'bson';
import { MongoClient, MongoServerError } from 'mongodb';
import { bsonToString, parseRole } from './commands/auth.js';
import { type TestServer, startTestServer } from './index.js';

let server: TestServer;
const clients: MongoClient[] = [];

beforeAll(async () => {
  server = await startTestServer({
    auth: [
      { user: 'alice', password: 'secret' },
      { user: 'bob', password: 'hunter2', roles: ['readWrite@a'] },
      { user: 'carol', password: 'pw', roles: ['read'], db: 'a' },
      { user: 'dave', password: 'pw', roles: ['readAnyDatabase'] },
    ],
  });
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

afterAll(async () => {
  await server.stop();
});

function uriFor(user: string, password: string, query = 'authSource=admin'): string {
  return `mongodb://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${server.host}:${
    server.port
  }/?${query}&replicaSet=rs0`;
}

function client(uri: string): MongoClient {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 3000 });
  clients.push(c);
  return c;
}

describe('SCRAM with the Node driver', () => {
  test.each(['', '&authMechanism=SCRAM-SHA-256', '&authMechanism=SCRAM-SHA-1'])(
    'alice logs in (%s) and reads and writes',
    async (mech) => {
      const c = client(uriFor('alice', 'secret', `authSource=admin${mech}`));
      const coll = c.db(`auth_any${mech.replace(/\W/g, '')}`).collection<{ _id: number }>('x');
      await coll.insertOne({ _id: 1 });
      expect(await coll.find().toArray()).toEqual([{ _id: 1 }]);
      const status = await c.db('admin').command({ connectionStatus: 1 });
      expect(status.authInfo).toEqual({
        authenticatedUsers: [{ user: 'alice', db: 'admin' }],
        authenticatedUserRoles: [{ role: 'root', db: 'admin' }],
      });
    },
  );

  test.each(['SCRAM-SHA-256', 'SCRAM-SHA-1'])(
    'a wrong password fails with 18 AuthenticationFailed (%s)',
    async (mech) => {
      const c = client(uriFor('alice', 'wrong', `authSource=admin&authMechanism=${mech}`));
      const err = await c.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MongoServerError);
      expect((err as MongoServerError).code).toBe(18);
      expect((err as MongoServerError).codeName).toBe('AuthenticationFailed');
      expect((err as MongoServerError).message).toBe('Authentication failed.');
    },
  );

  test('an unknown user fails with 18 too', async () => {
    const err = await client(uriFor('mallory', 'secret'))
      .connect()
      .catch((e: unknown) => e);
    expect((err as MongoServerError).code).toBe(18);
  });

  test('a user of another authSource logs in there', async () => {
    const c = client(uriFor('carol', 'pw', 'authSource=a'));
    await c.db('a').command({ ping: 1 });
    expect(await c.db('a').collection('x').countDocuments()).toBe(0);
  });
});

describe('authorization', () => {
  test('without credentials, find fails with 13 Unauthorized and ping works', async () => {
    const c = client(server.uri);
    expect((await c.db('admin').command({ ping: 1 })).ok).toBe(1);
    const err = await c
      .db('a')
      .collection<{ _id: number }>('x')
      .findOne({})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(13);
    expect((err as MongoServerError).codeName).toBe('Unauthorized');
    expect((err as MongoServerError).message).toBe('command find requires authentication');
  });

  test('a user limited to db a follows a change stream on a but not on b', async () => {
    const c = client(uriFor('bob', 'hunter2'));
    const onA = c.db('a').collection('events').watch([], { maxAwaitTimeMS: 100 });
    await onA.tryNext();
    await c.db('a').collection<{ _id: number }>('events').insertOne({ _id: 7 });
    const change = await onA.next();
    expect(change.operationType).toBe('insert');
    await onA.close();

    const onB = c.db('b').collection('events').watch();
    const err = await onB.tryNext().catch((e: unknown) => e);
    await onB.close();
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).code).toBe(13);
    expect((err as MongoServerError).message).toMatch(
      /^not authorized on b to execute command \{ aggregate: "events", pipeline: \[ \{ \$changeStream: \{\} \} \], /,
    );
    expect((err as MongoServerError).message).toMatch(/\$db: "b" \}$/);
  });

  test('read on a may read a but not write it', async () => {
    const c = client(uriFor('carol', 'pw', 'authSource=a'));
    const err = await c
      .db('a')
      .collection<{ _id: number }>('x')
      .insertOne({ _id: 1 })
      .catch((e: unknown) => e);
    expect((err as MongoServerError).code).toBe(13);
    expect((err as MongoServerError).message).toMatch(
      /^not authorized on a to execute command \{ insert: "x"/,
    );
  });

  test('readAnyDatabase reads any database but local (the oplog) and config', async () => {
    const c = client(uriFor('dave', 'pw'));
    expect(await c.db('a').collection('x').find().toArray()).toEqual([]);
    for (const db of ['local', 'config']) {
      const err = await c
        .db(db)
        .collection('oplog.rs')
        .findOne({})
        .catch((e: unknown) => e);
      expect((err as MongoServerError).code).toBe(13);
    }
  });

  test('a cluster-wide change stream needs more than one database', async () => {
    const c = client(uriFor('bob', 'hunter2'));
    const cs = c.watch();
    const err = await cs.tryNext().catch((e: unknown) => e);
    await cs.close();
    expect((err as MongoServerError).code).toBe(13);
  });
});

describe('the handshake', () => {
  test('hello lists saslSupportedMechs for a known user only', async () => {
    const c = client(server.uri);
    const known = await c.db('admin').command({ hello: 1, saslSupportedMechs: 'admin.alice' });
    expect(known.saslSupportedMechs).toEqual(['SCRAM-SHA-1', 'SCRAM-SHA-256']);
    const unknown = await c.db('admin').command({ hello: 1, saslSupportedMechs: 'admin.nobody' });
    expect(unknown.saslSupportedMechs).toBeUndefined();
  });

  test('a speculativeAuthenticate for a known user gets the server-first message', async () => {
    const c = client(server.uri);
    const reply = await c.db('admin').command({
      hello: 1,
      speculativeAuthenticate: {
        saslStart: 1,
        mechanism: 'SCRAM-SHA-1',
        payload: new Binary(Buffer.from('n,,n=alice,r=abc')),
        options: { skipEmptyExchange: true },
        db: 'admin',
      },
    });
    const spec = reply.speculativeAuthenticate as {
      conversationId: number;
      done: boolean;
      payload: Binary;
    };
    expect({ conversationId: spec.conversationId, done: spec.done }).toEqual({
      conversationId: 1,
      done: false,
    });
    expect(Buffer.from(spec.payload.buffer).toString()).toMatch(/^r=abc[^,]+,s=[^,]+,i=10000$/);
  });

  test('a failing speculativeAuthenticate is left out of the reply', async () => {
    const c = client(server.uri);
    const reply = await c.db('admin').command({
      hello: 1,
      speculativeAuthenticate: {
        saslStart: 1,
        mechanism: 'SCRAM-SHA-256',
        payload: new Binary(Buffer.from('n,,n=nobody,r=abc')),
        db: 'admin',
      },
    });
    expect(reply.speculativeAuthenticate).toBeUndefined();
  });
});

describe('pieces', () => {
  test('parseRole', () => {
    expect(parseRole('readWrite@a', 'admin')).toEqual({ role: 'readWrite', db: 'a' });
    expect(parseRole('read', 'x')).toEqual({ role: 'read', db: 'x' });
    expect(parseRole('root', 'x')).toEqual({ role: 'root', db: 'admin' });
    expect(() => parseRole('dbOwner@a', 'admin')).toThrow(/unknown role 'dbOwner@a'/);
  });

  test('bsonToString writes like BSONObj::toString', () => {
    expect(
      bsonToString({ a: 'x', n: new Int32(1), d: new Double(2), e: [], o: {}, l: [1, true] }),
    ).toBe('{ a: "x", n: 1, d: 2.0, e: [], o: {}, l: [ 1, true ] }');
  });

  test('startTestServer refuses an unknown role', async () => {
    await expect(
      startTestServer({ auth: [{ user: 'x', password: 'y', roles: ['god'] }] }),
    ).rejects.toThrow(/unknown role 'god'/);
  });
});

describe('npm run test-server -- --auth', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url));

  /** Runs main.ts with `args` until it prints its URI (then stops it) or exits by itself. */
  function runMain(
    args: string[],
    withUri: (uri: string) => Promise<void> = async () => undefined,
  ): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', './test/register.mjs', 'test/server/main.ts', '--port', '0', ...args],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('\n')) return;
        withUri(out.split('\n')[0]!).then(
          () => child.kill('SIGTERM'),
          (e: unknown) => {
            child.kill('SIGTERM');
            reject(e as Error);
          },
        );
      });
      child.once('close', (code) => resolve({ code, stderr }));
    });
  }

  test('--auth user:password:roles starts a server that requires that login', async () => {
    const run = await runMain(['--auth', 'dave:pa:ss:readWrite@a,read@b'], async (uri) => {
      const withCreds = uri.replace('mongodb://', 'mongodb://dave:pa%3Ass@');
      const c = client(withCreds);
      await c.db('a').collection<{ _id: number }>('x').insertOne({ _id: 1 });
      const err = await c
        .db('b')
        .collection<{ _id: number }>('x')
        .insertOne({ _id: 1 })
        .catch((e: unknown) => e);
      expect((err as MongoServerError).code).toBe(13);
    });
    expect(run).toEqual({ code: 0, stderr: '' });
  }, 20_000);

  test('an unknown role exits 2 naming it', async () => {
    const run = await runMain(['--auth', 'dave:pw:owner']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^test-server: --auth: unknown role 'owner'/);
  }, 20_000);
});
