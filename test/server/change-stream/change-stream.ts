// `$changeStream` cursors: the aggregate that opens a stream and the getMores that follow it.
// The stages mirror the server's pipeline (document_source_change_stream.cpp):
//   oplog scan → scope filter → token → invalidate check → resume check → event (images)
//   → classic-event filter → user stages → `_id` check → batch (batchSize, 16 MiB).
// An invalidate bypasses the user's stages and closes the cursor, as the server's
// ChangeStreamInvalidated exception does.
import {
  type Document,
  Binary,
  Int32,
  Long,
  Timestamp,
  UUID,
  calculateObjectSize,
  serialize,
} from 'bson';
import { Aggregator, Query } from 'mingo';
import { ServerError, fail, withContext } from '../errors.js';
import { encodeEventView, eventBson } from './event-bytes.js';
import {
  buildEventView,
  buildInvalidate,
  eventToken,
  type EventLookups,
  type EventOptions,
  type FullDocumentBeforeChangeMode,
  type FullDocumentMode,
} from './events.js';
import { Oplog, compareTimestamps, nextTick } from '../oplog.js';
import { RawDocumentArray } from './raw-bson.js';
import {
  HIGH_WATER_MARK_TOKEN,
  InvalidTokenError,
  TOKEN_VERSION,
  compareTokens,
  decodeResumeToken,
  encodeResumeToken,
  highWaterMarkToken,
  type ResumeToken,
  type ResumeTokenData,
} from './tokens.js';
import type {
  CommandContext,
  ConnectionInfo,
  OplogEntry,
  ServerCursor,
  ServerState,
} from '../types.js';
import { isNumeric, toNumber } from '../values.js';

/** A reply batch holds at most this many bytes of events (at least one event). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** An event larger than this fails with BSONObjectTooLarge (BSONObjMaxInternalSize, 16 MB + 16 KiB). */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;
/** `$changeStreamSplitLargeEvent` splits events above this (kBSONObjMaxChangeEventSize). */
export const SPLIT_EVENT_BYTES = MAX_EVENT_BYTES - 8 * 1024;
/** getMore waits this long for events when the client sends no maxTimeMS. */
export const DEFAULT_AWAIT_MS = 1000;
const DEFAULT_BATCH_SIZE = 101;

const NON_RESUMABLE = ['NonResumableChangeStreamError'];

/** What a stream watches. */
export type Scope =
  | { kind: 'collection'; db: string; coll: string }
  | { kind: 'database'; db: string }
  | { kind: 'cluster' };

const INTERNAL_DBS: ReadonlySet<string> = new Set(['admin', 'config', 'local']);

/** Every stage name the server knows: others fail with 40324 before anything else. */
const KNOWN_STAGES: ReadonlySet<string> = new Set([
  '$addFields',
  '$bucket',
  '$bucketAuto',
  '$changeStream',
  '$changeStreamSplitLargeEvent',
  '$collStats',
  '$count',
  '$currentOp',
  '$densify',
  '$documents',
  '$facet',
  '$fill',
  '$geoNear',
  '$graphLookup',
  '$group',
  '$indexStats',
  '$limit',
  '$listClusterCatalog',
  '$listLocalSessions',
  '$listSampledQueries',
  '$listSearchIndexes',
  '$listSessions',
  '$lookup',
  '$match',
  '$merge',
  '$out',
  '$planCacheStats',
  '$project',
  '$querySettings',
  '$redact',
  '$replaceRoot',
  '$replaceWith',
  '$sample',
  '$search',
  '$searchMeta',
  '$set',
  '$setWindowFields',
  '$shardedDataDistribution',
  '$skip',
  '$sort',
  '$sortByCount',
  '$unionWith',
  '$unset',
  '$unwind',
  '$vectorSearch',
]);

/** Stages allowed after `$changeStream` (the split stage is handled on its own). */
const ALLOWED_STAGES: ReadonlySet<string> = new Set([
  '$match',
  '$project',
  '$addFields',
  '$set',
  '$unset',
  '$replaceRoot',
  '$replaceWith',
  '$redact',
]);

const SPEC_FIELDS: ReadonlySet<string> = new Set([
  'resumeAfter',
  'startAfter',
  'startAtOperationTime',
  'fullDocument',
  'fullDocumentBeforeChange',
  'allChangesForCluster',
  'showExpandedEvents',
  // Accepted for fidelity; this server has nothing they would change.
  'showMigrationEvents',
  'showSystemEvents',
  'showRawUpdateDescription',
  'allowToRunOnConfigDB',
  'allowToRunOnSystemNS',
]);

// ---------------------------------------------------------------- parsing the command

/** The `$changeStream` spec, validated. */
export interface ChangeStreamSpec {
  scope: Scope;
  events: EventOptions;
  resumeAfter?: ResumeToken;
  startAfter?: ResumeToken;
  startAtOperationTime?: Timestamp;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof Int32) return 'int';
  if (v instanceof Timestamp) return 'timestamp';
  if (v instanceof Long) return 'long';
  if (typeof v === 'number' || isNumeric(v))
    return Number.isInteger(toNumber(v)) ? 'int' : 'double';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function wrongType(field: string, v: unknown, expected: string): never {
  fail(
    14,
    `BSON field '$changeStream.${field}' is the wrong type '${typeName(v)}', expected type '${expected}'`,
  );
}

function boolOption(spec: Document, field: string): boolean {
  const v: unknown = spec[field];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (isNumeric(v)) return toNumber(v) !== 0;
  return wrongType(field, v, 'bool');
}

function enumOption<T extends string>(
  spec: Document,
  field: string,
  values: readonly T[],
  dflt: T,
): T {
  const v: unknown = spec[field];
  if (v === undefined) return dflt;
  if (typeof v !== 'string') wrongType(field, v, 'string');
  if (!(values as readonly string[]).includes(v)) {
    fail(2, `Enumeration value '${v}' for field '$changeStream.${field}' is not a valid value.`);
  }
  return v as T;
}

