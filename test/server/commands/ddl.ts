// Collection and index commands: create, collMod, drop, dropDatabase, renameCollection,
// createIndexes, dropIndexes, listCollections, listDatabases, listIndexes.
import { type Document, Long, calculateObjectSize } from 'bson';
import { fail } from '../errors.js';
import { compileFilter } from '../query/index.js';
import {
  type Collection,
  commandOptions,
  idIndexSpec,
  validateCollectionName,
  validateDbName,
} from '../storage.js';
import type { CollectionOptions, CommandContext, CommandHandler, IndexSpec } from '../types.js';
import {
  binaryEqual,
  bsonType,
  clone,
  formatValue,
  isDocument,
  isNumeric,
  toNumber,
  valuesEqual,
} from '../values.js';
import { storageOf, targetName } from './crud.js';
import { cursorReply, readBatchSize } from './cursors.js';

function requireCollection(ctx: CommandContext, name: string, message: string): Collection {
  const coll = storageOf(ctx).getCollection(ctx.db, name);
  if (!coll) fail(26, message);
  return coll;
}

function preAndPostImages(v: unknown, command: string): { enabled: boolean } {
  if (!isDocument(v)) {
    fail(
      14,
      `BSON field '${command}.changeStreamPreAndPostImages' is the wrong type '${bsonType(v)}', expected type 'object'`,
    );
  }
  if (typeof v.enabled !== 'boolean') {
    fail(
      40414,
      `BSON field '${command}.changeStreamPreAndPostImages.enabled' is missing but a required field`,
    );
  }
  return { enabled: v.enabled };
}

// ---------------------------------------------------------------- collections

function create(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'create', ctx);
  validateDbName(ctx.db);
  if (name.startsWith('system.')) fail(73, `Invalid system namespace: ${ctx.db}.${name}`);
  const options = commandOptions(cmd, 'create') as CollectionOptions;
  if (options.pipeline !== undefined && options.viewOn === undefined) {
    fail(9, "'pipeline' requires 'viewOn' to also be specified");
  }
  if (options.viewOn !== undefined) {
    if (typeof options.viewOn !== 'string') fail(14, "'viewOn' must be a string");
    if (options.viewOn === '') fail(2, "'viewOn' cannot be empty");
    if (options.pipeline === undefined) options.pipeline = [];
    if (!Array.isArray(options.pipeline)) fail(14, "'pipeline' must be an array");
    if (options.changeStreamPreAndPostImages !== undefined) {
      fail(72, 'option not supported on a view: changeStreamPreAndPostImages');
    }
  }
  if (options.changeStreamPreAndPostImages !== undefined) {
    options.changeStreamPreAndPostImages = preAndPostImages(
      options.changeStreamPreAndPostImages,
      'create',
    );
  }
  if (options.capped === true && options.size === undefined) {
    fail(72, "the 'size' field is required when 'capped' is true");
  }
  storageOf(ctx).createCollection(ctx.db, name, options);
  return { ok: 1 };
}

/** CollectionOptions::appendBSON's fields, in its order (src/mongo/db/catalog/collection_options.cpp). */
const OPTIONS_ORDER = [
  'capped',
  'size',
  'max',
  'autoIndexId',
  'temp',
  'recordPreImages',
  'changeStreamPreAndPostImages',
  'storageEngine',
  'indexOptionDefaults',
  'validator',
  'validationLevel',
  'validationAction',
  'collation',
  'clusteredIndex',
  'expireAfterSeconds',
  'viewOn',
  'pipeline',
  'idIndex',
  'timeseries',
  'encryptedFields',
];

/**
 * A collection's options as `CollectionOptions::toBSON()` writes them: `uuid` first, then the
 * options that are set, in appendBSON's order (size and max only when capped, pre/post images
 * only when enabled).
 */
