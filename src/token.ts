// Resume tokens for people: what time and which event a token points at.
//
// A token is `{_data: "<hex>", _typeBits?: BinData}`. `_data` is a KeyString (the server's
// binary-comparable encoding of BSON values, version V1, all fields ascending) of:
//   clusterTime, version, [tokenType], txnOpIndex, [fromInvalidate], uuid | null,
//   eventIdentifier, [fragmentNum]                                   then the end byte 0x04
// (tokenType and fromInvalidate since v1; null for a missing uuid and fragmentNum since v2).
// `_typeBits` restores what the byte order cannot: int vs long vs double vs decimal, string vs
// symbol. Facts from the MongoDB server source: src/mongo/db/pipeline/resume_token.cpp and
// src/mongo/db/storage/key_string/key_string.{h,cpp}. The decoder below is written from that
// description; it never throws past `decodeToken` for a token whose first 9 bytes are sound:
// whatever it cannot read is reported as opaque.
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  EJSON,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
} from 'bson';
import type { Document } from 'bson';
import { bsonType, inspectValue } from './format/inspect.js';
import { palette } from './format/style.js';
import { peopleTime } from './format/time.js';

/** A token that cannot be read at all: not hex, too short, not a resume token. */
export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenInfo {
  /** The `_data` hex, upper case. */
  data: string;
  clusterTime: Timestamp;
  /** clusterTime's seconds as a date. */
  date: Date;
  /** Token version (0, 1, 2); -1 when the bytes after the cluster time could not be read. */
  version: number;
  /** 'unknown' only when the token is partly opaque (see `opaque`). */
  kind: 'event' | 'high-water mark' | 'invalidate' | 'unknown';
  /** 0 high-water mark, 128 event; -1 when unknown. */
  tokenType: number;
  txnOpIndex: number;
  fromInvalidate: boolean;
  /** The collection's UUID, canonical 8-4-4-4-12 form. */
  collectionUUID?: string;
  /** v2: `{operationType, documentKey}` or `{operationType, operationDescription}`; v0/v1: the documentKey. */
  eventIdentifier?: Document;
  fragmentNum?: number;
  /** Why (part of) the token could not be decoded; the fields before that point are still set. */
  opaque?: string;
}

export const EVENT_TOKEN_TYPE = 128;
export const HIGH_WATER_MARK_TOKEN_TYPE = 0;

// ------------------------------------------------------------------ input

const HEX = /^[0-9a-fA-F]*$/;

interface RawToken {
  data: string;
  typeBits?: Uint8Array;
}

function binaryBytes(v: unknown): Uint8Array | undefined {
  if (v instanceof Binary) return v.buffer.subarray(0, v.position);
  return undefined;
}

function fromObject(obj: unknown, what: string): RawToken {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TokenError(`${what} is not a resume token: expected {"_data": "<hex>"}`);
  }
  let doc = obj as Record<string, unknown>;
  // A whole change event was given: its _id is the token.
  if (doc._data === undefined && typeof doc._id === 'object' && doc._id !== null) {
    doc = doc._id as Record<string, unknown>;
  }
  const data = doc._data;
  if (data === undefined) throw new TokenError(`${what} has no "_data" field`);
  if (data instanceof Binary) {
    throw new TokenError(
      'a BinData "_data" token (MongoDB 3.6) is not supported; only hex tokens (4.2+)',
    );
  }
  if (typeof data !== 'string') throw new TokenError(`"_data" must be a hex string`);
  return { data, typeBits: binaryBytes(doc._typeBits) };
}

