// Dotted field paths over stored documents: splitting, plain lookup and the implicit array
// traversal MongoDB matching uses (each leaf remembers the array position it came through).
import type { Document } from 'bson';
import { isDocument } from '../values.js';

/** Splits a dotted path; empty components are MongoDB's EmptyFieldName error. */
export function splitPath(path: string): string[] {
  return path.split('.');
}

/** True when a path component can index an array (`0`, `12`; not `01` or `-1`). */
export function isIndex(part: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(part);
}

/** The value at a dotted path without array traversal (except numeric indexes); undefined if absent. */
export function getPath(doc: unknown, path: string | string[]): unknown {
  const parts = typeof path === 'string' ? splitPath(path) : path;
  let cur: unknown = doc;
  for (const part of parts) {
    if (Array.isArray(cur)) {
      if (!isIndex(part)) return undefined;
      cur = cur[Number(part)];
    } else if (isDocument(cur)) {
      cur = Object.prototype.hasOwnProperty.call(cur, part) ? cur[part] : undefined;
    } else {
      return undefined;
    }
  }
  return cur;
}

/** One value a field path reaches; `pos` is the index taken in the first array traversed. */
export interface Leaf {
  value: unknown;
  pos?: number;
}

/** Appends every leaf `parts[i..]` reaches from `cur` to `out` (filters match against these). */
export function collectLeaves(
  cur: unknown,
  parts: string[],
  i: number,
  pos: number | undefined,
  out: Leaf[],
): void {
  if (i === parts.length) {
    out.push({ value: cur, pos });
    return;
  }
  const part = parts[i] as string;
  if (Array.isArray(cur)) {
    const before = out.length;
    if (isIndex(part) && Number(part) < cur.length) {
      collectLeaves(cur[Number(part)], parts, i + 1, pos ?? Number(part), out);
    }
    cur.forEach((el, idx) => {
      if (isDocument(el)) collectLeaves(el, parts, i, pos ?? idx, out);
    });
    if (out.length === before) out.push({ value: undefined, pos });
    return;
  }
  if (isDocument(cur)) {
    const has = Object.prototype.hasOwnProperty.call(cur, part);
    collectLeaves(has ? cur[part] : undefined, parts, i + 1, pos, out);
    return;
  }
  out.push({ value: undefined, pos });
}

/** Every value a dotted field path reaches in a document (MongoDB's implicit array traversal). */
export function pathLeaves(doc: Document, path: string): unknown[] {
  const out: Leaf[] = [];
  collectLeaves(doc, splitPath(path), 0, undefined, out);
  return out.map((l) => l.value);
}
