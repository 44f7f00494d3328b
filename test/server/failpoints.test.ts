import { type Document, Long } from 'bson';
import {
  type ChangeStreamDocument,
  MongoClient,
  MongoNetworkError,
  MongoServerError,
} from 'mongodb';
import { FailPoint } from './commands/failpoints.js';
import { type TestServer, startTestServer } from './index.js';
import type { ServerCursor } from './types.js';
import { WireClient } from './wire-client.js';

describe('FailPoint modes (pure)', () => {
  const always = (): boolean => true;

  test('times: fires n times, then turns itself off', () => {
    const fp = new FailPoint();
    fp.configure({ kind: 'times', remaining: 2 }, { x: 1 });
    expect(fp.fire(always)).toEqual({ x: 1 });
    expect(fp.fire(always)).toEqual({ x: 1 });
    expect(fp.fire(always)).toBeUndefined();
    expect(fp.mode.kind).toBe('off');
  });

  test('skip: lets n matches through, then fires every time', () => {
    const fp = new FailPoint();
    fp.configure({ kind: 'skip', remaining: 2 }, {});
    expect([fp.fire(always), fp.fire(always)]).toEqual([undefined, undefined]);
    expect(fp.fire(always)).toBeDefined();
    expect(fp.fire(always)).toBeDefined();
  });

  test('a predicate that does not match consumes nothing', () => {
    const fp = new FailPoint();
    fp.configure({ kind: 'times', remaining: 1 }, {});
    expect(fp.fire(() => false)).toBeUndefined();
    expect(fp.fire(always)).toBeDefined();
    const skip = new FailPoint();
    skip.configure({ kind: 'skip', remaining: 1 }, {});
    expect(skip.fire(() => false)).toBeUndefined();
    expect(skip.fire(always)).toBeUndefined();
    expect(skip.fire(always)).toBeDefined();
  });

  test('alwaysOn, off, activationProbability 0 and 1', () => {
    const fp = new FailPoint();
    expect(fp.fire(always)).toBeUndefined();
    fp.configure({ kind: 'alwaysOn' }, {});
    for (let i = 0; i < 5; i++) expect(fp.fire(always)).toBeDefined();
    fp.configure({ kind: 'probability', p: 0 }, {});
    expect(fp.fire(always)).toBeUndefined();
    fp.configure({ kind: 'probability', p: 1 }, {});
    expect(fp.fire(always)).toBeDefined();
  });

  test('configure returns how often the previous setting fired; times 0 is off', () => {
    const fp = new FailPoint();
    fp.configure({ kind: 'alwaysOn' }, {});
    fp.fire(() => true);
    fp.fire(() => true);
    expect(fp.configure({ kind: 'times', remaining: 0 }, {})).toBe(2);
    expect(fp.mode.kind).toBe('off');
  });
});

