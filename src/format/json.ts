// `--format json`: relaxed Extended JSON, one event per line, fields in the order they arrive.
//
// Written by hand instead of `EJSON.stringify(x, {relaxed: true})` because bson 7's relaxed mode
// departs from the Extended JSON spec (mongodb/specifications source/extended-json) in ways that
// lose information in a pipe:
//   - a Long is printed through a JS number, so Long('9007199254740993') becomes …992;
//   - a Double with an integral value prints as `2`, which every parser reads back as an int;
//     the spec's relaxed form for a finite double is a JSON *non-integer* (`2.0`, `1e+21`);
//   - Double -0.0 prints as `0`.
// mongoexport (Go driver) and pymongo's json_util follow the spec on all three; so do we. Every
// other type is written as the spec's conversion table says (the same as bson for them).
import { bsonType } from './inspect.js';
import type { BsonLike } from './bson-like.js';

/** A finite or non-finite double as relaxed EJSON: always distinguishable from an integer. */
export function doubleText(x: number): string {
  if (Number.isNaN(x)) return '{"$numberDouble":"NaN"}';
  if (x === Infinity) return '{"$numberDouble":"Infinity"}';
  if (x === -Infinity) return '{"$numberDouble":"-Infinity"}';
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  // String() gives the shortest text that reads back as the same double; add ".0" only when
  // it has neither a fraction nor an exponent.
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

const MAX_RELAXED_DATE = 253402300800000; // 10000-01-01T00:00:00Z

function dateText(d: Date): string {
  const ms = d.getTime();
  if (ms >= 0 && ms < MAX_RELAXED_DATE) {
    // RFC 3339 with milliseconds only when there are some, like mongoexport and pymongo.
    const iso = d.toISOString().replace('.000Z', 'Z');
    return `{"$date":${JSON.stringify(iso)}}`;
  }
  return `{"$date":{"$numberLong":"${Number.isNaN(ms) ? 0 : ms}"}}`;
}

function binaryText(bytes: Uint8Array, subType: number): string {
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const sub = subType.toString(16).padStart(2, '0');
  return `{"$binary":{"base64":"${base64}","subType":"${sub}"}}`;
}

function bsonText(tag: string, v: BsonLike): string | undefined {
  switch (tag) {
    case 'Int32':
      return String(v.value);
    case 'Double':
      return doubleText(Number(v.value));
    case 'Long':
      // The exact decimal digits: a JSON integer has no size limit, only JS readers do.
      return v.toString();
    case 'Timestamp':
      return `{"$timestamp":{"t":${v.t},"i":${v.i}}}`;
    case 'Decimal128':
      return `{"$numberDecimal":${JSON.stringify(v.toString())}}`;
    case 'ObjectId':
      return `{"$oid":"${v.toHexString?.() ?? v.toString()}"}`;
    case 'Binary':
      return binaryText((v.buffer ?? new Uint8Array()).subarray(0, v.position), v.sub_type ?? 0);
    case 'BSONRegExp':
      return `{"$regularExpression":{"pattern":${JSON.stringify(v.pattern ?? '')},"options":${JSON.stringify(v.options ?? '')}}}`;
    case 'Code': {
      const code = `"$code":${JSON.stringify(v.code ?? '')}`;
      return v.scope ? `{${code},"$scope":${relaxedJson(v.scope)}}` : `{${code}}`;
    }
    case 'MinKey':
      return '{"$minKey":1}';
    case 'MaxKey':
      return '{"$maxKey":1}';
    case 'BSONSymbol':
      return `{"$symbol":${JSON.stringify(String(v.value))}}`;
    case 'DBRef': {
      const parts = [`"$ref":${JSON.stringify(v.collection ?? '')}`, `"$id":${relaxedJson(v.oid)}`];
      if (v.db) parts.push(`"$db":${JSON.stringify(v.db)}`);
      for (const [k, f] of Object.entries(v.fields ?? {})) {
        parts.push(`${JSON.stringify(k)}:${relaxedJson(f)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return undefined;
  }
}

/** Any BSON value (or document) as compact relaxed Extended JSON. */
export function relaxedJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      // A plain JS number is stored as int32 when it is one, else as a double (bson's rule).
      return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 && !Object.is(v, -0)
        ? String(v)
        : doubleText(v);
    case 'bigint':
      return v.toString();
    case 'object':
      break;
    default:
      return 'null';
  }
  const tag = bsonType(v);
  if (tag) {
    const text = bsonText(tag, v as BsonLike);
    if (text !== undefined) return text;
  }
  if (v instanceof Date) return dateText(v);
  if (v instanceof RegExp) {
    // BSON keeps only these flags, sorted (the BSON spec's rule for regex options).
    const options = [...v.flags]
      .filter((f) => 'imsux'.includes(f))
      .sort()
      .join('');
    return `{"$regularExpression":{"pattern":${JSON.stringify(v.source)},"options":"${options}"}}`;
  }
  if (v instanceof Uint8Array) return binaryText(v, 0);
  if (Array.isArray(v)) return `[${v.map(relaxedJson).join(',')}]`;
  const fields = Object.entries(v as Record<string, unknown>).map(
    ([k, f]) => `${JSON.stringify(k)}:${relaxedJson(f)}`,
  );
  return `{${fields.join(',')}}`;
}