function tokenOption(spec: Document, field: string): ResumeToken | undefined {
  const v: unknown = spec[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || isNumeric(v))
    wrongType(field, v, 'object');
  const doc = v as Document;
  if (typeof doc._data !== 'string') {
    fail(
      40647,
      `Bad resume token: _data of missing or of wrong type. Expected string, got ${describe(doc)}`,
    );
  }
  const token: ResumeToken = { _data: doc._data };
  if (doc._typeBits !== undefined) {
    // ResumeToken(const Document&) in src/mongo/db/pipeline/resume_token.cpp: a BinData of
    // subtype 0 or nothing.
    const tb: unknown = doc._typeBits;
    if (!(tb instanceof Binary) || tb.sub_type !== 0 || tb instanceof UUID) {
      fail(40648, `Bad resume token: _typeBits of wrong type ${describe(doc)}`);
    }
    token._typeBits = tb;
  }
  return token;
}

/** The client's token, read as the server reads it: a damaged one fails with its own code. */
function decodeClientToken(token: ResumeToken): ResumeTokenData {
  try {
    return decodeResumeToken(token);
  } catch (err) {
    if (err instanceof InvalidTokenError) fail(err.code, err.message);
    throw err;
  }
}

function isHighWaterMark(data: ResumeTokenData): boolean {
  return (
    data.tokenType === HIGH_WATER_MARK_TOKEN &&
    data.txnOpIndex === 0 &&
    !data.fromInvalidate &&
    !data.uuid &&
    data.eventIdentifier === undefined
  );
}

/** Validates the aggregate the way `DocumentSourceChangeStream::assertIsLegalSpecification` does. */
export function parseChangeStream(
  cmd: Document,
  ctx: CommandContext,
): { spec: ChangeStreamSpec; stages: Document[] } {
  const pipeline: unknown = cmd.pipeline;
  if (!Array.isArray(pipeline)) fail(14, "'pipeline' option must be specified as an array");
  for (const stage of pipeline as unknown[]) {
    if (typeof stage !== 'object' || stage === null || Array.isArray(stage)) {
      fail(14, "Each element of the 'pipeline' array must be an object");
    }
    const names = Object.keys(stage);
    if (names.length !== 1)
      fail(40323, 'A pipeline stage specification object must contain exactly one field.');
    const name = names[0] as string;
    if (!KNOWN_STAGES.has(name)) fail(40324, `Unrecognized pipeline stage name: '${name}'`);
  }
  const first = (pipeline as Document[])[0] ?? {};
  const rawSpec: unknown = first.$changeStream;
  if (!isPlainDocument(rawSpec)) {
    fail(50808, '$changeStream stage expects a document as argument');
  }
  const specDoc = rawSpec as Document;
  for (const field of Object.keys(specDoc)) {
    if (!SPEC_FIELDS.has(field))
      fail(40415, `BSON field '$changeStream.${field}' is an unknown field.`);
  }

  if (ctx.server.topology === 'standalone') {
    fail(40573, 'The $changeStream stage is only supported on replica sets');
  }

  const collectionless = isNumeric(cmd.aggregate) && toNumber(cmd.aggregate) === 1;
  if (!collectionless && typeof cmd.aggregate !== 'string') {
    fail(73, `Invalid collection name: ${describe(cmd.aggregate)}`);
  }
  const db = ctx.db;
  const coll = collectionless ? undefined : (cmd.aggregate as string);
  const nsString = coll === undefined ? `${db}.$cmd.aggregate` : `${db}.${coll}`;

  const allChangesForCluster = boolOption(specDoc, 'allChangesForCluster');
  if (allChangesForCluster && (db !== 'admin' || coll !== undefined)) {
    fail(
      72,
      "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, " +
        `and with no collection name; found ${nsString}`,
    );
  }
  if (db === 'admin' ? !allChangesForCluster : db === 'local' || db === 'config') {
    fail(73, `$changeStream may not be opened on the internal ${db} database`);
  }
  if (coll !== undefined && coll.startsWith('system.')) {
    fail(73, `$changeStream may not be opened on the internal ${nsString} collection`);
  }
  // A stream on a view: 166 CommandNotSupportedOnView (jstests/change_streams/ban_from_views.js);
  // the text is the collection lock's view check (db_raii.cpp, ViewMode::kViewsForbidden).
  if (
    coll !== undefined &&
    typeof ctx.server.storage.getCollection(db, coll)?.options.viewOn === 'string'
  ) {
    fail(166, `Namespace ${nsString} is a view, not a collection`);
  }

  const events: EventOptions = {
    fullDocument: enumOption<FullDocumentMode>(
      specDoc,
      'fullDocument',
      ['default', 'updateLookup', 'whenAvailable', 'required'],
      'default',
    ),
    fullDocumentBeforeChange: enumOption<FullDocumentBeforeChangeMode>(
      specDoc,
      'fullDocumentBeforeChange',
      ['off', 'whenAvailable', 'required'],
      'off',
    ),
    showExpandedEvents: boolOption(specDoc, 'showExpandedEvents'),
  };
  for (const f of ['showMigrationEvents', 'showSystemEvents', 'showRawUpdateDescription'])
    boolOption(specDoc, f);

  const resumeAfter = tokenOption(specDoc, 'resumeAfter');
  const startAfter = tokenOption(specDoc, 'startAfter');
  const rawStart: unknown = specDoc.startAtOperationTime;
  if (rawStart !== undefined && !(rawStart instanceof Timestamp)) {
    wrongType('startAtOperationTime', rawStart, 'timestamp');
  }
  if (resumeAfter && startAfter) {
    fail(50865, "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage");
  }
  const token = resumeAfter ?? startAfter;
  const tokenData = token ? decodeClientToken(token) : undefined;
  if (rawStart !== undefined && tokenData) {
    fail(40674, 'Only one type of resume option is allowed, but multiple were found');
  }
  if (resumeAfter && tokenData?.fromInvalidate) {
    fail(
      260,
      "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification",
    );
  }
  if (tokenData && coll !== undefined && !tokenData.uuid && !isHighWaterMark(tokenData)) {
    fail(
      260,
      'Attempted to resume a single-collection stream, but the resume token does not include a UUID',
    );
  }

  const scope: Scope =
    coll !== undefined
      ? { kind: 'collection', db, coll }
      : db === 'admin'
        ? { kind: 'cluster' }
        : { kind: 'database', db };

  const stages = (pipeline as Document[]).slice(1);
  stages.forEach((stage, i) => {
    const name = Object.keys(stage)[0] as string;
    if (name === '$changeStream')
      fail(40602, '$changeStream is only valid as the first stage in a pipeline');
    if (name === '$changeStreamSplitLargeEvent') {
      const arg: unknown = stage[name];
      if (
        typeof arg !== 'object' ||
        arg === null ||
        Array.isArray(arg) ||
        Object.keys(arg).length > 0
      ) {
        fail(7182800, '$changeStreamSplitLargeEvent spec should be an empty object');
      }
      if (i !== stages.length - 1) {
        fail(7182802, '$changeStreamSplitLargeEvent must be the last stage in the pipeline');
      }
      return;
    }
    if (!ALLOWED_STAGES.has(name)) fail(20, `${name} is not permitted in a $changeStream pipeline`);
  });

  const spec: ChangeStreamSpec = { scope, events };
  if (resumeAfter) spec.resumeAfter = resumeAfter;
  if (startAfter) spec.startAfter = startAfter;
  if (rawStart instanceof Timestamp) spec.startAtOperationTime = rawStart;
  return { spec, stages };
}

