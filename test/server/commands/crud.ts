// Document commands: insert, update, delete, find, findAndModify, count, distinct, aggregate.
// Handlers read the request, let query/ and update/ compute, and let storage.ts store and log.
import { type Document, Binary, Long, calculateObjectSize } from 'bson';
import { createHash } from 'node:crypto';
import { openChangeStream } from '../change-stream/change-stream.js';
import { ServerError, fail } from '../errors.js';
import { Oplog, oplogDocument } from '../oplog.js';
import { topologyOf } from '../topology.js';
import {
  type MatchDetails,
  compileFilter,
  compileProjection,
  compileSort,
  pathLeaves,
  runPipeline,
} from '../query/index.js';
import {
  type Collection,
  DuplicateKeyError,
  Storage,
  type TxnIds,
  validateCollectionName,
} from '../storage.js';
import type { CommandContext, CommandHandler } from '../types.js';
import { applyUpdate, parseUpdate, upsertDocument } from '../update/index.js';
import {
  bsonType,
  clone,
  compareValues,
  idKey,
  isDocument,
  toNumber,
  valuesEqual,
} from '../values.js';
import { cursorReply, readBatchSize } from './cursors.js';

// ---------------------------------------------------------------- shared helpers

/** The server's storage as the concrete class (handlers need its write methods). */
export function storageOf(ctx: CommandContext): Storage {
  const s = ctx.server.storage;
  if (!(s instanceof Storage)) fail(1, 'the server was not built with the test-server storage');
  return s;
}

/** The collection name a command targets (`{insert: "c"}` → "c"), validated. */
export function targetName(
  cmd: Document,
  field: string,
  ctx: CommandContext,
  write = false,
): string {
  const name: unknown = cmd[field];
  if (typeof name !== 'string') {
    fail(73, `collection name has invalid type ${bsonType(name)}`);
  }
  validateCollectionName(ctx.db, name, write);
  return name;
}

function viewError(coll: Collection): never {
  return fail(166, `Namespace ${coll.ns} is a view, not a collection`);
}

function optionalDoc(cmd: Document, field: string, command: string): Document | undefined {
  const v: unknown = cmd[field];
  if (v === undefined || v === null) return undefined;
  if (!isDocument(v)) {
    fail(
      14,
      `BSON field '${command}.${field}' is the wrong type '${bsonType(v)}', expected type 'object'`,
    );
  }
  return v;
}

function optionalCount(cmd: Document, field: string, command: string): number | undefined {
  const v: unknown = cmd[field];
  if (v === undefined || v === null) return undefined;
  const n = toNumber(v);
  if (n === undefined || bsonType(v) === 'bool') {
    fail(
      14,
      `BSON field '${command}.${field}' is the wrong type '${bsonType(v)}', expected types '[long, int, decimal, double]'`,
    );
  }
  if (!Number.isInteger(n)) fail(2, `${field} must be a whole number`);
  return n;
}

/** Resolves a view chain to its base collection and the pipeline to run on it. */
function resolveView(
  storage: Storage,
  db: string,
  name: string,
): { base?: Collection; pipeline: Document[] } {
  const pipeline: Document[] = [];
  let current = storage.getCollection(db, name);
  for (let depth = 0; current?.isView; depth++) {
    if (depth > 20) fail(2, `View depth too deep or view cycle detected; maximum depth is 20`);
    pipeline.unshift(...((current.options.pipeline as Document[] | undefined) ?? []));
    current = storage.getCollection(db, current.options.viewOn as string);
  }
  return { base: current, pipeline };
}

/** Owned copies of what a view (or collection) holds, with the view pipelines applied. */
function viewDocuments(storage: Storage, db: string, name: string): Document[] {
  const { base, pipeline } = resolveView(storage, db, name);
  const docs = base ? base.all() : [];
  return pipeline.length > 0 ? runPipeline(docs, pipeline, envFor(storage, db)) : docs;
}

function envFor(storage: Storage, db: string): { collection(name: string): Document[] } {
  return { collection: (name) => viewDocuments(storage, db, name) };
}

