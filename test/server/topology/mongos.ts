// The mongos: the commands it answers by routing to its shards (the `router` of its ServerState,
// looked up before the shared handlers in dispatch.ts). Writes go to the shard that owns each
// document (by shard key) or, for a statement without the key, to every shard holding the
// collection (src/mongo/s/write_ops/batch_write_op.cpp targets the same way); reads see every
// shard's data merged; DDL runs on the primary shard last and on the others first with
// `fromMigrate`, so change streams see one event per DDL after every shard did it (8.0's DDL
// coordinators, e.g. drop_collection_coordinator.cpp, drop on the non-primary shards with
// fromMigrate). Change streams merge per-shard streams (mongos-stream.ts).
import { type Document, Double, Int32, Long, ObjectId, UUID } from 'bson';
import { adminCommands } from '../commands/admin.js';
import { crudCommands } from '../commands/crud.js';
import { ddlCommands } from '../commands/ddl.js';
import { parseChangeStream } from '../change-stream/change-stream.js';
import { CLOSE_CONNECTION, dispatch } from '../dispatch.js';
import { ServerError, fail } from '../errors.js';
import type { CommandContext, CommandHandler } from '../types.js';
import { isDocument, toNumber, valuesEqual } from '../values.js';
import { MongosChangeStream } from './mongos-stream.js';
import type { Shard, ShardedCluster, ShardedCollection } from './sharded.js';

/** A shard's error reply, passed on to the client as it is (code, message, labels, details). */
class ShardError extends ServerError {
  constructor(private readonly reply: Document) {
    super(
      toNumber(reply.code) ?? 1,
      typeof reply.errmsg === 'string' ? reply.errmsg : 'shard error',
      Array.isArray(reply.errorLabels) ? (reply.errorLabels as string[]) : [],
    );
  }

  override toReply(): Document {
    const out: Document = { ...this.reply };
    delete out.ok;
    delete out.$clusterTime;
    delete out.operationTime;
    return { ok: 0, ...out };
  }
}

/** Whether a command is a statement of a multi-document transaction (or its commit/abort). */
function inTransaction(cmd: Document): boolean {
  return cmd.autocommit !== undefined || cmd.startTransaction !== undefined;
}

/**
 * Runs `body` on a shard as a mongos would send it and returns the reply without the shard's
 * cluster time; a failed command throws its error. `migrating`: its writes carry fromMigrate.
 */
async function forward(
  cluster: ShardedCluster,
  shard: Shard,
  body: Document,
  ctx: CommandContext,
  migrating = false,
): Promise<Document> {
  cluster.gossip(shard);
  const shardCtx: CommandContext = { db: ctx.db, server: shard.state, connection: ctx.connection };
  // The handlers write synchronously before their first await: only their entries are marked.
  shard.oplog.migrating = migrating;
  let pending;
  try {
    pending = dispatch(body, shardCtx);
  } finally {
    shard.oplog.migrating = false;
  }
  const reply = await pending;
  if (reply === CLOSE_CONNECTION) fail(6, `${shard.name} closed the connection`);
  if (toNumber(reply.ok) !== 1) throw new ShardError(reply);
  delete reply.$clusterTime;
  delete reply.operationTime;
  return reply;
}

function collectionName(cmd: Document, field: string): string {
  const name: unknown = cmd[field];
  if (typeof name !== 'string') fail(73, `collection name has invalid type ${typeof name}`);
  return name;
}

/** A routed write's statements per shard need no retry bookkeeping of their own here. */
function withoutTxn(cmd: Document): Document {
  const out = { ...cmd };
  delete out.txnNumber;
  return out;
}

interface WriteTotals {
  n: number;
  nModified: number;
  upserted: Document[];
  writeErrors: Document[];
}

function addWrite(totals: WriteTotals, reply: Document, index: (i: number) => number): void {
  totals.n += toNumber(reply.n) ?? 0;
  totals.nModified += toNumber(reply.nModified) ?? 0;
  for (const u of (reply.upserted as Document[] | undefined) ?? []) {
    totals.upserted.push({ index: new Int32(index(toNumber(u.index) ?? 0)), _id: u._id });
  }
  for (const e of (reply.writeErrors as Document[] | undefined) ?? []) {
    totals.writeErrors.push({ ...e, index: new Int32(index(toNumber(e.index) ?? 0)) });
  }
}

function writeReply(totals: WriteTotals, withModified: boolean): Document {
  const reply: Document = { n: new Int32(totals.n) };
  if (withModified) reply.nModified = new Int32(totals.nModified);
  if (totals.upserted.length > 0) reply.upserted = totals.upserted;
  if (totals.writeErrors.length > 0) reply.writeErrors = totals.writeErrors;
  return reply;
}