// ---------------------------------------------------------------- scope and invalidation

/** Whether the stream sees this entry at all (before any filtering by event type). */
export function inScope(entry: OplogEntry, scope: Scope): boolean {
  if (entry.op === 'noop') return false;
  if (entry.coll !== undefined && entry.coll.startsWith('system.')) return false;
  switch (scope.kind) {
    case 'cluster':
      return !INTERNAL_DBS.has(entry.db);
    case 'database':
      return entry.db === scope.db || (entry.op === 'rename' && entry.to?.db === scope.db);
    case 'collection':
      if (entry.op === 'dropDatabase') return false;
      if (entry.db === scope.db && entry.coll === scope.coll) return true;
      return entry.op === 'rename' && entry.to?.db === scope.db && entry.to.coll === scope.coll;
  }
}

/** Whether the entry ends the stream: drop/rename of (or over) a watched collection, dropDatabase of a watched db. */
export function invalidates(entry: OplogEntry, scope: Scope): boolean {
  switch (scope.kind) {
    case 'cluster':
      return false;
    case 'database':
      return entry.op === 'dropDatabase' && entry.db === scope.db;
    case 'collection':
      return (entry.op === 'drop' || entry.op === 'rename') && inScope(entry, scope);
  }
}

/** An entry that defines a view (create / collMod / drop of a view: they have no UUID). */
function isViewEntry(op: OplogEntry): boolean {
  return (op.op === 'create' || op.op === 'modify' || op.op === 'drop') && op.uuid === undefined;
}

/** kClassicOperationTypes (change_stream_helpers_legacy.h). */
const CLASSIC_OPERATION_TYPES: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'replace',
  'delete',
  'drop',
  'rename',
  'dropDatabase',
  'invalidate',
]);

/** Per storage, per database: the UUID this server gives `<db>.system.views`. */
const VIEWS_UUIDS = new WeakMap<object, Map<string, UUID>>();

/** The UUID of `<db>.system.views`, stable for the server's life (view events carry it). */
function viewsUuid(server: ServerState, db: string): UUID {
  let byDb = VIEWS_UUIDS.get(server.storage);
  if (!byDb) {
    byDb = new Map();
    VIEWS_UUIDS.set(server.storage, byDb);
  }
  let uuid = byDb.get(db);
  if (!uuid) {
    uuid = new UUID();
    byDb.set(db, uuid);
  }
  return uuid;
}

// ---------------------------------------------------------------- user stages

/** BSON numbers → JS numbers (Timestamps stay): mingo compares neither Int32 nor Long objects. */
function normalize(v: unknown): unknown {
  if (v instanceof Timestamp) return v;
  if (isNumeric(v)) return toNumber(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (isPlainDocument(v)) {
    const out: Document = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
    return out;
  }
  return v;
}

function isPlainDocument(v: unknown): v is Document {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function getPath(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const part of path) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isPlainDocument(node)) node = node[part];
    else return undefined;
  }
  return node;
}

/**
 * Puts back the exact BSON type of numbers that a stage passed through: a JS number in the output
 * whose value equals the original number at the same path (relative to `base`) becomes it again.
 */
function restoreTypes(out: unknown, original: unknown, path: string[] = []): unknown {
  if (typeof out === 'number') {
    const orig = getPath(original, path);
    if (
      isNumeric(orig) &&
      !(orig instanceof Timestamp) &&
      (toNumber(orig) === out || (Number.isNaN(out) && Number.isNaN(toNumber(orig))))
    ) {
      return orig;
    }
    return out;
  }
  if (Array.isArray(out)) return out.map((x, i) => restoreTypes(x, original, [...path, String(i)]));
  if (isPlainDocument(out)) {
    const res: Document = {};
    for (const [k, x] of Object.entries(out)) res[k] = restoreTypes(x, original, [...path, k]);
    return res;
  }
  return out;
}

/** The top-level names a projection-like spec writes, in spec order. */
function specOrder(spec: unknown): string[] {
  if (!isPlainDocument(spec)) return [];
  const seen: string[] = [];
  for (const key of Object.keys(spec)) {
    const top = key.split('.')[0] as string;
    if (!seen.includes(top)) seen.push(top);
  }
  return seen;
}

/** Reorders `out`'s fields: `leading` (input order) first, then `trailing` (spec order), then the rest. */
function reorder(out: Document, leading: string[], trailing: string[]): Document {
  const res: Document = {};
  for (const k of [...leading, ...trailing, ...Object.keys(out)]) {
    if (
      Object.prototype.hasOwnProperty.call(out, k) &&
      !Object.prototype.hasOwnProperty.call(res, k)
    )
      res[k] = out[k];
  }
  return res;
}

/** `1`, `true`, `0`, `false` (any BSON number) in a projection: include or exclude, not compute. */
function isInclusionValue(v: unknown): boolean {
  return typeof v === 'boolean' || isNumeric(v);
}

function isExclusion(v: unknown): boolean {
  return v === false || (isNumeric(v) && toNumber(v) === 0);
}

/** A nested projection (`{a: {b: 1}}`), as opposed to an expression object (`{$add: ...}`). */
function isSubProjection(v: unknown): boolean {
  return isPlainDocument(v) && !Object.keys(v).some((k) => k.startsWith('$'));
}

