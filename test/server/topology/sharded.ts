// A sharded cluster in one process: N shards, each a one-member replica set with its own storage,
// oplog, cluster time and periodic no-op, and the config data a mongos routes by (which shard is a
// database's primary, which collections are sharded and by which key). The mongos itself is a
// `ServerState` whose `router` (mongos.ts) answers commands by calling the shards' handlers in
// process; shards have no listeners.
//
// Simplifications of 8.0 (config servers, chunk migrations, the balancer are not modelled):
// - every database's primary shard is shard 0, so unsharded collections live there;
// - a sharded collection exists on every shard with one UUID; its chunks are fixed when it is
//   sharded: a hashed key (MongoDB's hash, query/hashed.ts) splits the hash range evenly across
//   the shards (as `shardCollection` does for an empty collection),
//   a ranged key has one split point (`rangeSplit`, default 0): below it shard 0, from it the last.
import { type Document, Long, Timestamp, UUID } from 'bson';
import { Cursors } from '../commands/cursors.js';
import { prepareEvent } from '../change-stream/event-bytes.js';
import { fail } from '../errors.js';
import { Oplog, compareTimestamps } from '../oplog.js';
import { getPath } from '../query/index.js';
// (Not re-exported by query/index.ts yet.)
import { hashedIndexKey } from '../query/index.js';
import { Collection, Storage } from '../storage.js';
import type {
  CollectionApi,
  OplogApi,
  OplogEntry,
  OplogEntryInput,
  ServerState,
  StorageApi,
} from '../types.js';
import { clone, compareValues, isDocument } from '../values.js';

/** A shard's oplog: entries written while `migrating` is set carry `fromMigrate`. */
export class ShardOplog extends Oplog {
  migrating = false;

  override append(input: OplogEntryInput): OplogEntry {
    // (Still undefined while Oplog's constructor writes the "initiating set" no-op.)
    return super.append(this.migrating ? { ...input, fromMigrate: true } : input);
  }
}

/** One shard: a one-member replica set named `shard<i>` without a listener. */
export class Shard {
  readonly oplog: ShardOplog;
  readonly storage: Storage;
  readonly state: ServerState;

  constructor(
    readonly index: number,
    me: string,
    opts: { oplogSize: number; noopIntervalMs: number },
  ) {
    this.oplog = new ShardOplog({
      maxEntries: opts.oplogSize,
      noopIntervalMs: opts.noopIntervalMs,
    });
    // Each document write's change event is serialized as it is written (as in index.ts).
    this.oplog.subscribe((entry) => {
      if (entry) prepareEvent(entry);
    });
    this.storage = new Storage(this.oplog);
    this.state = {
      topology: 'replset',
      setName: this.name,
      me,
      oplog: this.oplog,
      storage: this.storage,
      cursors: new Cursors(),
    };
  }

  get name(): string {
    return `shard${this.index}`;
  }

  /** Runs `fn` with every oplog entry it writes marked `fromMigrate` (invisible to streams). */
  migrating<T>(fn: () => T): T {
    this.oplog.migrating = true;
    try {
      return fn();
    } finally {
      this.oplog.migrating = false;
    }
  }

  /** Writes the periodic no-op now: moves this shard's change-stream high-water mark. */
  noop(): void {
    this.oplog.append({ op: 'noop', db: '' });
  }
}

/** A sharded collection as `config.collections` records it. */
export interface ShardedCollection {
  readonly ns: string;
  readonly key: Document;
  readonly unique: boolean;
  readonly uuid: UUID;
  readonly epoch: Date;
}

export interface ShardedClusterOptions {
  shards: number;
  /** Where shard i says it is (`hosts` of its set): never dialled. */
  shardHost: (i: number) => string;
  oplogSize: number;
  noopIntervalMs: number;
  /** Ranged shard keys: the one split point (default 0). */
  rangeSplit?: unknown;
}

