// Oplog entry → change event as BSON, serialized once per entry and options and then reused by
// every cursor that reads the entry: a catch-up copies cached bytes into the reply instead of
// building and serializing objects. The bytes are exactly `serialize(buildEvent(...))`; the
// envelope is written field by field, and the documents the storage layer already holds as BSON
// (`fullDocumentBson`, `preImageBson`) are copied in as they are.
import {
  type Document,
  Binary,
  Decimal128,
  Double,
  Int32,
  Long,
  ObjectId,
  Timestamp,
  serialize,
} from 'bson';
import { cachedBson, entryCache, storeBson } from './entry-cache.js';
import {
  DEFAULT_EVENT_OPTIONS,
  type EventLookups,
  type EventOptions,
  type FullDocumentBeforeChangeMode,
  type FullDocumentMode,
  buildEventView,
} from './events.js';
import type { OplogEntry } from '../types.js';

/**
 * The options an event of this entry depends on, as a cache key; undefined when the event also
 * depends on read-time state (an update's `fullDocument: updateLookup` reads the collection).
 * Each part counts only for the operations it shapes, so an insert is cached once for all modes.
 */
export function eventCacheKey(entry: OplogEntry, opts: EventOptions): string | undefined {
  const op = entry.op;
  if (op === 'update' && opts.fullDocument === 'updateLookup') return undefined;
  const keys = opts.showExpandedEvents ? EXPANDED_KEYS : CLASSIC_KEYS;
  if (op === 'update') return keys.update[opts.fullDocument][opts.fullDocumentBeforeChange];
  if (op === 'replace' || op === 'delete') return keys.image[opts.fullDocumentBeforeChange];
  return keys.plain;
}

// Every key, made once: a key per event would be a string allocation per event.
const POST_MODES: readonly FullDocumentMode[] = [
  'default',
  'updateLookup',
  'whenAvailable',
  'required',
];
const PRE_MODES: readonly FullDocumentBeforeChangeMode[] = ['off', 'whenAvailable', 'required'];

interface CacheKeys {
  plain: string;
  image: Record<FullDocumentBeforeChangeMode, string>;
  update: Record<FullDocumentMode, Record<FullDocumentBeforeChangeMode, string>>;
}

function cacheKeys(expanded: string): CacheKeys {
  const byPre = (post: string): Record<FullDocumentBeforeChangeMode, string> =>
    Object.fromEntries(PRE_MODES.map((pre) => [pre, `${expanded}|${post}|${pre}`])) as Record<
      FullDocumentBeforeChangeMode,
      string
    >;
  return {
    plain: `${expanded}||`,
    image: byPre(''),
    update: Object.fromEntries(POST_MODES.map((post) => [post, byPre(post)])) as Record<
      FullDocumentMode,
      Record<FullDocumentBeforeChangeMode, string>
    >,
  };
}

const CLASSIC_KEYS = cacheKeys('');
const EXPANDED_KEYS = cacheKeys('x');

/** The document writes every stream shows, whose events are prepared as they are appended. */
const DOCUMENT_OPS: ReadonlySet<string> = new Set(['insert', 'update', 'replace', 'delete']);

const NO_LOOKUPS: EventLookups = {
  currentDocument: () => {
    throw new Error('default-options events never look documents up');
  },
};

/**
 * Prepares, as a document write is appended to the oplog, what a stream with default options
 * will read: the event's token and its BSON. A catch-up over history then only copies bytes
 * (the cost moves to the write, which pays a few µs more); streams with other options still
 * cache their events on first read.
 */
export function prepareEvent(entry: OplogEntry): void {
  // An applyOps is read as its inner operations: each is prepared like a lone write.
  if (entry.applyOps) {
    for (const op of entry.applyOps) prepareEvent(op);
    return;
  }
  if (!DOCUMENT_OPS.has(entry.op)) return;
  eventBson(entry, DEFAULT_EVENT_OPTIONS, NO_LOOKUPS);
}

/**
 * The event of `entry` as BSON (cached when pure), or null when the entry yields no event with
 * these options. Throws what `buildEvent` throws (47 for a missing required image), uncached.
 * `view` is the event already built by `buildEventView` with the same arguments, if the caller
 * has it. The bytes are shared: never modify them.
 */
export function eventBson(
  entry: OplogEntry,
  opts: EventOptions,
  lookups: EventLookups,
  view?: Document,
): Uint8Array | null {
  const key = eventCacheKey(entry, opts);
  const cache = entryCache(entry);
  if (key !== undefined) {
    const hit = cachedBson(cache, key);
    if (hit) return hit;
  }
  const event = view ?? buildEventView(entry, opts, lookups);
  if (!event) return null;
  const bson = encodeEventView(event, entry, key !== undefined);
  if (key !== undefined) storeBson(cache, key, bson);
  return bson;
}