/** Documents worth testing against a filter: the `_id` map answers exact `_id` equality. */
function candidates(coll: Collection, filter: Document | undefined): Iterable<Document> {
  const id: unknown = filter?._id;
  const simple =
    id !== undefined &&
    !(isDocument(id) && Object.keys(id).some((k) => k.startsWith('$'))) &&
    bsonType(id) !== 'regex' &&
    bsonType(id) !== 'null' &&
    !Array.isArray(id);
  if (!simple) return coll.raw();
  const doc = coll.rawById(id);
  return doc ? [doc] : [];
}

interface Match {
  doc: Document;
  details: MatchDetails;
}

/** Stored documents matching a filter (not copies), sorted, skipped and limited. */
function findStored(
  coll: Collection,
  filter: Document | undefined,
  opts: { sort?: Document; skip?: number; limit?: number } = {},
): Match[] {
  const matcher = compileFilter(filter);
  const sort = opts.sort && Object.keys(opts.sort).length > 0 ? compileSort(opts.sort) : undefined;
  const skip = opts.skip ?? 0;
  const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined;
  const out: Match[] = [];
  for (const doc of candidates(coll, filter)) {
    const details: MatchDetails = {};
    if (!matcher(doc, details)) continue;
    out.push({ doc, details });
    if (!sort && limit !== undefined && out.length >= skip + limit) break;
  }
  if (sort) out.sort((a, b) => sort(a.doc, b.doc));
  return out.slice(skip, limit === undefined ? undefined : skip + limit);
}

function writeErrorOf(index: number, e: ServerError): Document {
  const err: Document = { index, code: e.code, errmsg: e.message };
  if (e instanceof DuplicateKeyError) {
    err.keyPattern = e.keyPattern;
    err.keyValue = e.keyValue;
  }
  return err;
}

/**
 * Runs a write command once per lsid + txnNumber: a retry of a write that already ran gets the
 * first reply back and changes nothing (MongoDB's retryable writes). A statement of a
 * multi-document transaction (`autocommit: false`, routed by commands/transactions.ts) runs as
 * it is: the transaction, not the statement, is what a retry repeats.
 */
async function retryable(
  cmd: Document,
  ctx: CommandContext,
  run: () => Document | Promise<Document>,
): Promise<Document> {
  if (cmd.autocommit !== undefined) return run();
  if (cmd.txnNumber === undefined) return run();
  if (ctx.server.topology === 'standalone') {
    fail(20, 'Transaction numbers are only allowed on a replica set member or mongos');
  }
  const lsid: unknown = cmd.lsid;
  if (!isDocument(lsid) || lsid.id === undefined) {
    fail(72, 'Transaction number requires a session ID to also be specified');
  }
  const storage = storageOf(ctx);
  const key = `${idKey(lsid.id)}:${idKey(cmd.txnNumber)}`;
  const earlier = storage.retriedReply(key);
  if (earlier) return earlier;
  const reply = await run();
  storage.rememberReply(key, reply);
  return reply;
}

/**
 * The user digest a session id carries without authentication: SHA-256 of the empty string
 * (`kNoAuthDigest`, src/mongo/db/logical_session_id_helpers.cpp).
 */
const NO_AUTH_DIGEST = new Binary(createHash('sha256').update('').digest(), 0);

/** The lsid as the server completes it: `{id, uid}` (what change events show). */
export function fullLsid(lsid: Document): Document {
  return { id: lsid.id, uid: NO_AUTH_DIGEST };
}

/** A txnNumber as a BSON Int64 (the type oplog entries and events carry). */
export function txnNumberOf(v: unknown): Long {
  return v instanceof Long ? v : Long.fromNumber(toNumber(v) ?? 0);
}

/** `lsid` + `txnNumber` of a retryable write (not a transaction statement), if it is one. */
function retryableIds(cmd: Document, ctx: CommandContext): TxnIds | undefined {
  if (cmd.txnNumber === undefined || cmd.autocommit !== undefined) return undefined;
  if (ctx.server.topology !== 'replset' || !isDocument(cmd.lsid)) return undefined;
  return { lsid: fullLsid(cmd.lsid), txnNumber: txnNumberOf(cmd.txnNumber) };
}

