// Queries over stored documents: filter matching, projection, sort and the aggregation stages a
// plain `aggregate` needs. Matching, sorting and the simple stages are done here so BSON types
// keep their meaning (Int32 vs Long vs Double, `$type`, cross-type ordering); expressions and
// the heavier stages ($group, $lookup, ...) go to mingo on normalised copies (see
// wire-protocol.md "Pitfalls": mingo cannot compare BSON number objects).
import { type Document, Long } from 'bson';
import { Aggregator, Query } from 'mingo';
import { fail } from './errors.js';
import {
  type BsonTypeName,
  TYPE_NUMBERS,
  bsonType,
  canonicalRank,
  clone,
  compareValues,
  isDocument,
  isNumeric,
  normalize,
  regexParts,
  toNumber,
  valuesEqual,
} from './values.js';

// ---------------------------------------------------------------- paths

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
interface Leaf {
  value: unknown;
  pos?: number;
}

function collectLeaves(
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

// ---------------------------------------------------------------- filters

/** Where the match happened, for the positional `$` update and projection operators. */
export interface MatchDetails {
  arrayIndex?: number;
}

/** A compiled filter. */
export type Matcher = (doc: Document, details?: MatchDetails) => boolean;

type LeafTest = (leaves: Leaf[], details?: MatchDetails) => boolean;

const TOP_LEVEL_OPERATORS = new Set([
  '$and',
  '$or',
  '$nor',
  '$expr',
  '$comment',
  '$alwaysTrue',
  '$alwaysFalse',
  '$where',
  '$text',
  '$jsonSchema',
]);

function isRegex(v: unknown): boolean {
  return bsonType(v) === 'regex';
}

/** A JS RegExp for a BSON regex or `$regex`/`$options` pair (PCRE flags mapped to JS). */
export function toRegExp(pattern: unknown, options?: unknown): RegExp {
  let [source, flags] = isRegex(pattern) ? regexParts(pattern) : [String(pattern), ''];
  if (typeof options === 'string') flags = options;
  let extended = false;
  let jsFlags = '';
  for (const f of flags) {
    if (f === 'x') extended = true;
    else if ('imsu'.includes(f) && !jsFlags.includes(f)) jsFlags += f;
    else if (f !== 'l' && f !== 'g') fail(51108, `invalid flag in regex options: ${f}`);
  }
  // A leading inline flag group like (?i) is PCRE-only.
  const inline = /^\(\?([imsx]+)\)/.exec(source);
  if (inline) {
    source = source.slice(inline[0].length);
    for (const f of inline[1] as string) {
      if (f === 'x') extended = true;
      else if (!jsFlags.includes(f)) jsFlags += f;
    }
  }
  if (extended) source = source.replace(/\\#|#[^\n]*|\s+/g, (m) => (m === '\\#' ? m : ''));
  try {
    return new RegExp(source, jsFlags);
  } catch (e) {
    return fail(51091, `Regular expression is invalid: ${(e as Error).message}`);
  }
}

function regexMatches(re: RegExp, v: unknown): boolean {
  const t = bsonType(v);
  if (t === 'string') return re.test(v as string);
  if (t === 'symbol') return re.test(String(v));
  if (t === 'regex') {
    const [p, f] = regexParts(v);
    return p === re.source && f === re.flags;
  }
  return false;
}

/** Runs `test` over each leaf and, for array leaves, each element; records the array position. */
function anyValue(
  leaves: Leaf[],
  details: MatchDetails | undefined,
  test: (v: unknown) => boolean,
  wholeArray = true,
): boolean {
  for (const leaf of leaves) {
    if (Array.isArray(leaf.value)) {
      if (wholeArray && test(leaf.value)) {
        if (details && leaf.pos !== undefined) details.arrayIndex = leaf.pos;
        return true;
      }
      for (let i = 0; i < leaf.value.length; i++) {
        if (test(leaf.value[i])) {
          if (details) details.arrayIndex = leaf.pos ?? i;
          return true;
        }
      }
    } else if (test(leaf.value)) {
      if (details && leaf.pos !== undefined) details.arrayIndex = leaf.pos;
      return true;
    }
  }
  return false;
}

function equalsOperand(operand: unknown): (v: unknown) => boolean {
  if (operand === null) return (v) => v === null || v === undefined || bsonType(v) === 'undefined';
  return (v) => v !== undefined && valuesEqual(v, operand);
}

function compareOperand(op: string, operand: unknown): (v: unknown) => boolean {
  const rank = canonicalRank(operand);
  const keyed = rank === 1 || rank === 127; // MinKey / MaxKey compare against every type
  return (v) => {
    if (!keyed && canonicalRank(v) !== rank) return false;
    const c = compareValues(v, operand);
    switch (op) {
      case '$gt':
        return c > 0;
      case '$gte':
        return c >= 0;
      case '$lt':
        return c < 0;
      default:
        return c <= 0;
    }
  };
}

function typeMatcher(spec: unknown): (v: unknown) => boolean {
  const wanted = (Array.isArray(spec) ? spec : [spec]).map((t) => {
    if (typeof t === 'string') {
      if (t === 'number') return 'number';
      if (!(t in TYPE_NUMBERS)) fail(2, `Unknown type name alias: ${t}`);
      return t;
    }
    const n = toNumber(t);
    const name = Object.entries(TYPE_NUMBERS).find(([, num]) => num === n)?.[0];
    if (n === undefined || name === undefined) fail(2, `Invalid numerical type code: ${String(n)}`);
    return name;
  });
  return (v) => {
    const t = bsonType(v);
    if (t === 'missing') return false;
    return wanted.some(
      (w) =>
        w === t ||
        (w === 'number' && (t === 'int' || t === 'long' || t === 'double' || t === 'decimal')),
    );
  };
}

function compileOperators(spec: Document, path: string): LeafTest {
  const tests: LeafTest[] = [];
  const keys = Object.keys(spec);
  if (keys.includes('$options') && !keys.includes('$regex')) fail(2, '$options needs a $regex');
  for (const op of keys) {
    const arg = spec[op];
    switch (op) {
      case '$eq': {
        const eq = equalsOperand(arg);
        tests.push((l, d) => anyValue(l, d, eq));
        break;
      }
      case '$ne': {
        const eq = equalsOperand(arg);
        tests.push((l) => !anyValue(l, undefined, eq));
        break;
      }
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        if (arg === null && (op === '$gte' || op === '$lte')) {
          const eq = equalsOperand(null);
          tests.push((l, d) => anyValue(l, d, eq));
          break;
        }
        const cmp = compareOperand(op, arg);
        tests.push((l, d) => anyValue(l, d, cmp));
        break;
      }
      case '$in':
      case '$nin': {
        if (!Array.isArray(arg)) fail(2, `${op} needs an array`);
        const parts = arg.map((x) => {
          if (isDocument(x) && Object.keys(x)[0]?.startsWith('$'))
            fail(2, `cannot nest $ under ${op}`);
          if (isRegex(x)) {
            const re = toRegExp(x);
            return (v: unknown) => regexMatches(re, v);
          }
          return equalsOperand(x);
        });
        const any = (v: unknown): boolean => parts.some((p) => p(v));
        if (op === '$in') tests.push((l, d) => anyValue(l, d, any));
        else tests.push((l) => !anyValue(l, undefined, any));
        break;
      }
      case '$exists': {
        const want = Boolean(isNumeric(arg) ? toNumber(arg) : arg);
        tests.push((l) => l.some((x) => x.value !== undefined) === want);
        break;
      }
      case '$type': {
        const is = typeMatcher(arg);
        tests.push((l, d) => anyValue(l, d, is));
        break;
      }
      case '$size': {
        const n = toNumber(arg);
        if (n === undefined || !Number.isInteger(n))
          fail(2, 'Failed to parse $size. Expected an integer');
        tests.push((l) => l.some((x) => Array.isArray(x.value) && x.value.length === n));
        break;
      }
      case '$all': {
        if (!Array.isArray(arg)) fail(2, '$all needs an array');
        const each = arg.map((x): LeafTest => {
          if (isDocument(x) && '$elemMatch' in x) return compileOperators(x, path);
          if (isRegex(x)) {
            const re = toRegExp(x);
            return (l, d) => anyValue(l, d, (v) => regexMatches(re, v));
          }
          const eq = equalsOperand(x);
          return (l, d) => anyValue(l, d, eq);
        });
        tests.push((l, d) => each.length > 0 && each.every((t) => t(l, d)));
        break;
      }
      case '$elemMatch': {
        if (!isDocument(arg)) fail(2, '$elemMatch needs an Object');
        const first = Object.keys(arg)[0];
        const byValue =
          first !== undefined && first.startsWith('$') && !TOP_LEVEL_OPERATORS.has(first);
        const elemTest: (v: unknown) => boolean = byValue
          ? (
              (t) => (v: unknown) =>
                t([{ value: v }])
            )(compileOperators(arg, path))
          : (
              (m) => (v: unknown) =>
                isDocument(v) && m(v)
            )(compileFilter(arg));
        tests.push((l, d) => {
          for (const leaf of l) {
            if (!Array.isArray(leaf.value)) continue;
            const i = leaf.value.findIndex(elemTest);
            if (i >= 0) {
              if (d) d.arrayIndex = leaf.pos ?? i;
              return true;
            }
          }
          return false;
        });
        break;
      }
      case '$regex': {
        const re = toRegExp(arg, spec.$options);
        tests.push((l, d) => anyValue(l, d, (v) => regexMatches(re, v), false));
        break;
      }
      case '$options':
        break;
      case '$not': {
        if (isRegex(arg)) {
          const re = toRegExp(arg);
          tests.push((l) => !anyValue(l, undefined, (v) => regexMatches(re, v), false));
          break;
        }
        if (!isDocument(arg)) fail(2, '$not needs a regex or a document');
        if (Object.keys(arg).length === 0) fail(2, '$not cannot be empty');
        const inner = compileOperators(arg, path);
        tests.push((l) => !inner(l));
        break;
      }
      case '$mod': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          fail(
            2,
            `malformed mod, ${Array.isArray(arg) && arg.length < 2 ? 'not enough' : 'too many'} elements`,
          );
        }
        const div = Math.trunc(toNumber(arg[0]) ?? NaN);
        const rem = Math.trunc(toNumber(arg[1]) ?? NaN);
        if (Number.isNaN(div) || Number.isNaN(rem))
          fail(2, 'malformed mod, divisor and remainder must be numbers');
        if (div === 0) fail(2, 'divisor cannot be 0');
        tests.push((l, d) =>
          anyValue(
            l,
            d,
            (v) => isNumeric(v) && Math.trunc(toNumber(v) ?? NaN) % div === rem,
            false,
          ),
        );
        break;
      }
      case '$comment':
        break;
      default:
        fail(2, `unknown operator: ${op}`);
    }
  }
  return (l, d) => tests.every((t) => t(l, d));
}

