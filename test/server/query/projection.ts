// Projections: find projections (`$slice`, `$elemMatch`, positional `a.$`) and `$project`
// stages (inclusion, exclusion, computed fields) compiled to document → copy functions.
import type { Document } from 'bson';
import { fail } from '../errors.js';
import { clone, isDocument, isNumeric, toNumber } from '../values.js';
import { evalExpression } from './expressions.js';
import { type MatchDetails, type Matcher, compileFilter } from './filters.js';
import { splitPath } from './paths.js';

type ProjectionNode = {
  include?: boolean;
  expr?: unknown;
  slice?: [number, number | undefined];
  elemMatch?: Matcher;
  positional?: boolean;
  children?: Map<string, ProjectionNode>;
};

/** A compiled projection: `(doc, matchDetails?) → projected copy`. */
export type Projector = (doc: Document, details?: MatchDetails) => Document;

function isTruthyFlag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (isNumeric(v)) return toNumber(v) !== 0;
  return undefined;
}

/**
 * Compiles a find projection (`find: true`: `$slice`, `$elemMatch`, `a.$` are projection
 * operators) or a `$project` stage (`find: false`: those are expressions).
 */
export function compileProjection(spec: Document | undefined, find = true): Projector | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (!isDocument(spec)) fail(2, 'projection must be an object');
  const root: ProjectionNode = { children: new Map() };
  let mode: 'include' | 'exclude' | undefined;
  let idFlag: boolean | undefined;
  const setMode = (m: 'include' | 'exclude', path: string): void => {
    if (mode && mode !== m) {
      if (m === 'exclude')
        fail(31254, `Cannot do exclusion on field ${path} in inclusion projection`);
      fail(31253, `Cannot do inclusion on field ${path} in exclusion projection`);
    }
    mode = m;
  };
  const add = (path: string, value: unknown): void => {
    const parts = splitPath(path);
    if (parts.some((p) => p === '')) fail(31249, `FieldPath field names may not be empty strings.`);
    let positional = false;
    if (parts[parts.length - 1] === '$' && find) {
      parts.pop();
      positional = true;
    }
    let node = root;
    for (const part of parts) {
      node.children ??= new Map();
      let next = node.children.get(part);
      if (!next) {
        next = {};
        node.children.set(part, next);
      }
      node = next;
    }
    if (positional) {
      setMode('include', path);
      node.include = true;
      node.positional = true;
      return;
    }
    const flag = isTruthyFlag(value);
    if (path === '_id' && flag !== undefined) {
      idFlag = flag;
      node.include = flag;
      return;
    }
    if (flag !== undefined) {
      setMode(flag ? 'include' : 'exclude', path);
      node.include = flag;
      return;
    }
    if (find && isDocument(value) && '$slice' in value) {
      const s = value.$slice;
      node.slice = Array.isArray(s)
        ? [toNumber(s[0]) ?? 0, toNumber(s[1])]
        : [toNumber(s) ?? 0, undefined];
      return;
    }
    if (find && isDocument(value) && '$elemMatch' in value) {
      setMode('include', path);
      node.include = true;
      node.elemMatch = compileFilter(value.$elemMatch as Document);
      return;
    }
    if (isDocument(value) && '$meta' in value) return;
    if (
      isDocument(value) &&
      Object.keys(value).length > 0 &&
      !Object.keys(value).some((k) => k.startsWith('$'))
    ) {
      for (const [k, v] of Object.entries(value)) add(`${path}.${k}`, v);
      return;
    }
    setMode('include', path);
    node.expr = value;
  };
  for (const [k, v] of Object.entries(spec)) add(k, v);
  if (mode === undefined && !find && idFlag === undefined && (root.children?.size ?? 0) === 0) {
    fail(
      51272,
      'Invalid $project :: caused by :: projection specification must have at least one field',
    );
  }
  // `{_id: 1}` alone is an inclusion projection; `{_id: 0}` or only `$slice`s exclude nothing else.
  const exclude =
    mode === 'exclude' || (mode === undefined && idFlag !== true && !hasInclusions(root));
  const includeId = idFlag ?? true;
  return (doc, details) => {
    const out = exclude ? excludeDoc(doc, root) : includeDoc(doc, root, doc, details, true);
    if (!exclude && includeId && doc._id !== undefined && !('_id' in out)) {
      return { _id: clone({ v: doc._id }).v, ...out };
    }
    if (!includeId) delete out._id;
    return out;
  };
}

