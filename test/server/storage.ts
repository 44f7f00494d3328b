// Databases, collections and documents held in memory. Every change goes through here so that
// exactly one oplog entry (or the right sequence of them) is appended per write, with owned
// copies of the documents involved. Handlers (commands/crud.ts, commands/ddl.ts) decide what
// to write; this layer stores it, enforces `_id` and unique indexes, and logs it.
import { type Document, ObjectId, UUID, calculateObjectSize } from 'bson';
import { ServerError, fail } from './errors.js';
import { type Matcher, compileFilter, getPath, splitPath } from './query.js';
import type { UpdateDescription } from './update.js';
import type {
  CollectionApi,
  CollectionOptions,
  IndexSpec,
  OplogApi,
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

  constructor(db: string, name: string, options: CollectionOptions) {
    this.db = db;
    this.name = name;
    this.uuid = new UUID();
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

/** The in-memory data of one server: databases → collections → documents. */
export class Storage implements StorageApi {
  private readonly dbs = new Map<string, Map<string, Collection>>();
  private readonly retries = new Map<string, Document>();

  constructor(readonly oplog: OplogApi) {}

  getCollection(db: string, coll: string): Collection | undefined {
    return this.dbs.get(db)?.get(coll);
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
    this.oplog.append(entry);
  }

  /** Creates a collection or view; 48 if the name is taken. Appends a `create` entry. */
  createCollection(db: string, name: string, options: CollectionOptions = {}): Collection {
    validateDbName(db);
    validateCollectionName(db, name);
    if (this.getCollection(db, name)) fail(48, `Collection ${db}.${name} already exists.`);
    const coll = new Collection(db, name, options);
    let colls = this.dbs.get(db);
    if (!colls) {
      colls = new Map();
      this.dbs.set(db, colls);
    }
    colls.set(name, coll);
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

  /** Drops every collection (a `drop` entry each) then the database (`dropDatabase`). */
  dropDatabase(db: string): boolean {
    const colls = this.listCollections(db);
    if (colls.length === 0) return false;
    for (const c of colls) this.dropCollection(db, c.name);
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

  /** Adds indexes (already validated and new): a `createIndexes` entry per index. */
  createIndexes(coll: Collection, specs: IndexSpec[]): void {
    for (const spec of specs) {
      if (spec.unique === true) coll.addUnique(spec);
      coll.indexes.push(spec);
      this.append({
        op: 'createIndexes',
        db: coll.db,
        coll: coll.name,
        uuid: coll.uuid,
        operationDescription: { indexes: [clone(spec)] },
      });
    }
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

  /** Records a collMod (already applied to the collection by the caller): one `modify` entry. */
  modifyCollection(coll: Collection, description: Document): void {
    this.append({
      op: 'modify',
      db: coll.db,
      coll: coll.name,
      uuid: coll.isView ? undefined : coll.uuid,
      operationDescription: clone(description),
    });
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
    coll.put(doc);
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
    const stored = clone(after);
    coll.replace(before, stored);
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
    coll.remove(doc);
    const { copy, bson } = cloneWithBson(doc);
    this.append({ ...this.docEntry(coll, 'delete', doc), preImage: copy, preImageBson: bson });
  }
}
