// Server-level commands the official clients send besides CRUD: the handshake, ping, version and
// parameter probes (mongosh, pymongo), sessions, and a minimal status for people poking around.
import * as os from 'node:os';
import { type Document, Double, Int32, Long } from 'bson';
import { awaitHello } from '../awaitable-hello.js';
import { fail } from '../errors.js';
import {
  MAX_BSON_OBJECT_SIZE,
  SERVER_VERSION,
  TERM,
  VERSION_ARRAY,
  helloReply,
  opTime,
  timestampDate,
  topologyOf,
} from '../topology.js';
import type { CommandContext, CommandHandler } from '../types.js';

const ok = (fields: Document = {}): Document => ({ ...fields, ok: new Double(1) });

// An awaitable hello (topologyVersion + maxAwaitTimeMS) waits first, then reports the state then.
const hello: CommandHandler = async (cmd, ctx) => {
  await awaitHello(cmd, ctx);
  return helloReply(cmd, ctx, false);
};
const isMaster: CommandHandler = async (cmd, ctx) => {
  await awaitHello(cmd, ctx);
  return helloReply(cmd, ctx, true);
};

const ping: CommandHandler = () => ok();

const buildInfo: CommandHandler = () =>
  ok({
    version: SERVER_VERSION,
    // Not a real commit: this is the project's test server, and nothing parses this field.
    gitVersion: 'mongo-tail-test-server',
    modules: [],
    allocator: 'system',
    javascriptEngine: 'none',
    sysInfo: 'deprecated',
    versionArray: VERSION_ARRAY.map((n) => new Int32(n)),
    bits: new Int32(64),
    debug: false,
    maxBsonObjectSize: new Int32(MAX_BSON_OBJECT_SIZE),
    storageEngines: ['inMemory'],
  });

/** The server parameters `getParameter` knows, by name. */
const PARAMETERS: Readonly<Record<string, () => unknown>> = {
  featureCompatibilityVersion: () => ({ version: '8.0' }),
  logLevel: () => new Int32(0),
  quiet: () => false,
  maxBSONDepth: () => new Int32(200),
  enableTestCommands: () => true,
};

// Like mongod: `getParameter: '*'` returns every parameter; otherwise each named field that is a
// known parameter, and error 72 when none is.
const getParameter: CommandHandler = (cmd) => {
  const all = cmd.getParameter === '*';
  const reply: Document = {};
  for (const [name, value] of Object.entries(PARAMETERS)) {
    if (all || Object.prototype.hasOwnProperty.call(cmd, name)) reply[name] = value();
  }
  if (Object.keys(reply).length === 0) fail(72, 'no option found to get');
  return ok(reply);
};

// Sessions live in the client; the server keeps none, so ending them is a no-op. Drivers send
// it with moreToCome (the connection then writes no reply).
const endSessions: CommandHandler = () => ok();

const hostInfo: CommandHandler = () =>
  ok({
    system: {
      currentTime: new Date(),
      hostname: os.hostname(),
      cpuAddrSize: new Int32(64),
      memSizeMB: Long.fromNumber(Math.round(os.totalmem() / 1048576)),
      numCores: new Int32(os.cpus().length),
      cpuArch: os.arch(),
      numaEnabled: false,
    },
    os: { type: os.type(), name: os.type(), version: os.release() },
    extra: {},
  });

const whatsmyuri: CommandHandler = (_cmd, ctx) => {
  const remote: unknown = (ctx.connection as { remote?: unknown }).remote;
  return ok({ you: typeof remote === 'string' ? remote : 'unknown' });
};