function statements(cmd: Document, field: string, command: string): Document[] {
  const list: unknown = cmd[field];
  if (!Array.isArray(list))
    fail(40414, `BSON field '${command}.${field}' is missing but a required field`);
  if (list.length === 0)
    fail(16, 'Write batch sizes must be between 1 and 100000. Got 0 operations.');
  return list.map((s) => {
    if (!isDocument(s)) fail(14, `BSON field '${command}.${field}' items must be objects`);
    return s;
  });
}

/**
 * A statement's error as a write error. Rethrows what is not one: anything outside the
 * ServerError family (a bug in the server) and a transaction's WriteConflict, which fails the
 * whole command with its TransientTransactionError label, as on a real server.
 */
function asServerError(e: unknown): ServerError {
  if (e instanceof ServerError && !(e.code === 112 && e.errorLabels.length > 0)) return e;
  throw e;
}

// ---------------------------------------------------------------- writes

// MongoDB 8.0 inserts a command's documents in batches (performInserts,
// src/mongo/db/query/write_ops/write_ops_exec.cpp): up to internalInsertMaxBatchSize documents
// (internalQueryExecYieldIterations / 2 = 500), cut once the batch reaches insertVectorMaxBytes
// (256 KiB). A batch of more than one document, outside a transaction, is written as one
// applyOps (featureFlagReplicateVectoredInsertsTransactionally, on in 8.0): one cluster time,
// txnOpIndex 0…n-1, and the command's lsid + txnNumber on each operation when it is a retryable
// write (jstests/change_streams/apply_ops_vectored_insert.js). If the batch fails as a whole
// (say a duplicate key), the server inserts its documents one at a time instead.
const INSERT_BATCH_DOCS = 500;
const INSERT_BATCH_BYTES = 256 * 1024;

/** The end (exclusive) of the insert batch that starts at `from`. */
function insertBatchEnd(docs: Document[], from: number): number {
  let end = from;
  let bytes = 0;
  while (end < docs.length) {
    bytes += calculateObjectSize(docs[end] as Document);
    end++;
    if (end - from >= INSERT_BATCH_DOCS || bytes >= INSERT_BATCH_BYTES) break;
  }
  return end;
}

function insert(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'insert', ctx, true);
  const docs = statements(cmd, 'documents', 'insert');
  const ordered = cmd.ordered !== false;
  const storage = storageOf(ctx);
  const existing = storage.getCollection(ctx.db, name);
  if (existing?.isView) viewError(existing);
  const ids = retryableIds(cmd, ctx);
  let n = 0;
  const writeErrors: Document[] = [];
  for (let from = 0; from < docs.length;) {
    const end = insertBatchEnd(docs, from);
    if (
      end - from > 1 &&
      !storage.inTransaction &&
      insertBatch(storage, ctx.db, name, docs.slice(from, end), ids)
    ) {
      n += end - from;
      from = end;
      continue;
    }
    for (let i = from; i < end; i++) {
      try {
        const coll = storage.ensureCollection(ctx.db, name).coll;
        storage.insert(coll, docs[i] as Document);
        n++;
      } catch (e) {
        writeErrors.push(writeErrorOf(i, asServerError(e)));
        if (ordered) break;
      }
    }
    if (ordered && writeErrors.length > 0) break;
    from = end;
  }
  const reply: Document = { n };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}

/** Inserts a batch as one applyOps; false (nothing written) when any document fails. */
function insertBatch(
  storage: Storage,
  db: string,
  name: string,
  batch: Document[],
  ids: TxnIds | undefined,
): boolean {
  try {
    // An implicit create is its own oplog entry, before the batch.
    const coll = storage.ensureCollection(db, name).coll;
    storage.grouped(() => {
      for (const doc of batch) storage.insert(coll, doc);
    }, ids);
    return true;
  } catch (e) {
    asServerError(e);
    return false;
  }
}

function update(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'update', ctx, true);
  const stmts = statements(cmd, 'updates', 'update');
  const ordered = cmd.ordered !== false;
  const storage = storageOf(ctx);
  const target = storage.getCollection(ctx.db, name);
  if (target?.isView) viewError(target);
  let n = 0;
  let nModified = 0;
  const upserted: Document[] = [];
  const writeErrors: Document[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const stmt = stmts[i] as Document;
    try {
      const r = updateOne(storage, ctx.db, name, stmt);
      n += r.n;
      nModified += r.nModified;
      if (r.upsertedId !== undefined) upserted.push({ index: i, _id: r.upsertedId });
    } catch (e) {
      writeErrors.push(writeErrorOf(i, asServerError(e)));
      if (ordered) break;
    }
  }
  const reply: Document = { n };
  if (upserted.length > 0) reply.upserted = upserted;
  reply.nModified = nModified;
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}

