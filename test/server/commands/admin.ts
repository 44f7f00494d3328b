// Server-level commands the official clients send besides CRUD: the handshake, ping, version and
// parameter probes (mongosh, pymongo), sessions, and a minimal status for people poking around.
import * as os from 'node:os';
import { type Document, Double, Int32, Long } from 'bson';
import { awaitHello } from '../awaitable-hello.js';
import { fail } from '../errors.js';
import {
  MAX_BSON_OBJECT_SIZE,
  SERVER_VERSION,
  VERSION_ARRAY,
  helloReply,
  opTime,
  timestampDate,
  topologyOf,
} from '../topology.js';
import type { Member } from '../topology/replset.js';
import type { CommandContext, CommandHandler } from '../types.js';
import { toNumber } from '../values.js';

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
    const set = topo.member?.set;
    const primary = set ? set.primary?.host : ctx.server.me;
    reply.repl = {
      hosts: set ? set.hosts : [ctx.server.me],
      setName: ctx.server.setName ?? 'rs0',
      setVersion: new Int32(topo.setVersion),
      isWritablePrimary: topo.writable,
      secondary: !topo.writable,
      ...(primary !== undefined ? { primary } : {}),
      me: ctx.server.me,
      ...(topo.writable ? { electionId: topo.electionId } : {}),
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

const STATE_CODES = { PRIMARY: 1, SECONDARY: 2 } as const;

const replSetGetStatus: CommandHandler = (_cmd, ctx: CommandContext) => {
  const { server } = ctx;
  if (server.topology !== 'replset') fail(76, 'not running with --replSet');
  const topo = topologyOf(server);
  const last = server.oplog.lastTimestamp;
  const lastDate = timestampDate(last);
  const now = new Date();
  const uptime = Math.floor((now.getTime() - topo.startedAt.getTime()) / 1000);
  const set = topo.member?.set;
  const term = topo.term;
  const voters = set ? set.members.length : 1;
  const majority = Math.floor(voters / 2) + 1;
  const primaryHost = set ? set.primary?.host : server.me;
  // Members as this one sees them: itself, then the others through their heartbeats. All
  // share one oplog, so every optime is the newest.
  const entry = (member: Member | undefined): Document => {
    const self = member === undefined || member.state === server;
    const role = member?.role ?? 'PRIMARY';
    const syncSource = role === 'SECONDARY' && primaryHost !== undefined ? primaryHost : '';
    const doc: Document = {
      _id: new Int32(member?.id ?? 0),
      name: member?.host ?? server.me,
      health: new Double(1),
      state: new Int32(STATE_CODES[role]),
      stateStr: role,
      uptime: new Int32(uptime),
      optime: opTime(last, term),
    };
    if (!self) doc.optimeDurable = opTime(last, term);
    doc.optimeDate = lastDate;
    if (!self) doc.optimeDurableDate = lastDate;
    doc.lastAppliedWallTime = lastDate;
    doc.lastDurableWallTime = lastDate;
    if (!self) {
      doc.lastHeartbeat = now;
      doc.lastHeartbeatRecv = now;
      doc.pingMs = Long.ZERO;
      doc.lastHeartbeatMessage = '';
    }
    doc.syncSourceHost = syncSource;
    doc.syncSourceId = new Int32(
      syncSource === '' ? -1 : (set?.members.find((m) => m.host === syncSource)?.id ?? -1),
    );
    doc.infoMessage = '';
    if (role === 'PRIMARY') {
      doc.electionTime = member?.electionTime ?? last;
      doc.electionDate = member?.electionDate ?? topo.startedAt;
    }
    doc.configVersion = new Int32(topo.setVersion);
    doc.configTerm = new Int32(term);
    if (self) {
      doc.self = true;
      doc.lastHeartbeatMessage = '';
    }
    return doc;
  };
  const mine = topo.member;
  const mySync = mine?.role === 'SECONDARY' && primaryHost !== undefined ? primaryHost : '';
  return ok({
    set: server.setName ?? 'rs0',
    date: now,
    myState: new Int32(STATE_CODES[mine?.role ?? 'PRIMARY']),
    term: Long.fromNumber(term),
    syncSourceHost: mySync,
    syncSourceId: new Int32(
      mySync === '' ? -1 : (set?.members.find((m) => m.host === mySync)?.id ?? -1),
    ),
    heartbeatIntervalMillis: Long.fromNumber(2000),
    majorityVoteCount: new Int32(majority),
    writeMajorityCount: new Int32(majority),
    votingMembersCount: new Int32(voters),
    writableVotingMembersCount: new Int32(voters),
    optimes: {
      lastCommittedOpTime: opTime(last, term),
      lastCommittedWallTime: lastDate,
      readConcernMajorityOpTime: opTime(last, term),
      appliedOpTime: opTime(last, term),
      durableOpTime: opTime(last, term),
      lastAppliedWallTime: lastDate,
      lastDurableWallTime: lastDate,
    },
    members: set ? set.members.map(entry) : [entry(undefined)],
  });
};

/**
 * `replSetStepDown: <secs>` (default 60) with `secondaryCatchUpPeriodSecs` (default 10) and
 * `force`: the primary steps down and another member is elected (topology/replset.ts). This
 * connection stays open for the answer; the old primary closes its other client connections.
 */
const replSetStepDown: CommandHandler = async (cmd, ctx) => {
  if (ctx.server.topology !== 'replset') fail(76, 'not running with --replSet');
  const member = topologyOf(ctx.server).member;
  if (!member) fail(20, 'this test server cannot step down without a replica set');
  const number = (field: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    const n = toNumber(value);
    if (n === undefined || typeof value === 'boolean') {
      fail(14, `BSON field '${field}' is the wrong type, expected a number`);
    }
    return n;
  };
  const secs = number(
    'replSetStepDown',
    cmd.replSetStepDown === true ? 60 : cmd.replSetStepDown,
    60,
  );
  const catchUp = number('secondaryCatchUpPeriodSecs', cmd.secondaryCatchUpPeriodSecs, 10);
  await member.set.stepDown(member, {
    secs,
    secondaryCatchUpPeriodSecs: catchUp,
    force: cmd.force === true,
    requester: ctx.connection,
  });
  return ok();
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
  replSetStepDown,
};
