// The bounded oplog: every write and DDL step in order, stamped with a strictly increasing
// cluster time (`Timestamp{t: wall-clock seconds, i: counter}`) like a replica-set primary.
// Change-stream cursors read it by position and wait on it without polling.
import { type Document, Long, Timestamp } from 'bson';
import type { OplogApi, OplogEntry, OplogEntryInput } from './types.js';

export interface OplogOptions {
  /** How many entries are kept (`--oplog-size`); older ones fall off. Default 1,000,000. */
  maxEntries?: number;
  /** Period of the idle primary's no-op write, ms (default 10,000; 0 disables). */
  noopIntervalMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
}

/** Orders two cluster times (unsigned seconds, then increment). */
export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.i !== b.i) return a.i < b.i ? -1 : 1;
  return 0;
}

/** The cluster time one tick after `ts` (what a new stream starts from). */
export function nextTick(ts: Timestamp): Timestamp {
  return ts.i >= 0xffffffff
    ? new Timestamp({ t: ts.t + 1, i: 0 })
    : new Timestamp({ t: ts.t, i: ts.i + 1 });
}

/**
 * An input entry stamped with its cluster time and wall time. An applyOps (a transaction's
 * commit, a batched insert or delete) is one entry with one cluster time: its inner operations
 * take the entry's ts and wall, and their place in it as txnOpIndex.
 */
export function stampEntry(input: OplogEntryInput, ts: Timestamp, wall: Date): OplogEntry {
  const { applyOps, ...rest } = input;
  const entry: OplogEntry = { ...rest, ts, wall };
  if (applyOps) {
    entry.applyOps = applyOps.map((op, txnOpIndex) => ({
      ...stampEntry(op, ts, wall),
      txnOpIndex,
    }));
  }
  return entry;
}

export const DEFAULT_OPLOG_SIZE = 1_000_000;
export const DEFAULT_NOOP_INTERVAL_MS = 10_000;

/** The server's oplog. */
export class Oplog implements OplogApi {
  readonly maxEntries: number;
  // Live entries are `entries[head..]`; the dead prefix is compacted away in bulk.
  private entries: OplogEntry[] = [];
  private head = 0;
  private last: Timestamp;
  private dropped: Timestamp | undefined;
  private readonly listeners = new Set<(entry?: OplogEntry) => void>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** The "initiating set" no-op the oplog starts with (`local.oplog.rs` names it so). */
  readonly initiation: OplogEntry;