function compileField(path: string, value: unknown): Matcher {
  const parts = splitPath(path);
  let test: LeafTest;
  if (
    isDocument(value) &&
    Object.keys(value)[0]?.startsWith('$') &&
    !('$ref' in value) &&
    !('$id' in value)
  ) {
    test = compileOperators(value, path);
  } else if (isRegex(value)) {
    const re = toRegExp(value);
    test = (l, d) => anyValue(l, d, (v) => regexMatches(re, v), false);
  } else {
    const eq = equalsOperand(value);
    test = (l, d) => anyValue(l, d, eq);
  }
  return (doc, details) => {
    const leaves: Leaf[] = [];
    collectLeaves(doc, parts, 0, undefined, leaves);
    return test(leaves, details);
  };
}

function clauses(op: string, v: unknown): Matcher[] {
  if (!Array.isArray(v) || v.length === 0) fail(2, `${op} must be a nonempty array`);
  return v.map((c) => {
    if (!isDocument(c)) fail(2, `${op} argument's entries must be objects`);
    return compileFilter(c);
  });
}

/** Compiles a MongoDB query filter into a predicate over stored documents. */
export function compileFilter(filter: Document | undefined | null): Matcher {
  if (filter === undefined || filter === null) return () => true;
  if (!isDocument(filter)) fail(2, 'filter must be an object');
  const tests: Matcher[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key.startsWith('$')) {
      switch (key) {
        case '$and': {
          const cs = clauses(key, value);
          tests.push((doc, d) => cs.every((c) => c(doc, d)));
          break;
        }
        case '$or': {
          const cs = clauses(key, value);
          tests.push((doc, d) => cs.some((c) => c(doc, d)));
          break;
        }
        case '$nor': {
          const cs = clauses(key, value);
          tests.push((doc) => !cs.some((c) => c(doc)));
          break;
        }
        case '$expr': {
          const q = new Query({ $expr: normalize(value) }, {});
          tests.push((doc) => q.test(normalize(doc) as Document));
          break;
        }
        case '$comment':
          break;
        case '$alwaysTrue':
          break;
        case '$alwaysFalse':
          tests.push(() => false);
          break;
        case '$where':
        case '$text':
        case '$jsonSchema':
          fail(2, `${key} is not supported by the test server`);
          break;
        default:
          fail(
            2,
            `unknown top level operator: ${key}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField.`,
          );
      }
      continue;
    }
    tests.push(compileField(key, value));
  }
  return (doc, details) => tests.every((t) => t(doc, details));
}

