// BSON values as the server holds them. The wire layer deserializes every request with
// `promoteValues: false`, so numbers arrive as Int32 / Double / Long / Decimal128 objects and
// are stored with their exact type (a Double 1.0 stays a double; a Long stays a Long).
// Handlers read numeric arguments through `toNumber` and copy documents through `clone`.
import {
  type Document,
  type ObjectId,
  type Timestamp,
  deserialize,
  serialize,
  Decimal128,
  Double,
  Int32,
  Long,
} from 'bson';

/** Options every BSON decode in the server uses, so values keep their exact BSON type. */
export const EXACT: Readonly<{ promoteValues: false; bsonRegExp: true }> = {
  promoteValues: false,
  bsonRegExp: true,
};

/** True for any BSON number (plain JS number included). */
export function isNumeric(v: unknown): v is number | Int32 | Double | Long | Decimal128 {
  return (
    typeof v === 'number' ||
    v instanceof Int32 ||
    v instanceof Double ||
    v instanceof Long ||
    v instanceof Decimal128
  );
}

/** A BSON number as a JS number (Long beyond 2^53 loses precision; Decimal128 via its string). */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number(v.toString());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** An owned deep copy of a document with every BSON type preserved. */
export function clone<T extends Document>(doc: T): T {
  return deserialize(serialize(doc), EXACT) as T;
}

/** `clone`, also returning the BSON the copy was made from (`serialize(copy)`, for free). */
export function cloneWithBson<T extends Document>(doc: T): { copy: T; bson: Uint8Array } {
  const bson = serialize(doc);
  return { copy: deserialize(bson, EXACT) as T, bson };
}

// ---------------------------------------------------------------- types and ordering

/** MongoDB's `$type` names. */
export type BsonTypeName =
  | 'double'
  | 'string'
  | 'object'
  | 'array'
  | 'binData'
  | 'undefined'
  | 'objectId'
  | 'bool'
  | 'date'
  | 'null'
  | 'regex'
  | 'dbPointer'
  | 'javascript'
  | 'symbol'
  | 'javascriptWithScope'
  | 'int'
  | 'timestamp'
  | 'long'
  | 'decimal'
  | 'minKey'
  | 'maxKey';

/** `$type` numbers by name (BSON spec element type bytes; minKey -1, maxKey 127). */
export const TYPE_NUMBERS: Readonly<Record<BsonTypeName, number>> = {
  double: 1,
  string: 2,
  object: 3,
  array: 4,
  binData: 5,
  undefined: 6,
  objectId: 7,
  bool: 8,
  date: 9,
  null: 10,
  regex: 11,
  dbPointer: 12,
  javascript: 13,
  symbol: 14,
  javascriptWithScope: 15,
  int: 16,
  timestamp: 17,
  long: 18,
  decimal: 19,
  minKey: -1,
  maxKey: 127,
};

function bsontype(v: object): string | undefined {
  const t = (v as { _bsontype?: unknown })._bsontype;
  return typeof t === 'string' ? t : undefined;
}

/** A plain embedded document (not an array, not a BSON value class, not a Date/RegExp). */
export function isDocument(v: unknown): v is Document {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    bsontype(v) === undefined &&
    !(v instanceof Date) &&
    !(v instanceof RegExp) &&
    !(v instanceof Uint8Array)
  );
}

/** The BSON type of a value as `$type` names it; `undefined` (missing) → 'missing'. */
export function bsonType(v: unknown): BsonTypeName | 'missing' {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      // How the bson serializer writes a JS number.
      return Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 && !Object.is(v, -0)
        ? 'int'
        : 'double';
    case 'bigint':
      return 'long';
    case 'object':
      break;
    default:
      return 'javascript';
  }
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  if (v instanceof RegExp) return 'regex';
  if (v instanceof Uint8Array) return 'binData';
  switch (bsontype(v)) {
    case undefined:
      return 'object';
    case 'Double':
      return 'double';
    case 'Int32':
      return 'int';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    case 'ObjectId':
    case 'ObjectID':
      return 'objectId';
    case 'Binary':
      return 'binData';
    case 'Timestamp':
      return 'timestamp';
    case 'BSONRegExp':
      return 'regex';
    case 'MinKey':
      return 'minKey';
    case 'MaxKey':
      return 'maxKey';
    case 'Code':
      return (v as { scope?: unknown }).scope ? 'javascriptWithScope' : 'javascript';
    case 'BSONSymbol':
      return 'symbol';
    case 'DBRef':
      return 'object';
    case 'DBPointer':
      return 'dbPointer';
    default:
      return 'object';
  }
}

