// The unified test format's "Evaluating Matches" rules (mongodb/specifications,
// source/unified-test-format): root documents may carry extra keys, nested ones may not, arrays
// match element by element, numbers compare by value across int/long/double, and `$$`-operators
// stand in for values a test cannot know in advance.
import { EJSON } from 'bson';

/** A key the actual document does not have: distinct from a key whose value is null. */
export const MISSING: unique symbol = Symbol('missing');
export type Actual = unknown;

/** Looks up entities for `$$matchesEntity` (and friends); absent when a test has none. */
export type EntityLookup = (name: string) => unknown;

export interface MatchOptions {
  /** Match `expected` as a root-level document (extra keys allowed). Default true. */
  root?: boolean;
  entities?: EntityLookup;
}

/**
 * Matches `actual` against `expected`; returns one message per mismatch (empty: they match).
 * Paths in messages start at `$`.
 */
export function match(expected: unknown, actual: Actual, options: MatchOptions = {}): string[] {
  const out: string[] = [];
  matchValue(expected, actual, '$', options.root ?? true, out, options.entities);
  return out;
}

/** A plain document: an object that is not an array, a Date or a BSON value class. */
export function isDocument(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value) || value instanceof Date || value instanceof RegExp) return false;
  if (value instanceof Uint8Array) return false;
  return !('_bsontype' in value);
}

