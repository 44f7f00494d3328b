import { type Document, Double, Int32, Long, ObjectId, Timestamp } from 'bson';
import { MongoClient, MongoServerError } from 'mongodb';
import { adminCommands } from './commands/admin.js';
import { type TestServer, startTestServer } from './index.js';
import type { CommandContext, ConnectionInfo, ServerState } from './types.js';
import { WireClient } from './wire-client.js';
import type { OpMsg } from './wire.js';

/** A server state with just enough in it for admin handlers, no sockets. */
function fakeState(topology: 'replset' | 'standalone'): ServerState {
  const ts = new Timestamp({ t: 1_700_000_000, i: 3 });
  return {
    topology,
    ...(topology === 'replset' ? { setName: 'rs0' } : {}),
    me: '127.0.0.1:1234',
    storage: { getCollection: () => undefined, listDatabases: () => [], listCollections: () => [] },
    oplog: {
      append: () => {
        throw new Error('not used');
      },
      lastTimestamp: ts,
      first: undefined,
      truncate: () => undefined,
    },
    cursors: {
      nextId: () => Long.ONE,
      add: () => undefined,
      get: () => undefined,
      remove: () => false,
    },
  };
}

function ctxFor(
  server: ServerState,
  connection: ConnectionInfo = { id: 7, closed: false },
): CommandContext {
  return { db: 'admin', server, connection };
}

describe('admin handlers (no socket)', () => {
  test('hello on a replica set: every field clients rely on, in the real order', async () => {
    const reply = await adminCommands.hello!({ hello: 1 }, ctxFor(fakeState('replset')));
    expect(Object.keys(reply)).toEqual([
      'topologyVersion',
      'hosts',
      'setName',
      'setVersion',
      'isWritablePrimary',
      'secondary',
      'primary',
      'me',
      'electionId',
      'lastWrite',
      'maxBsonObjectSize',
      'maxMessageSizeBytes',
      'maxWriteBatchSize',
      'localTime',
      'logicalSessionTimeoutMinutes',
      'connectionId',
      'minWireVersion',
      'maxWireVersion',
      'readOnly',
      'ok',
    ]);
    expect(reply).toMatchObject({
      hosts: ['127.0.0.1:1234'],
      setName: 'rs0',
      isWritablePrimary: true,
      secondary: false,
      primary: '127.0.0.1:1234',
      me: '127.0.0.1:1234',
      readOnly: false,
    });
    expect(reply.electionId).toBeInstanceOf(ObjectId);
    expect(reply.maxWireVersion).toEqual(new Int32(25));
    expect(reply.minWireVersion).toEqual(new Int32(0));
    expect(reply.connectionId).toEqual(new Int32(7));
    expect(reply.setVersion).toEqual(new Int32(1));
    expect(reply.logicalSessionTimeoutMinutes).toEqual(new Int32(30));
    expect(reply.maxBsonObjectSize).toEqual(new Int32(16777216));
    expect(reply.maxMessageSizeBytes).toEqual(new Int32(48000000));
    expect(reply.maxWriteBatchSize).toEqual(new Int32(100000));
    expect(reply.lastWrite.opTime.ts).toEqual(new Timestamp({ t: 1_700_000_000, i: 3 }));
    expect(reply.lastWrite.lastWriteDate).toEqual(new Date(1_700_000_000_000));
    expect(reply.topologyVersion.processId).toBeInstanceOf(ObjectId);
    expect(reply.topologyVersion.counter).toEqual(Long.ZERO);
    expect(reply).not.toHaveProperty('compression');
  });

  test('isMaster says ismaster and echoes helloOk', async () => {
    const reply = await adminCommands.isMaster!(
      { isMaster: 1, helloOk: true },
      ctxFor(fakeState('replset')),
    );
    expect(reply.ismaster).toBe(true);
    expect(reply.helloOk).toBe(true);
    expect(reply).not.toHaveProperty('isWritablePrimary');
  });

  test('a standalone has no setName, hosts, me or electionId', async () => {
    const reply = await adminCommands.hello!({ hello: 1 }, ctxFor(fakeState('standalone')));
    for (const key of [
      'setName',
      'hosts',
      'me',
      'primary',
      'electionId',
      'setVersion',
      'lastWrite',
    ]) {
      expect(reply).not.toHaveProperty(key);
    }
    expect(reply.isWritablePrimary).toBe(true);
    expect(Object.keys(reply).slice(0, 2)).toEqual(['isWritablePrimary', 'topologyVersion']);
    expect(reply.logicalSessionTimeoutMinutes).toEqual(new Int32(30));
  });

  test('the handshake records client.application.name once', async () => {
    const conn: ConnectionInfo = { id: 1, closed: false };
    const state = fakeState('replset');
    await adminCommands.isMaster!(
      { isMaster: 1, client: { application: { name: 'tailer' } } },
      ctxFor(state, conn),
    );
    expect(conn.appName).toBe('tailer');
    await adminCommands.hello!(
      { hello: 1, client: { application: { name: 'other' } } },
      ctxFor(state, conn),
    );
    expect(conn.appName).toBe('tailer');
  });

  test('getParameter: featureCompatibilityVersion, *, and unknown names', async () => {
    const ctx = ctxFor(fakeState('replset'));
    expect(
      await adminCommands.getParameter!({ getParameter: 1, featureCompatibilityVersion: 1 }, ctx),
    ).toEqual({
      featureCompatibilityVersion: { version: '8.0' },
      ok: new Double(1),
    });
    const all = await adminCommands.getParameter!({ getParameter: '*' }, ctx);
    expect(all.featureCompatibilityVersion).toEqual({ version: '8.0' });
    expect(Object.keys(all).length).toBeGreaterThan(2);
    // Unknown names among known ones are ignored; only unknown ones is error 72.
    const mixed = await adminCommands.getParameter!({ getParameter: 1, nope: 1, logLevel: 1 }, ctx);
    expect(Object.keys(mixed)).toEqual(['logLevel', 'ok']);
    expect(() => adminCommands.getParameter!({ getParameter: 1, nope: 1 }, ctx)).toThrow(
      expect.objectContaining({ code: 72, message: 'no option found to get' }),
    );
  });

  test('replSetGetStatus: a PRIMARY member on a replica set, 76 on a standalone', async () => {
    const reply = await adminCommands.replSetGetStatus!(
      { replSetGetStatus: 1 },
      ctxFor(fakeState('replset')),
    );
    expect(reply.set).toBe('rs0');
    expect(reply.myState).toEqual(new Int32(1));
    expect(reply.members).toHaveLength(1);
    expect(reply.members[0]).toMatchObject({
      name: '127.0.0.1:1234',
      stateStr: 'PRIMARY',
      self: true,
    });
    expect(() =>
      adminCommands.replSetGetStatus!({ replSetGetStatus: 1 }, ctxFor(fakeState('standalone'))),
    ).toThrow(expect.objectContaining({ code: 76, message: 'not running with --replSet' }));
  });

  test('getLog startupWarnings is empty; unknown logs are an error', async () => {
    const ctx = ctxFor(fakeState('replset'));
    expect(await adminCommands.getLog!({ getLog: 'startupWarnings' }, ctx)).toEqual({
      totalLinesWritten: new Int32(0),
      log: [],
      ok: new Double(1),
    });
    expect((await adminCommands.getLog!({ getLog: '*' }, ctx)).names).toContain('startupWarnings');
    expect(() => adminCommands.getLog!({ getLog: 'nope' }, ctx)).toThrow();
  });
});