  constructor(opts: OplogOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_OPLOG_SIZE);
    this.now = opts.now ?? Date.now;
    this.last = new Timestamp({ t: 0, i: 0 });
    // A replica set's oplog is never empty: it starts with the "initiating set" no-op.
    this.initiation = this.append({ op: 'noop', db: '' });
    const interval = opts.noopIntervalMs ?? DEFAULT_NOOP_INTERVAL_MS;
    if (interval > 0) {
      this.timer = setInterval(() => this.append({ op: 'noop', db: '' }), interval);
      this.timer.unref();
    }
  }

  /** Stops the periodic no-op and releases waiters. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.notify();
    this.listeners.clear();
  }

  append(input: OplogEntryInput): OplogEntry {
    const seconds = Math.floor(this.now() / 1000);
    // Strictly increasing even if the wall clock steps back: stay on the last second.
    const ts = seconds > this.last.t ? new Timestamp({ t: seconds, i: 1 }) : nextTick(this.last);
    this.last = ts;
    const entry = stampEntry(input, ts, new Date(this.now()));
    this.entries.push(entry);
    if (this.size > this.maxEntries) this.dropBefore(this.entries.length - this.maxEntries);
    this.notify(entry);
    return entry;
  }

  get lastTimestamp(): Timestamp {
    return this.last;
  }

  /**
   * Moves the cluster time to at least `ts` without writing (a shard learning a newer time from
   * mongos' gossip, as the VectorClock does): the next entry is stamped after it.
   */
  advanceTo(ts: Timestamp): void {
    if (compareTimestamps(ts, this.last) > 0) this.last = ts;
  }

  get first(): OplogEntry | undefined {
    return this.entries[this.head];
  }

  /** The newest entry. */
  get newest(): OplogEntry | undefined {
    return this.entries.length > this.head ? this.entries[this.entries.length - 1] : undefined;
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** The cluster time of the newest entry that fell off (by the bound or `truncate`), if any. */
  get droppedThrough(): Timestamp | undefined {
    return this.dropped;
  }

  truncate(before?: Timestamp): void {
    if (before === undefined) {
      this.dropBefore(this.entries.length - 1);
      return;
    }
    this.dropBefore(this.head + this.indexAfter(before, true));
  }

  /** The entry at `index` (0 = oldest held). */
  at(index: number): OplogEntry | undefined {
    return index >= 0 ? this.entries[this.head + index] : undefined;
  }

  /**
   * Index of the first entry with ts > `ts` (or ts >= `ts` when `inclusive`); `size` if none.
   * Binary search: a stream on a busy server never rescans history.
   */
  indexAfter(ts: Timestamp, inclusive = false): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const cmp = compareTimestamps((this.entries[mid] as OplogEntry).ts, ts);
      if (cmp < 0 || (cmp === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.head;
  }

  /**
   * Calls `listener` with the new entry after every append (and with nothing on `close`) until
   * the returned function is called.
   */
  subscribe(listener: (entry?: OplogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Resolves at the next append (or `close`). */
  nextAppend(): Promise<void> {
    return new Promise((resolve) => {
      const unsubscribe = this.subscribe(() => {
        unsubscribe();
        resolve();
      });
    });
  }

  private notify(entry?: OplogEntry): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(entry);
      } catch {
        // A waiter's failure must not fail the write that woke it.
      }
    }
  }

  /** Drops live entries before absolute index `end`. */
  private dropBefore(end: number): void {
    if (end <= this.head) return;
    const lastDropped = this.entries[end - 1];
    if (lastDropped) this.dropped = lastDropped.ts;
    for (let i = this.head; i < end; i++)
      (this.entries as (OplogEntry | undefined)[])[i] = undefined;
    this.head = end;
    // Compact once the dead prefix dominates, so memory stays bounded at O(maxEntries).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * An entry as a document of `local.oplog.rs` (what `find` there returns), in a real 8.0 entry's
 * field order: `{lsid, txnNumber, op, ns, ui, o, o2, ts, t, v, wall}`. Simplified where nothing
 * reads it: an update's `o` is a `$v: 2` diff with dotted paths in `u`/`d` (no nested `s`
 * diffs), and `t` is the term given (entries do not record the term they were written in).
 */
export function oplogDocument(entry: OplogEntry, term: number, initiation = false): Document {
  const doc: Document = {};
  const txn = entry.applyOps?.[0] ?? entry;
  if (txn.lsid !== undefined) doc.lsid = txn.lsid;
  if (txn.txnNumber !== undefined) doc.txnNumber = txn.txnNumber;
  Object.assign(doc, operationOf(entry, initiation));
  doc.ts = entry.ts;
  doc.t = Long.fromNumber(term);
  doc.v = Long.fromNumber(2);
  doc.wall = entry.wall;
  return doc;
}

/** `op`, `ns`, `ui`, `o` and `o2` of an entry (also an applyOps' inner operation). */
function operationOf(entry: OplogEntryInput, initiation: boolean): Document {
  const coll = entry.coll ?? '';
  const ns = `${entry.db}.${coll}`;
  const command = `${entry.db}.$cmd`;
  const ui: Document = entry.uuid === undefined ? {} : { ui: entry.uuid };
  const described = entry.operationDescription ?? {};
  switch (entry.op) {
    case 'insert':
      return { op: 'i', ns, ...ui, o: entry.fullDocument ?? {}, o2: entry.documentKey ?? {} };
    case 'replace':
      return { op: 'u', ns, ...ui, o: entry.fullDocument ?? {}, o2: entry.documentKey ?? {} };
    case 'update': {
      const diff: Document = {};
      const change = entry.updateDescription;
      if (change && change.removedFields.length > 0) {
        diff.d = Object.fromEntries(change.removedFields.map((f) => [f, false]));
      }
      if (change && Object.keys(change.updatedFields).length > 0) diff.u = change.updatedFields;
      return { op: 'u', ns, ...ui, o: { $v: 2, diff }, o2: entry.documentKey ?? {} };
    }
    case 'delete':
      return { op: 'd', ns, ...ui, o: entry.documentKey ?? {} };
    case 'create':
      return { op: 'c', ns: command, ...ui, o: { create: coll, ...described } };
    case 'createIndexes': {
      const indexes = Array.isArray(described.indexes) ? (described.indexes as Document[]) : [];
      const o: Document =
        indexes.length === 1
          ? { createIndexes: coll, ...indexes[0] }
          : { commitIndexBuild: coll, indexes };
      return { op: 'c', ns: command, ...ui, o };
    }
    case 'dropIndexes': {
      const [index] = Array.isArray(described.indexes) ? (described.indexes as Document[]) : [];
      return {
        op: 'c',
        ns: command,
        ...ui,
        o: { dropIndexes: coll, index: index?.name },
        o2: index ?? {},
      };
    }
    case 'modify': {
      const op: Document = { op: 'c', ns: command, ...ui, o: { collMod: coll, ...described } };
      if (entry.stateBeforeChange) op.o2 = entry.stateBeforeChange;
      return op;
    }
    case 'drop':
      return { op: 'c', ns: command, ...ui, o: { drop: coll } };
    case 'rename': {
      const o: Document = { renameCollection: ns, to: `${entry.to?.db}.${entry.to?.coll}` };
      o.stayTemp = false;
      if (entry.dropTarget) o.dropTarget = entry.dropTarget;
      return { op: 'c', ns: command, ...ui, o };
    }
    case 'dropDatabase':
      return { op: 'c', ns: command, o: { dropDatabase: 1 } };
    case 'applyOps':
      return {
        op: 'c',
        ns: 'admin.$cmd',
        o: { applyOps: (entry.applyOps ?? []).map((inner) => operationOf(inner, false)) },
      };
    case 'noop':
      return { op: 'n', ns: '', o: { msg: initiation ? 'initiating set' : 'periodic noop' } };
    case 'shardCollection':
    case 'refineCollectionShardKey':
    case 'reshardCollection':
      // notifyChangeStreamsOnShardCollection / ...OnRefineCollectionShardKeyComplete /
      // ...OnReshardCollectionComplete (change_stream_oplog_notification.cpp)
      // (src/mongo/db/s/sharding_ddl_util.cpp): a no-op whose o2 the change stream reads.
      return {
        op: 'n',
        ns,
        ...ui,
        o: { msg: { [entry.op]: ns } },
        o2: { [entry.op]: ns, ...described },
      };
  }
}
