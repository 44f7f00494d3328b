// What the server says about itself: the hello / isMaster reply of a single-node replica set's
// primary or of a standalone, reporting MongoDB 8.0. Every reply carries `topologyVersion`, so
// drivers monitor with the streaming protocol (awaitable-hello.ts), as against a real 4.4+ server.
import { type Document, Double, Int32, Long, ObjectId, type Timestamp } from 'bson';
import type { Member } from './topology/replset.js';
import type { CommandContext, ConnectionInfo, ServerState } from './types.js';

export const SERVER_VERSION = '8.0.4';
export const VERSION_ARRAY: readonly number[] = [8, 0, 4, 0];
/** 25 is MongoDB 8.0's wire version; 0 lets old clients (pymongo 3.11 speaks ≤ 9) connect. */
export const MAX_WIRE_VERSION = 25;
export const MIN_WIRE_VERSION = 0;
export const MAX_BSON_OBJECT_SIZE = 16_777_216;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
export const MAX_WRITE_BATCH_SIZE = 100_000;
export const LOGICAL_SESSION_TIMEOUT_MINUTES = 30;
/** The first election term; the electionId embeds the term the way a real primary does. */
export const TERM = 1;

/** `7fffffff` + term as 16 hex digits: the form real replica-set primaries report. */
export function electionIdOf(term: number): ObjectId {
  return new ObjectId(`7fffffff${term.toString(16).padStart(16, '0')}`);
}

/** Per-server facts that are not part of the shared `ServerState` contract. */
export class Topology {
  /**
   * The replica-set member this server is (topology/replset.ts: role, set, term); absent for a
   * standalone and for handler tests, which then see the primary of a one-member set.
   */
  member?: Member;
  readonly setVersion = 1;
  readonly startedAt = new Date();
  /** Open client connections, and every connection ever accepted. */
  connectionsCurrent = 0;
  connectionsCreated = 0;
  /**
   * `topologyVersion.processId`: new for each server process (mongod draws it at startup), so a
   * client that sees another one knows it talks to a restarted server.
   */
  readonly processId = new ObjectId();
  /** `topologyVersion.counter`: only a significant topology change (`changed()`) moves it. */
  counter = Long.ZERO;
  /** Awaiting hellos, answered by a change. */
  private readonly waiters = new Set<() => void>();

  /** The election term the set is in. */
  get term(): number {
    return this.member?.set.term ?? TERM;
  }

  /** The electionId a primary reports: it grows with the term. */
  get electionId(): ObjectId {
    return electionIdOf(this.term);
  }

  /** Whether this server takes writes (a standalone or a primary). */
  get writable(): boolean {
    return this.member === undefined || this.member.role === 'PRIMARY';
  }

  get topologyVersion(): Document {
    return { processId: this.processId, counter: this.counter };
  }

  /**
   * A significant topology change (server-monitoring.md): bumps the counter and answers every
   * awaiting hello at once: elections and step-downs (topology/replset.ts), and tests.
   */
  changed(): void {
    this.counter = this.counter.add(1);
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves after `ms`, on a change, or when `connection` closes; leaves no timer behind. */
  async waitForChange(ms: number, connection: ConnectionInfo): Promise<void> {
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const timer = setTimeout(wake, ms);
    this.waiters.add(wake);
    // On a connection closed already, this wakes at once.
    const stopWatching = connection.onClose?.(wake);
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
      stopWatching?.();
    }
  }
}

const topologies = new WeakMap<ServerState, Topology>();

/** The `Topology` of a server, created on first use (handlers tested without `index.ts`). */
export function topologyOf(state: ServerState): Topology {
  let topo = topologies.get(state);
  if (!topo) {
    topo = new Topology();
    topologies.set(state, topo);
  }
  return topo;
}

/** Replica-set optime `{ts, t}` as hello, replSetGetStatus and write replies show it. */
export function opTime(ts: Timestamp, term = TERM): Document {
  return { ts, t: Long.fromNumber(term) };
}

/** The wall-clock time a cluster Timestamp stands for (its seconds part). */
export function timestampDate(ts: Timestamp): Date {
  return new Date(ts.t * 1000);
}

/**
 * The reply to hello (`isWritablePrimary`) or isMaster (`ismaster`), fields in the order a real
 * server writes them. Records the handshake's `client.application.name` on the connection.
 */
export function helloReply(cmd: Document, ctx: CommandContext, legacy: boolean): Document {
  const { server, connection } = ctx;
  const topo = topologyOf(server);
  const appName = applicationName(cmd);
  if (appName !== undefined && connection.appName === undefined) connection.appName = appName;

  const reply: Document = {};
  if (cmd.helloOk !== undefined && legacy) reply.helloOk = true;
  if (server.topology === 'replset') {
    // A replica-set member writes topologyVersion first, a standalone after isWritablePrimary.
    reply.topologyVersion = topo.topologyVersion;
    const last = server.oplog.lastTimestamp;
    const lastDate = timestampDate(last);
    const set = topo.member?.set;
    const primary = topo.writable;
    reply.hosts = set ? set.hosts : [server.me];
    reply.setName = server.setName ?? 'rs0';
    reply.setVersion = new Int32(topo.setVersion);
    reply[legacy ? 'ismaster' : 'isWritablePrimary'] = primary;
    reply.secondary = !primary;
    // A secondary names the primary it knows of; during an election there is none.
    const primaryHost = set ? set.primary?.host : server.me;
    if (primaryHost !== undefined) reply.primary = primaryHost;
    reply.me = server.me;
    // Only a primary reports the election it won.
    if (primary) reply.electionId = topo.electionId;
    reply.lastWrite = {
      opTime: opTime(last, topo.term),
      lastWriteDate: lastDate,
      majorityOpTime: opTime(last, topo.term),
      majorityWriteDate: lastDate,
    };
  } else {
    reply[legacy ? 'ismaster' : 'isWritablePrimary'] = true;
    reply.topologyVersion = topo.topologyVersion;
  }
  reply.maxBsonObjectSize = new Int32(MAX_BSON_OBJECT_SIZE);
  reply.maxMessageSizeBytes = new Int32(MAX_MESSAGE_SIZE_BYTES);
  reply.maxWriteBatchSize = new Int32(MAX_WRITE_BATCH_SIZE);
  reply.localTime = new Date();
  reply.logicalSessionTimeoutMinutes = new Int32(LOGICAL_SESSION_TIMEOUT_MINUTES);
  reply.connectionId = new Int32(connection.id);
  reply.minWireVersion = new Int32(MIN_WIRE_VERSION);
  reply.maxWireVersion = new Int32(MAX_WIRE_VERSION);
  reply.readOnly = false;
  reply.ok = new Double(1);
  return reply;
}

/** `client.application.name` from a handshake, if it is a string. */
function applicationName(cmd: Document): string | undefined {
  const client: unknown = cmd.client;
  if (typeof client !== 'object' || client === null) return undefined;
  const app: unknown = (client as Document).application;
  if (typeof app !== 'object' || app === null) return undefined;
  const name: unknown = (app as Document).name;
  return typeof name === 'string' ? name : undefined;
}
