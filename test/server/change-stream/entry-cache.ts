// What the change-stream layer computes once per oplog entry and then reuses for every cursor
// and every re-read: the event's resume token and the event as BSON, per event-shaping options.
// It hangs off the entry itself (a non-enumerable property, so entries still compare and spread
// as plain data), which bounds it by the oplog: when the bounded oplog drops an entry, its
// cache goes with it.
import type { ResumeToken } from './tokens.js';
import type { OplogEntry } from '../types.js';

export interface EntryCache {
  /** The event's resume token (not the invalidate's). */
  token?: ResumeToken;
  /** The event's BSON for the first options key asked (the common case: one kind of stream). */
  key?: string;
  bson?: Uint8Array;
  /** Further options keys, when streams with other options read the same entry. */
  more?: Map<string, Uint8Array>;
}

const CACHE = Symbol('changeStreamEntryCache');

type WithCache = OplogEntry & { [CACHE]?: EntryCache };

/** The cache of `entry`, created on first use. */
export function entryCache(entry: OplogEntry): EntryCache {
  const existing = (entry as WithCache)[CACHE];
  if (existing) return existing;
  const cache: EntryCache = {};
  Object.defineProperty(entry, CACHE, { value: cache, enumerable: false });
  return cache;
}

/** The cached event BSON of `entry` under options `key`, if any. */
export function cachedBson(cache: EntryCache, key: string): Uint8Array | undefined {
  return cache.key === key ? cache.bson : cache.more?.get(key);
}

/** Remembers the event BSON of an entry under options `key`. */
export function storeBson(cache: EntryCache, key: string, bson: Uint8Array): void {
  if (cache.key === undefined || cache.key === key) {
    cache.key = key;
    cache.bson = bson;
  } else {
    (cache.more ??= new Map()).set(key, bson);
  }
}