/** Field order as the server's projection executor writes it (mingo's order differs). */
function orderLikeServer(
  stageName: string,
  spec: unknown,
  input: Document,
  out: Document,
): Document {
  const inputKeys = Object.keys(input);
  if (stageName === '$project' && isPlainDocument(spec)) {
    const inclusion = Object.entries(spec).some(([k, v]) => k !== '_id' && !isExclusion(v));
    if (!inclusion) return reorder(out, inputKeys, []);
    // Included fields and sub-projections keep the input order (_id first, as in the input);
    // computed fields follow, in spec order, even when they replace an input field.
    const included = new Set<string>(['_id']);
    const computed: string[] = [];
    for (const [key, v] of Object.entries(spec)) {
      const top = key.split('.')[0] as string;
      if (key.includes('.') || isInclusionValue(v) || isSubProjection(v)) included.add(top);
      else if (!computed.includes(top)) computed.push(top);
    }
    const leading = inputKeys.filter((k) => included.has(k) && !computed.includes(k));
    const res = reorder(out, leading, computed);
    for (const key of Object.keys(res)) {
      const sub = subSpec(spec, key);
      const inSub = input[key];
      const outSub = res[key];
      if (sub && isPlainDocument(inSub) && isPlainDocument(outSub)) {
        res[key] = orderLikeServer('$project', sub, inSub, outSub);
      }
    }
    return res;
  }
  if (stageName === '$addFields' || stageName === '$set') {
    return reorder(out, inputKeys, specOrder(spec));
  }
  if (stageName === '$unset') return reorder(out, inputKeys, []);
  return out;
}

/** The part of a projection spec under top-level field `key` (dotted keys and nested objects). */
function subSpec(spec: Document, key: string): Document | undefined {
  const sub: Document = {};
  let found = false;
  for (const [k, v] of Object.entries(spec)) {
    if (k === key && isSubProjection(v)) {
      Object.assign(sub, v);
      found = true;
    } else if (k.startsWith(`${key}.`)) {
      sub[k.slice(key.length + 1)] = v;
      found = true;
    }
  }
  return found ? sub : undefined;
}

/** One user stage, ready to run on events. */
export interface UserStage {
  name: string;
  spec: unknown;
  run(event: Document): Document[];
}

/** Query operators that combine other filters (their arrays hold filters on the same event). */
const LOGICAL_OPS: ReadonlySet<string> = new Set(['$and', '$or', '$nor']);

/**
 * The top-level event fields a `$match` filter reads, or undefined when it may read any
 * (`$expr`, `$where`, `$jsonSchema`…, or a shape this does not follow).
 */
export function matchFields(filter: unknown, into = new Set<string>()): Set<string> | undefined {
  if (!isPlainDocument(filter)) return undefined;
  for (const key of Object.keys(filter)) {
    if (key === '$comment') continue;
    if (LOGICAL_OPS.has(key)) {
      const branches: unknown = filter[key];
      if (!Array.isArray(branches)) return undefined;
      for (const branch of branches) if (!matchFields(branch, into)) return undefined;
    } else if (key.startsWith('$')) {
      return undefined;
    } else {
      into.add(key.split('.')[0] as string);
    }
  }
  return into;
}

/**
 * `$match` without an aggregation per event: the mingo `Query` the `$match` stage would build
 * each time is built once, and only the fields the filter reads are normalized.
 */
function compileMatch(spec: unknown): UserStage {
  const fields = matchFields(spec);
  let query: Query | undefined;
  return {
    name: '$match',
    spec,
    run(event: Document): Document[] {
      let matched: boolean;
      try {
        // Built at the first event, as before: a bad filter fails the getMore, not the open.
        query ??= new Query(normalize(spec) as Document, {});
        let input: Document;
        if (fields) {
          input = {};
          for (const f of fields) {
            if (Object.prototype.hasOwnProperty.call(event, f)) input[f] = normalize(event[f]);
          }
        } else {
          input = normalize(event) as Document;
        }
        matched = query.test(input);
      } catch (err) {
        fail(2, err instanceof Error ? err.message : String(err));
      }
      return matched ? [event] : [];
    },
  };
}

/** One user stage, compiled (exported for tests). */
export function compileStage(stage: Document): UserStage {
  const name = Object.keys(stage)[0] as string;
  const spec: unknown = stage[name];
  if (name === '$match') return compileMatch(spec);
  const aggregator = new Aggregator([normalize(stage) as Document], {});
  const base =
    (name === '$replaceRoot' || name === '$replaceWith') &&
    typeof (name === '$replaceRoot' ? (spec as Document | undefined)?.newRoot : spec) === 'string'
      ? String(name === '$replaceRoot' ? (spec as Document).newRoot : spec)
          .slice(1)
          .split('.')
      : [];
  return {
    name,
    spec,
    run(event: Document): Document[] {
      const input = normalize(event) as Document;
      let results: unknown[];
      try {
        results = aggregator.run([input]);
      } catch (err) {
        fail(2, err instanceof Error ? err.message : String(err));
      }
      // mingo yields null for a document its $redact pruned at the top level: drop it.
      const docs = results.filter((d): d is Document => isPlainDocument(d));
      if (name === '$match') return docs.length > 0 ? [event] : [];
      return docs.map((d) => {
        const typed = restoreTypes(d, base.length > 0 ? getPath(event, base) : event) as Document;
        return orderLikeServer(name, spec, event, typed);
      });
    },
  };
}

/**
 * `serialize`, for documents of any size: the bson package serializes through a 17 MiB buffer,
 * and a user stage may turn an event that is to be split into a larger one. The event writer
 * (event-bytes.ts) writes the same bytes without that limit.
 */
function serializeAnySize(doc: Document, entry: OplogEntry): Uint8Array {
  try {
    return serialize(doc);
  } catch (e) {
    // By name: Node's own RangeError may come from another realm (a test runner's sandbox).
    if ((e as Error).name !== 'RangeError') throw e;
    return encodeEventView(doc, entry);
  }
}