/** The shards and the routing table. */
export class ShardedCluster {
  readonly shards: Shard[];
  readonly collections = new Map<string, ShardedCollection>();
  /** The cluster's time, for the mongos' replies: the newest of its shards'. */
  readonly clock: OplogApi;
  /** What the mongos reads catalog facts from (listCollections, a view's definition). */
  readonly catalog: StorageApi;
  private readonly rangeSplit: unknown;

  constructor(opts: ShardedClusterOptions) {
    if (!Number.isInteger(opts.shards) || opts.shards < 1) throw new Error('shards must be >= 1');
    this.shards = Array.from(
      { length: opts.shards },
      (_, i) => new Shard(i, opts.shardHost(i), opts),
    );
    this.rangeSplit = opts.rangeSplit ?? 0;
    this.clock = clusterClock(this.shards);
    this.catalog = clusterCatalog(this);
  }

  /** Shard 0: every database's primary shard here. */
  get primary(): Shard {
    return this.shards[0] as Shard;
  }

  /** The shards that hold `db.coll`: all for a sharded collection, else the primary. */
  holders(ns: string): Shard[] {
    return this.collections.has(ns) ? this.shards : [this.primary];
  }

  /** The shard whose chunk holds `doc` (by the collection's shard key). */
  shardFor(info: ShardedCollection, doc: Document): Shard {
    return this.shards[this.chunkOf(info, (field) => getPath(doc, field) ?? null)] as Shard;
  }

  /**
   * The one shard a query can touch when it gives every shard-key field by equality; undefined
   * when it must go to all (a scatter-gather).
   */
  targetOf(info: ShardedCollection, query: unknown): Shard | undefined {
    if (!isDocument(query)) return undefined;
    const values = new Map<string, unknown>();
    for (const field of Object.keys(info.key)) {
      const v: unknown = query[field];
      if (v === undefined) return undefined;
      if (isDocument(v) && Object.keys(v).some((k) => k.startsWith('$'))) {
        if (Object.keys(v).length !== 1 || v.$eq === undefined) return undefined;
        values.set(field, v.$eq);
      } else {
        values.set(field, v);
      }
    }
    return this.shards[this.chunkOf(info, (field) => values.get(field))] as Shard;
  }

  private chunkOf(info: ShardedCollection, valueOf: (field: string) => unknown): number {
    const n = this.shards.length;
    const [first, spec] = Object.entries(info.key)[0] ?? ['_id', 1];
    const value = valueOf(first);
    if (spec === 'hashed') {
      // Contiguous, even ranges of the signed 64-bit hash, shard 0 first (an empty collection's
      // initial chunks, InitialSplitPolicy::calculateHashedSplitPoints).
      const h = BigInt(hashedIndexKey(value).toString());
      return Number(((h + (1n << 63n)) * BigInt(n)) >> 64n);
    }
    return compareValues(value, this.rangeSplit) < 0 ? 0 : n - 1;
  }

  /**
   * Resharding's data path: every shard's copy of `next.ns` is replaced by one with `next.uuid`
   * (same options and indexes) holding the documents `next`'s key gives that shard, all written
   * with fromMigrate. 8.0's recipients clone into a temporary collection that is renamed over
   * the source; change streams see none of those writes, only the `reshardCollection` no-op.
   */
  reshard(next: ShardedCollection): void {
    const db = next.ns.slice(0, next.ns.indexOf('.'));
    const name = next.ns.slice(next.ns.indexOf('.') + 1);
    const docs: Document[] = [];
    for (const s of this.shards) docs.push(...(s.storage.getCollection(db, name)?.all() ?? []));
    const template = this.primary.storage.getCollection(db, name);
    const options = clone((template?.options ?? {}) as Document);
    const indexes = (template?.indexes ?? []).filter((spec) => spec.name !== '_id_');
    for (const shard of this.shards) {
      this.gossip(shard);
      shard.migrating(() => {
        shard.storage.dropCollection(db, name);
        const coll = shard.storage.createCollection(db, name, clone(options), next.uuid);
        if (indexes.length > 0)
          shard.storage.createIndexes(
            coll,
            indexes.map((s) => clone(s)),
          );
        for (const doc of docs) {
          if (this.shardFor(next, doc) === shard) shard.storage.insert(coll, doc);
        }
      });
    }
  }

