// Databases, collections and documents held in memory. Every change goes through here so that
// exactly one oplog entry (or the right sequence of them) is appended per write, with owned
// copies of the documents involved. Handlers (commands/crud.ts, commands/ddl.ts) decide what
// to write; this layer stores it, enforces `_id` and unique indexes, and logs it.
import { type Document, type Long, ObjectId, UUID, calculateObjectSize } from 'bson';
import { ServerError, fail } from './errors.js';
import { type Matcher, compileFilter, getPath, splitPath } from './query/index.js';
import type { UpdateDescription } from './update/index.js';
import type {
  CollectionApi,
  CollectionOptions,
  IndexSpec,
  OplogApi,
  OplogEntry,
  OplogEntryInput,
  StorageApi,
} from './types.js';
import { bsonType, clone, cloneWithBson, formatValue, idKey, isDocument } from './values.js';

/** The default `_id` index every collection has. */
export function idIndexSpec(): IndexSpec {
  return { v: 2, key: { _id: 1 }, name: '_id_' };
}

const DB_NAME_FORBIDDEN = /[/\\. "$*<>:|?\0]/;

/** Throws 73 InvalidNamespace for a database name MongoDB refuses. */
export function validateDbName(db: string): void {
  if (typeof db !== 'string' || db.length === 0 || db.length >= 64 || DB_NAME_FORBIDDEN.test(db)) {
    fail(73, `Invalid database name: '${String(db)}'`);
  }
}

/** Throws 73 InvalidNamespace for a collection name MongoDB refuses (`write`: user writes). */
export function validateCollectionName(
  db: string,
  coll: unknown,
  write = false,
): asserts coll is string {
  if (typeof coll !== 'string') fail(73, `Invalid namespace specified '${db}.${String(coll)}'`);
  if (coll.length === 0 || coll.includes('\0') || coll.startsWith('.') || coll.includes('$')) {
    fail(73, `Invalid collection name: ${coll}`);
  }
  if (write && coll.startsWith('system.')) fail(73, `cannot write to '${db}.${coll}'`);
}

/** Unique-index bookkeeping: index name → key string → `_id` key of the owner. */
interface UniqueIndex {
  spec: IndexSpec;
  fields: string[][];
  partial?: Matcher;
  owners: Map<string, string>;
}

/** One collection (or view, when `options.viewOn` is set). */
export class Collection implements CollectionApi {
  db: string;
  name: string;
  readonly uuid: UUID;
  options: CollectionOptions;
  readonly indexes: IndexSpec[];
  private readonly docs = new Map<string, Document>();
  private unique = new Map<string, UniqueIndex>();

  constructor(db: string, name: string, options: CollectionOptions, uuid = new UUID()) {
    this.db = db;
    this.name = name;
    this.uuid = uuid;
    this.options = options;
    this.indexes = this.isView ? [] : [idIndexSpec()];
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  get isView(): boolean {
    return typeof this.options.viewOn === 'string';
  }

  get imagesEnabled(): boolean {
    return this.options.changeStreamPreAndPostImages?.enabled === true;
  }

  all(): Document[] {
    return [...this.docs.values()].map((d) => clone(d));
  }

  findById(id: unknown): Document | undefined {
    const d = this.docs.get(idKey(id));
    return d ? clone(d) : undefined;
  }

  get size(): number {
    return this.docs.size;
  }

  /** The stored documents themselves, in natural order: read-only, for the query layer. */
  raw(): IterableIterator<Document> {
    return this.docs.values();
  }

  /** The stored document with this `_id` (not a copy), for exact `_id` lookups. */
  rawById(id: unknown): Document | undefined {
    return this.docs.get(idKey(id));
  }

  // -------------------------------------------------------------- unique indexes

  private uniqueKeys(u: UniqueIndex, doc: Document): string[] {
    if (u.partial && !u.partial(doc)) return [];
    const perField = u.fields.map((parts) => {
      const v = getPath(doc, parts);
      if (Array.isArray(v)) return v.length === 0 ? [undefined] : v;
      return [v];
    });
    if (u.spec.sparse === true && perField.every((vs) => vs.length === 1 && vs[0] === undefined))
      return [];
    // Multikey: one key per combination of array elements.
    let combos: unknown[][] = [[]];
    for (const vs of perField) combos = combos.flatMap((c) => vs.map((v) => [...c, v ?? null]));
    return [...new Set(combos.map((c) => idKey(c)))];
  }

  private keyValue(u: UniqueIndex, doc: Document): Document {
    const out: Document = {};
    u.fields.forEach((parts, i) => {
      const name = Object.keys(u.spec.key)[i] as string;
      const v = getPath(doc, parts);
      out[name] = v === undefined ? null : Array.isArray(v) ? (v[0] ?? null) : v;
    });
    return out;
  }

  private duplicate(indexName: string, keyPattern: Document, keyValue: Document): never {
    const shown = Object.entries(keyValue)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(', ');
    throw new DuplicateKeyError(
      `E11000 duplicate key error collection: ${this.ns} index: ${indexName} dup key: { ${shown} }`,
      clone(keyPattern),
      clone(keyValue),
    );
  }

  /** Throws 11000 if storing `doc` would break `_id` or a unique index (`replacing`: its old version). */
  checkUnique(doc: Document, replacing?: Document): void {
    const own = idKey(doc._id);
    if (!replacing && this.docs.has(own)) this.duplicate('_id_', { _id: 1 }, { _id: doc._id });
    for (const u of this.unique.values()) {
      for (const k of this.uniqueKeys(u, doc)) {
        const owner = u.owners.get(k);
        if (owner !== undefined && owner !== own)
          this.duplicate(u.spec.name, u.spec.key, this.keyValue(u, doc));
      }
    }
  }

  private index(doc: Document): void {
    const own = idKey(doc._id);
    for (const u of this.unique.values())
      for (const k of this.uniqueKeys(u, doc)) u.owners.set(k, own);
  }

  private unindex(doc: Document): void {
    for (const u of this.unique.values())
      for (const k of this.uniqueKeys(u, doc)) u.owners.delete(k);
  }

  /** Adds a unique index over the current documents, or throws 11000 naming the first duplicate. */
  addUnique(spec: IndexSpec): void {
    const u: UniqueIndex = {
      spec,
      fields: Object.keys(spec.key).map(splitPath),
      partial: isDocument(spec.partialFilterExpression)
        ? compileFilter(spec.partialFilterExpression)
        : undefined,
      owners: new Map(),
    };
    for (const doc of this.docs.values()) {
      const own = idKey(doc._id);
      for (const k of this.uniqueKeys(u, doc)) {
        const owner = u.owners.get(k);
        if (owner !== undefined && owner !== own)
          this.duplicate(spec.name, spec.key, this.keyValue(u, doc));
        u.owners.set(k, own);
      }
    }
    this.unique.set(spec.name, u);
  }

  removeUnique(name: string): void {
    this.unique.delete(name);
  }

  // -------------------------------------------------------------- raw document changes

  put(doc: Document): void {
    this.docs.set(idKey(doc._id), doc);
    this.index(doc);
  }

  replace(before: Document, after: Document): void {
    this.unindex(before);
    this.docs.set(idKey(after._id), after);
    this.index(after);
  }

  remove(doc: Document): void {
    this.unindex(doc);
    this.docs.delete(idKey(doc._id));
  }

  clear(): void {
    this.docs.clear();
    for (const u of this.unique.values()) u.owners.clear();
  }

  /** A private copy (same UUID, options, indexes, documents): a transaction's snapshot of it. */
  copy(): Collection {
    const c = new Collection(this.db, this.name, clone(this.options as Document), this.uuid);
    c.indexes.length = 0;
    for (const spec of this.indexes) c.indexes.push(clone(spec));
    for (const doc of this.docs.values()) c.put(clone(doc));
    for (const spec of c.indexes) if (spec.unique === true) c.addUnique(spec);
    return c;
  }
}

/** 11000 with the `keyPattern` / `keyValue` a real server adds to the error. */
export class DuplicateKeyError extends ServerError {
  constructor(
    message: string,
    readonly keyPattern: Document,
    readonly keyValue: Document,
  ) {
    super(11000, message);
  }

  override toReply(): Document {
    return { ...super.toReply(), keyPattern: this.keyPattern, keyValue: this.keyValue };
  }
}

/** Names of fields that are command plumbing, not collection options. */
const GENERIC_FIELDS = new Set([
  'writeConcern',
  'lsid',
  'txnNumber',
  '$db',
  '$clusterTime',
  '$readPreference',
  'comment',
  'apiVersion',
  'apiStrict',
  'apiDeprecationErrors',
  'maxTimeMS',
  'readConcern',
  'autocommit',
  'startTransaction',
  '$audit',
  '$client',
]);

/** A command body without its name field and generic plumbing fields. */
export function commandOptions(cmd: Document, nameField: string): Document {
  const out: Document = {};
  for (const [k, v] of Object.entries(cmd)) {
    if (k === nameField || GENERIC_FIELDS.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** MongoDB's maximum document size. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

function checkSize(doc: Document, what: string): void {
  const size = calculateObjectSize(doc);
  if (size <= MAX_DOCUMENT_BYTES) return;
  if (what.startsWith('Resulting')) fail(17419, `${what} ${MAX_DOCUMENT_BYTES}`);
  fail(10334, `${what}. size in bytes: ${size}, max size: ${MAX_DOCUMENT_BYTES}`);
}

/** A remembered reply to a retryable write, keyed by lsid + txnNumber. */
const MAX_RETRY_ENTRIES = 10000;

/** `lsid` + `txnNumber` of a retryable write or transaction, as its oplog entries carry them. */
export interface TxnIds {
  lsid: Document;
  txnNumber: Long;
}

/** A group of writes logged as one applyOps: its operations, and how to undo them. */
interface WriteGroup {
  entries: OplogEntryInput[];
  undo: (() => void)[];
}

/** The 112 a transaction gets when a document it writes was changed by someone else. */
function writeConflict(): never {
  // The message and label of a WriteConflict surfacing in a transaction
  // (src/mongo/db/concurrency/exception_util.cpp; TransientTransactionError: error_labels.cpp).
  fail(
    112,
    'Caused by :: Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.',
    ['TransientTransactionError'],
  );
}

/** The in-memory data of one server: databases → collections → documents. */
export class Storage implements StorageApi {
  private readonly dbs = new Map<string, Map<string, Collection>>();
  private readonly retries = new Map<string, Document>();
  /** Open writes being grouped into one applyOps (see `grouped`). */
  private group: WriteGroup | undefined;
  /** A transaction's fork: the storage it copies collections from and commits into. */
  private readonly parent: Storage | undefined;
  /** Fork: the parent's write sequence when each collection (by UUID) was copied. */
  private readonly snapshots = new Map<string, number>();
  /** Fork: the documents it wrote (`uuid:_id` keys). */
  readonly written = new Set<string>();
  /** Fork: the writes it made, in order (the oplog entries its own storage logged). */
  readonly redo: OplogEntryInput[];
  // Parent side, only while forks are open: which fork holds a document, and the sequence
  // number of the last write to each document.
  private readonly forks = new Set<Storage>();
  private readonly holds = new Map<string, Storage>();
  private readonly lastWrites = new Map<string, number>();
  private writeSeq = 0;

  constructor(
    readonly oplog: OplogApi,
    parent?: Storage,
    redo: OplogEntryInput[] = [],
  ) {
    this.parent = parent;
    this.redo = redo;
  }

  /** True for a transaction's fork (its writes are grouped by the commit, never by a batch). */
  get inTransaction(): boolean {
    return this.parent !== undefined;
  }

  getCollection(db: string, coll: string): Collection | undefined {
    const own = this.dbs.get(db)?.get(coll);
    if (own || !this.parent) return own;
    // A fork copies a collection the first time it reads it: its snapshot of that collection.
    const base = this.parent.getCollection(db, coll);
    if (!base) return undefined;
    const copy = base.copy();
    this.snapshots.set(copy.uuid.toHexString(), this.parent.writeSeq);
    this.collectionsOf(db).set(coll, copy);
    return copy;
  }

  private collectionsOf(db: string): Map<string, Collection> {
    let colls = this.dbs.get(db);
    if (!colls) {
      colls = new Map();
      this.dbs.set(db, colls);
    }
    return colls;
  }

  // -------------------------------------------------------------- applyOps groups

  /**
   * Runs `write` as one atomic unit logged as one `applyOps` oplog entry (nothing when it wrote
   * nothing); each operation carries `ids` when given. If `write` throws, its changes are undone
   * and nothing is logged. MongoDB 8.0 writes a vectored insert, a batched multi-delete and a
   * transaction's commit this way (see commands/crud.ts and commands/transactions.ts).
   */
  grouped<T>(write: () => T, ids?: TxnIds): T {
    if (this.group) throw new Error('applyOps groups do not nest');
    const group: WriteGroup = { entries: [], undo: [] };
    this.group = group;
    let result: T;
    try {
      result = write();
    } catch (e) {
      for (const undo of group.undo.reverse()) undo();
      throw e;
    } finally {
      this.group = undefined;
    }
    if (group.entries.length > 0) {
      const applyOps = ids
        ? group.entries.map((op) => ({ ...op, lsid: clone(ids.lsid), txnNumber: ids.txnNumber }))
        : group.entries;
      // The real entry is `{op: "c", ns: "admin.$cmd", o: {applyOps: [...]}}`.
      this.oplog.append({ op: 'applyOps', db: 'admin', applyOps });
    }
    return result;
  }

  /** Remembers how to undo a change while a group is open. */
  private onUndo(undo: () => void): void {
    this.group?.undo.push(undo);
  }

  // -------------------------------------------------------------- transactions

  /**
   * A private copy of this storage for one transaction: collections are copied on first use,
   * writes go to the copies and are logged to the fork's own `redo` list, never to the oplog.
   */
  fork(): Storage {
    const oplog = this.oplog;
    const redo: OplogEntryInput[] = [];
    const recorder: OplogApi = {
      append: (entry) => {
        redo.push(entry);
        return { ...entry, ts: oplog.lastTimestamp, wall: new Date() } as OplogEntry;
      },
      get lastTimestamp() {
        return oplog.lastTimestamp;
      },
      first: undefined,
      truncate: () => undefined,
    };
    const fork = new Storage(recorder, this, redo);
    this.forks.add(fork);
    return fork;
  }

  /** Ends a fork without applying it (abort, or after commit). */
  release(fork: Storage): void {
    this.forks.delete(fork);
    for (const key of fork.written) if (this.holds.get(key) === fork) this.holds.delete(key);
    if (this.forks.size === 0) this.lastWrites.clear();
  }

  /**
   * Applies a fork's writes here, as one applyOps carrying `ids`; 112 (and nothing applied)
   * when a document it wrote was written by someone else since the fork copied it.
   */
  commitFork(fork: Storage, ids: TxnIds): void {
    for (const key of fork.written) {
      const uuid = key.slice(0, key.indexOf(':'));
      if ((this.lastWrites.get(key) ?? -1) > (fork.snapshots.get(uuid) ?? Infinity)) {
        this.release(fork);
        writeConflict();
      }
    }
    try {
      this.grouped(() => {
        for (const op of fork.redo) this.replay(op);
      }, ids);
    } finally {
      this.release(fork);
    }
  }

  /** Applies one logged write of a fork to this storage (which logs it again, in the group). */
  private replay(op: OplogEntryInput): void {
    const id: unknown = op.documentKey?._id;
    if (op.op === 'create') {
      if (!this.getCollection(op.db, op.coll ?? '')) {
        const options = { ...(op.operationDescription ?? {}) };
        delete options.idIndex;
        this.createCollection(op.db, op.coll ?? '', options as CollectionOptions);
      }
      return;
    }
    const coll = this.getCollection(op.db, op.coll ?? '');
    if (!coll) writeConflict();
    const current = id === undefined ? undefined : coll.rawById(id);
    switch (op.op) {
      case 'insert':
        if (current) writeConflict();
        this.insert(coll, op.fullDocument ?? {});
        return;
      case 'update':
      case 'replace':
        if (!current) writeConflict();
        this.update(coll, current, op.fullDocument ?? {}, op.updateDescription);
        return;
      case 'delete':
        if (!current) writeConflict();
        this.delete(coll, current);
        return;
      default:
        throw new Error(`a transaction cannot replay a ${op.op}`);
    }
  }

  /**
   * Bookkeeping for one document write. In a fork: 112 when another open transaction holds the
   * document or it was written after the fork copied its collection. In a parent with open
   * forks: the write's sequence number, for the check above.
   */
  private noteWrite(coll: Collection, id: unknown): void {
    const key = `${coll.uuid.toHexString()}:${idKey(id)}`;
    const parent = this.parent;
    if (parent) {
      const holder = parent.holds.get(key);
      if (holder && holder !== this) writeConflict();
      const snapshot = this.snapshots.get(coll.uuid.toHexString());
      if (snapshot !== undefined && (parent.lastWrites.get(key) ?? -1) > snapshot) writeConflict();
      parent.holds.set(key, this);
      this.written.add(key);
      return;
    }
    this.writeSeq++;
    if (this.forks.size > 0) this.lastWrites.set(key, this.writeSeq);
  }

  listDatabases(): string[] {
    return [...this.dbs.entries()]
      .filter(([, colls]) => colls.size > 0)
      .map(([name]) => name)
      .sort();
  }

  listCollections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  // -------------------------------------------------------------- retryable writes

  /** The reply of an earlier execution of this retryable write, if any. */
  retriedReply(key: string): Document | undefined {
    const r = this.retries.get(key);
    return r ? clone(r) : undefined;
  }

  rememberReply(key: string, reply: Document): void {
    this.retries.set(key, clone(reply));
    if (this.retries.size > MAX_RETRY_ENTRIES) {
      const oldest = this.retries.keys().next().value;
      if (oldest !== undefined) this.retries.delete(oldest);
    }
  }

  // -------------------------------------------------------------- DDL

  private append(entry: OplogEntryInput): void {
    if (this.group) this.group.entries.push(entry);
    else this.oplog.append(entry);
  }

  /**
   * Creates a collection or view; 48 if the name is taken. Appends a `create` entry. `uuid`: a
   * sharded collection's, the same on every shard.
   */
  createCollection(
    db: string,
    name: string,
    options: CollectionOptions = {},
    uuid?: UUID,
  ): Collection {
    validateDbName(db);
    validateCollectionName(db, name);
    if (this.getCollection(db, name)) fail(48, `Collection ${db}.${name} already exists.`);
    const coll = new Collection(db, name, options, uuid);
    const colls = this.collectionsOf(db);
    colls.set(name, coll);
    this.onUndo(() => {
      colls.delete(name);
      if (colls.size === 0) this.dbs.delete(db);
    });
    const description: Document = clone(options as Document);
    if (!coll.isView) description.idIndex = idIndexSpec();
    this.append({
      op: 'create',
      db,
      coll: name,
      uuid: coll.isView ? undefined : coll.uuid,
      operationDescription: description,
    });
    return coll;
  }

  /** Puts `coll` in place without logging anything (a mongos' read snapshot of its shards). */
  adopt(coll: Collection): void {
    this.collectionsOf(coll.db).set(coll.name, coll);
  }

  /** The collection, created implicitly (with its `create` entry) when it does not exist yet. */
  ensureCollection(db: string, name: string): { coll: Collection; created: boolean } {
    const existing = this.getCollection(db, name);
    if (existing) return { coll: existing, created: false };
    return { coll: this.createCollection(db, name), created: true };
  }

  /** Drops a collection or view: one `drop` entry. False when it did not exist. */
  dropCollection(db: string, name: string): boolean {
    const coll = this.getCollection(db, name);
    if (!coll) return false;
    this.dbs.get(db)?.delete(name);
    if (this.dbs.get(db)?.size === 0) this.dbs.delete(db);
    this.append({ op: 'drop', db, coll: name, uuid: coll.isView ? undefined : coll.uuid });
    return true;
  }

  /**
   * Drops every collection (a `drop` entry each) then the database (`dropDatabase`). Views get
   * no entry of their own: a real server drops `<db>.system.views` as one collection
   * (dropCollectionEvenIfSystem, src/mongo/db/catalog/drop_database.cpp), a `drop` of a system
   * collection that no change stream shows (the view filter takes only CRUD on system.views,
   * buildViewDefinitionEventFilter in change_stream_filter_helpers.cpp).
   */
  dropDatabase(db: string): boolean {
    const colls = this.listCollections(db);
    if (colls.length === 0) return false;
    for (const c of colls) if (!c.isView) this.dropCollection(db, c.name);
    this.dbs.delete(db);
    this.append({ op: 'dropDatabase', db });
    return true;
  }

  /** Renames a collection, replacing `to` when `dropTarget` (no separate drop entry, as MongoDB). */
  renameCollection(from: Collection, toDb: string, toName: string, dropTarget: boolean): void {
    validateDbName(toDb);
    validateCollectionName(toDb, toName);
    const target = this.getCollection(toDb, toName);
    if (target && !dropTarget) fail(48, 'target namespace exists');
    if (target) {
      this.dbs.get(toDb)?.delete(toName);
    }
    const fromDb = from.db;
    const fromName = from.name;
    this.dbs.get(fromDb)?.delete(fromName);
    if (this.dbs.get(fromDb)?.size === 0) this.dbs.delete(fromDb);
    from.db = toDb;
    from.name = toName;
    let colls = this.dbs.get(toDb);
    if (!colls) {
      colls = new Map();
      this.dbs.set(toDb, colls);
    }
    colls.set(toName, from);
    const description: Document = { to: { db: toDb, coll: toName } };
    if (target && !target.isView) description.dropTarget = target.uuid;
    this.append({
      op: 'rename',
      db: fromDb,
      coll: fromName,
      uuid: from.uuid,
      to: { db: toDb, coll: toName },
      dropTarget: target && !target.isView ? target.uuid : undefined,
      operationDescription: description,
    });
  }

  /**
   * Adds indexes (already validated and new). On an empty collection each index is its own
   * `createIndexes` entry; on a non-empty one they are built together by a two-phase build whose
   * one `commitIndexBuild` entry lists them all, which change streams show as one createIndexes
   * event with `indexes: [...]` (IndexBuildsCoordinator builds on an empty collection with
   * createIndexesOnEmptyCollection, one onCreateIndex each; change_stream_event_transform.cpp
   * reads `commitIndexBuild`; jstests/change_streams/ddl_create_drop_index_events.js).
   */
  createIndexes(coll: Collection, specs: IndexSpec[]): void {
    if (coll.size === 0) {
      for (const spec of specs) {
        if (spec.unique === true) coll.addUnique(spec);
        coll.indexes.push(spec);
        this.appendCreateIndexes(coll, [spec]);
      }
      return;
    }
    // One build: a duplicate key in any index aborts them all (and logs nothing).
    const added: IndexSpec[] = [];
    try {
      for (const spec of specs) {
        if (spec.unique === true) coll.addUnique(spec);
        added.push(spec);
      }
    } catch (e) {
      for (const spec of added) coll.removeUnique(spec.name);
      throw e;
    }
    coll.indexes.push(...specs);
    this.appendCreateIndexes(coll, specs);
  }

  private appendCreateIndexes(coll: Collection, specs: IndexSpec[]): void {
    this.append({
      op: 'createIndexes',
      db: coll.db,
      coll: coll.name,
      uuid: coll.uuid,
      operationDescription: { indexes: specs.map((spec) => clone(spec)) },
    });
  }

  /** Removes indexes by name: a `dropIndexes` entry per index. */
  dropIndexes(coll: Collection, specs: IndexSpec[]): void {
    for (const spec of specs) {
      const i = coll.indexes.findIndex((x) => x.name === spec.name);
      if (i < 0) continue;
      coll.indexes.splice(i, 1);
      coll.removeUnique(spec.name);
      this.append({
        op: 'dropIndexes',
        db: coll.db,
        coll: coll.name,
        uuid: coll.uuid,
        operationDescription: { indexes: [clone(spec)] },
      });
    }
  }

  /**
   * Records a collMod (already applied to the collection by the caller): one `modify` entry,
   * with the options before the change when the caller has them.
   */
  modifyCollection(coll: Collection, description: Document, before?: Document): void {
    const entry: OplogEntryInput = {
      op: 'modify',
      db: coll.db,
      coll: coll.name,
      uuid: coll.isView ? undefined : coll.uuid,
      operationDescription: clone(description),
    };
    if (before) entry.stateBeforeChange = clone(before);
    this.append(entry);
  }

  // -------------------------------------------------------------- documents

  private docEntry(coll: Collection, op: OplogEntryInput['op'], doc: Document): OplogEntryInput {
    return {
      op,
      db: coll.db,
      coll: coll.name,
      uuid: coll.uuid,
      documentKey: { _id: clone({ v: doc._id }).v },
      imagesEnabled: coll.imagesEnabled,
    };
  }

  /** Stores a new document (`_id` first, generated when missing); appends an `insert` entry. */
  insert(coll: Collection, input: Document): Document {
    const { _id, ...rest } = clone(input);
    if (_id !== undefined) {
      const t = bsonType(_id);
      if (t === 'array') fail(2, "The '_id' value cannot be of type array");
      if (t === 'regex') fail(2, "can't use a regex for _id");
    }
    const doc: Document = { _id: _id === undefined ? new ObjectId() : _id, ...rest };
    checkSize(doc, 'object to insert too large');
    coll.checkUnique(doc);
    this.noteWrite(coll, doc._id);
    coll.put(doc);
    this.onUndo(() => coll.remove(doc));
    // The oplog keeps the document's BSON too: change events embed it instead of serializing.
    const { copy, bson } = cloneWithBson(doc);
    this.append({
      ...this.docEntry(coll, 'insert', doc),
      fullDocument: copy,
      fullDocumentBson: bson,
    });
    return doc;
  }

  /**
   * Stores the new version of a document; appends an `update` entry with the description, or a
   * `replace` entry when `description` is undefined.
   */
  update(
    coll: Collection,
    before: Document,
    after: Document,
    description?: UpdateDescription,
  ): void {
    checkSize(after, 'Resulting document after update is larger than');
    coll.checkUnique(after, before);
    this.noteWrite(coll, before._id);
    const stored = clone(after);
    coll.replace(before, stored);
    this.onUndo(() => coll.replace(stored, before));
    const post = cloneWithBson(stored);
    const pre = cloneWithBson(before);
    const entry: OplogEntryInput = {
      ...this.docEntry(coll, description ? 'update' : 'replace', stored),
      fullDocument: post.copy,
      fullDocumentBson: post.bson,
      preImage: pre.copy,
      preImageBson: pre.bson,
    };
    // The description's values are already copies made for this entry.
    if (description) entry.updateDescription = description;
    this.append(entry);
  }

  /** Removes a stored document; appends a `delete` entry with its pre-image. */
  delete(coll: Collection, doc: Document): void {
    this.noteWrite(coll, doc._id);
    coll.remove(doc);
    this.onUndo(() => coll.put(doc));
    const { copy, bson } = cloneWithBson(doc);
    this.append({ ...this.docEntry(coll, 'delete', doc), preImage: copy, preImageBson: bson });
  }
}
