// The dispatcher without sockets: a hand-made server state, command bodies in, reply bodies out.
import { type Document, Double, Long, Timestamp } from 'bson';
import { jest } from '@jest/globals';
import { CLOSE_CONNECTION, dispatch, dispatchLegacy, dispatchMsg } from './dispatch.js';
import { failPointsOf } from './commands/failpoints.js';
import type { CommandContext, ConnectionInfo, ServerState } from './types.js';

const TS = new Timestamp({ t: 1_700_000_000, i: 9 });

function fakeState(
  topology: 'replset' | 'standalone',
  lastTimestamp: () => Timestamp = () => TS,
): ServerState {
  return {
    topology,
    ...(topology === 'replset' ? { setName: 'rs0' } : {}),
    me: '127.0.0.1:1',
    storage: { getCollection: () => undefined, listDatabases: () => [], listCollections: () => [] },
    oplog: {
      append: () => {
        throw new Error('not used');
      },
      get lastTimestamp() {
        return lastTimestamp();
      },
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

const conn = (): ConnectionInfo => ({ id: 1, closed: false });
const ctx = (server: ServerState, db = 'admin'): CommandContext => ({
  db,
  server,
  connection: conn(),
});
const run = async (body: Document, c: CommandContext): Promise<Document> => {
  const reply = await dispatch(body, c);
  if (reply === CLOSE_CONNECTION) throw new Error('unexpected close');
  return reply;
};

describe('dispatch', () => {
  afterEach(() => {
    delete process.env.MONGO_TAIL_TEST_SERVER_DEBUG;
    jest.restoreAllMocks();
  });

  test('the first key names the command; unknown names get 59 with cluster time', async () => {
    const reply = await run({ frobnicate: 1, ping: 1 }, ctx(fakeState('replset')));
    expect(reply).toEqual({
      ok: new Double(0),
      errmsg: "no such command: 'frobnicate'",
      code: expect.objectContaining({ value: 59 }),
      codeName: 'CommandNotFound',
      $clusterTime: { clusterTime: TS, signature: expect.any(Object) },
      operationTime: TS,
    });
  });

  test('a standalone reply carries no $clusterTime or operationTime', async () => {
    const reply = await run({ ping: 1 }, ctx(fakeState('standalone')));
    expect(reply).toEqual({ ok: new Double(1) });
  });

  test('an exception that is not a ServerError becomes 1 InternalError, logged only when debugging', async () => {
    const errorLog = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    let calls = 0;
    // hello reads the oplog's time once; the failure must come from inside the handler.
    const state = fakeState('replset', () => {
      calls++;
      if (calls === 1) throw new TypeError('boom');
      return TS;
    });
    const reply = await run({ hello: 1 }, ctx(state));
    expect(reply).toMatchObject({ ok: new Double(0), errmsg: 'boom', codeName: 'InternalError' });
    expect(reply.code.valueOf()).toBe(1);
    expect(errorLog).not.toHaveBeenCalled();

    process.env.MONGO_TAIL_TEST_SERVER_DEBUG = '1';
    calls = 0;
    await run({ hello: 1 }, ctx(state));
    expect(errorLog).toHaveBeenCalledTimes(1);
  });

  test('dispatchMsg requires $db; dispatchLegacy only takes the handshake', async () => {
    const state = fakeState('replset');
    expect(await dispatchMsg({ ping: 1 }, state, conn())).toMatchObject({
      errmsg: 'OP_MSG requests require a $db argument',
    });
    expect(await dispatchMsg({ ping: 1, $db: 'x' }, state, conn())).toMatchObject({
      ok: new Double(1),
    });
    expect(
      await dispatchLegacy('admin.$cmd', { $query: { ismaster: 1 } }, state, conn()),
    ).toMatchObject({
      ismaster: true,
    });
    expect(await dispatchLegacy('admin.$cmd', { ping: 1 }, state, conn())).toMatchObject({
      codeName: 'UnsupportedOpQueryCommand',
    });
    expect(await dispatchLegacy('test.coll', { isMaster: 1 }, state, conn())).toMatchObject({
      codeName: 'UnsupportedOpQueryCommand',
    });
  });

  test('a closeConnection fail point yields CLOSE_CONNECTION instead of a reply', async () => {
    const state = fakeState('replset');
    failPointsOf(state).failCommand.configure(
      { kind: 'times', remaining: 1 },
      { failCommands: ['ping'], closeConnection: true },
    );
    expect(await dispatch({ ping: 1 }, ctx(state))).toBe(CLOSE_CONNECTION);
    expect(await dispatch({ ping: 1 }, ctx(state))).toMatchObject({ ok: new Double(1) });
  });

  test('an error with code 286 gets NonResumableChangeStreamError', async () => {
    const state = fakeState('replset');
    failPointsOf(state).failCommand.configure(
      { kind: 'times', remaining: 1 },
      { failCommands: ['ping'], errorCode: 286 },
    );
    expect(await run({ ping: 1 }, ctx(state))).toMatchObject({
      code: expect.objectContaining({ value: 286 }),
      codeName: 'ChangeStreamHistoryLost',
      errorLabels: ['NonResumableChangeStreamError'],
    });
  });
});
