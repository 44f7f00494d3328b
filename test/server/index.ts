// The test server's start/stop API: a MongoDB 8.0 single-node replica set (or a standalone) in
// this process, listening on loopback, for tests and for `npm run test-server`.
import * as net from 'node:net';
import { Connection, HangGate } from './connection.js';
import { type UserSpec, buildUsers } from './commands/auth.js';
import { Cursors } from './commands/cursors.js';
import { prepareEvent } from './change-stream/event-bytes.js';
import { Oplog } from './oplog.js';
import { Storage } from './storage.js';
import { topologyOf } from './topology.js';
import type { ServerState, TopologyKind } from './types.js';

export interface TestServerOptions {
  /** TCP port; 0 (the default here) picks a free one. */
  port?: number;
  /** Interface to listen on and to report in `hosts`/`me`; default 127.0.0.1. */
  host?: string;
  /** Default `replset` (set name `rs0`). */
  topology?: TopologyKind;
  /** Oplog capacity in entries (default 1,000,000). */
  oplogSize?: number;
  /** Idle no-op write period in ms (default 10,000). */
  noopIntervalMs?: number;
  /**
   * Users; when given, the server requires authentication (SCRAM-SHA-256 and SCRAM-SHA-1) as
   * `mongod --auth` does. Roles default to `['root']`.
   */
  auth?: UserSpec[];
}

export interface TestServer {
  /** The connection string clients use. */
  readonly uri: string;
  readonly host: string;
  readonly port: number;
  readonly state: ServerState;
  /** Closes the listener, every client socket and the oplog's timer. */
  stop(): Promise<void>;
  /**
   * Destroys every open client socket, as a network failure would; drivers' monitor streams
   * (exhaust hellos) go 100 ms after the rest.
   */
  dropConnections(): void;
  /** Drops the oplog's history (resuming from before now then fails with 286). */
  truncateOplog(): void;
  /**
   * Makes the server stop answering for `ms`: it still accepts connections and reads requests,
   * but runs none; when the time is up it runs and answers the queued requests, in order, on the
   * connections the clients have not closed meanwhile. A later call replaces the deadline;
   * `hang(0)` resumes at once. A reply computed during the hang (an awaiting getMore) is held
   * too. Resolves when the hang ends.
   */
  hang(ms: number): Promise<void>;
  /** The id of the process the server runs in (to SIGSTOP/SIGCONT a child-process server). */
  readonly pid: number;
}

export const DEFAULT_SET_NAME = 'rs0';
const DEFAULT_OPLOG_SIZE = 1_000_000;

/** Starts a server and resolves once it accepts connections. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const host = opts.host ?? '127.0.0.1';
  const topology = opts.topology ?? 'replset';
  const connections = new Set<Connection>();
  let nextConnectionId = 1;
  // Derived before listening: a bad role fails the start, not the first login.
  const users = opts.auth ? buildUsers(opts.auth) : undefined;
  const gate = new HangGate();

  const listener = net.createServer();
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(opts.port ?? 0, host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected listen address');
  const port = address.port;
  const me = `${host.includes(':') ? `[${host}]` : host}:${port}`;

  const oplog = new Oplog({
    maxEntries: opts.oplogSize ?? DEFAULT_OPLOG_SIZE,
    ...(opts.noopIntervalMs !== undefined ? { noopIntervalMs: opts.noopIntervalMs } : {}),
  });
  // Each document write's change event is serialized as it is written: catch-ups copy bytes.
  oplog.subscribe((entry) => {
    if (entry) prepareEvent(entry);
  });
  const serverState: ServerState = {
    topology,
    ...(topology === 'replset' ? { setName: DEFAULT_SET_NAME } : {}),
    me,
    oplog,
    storage: new Storage(oplog),
    cursors: new Cursors(),
    ...(users ? { users } : {}),
  };
  const topo = topologyOf(serverState);
  // This runs in the microtasks right after the 'listening' callback, before the event loop
  // polls for I/O again, so no connection can arrive before the handler is attached.
  listener.on('connection', (socket: net.Socket) => {
    const conn = new Connection(nextConnectionId++, socket, serverState, gate);
    connections.add(conn);
    topo.connectionsCurrent++;
    topo.connectionsCreated++;
    conn.onClose(() => {
      connections.delete(conn);
      topo.connectionsCurrent--;
    });
  });

  const uri =
    topology === 'replset' ? `mongodb://${me}/?replicaSet=${DEFAULT_SET_NAME}` : `mongodb://${me}/`;

  const closeAll = (): void => {
    for (const conn of [...connections]) conn.close();
  };

  // Monitors' hello streams are cut a moment after the other sockets. Cut together, the Node
  // driver's streaming monitor may see it first: it marks the server Unknown and clears the pool
  // before a write in flight on a dropped socket fails, and that write, on a stale connection,
  // is then not retried (mongodb lib/sdam/server.js `decorateCommandError`). Tests that drop
  // connections mean the application's sockets to fail, as they did when monitors polled.
  const MONITOR_DROP_DELAY_MS = 100;
  const monitorDrops = new Set<NodeJS.Timeout>();
  const dropConnections = (): void => {
    const monitors: Connection[] = [];
    for (const conn of [...connections]) {
      if (conn.streaming) monitors.push(conn);
      else conn.close();
    }
    if (monitors.length === 0) return;
    const timer = setTimeout(() => {
      monitorDrops.delete(timer);
      for (const conn of monitors) conn.close();
    }, MONITOR_DROP_DELAY_MS);
    monitorDrops.add(timer);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      listener.close(() => resolve());
      gate.release();
      for (const timer of monitorDrops) clearTimeout(timer);
      monitorDrops.clear();
      closeAll();
      oplog.close();
    });
    return stopping;
  };

  return {
    uri,
    host,
    port,
    state: serverState,
    stop,
    dropConnections,
    truncateOplog: () => oplog.truncate(),
    hang: (ms) => {
      gate.hang(ms);
      return gate.wait();
    },
    pid: process.pid,
  };
}