/**
 * Serializes an event built by `buildEventView(entry, …)`: `serialize(event)` byte for byte, but
 * the documents the entry holds as BSON already are copied in. Bytes to `keep` (to cache) stay
 * in the writer's slab; others are copied out, so they never hold a slab alive.
 */
export function encodeEventView(event: Document, entry: OplogEntry, keep = false): Uint8Array {
  const w = writer;
  w.begin();
  for (const key of Object.keys(event)) {
    const v: unknown = event[key];
    if (v === entry.fullDocument && v !== undefined && entry.fullDocumentBson) {
      w.document(key, entry.fullDocumentBson);
    } else if (v === entry.preImage && v !== undefined && entry.preImageBson) {
      w.document(key, entry.preImageBson);
    } else {
      w.field(key, v, false, 0);
    }
  }
  return w.end(keep);
}

function isPlainObject(v: object): v is Document {
  const proto: unknown = Object.getPrototypeOf(v);
  return (
    (proto === Object.prototype || proto === null) &&
    typeof (v as { toBSON?: unknown }).toBSON !== 'function'
  );
}

const TYPE_DOUBLE = 0x01;
const TYPE_STRING = 0x02;
const TYPE_DOCUMENT = 0x03;
const TYPE_ARRAY = 0x04;
const TYPE_BINARY = 0x05;
const TYPE_OBJECT_ID = 0x07;
const TYPE_BOOLEAN = 0x08;
const TYPE_DATE = 0x09;
const TYPE_NULL = 0x0a;
const TYPE_INT32 = 0x10;
const TYPE_TIMESTAMP = 0x11;
const TYPE_INT64 = 0x12;
const TYPE_DECIMAL = 0x13;
/** Deeper than this, the bson package writes the value (and reports cycles as it does). */
const MAX_DEPTH = 64;
const TWO_32 = 2 ** 32;

/** Events are written into slabs of this size and handed out as views of them. */
const SLAB_BYTES = 256 * 1024;

/**
 * Writes BSON documents one after another into a slab and hands each out as a view of it: no
 * copy, no allocation per event. A slab lives as long as the entries whose events it holds, so
 * the bounded oplog bounds them too. It writes the value types events hold the way the bson
 * package does, and hands any other value to the package (an element's bytes do not depend on
 * where it sits). A document that outgrows its slab moves to a new one, so positions inside the
 * document are kept relative to its start.
 */
class DocumentWriter {
  private buf = Buffer.allocUnsafe(SLAB_BYTES);
  /** Where the current document starts in `buf`. */
  private start = 0;
  private at = 0;

  begin(): void {
    // A slab grown for one large event holds only that one: small events go to a new slab.
    if (this.buf.length > SLAB_BYTES && this.at > 0) {
      this.buf = Buffer.allocUnsafe(SLAB_BYTES);
      this.at = 0;
    }
    this.start = this.at;
    this.reserve(4);
    this.at += 4;
  }

  /** Finishes the document: a view of the slab when kept, else a copy (the space is reused). */
  end(keep: boolean): Uint8Array {
    this.reserve(1);
    this.buf[this.at++] = 0;
    this.int32At(this.at - this.start, this.start);
    const bytes = this.buf.subarray(this.start, this.at);
    if (keep) return bytes;
    this.at = this.start;
    return Buffer.from(bytes);
  }

  /** An element already serialized as a document: type 0x03, `key`, the bytes. */
  document(key: string, bson: Uint8Array): void {
    this.name(TYPE_DOCUMENT, key);
    this.bytes(bson);
  }

  /** One field, as `serialize()` writes it (undefined: skipped in documents, null in arrays). */
  field(key: string, v: unknown, inArray: boolean, depth: number): void {
    switch (typeof v) {
      case 'string': {
        this.name(TYPE_STRING, key);
        this.reserve(4 + v.length * 3 + 1);
        const length = this.utf8(v, this.at + 4);
        this.int32At(length + 1, this.at);
        this.at += 4 + length;
        this.buf[this.at++] = 0;
        return;
      }
      case 'undefined':
        if (inArray) this.name(TYPE_NULL, key);
        return;
      case 'boolean':
        this.name(TYPE_BOOLEAN, key);
        this.reserve(1);
        this.buf[this.at++] = v ? 1 : 0;
        return;
      case 'number':
        if (!Object.is(v, -0) && Number.isSafeInteger(v) && v <= 0x7fffffff && v >= -0x80000000) {
          this.name(TYPE_INT32, key);
          this.reserve(4);
          this.int32At(v, this.at);
          this.at += 4;
        } else {
          this.name(TYPE_DOUBLE, key);
          this.reserve(8);
          this.at = this.buf.writeDoubleLE(v, this.at);
        }
        return;
      case 'object':
        if (v === null) return this.name(TYPE_NULL, key);
        if (this.object(key, v, depth)) return;
        break;
      default:
        break;
    }
    this.element(serialize({ [key]: v }));
  }