function collectionOptionsBson(coll: Collection): Document {
  const options = coll.options as Document;
  const out: Document = { uuid: coll.uuid };
  for (const key of OPTIONS_ORDER) {
    const v: unknown = options[key];
    if (v === undefined) continue;
    if ((key === 'capped' || key === 'size' || key === 'max') && options.capped !== true) continue;
    if ((key === 'temp' || key === 'recordPreImages') && v !== true) continue;
    if (key === 'changeStreamPreAndPostImages' && !coll.imagesEnabled) continue;
    out[key] = clone({ v }).v;
  }
  return out;
}

function collMod(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'collMod', ctx);
  const coll = requireCollection(ctx, name, `ns does not exist: ${ctx.db}.${name}`);
  const changes = commandOptions(cmd, 'collMod');
  const reply: Document = {};
  const description: Document = {};
  // The oplog entry's o2 keeps the state before the change, which `modify` events show as
  // `stateBeforeChange` (OpObserverImpl::onCollMod, src/mongo/db/op_observer/op_observer_impl.cpp;
  // change_stream_event_transform.cpp; jstests/change_streams/ddl_coll_mod_event.js). Views
  // have none: their collMod is an update of system.views.
  const before: Document | undefined = coll.isView
    ? undefined
    : { collectionOptions: collectionOptionsBson(coll) };
  for (const [key, value] of Object.entries(changes)) {
    switch (key) {
      case 'changeStreamPreAndPostImages': {
        if (coll.isView) fail(72, 'option not supported on a view: changeStreamPreAndPostImages');
        const v = preAndPostImages(value, 'collMod');
        coll.options.changeStreamPreAndPostImages = v;
        description[key] = v;
        break;
      }
      case 'index': {
        const { index, changed, old } = modifyIndex(coll, value, reply);
        description.index = { name: index.name, ...changed };
        if (before) before.indexOptions = old;
        break;
      }
      case 'viewOn':
      case 'pipeline':
        if (!coll.isView) fail(72, `option only supported on a view: ${key}`);
        coll.options[key] = clone({ v: value }).v;
        description[key] = value;
        break;
      case 'validator':
      case 'validationLevel':
      case 'validationAction':
      case 'expireAfterSeconds':
      case 'cappedSize':
      case 'cappedMax':
      case 'timeseries':
      case 'dryRun':
        coll.options[key] = clone({ v: value }).v;
        description[key] = value;
        break;
      default:
        fail(40415, `BSON field 'collMod.${key}' is an unknown field.`);
    }
  }
  storageOf(ctx).modifyCollection(coll, description, before);
  reply.ok = 1;
  return reply;
}

/**
 * Applies collMod's `index` changes. `old` is the o2 `indexOptions_old`: the index's previous
 * expireAfterSeconds (a long), hidden and prepareUnique, for each one the command names
 * (OpObserverImpl::onCollMod; `unique` has no old value there).
 */
function modifyIndex(
  coll: Collection,
  spec: unknown,
  reply: Document,
): { index: IndexSpec; changed: Document; old: Document } {
  if (!isDocument(spec))
    fail(14, "BSON field 'collMod.index' is the wrong type, expected type 'object'");
  if (spec.keyPattern !== undefined && spec.name !== undefined) {
    fail(72, 'Cannot specify both key pattern and name.');
  }
  const index =
    typeof spec.name === 'string'
      ? coll.indexes.find((i) => i.name === spec.name)
      : isDocument(spec.keyPattern)
        ? coll.indexes.find((i) => valuesEqual(i.key, spec.keyPattern))
        : fail(72, 'Must specify either index name or key pattern.');
  if (!index) {
    const what = typeof spec.name === 'string' ? spec.name : formatValue(spec.keyPattern);
    fail(27, `cannot find index ${what} for ns ${coll.ns}`);
  }
  const changed: Document = {};
  const previous: Document = {};
  const oldTtl = toNumber(index.expireAfterSeconds);
  if (spec.expireAfterSeconds !== undefined && oldTtl !== undefined) {
    previous.expireAfterSeconds = Long.fromNumber(oldTtl);
  }
  if (spec.hidden !== undefined) previous.hidden = index.hidden === true;
  if (spec.prepareUnique !== undefined) previous.prepareUnique = index.prepareUnique === true;
  for (const option of ['hidden', 'expireAfterSeconds', 'unique', 'prepareUnique']) {
    if (spec[option] === undefined) continue;
    if (option === 'hidden' && index.name === '_id_') fail(72, "can't hide _id index");
    const old = index[option];
    if (!binaryEqual(old, spec[option])) {
      reply[`${option}_old`] = old ?? false;
      reply[`${option}_new`] = spec[option];
      index[option] = clone({ v: spec[option] }).v;
    }
    changed[option] = spec[option];
  }
  if (Object.keys(changed).length === 0) {
    fail(72, 'no expireAfterSeconds, hidden, unique, or prepareUnique field');
  }
  return { index, changed, old: previous };
}

