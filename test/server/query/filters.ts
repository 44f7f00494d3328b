// Query filters compiled to predicates: comparison, element, array and logical operators over
// BSON values (types kept), `$expr` through mingo; and the equality fields an upsert seeds from.
import type { Document } from 'bson';
import { Query } from 'mingo';
import { fail } from '../errors.js';
import {
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
} from '../values.js';
import { type Leaf, collectLeaves, splitPath } from './paths.js';

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
