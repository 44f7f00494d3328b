// The test server's start/stop API: a MongoDB 8.0 replica set of one or three members (or a
// standalone, or a mongos in front of shards) in this process, listening on loopback, for tests
// and for `npm run test-server`.
import type { Server } from 'node:net';
import { HangGate } from './connection.js';
import { type UserSpec, buildUsers } from './commands/auth.js';
import { Cursors } from './commands/cursors.js';
import { prepareEvent } from './change-stream/event-bytes.js';
import { Oplog } from './oplog.js';
import { Storage } from './storage.js';
import { Listener, hostPort, listen, portOf } from './topology/listener.js';
import { mongosCommands } from './topology/mongos.js';
import { type Member, type MemberState, ReplicaSet } from './topology/replset.js';
import { ShardedCluster } from './topology/sharded.js';
import type { ServerState, TopologyKind } from './types.js';

export interface TestServerOptions {
  /** TCP port; 0 (the default here) picks a free one. */
  port?: number;
  /** Interface to listen on and to report in `hosts`/`me`; default 127.0.0.1. */
  host?: string;
  /**
   * Default `replset` (a one-member set named `rs0`); `replset3`: three members on three
   * ports (`port`, `port + 1`, `port + 2` when `port` is not 0) sharing one data set and oplog.
   */
  topology?: TopologyKind | 'replset3';
  /** `sharded`: how many shards behind the mongos (default 2). */
  shards?: number;
  /**
   * `sharded`: a ranged shard key's one split point (default 0): smaller keys live on the first
   * shard, the rest on the last.
   */
  rangeSplit?: unknown;
  /** Replica sets: from losing a primary to electing the next one, ms (default 200). */
  electionDelayMs?: number;
  /**
   * Replica sets: how long the other members wait for a silent primary (`TestServerNode.hang`)
   * before electing another, ms (default 10,000, mongod's electionTimeoutMillis).
   */
  electionTimeoutMs?: number;
  /** Oplog capacity in entries (default 1,000,000). */
  oplogSize?: number;
  /**
   * Idle no-op write period in ms (default 10,000; for `sharded` each shard's, default 1,000 so an
   * idle shard holds a merged change stream back for at most a second); 0 disables it.
   */
  noopIntervalMs?: number;
  /**
   * Users; when given, the server requires authentication (SCRAM-SHA-256 and SCRAM-SHA-1) as
   * `mongod --auth` does. Roles default to `['root']`.
   */
  auth?: UserSpec[];
}

/** One member of the server (the only one, but for `replset3`). */
export interface TestServerNode {
  /** `host:port`, as `hosts` and `me` report it. */
  readonly host: string;
  readonly port: number;
  /** A connection string to this member alone (`directConnection=true`). */
  readonly uri: string;
  /** This member's state: its own cursors and fail points, the shared storage and oplog. */
  readonly state: ServerState;
  /** `PRIMARY` or `SECONDARY`; a standalone says `STANDALONE`. */
  role(): MemberState | 'STANDALONE';
  /**
   * This member stops answering for `ms`, as `TestServer.hang` does for all. A primary silent
   * for longer than `electionTimeoutMs` is replaced by another member; it learns of that, steps
   * down and closes its client connections when it answers again.
   */
  hang(ms: number): Promise<void>;
  /** `TestServer.dropConnections` for this member only. */
  dropConnections(): void;
}