const serverStatus: CommandHandler = (_cmd, ctx) => {
  const topo = topologyOf(ctx.server);
  const uptimeMillis = Date.now() - topo.startedAt.getTime();
  const reply: Document = {
    host: ctx.server.me,
    version: SERVER_VERSION,
    process: 'mongod',
    pid: Long.fromNumber(process.pid),
    uptime: new Double(Math.floor(uptimeMillis / 1000)),
    uptimeMillis: Long.fromNumber(uptimeMillis),
    uptimeEstimate: Long.fromNumber(Math.floor(uptimeMillis / 1000)),
    localTime: new Date(),
    connections: {
      current: new Int32(topo.connectionsCurrent),
      available: new Int32(Math.max(0, 1_000_000 - topo.connectionsCurrent)),
      totalCreated: new Int32(topo.connectionsCreated),
    },
  };
  if (ctx.server.topology === 'replset') {
    reply.repl = {
      hosts: [ctx.server.me],
      setName: ctx.server.setName ?? 'rs0',
      setVersion: new Int32(topo.setVersion),
      isWritablePrimary: true,
      secondary: false,
      primary: ctx.server.me,
      me: ctx.server.me,
      electionId: topo.electionId,
    };
  }
  return ok(reply);
};

const LOGS = ['global', 'startupWarnings'];

const getLog: CommandHandler = (cmd) => {
  const which: unknown = cmd.getLog;
  if (which === '*') return ok({ names: LOGS });
  if (typeof which !== 'string' || !LOGS.includes(which)) {
    fail(2, `no RamLog named: ${String(which)}`);
  }
  return ok({ totalLinesWritten: new Int32(0), log: [] });
};

const connectionStatus: CommandHandler = (cmd, ctx) => {
  const user = ctx.connection.authenticatedUser;
  const authInfo: Document = {
    authenticatedUsers: user ? [{ user: user.user, db: user.db }] : [],
    authenticatedUserRoles: user ? user.roles.map((r) => ({ role: r.role, db: r.db })) : [],
  };
  if (cmd.showPrivileges === true) authInfo.authenticatedUserPrivileges = [];
  return ok({ authInfo });
};

const replSetGetStatus: CommandHandler = (_cmd, ctx: CommandContext) => {
  const { server } = ctx;
  if (server.topology !== 'replset') fail(76, 'not running with --replSet');
  const topo = topologyOf(server);
  const last = server.oplog.lastTimestamp;
  const lastDate = timestampDate(last);
  const now = new Date();
  const uptime = Math.floor((now.getTime() - topo.startedAt.getTime()) / 1000);
  return ok({
    set: server.setName ?? 'rs0',
    date: now,
    myState: new Int32(1),
    term: Long.fromNumber(TERM),
    syncSourceHost: '',
    syncSourceId: new Int32(-1),
    heartbeatIntervalMillis: Long.fromNumber(2000),
    majorityVoteCount: new Int32(1),
    writeMajorityCount: new Int32(1),
    votingMembersCount: new Int32(1),
    writableVotingMembersCount: new Int32(1),
    optimes: {
      lastCommittedOpTime: opTime(last),
      lastCommittedWallTime: lastDate,
      readConcernMajorityOpTime: opTime(last),
      appliedOpTime: opTime(last),
      durableOpTime: opTime(last),
      lastAppliedWallTime: lastDate,
      lastDurableWallTime: lastDate,
    },
    members: [
      {
        _id: new Int32(0),
        name: server.me,
        health: new Double(1),
        state: new Int32(1),
        stateStr: 'PRIMARY',
        uptime: new Int32(uptime),
        optime: opTime(last),
        optimeDate: lastDate,
        lastAppliedWallTime: lastDate,
        lastDurableWallTime: lastDate,
        syncSourceHost: '',
        syncSourceId: new Int32(-1),
        infoMessage: '',
        electionTime: last,
        electionDate: topo.startedAt,
        configVersion: new Int32(topo.setVersion),
        configTerm: new Int32(TERM),
        self: true,
        lastHeartbeatMessage: '',
      },
    ],
  });
};

/** Admin and diagnostic commands by name (aliases included). */
export const adminCommands: Record<string, CommandHandler> = {
  hello,
  isMaster,
  ismaster: isMaster,
  ping,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  endSessions,
  hostInfo,
  whatsmyuri,
  serverStatus,
  getLog,
  connectionStatus,
  replSetGetStatus,
};