/** One update statement `{q, u, upsert, multi, arrayFilters, sort}`. */
function updateOne(
  storage: Storage,
  db: string,
  name: string,
  stmt: Document,
): { n: number; nModified: number; upsertedId?: unknown } {
  const q = optionalDoc(stmt, 'q', 'update') ?? {};
  if (stmt.u === undefined)
    fail(40414, "BSON field 'update.updates.u' is missing but a required field");
  const parsed = parseUpdate(stmt.u);
  const multi = stmt.multi === true;
  if (multi && parsed.kind === 'replacement')
    fail(9, 'multi update is not supported for replacement-style update');
  const arrayFilters =
    stmt.arrayFilters === undefined ? undefined : (stmt.arrayFilters as Document[]);
  if (arrayFilters !== undefined && !Array.isArray(arrayFilters))
    fail(14, 'arrayFilters must be an array');
  const existing = storage.getCollection(db, name);
  if (existing?.isView) viewError(existing);
  const sort = optionalDoc(stmt, 'sort', 'update');
  const matches = existing ? findStored(existing, q, { sort, limit: multi ? 0 : 1 }) : [];
  let nModified = 0;
  for (const { doc, details } of matches) {
    const outcome = applyUpdate(doc, parsed, { arrayFilters, positional: details.arrayIndex });
    if (!outcome.modified || !existing) continue;
    storage.update(existing, doc, outcome.doc, outcome.replace ? undefined : outcome.description);
    nModified++;
  }
  if (matches.length > 0 || stmt.upsert !== true) return { n: matches.length, nModified };
  const doc = upsertDocument(q, parsed, { arrayFilters });
  const coll = storage.ensureCollection(db, name).coll;
  const stored = storage.insert(coll, doc);
  return { n: 1, nModified: 0, upsertedId: stored._id };
}

// MongoDB 8.0 deletes the documents of a multi-delete in batches when batchUserMultiDeletes is on
// (its default, src/mongo/db/ops/delete_request.idl) and the delete is not part of a transaction
// or a retryable write, the collection keeps no pre-images and is not in `config`
// (planner_interface.cpp / get_executor.cpp). Each batch commits as one applyOps without
// lsid/txnNumber (jstests/noPassthrough "Verifies change streams operation for batched writes").
// A batch ends at batchedDeletesTargetBatchDocs (100) documents; its other targets (5 ms, staged
// bytes) are not imitated.
const DELETE_BATCH_DOCS = 100;

function batchesDeletes(cmd: Document, storage: Storage, coll: Collection): boolean {
  return (
    !storage.inTransaction &&
    cmd.txnNumber === undefined &&
    !coll.imagesEnabled &&
    coll.db !== 'config'
  );
}

function del(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'delete', ctx, true);
  const stmts = statements(cmd, 'deletes', 'delete');
  const ordered = cmd.ordered !== false;
  const storage = storageOf(ctx);
  const target = storage.getCollection(ctx.db, name);
  if (target?.isView) viewError(target);
  let n = 0;
  const writeErrors: Document[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const stmt = stmts[i] as Document;
    try {
      const q = optionalDoc(stmt, 'q', 'delete') ?? {};
      const limit = toNumber(stmt.limit);
      if (limit !== 0 && limit !== 1) {
        fail(9, `The limit field in delete objects must be 0 or 1. Got ${String(limit)}`);
      }
      const coll = storage.getCollection(ctx.db, name);
      if (coll?.isView) viewError(coll);
      if (!coll) continue;
      const matches = findStored(coll, q, { limit });
      if (limit === 0 && batchesDeletes(cmd, storage, coll)) {
        for (let from = 0; from < matches.length; from += DELETE_BATCH_DOCS) {
          const batch = matches.slice(from, from + DELETE_BATCH_DOCS);
          storage.grouped(() => {
            for (const { doc } of batch) storage.delete(coll, doc);
          });
          n += batch.length;
        }
        continue;
      }
      for (const { doc } of matches) {
        storage.delete(coll, doc);
        n++;
      }
    } catch (e) {
      writeErrors.push(writeErrorOf(i, asServerError(e)));
      if (ordered) break;
    }
  }
  const reply: Document = { n };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}