function drop(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'drop', ctx);
  const storage = storageOf(ctx);
  const coll = storage.getCollection(ctx.db, name);
  // MongoDB 7.0+ answers ok for a collection that does not exist (and logs nothing).
  if (!coll) return { ok: 1 };
  const nIndexesWas = coll.indexes.length;
  storage.dropCollection(ctx.db, name);
  return { nIndexesWas, ns: `${ctx.db}.${name}`, ok: 1 };
}

function dropDatabase(_cmd: Document, ctx: CommandContext): Document {
  if (ctx.db === 'admin' || ctx.db === 'local' || ctx.db === 'config') {
    fail(20, `Dropping the '${ctx.db}' database is prohibited.`);
  }
  const dropped = storageOf(ctx).dropDatabase(ctx.db);
  return dropped ? { dropped: ctx.db, ok: 1 } : { ok: 1 };
}

function splitNamespace(ns: unknown, what: string): [string, string] {
  if (typeof ns !== 'string') fail(14, `'${what}' must be of type String`);
  const dot = ns.indexOf('.');
  if (dot <= 0 || dot === ns.length - 1) fail(73, `Invalid ${what} namespace: ${ns}`);
  return [ns.slice(0, dot), ns.slice(dot + 1)];
}

function renameCollection(cmd: Document, ctx: CommandContext): Document {
  if (ctx.db !== 'admin') fail(13, 'renameCollection may only be run against the admin database.');
  const [fromDb, fromName] = splitNamespace(cmd.renameCollection, 'source');
  const [toDb, toName] = splitNamespace(cmd.to, 'target');
  validateCollectionName(fromDb, fromName);
  validateCollectionName(toDb, toName);
  if (fromName.startsWith('system.') || toName.startsWith('system.')) {
    fail(20, `renaming system collections is not allowed: ${fromDb}.${fromName}`);
  }
  const storage = storageOf(ctx);
  const source = storage.getCollection(fromDb, fromName);
  if (!source) fail(26, 'source namespace does not exist');
  if (source.isView) fail(166, `Namespace ${source.ns} is a view, not a collection`);
  if (fromDb === toDb && fromName === toName) fail(20, "Can't rename a collection to itself");
  const target = storage.getCollection(toDb, toName);
  if (target?.isView) fail(166, `Namespace ${target.ns} is a view, not a collection`);
  // `dropTarget` is a boolean from clients; internally MongoDB may pass the target's UUID.
  const dropTarget =
    cmd.dropTarget !== undefined && cmd.dropTarget !== null && cmd.dropTarget !== false;
  if (fromDb === toDb) {
    storage.renameCollection(source, toDb, toName, dropTarget);
    return { ok: 1 };
  }
  if (target && !dropTarget) fail(48, 'target namespace exists');
  // Across databases MongoDB copies (renameBetweenDBs, src/mongo/db/catalog/rename_collection.cpp):
  // a staging collection `tmp<5 random>.renameCollection` in the target database is created, gets
  // the source's indexes (one createIndexes each: it is empty), then its documents (one insert
  // each); it is renamed over the target (dropTarget), and the source is dropped. Streams see
  // exactly these events (jstests/change_streams/ddl_rename_cross_db.js, requires_fcv_60): the
  // source side a `drop`, the target database the staging events then a `rename` from the tmp
  // namespace. (SERVER-107688 hides the staging events in later versions, not in 8.0.)
  const options = clone(source.options as Document) as CollectionOptions;
  const tmp = storage.createCollection(toDb, stagingName(storage, toDb), options);
  storage.createIndexes(
    tmp,
    source.indexes.filter((spec) => spec.name !== '_id_').map((spec) => clone(spec) as IndexSpec),
  );
  for (const doc of source.all()) storage.insert(tmp, doc);
  storage.renameCollection(tmp, toDb, toName, dropTarget);
  storage.dropCollection(fromDb, fromName);
  return { ok: 1 };
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** `tmp%%%%%.renameCollection` with each `%` a random letter or digit (makeUniqueCollectionNamespace). */
function stagingName(storage: ReturnType<typeof storageOf>, db: string): string {
  for (;;) {
    let name = 'tmp';
    for (let i = 0; i < 5; i++) name += ALNUM[Math.floor(Math.random() * ALNUM.length)] ?? 'x';
    name += '.renameCollection';
    if (!storage.getCollection(db, name)) return name;
  }
}

// ---------------------------------------------------------------- indexes

const INDEX_TYPES = new Set(['text', '2d', '2dsphere', 'hashed', 'geoHaystack', 'wildcard']);

function validateIndexSpec(raw: unknown): IndexSpec {
  if (!isDocument(raw)) fail(14, 'Index specification must be an object');
  const key = raw.key;
  if (!isDocument(key) || Object.keys(key).length === 0) {
    fail(
      67,
      `Error in specification ${formatValue(raw)} :: caused by :: The 'key' field must be a non-empty object`,
    );
  }
  for (const [field, dir] of Object.entries(key)) {
    const ok =
      (isNumeric(dir) && toNumber(dir) !== 0) || (typeof dir === 'string' && INDEX_TYPES.has(dir));
    if (!ok || field === '') {
      fail(
        67,
        `Error in specification ${formatValue(raw)} :: caused by :: Values in the index key pattern can only be positive or negative numbers or one of the index types`,
      );
    }
  }
  if (typeof raw.name !== 'string' || raw.name === '') {
    fail(
      9,
      `Error in specification ${formatValue(raw)} :: caused by :: The 'name' field is a required property of an index specification`,
    );
  }
  if (raw.partialFilterExpression !== undefined) {
    if (!isDocument(raw.partialFilterExpression))
      fail(67, 'partialFilterExpression must be an object');
    compileFilter(raw.partialFilterExpression);
  }
  const { v, key: _key, name, ...rest } = raw;
  void _key;
  const spec: IndexSpec = { v: toNumber(v) ?? 2, key: clone(key), name, ...clone(rest) };
  if (spec.unique === false) delete spec.unique;
  return spec;
}

/** Options that make two index specs with the same key different indexes. */
function sameOptions(a: IndexSpec, b: IndexSpec): boolean {
  const strip = (s: IndexSpec): Document => {
    const { v: _v, name: _n, key: _k, ...rest } = s;
    void _v;
    void _n;
    void _k;
    return rest;
  };
  const x = strip(a);
  const y = strip(b);
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const k of keys) if (!valuesEqual(x[k] ?? null, y[k] ?? null)) return false;
  return true;
}