/** Sort brackets: values of different brackets compare by bracket (MongoDB's canonical types). */
export function canonicalRank(v: unknown): number {
  switch (bsonType(v)) {
    case 'minKey':
      return 1;
    case 'missing':
    case 'undefined':
    case 'null':
      return 5;
    case 'int':
    case 'long':
    case 'double':
    case 'decimal':
      return 10;
    case 'string':
    case 'symbol':
      return 15;
    case 'object':
      return 20;
    case 'array':
      return 25;
    case 'binData':
      return 30;
    case 'objectId':
      return 35;
    case 'bool':
      return 40;
    case 'date':
      return 45;
    case 'timestamp':
      return 47;
    case 'regex':
      return 50;
    case 'dbPointer':
      return 55;
    case 'javascript':
      return 60;
    case 'javascriptWithScope':
      return 65;
    case 'maxKey':
      return 127;
  }
}

const utf8 = new TextEncoder();

function compareStrings(a: string, b: string): number {
  // MongoDB compares UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF.
  if (a === b) return 0;
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareNumbers(a: unknown, b: unknown): number {
  if (a instanceof Long && b instanceof Long) return a.compare(b);
  const x = toNumber(a) ?? NaN;
  const y = toNumber(b) ?? NaN;
  // NaN sorts before every other number and equals itself.
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
  if (Number.isNaN(y)) return 1;
  return sign(x - y) || (x === y ? 0 : x < y ? -1 : 1);
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  const bin = v as { buffer: Uint8Array; position: number };
  return bin.buffer.subarray(0, bin.position);
}

function entriesOf(v: unknown): [string, unknown][] {
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
  if (bsontype(v as object) === 'DBRef') {
    const ref = v as { collection: string; oid: unknown; db?: string; fields?: Document };
    const out: [string, unknown][] = [
      ['$ref', ref.collection],
      ['$id', ref.oid],
    ];
    if (ref.db) out.push(['$db', ref.db]);
    return out;
  }
  return Object.entries(v as Document).filter(([, x]) => x !== undefined);
}

function compareEntries(a: [string, unknown][], b: [string, unknown][]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const [ka, va] = a[i] as [string, unknown];
    const [kb, vb] = b[i] as [string, unknown];
    const byType = canonicalRank(va) - canonicalRank(vb);
    if (byType !== 0) return sign(byType);
    const byName = compareStrings(ka, kb);
    if (byName !== 0) return byName;
    const byValue = compareValues(va, vb);
    if (byValue !== 0) return byValue;
  }
  return sign(a.length - b.length);
}

/** Total order over BSON values as MongoDB sorts them (missing sorts with null). */
export function compareValues(a: unknown, b: unknown): number {
  const ra = canonicalRank(a);
  const rb = canonicalRank(b);
  if (ra !== rb) return sign(ra - rb);
  switch (ra) {
    case 1:
    case 5:
    case 127:
      return 0;
    case 10:
      return compareNumbers(a, b);
    case 15:
      return compareStrings(String(a), String(b));
    case 20:
    case 25:
      return compareEntries(entriesOf(a), entriesOf(b));
    case 30: {
      const x = bytesOf(a);
      const y = bytesOf(b);
      if (x.length !== y.length) return sign(x.length - y.length);
      const sa = a instanceof Uint8Array ? 0 : (a as { sub_type: number }).sub_type;
      const sb = b instanceof Uint8Array ? 0 : (b as { sub_type: number }).sub_type;
      if (sa !== sb) return sign(sa - sb);
      return Buffer.compare(x, y);
    }
    case 35:
      return Buffer.compare(
        (a as { id: Uint8Array }).id as Buffer,
        (b as { id: Uint8Array }).id as Buffer,
      );
    case 40:
      return sign(Number(a) - Number(b));
    case 45:
      return sign((a as Date).getTime() - (b as Date).getTime());
    case 47: {
      const x = a as Timestamp;
      const y = b as Timestamp;
      return sign(x.t - y.t) || sign(x.i - y.i);
    }
    case 50: {
      const [pa, fa] = regexParts(a);
      const [pb, fb] = regexParts(b);
      return compareStrings(pa, pb) || compareStrings(fa, fb);
    }
    default:
      return compareStrings(String(a), String(b));
  }
}