  /**
   * Gossip: a shard a mongos talks to learns the cluster time (its next write is stamped after
   * it), so writes through one mongos are ordered across shards as the client made them.
   */
  gossip(shard: Shard): void {
    shard.oplog.advanceTo(this.clock.lastTimestamp);
  }

  /**
   * Every shard's data as one storage, for reads at the mongos (find, aggregate, count, list
   * commands), plus the `config` collections `sh.status()` reads. Owned copies; nothing logged.
   */
  snapshot(): Storage {
    const out = new Storage(new Oplog({ maxEntries: 1, noopIntervalMs: 0 }));
    for (const shard of this.shards) {
      for (const db of shard.storage.listDatabases()) {
        for (const coll of shard.storage.listCollections(db)) {
          const have = out.getCollection(db, coll.name);
          if (!have) out.adopt(coll.copy());
          else for (const doc of coll.raw()) have.put(clone(doc));
        }
      }
    }
    for (const [name, docs] of Object.entries(this.configCollections())) {
      const coll = new Collection('config', name, {});
      for (const doc of docs) coll.put(doc);
      out.adopt(coll);
    }
    return out;
  }

  /** `config.shards`, `config.databases`, `config.collections`, `config.chunks`. */
  private configCollections(): Record<string, Document[]> {
    const dbs = new Set<string>();
    for (const shard of this.shards) for (const db of shard.storage.listDatabases()) dbs.add(db);
    const collections = [...this.collections.values()];
    return {
      shards: this.shards.map((s) => ({ _id: s.name, host: `${s.name}/${s.state.me}`, state: 1 })),
      databases: [...dbs].map((db) => ({
        _id: db,
        primary: this.primary.name,
        version: { uuid: new UUID(), timestamp: new Timestamp({ t: 1, i: 0 }), lastMod: 1 },
      })),
      collections: collections.map((c) => ({
        _id: c.ns,
        lastmodEpoch: c.epoch,
        lastmod: c.epoch,
        timestamp: new Timestamp({ t: Math.floor(c.epoch.getTime() / 1000), i: 1 }),
        uuid: c.uuid,
        key: c.key,
        unique: c.unique,
      })),
      chunks: collections.flatMap((c) =>
        this.shards.map((s, i) => ({
          _id: `${c.ns}-${i}`,
          uuid: c.uuid,
          shard: s.name,
          lastmod: new Timestamp({ t: 1, i }),
        })),
      ),
    };
  }

  /** Stops every shard's no-op timer and releases their waiting cursors. */
  close(): void {
    for (const shard of this.shards) shard.oplog.close();
  }
}

/** The cluster time as a mongos reports it: the newest of its shards' (it writes nothing). */
function clusterClock(shards: readonly Shard[]): OplogApi {
  return {
    append: () => fail(1, 'a mongos has no oplog'),
    get lastTimestamp(): Timestamp {
      let last = new Timestamp(Long.ZERO);
      for (const s of shards) {
        if (compareTimestamps(s.oplog.lastTimestamp, last) > 0) last = s.oplog.lastTimestamp;
      }
      return last;
    },
    first: undefined,
    truncate: (before) => {
      for (const s of shards) s.oplog.truncate(before);
    },
  };
}

/** Catalog reads at the mongos: the primary shard's collection, or any shard's. */
function clusterCatalog(cluster: ShardedCluster): StorageApi {
  return {
    getCollection: (db, coll): CollectionApi | undefined => {
      for (const s of cluster.shards) {
        const c = s.storage.getCollection(db, coll);
        if (c) return c;
      }
      return undefined;
    },
    listDatabases: () => [...new Set(cluster.shards.flatMap((s) => s.storage.listDatabases()))],
    listCollections: (db) => {
      const seen = new Map<string, CollectionApi>();
      for (const s of cluster.shards) {
        for (const c of s.storage.listCollections(db)) if (!seen.has(c.name)) seen.set(c.name, c);
      }
      return [...seen.values()];
    },
  };
}