describe.each(['replset', 'standalone'] as const)(
  'the %s server through the driver',
  (topology) => {
    let server: TestServer;
    let client: MongoClient;

    beforeAll(async () => {
      server = await startTestServer({ topology });
      client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
      await client.connect();
    });
    afterAll(async () => {
      await client.close();
      await server.stop();
    });

    test('uri matches the topology', () => {
      expect(server.uri).toBe(
        topology === 'replset'
          ? `mongodb://127.0.0.1:${server.port}/?replicaSet=rs0`
          : `mongodb://127.0.0.1:${server.port}/`,
      );
    });

    test('hello as the driver sees it', async () => {
      const hello = await client.db('admin').command({ hello: 1 });
      expect(hello.isWritablePrimary).toBe(true);
      expect(hello.maxWireVersion).toBe(25);
      expect(hello.minWireVersion).toBe(0);
      if (topology === 'replset') {
        expect(hello.setName).toBe('rs0');
        expect(hello.hosts).toEqual([`127.0.0.1:${server.port}`]);
        expect(hello.me).toBe(`127.0.0.1:${server.port}`);
        // The driver decodes with its own copy of bson: compare by BSON type, not by class.
        expect(hello.$clusterTime.clusterTime._bsontype).toBe('Timestamp');
        expect(hello.operationTime._bsontype).toBe('Timestamp');
      } else {
        expect(hello.setName).toBeUndefined();
        expect(hello.$clusterTime).toBeUndefined();
        expect(hello.operationTime).toBeUndefined();
      }
    });

    test('buildInfo reports MongoDB 8.0.4', async () => {
      const info = await client.db('admin').command({ buildInfo: 1 });
      expect(info.version).toBe('8.0.4');
      expect(info.versionArray).toEqual([8, 0, 4, 0]);
      const lower = await client.db('test').command({ buildinfo: 1 });
      expect(lower.version).toBe('8.0.4');
    });

    test('unknown commands fail with 59 CommandNotFound', async () => {
      const err: unknown = await client
        .db('test')
        .command({ atlasVersion: 1 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MongoServerError);
      expect(err).toMatchObject({
        code: 59,
        codeName: 'CommandNotFound',
        message: "no such command: 'atlasVersion'",
      });
      // Command names are case-sensitive apart from the known aliases.
      await expect(client.db('test').command({ PING: 1 })).rejects.toMatchObject({ code: 59 });
    });

    test('admin-only commands refuse other databases with 13', async () => {
      await expect(
        client.db('test').command({ getParameter: 1, featureCompatibilityVersion: 1 }),
      ).rejects.toMatchObject({
        code: 13,
        codeName: 'Unauthorized',
        message: 'getParameter may only be run against the admin database.',
      });
    });

    test('the small diagnostic commands answer', async () => {
      const admin = client.db('admin');
      expect((await admin.command({ ping: 1 })).ok).toBe(1);
      expect((await admin.command({ whatsmyuri: 1 })).you).toMatch(/^127\.0\.0\.1:\d+$/);
      expect((await admin.command({ connectionStatus: 1 })).authInfo.authenticatedUsers).toEqual(
        [],
      );
      expect((await admin.command({ hostInfo: 1 })).system.hostname).toEqual(expect.any(String));
      const status = await admin.command({ serverStatus: 1 });
      expect(status.version).toBe('8.0.4');
      expect(status.connections.current).toBeGreaterThan(0);
      expect(status.repl === undefined).toBe(topology === 'standalone');
      expect((await admin.command({ listCommands: 1 })).commands.hello.adminOnly).toBe(false);
      expect((await admin.command({ endSessions: [] })).ok).toBe(1);
      const rs = admin.command({ replSetGetStatus: 1 });
      if (topology === 'replset') expect((await rs).members[0].stateStr).toBe('PRIMARY');
      else await expect(rs).rejects.toMatchObject({ code: 76, codeName: 'NoReplicationEnabled' });
    });
  },
);

describe('driver topologies and reply details', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  test.each([
    ['?replicaSet=rs0', 'ReplicaSetWithPrimary'],
    ['?directConnection=true', 'Single'],
  ])('the driver connects with %s as %s', async (query, type) => {
    const client = new MongoClient(`mongodb://127.0.0.1:${server.port}/${query}`, {
      serverSelectionTimeoutMS: 5000,
    });
    let description: string | undefined;
    client.on('topologyDescriptionChanged', (e) => {
      description = e.newDescription.type;
    });
    try {
      await client.connect();
      expect((await client.db('admin').command({ ping: 1 })).ok).toBe(1);
      expect(description).toBe(type);
    } finally {
      await client.close();
    }
  });

  test('replies carry exact types: ok is a double, $clusterTime has a zero signature', async () => {
    const c = await WireClient.connect(server.port, { exact: true });
    try {
      c.sendMsg({ ping: 1, $db: 'admin' });
      const reply = ((await c.next()) as OpMsg).body;
      expect(Object.keys(reply)).toEqual(['ok', '$clusterTime', 'operationTime']);
      expect(reply.ok).toBeInstanceOf(Double);
      const sig = (reply.$clusterTime as Document).signature as Document;
      expect(Buffer.from(sig.hash.buffer)).toEqual(Buffer.alloc(20));
      expect(sig.keyId).toEqual(Long.ZERO);
      expect(reply.operationTime).toEqual(server.state.oplog.lastTimestamp);
    } finally {
      await c.close();
    }
  });

  test('error replies carry $clusterTime and operationTime too', async () => {
    const c = await WireClient.connect(server.port);
    try {
      const reply = await c.command({ nosuch: 1, $db: 'test' });
      expect(Object.keys(reply)).toEqual([
        'ok',
        'errmsg',
        'code',
        'codeName',
        '$clusterTime',
        'operationTime',
      ]);
      expect(reply).toMatchObject({ ok: 0, code: 59, codeName: 'CommandNotFound' });
    } finally {
      await c.close();
    }
  });
});