function findAndModify(cmd: Document, ctx: CommandContext, field: string): Document {
  const name = targetName(cmd, field, ctx, true);
  const query = optionalDoc(cmd, 'query', 'findAndModify') ?? {};
  const sort = optionalDoc(cmd, 'sort', 'findAndModify');
  const fields = optionalDoc(cmd, 'fields', 'findAndModify');
  const remove = cmd.remove === true;
  const returnNew = cmd.new === true;
  const upsert = cmd.upsert === true;
  const hasUpdate = cmd.update !== undefined && cmd.update !== null;
  if (remove && hasUpdate) fail(9, 'Cannot specify both an update and remove=true');
  if (!remove && !hasUpdate) fail(9, 'Either an update or remove=true must be specified');
  if (remove && returnNew) {
    fail(
      9,
      "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
    );
  }
  if (remove && upsert) fail(9, 'Cannot specify both upsert=true and remove=true');
  const arrayFilters = cmd.arrayFilters as Document[] | undefined;
  if (remove && arrayFilters !== undefined) fail(9, 'Cannot specify arrayFilters and remove=true');
  const project = compileProjection(fields);
  const shape = (doc: Document, details?: MatchDetails): Document =>
    project ? project(doc, details) : clone(doc);
  const storage = storageOf(ctx);
  const coll = storage.getCollection(ctx.db, name);
  if (coll?.isView) viewError(coll);
  const [match] = coll ? findStored(coll, query, { sort, limit: 1 }) : [];

  if (remove) {
    if (!match || !coll) return { lastErrorObject: { n: 0 }, value: null, ok: 1 };
    const value = shape(match.doc, match.details);
    storage.delete(coll, match.doc);
    return { lastErrorObject: { n: 1 }, value, ok: 1 };
  }

  const parsed = parseUpdate(cmd.update);
  if (match && coll) {
    const outcome = applyUpdate(match.doc, parsed, {
      arrayFilters,
      positional: match.details.arrayIndex,
    });
    const before = shape(match.doc, match.details);
    if (outcome.modified) {
      storage.update(
        coll,
        match.doc,
        outcome.doc,
        outcome.replace ? undefined : outcome.description,
      );
    }
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: returnNew ? shape(outcome.doc, match.details) : before,
      ok: 1,
    };
  }
  if (!upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
  const doc = upsertDocument(query, parsed, { arrayFilters });
  const target = storage.ensureCollection(ctx.db, name).coll;
  const stored = storage.insert(target, doc);
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: clone({ v: stored._id }).v },
    value: returnNew ? shape(stored) : null,
    ok: 1,
  };
}

// ---------------------------------------------------------------- reads