  /** Writes the object types it knows; false for the rest. */
  private object(key: string, v: object, depth: number): boolean {
    if (Array.isArray(v)) {
      if (depth >= MAX_DEPTH || Object.getPrototypeOf(v) !== Array.prototype) return false;
      this.name(TYPE_ARRAY, key);
      const start = this.open();
      for (let i = 0; i < v.length; i++) this.field(String(i), v[i], true, depth + 1);
      this.close(start);
      return true;
    }
    if (v instanceof ObjectId) {
      this.name(TYPE_OBJECT_ID, key);
      this.bytes(v.id);
    } else if (v instanceof Timestamp) {
      // Before Long: Timestamp extends it.
      this.name(TYPE_TIMESTAMP, key);
      this.int64(v.getLowBits(), v.getHighBits());
    } else if (v instanceof Long) {
      this.name(TYPE_INT64, key);
      this.int64(v.getLowBits(), v.getHighBits());
    } else if (v instanceof Int32) {
      this.name(TYPE_INT32, key);
      this.reserve(4);
      this.int32At(v.value, this.at);
      this.at += 4;
    } else if (v instanceof Double) {
      this.name(TYPE_DOUBLE, key);
      this.reserve(8);
      this.at = this.buf.writeDoubleLE(v.value, this.at);
    } else if (v instanceof Decimal128) {
      this.name(TYPE_DECIMAL, key);
      this.bytes(v.bytes);
    } else if (v instanceof Date) {
      this.name(TYPE_DATE, key);
      // Long.fromNumber(getTime()): exact for every valid date (|ms| < 2^53), 0 for an invalid one.
      const ms = v.getTime();
      if (Number.isFinite(ms)) {
        const high = Math.floor(ms / TWO_32);
        this.int64(ms - high * TWO_32, high);
      } else {
        this.int64(0, 0);
      }
    } else if (
      v instanceof Binary &&
      v.sub_type !== Binary.SUBTYPE_BYTE_ARRAY &&
      v.sub_type !== Binary.SUBTYPE_VECTOR
    ) {
      this.name(TYPE_BINARY, key);
      const length = v.position;
      this.reserve(5 + length);
      this.int32At(length, this.at);
      this.buf[this.at + 4] = v.sub_type;
      this.buf.set(v.buffer.subarray(0, length), this.at + 5);
      this.at += 5 + length;
    } else if (depth < MAX_DEPTH && isPlainObject(v)) {
      this.name(TYPE_DOCUMENT, key);
      const start = this.open();
      for (const k of Object.keys(v)) this.field(k, (v as Document)[k], false, depth + 1);
      this.close(start);
    } else {
      return false;
    }
    return true;
  }

  /** A whole element, taken from a one-field document. */
  private element(doc: Uint8Array): void {
    this.bytes(doc.subarray(4, doc.length - 1));
  }

  /** Starts a nested document: returns where its length goes, relative to the document. */
  private open(): number {
    this.reserve(4);
    const offset = this.at - this.start;
    this.at += 4;
    return offset;
  }

  private close(offset: number): void {
    this.reserve(1);
    this.buf[this.at++] = 0;
    const start = this.start + offset;
    this.int32At(this.at - start, start);
  }

  /** Type byte, key, NUL. */
  private name(type: number, key: string): void {
    this.reserve(1 + key.length * 3 + 1);
    const buf = this.buf;
    buf[this.at++] = type;
    // ASCII by hand; a NUL or anything else goes the slow way.
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c === 0 || c >= 0x80) {
        if (key.includes('\0')) throw new Error(`key ${key} must not contain null bytes`);
        this.at += buf.write(key.slice(i), this.at + i, 'utf8') + i;
        buf[this.at++] = 0;
        return;
      }
      buf[this.at + i] = c;
    }
    this.at += key.length;
    buf[this.at++] = 0;
  }

  /** Writes `s` as UTF-8 at `at` (room reserved); returns its byte length. ASCII by hand. */
  private utf8(s: string, at: number): number {
    const buf = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return buf.write(s, at, 'utf8');
      buf[at + i] = c;
    }
    return s.length;
  }

  /** A little-endian int32 at `at` (room reserved). */
  private int32At(v: number, at: number): void {
    const buf = this.buf;
    buf[at] = v;
    buf[at + 1] = v >>> 8;
    buf[at + 2] = v >>> 16;
    buf[at + 3] = v >>> 24;
  }

  private int64(low: number, high: number): void {
    this.reserve(8);
    this.int32At(low, this.at);
    this.int32At(high, this.at + 4);
    this.at += 8;
  }

  private bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.at);
    this.at += src.length;
  }

  /** Makes room for `n` more bytes, moving the document so far to a new slab if need be. */
  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const used = this.at - this.start;
    const fresh = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (used + n)));
    this.buf.copy(fresh, 0, this.start, this.at);
    this.buf = fresh;
    this.start = 0;
    this.at = used;
  }
}

// One writer for the process: encoding is synchronous, so it is never shared in flight.
const writer = new DocumentWriter();
