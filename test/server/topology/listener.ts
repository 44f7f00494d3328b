// One server process's front door: a TCP listener and the client connections it accepted.
// A one-node server has one; a three-node replica set has one per member, each with its own
// `ServerState` (host, cursors) over the shared storage and oplog.
import * as net from 'node:net';
import { Connection, type HangGate } from '../connection.js';
import { topologyOf } from '../topology.js';
import type { ConnectionInfo, ServerState } from '../types.js';

// Monitors' hello streams are cut a moment after the other sockets. Cut together, the Node
// driver's streaming monitor may see it first: it marks the server Unknown and clears the pool
// before a write in flight on a dropped socket fails, and that write, on a stale connection,
// is then not retried (mongodb lib/sdam/server.js `decorateCommandError`). Tests that drop
// connections mean the application's sockets to fail, as they did when monitors polled.
const MONITOR_DROP_DELAY_MS = 100;

/** Sockets a listener accepted before its `Listener` took over (another member was starting). */
const early = new WeakMap<net.Server, net.Socket[]>();

/**
 * Opens a listener on `host:port` (0: any free port); resolves once it listens. Connections
 * that arrive before a `Listener` handles them wait for it.
 */
export async function listen(host: string, port: number): Promise<net.Server> {
  const listener = net.createServer();
  const waiting: net.Socket[] = [];
  early.set(listener, waiting);
  listener.on('connection', (socket: net.Socket) => waiting.push(socket));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  return listener;
}

/** The port a listening server got. */
export function portOf(listener: net.Server): number {
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected listen address');
  return address.port;
}

/** `host:port` as clients dial it and `hosts`/`me` report it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A listening node's connections: accepts them, counts them, drops them. */
export class Listener {
  private readonly connections = new Set<Connection>();
  private readonly monitorDrops = new Set<NodeJS.Timeout>();
  private stopping: Promise<void> | undefined;

  /** Serves the connections of `server` (from `listen`), those that came early first. */
  constructor(
    private readonly server: net.Server,
    readonly state: ServerState,
    readonly gate: HangGate,
    nextConnectionId: () => number,
  ) {
    const topo = topologyOf(state);
    const accept = (socket: net.Socket): void => {
      const conn = new Connection(nextConnectionId(), socket, state, gate);
      this.connections.add(conn);
      topo.connectionsCurrent++;
      topo.connectionsCreated++;
      conn.onClose(() => {
        this.connections.delete(conn);
        topo.connectionsCurrent--;
      });
    };
    server.removeAllListeners('connection');
    server.on('connection', accept);
    for (const socket of early.get(server)?.splice(0) ?? []) accept(socket);
    early.delete(server);
  }

  /**
   * Destroys every open client socket, as a network failure would; drivers' monitor streams
   * (exhaust hellos) go MONITOR_DROP_DELAY_MS after the rest.
   */
  dropConnections(): void {
    const monitors: Connection[] = [];
    for (const conn of [...this.connections]) {
      if (conn.streaming) monitors.push(conn);
      else conn.close();
    }
    if (monitors.length === 0 || this.stopping) return;
    const timer = setTimeout(() => {
      this.monitorDrops.delete(timer);
      for (const conn of monitors) conn.close();
    }, MONITOR_DROP_DELAY_MS);
    this.monitorDrops.add(timer);
  }

  /** Closes every connection but monitors' hello streams (and `except`): a step-down. */
  closeClientConnections(except?: ConnectionInfo): void {
    for (const conn of [...this.connections]) {
      if (!conn.streaming && conn !== except) conn.close();
    }
  }

  /** Closes the listener and every socket; resolves once the listener is closed. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.gate.release();
      for (const timer of this.monitorDrops) clearTimeout(timer);
      this.monitorDrops.clear();
      for (const conn of [...this.connections]) conn.close();
    });
    return this.stopping;
  }
}