function find(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'find', ctx);
  const filter = optionalDoc(cmd, 'filter', 'find');
  const sort = optionalDoc(cmd, 'sort', 'find');
  const projection = optionalDoc(cmd, 'projection', 'find');
  const skip = optionalCount(cmd, 'skip', 'find') ?? 0;
  let limit = optionalCount(cmd, 'limit', 'find') ?? 0;
  let singleBatch = cmd.singleBatch === true;
  if (skip < 0) fail(51024, `BSON field 'skip' value must be >= 0, actual value '${skip}'`);
  if (limit < 0) {
    // The legacy negative limit: one batch of |limit| documents.
    limit = -limit;
    singleBatch = true;
  }
  const batchSize = readBatchSize(cmd.batchSize);
  const firstBatchSize = singleBatch && limit > 0 ? Math.min(limit, batchSize ?? limit) : batchSize;
  const ns = `${ctx.db}.${name}`;
  const oplog = ctx.server.oplog;
  if (ns === 'local.oplog.rs' && ctx.server.topology === 'replset' && oplog instanceof Oplog) {
    if (cmd.tailable === true) fail(2, 'tailable cursors are not supported by the test server');
    const docs = findOplog(oplog, topologyOf(ctx.server).term, { filter, sort, skip, limit });
    const project = compileProjection(projection);
    return cursorReply(ctx, ns, project ? docs.map((d) => project(d)) : docs, {
      batchSize: firstBatchSize,
      singleBatch,
      lsid: cmd.lsid,
    });
  }
  const storage = storageOf(ctx);
  const coll = storage.getCollection(ctx.db, name);
  if (cmd.tailable === true) {
    if (!coll?.options.capped) {
      fail(
        2,
        `error processing query: ns=${ns} tailable cursor requested on non capped collection`,
      );
    }
    fail(2, 'tailable cursors are not supported by the test server');
  }
  let docs: Document[];
  if (coll?.isView) {
    const pipeline: Document[] = [{ $match: filter ?? {} }];
    if (sort && Object.keys(sort).length > 0) pipeline.push({ $sort: sort });
    if (skip > 0) pipeline.push({ $skip: skip });
    if (limit > 0) pipeline.push({ $limit: limit });
    docs = runPipeline(viewDocuments(storage, ctx.db, name), pipeline, envFor(storage, ctx.db));
    const project = compileProjection(projection);
    if (project) docs = docs.map((d) => project(d));
  } else if (coll) {
    const project = compileProjection(projection);
    docs = findStored(coll, filter, { sort, skip, limit }).map(({ doc, details }) =>
      project ? project(doc, details) : clone(doc),
    );
  } else {
    compileFilter(filter);
    docs = [];
  }
  return cursorReply(ctx, ns, docs, { batchSize: firstBatchSize, singleBatch, lsid: cmd.lsid });
}

/**
 * The oplog as `local.oplog.rs` (what `rs.printReplicationInfo()` and tools that look for the
 * oldest entry read): entries in `$natural` order (oldest first, `{$natural: -1}` newest first),
 * filtered, or sorted by fields like any collection. Scans stop at `limit`.
 */
function findOplog(
  oplog: Oplog,
  term: number,
  opts: { filter?: Document; sort?: Document; skip: number; limit: number },
): Document[] {
  const matcher = compileFilter(opts.filter);
  const keys = opts.sort ? Object.keys(opts.sort) : [];
  const natural = keys.length === 1 && keys[0] === '$natural' ? toNumber(opts.sort?.$natural) : 1;
  if (natural !== 1 && natural !== -1) fail(2, '$natural sort must be 1 or -1');
  const bySort =
    keys.length > 0 && keys[0] !== '$natural' ? compileSort(opts.sort ?? {}) : undefined;
  const want = bySort || opts.limit === 0 ? Infinity : opts.skip + opts.limit;
  const out: Document[] = [];
  for (let n = 0; n < oplog.size && out.length < want; n++) {
    const entry = oplog.at(natural === 1 ? n : oplog.size - 1 - n);
    if (entry === undefined) break;
    const doc = oplogDocument(entry, term, entry === oplog.initiation);
    if (matcher(doc, {})) out.push(doc);
  }
  if (bySort) out.sort(bySort);
  return out.slice(opts.skip, opts.limit === 0 ? undefined : opts.skip + opts.limit);
}

function count(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'count', ctx);
  const query = optionalDoc(cmd, 'query', 'count');
  const skip = optionalCount(cmd, 'skip', 'count') ?? 0;
  const limit = Math.abs(optionalCount(cmd, 'limit', 'count') ?? 0);
  if (skip < 0) fail(51024, `BSON field 'skip' value must be >= 0, actual value '${skip}'`);
  const storage = storageOf(ctx);
  const coll = storage.getCollection(ctx.db, name);
  let n: number;
  if (coll?.isView) {
    n = runPipeline(viewDocuments(storage, ctx.db, name), [{ $match: query ?? {} }]).length;
    n = Math.max(n - skip, 0);
    if (limit > 0) n = Math.min(n, limit);
  } else if (coll) {
    n = findStored(coll, query, { skip, limit }).length;
  } else {
    n = 0;
  }
  return { n, ok: 1 };
}