/**
 * The document an upsert starts from: the filter's equality conditions (`{a: 1}`, `{a: {$eq: 1}}`,
 * inside `$and`), with dotted paths expanded.
 */
export function equalityFields(filter: Document | undefined): Document {
  const out: Document = {};
  const visit = (f: Document): void => {
    for (const [key, value] of Object.entries(f)) {
      if (key === '$and' && Array.isArray(value)) {
        value.forEach((c) => isDocument(c) && visit(c));
        continue;
      }
      if (key === '$or' && Array.isArray(value) && value.length === 1 && isDocument(value[0])) {
        visit(value[0]);
        continue;
      }
      if (key.startsWith('$')) continue;
      let v: unknown = value;
      if (isDocument(value) && Object.keys(value)[0]?.startsWith('$')) {
        if (!('$eq' in value)) continue;
        v = value.$eq;
      }
      if (isRegex(v)) continue;
      setPathCreating(out, splitPath(key), clone({ v }).v);
    }
  };
  if (filter) visit(filter);
  return out;
}

function setPathCreating(doc: Document, parts: string[], value: unknown): void {
  let cur: Document = doc;
  parts.forEach((part, i) => {
    if (i === parts.length - 1) {
      cur[part] = value;
      return;
    }
    const next = cur[part];
    if (!isDocument(next)) cur[part] = {};
    cur = cur[part] as Document;
  });
}