function createIndexes(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'createIndexes', ctx, true);
  const list: unknown = cmd.indexes;
  if (!Array.isArray(list) || list.length === 0)
    fail(2, 'Must specify at least one index to create');
  const specs = list.map(validateIndexSpec);
  const storage = storageOf(ctx);
  const existing = storage.getCollection(ctx.db, name);
  if (existing?.isView) fail(166, `Namespace ${existing.ns} is a view, not a collection`);
  const toCreate: IndexSpec[] = [];
  const known = (): IndexSpec[] => [...(existing?.indexes ?? [idIndexSpec()]), ...toCreate];
  for (const spec of specs) {
    const byName = known().find((i) => i.name === spec.name);
    if (byName) {
      if (!valuesEqual(byName.key, spec.key)) {
        fail(
          86,
          `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${formatValue(spec)}, existing index: ${formatValue(byName)}`,
        );
      }
      if (!sameOptions(byName, spec)) {
        fail(
          85,
          `An existing index has the same name as the requested index but different options. Requested index: ${formatValue(spec)}, existing index: ${formatValue(byName)}`,
        );
      }
      continue;
    }
    const byKey = known().find((i) => valuesEqual(i.key, spec.key) && sameOptions(i, spec));
    if (byKey) fail(85, `Index already exists with a different name: ${byKey.name}`);
    if (
      spec.unique === true &&
      Object.values(spec.key).some((d) => typeof d === 'string' && d !== '2d')
    ) {
      fail(
        67,
        `Error in specification ${formatValue(spec)} :: caused by :: Index type '${String(Object.values(spec.key)[0])}' does not support the unique option`,
      );
    }
    toCreate.push(spec);
  }
  const before = existing?.indexes.length ?? 1;
  if (toCreate.length === 0) {
    return {
      numIndexesBefore: before,
      numIndexesAfter: before,
      note: 'all indexes already exist',
      ok: 1,
    };
  }
  const { coll, created } = storage.ensureCollection(ctx.db, name);
  storage.createIndexes(coll, toCreate);
  return {
    numIndexesBefore: before,
    numIndexesAfter: coll.indexes.length,
    createdCollectionAutomatically: created,
    ok: 1,
  };
}