/** Splits an oversized event into fragments, as `$changeStreamSplitLargeEvent` does. */
function splitEvent(
  event: Document,
  token: ResumeToken,
  data: ResumeTokenData,
  maxBytes: number,
): Document[] {
  const fields = Object.keys(event)
    .filter((k) => k !== '_id')
    .map((k) => ({ key: k, size: calculateObjectSize({ [k]: event[k] }) - 5 }))
    .sort((a, b) => a.size - b.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (fields.length === 0)
    fail(7182502, "Cannot split an empty event or an event containing solely '_id' field");
  const tokenSize = calculateObjectSize(token);
  const limit = maxBytes - tokenSize;
  const fragments: Document[] = [];
  let i = 0;
  while (i < fields.length) {
    const fragToken = encodeResumeToken({ ...data, fragmentNum: fragments.length });
    const frag: Document = {
      _id: fragToken,
      splitEvent: { fragment: new Int32(fragments.length + 1), of: new Int32(0) },
    };
    let size = calculateObjectSize(frag);
    do {
      const f = fields[i] as { key: string; size: number };
      frag[f.key] = event[f.key];
      size += f.size;
      i++;
    } while (i < fields.length && size + (fields[i] as { size: number }).size <= limit);
    if (size > limit) {
      fail(
        7182500,
        `Splitting change event failed: fragment size ${size} is greater than maximum allowed fragment size ${limit}`,
      );
    }
    fragments.push(frag);
  }
  for (const f of fragments) (f.splitEvent as Document).of = new Int32(fragments.length);
  return fragments;
}

/** A token as BSONObj::toString writes it in server messages: `{ _data: "…" }`. */
function bsonObjString(token: ResumeToken): string {
  const typeBits = token._typeBits
    ? `, _typeBits: BinData(0, ${Buffer.from(token._typeBits.buffer.subarray(0, token._typeBits.position)).toString('hex').toUpperCase()})`
    : '';
  return `{ _data: "${token._data}"${typeBits} }`;
}

/** A value as the server's Document::toString writes it: `{_data: "…"}`. */
function describe(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`;
  if (v instanceof Binary) {
    const hex = Buffer.from(v.buffer.subarray(0, v.position)).toString('hex').toUpperCase();
    return `BinData(${v.sub_type}, ${hex})`;
  }
  if (isPlainDocument(v)) {
    const parts = Object.entries(v).map(([k, x]) => `${k}: ${describe(x)}`);
    return parts.length === 0 ? '{}' : `{${parts.join(', ')}}`;
  }
  return String(v);
}

// ---------------------------------------------------------------- the cursor

/** A `$changeStream` cursor (tailable, awaitData). */
export class ChangeStreamCursor implements ServerCursor {
  readonly id: Long;
  readonly ns: string;
  readonly isChangeStream = true;

  private readonly oplog: Oplog;
  private readonly server: ServerState;
  private readonly spec: ChangeStreamSpec;
  private readonly stages: UserStage[];
  private readonly split: boolean;
  /** Scan position: entries after `pos` (or at it, while `posInclusive`) are still to read. */
  private pos: Timestamp;
  private posInclusive: boolean;
  private pbrt: ResumeToken;
  private pbrtTime: Timestamp;
  // Ready events (fragments, the invalidate) as BSON, with their tokens and the cluster time of
  // the entry each came from: parallel arrays (no object per event), taken from `pendingHead`
  // on (by index: `shift()` is linear).
  private pendingBson: Uint8Array[] = [];
  private pendingToken: ResumeToken[] = [];
  private pendingTs: Timestamp[] = [];
  private pendingHead = 0;
  private pendingBytes = 0;
  /** Index of the pending invalidate: returned last, then the cursor closes. */
  private closesAt = -1;
  private finished = false;
  private startChecked = false;
  private killed = false;
  private readonly wakers = new Set<() => void>();
  private readonly watchedConnections = new Set<number>();
  /** The client's resume point while events up to it are still being skipped. */
  private clientToken: ResumeToken | undefined;
  /** An event token (not a high-water mark) must be met before the stream may pass it. */
  private mustSeeToken = false;
  private tokenSeen = false;
  /**
   * While resuming from a token of an older version (a v1 token from a 6.0 server): its version,
   * time and txnOpIndex. Events up to that point get tokens of that version, so they compare
   * with it (makeResumeToken in src/mongo/db/pipeline/change_stream_event_transform.cpp).
   */
  private legacy: { version: number; clusterTime: Timestamp; txnOpIndex: number } | undefined;
  /** The client's token without its fragment number (resuming inside a split event). */
  private clientEventToken: string | undefined;
  /** That token's fragment number. */
  private clientFragment: number | undefined;
  private readonly lookups: EventLookups;
  /**
   * A shard's stream under a mongos: the event with the client's token passes (mongos swallows
   * it), and a token not found is mongos' error, not the shard's
   * (DocumentSourceChangeStreamCheckResumability runs on shards,
   * DocumentSourceChangeStreamEnsureResumeTokenPresent on mongos: document_source_change_stream.cpp).
   */
  private readonly onShard: boolean;

  /**
   * The session (`lsid`) of the aggregate that opened the cursor, null without one: getMores
   * must come from the same one (validateLSID, src/mongo/db/commands/getmore_cmd.cpp).
   */
  readonly lsid: Document | null;

  constructor(
    server: ServerState,
    spec: ChangeStreamSpec,
    stages: Document[],
    lsid: Document | null = null,
    opts: { onShard?: boolean } = {},
  ) {
    if (!(server.oplog instanceof Oplog)) throw new Error('change streams need the server Oplog');
    this.lsid = lsid;
    this.onShard = opts.onShard ?? false;
    this.server = server;
    this.oplog = server.oplog;
    this.spec = spec;
    const last = stages[stages.length - 1];
    this.split = last !== undefined && '$changeStreamSplitLargeEvent' in last;
    this.stages = (this.split ? stages.slice(0, -1) : stages).map(compileStage);
    this.id = server.cursors.nextId();
    this.ns =
      spec.scope.kind === 'collection'
        ? `${spec.scope.db}.${spec.scope.coll}`
        : `${spec.scope.kind === 'cluster' ? 'admin' : spec.scope.db}.$cmd.aggregate`;
    this.lookups = {
      currentDocument: (db, coll, uuid, documentKey) => {
        const c = server.storage.getCollection(db, coll);
        if (!c || (uuid && !c.uuid.equals(uuid))) return null;
        return c.findById(documentKey._id) ?? null;
      },
    };

    const token = spec.resumeAfter ?? spec.startAfter;
    if (token) {
      const data = decodeResumeToken(token);
      this.pos = data.clusterTime;
      this.posInclusive = true;
      this.pbrt = token;
      this.pbrtTime = data.clusterTime;
      this.clientToken = token;
      this.mustSeeToken = !isHighWaterMark(data);
      if (data.version !== TOKEN_VERSION) {
        this.legacy = {
          version: data.version,
          clusterTime: data.clusterTime,
          txnOpIndex: data.txnOpIndex,
        };
      }
      if (data.fragmentNum !== undefined) {
        const whole: ResumeTokenData = { ...data };
        delete whole.fragmentNum;
        this.clientEventToken = encodeResumeToken(whole)._data;
        this.clientFragment = data.fragmentNum;
      }
    } else {
      // A new stream starts one tick after the newest entry (the server's getStartTimeForNewStream).
      const start = spec.startAtOperationTime ?? nextTick(this.oplog.lastTimestamp);
      this.pos = start;
      this.posInclusive = true;
      this.pbrt = highWaterMarkToken(start);
      this.pbrtTime = start;
    }
  }

  /** The first batch, for the aggregate reply. Throws 286 when the start point left the oplog. */
  firstBatch(batchSize: number): Document {
    let batch: Uint8Array[] = [];
    try {
      if (batchSize > 0) batch = this.collect(batchSize);
    } catch (err) {
      // An error while the pipeline runs carries the executor's context (run_aggregate.cpp:
      // `exception.addContext("PlanExecutor error during aggregation")`); errors in the command
      // itself (parseChangeStream: 40674, 50865, 260, token codes…) do not.
      throw err instanceof ServerError
        ? withContext(err, 'PlanExecutor error during aggregation')
        : err;
    }
    return this.reply('firstBatch', batch);
  }

  async getMore(cmd: Document, ctx: CommandContext): Promise<Document> {
    // No (or a zero) batchSize: as many events as fit in 16 MiB.
    const requested = cmd.batchSize === undefined ? 0 : (toNumber(cmd.batchSize) ?? 0);
    const batchSize = requested > 0 ? requested : Infinity;
    const maxTimeMS =
      cmd.maxTimeMS === undefined
        ? DEFAULT_AWAIT_MS
        : (toNumber(cmd.maxTimeMS) ?? DEFAULT_AWAIT_MS);
    const deadline = Date.now() + maxTimeMS;
    try {
      let batch = this.collect(batchSize);
      // awaitData: wait for an append (never poll) until something is ready or time is up.
      while (batch.length === 0 && !this.finished && !this.killed && !ctx.connection.closed) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        await this.waitForAppend(remaining, ctx.connection);
        if (this.killed) fail(237, 'operation was interrupted because a client killed the cursor');
        batch = this.collect(batchSize);
      }
      return this.reply('nextBatch', batch);
    } catch (err) {
      // A failed getMore destroys the cursor, as on the server, and the error carries the
      // executor's context (getmore_cmd.cpp: `exception.addContext("Executor error during
      // getMore")`).
      this.close();
      throw err instanceof ServerError ? withContext(err, 'Executor error during getMore') : err;
    }
  }

  kill(): void {
    this.killed = true;
    this.finished = true;
    for (const wake of [...this.wakers]) wake();
  }

  private close(): void {
    this.server.cursors.remove(this.id);
    this.kill();
  }

  private reply(field: 'firstBatch' | 'nextBatch', batch: Uint8Array[]): Document {
    const closed = this.finished;
    if (closed) this.server.cursors.remove(this.id);
    return cursorReply(field, batch, this.pbrt, closed ? Long.ZERO : this.id, this.ns);
  }

  private waitForAppend(ms: number, connection: ConnectionInfo): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        this.wakers.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      const unsubscribe = this.oplog.subscribe(finish);
      this.wakers.add(finish);
      this.watchConnection(connection);
    });
  }

  /** Wakes this cursor's waiters when a connection it waits on closes (once per connection). */
  private watchConnection(connection: ConnectionInfo): void {
    const onClose = (connection as { onClose?: unknown }).onClose;
    if (typeof onClose !== 'function' || this.watchedConnections.has(connection.id)) return;
    this.watchedConnections.add(connection.id);
    (onClose as (listener: () => void) => void).call(connection, () => {
      for (const wake of [...this.wakers]) wake();
    });
  }

  private get pendingCount(): number {
    return this.pendingBson.length - this.pendingHead;
  }

  /** Takes up to `limit` ready events (scanning the oplog as needed) and moves the PBRT. */
  private collect(limit: number): Uint8Array[] {
    if (this.pendingCount < limit && !this.finished) this.scan(limit);
    const batch: Uint8Array[] = [];
    let bytes = 0;
    let last = -1;
    while (this.pendingHead < this.pendingBson.length && batch.length < limit) {
      const i = this.pendingHead;
      const bson = this.pendingBson[i] as Uint8Array;
      if (batch.length > 0 && bytes + bson.length > MAX_BATCH_BYTES) break;
      this.pendingHead++;
      this.pendingBytes -= bson.length;
      batch.push(bson);
      bytes += bson.length;
      last = i;
      if (i === this.closesAt) {
        this.finished = true;
        break;
      }
    }
    if (last >= 0) {
      this.pbrt = this.pendingToken[last] as ResumeToken;
      this.pbrtTime = this.pendingTs[last] as Timestamp;
    }
    this.compactPending();
    // Nothing left behind: the stream has read the oplog up to `pos`, so a high-water mark may move.
    if (this.pendingCount === 0 && !this.finished) {
      const scanned = this.posInclusive ? undefined : this.pos;
      if (scanned && compareTimestamps(scanned, this.pbrtTime) > 0) {
        this.pbrt = highWaterMarkToken(scanned);
        this.pbrtTime = scanned;
      }
    }
    return batch;
  }

  /** Reads oplog entries into `pending` until `limit` events are ready or the oplog ends. */
  private scan(limit: number): void {
    if (!this.startChecked) {
      this.checkStartPoint();
      this.startChecked = true;
    }
    this.checkHistory();
    let index = this.oplog.indexAfter(this.pos, this.posInclusive);
    for (;;) {
      // Enough for a batch (by count or by the 16 MiB cap): leave the rest in the oplog.
      if (this.pendingCount >= limit || this.pendingBytes > MAX_BATCH_BYTES) return;
      const entry = this.oplog.at(index++);
      if (!entry) return;
      this.pos = entry.ts;
      this.posInclusive = false;
      // An applyOps (transaction, batched insert/delete) is unwound whole, one event per inner
      // operation, as DocumentSourceChangeStreamUnwindTransaction does: its events share one
      // cluster time, so the scan never stops inside it (the extra events wait in `pending`).
      for (const op of entry.applyOps ?? [entry]) {
        // Migrations and the other shards' side of a DDL are not events
        // (buildNotFromMigrateFilter, change_stream_filter_helpers.cpp).
        if (op.fromMigrate || !inScope(op, this.spec.scope) || this.hiddenView(op)) continue;
        const closing = invalidates(op, this.spec.scope);
        const token = this.tokenFor(op);
        if (this.admitAfterResume(token)) this.emit(op, token);
        if (closing) {
          const invalidate = this.invalidateFor(op);
          const invToken = invalidate._id as ResumeToken;
          // startAfter an invalidate swallows it (and its trigger): the stream carries on after it.
          if (this.admitAfterResume(invToken, false)) {
            this.queue(serialize(invalidate), invToken, op.ts, true);
            return;
          }
        }
      }
    }
  }

  /**
   * View definitions are writes to `<db>.system.views` on a real server: only database and
   * cluster streams with showExpandedEvents see them, as create / modify / drop events
   * (buildViewDefinitionEventFilter is added only when `showExpandedEvents &&
   * isCollectionlessAggregateNS`, document_source_change_stream_oplog_match.cpp).
   */
  private hiddenView(op: OplogEntry): boolean {
    return (
      isViewEntry(op) &&
      (!this.spec.events.showExpandedEvents || this.spec.scope.kind === 'collection')
    );
  }

  /**
   * The event's token: the shared one, except for view events (the system.views collection's
   * UUID, ChangeStreamViewDefinitionEventTransformation in change_stream_event_transform.cpp)
   * and, while resuming from an older token, events up to its position (the client's version).
   */
  private tokenFor(op: OplogEntry, fromInvalidate = false): ResumeToken {
    const shared = eventToken(op, fromInvalidate);
    const legacy = this.legacy;
    const keepVersion =
      legacy !== undefined &&
      compareTimestamps(op.ts, legacy.clusterTime) <= 0 &&
      (op.txnOpIndex ?? 0) <= legacy.txnOpIndex;
    const view = isViewEntry(op);
    if (!keepVersion && !view) return shared;
    const data = decodeResumeToken(shared);
    if (view) data.uuid = viewsUuid(this.server, op.db);
    if (keepVersion) {
      data.version = legacy.version;
      // Up to v1 a classic event's eventIdentifier is its documentKey, even when missing
      // (ResumeTokenData's constructor, src/mongo/db/pipeline/resume_token.cpp).
      if (legacy.version <= 1 && CLASSIC_OPERATION_TYPES.has(op.op)) {
        if (op.documentKey) data.eventIdentifier = op.documentKey;
        else delete data.eventIdentifier;
      }
    }
    return encodeResumeToken(data);
  }

  /** The invalidate after `op`, with the token `tokenFor` gives it. */
  private invalidateFor(op: OplogEntry): Document {
    const invalidate = buildInvalidate(op);
    invalidate._id = this.tokenFor(op, true);
    return invalidate;
  }

  /**
   * The resume check (DSCSCheckResumability + DSCSEnsureResumeTokenPresent): swallows events up
   * to and including the client's token; 280 if an event passes it without it having been seen.
   */
  private admitAfterResume(token: ResumeToken, passEqual = this.onShard): boolean {
    if (!this.clientToken) return true;
    if (token._data === this.clientEventToken) {
      // The event the client's fragment came from: let it through to be split again; the
      // fragments up to the client's are dropped after splitting.
      this.tokenSeen = true;
      return true;
    }
    const cmp = compareTokens(token, this.clientToken);
    if (cmp < 0) return false;
    if (cmp === 0) {
      this.tokenSeen = true;
      return passEqual;
    }
    // Past the client's position: an event token must have been seen on the way.
    if (this.mustSeeToken && !this.tokenSeen && !this.onShard) {
      fail(
        280,
        `cannot resume stream; the resume token was not found. ${describe(token)}`,
        NON_RESUMABLE,
      );
    }
    this.clientToken = undefined;
    return true;
  }

  /** Builds the event, runs the user's stages, and queues what comes out. */
  private emit(entry: OplogEntry, token: ResumeToken): void {
    const maxBytes = this.split ? SPLIT_EVENT_BYTES : MAX_EVENT_BYTES;
    // Resuming inside a split event: its fragments up to the client's are skipped.
    const resumingSplit = token._data === this.clientEventToken;
    // A token of its own (a view event, an older version while resuming): built, not cached.
    const ownToken = token !== eventToken(entry);
    if (this.stages.length === 0 && !resumingSplit && !ownToken) {
      // The common stream: the event's BSON, serialized once per entry and options, as it is.
      const bson = eventBson(entry, this.spec.events, this.lookups);
      if (!bson) return;
      if (bson.length <= maxBytes) {
        this.queue(bson, token, entry.ts);
        return;
      }
      // Too large: the document path below splits it or fails.
    }
    const event = buildEventView(entry, this.spec.events, this.lookups);
    if (!event) return;
    if (ownToken) event._id = token;
    let docs = [event];
    for (const stage of this.stages) docs = docs.flatMap((d) => stage.run(d));
    for (const doc of docs) {
      const id: unknown = doc._id;
      if (!sameToken(id, token)) {
        fail(
          280,
          'Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.',
          NON_RESUMABLE,
        );
      }
      // `$match` passes the event itself through: its cached BSON serves.
      const bson =
        doc !== event
          ? serializeAnySize(doc, entry)
          : ownToken
            ? encodeEventView(event, entry)
            : (eventBson(entry, this.spec.events, this.lookups, event) as Uint8Array);
      const size = bson.length;
      if (size <= maxBytes) {
        if (resumingSplit) {
          fail(
            280,
            'Attempted to resume from a split event fragment, but the event in the resumed stream was not large enough to be split',
            NON_RESUMABLE,
          );
        }
        this.queue(bson, token, entry.ts);
        continue;
      }
      if (!this.split) {
        fail(
          10334,
          `BSONObj size: ${size} (0x${size.toString(16).toUpperCase()}) is invalid. ` +
            `Size must be between 0 and 16793600(16MB) First element: _id: ${bsonObjString(token)}`,
        );
      }
      const data = decodeResumeToken(token);
      const fragments = splitEvent(doc, token, data, SPLIT_EVENT_BYTES);
      // Resuming from fragment n (0-based) skips the first n; when the new pipeline splits the
      // event into n fragments or fewer, nothing is left and the split point is lost
      // (DocumentSourceChangeStreamSplitLargeEvent::doGetNext,
      // document_source_change_stream_split_large_event.cpp).
      const skip = resumingSplit ? (this.clientFragment ?? 0) : 0;
      if (skip > 0 && fragments.length <= skip) {
        fail(
          280,
          'Attempted to resume from a split event, but the resumed stream produced a different split. Ensure that the pipeline used to resume is the same as the original',
          NON_RESUMABLE,
        );
      }
      for (const fragment of fragments) {
        const fragToken = fragment._id as ResumeToken;
        if (resumingSplit && this.clientToken && compareTokens(fragToken, this.clientToken) <= 0) {
          continue;
        }
        this.queue(serialize(fragment), fragToken, entry.ts);
      }
      if (resumingSplit) {
        this.clientEventToken = undefined;
        this.clientToken = undefined;
      }
    }
  }

  private queue(bson: Uint8Array, token: ResumeToken, ts: Timestamp, closes = false): void {
    if (closes) this.closesAt = this.pendingBson.length;
    this.pendingBson.push(bson);
    this.pendingToken.push(token);
    this.pendingTs.push(ts);
    this.pendingBytes += bson.length;
  }

  /** Drops the taken prefix of the pending arrays once it is all or most of them. */
  private compactPending(): void {
    const head = this.pendingHead;
    if (head === 0) return;
    if (head === this.pendingBson.length) {
      this.pendingBson = [];
      this.pendingToken = [];
      this.pendingTs = [];
    } else if (head > 1024 && head * 2 > this.pendingBson.length) {
      this.pendingBson = this.pendingBson.slice(head);
      this.pendingToken = this.pendingToken.slice(head);
      this.pendingTs = this.pendingTs.slice(head);
    } else {
      return;
    }
    this.closesAt = this.closesAt >= head ? this.closesAt - head : -1;
    this.pendingHead = 0;
  }

  /** 136 when entries this cursor had not read yet fell off the oplog. */
  private checkHistory(): void {
    const dropped = this.oplog.droppedThrough;
    if (!dropped) return;
    const cmp = compareTimestamps(dropped, this.pos);
    if (cmp > 0 || (cmp === 0 && this.posInclusive)) {
      fail(
        136,
        'CollectionScan died due to position in capped collection being deleted. ' +
          `Last seen record id: RecordId(${new Long(this.pos.i, this.pos.t, true).toString()})`,
      );
    }
  }

  /** 286 when the requested start point is older than the oldest entry still held. */
  private checkStartPoint(): void {
    const first = this.oplog.first;
    const dropped = this.oplog.droppedThrough;
    // When the oldest entry is still the replica set's "initiating set" no-op, nothing older can
    // have been lost: any earlier start is fine (CollectionScan::assertTsHasNotFallenOff,
    // src/mongo/db/exec/collection_scan.cpp, `isNewRS`). The Oplog starts with that no-op; it is
    // still the first entry while nothing has fallen off.
    const initiation = first !== undefined && first.op === 'noop' && dropped === undefined;
    const lost = first
      ? !initiation && compareTimestamps(first.ts, this.pos) > 0
      : dropped !== undefined && compareTimestamps(dropped, this.pos) >= 0;
    if (lost) {
      fail(
        286,
        'Resume of change stream was not possible, as the resume point may no longer be in the oplog.',
        NON_RESUMABLE,
      );
    }
  }
}