// ---------------------------------------------------------------- sort

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

// ---------------------------------------------------------------- expressions

/** Aggregation expressions with no `$` operator or field path: used as they are (types kept). */
function isConstant(expr: unknown): boolean {
  if (typeof expr === 'string') return !expr.startsWith('$');
  if (Array.isArray(expr)) return expr.every(isConstant);
  if (isDocument(expr))
    return Object.entries(expr).every(([k, v]) => !k.startsWith('$') && isConstant(v));
  return true;
}

/** Field path `$a.b` over a document: arrays of documents yield arrays of values (MongoDB). */
function fieldPathValue(doc: unknown, parts: string[]): unknown {
  let cur: unknown = doc;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (Array.isArray(cur)) {
      const rest = parts.slice(i);
      return cur
        .filter((el) => isDocument(el) || Array.isArray(el))
        .map((el) => fieldPathValue(el, rest))
        .filter((v) => v !== undefined);
    }
    if (!isDocument(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Evaluates an aggregation expression against a document; constants and field paths keep BSON types. */
export function evalExpression(doc: Document, expr: unknown): unknown {
  if (typeof expr === 'string' && expr.startsWith('$') && !expr.startsWith('$$')) {
    const v = fieldPathValue(doc, splitPath(expr.slice(1)));
    return v === undefined ? undefined : clone({ v }).v;
  }
  if (expr === '$$ROOT' || expr === '$$CURRENT') return clone(doc);
  if (isDocument(expr) && Object.keys(expr).length === 1 && '$literal' in expr)
    return expr.$literal;
  if (isConstant(expr))
    return isDocument(expr) || Array.isArray(expr) ? clone({ v: expr }).v : expr;
  if (isDocument(expr) && !Object.keys(expr).some((k) => k.startsWith('$'))) {
    const out: Document = {};
    for (const [k, v] of Object.entries(expr)) {
      const r = evalExpression(doc, v);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  if (Array.isArray(expr)) return expr.map((e) => evalExpression(doc, e) ?? null);
  const [out] = runMingo([normalize(doc) as Document], {
    $project: { _id: 0, v: normalize(expr) },
  });
  return out?.v;
}

// ---------------------------------------------------------------- projection

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

function copy<T>(v: T): T {
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

// ---------------------------------------------------------------- aggregation

/** What pipeline stages need from outside: other collections of the same database. */
export interface PipelineEnv {
  /** Owned copies of a collection's documents (for `$lookup`, `$unionWith`, `$graphLookup`). */
  collection?(name: string): Document[];
}

/** Stages mingo runs for us (on normalised copies). */
const MINGO_STAGES = new Set([
  '$bucket',
  '$bucketAuto',
  '$densify',
  '$fill',
  '$graphLookup',
  '$group',
  '$lookup',
  '$redact',
  '$sample',
  '$setWindowFields',
  '$sortByCount',
  '$unionWith',
]);

/** Real MongoDB stages the test server does not run. */
const UNSUPPORTED_STAGES = new Set([
  '$collStats',
  '$geoNear',
  '$indexStats',
  '$listSessions',
  '$listLocalSessions',
  '$planCacheStats',
  '$search',
  '$searchMeta',
  '$vectorSearch',
  '$merge',
  '$out',
  '$listSearchIndexes',
  '$changeStreamSplitLargeEvent',
]);

function runMingo(docs: Document[], stage: Document, env?: PipelineEnv): Document[] {
  const resolver = env?.collection;
  const agg = new Aggregator([stage], {
    collectionResolver: resolver
      ? (name) => resolver(name).map((d) => normalize(d) as Document)
      : undefined,
  });
  try {
    return agg.run(docs) as Document[];
  } catch (e) {
    return fail(2, `${Object.keys(stage)[0] ?? ''} failed: ${(e as Error).message}`);
  }
}

function stageName(stage: unknown): string {
  if (!isDocument(stage))
    fail(40323, 'A pipeline stage specification object must contain exactly one field.');
  const keys = Object.keys(stage);
  if (keys.length !== 1)
    fail(40323, 'A pipeline stage specification object must contain exactly one field.');
  return keys[0] as string;
}

function setPathBroadcast(doc: Document, parts: string[], value: unknown): void {
  const [head, ...rest] = parts as [string, ...string[]];
  if (rest.length === 0) {
    if (value === undefined) delete doc[head];
    else doc[head] = value;
    return;
  }
  const cur = doc[head];
  if (Array.isArray(cur)) {
    for (const el of cur) if (isDocument(el)) setPathBroadcast(el, rest, value);
    return;
  }
  if (!isDocument(cur)) {
    if (value === undefined) return;
    doc[head] = {};
  }
  setPathBroadcast(doc[head] as Document, rest, value);
}

function addFields(doc: Document, spec: Document): Document {
  const out = clone(doc);
  const visit = (prefix: string[], s: Document): void => {
    for (const [k, v] of Object.entries(s)) {
      const parts = [...prefix, ...splitPath(k)];
      if (
        isDocument(v) &&
        Object.keys(v).length > 0 &&
        !Object.keys(v).some((x) => x.startsWith('$'))
      ) {
        const existing = getPath(out, parts);
        if (isDocument(existing) || Array.isArray(existing)) {
          visit(parts, v);
          continue;
        }
      }
      setPathBroadcast(out, parts, evalExpression(doc, v));
    }
  };
  visit([], spec);
  return out;
}

function unsetFields(doc: Document, spec: unknown): Document {
  const paths = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) {
    fail(31002, '$unset specification must be a string or an array containing only string values');
  }
  const out = clone(doc);
  for (const p of paths as string[]) setPathBroadcast(out, splitPath(p), undefined);
  return out;
}

function unwind(docs: Document[], spec: unknown): Document[] {
  const opts: Document = typeof spec === 'string' ? { path: spec } : isDocument(spec) ? spec : {};
  const path = opts.path;
  if (typeof path !== 'string' || !path.startsWith('$')) {
    fail(28818, "path option to $unwind stage should be prefixed with a '$'");
  }
  const parts = splitPath(path.slice(1));
  const preserve = opts.preserveNullAndEmptyArrays === true;
  const indexField =
    typeof opts.includeArrayIndex === 'string' ? opts.includeArrayIndex : undefined;
  const out: Document[] = [];
  for (const doc of docs) {
    const v = getPath(doc, parts);
    if (Array.isArray(v) && v.length > 0) {
      v.forEach((el, i) => {
        const d = clone(doc);
        setPathBroadcast(d, parts, copy(el));
        if (indexField) setPathBroadcast(d, splitPath(indexField), Long.fromNumber(i));
        out.push(d);
      });
    } else if (v !== undefined && v !== null && !Array.isArray(v)) {
      const d = clone(doc);
      if (indexField) setPathBroadcast(d, splitPath(indexField), null);
      out.push(d);
    } else if (preserve) {
      const d = clone(doc);
      if (Array.isArray(v)) setPathBroadcast(d, parts, undefined);
      if (indexField) setPathBroadcast(d, splitPath(indexField), null);
      out.push(d);
    }
  }
  return out;
}

function toCount(v: unknown, what: string): number {
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n) || n < 0)
    fail(15958, `the ${what} must be a non-negative integer`);
  return n;
}

/** The names of the stages `runPipeline` accepts (besides `$changeStream`, handled elsewhere). */
export function isKnownStage(name: string): boolean {
  return (
    MINGO_STAGES.has(name) ||
    UNSUPPORTED_STAGES.has(name) ||
    [
      '$match',
      '$sort',
      '$skip',
      '$limit',
      '$count',
      '$unwind',
      '$project',
      '$unset',
      '$addFields',
      '$set',
      '$replaceRoot',
      '$replaceWith',
      '$facet',
      '$documents',
      '$changeStream',
      '$currentOp',
    ].includes(name)
  );
}

/** Runs an aggregation pipeline over owned documents; returns new documents. */
export function runPipeline(input: Document[], pipeline: unknown[], env?: PipelineEnv): Document[] {
  let docs = input;
  for (const stage of pipeline) {
    const name = stageName(stage);
    const arg = (stage as Document)[name];
    switch (name) {
      case '$match': {
        if (!isDocument(arg)) fail(15959, 'the match filter must be an expression in an object');
        const m = compileFilter(arg);
        docs = docs.filter((d) => m(d));
        break;
      }
      case '$sort': {
        if (!isDocument(arg) || Object.keys(arg).length === 0)
          fail(15976, '$sort stage must have at least one sort key');
        const cmp = compileSort(arg);
        docs = docs
          .map((d, i) => [d, i] as const)
          .sort((a, b) => cmp(a[0], b[0]) || a[1] - b[1])
          .map(([d]) => d);
        break;
      }
      case '$skip':
        docs = docs.slice(toCount(arg, 'skip'));
        break;
      case '$limit': {
        const n = toCount(arg, 'limit');
        if (n === 0) fail(15958, 'the limit must be positive');
        docs = docs.slice(0, n);
        break;
      }
      case '$count': {
        if (typeof arg !== 'string' || arg === '' || arg.startsWith('$') || arg.includes('.')) {
          fail(40156, 'the count field must be a non-empty string');
        }
        docs = docs.length === 0 ? [] : [{ [arg]: docs.length }];
        break;
      }
      case '$unwind':
        docs = unwind(docs, arg);
        break;
      case '$project': {
        const p = compileProjection(arg as Document, false);
        if (p) docs = docs.map((d) => p(d));
        break;
      }
      case '$unset':
        docs = docs.map((d) => unsetFields(d, arg));
        break;
      case '$addFields':
      case '$set':
        if (!isDocument(arg)) fail(40272, `${name} specification stage must be an object`);
        docs = docs.map((d) => addFields(d, arg));
        break;
      case '$replaceRoot':
      case '$replaceWith': {
        const expr = name === '$replaceRoot' ? (isDocument(arg) ? arg.newRoot : undefined) : arg;
        if (name === '$replaceRoot' && expr === undefined)
          fail(40231, 'no newRoot specified for the $replaceRoot stage');
        docs = docs.map((d) => {
          const r = evalExpression(d, expr);
          if (!isDocument(r)) {
            fail(
              40228,
              `'replacement document' must evaluate to an object, but resulting value was: ${r === undefined ? 'MISSING' : String(r)}. Type of resulting value: '${bsonType(r)}'.`,
            );
          }
          return r;
        });
        break;
      }
      case '$facet': {
        if (!isDocument(arg)) fail(15955, 'the $facet specification must be a non-empty object');
        const out: Document = {};
        for (const [k, sub] of Object.entries(arg)) {
          if (!Array.isArray(sub))
            fail(40170, `arguments to $facet must be arrays, ${k} is type ${bsonType(sub)}`);
          out[k] = runPipeline(
            docs.map((d) => clone(d)),
            sub,
            env,
          );
        }
        docs = [out];
        break;
      }
      case '$changeStream':
        fail(40602, '$changeStream is only valid as the first stage in a pipeline');
        break;
      default:
        if (MINGO_STAGES.has(name)) {
          docs = runMingo(
            docs.map((d) => normalize(d) as Document),
            { [name]: normalize(arg) },
            env,
          );
          break;
        }
        if (UNSUPPORTED_STAGES.has(name) || name === '$documents' || name === '$currentOp') {
          fail(2, `${name} is not supported by the test server`);
        }
        fail(40324, `Unrecognized pipeline stage name: '${name}'`);
    }
  }
  return docs;
}

/** The `$type` name list, for callers validating type arguments. */
export type { BsonTypeName };