/** The mongos' command table over `cluster`. */
export function mongosCommands(cluster: ShardedCluster): Record<string, CommandHandler> {
  const primary = (): Shard => cluster.primary;
  const shardedInfo = (ctx: CommandContext, cmd: Document, field: string) =>
    cluster.collections.get(`${ctx.db}.${collectionName(cmd, field)}`);

  /** Reads over every shard's data (and the config collections). */
  const read =
    (handler: CommandHandler): CommandHandler =>
    (cmd, ctx) => {
      if (inTransaction(cmd)) return forward(cluster, primary(), cmd, ctx);
      return handler(cmd, { ...ctx, server: { ...ctx.server, storage: cluster.snapshot() } });
    };

  /** Unsharded collections live on the primary shard: the command goes there as it is. */
  const toPrimary: CommandHandler = (cmd, ctx) => forward(cluster, primary(), cmd, ctx);

  /** DDL: the other shards holding the collection first (fromMigrate), the primary last. */
  const ddl =
    (field: string | undefined): CommandHandler =>
    async (cmd, ctx) => {
      if (inTransaction(cmd)) return toPrimary(cmd, ctx);
      const name = field === undefined ? undefined : cmd[field];
      // renameCollection names `db.coll`; the others a collection of `$db`.
      const [db, coll] =
        field === 'renameCollection' && typeof name === 'string' && name.includes('.')
          ? [name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1)]
          : [ctx.db, name];
      for (const shard of cluster.shards) {
        if (shard === primary()) continue;
        const holds =
          typeof coll === 'string'
            ? shard.storage.getCollection(db, coll) !== undefined
            : shard.storage.listCollections(db).length > 0;
        if (holds) await forward(cluster, shard, cmd, ctx, true);
      }
      const reply = await forward(cluster, primary(), cmd, ctx);
      if (typeof name === 'string' && (field === 'drop' || field === 'renameCollection')) {
        const ns = field === 'drop' ? `${ctx.db}.${name}` : name;
        const info = cluster.collections.get(ns);
        cluster.collections.delete(ns);
        if (info && field === 'renameCollection' && typeof cmd.to === 'string') {
          cluster.collections.set(cmd.to, { ...info, ns: cmd.to });
        }
      }
      if (field === undefined) {
        for (const ns of [...cluster.collections.keys()]) {
          if (ns.startsWith(`${ctx.db}.`)) cluster.collections.delete(ns);
        }
      }
      return reply;
    };

  const insert: CommandHandler = async (cmd, ctx) => {
    const info = inTransaction(cmd) ? undefined : shardedInfo(ctx, cmd, 'insert');
    const docs: unknown = cmd.documents;
    if (!info || !Array.isArray(docs)) return toPrimary(cmd, ctx);
    // mongos gives documents their _id before choosing a shard (the shard key may be _id).
    const withIds = (docs as Document[]).map((d) =>
      isDocument(d) && d._id === undefined ? { _id: new ObjectId(), ...d } : d,
    );
    const totals: WriteTotals = { n: 0, nModified: 0, upserted: [], writeErrors: [] };
    const ordered = cmd.ordered !== false;
    // Runs of consecutive documents bound for one shard, in order.
    let start = 0;
    while (start < withIds.length) {
      const shard = cluster.shardFor(info, withIds[start] as Document);
      let end = start + 1;
      while (end < withIds.length && cluster.shardFor(info, withIds[end] as Document) === shard) {
        end++;
      }
      const offset = start;
      const reply = await forward(
        cluster,
        shard,
        { ...withoutTxn(cmd), documents: withIds.slice(start, end) },
        ctx,
      );
      addWrite(totals, reply, (i) => i + offset);
      if (ordered && totals.writeErrors.length > 0) break;
      start = end;
    }
    return writeReply(totals, false);
  };

  /** update / delete: statement by statement, to the owning shard or to every holder. */
  const writeEach =
    (field: 'update' | 'delete', list: 'updates' | 'deletes'): CommandHandler =>
    async (cmd, ctx) => {
      const info = inTransaction(cmd) ? undefined : shardedInfo(ctx, cmd, field);
      const statements: unknown = cmd[list];
      if (!info || !Array.isArray(statements)) return toPrimary(cmd, ctx);
      const totals: WriteTotals = { n: 0, nModified: 0, upserted: [], writeErrors: [] };
      const ordered = cmd.ordered !== false;
      for (const [i, stmt] of (statements as Document[]).entries()) {
        const target = cluster.targetOf(info, isDocument(stmt) ? stmt.q : undefined);
        const run = (shard: Shard, s: Document) =>
          forward(cluster, shard, { ...withoutTxn(cmd), [list]: [s] }, ctx);
        const multi = field === 'update' ? stmt.multi === true : toNumber(stmt.limit) === 0;
        const before = totals.writeErrors.length;
        if (target) {
          addWrite(totals, await run(target, stmt), () => i);
        } else {
          let matched = 0;
          for (const shard of cluster.shards) {
            const reply = await run(shard, field === 'update' ? { ...stmt, upsert: false } : stmt);
            addWrite(totals, reply, () => i);
            matched += toNumber(reply.n) ?? 0;
            if (!multi && matched > 0) break;
          }
          // No shard key to route an upsert by: the primary shard takes it (8.0 refuses an
          // upsert without the full shard key; a test cluster stays lenient).
          if (matched === 0 && field === 'update' && stmt.upsert === true) {
            addWrite(totals, await run(primary(), stmt), () => i);
          }
        }
        if (ordered && totals.writeErrors.length > before) break;
      }
      return writeReply(totals, field === 'update');
    };

  const findAndModify =
    (field: string): CommandHandler =>
    async (cmd, ctx) => {
      const info = inTransaction(cmd) ? undefined : shardedInfo(ctx, cmd, field);
      if (!info) return toPrimary(cmd, ctx);
      const target = cluster.targetOf(info, cmd.query);
      if (target) return forward(cluster, target, withoutTxn(cmd), ctx);
      for (const shard of cluster.shards) {
        const reply = await forward(cluster, shard, { ...withoutTxn(cmd), upsert: false }, ctx);
        const n = toNumber((reply.lastErrorObject as Document | undefined)?.n) ?? 0;
        if (n > 0) return reply;
      }
      return forward(cluster, primary(), withoutTxn(cmd), ctx);
    };

  const aggregate: CommandHandler = async (cmd, ctx) => {
    const pipeline: unknown = cmd.pipeline;
    const first: unknown = Array.isArray(pipeline) ? pipeline[0] : undefined;
    if (!isDocument(first) || !('$changeStream' in first) || inTransaction(cmd)) {
      return read(crudCommands.aggregate as CommandHandler)(cmd, ctx);
    }
    await Promise.resolve();
    const { spec, stages } = parseChangeStream(cmd, ctx);
    const cursorOpt: unknown = cmd.cursor;
    if (!isDocument(cursorOpt)) {
      fail(9, "The 'cursor' option is required, except for aggregate with the explain argument");
    }
    const batchSize =
      cursorOpt.batchSize === undefined ? 101 : (toNumber(cursorOpt.batchSize) ?? 101);
    if (batchSize < 0) {
      fail(51024, `BSON field 'batchSize' value must be >= 0, actual value '${batchSize}'`);
    }
    const lsid: unknown = cmd.lsid;
    const cursor = new MongosChangeStream(
      cluster,
      ctx,
      spec,
      stages,
      isDocument(lsid) ? lsid : null,
    );
    const reply = cursor.firstBatch(batchSize);
    if (!((reply.cursor as Document).id as { isZero(): boolean }).isZero()) {
      ctx.server.cursors.add(cursor);
    }
    return reply;
  };

  /**
   * `shardCollection: 'db.coll', key, unique?`: creates the collection (on the primary shard, the
   * others with fromMigrate and the same UUID) and moves each document to its chunk's shard.
   */
  const shardCollection: CommandHandler = (cmd, ctx) => {
    if (ctx.db !== 'admin') fail(13, 'shardCollection may only be run against the admin database.');
    const ns: unknown = cmd.shardCollection ?? cmd.shardcollection;
    if (typeof ns !== 'string' || !ns.includes('.')) fail(73, `Invalid namespace ${String(ns)}`);
    const key: unknown = cmd.key;
    if (!isDocument(key) || Object.keys(key).length === 0) {
      fail(2, 'The shard key pattern must be a non-empty object');
    }
    const db = ns.slice(0, ns.indexOf('.'));
    const name = ns.slice(ns.indexOf('.') + 1);
    const existing = cluster.collections.get(ns);
    if (existing) {
      if (!valuesEqual(existing.key, key)) {
        fail(
          20,
          `sharding already enabled for collection ${ns} with options { shardKey: ${JSON.stringify(existing.key)} }`,
        );
      }
      return { collectionsharded: ns, ok: new Double(1) };
    }
    const home = primary();
    cluster.gossip(home);
    const coll = home.storage.ensureCollection(db, name).coll;
    if (coll.isView) fail(166, `Namespace ${ns} is a view, not a collection`);
    const info: ShardedCollection = {
      ns,
      key: { ...key },
      unique: cmd.unique === true,
      uuid: coll.uuid,
      epoch: new Date(),
    };
    for (const shard of cluster.shards) {
      if (shard === home) continue;
      cluster.gossip(shard);
      shard.migrating(() => {
        if (!shard.storage.getCollection(db, name)) {
          shard.storage.createCollection(db, name, { ...coll.options }, coll.uuid);
        }
      });
    }
    cluster.collections.set(ns, info);
    // The primary shard announces it (expanded event; jstests/change_streams/
    // show_expanded_events.js expects this operationDescription).
    home.oplog.append({
      op: 'shardCollection',
      db,
      coll: name,
      uuid: coll.uuid,
      operationDescription: {
        shardKey: { ...key },
        unique: info.unique,
        numInitialChunks: Long.ZERO,
        presplitHashedZones: false,
      },
    });
    // The initial chunk distribution moves the documents that belong elsewhere.
    for (const doc of coll.all()) {
      const owner = cluster.shardFor(info, doc);
      if (owner === home) continue;
      home.migrating(() => home.storage.delete(coll, doc));
      const target = owner.storage.getCollection(db, name);
      if (target) owner.migrating(() => owner.storage.insert(target, doc));
    }
    return { collectionsharded: ns, collectionUUID: new UUID(coll.uuid.toHexString()) };
  };

  /**
   * `refineCollectionShardKey: 'db.coll', key`: the new key extends the old one (its prefix),
   * so no document moves; the primary shard announces it with the old and the new key.
   */
  const refineCollectionShardKey: CommandHandler = (cmd, ctx) => {
    if (ctx.db !== 'admin') {
      fail(13, 'refineCollectionShardKey may only be run against the admin database.');
    }
    const ns: unknown = cmd.refineCollectionShardKey;
    const key: unknown = cmd.key;
    const info = typeof ns === 'string' ? cluster.collections.get(ns) : undefined;
    if (typeof ns !== 'string' || !info) fail(118, `namespace ${String(ns)} is not sharded`);
    if (!isDocument(key)) fail(2, 'The shard key pattern must be a non-empty object');
    const oldFields = Object.entries(info.key);
    const newFields = Object.entries(key);
    const extendsOld =
      newFields.length > oldFields.length &&
      oldFields.every(([f, v], i) => newFields[i]?.[0] === f && valuesEqual(newFields[i]?.[1], v));
    if (!extendsOld) {
      fail(
        2,
        `refineCollectionShardKey: new shard key ${JSON.stringify(key)} does not extend the current shard key ${JSON.stringify(info.key)}`,
      );
    }
    cluster.collections.set(ns, { ...info, key: { ...key } });
    const home = primary();
    cluster.gossip(home);
    home.oplog.append({
      op: 'refineCollectionShardKey',
      db: ns.slice(0, ns.indexOf('.')),
      coll: ns.slice(ns.indexOf('.') + 1),
      uuid: info.uuid,
      operationDescription: { shardKey: { ...key }, oldShardKey: { ...info.key } },
    });
    return {};
  };

  /**
   * `reshardCollection: 'db.coll', key, unique?, numInitialChunks?, collation?, zones?,
   * forceRedistribution?`: documents move to their owners under the new key (fromMigrate), the
   * collection gets a new UUID, and the primary shard announces it: one expanded event, and a
   * stream on the collection carries on (jstests/sharding/change_streams/
   * reshard_collection_event.js resumes after it and sees the next insert).
   */
  const reshardCollection: CommandHandler = (cmd, ctx) => {
    if (ctx.db !== 'admin')
      fail(13, 'reshardCollection may only be run against the admin database.');
    const ns: unknown = cmd.reshardCollection;
    if (typeof ns !== 'string' || !ns.includes('.')) fail(73, `Invalid namespace ${String(ns)}`);
    const key: unknown = cmd.key;
    if (!isDocument(key) || Object.keys(key).length === 0) {
      fail(2, 'The shard key pattern must be a non-empty object');
    }
    const info = cluster.collections.get(ns);
    // ReshardCollectionCoordinator::_runImpl (reshard_collection_coordinator.cpp).
    if (!info) fail(118, 'Collection has to be a sharded collection.');
    // The same key is a no-op (no event, same UUID) unless forceRedistribution: the coordinator's
    // `isOpRedundant` check (resharding_coordinator_service.cpp).
    if (valuesEqual(info.key, key) && cmd.forceRedistribution !== true) return {};
    const chunks: unknown = cmd.numInitialChunks;
    const numInitialChunks = chunks === undefined ? undefined : toNumber(chunks);
    if (chunks !== undefined && (numInitialChunks === undefined || numInitialChunks < 1)) {
      fail(2, 'numInitialChunks must be a positive number');
    }
    const next: ShardedCollection = {
      ns,
      key: { ...key },
      unique: cmd.unique === true,
      uuid: new UUID(),
      epoch: new Date(),
    };
    cluster.reshard(next);
    cluster.collections.set(ns, next);
    // notifyChangeStreamsOnReshardCollectionComplete (change_stream_oplog_notification.cpp):
    // o2 minus its `reshardCollection` field, in this order; numInitialChunks, collation and
    // zones only when given. The entry carries the source (old) UUID: the event's collectionUUID.
    // No `provenance`: a MongoDB 8.0.21 capture of a user reshardCollection shows none.
    const description: Document = {
      reshardUUID: new UUID(next.uuid.toHexString()),
      shardKey: { ...key },
      oldShardKey: { ...info.key },
      unique: next.unique,
    };
    if (numInitialChunks !== undefined)
      description.numInitialChunks = Long.fromNumber(numInitialChunks);
    if (isDocument(cmd.collation)) description.collation = { ...cmd.collation };
    const zones: unknown = cmd.zones;
    if (Array.isArray(zones) && zones.length > 0) {
      description.zones = zones.map((z: unknown) =>
        isDocument(z) ? { zone: z.zone, min: z.min, max: z.max } : z,
      );
    }
    const home = primary();
    cluster.gossip(home);
    home.oplog.append({
      op: 'reshardCollection',
      db: ns.slice(0, ns.indexOf('.')),
      coll: ns.slice(ns.indexOf('.') + 1),
      uuid: info.uuid,
      operationDescription: description,
    });
    return {};
  };

  const hello =
    (name: 'hello' | 'isMaster'): CommandHandler =>
    async (cmd, ctx) => {
      const reply = await (adminCommands[name] as CommandHandler)(cmd, ctx);
      return mongosHello(reply);
    };

  return {
    hello: hello('hello'),
    isMaster: hello('isMaster'),
    ismaster: hello('isMaster'),
    insert,
    update: writeEach('update', 'updates'),
    delete: writeEach('delete', 'deletes'),
    findAndModify: findAndModify('findAndModify'),
    findandmodify: findAndModify('findandmodify'),
    find: read(crudCommands.find as CommandHandler),
    count: read(crudCommands.count as CommandHandler),
    distinct: read(crudCommands.distinct as CommandHandler),
    aggregate,
    listCollections: read(ddlCommands.listCollections as CommandHandler),
    listIndexes: read(ddlCommands.listIndexes as CommandHandler),
    listDatabases: read(ddlCommands.listDatabases as CommandHandler),
    create: toPrimary,
    drop: ddl('drop'),
    dropDatabase: ddl(undefined),
    collMod: ddl('collMod'),
    createIndexes: ddl('createIndexes'),
    dropIndexes: ddl('dropIndexes'),
    deleteIndexes: ddl('deleteIndexes'),
    renameCollection: ddl('renameCollection'),
    commitTransaction: toPrimary,
    abortTransaction: toPrimary,
    shardCollection,
    shardcollection: shardCollection,
    refineCollectionShardKey,
    reshardCollection,
    enableSharding: () => ({ ok: new Double(1) }),
    enablesharding: () => ({ ok: new Double(1) }),
    listShards: () => ({
      shards: cluster.shards.map((s) => ({
        _id: s.name,
        host: `${s.name}/${s.state.me}`,
        state: new Int32(1),
        topologyTime: cluster.clock.lastTimestamp,
        replSetConfigVersion: new Int32(1),
      })),
    }),
    replSetGetStatus: () => fail(59, "no such command: 'replSetGetStatus'"),
  };
}

/**
 * A mongos' hello: `isWritablePrimary` (or `ismaster`), then `msg: 'isdbgrid'`, no set fields
 * (src/mongo/s/commands/cluster_hello_cmd.cpp); drivers see a Mongos server.
 */
function mongosHello(reply: Document): Document {
  const out: Document = {};
  for (const [k, v] of Object.entries(reply)) {
    out[k] = v;
    if (k === 'isWritablePrimary' || k === 'ismaster') out.msg = 'isdbgrid';
  }
  return out;
}