/** Pattern and flags of a BSONRegExp or RegExp. */
export function regexParts(v: unknown): [string, string] {
  if (v instanceof RegExp) return [v.source, v.flags];
  const r = v as { pattern: string; options: string };
  return [r.pattern, r.options];
}

/** MongoDB equality: numbers by value across types, documents field-order sensitive. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0;
}

/** Same BSON type and same bytes (what update operators use to detect a no-op). */
export function binaryEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return Buffer.compare(serialize({ v: a }), serialize({ v: b })) === 0;
}

function numberKey(v: unknown): string {
  if (v instanceof Long) {
    const n = v.toNumber();
    return Number.isSafeInteger(n) ? String(n) : v.toString();
  }
  const n = toNumber(v) ?? NaN;
  if (Object.is(n, -0)) return '0';
  return String(n);
}

/**
 * A string key equal for values MongoDB considers equal (1, 1.0 and Long(1) collide), used to
 * index documents by `_id` and unique index keys.
 */
export function idKey(v: unknown): string {
  switch (canonicalRank(v)) {
    case 5:
      return 'null';
    case 10:
      return `n${numberKey(v)}`;
    case 15:
      return `s${JSON.stringify(String(v))}`;
    case 20:
      return `{${entriesOf(v)
        .map(([k, x]) => `${JSON.stringify(k)}:${idKey(x)}`)
        .join(',')}}`;
    case 25:
      return `[${(v as unknown[]).map(idKey).join(',')}]`;
    case 30:
      return `b${(v as { sub_type?: number }).sub_type ?? 0}:${Buffer.from(bytesOf(v)).toString('hex')}`;
    case 35:
      return `o${(v as ObjectId).toHexString()}`;
    case 40:
      return v ? 'true' : 'false';
    case 45:
      return `d${(v as Date).getTime()}`;
    case 47:
      return `t${(v as Timestamp).t}:${(v as Timestamp).i}`;
    case 50:
      return `r${JSON.stringify(regexParts(v))}`;
    default:
      return `${bsonType(v)}:${String(v)}`;
  }
}

/**
 * A deep copy with every BSON number turned into a JS number, for handing documents to mingo
 * (which cannot compare Int32/Long/Double/Decimal128 objects with numbers).
 */
export function normalize(v: unknown): unknown {
  if (isNumeric(v)) return toNumber(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (isDocument(v)) {
    const out: Document = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
    return out;
  }
  if (typeof v === 'object' && v !== null && bsontype(v) === 'BSONRegExp') {
    const [p, f] = regexParts(v);
    try {
      return new RegExp(p, f.replace(/[^imsu]/g, ''));
    } catch {
      return v;
    }
  }
  return v;
}

/** A value rendered the way MongoDB prints it in error messages: `{ _id: 1, a: "x" }`. */
export function formatValue(v: unknown): string {
  switch (bsonType(v)) {
    case 'missing':
      return 'undefined';
    case 'null':
      return 'null';
    case 'string':
      return JSON.stringify(v);
    case 'int':
    case 'double':
    case 'long':
    case 'decimal': {
      const n = v instanceof Long || v instanceof Decimal128 ? v.toString() : String(toNumber(v));
      return n;
    }
    case 'bool':
      return String(v);
    case 'objectId':
      return `ObjectId('${(v as ObjectId).toHexString()}')`;
    case 'date':
      return `new Date(${(v as Date).getTime()})`;
    case 'timestamp':
      return `Timestamp(${(v as Timestamp).t}, ${(v as Timestamp).i})`;
    case 'binData':
      return `BinData(${(v as { sub_type?: number }).sub_type ?? 0}, ${Buffer.from(bytesOf(v)).toString('hex').toUpperCase()})`;
    case 'array':
      return (v as unknown[]).length === 0
        ? '[]'
        : `[ ${(v as unknown[]).map(formatValue).join(', ')} ]`;
    case 'object': {
      const e = entriesOf(v);
      return e.length === 0
        ? '{}'
        : `{ ${e.map(([k, x]) => `${k}: ${formatValue(x)}`).join(', ')} }`;
    }
    case 'regex': {
      const [p, f] = regexParts(v);
      return `/${p}/${f}`;
    }
    default:
      return String(v);
  }
}