describe('fail points on a running server', () => {
  let server: TestServer;
  let admin: MongoClient;
  const extra: { close(): Promise<unknown> }[] = [];

  const configure = (name: string, mode: unknown, data: Document = {}): Promise<Document> =>
    admin.db('admin').command({ configureFailPoint: name, mode, data });
  const client = async (appName: string): Promise<MongoClient> => {
    const c = new MongoClient(server.uri, {
      appName,
      serverSelectionTimeoutMS: 5000,
      monitorCommands: true,
    });
    extra.push(c);
    await c.connect();
    return c;
  };
  const wire = async (): Promise<WireClient> => {
    const c = await WireClient.connect(server.port);
    extra.push(c);
    return c;
  };
  const codeOf = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => 'ok',
      (e: { code?: unknown }) => e.code,
    );

  beforeAll(async () => {
    server = await startTestServer();
    admin = new MongoClient(server.uri, { appName: 'fp-admin', serverSelectionTimeoutMS: 5000 });
    await admin.connect();
  });
  afterEach(async () => {
    await configure('failCommand', 'off');
    await configure('failGetMoreAfterCursorCheckout', 'off');
    await Promise.all(extra.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await admin.close();
    await server.stop();
  });

  test('errorCode with {times}: fails that many times with the real message, then passes', async () => {
    const c = await client('victim');
    expect(
      await configure('failCommand', { times: 2 }, { failCommands: ['ping'], errorCode: 8 }),
    ).toMatchObject({
      count: 0,
      ok: 1,
    });
    const err: unknown = await c
      .db('admin')
      .command({ ping: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err).toMatchObject({
      code: 8,
      codeName: 'UnknownError',
      message: "Failing command via 'failCommand' failpoint",
    });
    expect(await codeOf(c.db('admin').command({ ping: 1 }))).toBe(8);
    expect(await codeOf(c.db('admin').command({ ping: 1 }))).toBe('ok');
  });

  test('configureFailPoint answers with the count of the previous setting', async () => {
    const c = await client('counter');
    await configure('failCommand', { times: 5 }, { failCommands: ['ping'], errorCode: 2 });
    await codeOf(c.db('admin').command({ ping: 1 }));
    await codeOf(c.db('admin').command({ ping: 1 }));
    const reply = await configure('failCommand', 'off');
    expect(reply.count).toBe(2);
  });

  test('{skip}: the first n matching commands pass, later ones fail', async () => {
    const c = await client('skipper');
    await configure('failCommand', { skip: 2 }, { failCommands: ['ping'], errorCode: 2 });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await codeOf(c.db('admin').command({ ping: 1 })));
    expect(codes).toEqual(['ok', 'ok', 2, 2]);
  });

  test('alwaysOn until off; commands not listed are untouched', async () => {
    const c = await client('always');
    await configure('failCommand', 'alwaysOn', { failCommands: ['ping'], errorCode: 2 });
    for (let i = 0; i < 3; i++) expect(await codeOf(c.db('admin').command({ ping: 1 }))).toBe(2);
    expect((await c.db('admin').command({ buildInfo: 1 })).version).toBe('8.0.4');
    expect((await c.db('admin').command({ hello: 1 })).ok).toBe(1);
    await configure('failCommand', 'off');
    expect(await codeOf(c.db('admin').command({ ping: 1 }))).toBe('ok');
  });

  test('appName limits the fail point to clients with that application name', async () => {
    const victim = await client('victim-app');
    const bystander = await client('bystander-app');
    await configure('failCommand', 'alwaysOn', {
      failCommands: ['ping'],
      errorCode: 2,
      appName: 'victim-app',
    });
    expect(await codeOf(bystander.db('admin').command({ ping: 1 }))).toBe('ok');
    expect(await codeOf(victim.db('admin').command({ ping: 1 }))).toBe(2);
  });

  test('closeConnection drops the socket without a reply; the driver then reconnects', async () => {
    const c = await client('dropped');
    await configure('failCommand', { times: 1 }, { failCommands: ['ping'], closeConnection: true });
    const err: unknown = await c
      .db('admin')
      .command({ ping: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoNetworkError);
    expect((await c.db('admin').command({ ping: 1 })).ok).toBe(1);

    await configure('failCommand', { times: 1 }, { failCommands: ['ping'], closeConnection: true });
    const raw = await wire();
    raw.sendMsg({ ping: 1, $db: 'admin' });
    expect(await raw.next(1000)).toBeUndefined();
    expect(raw.isClosed).toBe(true);
  });

  test('blockConnection delays the command by blockTimeMS, then runs it (or fails it)', async () => {
    const c = await client('blocked');
    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], blockConnection: true, blockTimeMS: 500 },
    );
    let started = Date.now();
    expect((await c.db('admin').command({ ping: 1 })).ok).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(490);
    started = Date.now();
    await c.db('admin').command({ ping: 1 });
    // Unblocked again: well under the block time even on a loaded machine.
    expect(Date.now() - started).toBeLessThan(400);

    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], blockConnection: true, blockTimeMS: 200, errorCode: 2 },
    );
    started = Date.now();
    expect(await codeOf(c.db('admin').command({ ping: 1 }))).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  test('errorLabels replace the computed labels; an empty list means none', async () => {
    const raw = await wire();
    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], errorCode: 50, errorLabels: ['Custom'] },
    );
    expect(await raw.command({ ping: 1, $db: 'admin' })).toMatchObject({
      code: 50,
      errorLabels: ['Custom'],
    });
    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], errorCode: 91, errorLabels: [] },
    );
    const reply = await raw.command({ ping: 1, txnNumber: Long.ONE, $db: 'admin' });
    expect(reply.code).toBe(91);
    expect(reply).not.toHaveProperty('errorLabels');
  });

  test('computed labels: RetryableWriteError for retryable writes, ResumableChangeStreamError for a $changeStream aggregate', async () => {
    const raw = await wire();
    await configure('failCommand', { times: 1 }, { failCommands: ['insert'], errorCode: 91 });
    const write = await raw.command({
      insert: 'c',
      documents: [{ a: 1 }],
      txnNumber: Long.ONE,
      $db: 'test',
    });
    expect(write).toMatchObject({
      code: 91,
      codeName: 'ShutdownInProgress',
      errorLabels: ['RetryableWriteError'],
    });

    await configure('failCommand', { times: 1 }, { failCommands: ['aggregate'], errorCode: 91 });
    const agg = await raw.command({
      aggregate: 'c',
      pipeline: [{ $changeStream: {} }],
      cursor: {},
      $db: 'test',
    });
    expect(agg).toMatchObject({ code: 91, errorLabels: ['ResumableChangeStreamError'] });

    await configure('failCommand', { times: 1 }, { failCommands: ['aggregate'], errorCode: 91 });
    const plain = await raw.command({
      aggregate: 'c',
      pipeline: [{ $match: {} }],
      cursor: {},
      $db: 'test',
    });
    expect(plain.code).toBe(91);
    expect(plain).not.toHaveProperty('errorLabels');
  });

  test('failCommand on getMore fires before the cursor is known: no ResumableChangeStreamError', async () => {
    // As on MongoDB 4.4+ (change-streams-resume-errorLabels.json: "does not resume if error
    // does not contain ResumableChangeStreamError").
    const raw = await wire();
    await configure('failCommand', { times: 1 }, { failCommands: ['getMore'], errorCode: 6 });
    const reply = await raw.command({
      getMore: Long.fromNumber(12345),
      collection: 'c',
      $db: 'test',
    });
    expect(reply).toMatchObject({ code: 6, codeName: 'HostUnreachable' });
    expect(reply).not.toHaveProperty('errorLabels');
  });

  test('failCommands matches command aliases, and can list configureFailPoint itself', async () => {
    const raw = await wire();
    await configure('failCommand', { times: 1 }, { failCommands: ['ismaster'], errorCode: 2 });
    expect(await raw.command({ isMaster: 1, $db: 'admin' })).toMatchObject({ code: 2 });
    expect(await raw.command({ isMaster: 1, $db: 'admin' })).toMatchObject({
      ok: 1,
      ismaster: true,
    });

    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['configureFailPoint'], errorCode: 2 },
    );
    expect(await codeOf(configure('failCommand', 'off'))).toBe(2);
  });

  test('writeConcernError is attached to a successful reply, with RetryableWriteError on a retryable write', async () => {
    const raw = await wire();
    const wce = { code: 91, errmsg: 'Replication is being shut down' };
    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], writeConcernError: wce },
    );
    const reply = await raw.command({ ping: 1, $db: 'admin' });
    expect(reply).toMatchObject({ ok: 1, writeConcernError: wce });
    expect(reply).not.toHaveProperty('errorLabels');

    await configure(
      'failCommand',
      { times: 1 },
      { failCommands: ['ping'], writeConcernError: wce },
    );
    const retryable = await raw.command({ ping: 1, txnNumber: Long.ONE, $db: 'admin' });
    expect(retryable).toMatchObject({
      ok: 1,
      writeConcernError: wce,
      errorLabels: ['RetryableWriteError'],
    });
  });

  test('configureFailPoint errors: admin only, unknown fail point, bad mode', async () => {
    await expect(
      admin.db('test').command({ configureFailPoint: 'failCommand', mode: 'off' }),
    ).rejects.toMatchObject({ code: 13 });
    await expect(configure('noSuchFailPoint', 'alwaysOn')).rejects.toMatchObject({
      code: 266,
      codeName: 'FailPointSetFailed',
    });
    await expect(configure('failCommand', 'sometimes')).rejects.toMatchObject({ code: 2 });
  });

  describe('failGetMoreAfterCursorCheckout', () => {
    /** A registered cursor that answers getMore with an empty batch. */
    const fakeCursor = (isChangeStream: boolean): ServerCursor & { killed: boolean } => {
      const id = server.state.cursors.nextId();
      const cursor = {
        id,
        ns: 'test.fake',
        isChangeStream,
        killed: false,
        getMore: () => Promise.resolve({ cursor: { nextBatch: [], id, ns: 'test.fake' }, ok: 1 }),
        kill() {
          cursor.killed = true;
        },
      };
      server.state.cursors.add(cursor);
      return cursor;
    };

    test('fails a getMore on a change-stream cursor with ResumableChangeStreamError and ends the cursor', async () => {
      const raw = await wire();
      const cursor = fakeCursor(true);
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, { errorCode: 91 });
      const reply = await raw.command({ getMore: cursor.id, collection: 'fake', $db: 'test' });
      expect(reply).toMatchObject({
        ok: 0,
        code: 91,
        errmsg: "Hit the 'failGetMoreAfterCursorCheckout' failpoint",
        errorLabels: ['ResumableChangeStreamError'],
      });
      expect(cursor.killed).toBe(true);
      expect(server.state.cursors.get(cursor.id)).toBeUndefined();
    });

    test('no label for a plain cursor or a non-resumable code; InternalError when no code is given', async () => {
      const raw = await wire();
      const plain = fakeCursor(false);
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, { errorCode: 91 });
      const a = await raw.command({ getMore: plain.id, collection: 'fake', $db: 'test' });
      expect(a.code).toBe(91);
      expect(a).not.toHaveProperty('errorLabels');

      const stream = fakeCursor(true);
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, { errorCode: 2 });
      const b = await raw.command({ getMore: stream.id, collection: 'fake', $db: 'test' });
      expect(b.code).toBe(2);
      expect(b).not.toHaveProperty('errorLabels');

      const other = fakeCursor(true);
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, {});
      expect(
        await raw.command({ getMore: other.id, collection: 'fake', $db: 'test' }),
      ).toMatchObject({
        code: 1,
        codeName: 'InternalError',
      });
    });

    test('does not fire for an unknown cursor (the getMore fails with 43 instead)', async () => {
      const raw = await wire();
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, { errorCode: 91 });
      const reply = await raw.command({
        getMore: Long.fromNumber(987654),
        collection: 'fake',
        $db: 'test',
      });
      expect(reply.code).toBe(43);
      const cursor = fakeCursor(true);
      expect(
        await raw.command({ getMore: cursor.id, collection: 'fake', $db: 'test' }),
      ).toMatchObject({ code: 91 });
    });

    test('the driver resumes a change stream after it, losing no event', async () => {
      const c = await client('resumer');
      const coll = c.db('fp').collection<{ n: number }>('resume');
      await coll.insertOne({ n: 0 });
      const stream = coll.watch();
      extra.push(stream);
      const commands: string[] = [];
      c.on('commandStarted', (e) => commands.push(e.commandName));
      await stream.tryNext();
      commands.length = 0;
      await configure('failGetMoreAfterCursorCheckout', { times: 1 }, { errorCode: 10107 });
      await coll.insertOne({ n: 1 });
      const event = (await stream.next()) as ChangeStreamDocument<{ n: number }>;
      expect(event.operationType).toBe('insert');
      expect(event.operationType === 'insert' && event.fullDocument.n).toBe(1);
      // The resume: a getMore failed, then a new aggregate.
      const resumeAt = commands.indexOf('aggregate');
      expect(resumeAt).toBeGreaterThan(0);
      expect(commands.slice(0, resumeAt)).toContain('getMore');
    });
  });

  test('a failCommand getMore error without the label is not resumed by the driver', async () => {
    const c = await client('no-resume');
    const coll = c.db('fp').collection('noresume');
    await coll.insertOne({ n: 0 });
    const stream = coll.watch();
    extra.push(stream);
    await stream.tryNext();
    await configure('failCommand', { times: 1 }, { failCommands: ['getMore'], errorCode: 6 });
    await coll.insertOne({ n: 1 });
    await expect(stream.next()).rejects.toMatchObject({ code: 6 });
  });
});
