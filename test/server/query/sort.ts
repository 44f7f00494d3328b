// Sort specifications compiled to comparators, with MongoDB's array sort keys (the least element
// ascending, the greatest descending; an empty array before null and missing).
import type { Document } from 'bson';
import { fail } from '../errors.js';
import { compareValues, isDocument, toNumber } from '../values.js';
import { pathLeaves } from './paths.js';

const EMPTY_ARRAY = Symbol('empty array');

function sortKey(doc: Document, path: string, ascending: boolean): unknown {
  const leaves = pathLeaves(doc, path);
  const values: unknown[] = [];
  let sawEmpty = false;
  for (const v of leaves) {
    if (Array.isArray(v)) {
      if (v.length === 0) sawEmpty = true;
      values.push(...v);
    } else values.push(v);
  }
  if (values.length === 0) return sawEmpty ? EMPTY_ARRAY : undefined;
  let best = values[0];
  for (const v of values.slice(1)) {
    const c = compareValues(v, best);
    if (ascending ? c < 0 : c > 0) best = v;
  }
  return best;
}

function compareKeys(a: unknown, b: unknown): number {
  // An empty array sorts before null and missing.
  if (a === EMPTY_ARRAY || b === EMPTY_ARRAY) return a === b ? 0 : a === EMPTY_ARRAY ? -1 : 1;
  return compareValues(a, b);
}

/** A comparator for a `{field: 1 | -1}` sort specification (stable callers keep natural order). */
export function compileSort(spec: Document): (a: Document, b: Document) => number {
  if (!isDocument(spec)) fail(2, 'sort must be an object');
  const fields: [string, number][] = [];
  for (const [path, dir] of Object.entries(spec)) {
    if (isDocument(dir) && '$meta' in dir) continue;
    const n = toNumber(dir);
    if (n !== 1 && n !== -1)
      fail(15975, '$sort key ordering must be 1 (for ascending) or -1 (for descending)');
    fields.push([path, n]);
  }
  return (a, b) => {
    for (const [path, dir] of fields) {
      const c = compareKeys(sortKey(a, path, dir === 1), sortKey(b, path, dir === 1));
      if (c !== 0) return c * dir;
    }
    return 0;
  };
}