function distinct(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'distinct', ctx);
  const key: unknown = cmd.key;
  if (typeof key !== 'string')
    fail(40414, "BSON field 'distinct.key' is missing but a required field");
  const query = optionalDoc(cmd, 'query', 'distinct');
  const storage = storageOf(ctx);
  const coll = storage.getCollection(ctx.db, name);
  let docs: Document[];
  if (coll?.isView)
    docs = runPipeline(viewDocuments(storage, ctx.db, name), [{ $match: query ?? {} }]);
  else docs = coll ? findStored(coll, query).map((m) => m.doc) : [];
  const values: unknown[] = [];
  for (const doc of docs) {
    for (const leaf of pathLeaves(doc, key)) {
      const vs = Array.isArray(leaf) ? leaf : [leaf];
      for (const v of vs) {
        if (v === undefined) continue;
        if (!values.some((x) => valuesEqual(x, v))) values.push(v);
      }
    }
  }
  // A real server collects distinct values in a BSON-ordered set.
  values.sort(compareValues);
  return { values: clone({ values }).values as unknown[], ok: 1 };
}

async function aggregate(cmd: Document, ctx: CommandContext): Promise<Document> {
  const pipeline: unknown = cmd.pipeline;
  if (!Array.isArray(pipeline)) fail(14, "'pipeline' option must be specified as an array");
  const first: unknown = pipeline[0];
  if (isDocument(first) && '$changeStream' in first) return openChangeStream(cmd, ctx);
  pipeline.forEach((stage, i) => {
    if (i > 0 && isDocument(stage) && '$changeStream' in stage) {
      fail(40602, '$changeStream is only valid as the first stage in a pipeline');
    }
  });
  if (cmd.explain === true) fail(2, 'explain is not supported by the test server');
  const cursor: unknown = cmd.cursor;
  if (!isDocument(cursor)) {
    fail(9, "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  const batchSize = readBatchSize(cursor.batchSize, 'cursor.batchSize');
  const storage = storageOf(ctx);
  const env = envFor(storage, ctx.db);
  if (typeof cmd.aggregate !== 'string') {
    if (toNumber(cmd.aggregate) !== 1) {
      fail(2, "Invalid aggregate namespace: 'aggregate' must be a collection name or 1");
    }
    const [stage, ...rest] = pipeline as unknown[];
    const stageName = isDocument(stage) ? Object.keys(stage)[0] : undefined;
    let docs: Document[];
    if (stageName === '$currentOp' || stageName === '$listLocalSessions') {
      if (stageName === '$currentOp' && ctx.db !== 'admin') {
        fail(73, "$currentOp must be run against the 'admin' database with {aggregate: 1}");
      }
      docs = [];
    } else if (stageName === '$documents') {
      const list = (stage as Document).$documents;
      if (!Array.isArray(list) || !list.every(isDocument))
        fail(
          5858203,
          'error during aggregation :: caused by :: $documents must evaluate to an array of objects',
        );
      docs = list.map((d) => clone(d as Document));
    } else {
      fail(73, `{aggregate: 1} is not valid for '${stageName ?? ''}'; a collection is required.`);
    }
    return cursorReply(ctx, `${ctx.db}.$cmd.aggregate`, runPipeline(docs, rest, env), {
      batchSize,
      lsid: cmd.lsid,
    });
  }
  const name = targetName(cmd, 'aggregate', ctx);
  const docs = runPipeline(viewDocuments(storage, ctx.db, name), pipeline, env);
  return cursorReply(ctx, `${ctx.db}.${name}`, docs, { batchSize, lsid: cmd.lsid });
}

/** The document command handlers, by command name. */
export const crudCommands: Record<string, CommandHandler> = {
  insert: (cmd, ctx) => retryable(cmd, ctx, () => insert(cmd, ctx)),
  update: (cmd, ctx) => retryable(cmd, ctx, () => update(cmd, ctx)),
  delete: (cmd, ctx) => retryable(cmd, ctx, () => del(cmd, ctx)),
  findAndModify: (cmd, ctx) => retryable(cmd, ctx, () => findAndModify(cmd, ctx, 'findAndModify')),
  findandmodify: (cmd, ctx) => retryable(cmd, ctx, () => findAndModify(cmd, ctx, 'findandmodify')),
  find,
  count,
  distinct,
  aggregate,
};