function parseInput(input: string | { _data: string; _typeBits?: unknown }): RawToken {
  if (typeof input !== 'string') return fromObject(input, 'the token');
  const text = input.trim();
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = EJSON.parse(text, { relaxed: false });
    } catch (err) {
      throw new TokenError(`not valid Extended JSON: ${(err as Error).message}`);
    }
    return fromObject(parsed, 'the JSON');
  }
  if (text.startsWith('"')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new TokenError(`not a valid JSON string: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'string') throw new TokenError('expected a hex string');
    return { data: parsed };
  }
  return { data: text };
}

function checkHex(data: string): Buffer {
  if (data.length === 0) throw new TokenError('the token is empty');
  if (!HEX.test(data)) {
    const at = [...data].findIndex((ch) => !/[0-9a-fA-F]/.test(ch));
    throw new TokenError(
      `"_data" is not hexadecimal: unexpected ${JSON.stringify(data[at])} at position ${at + 1}`,
    );
  }
  if (data.length % 2 !== 0) {
    throw new TokenError(
      `"_data" has an odd number of hex digits (${data.length}): it looks truncated`,
    );
  }
  if (data.length < 18) {
    throw new TokenError(
      `"_data" is too short (${data.length / 2} bytes): a resume token starts with 9 bytes of cluster time`,
    );
  }
  const bytes = Buffer.from(data, 'hex');
  if (bytes[0] !== 0x82) {
    throw new TokenError(
      `"_data" does not start with a cluster time (byte 82, found ${data.slice(0, 2).toUpperCase()}): not a resume token`,
    );
  }
  return bytes;
}

/**
 * Why a `_data` hex string cannot be a resume token (undefined when its shape is sound: hex,
 * even length, 9 bytes of cluster time at least, starting with byte 82). Lets a caller refuse
 * a corrupt token before sending it to a server.
 */
export function tokenDataProblem(data: string): string | undefined {
  try {
    checkHex(data);
    return undefined;
  } catch (err) {
    if (err instanceof TokenError) return err.message;
    throw err;
  }
}

// ------------------------------------------------------------------ KeyString decoding

/** KeyString type bytes (CType in key_string.cpp). */
const T = {
  minKey: 10,
  undefined: 15,
  nullish: 20,
  numericNaN: 30,
  negLarge: 31,
  neg8: 32,
  neg1: 39,
  negSmall: 40,
  zero: 41,
  posSmall: 42,
  pos1: 43,
  pos8: 50,
  posLarge: 51,
  stringLike: 60,
  object: 70,
  array: 80,
  binData: 90,
  oid: 100,
  boolFalse: 110,
  boolTrue: 111,
  date: 120,
  timestamp: 130,
  regex: 140,
  dbRef: 150,
  code: 160,
  codeWithScope: 170,
  maxKey: 240,
} as const;
const END = 0x04;

/** TypeBits codes for numbers (TypeBits in key_string.h). */
const TB = { int: 0, long: 1, double: 2, decimal: 3 } as const;
const TB_V1_NEGATIVE_DOUBLE_ZERO = 0x18;
const TB_DECIMAL_ZERO_FIRST = 0x1a;
const TB_DECIMAL_ZERO_LAST = 0x1f;

/** How a fractional double relates to the decimal it came from (DecimalContinuationMarker). */
const DCM = { equalToDouble: 0, lessThan15: 1, equalRoundedUpTo15: 2, greaterThan15: 3 } as const;

const U64 = (1n << 64n) - 1n;
const BIT63 = 1n << 63n;
const BIT62 = 1n << 62n;

class DecodeError extends Error {}

/** Reads type bits low-to-high within each byte; all zeros when absent (the server's default). */
class TypeBitsReader {
  private bit = 0;
  private readonly data: Uint8Array | undefined;

  constructor(raw: Uint8Array | undefined) {
    this.data = raw ? TypeBitsReader.payload(raw) : undefined;
  }

  /** The data bytes of a serialized TypeBits (TypeBits::readSizeFromBuffer). */
  private static payload(raw: Uint8Array): Uint8Array | undefined {
    const first = raw[0];
    if (first === undefined || first === 0) return undefined; // all zeros
    if (first < 0x80) return raw.subarray(0, 1); // one data byte, no size byte
    if (first > 0x80) return raw.subarray(1, 1 + (first & 0x7f));
    const size =
      (raw[1] ?? 0) | ((raw[2] ?? 0) << 8) | ((raw[3] ?? 0) << 16) | ((raw[4] ?? 0) << 24);
    return raw.subarray(5, 5 + size);
  }

  bit1(): number {
    const byte = this.data?.[this.bit >> 3];
    const offset = this.bit & 7;
    this.bit++;
    // Past the end (or no type bits at all) reads as 0: int, string.
    return byte === undefined ? 0 : (byte >> offset) & 1;
  }

  bits(count: number): number {
    let v = 0;
    for (let i = 0; i < count; i++) v = (v << 1) | this.bit1();
    return v;
  }
}

// ---- Decimal128 arithmetic for decoding decimals (coefficient × 10^exponent, magnitude only)

interface Dec {
  coef: bigint;
  exp: number;
}

const EXPONENT_BIAS = 6176;
const MAX_BIASED_EXPONENT = 12287;

function digits(n: bigint): number {
  return n === 0n ? 1 : n.toString().length;
}

/** The exact decimal value of a positive finite double. */
function exactDecimal(x: number): Dec {
  const bits = doubleBits(x);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const e2 = (biased === 0 ? 1 : biased) - 1075;
  if (e2 >= 0) return { coef: mantissa << BigInt(e2), exp: 0 };
  // m × 2^e2 = m × 5^-e2 × 10^e2
  return { coef: mantissa * 5n ** BigInt(-e2), exp: e2 };
}

/** `d` rounded to `n` significant digits, up (away from zero) or toward zero. */
function roundDigits(d: Dec, n: number, up: boolean): Dec {
  const have = digits(d.coef);
  if (have <= n) return d;
  const drop = have - n;
  const scale = 10n ** BigInt(drop);
  let coef = d.coef / scale;
  if (up && d.coef % scale !== 0n) coef += 1n;
  let exp = d.exp + drop;
  if (digits(coef) > n) {
    coef /= 10n;
    exp += 1;
  }
  return { coef, exp };
}

/** The same value with exactly 34 digits, as Decimal128::normalize does. */
function normalize34(d: Dec): Dec {
  if (d.coef === 0n) return d;
  let { coef, exp } = roundDigits(d, 34, false);
  const missing = 34 - digits(coef);
  if (missing > 0) {
    coef *= 10n ** BigInt(missing);
    exp -= missing;
  }
  return { coef, exp };
}

/** Decimal128(double, 34 or 15 digits, rounded up in magnitude). */
function decimalFromDouble(x: number, n: 34 | 15): Dec {
  const d = roundDigits(exactDecimal(x), n, true);
  if (n === 34) return normalize34(d);
  // Quantized to exactly 15 digits.
  const missing = 15 - digits(d.coef);
  return missing > 0 ? { coef: d.coef * 10n ** BigInt(missing), exp: d.exp - missing } : d;
}

/** Adds a 64-bit continuation read from the key (readDecimalContinuation). */
function withContinuation(d: Dec, continuation: bigint): Dec {
  const n = normalize34(d);
  return { coef: n.coef + continuation, exp: n.exp };
}

/** Restores the exponent from its low 6 bits kept in the type bits (adjustDecimalExponent). */
function adjustExponent(d: Dec, stored: number): Dec {
  if (d.coef === 0n) return d;
  const origExp = d.exp + EXPONENT_BIAS;
  let highExp = (origExp & ~63) | stored;
  if (highExp < origExp) highExp += 64;
  if (highExp === origExp) return d;
  const up = highExp - origExp;
  if (up <= 33 && (d.coef >= 1n << 64n || up <= 19)) {
    const scale = 10n ** BigInt(up);
    if (d.coef % scale === 0n) return { coef: d.coef / scale, exp: highExp - EXPONENT_BIAS };
  }
  const down = origExp - (highExp - 64);
  return { coef: d.coef * 10n ** BigInt(down), exp: highExp - 64 - EXPONENT_BIAS };
}

function decimal128(negative: boolean, d: Dec): Decimal128 {
  const biased = d.exp + EXPONENT_BIAS;
  if (biased < 0 || biased > MAX_BIASED_EXPONENT || d.coef >= 1n << 113n) {
    throw new DecodeError('a Decimal128 value out of range');
  }
  const high = (negative ? BIT63 : 0n) | (BigInt(biased) << 49n) | (d.coef >> 64n);
  return decimal128FromBits(high, d.coef & U64);
}

function decimal128FromBits(high: bigint, low: bigint): Decimal128 {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i] = Number((low >> BigInt(8 * i)) & 0xffn);
    bytes[8 + i] = Number((high >> BigInt(8 * i)) & 0xffn);
  }
  return new Decimal128(bytes);
}

/** Coefficient and exponent of a finite Decimal128 in its usual (non-"11") form. */
function decParts(high: bigint, low: bigint): Dec {
  return {
    coef: ((high & ((1n << 49n) - 1n)) << 64n) | low,
    exp: Number((high >> 49n) & 0x3fffn) - EXPONENT_BIAS,
  };
}

function doubleBits(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0);
}

function bitsDouble(bits: bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, bits & U64);
  return view.getFloat64(0);
}

/** Reads KeyString values (ascending order only: resume tokens are never inverted). */
class KeyStringReader {
  pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly tb: TypeBitsReader,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  byte(invert = false): number {
    const b = this.buf[this.pos];
    if (b === undefined)
      throw new DecodeError('the token ends in the middle of a value (truncated?)');
    this.pos++;
    return invert ? ~b & 0xff : b;
  }

  take(n: number, invert = false): Uint8Array {
    if (this.pos + n > this.buf.length) {
      throw new DecodeError('the token ends in the middle of a value (truncated?)');
    }
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return invert ? out.map((b) => ~b & 0xff) : out;
  }

  u64(invert = false): bigint {
    let v = 0n;
    for (const b of this.take(8, invert)) v = (v << 8n) | BigInt(b);
    return v;
  }

  private u32(): number {
    let v = 0;
    for (const b of this.take(4)) v = v * 256 + b;
    return v;
  }

  /** A NUL-terminated string where a NUL inside is written 00 FF. */
  private stringWithNuls(): string {
    const bytes: number[] = [];
    for (;;) {
      const b = this.byte();
      if (b !== 0) bytes.push(b);
      else if (this.buf[this.pos] === 0xff) {
        this.pos++;
        bytes.push(0);
      } else {
        return Buffer.from(bytes).toString('utf8');
      }
    }
  }

  /** A plain C string (field names, regex parts). */
  private cstring(): string {
    const bytes: number[] = [];
    for (let b = this.byte(); b !== 0; b = this.byte()) bytes.push(b);
    return Buffer.from(bytes).toString('utf8');
  }

  private objectBody(depth: number): Document {
    const out: Document = {};
    // Each field: its generic type byte, its name, then the value with its own type byte.
    for (let generic = this.byte(); generic !== 0; generic = this.byte()) {
      const name = this.cstring();
      out[name] = this.value(this.byte(), depth + 1);
    }
    return out;
  }

  /** One value whose type byte `ctype` has just been read. */
  value(ctype: number, depth = 0): unknown {
    if (depth > 200) throw new DecodeError('values nested too deeply');
    switch (ctype) {
      case T.minKey:
        return new MinKey();
      case T.maxKey:
        return new MaxKey();
      case T.nullish:
        return null;
      case T.undefined:
        return undefined;
      case T.boolFalse:
        return false;
      case T.boolTrue:
        return true;
      case T.date: {
        const ms = BigInt.asIntN(64, this.u64() ^ BIT63);
        return new Date(Number(ms));
      }
      case T.timestamp: {
        const v = this.u64();
        return new Timestamp({ t: Number(v >> 32n), i: Number(v & 0xffffffffn) });
      }
      case T.oid:
        return new ObjectId(this.take(12));
      case T.stringLike: {
        const symbol = this.tb.bit1() === 1;
        const s = this.stringWithNuls();
        return symbol ? new BSONSymbol(s) : s;
      }
      case T.code:
        return new Code(this.stringWithNuls());
      case T.codeWithScope: {
        const code = this.stringWithNuls();
        const scope = this.objectBody(depth);
        return new Code(code, scope);
      }
      case T.binData: {
        let size = this.byte();
        if (size === 0xff) size = this.u32();
        const subType = this.byte();
        return new Binary(this.take(size), subType);
      }
      case T.regex: {
        const pattern = this.cstring();
        const options = this.cstring();
        return new BSONRegExp(pattern, options);
      }
      case T.dbRef: {
        const size = this.u32();
        const ns = Buffer.from(this.take(size)).toString('utf8');
        const oid = new ObjectId(this.take(12));
        // A DBPointer: shown the way the driver shows one, as a DBRef.
        return new DBRef(ns, oid);
      }
      case T.object:
        return this.objectBody(depth);
      case T.array: {
        const out: unknown[] = [];
        for (let t = this.byte(); t !== 0; t = this.byte()) out.push(this.value(t, depth + 1));
        return out;
      }
      default:
        if (ctype >= T.numericNaN && ctype <= T.posLarge) return this.numeric(ctype);
        throw new DecodeError(`unknown KeyString type byte ${ctype} at byte ${this.pos}`);
    }
  }

  // ---- numbers

  private numeric(ctype: number): unknown {
    if (ctype === T.numericNaN) {
      return this.tb.bits(2) === TB.decimal ? Decimal128.fromString('NaN') : new Double(NaN);
    }
    if (ctype === T.zero) return this.zero();
    if (ctype === T.posLarge || ctype === T.negLarge) return this.large(ctype === T.negLarge);
    if (ctype === T.posSmall || ctype === T.negSmall) return this.small(ctype === T.negSmall);
    return this.integerOrFraction(ctype);
  }

  private zero(): unknown {
    let type = this.tb.bits(2);
    if (type === TB.decimal) type = (type << 3) | this.tb.bits(3); // 5-bit special zero code
    if (type === TB.int) return new Int32(0);
    if (type === TB.long) return Long.fromInt(0);
    if (type === TB.double) return new Double(0);
    if (type === TB_V1_NEGATIVE_DOUBLE_ZERO) return new Double(-0);
    if (type >= TB_DECIMAL_ZERO_FIRST && type <= TB_DECIMAL_ZERO_LAST) {
      const whichZero = ((type - TB_DECIMAL_ZERO_FIRST) << 12) | this.tb.bits(12);
      const negative = whichZero > MAX_BIASED_EXPONENT;
      const biased = negative ? whichZero - (MAX_BIASED_EXPONENT + 1) : whichZero;
      return decimal128(negative, { coef: 0n, exp: biased - EXPONENT_BIAS });
    }
    throw new DecodeError(`unknown type bits ${type} for a zero`);
  }

  /** A number as the type its type bits name; `value` is exact for int/long/double. */
  private typed(type: number, value: number, exactInteger?: bigint): unknown {
    if (type === TB.double) return new Double(value);
    if (exactInteger !== undefined || Number.isInteger(value)) {
      const n = exactInteger ?? BigInt(value);
      if (type === TB.int && n >= -(2n ** 31n) && n < 2n ** 31n) return new Int32(Number(n));
      const fitsLong = n >= -(2n ** 63n) && n < 2n ** 63n;
      if (fitsLong && (type === TB.long || type === TB.int)) return Long.fromBigInt(n);
    }
    // Missing type bits (a bare `_data`) make every number look like an int: keep the value.
    return new Double(value);
  }

  /** >= 2^63 in magnitude, infinities, and huge decimals. */
  private large(negative: boolean): unknown {
    const type = this.tb.bits(2);
    const encoded = this.u64(negative);
    if (encoded === U64) {
      if (type === TB.decimal) return Decimal128.fromString(negative ? '-Infinity' : 'Infinity');
      return new Double(negative ? -Infinity : Infinity);
    }
    if ((encoded & BIT63) !== 0n) {
      // A decimal beyond the double range, stored as its own 128 bits.
      const high = encoded & ~BIT63;
      const low = this.u64(negative);
      const d = decParts(high, low);
      return decimal128(negative, adjustExponent(d, this.tb.bits(6)));
    }
    const hasContinuation = (encoded & 1n) === 1n;
    const magnitude = bitsDouble((encoded >> 1n) | BIT62);
    if (type !== TB.decimal) {
      const value = negative ? -magnitude : magnitude;
      // The only Long this far out is -2^63, which has no positive int64 magnitude.
      if (type === TB.long && value === -(2 ** 63)) return Long.MIN_VALUE;
      return this.typed(type, value);
    }
    let d = decimalFromDouble(magnitude, 34);
    if (hasContinuation) d = withContinuation(d, this.u64(negative));
    return decimal128(negative, adjustExponent(d, this.tb.bits(6)));
  }

  /** Between 0 and 1 in magnitude (exclusive), including subnormals and tiny decimals. */
  private small(negative: boolean): unknown {
    const type = this.tb.bits(2);
    const encoded = this.u64(negative);
    const prefix = Number(encoded >> 62n);
    if (prefix === 3) {
      // [2^-255, 1): the double's bits shifted left by 2, with the DCM in the low bits.
      const dcm = Number(encoded & 3n);
      const magnitude = bitsDouble(encoded >> 2n);
      if (type !== TB.decimal) return this.typed(type, negative ? -magnitude : magnitude);
      return this.decimalFromDcm(negative, magnitude, dcm);
    }
    if (prefix === 0) {
      // A decimal smaller than any double, stored as its own 128 bits.
      const low = this.u64(negative);
      return decimal128(negative, adjustExponent(decParts(encoded, low), this.tb.bits(6)));
    }
    // (2^-1074, 2^-255): the exponent was shifted by 256 to keep 15 digits.
    const hasContinuation = (encoded & 1n) === 1n;
    const scaled = bitsDouble((encoded - BIT62) >> 1n);
    if (type !== TB.decimal) {
      const magnitude = scaled * 2 ** -256;
      return this.typed(type, negative ? -magnitude : magnitude);
    }
    let d: Dec;
    if (scaled < 2 ** -1022 * 2 ** 256) {
      // The server scales in the decimal domain here, rounding toward zero at each step.
      const scaledDec = roundDigits(exactDecimal(scaled), 34, false);
      const factor = roundDigits(exactDecimal(2 ** -256), 34, false);
      d = roundDigits(
        { coef: scaledDec.coef * factor.coef, exp: scaledDec.exp + factor.exp },
        34,
        false,
      );
    } else {
      d = decimalFromDouble(scaled * 2 ** -256, 34);
    }
    if (hasContinuation) d = withContinuation(d, this.u64(negative));
    return decimal128(negative, adjustExponent(d, this.tb.bits(6)));
  }

  private decimalFromDcm(negative: boolean, magnitude: number, dcm: number): Decimal128 {
    let d: Dec;
    if (dcm === DCM.equalRoundedUpTo15) d = decimalFromDouble(magnitude, 15);
    else d = decimalFromDouble(magnitude, 34);
    if (dcm === DCM.lessThan15 || dcm === DCM.greaterThan15) {
      d = withContinuation(d, this.u64(negative));
    }
    return decimal128(negative, adjustExponent(d, this.tb.bits(6)));
  }

  /** 1–8 byte integers; V1 fractions fill the rest of 8 bytes with binary fraction digits. */
  private integerOrFraction(ctype: number): unknown {
    const negative = ctype < T.zero;
    const intBytes = negative ? T.neg1 - ctype + 1 : ctype - T.pos1 + 1;
    const type = this.tb.bits(2);
    let encodedInt = 0n;
    for (const b of this.take(intBytes, negative)) encodedInt = (encodedInt << 8n) | BigInt(b);
    const integerPart = encodedInt >> 1n;
    if ((encodedInt & 1n) === 0n) {
      const n = negative ? -integerPart : integerPart;
      if (type === TB.decimal) {
        return decimal128(negative, adjustExponent({ coef: integerPart, exp: 0 }, this.tb.bits(6)));
      }
      return this.typed(type, Number(n), n);
    }
    const fracBytes = 8 - intBytes;
    let encodedFraction = integerPart;
    for (const b of this.take(fracBytes, negative)) {
      encodedFraction = (encodedFraction << 8n) | BigInt(b);
    }
    const magnitude = Number(encodedFraction & ~3n) * 256 ** -fracBytes;
    if (type !== TB.decimal) return this.typed(type, negative ? -magnitude : magnitude);
    // With 8 integer bytes there is no room for a DCM: a continuation always follows.
    const dcm = fracBytes > 0 ? Number(encodedFraction & 3n) : DCM.greaterThan15;
    if (dcm === DCM.lessThan15 || dcm === DCM.greaterThan15) {
      const base =
        integerPart > 2n ** 53n ? { coef: integerPart, exp: 0 } : decimalFromDouble(magnitude, 34);
      const d = withContinuation(base, this.u64(negative));
      return decimal128(negative, adjustExponent(d, this.tb.bits(6)));
    }
    return this.decimalFromDcm(negative, magnitude, dcm);
  }
}

// ------------------------------------------------------------------ the token

function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof Int32 || v instanceof Double) return v.value;
  if (v instanceof Long) return v.toNumber();
  return undefined;
}

function uuidString(v: unknown): string | undefined {
  const bytes = binaryBytes(v);
  if (!bytes || bytes.length !== 16) return undefined;
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function kindOf(info: TokenInfo): TokenInfo['kind'] {
  if (info.fromInvalidate) return 'invalidate';
  if (info.tokenType === EVENT_TOKEN_TYPE) return 'event';
  if (info.tokenType === HIGH_WATER_MARK_TOKEN_TYPE) return 'high-water mark';
  return 'unknown';
}

/** Reads the values after the cluster time into `info`; throws DecodeError where it must stop. */
function decodeFields(r: KeyStringReader, info: TokenInfo): void {
  // Values are consumed one at a time so everything before a bad byte is still reported.
  const next = (what: string): unknown => {
    if (r.remaining === 0) throw new DecodeError(`the token ends before its ${what} (truncated?)`);
    const ctype = r.byte();
    if (ctype === END) throw new DecodeError(`the token has no ${what}`);
    return r.value(ctype);
  };
  const int = (what: string): number => {
    const n = numberOf(next(what));
    if (n === undefined || !Number.isInteger(n) || n < 0)
      throw new DecodeError(`its ${what} is not a number`);
    return n;
  };

  const version = int('version');
  if (version > 2)
    throw new DecodeError(`token version ${version} is newer than this decoder (0–2)`);
  info.version = version;
  info.tokenType = version >= 1 ? int('token type') : EVENT_TOKEN_TYPE;
  info.txnOpIndex = int('transaction operation index');
  if (version >= 1) {
    const fromInvalidate = next('invalidate flag');
    if (typeof fromInvalidate !== 'boolean')
      throw new DecodeError('its invalidate flag is not a boolean');
    info.fromInvalidate = fromInvalidate;
  }
  info.kind = kindOf(info);
  if (info.kind === 'unknown') throw new DecodeError(`unknown token type ${info.tokenType}`);

  const rest: unknown[] = [];
  for (;;) {
    if (r.remaining === 0) {
      throw new DecodeError('the token has no end byte (truncated?)');
    }
    const ctype = r.byte();
    if (ctype === END) break;
    rest.push(r.value(ctype));
  }
  if (r.remaining > 0)
    throw new DecodeError(`${r.remaining} unexpected byte(s) after the end byte`);

  let i = 0;
  if (i < rest.length) {
    const uuid = rest[i++];
    if (uuid !== null) {
      const text = uuidString(uuid);
      if (text === undefined) throw new DecodeError('the collection UUID is not a 16-byte BinData');
      info.collectionUUID = text;
    }
  }
  if (i < rest.length) {
    const id = rest[i++];
    if (typeof id !== 'object' || id === null || Array.isArray(id) || bsonType(id) !== undefined) {
      throw new DecodeError('the event identifier is not a document');
    }
    info.eventIdentifier = id as Document;
  }
  if (i < rest.length && version >= 2) {
    const fragment = numberOf(rest[i++]);
    if (fragment === undefined) throw new DecodeError('the fragment number is not a number');
    info.fragmentNum = fragment;
  }
  if (i < rest.length) throw new DecodeError(`${rest.length - i} unexpected value(s) at the end`);
  if (info.kind === 'high-water mark' && (info.collectionUUID || info.eventIdentifier)) {
    // The server refuses these (error 6189504): a high-water mark names no event.
    throw new DecodeError('a high-water mark token that names a collection or an event');
  }
}

/** Accepts `{"_data":"..."}` EJSON text, a bare hex string, or a `{_data}` object. Throws TokenError (message names the problem) on bad input. */
export function decodeToken(input: string | { _data: string; _typeBits?: unknown }): TokenInfo {
  const raw = parseInput(input);
  const bytes = checkHex(raw.data);
  // Bytes 1–8: seconds then increment, both big-endian: readable without the full decoder.
  const t = bytes.readUInt32BE(1);
  const inc = bytes.readUInt32BE(5);
  const info: TokenInfo = {
    data: raw.data.toUpperCase(),
    clusterTime: new Timestamp({ t, i: inc }),
    date: new Date(t * 1000),
    version: -1,
    kind: 'unknown',
    tokenType: -1,
    txnOpIndex: 0,
    fromInvalidate: false,
  };
  const reader = new KeyStringReader(bytes.subarray(9), new TypeBitsReader(raw.typeBits));
  try {
    decodeFields(reader, info);
  } catch (err) {
    if (!(err instanceof DecodeError)) {
      // A bson constructor refusing a value: still a token we cannot read, never a crash.
      info.opaque = `cannot decode after the cluster time: ${(err as Error).message}`;
    } else {
      info.opaque = err.message;
    }
  }
  return info;
}

// ------------------------------------------------------------------ for people

/** For machines (`--json`): always UTC. */
function dateText(d: Date): string {
  return Number.isNaN(d.getTime()) ? 'invalid date' : d.toISOString().replace('.000Z', 'Z');
}

/**
 * Multi-line human description for `mongo-tail token` (stdout); the time in `timeZone`
 * (undefined: the local zone), like every time people read.
 */
export function describeToken(
  info: TokenInfo,
  opts: { color: boolean; timeZone?: string | undefined },
): string {
  const p = palette(opts.color);
  const lines: string[] = [];
  const row = (label: string, value: string): void => {
    lines.push(`${p.dim(label.padEnd(13))} ${value}`);
  };
  row('token', info.data);
  row(
    'cluster time',
    `${inspectValue(info.clusterTime, p)}  ${peopleTime(info.date, opts.timeZone)}`,
  );
  if (info.version >= 0) {
    row('kind', `${info.kind} (version ${info.version})`);
  }
  if (info.collectionUUID) row('collection', `UUID(${p.string(`'${info.collectionUUID}'`)})`);
  if (info.eventIdentifier) {
    row(info.version >= 2 ? 'event' : 'document key', inspectValue(info.eventIdentifier, p));
  }
  if (info.txnOpIndex > 0) row('txn op index', String(info.txnOpIndex));
  if (info.fragmentNum !== undefined) row('fragment', String(info.fragmentNum));
  if (info.kind === 'invalidate') {
    row('note', 'an invalidate token: continue after it with startAfter, not resumeAfter');
  } else if (info.kind === 'high-water mark') {
    row('note', 'a position between events (from a quiet or filtered stream)');
  }
  if (info.opaque) row('rest', `opaque: ${info.opaque}`);
  return lines.join('\n');
}

/**
 * `mongo-tail token --json`: the decoded token as one line of JSON with the same keys in the same
 * order every time (null where the token does not say); values in relaxed Extended JSON.
 */
export function tokenJson(info: TokenInfo): string {
  const id = info.eventIdentifier;
  // v2 identifies an event by {operationType, documentKey}; v0/v1 by the document key alone.
  const documentKey: unknown =
    id === undefined ? undefined : info.version >= 2 ? id.documentKey : id;
  const operationType: unknown = info.version >= 2 ? id?.operationType : undefined;
  const ejson = (value: unknown): unknown =>
    value === undefined ? null : EJSON.serialize({ value }, { relaxed: true }).value;
  return JSON.stringify({
    token: info.data,
    clusterTime: { t: info.clusterTime.t, i: info.clusterTime.i },
    time: dateText(info.date),
    kind: info.kind,
    version: info.version < 0 ? null : info.version,
    tokenType: info.tokenType < 0 ? null : info.tokenType,
    fromInvalidate: info.fromInvalidate,
    txnOpIndex: info.txnOpIndex,
    collectionUUID: info.collectionUUID ?? null,
    operationType: typeof operationType === 'string' ? operationType : null,
    documentKey: ejson(documentKey),
    eventIdentifier: ejson(id),
    fragmentNum: info.fragmentNum ?? null,
    opaque: info.opaque ?? null,
  });
}