function sameToken(id: unknown, token: ResumeToken): boolean {
  if (!isPlainDocument(id)) return false;
  const keys = Object.keys(id);
  if (id._data !== token._data) return false;
  if (token._typeBits) return keys.length === 2 && id._typeBits !== undefined;
  return keys.length === 1;
}

/** Answers an `aggregate` whose pipeline starts with `$changeStream`. */
export async function openChangeStream(cmd: Document, ctx: CommandContext): Promise<Document> {
  await Promise.resolve();
  const { spec, stages } = parseChangeStream(cmd, ctx);
  const cursorOpt: unknown = cmd.cursor;
  if (cursorOpt === undefined || !isPlainDocument(cursorOpt)) {
    fail(9, "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  const rawBatch: unknown = cursorOpt.batchSize;
  const batchSize =
    rawBatch === undefined ? DEFAULT_BATCH_SIZE : (toNumber(rawBatch) ?? DEFAULT_BATCH_SIZE);
  if (batchSize < 0)
    fail(51024, `BSON field 'batchSize' value must be >= 0, actual value '${batchSize}'`);
  const lsid: unknown = cmd.lsid;
  const cursor = new ChangeStreamCursor(
    ctx.server,
    spec,
    stages,
    isPlainDocument(lsid) ? lsid : null,
  );
  const reply = cursor.firstBatch(batchSize);
  if (!(reply.cursor as Document).id.equals(Long.ZERO)) ctx.server.cursors.add(cursor);
  return reply;
}

/**
 * A change-stream cursor's reply: the events' BSON framed as the batch array (spliced into the
 * reply by the wire layer), the post-batch resume token, the id (0: closed) and the ns.
 */
export function cursorReply(
  field: 'firstBatch' | 'nextBatch',
  batch: Uint8Array[],
  pbrt: ResumeToken,
  id: Long,
  ns: string,
): Document {
  return {
    cursor: { [field]: new RawDocumentArray(batch), postBatchResumeToken: pbrt, id, ns },
    ok: 1,
  };
}
