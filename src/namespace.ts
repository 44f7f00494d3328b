// Namespace arguments → the scope to watch. `db` is a database, `db.coll` a collection (the
// first dot splits, so `db.a.b` is collection `a.b`), nothing is the whole deployment. Several
// namespaces become one stream on the narrowest scope that covers them plus an `ns` filter.
import type { Document } from 'bson';
import { UsageError } from './errors.js';

/** One parsed namespace argument. */
export interface Namespace {
  db: string;
  /** Absent for a whole database. */
  coll?: string;
}

/** Where the change stream is opened. */
export type WatchScope =
  | { kind: 'cluster' }
  | { kind: 'database'; db: string }
  | { kind: 'collection'; db: string; coll: string };

/** The scope to open plus, when several namespaces share it, the `$match` that narrows it. */
export interface WatchTarget {
  scope: WatchScope;
  /** Present when the scope is wider than what was asked for. */
  nsMatch?: Document;
  /** For people: "shop.orders", "shop", "shop.orders, shop.users", "the whole deployment". */
  label: string;
}

// MongoDB refuses change streams on these (code 73), except the cluster-wide stream on admin.
const RESERVED_DBS = new Set(['admin', 'local', 'config']);
// Characters MongoDB does not allow in database names (on any platform).
const BAD_DB_CHARS = /[/\\. "$*<>:|?\0]/;
const MAX_DB_BYTES = 63;

/** Parses one `db` or `db.coll` argument; throws UsageError naming the argument. */
export function parseNamespace(text: string): Namespace {
  const fail = (why: string, hint?: string): never => {
    throw new UsageError(`invalid namespace "${printable(text)}": ${why}`, hint);
  };
  if (text === '') fail('it is empty');
  const dot = text.indexOf('.');
  const db = dot === -1 ? text : text.slice(0, dot);
  const coll = dot === -1 ? undefined : text.slice(dot + 1);

  if (db === '') fail('the database name is empty');
  const badDb = BAD_DB_CHARS.exec(db);
  if (badDb) fail(`database names cannot contain ${describeChar(badDb[0])}`);
  if (Buffer.byteLength(db) > MAX_DB_BYTES)
    fail(`database names are at most ${MAX_DB_BYTES} bytes`);
  if (RESERVED_DBS.has(db.toLowerCase())) {
    fail(
      `MongoDB does not allow change streams on the ${db} database`,
      'give no namespace to watch the whole deployment',
    );
  }
  if (coll !== undefined) {
    if (coll === '') fail('the collection name is empty');
    if (coll.includes('\0')) fail('collection names cannot contain a nul character');
    if (coll.includes('$')) fail('collection names cannot contain "$"');
    if (coll.startsWith('system.'))
      fail('MongoDB does not allow change streams on system collections');
    if (coll.startsWith('.') || coll.endsWith('.'))
      fail('a collection name cannot start or end with "."');
  }
  return coll === undefined ? { db } : { db, coll };
}

/** Resolves all namespace arguments to one watch target. */
export function resolveTarget(args: readonly string[]): WatchTarget {
  const parsed = args.map(parseNamespace);
  if (parsed.length === 0) return { scope: { kind: 'cluster' }, label: 'the whole deployment' };

  // A whole database absorbs its collections; duplicates collapse.
  const wholeDbs = new Set(parsed.filter((n) => n.coll === undefined).map((n) => n.db));
  const colls = new Map<string, Namespace>();
  for (const n of parsed) {
    if (n.coll !== undefined && !wholeDbs.has(n.db)) colls.set(`${n.db}.${n.coll}`, n);
  }
  const kept: Namespace[] = [...[...wholeDbs].map((db) => ({ db })), ...colls.values()];
  const label = kept.map((n) => (n.coll === undefined ? n.db : `${n.db}.${n.coll}`)).join(', ');

  const only = kept.length === 1 ? kept[0] : undefined;
  if (only !== undefined) {
    return only.coll === undefined
      ? { scope: { kind: 'database', db: only.db }, label }
      : { scope: { kind: 'collection', db: only.db, coll: only.coll }, label };
  }
  const dbs = new Set(kept.map((n) => n.db));
  const [firstDb] = dbs;
  const scope: WatchScope =
    dbs.size === 1 && firstDb !== undefined
      ? { kind: 'database', db: firstDb }
      : { kind: 'cluster' };
  return { scope, nsMatch: nsMatchFor(kept), label };
}

/**
 * The `$match` that keeps only events about the given namespaces. Besides events whose `ns`
 * names a watched collection it keeps: renames INTO a watched namespace (`to`), the
 * dropDatabase of a database holding a watched collection (its `ns` has no `coll`), and
 * invalidate (no `ns` at all; it ends the stream, so the tailer must see it).
 */
export function nsMatchFor(namespaces: readonly Namespace[]): Document {
  const or: Document[] = [];
  const dbsOfColls = new Set<string>();
  for (const n of namespaces) {
    if (n.coll === undefined) {
      or.push({ 'ns.db': n.db }, { 'to.db': n.db });
    } else {
      or.push({ 'ns.db': n.db, 'ns.coll': n.coll }, { 'to.db': n.db, 'to.coll': n.coll });
      dbsOfColls.add(n.db);
    }
  }
  for (const db of dbsOfColls) or.push({ operationType: 'dropDatabase', 'ns.db': db });
  or.push({ operationType: 'invalidate' });
  return { $match: { $or: or } };
}

function describeChar(ch: string): string {
  if (ch === '\0') return 'a nul character';
  if (ch === ' ') return 'spaces';
  return `"${ch}"`;
}

/** The argument for a one-line message: control characters (a newline, ESC) shown escaped. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped
  return text.replace(/[\u0000-\u001f\u007f]/g, (ch) => {
    if (ch === '\0') return '\\0';
    if (ch === '\n') return '\\n';
    if (ch === '\t') return '\\t';
    return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