function dropIndexes(cmd: Document, ctx: CommandContext, field: string): Document {
  const name = targetName(cmd, field, ctx);
  const coll = requireCollection(ctx, name, `ns not found ${ctx.db}.${name}`);
  if (coll.isView) fail(166, `Namespace ${coll.ns} is a view, not a collection`);
  const index: unknown = cmd.index;
  const nIndexesWas = coll.indexes.length;
  let targets: IndexSpec[];
  const byName = (n: unknown): IndexSpec => {
    if (n === '_id_') fail(72, 'cannot drop _id index');
    const found = coll.indexes.find((i) => i.name === n);
    if (!found) fail(27, `index not found with name [${String(n)}]`);
    return found;
  };
  if (index === '*') {
    targets = coll.indexes.filter((i) => i.name !== '_id_');
  } else if (typeof index === 'string') {
    targets = [byName(index)];
  } else if (Array.isArray(index)) {
    targets = index.map(byName);
  } else if (isDocument(index)) {
    const found = coll.indexes.filter((i) => valuesEqual(i.key, index));
    if (found.length === 0) fail(27, `can't find index with key: ${formatValue(index)}`);
    if (found.length > 1)
      fail(
        2,
        `${found.length} indexes found for key: ${formatValue(index)}, identify by name instead. Conflicting indexes: ${found.map((i) => formatValue(i)).join(', ')}`,
      );
    if ((found[0] as IndexSpec).name === '_id_') fail(72, 'cannot drop _id index');
    targets = found;
  } else {
    fail(
      14,
      "BSON field 'dropIndexes.index' is the wrong type, expected types '[string, object, array]'",
    );
  }
  storageOf(ctx).dropIndexes(coll, targets);
  return { nIndexesWas, ok: 1 };
}

// ---------------------------------------------------------------- listings