function hasInclusions(node: ProjectionNode): boolean {
  for (const [name, child] of node.children ?? []) {
    if (name === '_id' && child.children === undefined) continue;
    if (
      child.include === true ||
      child.expr !== undefined ||
      child.elemMatch ||
      hasInclusions(child)
    )
      return true;
  }
  return false;
}

function sliceArray(arr: unknown[], [a, b]: [number, number | undefined]): unknown[] {
  if (b === undefined) return a >= 0 ? arr.slice(0, a) : arr.slice(Math.max(arr.length + a, 0));
  const start = a >= 0 ? a : Math.max(arr.length + a, 0);
  return arr.slice(start, start + Math.max(b, 0));
}

/** An owned copy of a value (objects deep-cloned, scalars as they are). */
export function copy<T>(v: T): T {
  return typeof v === 'object' && v !== null ? (clone({ v }).v as T) : v;
}

function includeDoc(
  doc: Document,
  node: ProjectionNode,
  root: Document,
  details: MatchDetails | undefined,
  top: boolean,
): Document {
  const out: Document = {};
  const children = node.children ?? new Map<string, ProjectionNode>();
  for (const [k, v] of Object.entries(doc)) {
    const child = children.get(k);
    if (!child || child.expr !== undefined) continue;
    if (child.include === false) continue;
    const projected = includeValue(v, child, root, details, top);
    if (projected !== undefined) out[k] = projected;
  }
  for (const [k, child] of children) {
    if (child.expr !== undefined) {
      const v = evalExpression(root, child.expr);
      if (v !== undefined) out[k] = v;
    } else if (child.slice && !(k in out) && Array.isArray(doc[k])) {
      out[k] = sliceArray(copy(doc[k]) as unknown[], child.slice);
    }
  }
  return out;
}

function includeValue(
  v: unknown,
  node: ProjectionNode,
  root: Document,
  details: MatchDetails | undefined,
  top: boolean,
): unknown {
  if (node.elemMatch) {
    if (!Array.isArray(v)) return undefined;
    const found = v.find((el) => isDocument(el) && node.elemMatch?.(el));
    return found === undefined ? undefined : [copy(found)];
  }
  if (node.positional && top) {
    if (!Array.isArray(v)) return copy(v);
    const i = details?.arrayIndex;
    if (i === undefined || i >= v.length) {
      fail(
        51246,
        "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array",
      );
    }
    return [copy(v[i])];
  }
  if (node.include === true && node.children === undefined) {
    return node.slice && Array.isArray(v) ? sliceArray(copy(v), node.slice) : copy(v);
  }
  if (node.slice && node.children === undefined)
    return Array.isArray(v) ? sliceArray(copy(v), node.slice) : copy(v);
  if (isDocument(v)) return includeDoc(v, node, root, details, false);
  if (Array.isArray(v)) {
    return v
      .filter((el) => isDocument(el) || Array.isArray(el))
      .map((el) => includeValue(el, node, root, details, false));
  }
  return undefined;
}

function excludeDoc(doc: Document, node: ProjectionNode): Document {
  const out: Document = {};
  for (const [k, v] of Object.entries(doc)) {
    const child = node.children?.get(k);
    if (!child) {
      out[k] = copy(v);
      continue;
    }
    if (child.include === false && child.children === undefined) continue;
    out[k] = excludeValue(v, child);
  }
  return out;
}

function excludeValue(v: unknown, node: ProjectionNode): unknown {
  let r: unknown;
  if (node.children && isDocument(v)) r = excludeDoc(v, node);
  else if (node.children && Array.isArray(v)) r = v.map((el) => excludeValue(el, node));
  else r = copy(v);
  return node.slice && Array.isArray(r) ? sliceArray(r, node.slice) : r;
}