export interface TestServer {
  /** The connection string clients use (every member's host for `replset3`). */
  readonly uri: string;
  /** The first member's host and port. */
  readonly host: string;
  readonly port: number;
  /** The first member's state (storage and oplog are every member's). */
  readonly state: ServerState;
  /** The members, in `hosts` order (one but for `replset3`). */
  readonly nodes: readonly TestServerNode[];
  /** The primary's `host:port`; undefined during an election (and for a standalone). */
  primary(): string | undefined;
  /**
   * Steps the primary down (replSetStepDown with `secs`, default 1 here so a test can step down
   * again soon) and resolves once another member was elected: `from` and `to` are their hosts.
   * Rejects with 262 when no other member can take over (a one-member set).
   */
  stepDown(opts?: { secs?: number }): Promise<{ from: string; to: string }>;
  /** Closes the listeners, every client socket, the election timers and the oplog's timer. */
  stop(): Promise<void>;
  /**
   * Destroys every open client socket of every member, as a network failure would; drivers'
   * monitor streams (exhaust hellos) go 100 ms after the rest.
   */
  dropConnections(): void;
  /** Drops the oplog's history (resuming from before now then fails with 286). */
  truncateOplog(): void;
  /**
   * Makes the server (every member) stop answering for `ms`: it still accepts connections and reads requests,
   * but runs none; when the time is up it runs and answers the queued requests, in order, on the
   * connections the clients have not closed meanwhile. A later call replaces the deadline;
   * `hang(0)` resumes at once. A reply computed during the hang (an awaiting getMore) is held
   * too. Resolves when the hang ends.
   */
  hang(ms: number): Promise<void>;
  /** The id of the process the server runs in (to SIGSTOP/SIGCONT a child-process server). */
  readonly pid: number;
  /** `sharded`: the shards behind the mongos, in order (empty otherwise). */
  readonly shards: readonly TestServerShard[];
}

/** A shard of a `sharded` server (no listener: only the mongos talks to it). */
export interface TestServerShard {
  /** `shard0`, `shard1`, … */
  readonly name: string;
  /** Its own storage, oplog and cluster time. */
  readonly state: ServerState;
  /** Writes its periodic no-op now, moving its change-stream high-water mark. */
  noop(): void;
}

export const DEFAULT_SET_NAME = 'rs0';
const DEFAULT_OPLOG_SIZE = 1_000_000;