function listCollections(cmd: Document, ctx: CommandContext): Document {
  const filterDoc: unknown = cmd.filter;
  if (filterDoc !== undefined && filterDoc !== null && !isDocument(filterDoc)) {
    fail(14, "BSON field 'listCollections.filter' is the wrong type, expected type 'object'");
  }
  const matcher = compileFilter(filterDoc as Document | undefined);
  const nameOnly = cmd.nameOnly === true;
  const cursor = isDocument(cmd.cursor) ? cmd.cursor : {};
  const out: Document[] = [];
  for (const coll of storageOf(ctx).listCollections(ctx.db)) {
    const entry: Document = coll.isView
      ? {
          name: coll.name,
          type: 'view',
          options: clone(coll.options as Document),
          info: { readOnly: true },
        }
      : {
          name: coll.name,
          type: 'collection',
          options: clone(coll.options as Document),
          info: { readOnly: false, uuid: coll.uuid },
          idIndex: idIndexSpec(),
        };
    if (!matcher(entry)) continue;
    out.push(nameOnly ? { name: entry.name, type: entry.type } : entry);
  }
  return cursorReply(ctx, `${ctx.db}.$cmd.listCollections`, out, {
    batchSize: readBatchSize(cursor.batchSize, 'cursor.batchSize'),
    lsid: cmd.lsid,
  });
}

/** Databases every replica-set member has, with the sizes a fresh one reports. */
const SYSTEM_DATABASES: Readonly<Record<string, number>> = {
  admin: 40960,
  config: 61440,
  local: 73728,
};

function listDatabases(cmd: Document, ctx: CommandContext): Document {
  const storage = storageOf(ctx);
  const names = new Set([...storage.listDatabases(), ...Object.keys(SYSTEM_DATABASES)]);
  const filterDoc: unknown = cmd.filter;
  const matcher = compileFilter(isDocument(filterDoc) ? filterDoc : undefined);
  const databases: Document[] = [];
  let totalSize = 0;
  for (const name of [...names].sort()) {
    let size = SYSTEM_DATABASES[name] ?? 0;
    for (const coll of storage.listCollections(name)) {
      // WiredTiger-like: a few pages per collection plus the data.
      size += 8192;
      for (const doc of coll.raw()) size += calculateObjectSize(doc);
    }
    const entry: Document = { name, sizeOnDisk: size, empty: false };
    if (!matcher(entry)) continue;
    totalSize += size;
    databases.push(cmd.nameOnly === true ? { name } : entry);
  }
  if (cmd.nameOnly === true) return { databases, ok: 1 };
  return { databases, totalSize, totalSizeMb: Math.floor(totalSize / (1024 * 1024)), ok: 1 };
}

function listIndexes(cmd: Document, ctx: CommandContext): Document {
  const name = targetName(cmd, 'listIndexes', ctx);
  const coll = requireCollection(ctx, name, `ns does not exist: ${ctx.db}.${name}`);
  if (coll.isView) fail(166, `Namespace ${coll.ns} is a view, not a collection`);
  const cursor = isDocument(cmd.cursor) ? cmd.cursor : {};
  return cursorReply(
    ctx,
    `${ctx.db}.$cmd.listIndexes.${name}`,
    coll.indexes.map((i) => clone(i as Document)),
    {
      batchSize: readBatchSize(cursor.batchSize, 'cursor.batchSize'),
      lsid: cmd.lsid,
    },
  );
}

/** The collection and index command handlers, by command name. */
export const ddlCommands: Record<string, CommandHandler> = {
  create,
  collMod,
  drop,
  dropDatabase,
  renameCollection,
  createIndexes,
  dropIndexes: (cmd, ctx) => dropIndexes(cmd, ctx, 'dropIndexes'),
  deleteIndexes: (cmd, ctx) => dropIndexes(cmd, ctx, 'deleteIndexes'),
  listCollections,
  listDatabases,
  listIndexes,
};