/** The `$$operator` name when `value` is `{$$operator: …}` with no other key. */
function operatorOf(value: unknown): string | undefined {
  if (!isDocument(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0]!.startsWith('$$') ? keys[0] : undefined;
}

function matchValue(
  expected: unknown,
  actual: Actual,
  path: string,
  root: boolean,
  out: string[],
  entities: EntityLookup | undefined,
): void {
  const op = operatorOf(expected);
  if (op !== undefined) {
    const arg = (expected as Record<string, unknown>)[op];
    matchOperator(op, arg, actual, path, root, out, entities);
    return;
  }
  if (actual === MISSING || actual === undefined) {
    out.push(`${path}: missing, expected ${show(expected)}`);
    return;
  }
  if (isDocument(expected)) {
    if (!isDocument(actual)) {
      out.push(`${path}: expected a document, got ${show(actual)}`);
      return;
    }
    for (const [key, value] of Object.entries(expected)) {
      matchValue(value, valueAt(actual, key), childPath(path, key), false, out, entities);
    }
    if (!root) {
      for (const [key, value] of Object.entries(actual)) {
        if (value !== undefined && !Object.hasOwn(expected, key)) {
          out.push(`${childPath(path, key)}: unexpected key (value ${show(value)})`);
        }
      }
    }
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) {
      out.push(`${path}: expected an array, got ${show(actual)}`);
      return;
    }
    if (actual.length !== expected.length) {
      out.push(
        `${path}: expected ${expected.length} elements, got ${actual.length}: ${show(actual)}`,
      );
      return;
    }
    expected.forEach((value, i) =>
      matchValue(value, actual[i], `${path}[${i}]`, false, out, entities),
    );
    return;
  }
  if (!scalarsEqual(expected, actual)) {
    out.push(`${path}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

function matchOperator(
  op: string,
  arg: unknown,
  actual: Actual,
  path: string,
  root: boolean,
  out: string[],
  entities: EntityLookup | undefined,
): void {
  const present = actual !== MISSING && actual !== undefined;
  switch (op) {
    case '$$exists':
      if (Boolean(arg) !== present) {
        out.push(`${path}: expected ${arg ? 'to exist' : `to be absent, got ${show(actual)}`}`);
      }
      return;
    case '$$unsetOrMatches':
      // "Does not influence whether or not an actual document value is considered root-level."
      if (present) matchValue(arg, actual, path, root, out, entities);
      return;
    case '$$type': {
      const names = Array.isArray(arg) ? arg.map(String) : [String(arg)];
      if (!present) out.push(`${path}: missing, expected type ${names.join('|')}`);
      else if (!names.some((name) => hasType(actual, name))) {
        out.push(`${path}: expected type ${names.join('|')}, got ${show(actual)}`);
      }
      return;
    }
    case '$$matchesEntity': {
      if (!entities) {
        out.push(`${path}: $$matchesEntity used without entities`);
        return;
      }
      matchValue(entities(String(arg)), actual, path, root, out, entities);
      return;
    }
    case '$$matchesHexBytes': {
      const hex = String(arg).toLowerCase();
      const bytes = bytesOf(actual);
      if (bytes === undefined) out.push(`${path}: expected bytes ${hex}, got ${show(actual)}`);
      else if (Buffer.from(bytes).toString('hex') !== hex) {
        out.push(`${path}: expected bytes ${hex}, got ${Buffer.from(bytes).toString('hex')}`);
      }
      return;
    }
    case '$$lte': {
      const limit = numericValue(arg);
      const value = numericValue(actual);
      if (limit === undefined || value === undefined || Number(value) > Number(limit)) {
        out.push(`${path}: expected a number <= ${show(arg)}, got ${show(actual)}`);
      }
      return;
    }
    case '$$matchAsDocument': {
      if (typeof actual !== 'string') {
        out.push(`${path}: expected an Extended JSON string, got ${show(actual)}`);
        return;
      }
      let parsed: unknown;
      try {
        parsed = EJSON.parse(actual, { relaxed: false });
      } catch (error) {
        out.push(`${path}: not Extended JSON (${(error as Error).message})`);
        return;
      }
      matchValue(arg, parsed, path, false, out, entities);
      return;
    }
    case '$$matchAsRoot':
      matchValue(arg, actual, path, true, out, entities);
      return;
    default:
      out.push(`${path}: unsupported operator ${op}`);
  }
}

function valueAt(doc: Record<string, unknown>, key: string): Actual {
  return Object.hasOwn(doc, key) ? doc[key] : MISSING;
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function bsonType(value: object): string | undefined {
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === 'string' ? tag : undefined;
}

/** A number-like value (JS number, bigint, Int32, Double, Long) as number or bigint. */
export function numericValue(value: unknown): number | bigint | undefined {
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (typeof value !== 'object' || value === null) return undefined;
  switch (bsonType(value)) {
    case 'Int32':
    case 'Double':
      return (value as { value: number }).value;
    case 'Long':
      return (value as { toBigInt(): bigint }).toBigInt();
    default:
      return undefined;
  }
}

function numbersEqual(a: number | bigint, b: number | bigint): boolean {
  const integral = (x: number | bigint) => typeof x === 'bigint' || Number.isInteger(x);
  if (integral(a) && integral(b)) return BigInt(a) === BigInt(b);
  return Number(a) === Number(b);
}

function bytesOf(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'object' && value !== null && bsonType(value) === 'Binary') {
    const binary = value as { buffer: Uint8Array; position?: number };
    return binary.buffer.subarray(0, binary.position ?? binary.buffer.length);
  }
  return undefined;
}

function scalarsEqual(expected: unknown, actual: unknown): boolean {
  const en = numericValue(expected);
  const an = numericValue(actual);
  if (en !== undefined || an !== undefined) {
    return en !== undefined && an !== undefined && numbersEqual(en, an);
  }
  if (expected === null || actual === null) return expected === actual;
  if (typeof expected !== 'object' || typeof actual !== 'object') return expected === actual;
  if (expected instanceof Date || actual instanceof Date) {
    return (
      expected instanceof Date && actual instanceof Date && expected.getTime() === actual.getTime()
    );
  }
  const eb = bytesOf(expected);
  const ab = bytesOf(actual);
  if (eb !== undefined || ab !== undefined) {
    const subtype = (v: unknown) => (v as { sub_type?: number }).sub_type ?? 0;
    return (
      eb !== undefined &&
      ab !== undefined &&
      subtype(expected) === subtype(actual) &&
      Buffer.from(eb).equals(Buffer.from(ab))
    );
  }
  // Everything else (ObjectId, Timestamp, Decimal128, regexes, keys, code): canonical Extended
  // JSON is exact and type-aware.
  return canonical(expected) === canonical(actual);
}

function canonical(value: unknown): string {
  return EJSON.stringify({ v: value }, { relaxed: false });
}

/** Whether `value` has the BSON type `name` (the names the `$type` query operator uses). */
export function hasType(value: unknown, name: string): boolean {
  const tag = typeof value === 'object' && value !== null ? bsonType(value) : undefined;
  switch (name) {
    case 'double':
      // A promoted JS number may have been any numeric BSON type: accept it as a double.
      return tag === 'Double' || typeof value === 'number';
    case 'int':
      return (
        tag === 'Int32' ||
        (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 0x7fffffff)
      );
    case 'long':
      return (
        tag === 'Long' ||
        typeof value === 'bigint' ||
        (typeof value === 'number' && Number.isSafeInteger(value))
      );
    case 'decimal':
      return tag === 'Decimal128';
    case 'number':
      return numericValue(value) !== undefined || tag === 'Decimal128';
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'undefined':
      return value === undefined;
    case 'object':
      return isDocument(value);
    case 'array':
      return Array.isArray(value);
    case 'binData':
      return bytesOf(value) !== undefined;
    case 'objectId':
      return tag === 'ObjectId';
    case 'date':
      return value instanceof Date;
    case 'timestamp':
      return tag === 'Timestamp';
    case 'regex':
      return value instanceof RegExp || tag === 'BSONRegExp';
    case 'javascript':
      return tag === 'Code' && (value as { scope?: unknown }).scope == null;
    case 'javascriptWithScope':
      return tag === 'Code' && (value as { scope?: unknown }).scope != null;
    case 'symbol':
      return tag === 'BSONSymbol';
    case 'minKey':
      return tag === 'MinKey';
    case 'maxKey':
      return tag === 'MaxKey';
    case 'dbPointer':
      return tag === 'DBRef';
    default:
      return false;
  }
}

/** A short, readable rendering of a value for failure messages. */
export function show(value: unknown): string {
  if (value === MISSING) return '(missing)';
  if (value === undefined) return 'undefined';
  let text: string;
  try {
    text = EJSON.stringify(value as never, { relaxed: true });
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
