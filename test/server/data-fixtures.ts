// Test fixtures for the data layer (storage, CRUD, DDL): a command context without a socket,
// over a fake oplog that records what the storage layer appends.
import { type Document, Timestamp } from 'bson';
import { Cursors } from './commands/cursors.js';
import { ServerError } from './errors.js';
import { stampEntry } from './oplog.js';
import { Storage } from './storage.js';
import type {
  CommandContext,
  CommandHandler,
  OplogApi,
  OplogEntry,
  OplogEntryInput,
  ServerState,
  TopologyKind,
} from './types.js';

/** An oplog that only records entries, stamping them with increasing timestamps. */
export class RecordingOplog implements OplogApi {
  readonly entries: OplogEntry[] = [];
  private i = 0;

  append(entry: OplogEntryInput): OplogEntry {
    const stamped = stampEntry(entry, new Timestamp({ t: 1_700_000_000, i: ++this.i }), new Date());
    this.entries.push(stamped);
    return stamped;
  }

  get lastTimestamp(): Timestamp {
    return this.entries.at(-1)?.ts ?? new Timestamp({ t: 1_700_000_000, i: 0 });
  }

  get first(): OplogEntry | undefined {
    return this.entries[0];
  }

  truncate(): void {
    this.entries.splice(0, Math.max(this.entries.length - 1, 0));
  }

  /** Entries appended since the last call (or since creation). */
  private seen = 0;
  take(): OplogEntry[] {
    const out = this.entries.slice(this.seen);
    this.seen = this.entries.length;
    return out;
  }
}

export interface DataFixture {
  oplog: RecordingOplog;
  storage: Storage;
  cursors: Cursors;
  server: ServerState;
  /** A context for database `db`. */
  ctx(db?: string): CommandContext;
  /** Runs a handler and returns its reply (awaiting async ones). */
  run(handlers: Record<string, CommandHandler>, cmd: Document, db?: string): Promise<Document>;
  /** Runs a handler that must fail and returns the ServerError. */
  runError(
    handlers: Record<string, CommandHandler>,
    cmd: Document,
    db?: string,
  ): Promise<ServerError>;
}

/** A fresh in-memory server state (no network) for handler tests. */
export function dataFixture(topology: TopologyKind = 'replset'): DataFixture {
  const oplog = new RecordingOplog();
  const storage = new Storage(oplog);
  const cursors = new Cursors();
  const server: ServerState = {
    topology,
    ...(topology === 'replset' ? { setName: 'rs0' } : {}),
    me: '127.0.0.1:1',
    storage,
    oplog,
    cursors,
  };
  const ctx = (db = 'test'): CommandContext => ({
    db,
    server,
    connection: { id: 1, closed: false },
  });
  const run = async (
    handlers: Record<string, CommandHandler>,
    cmd: Document,
    db?: string,
  ): Promise<Document> => {
    const name = Object.keys(cmd)[0] as string;
    const handler = handlers[name];
    if (!handler) throw new Error(`no handler for ${name}`);
    return handler(cmd, ctx(db));
  };
  const runError = async (
    handlers: Record<string, CommandHandler>,
    cmd: Document,
    db?: string,
  ): Promise<ServerError> => {
    try {
      await run(handlers, cmd, db);
    } catch (e) {
      if (e instanceof ServerError) return e;
      throw e;
    }
    throw new Error(`expected ${JSON.stringify(Object.keys(cmd))} to fail`);
  };
  return { oplog, storage, cursors, server, ctx, run, runError };
}