/** Starts a server and resolves once every member accepts connections. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const host = opts.host ?? '127.0.0.1';
  const kind = opts.topology ?? 'replset';
  if (kind === 'sharded') return startSharded(host, opts);
  const topology: TopologyKind = kind === 'standalone' ? 'standalone' : 'replset';
  const count = kind === 'replset3' ? 3 : 1;
  let nextConnectionId = 1;
  const connectionId = (): number => nextConnectionId++;
  // Derived before listening: a bad role fails the start, not the first login.
  const users = opts.auth ? buildUsers(opts.auth) : undefined;

  // Every port is known before any member reports `hosts`.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const base = opts.port ?? 0;
      servers.push(await listen(host, base === 0 ? 0 : base + i));
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    throw err;
  }

  const oplog = new Oplog({
    maxEntries: opts.oplogSize ?? DEFAULT_OPLOG_SIZE,
    ...(opts.noopIntervalMs !== undefined ? { noopIntervalMs: opts.noopIntervalMs } : {}),
  });
  // Each document write's change event is serialized as it is written: catch-ups copy bytes.
  oplog.subscribe((entry) => {
    if (entry) prepareEvent(entry);
  });
  const storage = new Storage(oplog);
  const set =
    topology === 'replset'
      ? new ReplicaSet(DEFAULT_SET_NAME, {
          ...(opts.electionDelayMs !== undefined ? { electionDelayMs: opts.electionDelayMs } : {}),
          ...(opts.electionTimeoutMs !== undefined
            ? { electionTimeoutMs: opts.electionTimeoutMs }
            : {}),
        })
      : undefined;

  const listeners: Listener[] = [];
  const members: (Member | undefined)[] = [];
  for (const server of servers) {
    const cursors = new Cursors();
    const state: ServerState = {
      topology,
      ...(set ? { setName: set.name } : {}),
      me: hostPort(host, portOf(server)),
      oplog,
      storage,
      cursors,
      ...(users ? { users } : {}),
    };
    const gate = new HangGate();
    const listener = new Listener(server, state, gate, connectionId);
    listeners.push(listener);
    members.push(
      set?.addMember(state, {
        gate,
        cursors,
        closeClientConnections: (except) => listener.closeClientConnections(except),
      }),
    );
  }
  set?.initiate();

  const first = listeners[0] as Listener;
  const hosts = listeners.map((l) => l.state.me).join(',');
  const uri = set ? `mongodb://${hosts}/?replicaSet=${set.name}` : `mongodb://${hosts}/`;

  const nodes: TestServerNode[] = listeners.map((listener, i) => {
    const member = members[i];
    const { state, gate } = listener;
    return {
      host: state.me,
      port: portOf(servers[i] as Server),
      uri: `mongodb://${state.me}/?directConnection=true`,
      state,
      role: () => member?.role ?? 'STANDALONE',
      hang: (ms) => {
        gate.hang(ms);
        if (member) set?.noteHang(member, ms);
        return gate.wait();
      },
      dropConnections: () => listener.dropConnections(),
    };
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      set?.close();
      await Promise.all(listeners.map((l) => l.stop()));
      oplog.close();
    })();
    return stopping;
  };

  const stepDown = async (
    stepOpts: { secs?: number } = {},
  ): Promise<{ from: string; to: string }> => {
    const old = set?.primary ?? (await set?.whenPrimary());
    if (!set || !old) throw new Error('stepDown needs a replica set');
    const secs = stepOpts.secs ?? 1;
    await set.stepDown(old, { secs, secondaryCatchUpPeriodSecs: Math.min(secs, 10) });
    const next = await set.whenPrimary();
    return { from: old.host, to: next.host };
  };

  return {
    uri,
    host,
    port: portOf(servers[0] as Server),
    state: first.state,
    nodes,
    primary: () => set?.primary?.host,
    stepDown,
    stop,
    dropConnections: () => {
      for (const l of listeners) l.dropConnections();
    },
    truncateOplog: () => oplog.truncate(),
    hang: async (ms) => {
      for (const [i, listener] of listeners.entries()) {
        listener.gate.hang(ms);
        const member = members[i];
        if (member) set?.noteHang(member, ms);
      }
      await Promise.all(listeners.map((l) => l.gate.wait()));
    },
    pid: process.pid,
    shards: [],
  };
}

const DEFAULT_SHARDS = 2;
const DEFAULT_SHARD_NOOP_MS = 1_000;

/** A mongos on `opts.port` in front of `opts.shards` shards (topology/sharded.ts). */
async function startSharded(host: string, opts: TestServerOptions): Promise<TestServer> {
  const server = await listen(host, opts.port ?? 0);
  const port = portOf(server);
  const cluster = new ShardedCluster({
    shards: opts.shards ?? DEFAULT_SHARDS,
    // Shards have no listener; they report ports after the mongos' for their hosts.
    shardHost: (i) => hostPort(host, port + 1 + i),
    oplogSize: opts.oplogSize ?? DEFAULT_OPLOG_SIZE,
    noopIntervalMs: opts.noopIntervalMs ?? DEFAULT_SHARD_NOOP_MS,
    ...(opts.rangeSplit !== undefined ? { rangeSplit: opts.rangeSplit } : {}),
  });
  const users = opts.auth ? buildUsers(opts.auth) : undefined;
  const state: ServerState = {
    topology: 'sharded',
    me: hostPort(host, port),
    oplog: cluster.clock,
    storage: cluster.catalog,
    cursors: new Cursors(),
    ...(users ? { users } : {}),
    router: mongosCommands(cluster),
  };
  let nextConnectionId = 1;
  const gate = new HangGate();
  const listener = new Listener(server, state, gate, () => nextConnectionId++);
  let stopping: Promise<void> | undefined;
  const node: TestServerNode = {
    host: state.me,
    port,
    uri: `mongodb://${state.me}/?directConnection=true`,
    state,
    role: () => 'PRIMARY',
    hang: (ms) => {
      gate.hang(ms);
      return gate.wait();
    },
    dropConnections: () => listener.dropConnections(),
  };
  return {
    uri: `mongodb://${state.me}/`,
    host,
    port,
    state,
    nodes: [node],
    primary: () => state.me,
    stepDown: () => Promise.reject(new Error('stepDown needs a replica set')),
    stop: () => {
      stopping ??= (async () => {
        await listener.stop();
        cluster.close();
      })();
      return stopping;
    },
    dropConnections: () => listener.dropConnections(),
    truncateOplog: () => {
      for (const shard of cluster.shards) shard.oplog.truncate();
    },
    hang: node.hang,
    pid: process.pid,
    shards: cluster.shards.map((shard) => ({
      name: shard.name,
      state: shard.state,
      noop: () => shard.noop(),
    })),
  };
}
