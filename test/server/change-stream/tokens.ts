// Resume tokens exactly as MongoDB writes them: `{_data: <hex>, _typeBits?: BinData}` where
// `_data` is a KeyString (V1, all ascending) of the values
//   clusterTime, version, tokenType, txnOpIndex, fromInvalidate, uuid | null, eventIdentifier,
//   [fragmentNum]
// followed by the end byte 0x04. KeyString bytes compare like the values they encode, so tokens
// sort as plain strings in event order. Layout read from the server source:
// src/mongo/db/pipeline/resume_token.cpp (ResumeToken(const ResumeTokenData&)) and
// src/mongo/db/storage/key_string/key_string.cpp (BuilderBase::_appendBsonValue and friends).
// `_typeBits` carries what the byte order cannot (int vs long vs double, string vs symbol); it
// is only written when one of its bits is set.
import {
  type Document,
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} from 'bson';

/** tokenType of a token that names an event. */
export const EVENT_TOKEN = 128;
/** tokenType of a high-water mark: a position between events, sorting before any event at its time. */
export const HIGH_WATER_MARK_TOKEN = 0;
/** The token version servers write by default since 6.1 (and the only one this server writes). */
export const TOKEN_VERSION = 2;

/** Everything a resume token holds (ResumeTokenData in the server). */
export interface ResumeTokenData {
  clusterTime: Timestamp;
  version: number;
  tokenType: number;
  txnOpIndex: number;
  fromInvalidate: boolean;
  /** The collection's UUID; null (v2) or absent when the event has none (dropDatabase, HWM). */
  uuid?: UUID | null;
  /** v2: `{operationType, documentKey}` or `{operationType, operationDescription?}`; v0/1: the documentKey. */
  eventIdentifier?: Document;
  /** Set on fragments of an event split by `$changeStreamSplitLargeEvent`. */
  fragmentNum?: number;
}

/** A resume token as it travels on the wire. */
export interface ResumeToken {
  _data: string;
  _typeBits?: Binary;
}

// ---------------------------------------------------------------- KeyString type bytes (CType)

const C = {
  minKey: 10,
  undefined: 15,
  nullish: 20,
  numeric: 30,
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
  dbPointer: 150,
  code: 160,
  codeWithScope: 170,
  maxKey: 240,
} as const;
const END = 0x04;

// TypeBits codes (key_string.h).
const TB_INT = 0;
const TB_LONG = 1;
const TB_DOUBLE = 2;
const TB_DECIMAL = 3;
const TB_V1_NEGATIVE_DOUBLE_ZERO = 0x18;
const TB_DECIMAL_ZERO_0XXX = 0x1a;

const TWO_63 = 2 ** 63;
/** Integers up to this magnitude take the number path: doubled, they stay exact. */
const SMALL_INTEGER = 2 ** 52;
const U64_MASK = (1n << 64n) - 1n;

/** Whether every UTF-16 unit of `s` is in [min, 0x7f]: its UTF-8 bytes are its char codes. */
function isAscii(s: string, min: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < min || c > 0x7f) return false;
  }
  return true;
}

// ---------------------------------------------------------------- encoding

/** Bits appended low-to-high within each byte, as KeyString TypeBits does. */
class TypeBitsWriter {
  private readonly bytes: number[] = [];
  private bit = 0;
  private allZeros = true;

  append(oneOrZero: number): void {
    const byte = this.bit >> 3;
    if ((this.bit & 7) === 0) this.bytes.push(0);
    if (oneOrZero) {
      this.allZeros = false;
      this.bytes[byte] = (this.bytes[byte] ?? 0) | (1 << (this.bit & 7));
    }
    this.bit++;
  }

  appendPair(code: number): void {
    this.append((code >> 1) & 1);
    this.append(code & 1);
  }

  appendBitsHighFirst(value: number, count: number): void {
    for (let pos = count - 1; pos >= 0; pos--) this.append((value >> pos) & 1);
  }

  /** TypeBits::getBuffer(): empty when all zeros, else a size-prefixed (or bare) byte run. */
  toBytes(): Uint8Array | undefined {
    if (this.allZeros) return undefined;
    const data = this.bytes;
    if (data.length === 1 && ((data[0] ?? 0) & 0x80) === 0) return Uint8Array.from(data);
    if (data.length <= 127) return Uint8Array.from([0x80 | data.length, ...data]);
    const n = data.length;
    return Uint8Array.from([0x80, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24, ...data]);
  }
}

// The writers' byte buffer and its hex, reused: encoding is synchronous and never nested.
let scratch = new Uint8Array(1024);
let hexScratch = Buffer.allocUnsafe(2048);
const HEX_DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');

class KeyStringWriter {
  private out = scratch;
  private length = 0;
  readonly typeBits = new TypeBitsWriter();

  byte(b: number, invert = false): void {
    if (this.length === this.out.length) {
      const bigger = new Uint8Array(this.out.length * 2);
      bigger.set(this.out);
      this.out = scratch = bigger;
    }
    this.out[this.length++] = invert ? ~b & 0xff : b & 0xff;
  }

  /** The bytes written, as upper-case hex. */
  hex(): string {
    let chars = hexScratch;
    if (chars.length < this.length * 2) chars = hexScratch = Buffer.allocUnsafe(this.length * 4);
    for (let i = 0; i < this.length; i++) {
      const b = this.out[i] as number;
      chars[2 * i] = HEX_DIGITS[b >> 4] as number;
      chars[2 * i + 1] = HEX_DIGITS[b & 15] as number;
    }
    return chars.toString('latin1', 0, this.length * 2);
  }

  /** An Int32 (`value(new Int32(n))` without the object: the same coercion). */
  int32(n: number): void {
    this.smallInteger(+n | 0, TB_INT);
  }

  bytes(src: ArrayLike<number>, invert = false): void {
    for (let i = 0; i < src.length; i++) this.byte(src[i] ?? 0, invert);
  }

  u64(v: bigint, invert = false): void {
    for (let shift = 56n; shift >= 0n; shift -= 8n) this.byte(Number((v >> shift) & 0xffn), invert);
  }

  /** A uint32, big-endian (half of a u64 without BigInt: timestamps are on every token). */
  u32(v: number): void {
    this.byte(v >>> 24);
    this.byte(v >>> 16);
    this.byte(v >>> 8);
    this.byte(v);
  }

  /** The UTF-8 bytes of `s`; ASCII (the usual names and operation types) without a Buffer. */
  utf8(s: string): void {
    if (isAscii(s, 0)) {
      for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
    } else {
      this.bytes(Buffer.from(s, 'utf8'));
    }
  }

  cstring(s: string): void {
    // KeyString escapes NUL inside strings as 00 FF; the terminator is a lone 00.
    if (isAscii(s, 1)) {
      this.utf8(s);
      return this.byte(0);
    }
    const utf8 = Buffer.from(s, 'utf8');
    for (const b of utf8) {
      this.byte(b);
      if (b === 0) this.byte(0xff);
    }
    this.byte(0);
  }

  /** A value with its type byte (`_appendBsonValue` without a name). */
  value(v: unknown): void {
    // The usual values first (every token holds an object, most an ObjectId): the classes below
    // are disjoint but for Timestamp extends Long, so order matters only there.
    if (isPlainObject(v)) {
      this.byte(C.object);
      return this.objectBody(v);
    }
    if (v instanceof ObjectId) {
      this.byte(C.oid);
      return this.bytes(v.id);
    }
    if (v instanceof Binary) {
      this.byte(C.binData);
      const data = v.buffer.subarray(0, v.position);
      if (data.length < 0xff) this.byte(data.length);
      else {
        this.byte(0xff);
        this.bytes([
          data.length >>> 24,
          (data.length >> 16) & 0xff,
          (data.length >> 8) & 0xff,
          data.length & 0xff,
        ]);
      }
      this.byte(v.sub_type);
      return this.bytes(data);
    }
    if (v === null) return this.byte(C.nullish);
    if (v === undefined) return this.byte(C.undefined);
    if (typeof v === 'boolean') return this.byte(v ? C.boolTrue : C.boolFalse);
    if (typeof v === 'string') {
      this.typeBits.append(0);
      this.byte(C.stringLike);
      return this.cstring(v);
    }
    if (typeof v === 'number') {
      // A plain JS number serializes as int32 when it is one, else as a double.
      if (Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 && !Object.is(v, -0)) {
        return this.smallInteger(v, TB_INT);
      }
      return this.double(v);
    }
    if (typeof v === 'bigint') return this.integer(BigInt.asIntN(64, v), TB_LONG);
    // Timestamp extends Long in the bson package: test it first.
    if (v instanceof Timestamp) {
      this.byte(C.timestamp);
      this.u32(v.high >>> 0);
      return this.u32(v.low >>> 0);
    }
    if (v instanceof Int32) return this.smallInteger(v.value, TB_INT);
    if (v instanceof Double) return this.double(v.value);
    if (v instanceof Long) {
      const n = v.toNumber();
      if (n >= -SMALL_INTEGER && n <= SMALL_INTEGER) return this.smallInteger(n, TB_LONG);
      return this.integer(BigInt(v.toString()), TB_LONG);
    }
    if (v instanceof Decimal128) return this.decimal(v);
    if (v instanceof Date) {
      this.byte(C.date);
      return this.u64(BigInt.asUintN(64, BigInt(v.getTime())) ^ (1n << 63n));
    }
    if (v instanceof BSONRegExp || v instanceof RegExp) {
      const pattern = v instanceof RegExp ? v.source : v.pattern;
      const flags = v instanceof RegExp ? v.flags : v.options;
      this.byte(C.regex);
      this.bytes(Buffer.from(pattern, 'utf8'));
      this.byte(0);
      this.bytes(Buffer.from(flags, 'utf8'));
      return this.byte(0);
    }
    if (v instanceof BSONSymbol) {
      this.typeBits.append(1);
      this.byte(C.stringLike);
      return this.cstring(v.value);
    }
    if (v instanceof Code) {
      if (v.scope) {
        this.byte(C.codeWithScope);
        this.cstring(v.code);
        return this.objectBody(v.scope);
      }
      this.byte(C.code);
      return this.cstring(v.code);
    }
    if (v instanceof MinKey) return this.byte(C.minKey);
    if (v instanceof MaxKey) return this.byte(C.maxKey);
    if (v instanceof DBRef) {
      // A DBRef is an ordinary BSON object on the wire.
      this.byte(C.object);
      const fields: Document = { $ref: v.collection, $id: v.oid };
      if (v.db) fields.$db = v.db;
      return this.objectBody({ ...fields, ...v.fields });
    }
    if (Array.isArray(v)) {
      this.byte(C.array);
      for (const item of v) this.value(item);
      return this.byte(0);
    }
    if (typeof v === 'object') {
      this.byte(C.object);
      return this.objectBody(v as Document);
    }
    throw new TypeError(`cannot encode a ${typeof v} in a resume token`);
  }

  /** `_appendBson`: (generic type byte, name, value) per field, then 00. */
  private objectBody(doc: Document): void {
    for (const name of Object.keys(doc)) {
      const val: unknown = doc[name];
      // A field holding `undefined` is a missing value to the server: not encoded.
      if (val === undefined) continue;
      this.byte(genericType(val));
      this.utf8(name);
      this.byte(0);
      this.value(val);
    }
    this.byte(0);
  }

  private integer(n: bigint, tb: number): void {
    if (n === -(1n << 63n)) {
      // -2^63 has no positive int64 magnitude: the server encodes it as a large double.
      this.typeBits.appendPair(tb);
      return this.largeDouble(-TWO_63);
    }
    if (n === 0n) {
      this.typeBits.appendPair(tb);
      return this.byte(C.zero);
    }
    this.typeBits.appendPair(tb);
    const negative = n < 0n;
    this.preshiftedInteger((negative ? -n : n) << 1n, negative);
  }

  /** `integer` for |n| <= 2^52 in plain number arithmetic (the same bytes, no BigInt). */
  private smallInteger(n: number, tb: number): void {
    this.typeBits.appendPair(tb);
    if (n === 0) return this.byte(C.zero);
    const negative = n < 0;
    const value = (negative ? -n : n) * 2; // preshifted: exact below 2^53
    let bytesNeeded = 0;
    for (let v = value; v > 0; v = Math.floor(v / 256)) bytesNeeded++;
    this.byte(negative ? C.neg1 - (bytesNeeded - 1) : C.pos1 + (bytesNeeded - 1));
    for (let i = bytesNeeded - 1; i >= 0; i--) {
      this.byte(Math.floor(value / 256 ** i) % 256, negative);
    }
  }

  private preshiftedInteger(value: bigint, negative: boolean): void {
    let bytesNeeded = 0;
    for (let v = value; v > 0n; v >>= 8n) bytesNeeded++;
    this.byte(negative ? C.neg1 - (bytesNeeded - 1) : C.pos1 + (bytesNeeded - 1));
    for (let i = bytesNeeded - 1; i >= 0; i--) {
      this.byte(Number((value >> BigInt(i * 8)) & 0xffn), negative);
    }
  }

  private double(num: number): void {
    if (num === 0 && Object.is(num, -0)) {
      this.typeBits.appendBitsHighFirst(TB_V1_NEGATIVE_DOUBLE_ZERO, 5);
    } else {
      this.typeBits.appendPair(TB_DOUBLE);
    }
    this.doubleWithoutTypeBits(num);
  }

  /** `_appendDoubleWithoutTypeBits` with the decimal continuation marker "equal to double". */
  private doubleWithoutTypeBits(num: number): void {
    const negative = num < 0;
    const magnitude = Math.abs(num);
    if (!(magnitude >= 1)) {
      if (magnitude > 0) return this.smallDouble(num);
      if (num === 0) return this.byte(C.zero);
      return this.byte(C.numericNaN);
    }
    if (magnitude < TWO_63) {
      const integerPart = BigInt(Math.trunc(magnitude));
      if (Math.trunc(magnitude) === magnitude) {
        return this.preshiftedInteger(integerPart << 1n, negative);
      }
      const fractionalBytes = Math.floor(clz64(integerPart << 1n) / 8);
      this.byte(negative ? C.neg8 + fractionalBytes : C.pos8 - fractionalBytes);
      let encoding = BigInt(magnitude * 256 ** fractionalBytes);
      encoding += (integerPart + 1n) << BigInt(fractionalBytes * 8);
      return this.u64(encoding & U64_MASK, negative);
    }
    return this.largeDouble(num);
  }

  private smallDouble(value: number): void {
    const negative = value < 0;
    const magnitude = Math.abs(value);
    this.byte(negative ? C.negSmall : C.posSmall);
    let encoded: bigint;
    if (magnitude >= 2 ** -255) {
      encoded = (doubleBits(magnitude) << 2n) & U64_MASK;
    } else {
      encoded = ((doubleBits(magnitude * 2 ** 256) << 1n) + (1n << 62n)) & U64_MASK;
    }
    this.u64(encoded, negative);
  }

  private largeDouble(value: number): void {
    this.byte(value > 0 ? C.posLarge : C.negLarge);
    let encoded = doubleBits(value);
    if (Number.isFinite(value)) {
      encoded = (encoded << 1n) & U64_MASK & ~(1n << 63n);
    } else {
      encoded = U64_MASK;
    }
    this.u64(encoded, value < 0);
  }

  /**
   * Decimal128 for the cases a document key plausibly holds: zeros, NaN, infinities and values a
   * double represents exactly. Other decimals need the server's decimal-continuation scheme and
   * are written as their nearest double (their tokens still sort correctly among themselves).
   */
  private decimal(dec: Decimal128): void {
    const parts = decimalParts(dec);
    if (parts.kind === 'nan') {
      this.byte(C.numericNaN);
      return this.typeBits.appendPair(TB_DECIMAL);
    }
    if (parts.kind === 'inf') {
      this.byte(parts.negative ? C.negLarge : C.posLarge);
      this.u64(U64_MASK, parts.negative);
      return this.typeBits.appendPair(TB_DECIMAL);
    }
    if (parts.coefficient === 0n) {
      const whichZero = parts.biasedExponent + (parts.negative ? 6144 * 2 : 0);
      this.typeBits.appendBitsHighFirst((whichZero >> 12) + TB_DECIMAL_ZERO_0XXX, 5);
      this.typeBits.appendBitsHighFirst(whichZero & 0xfff, 12);
      return this.byte(C.zero);
    }
    this.typeBits.appendPair(TB_DECIMAL);
    this.typeBits.appendBitsHighFirst(parts.biasedExponent & 0x3f, 6);
    this.doubleWithoutTypeBits(Number(dec.toString()));
  }
}

function isPlainObject(v: unknown): v is Document {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function genericType(v: unknown): number {
  if (typeof v === 'string') return C.stringLike;
  if (isPlainObject(v)) return C.object;
  if (v instanceof ObjectId) return C.oid;
  if (v === null) return C.nullish;
  if (v === undefined) return C.undefined;
  if (typeof v === 'boolean') return 110;
  if (typeof v === 'string' || v instanceof BSONSymbol) return C.stringLike;
  if (v instanceof Timestamp) return C.timestamp;
  if (
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    v instanceof Int32 ||
    v instanceof Double ||
    v instanceof Long ||
    v instanceof Decimal128
  ) {
    return C.numeric;
  }
  if (v instanceof Date) return C.date;
  if (v instanceof ObjectId) return C.oid;
  if (v instanceof Binary) return C.binData;
  if (v instanceof BSONRegExp || v instanceof RegExp) return C.regex;
  if (v instanceof Code) return v.scope ? C.codeWithScope : C.code;
  if (v instanceof MinKey) return C.minKey;
  if (v instanceof MaxKey) return C.maxKey;
  if (Array.isArray(v)) return C.array;
  return C.object;
}

function clz64(v: bigint): number {
  let n = 64;
  for (let x = v; x > 0n; x >>= 1n) n--;
  return n;
}

function doubleBits(d: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  return view.getBigUint64(0);
}

function bitsToDouble(bits: bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, bits & U64_MASK);
  return view.getFloat64(0);
}

type DecimalParts =
  | { kind: 'nan' }
  | { kind: 'inf'; negative: boolean }
  | { kind: 'finite'; negative: boolean; biasedExponent: number; coefficient: bigint };

function decimalParts(dec: Decimal128): DecimalParts {
  const b = dec.bytes;
  let high = 0n;
  let low = 0n;
  for (let i = 7; i >= 0; i--) low = (low << 8n) | BigInt(b[i] ?? 0);
  for (let i = 15; i >= 8; i--) high = (high << 8n) | BigInt(b[i] ?? 0);
  const negative = high >> 63n === 1n;
  const combination = Number((high >> 58n) & 0x1fn);
  if (combination === 0x1f) return { kind: 'nan' };
  if (combination === 0x1e) return { kind: 'inf', negative };
  if (((high >> 61n) & 3n) === 3n) {
    // Non-canonical large-coefficient form: the value is a zero with this exponent.
    return {
      kind: 'finite',
      negative,
      biasedExponent: Number((high >> 47n) & 0x3fffn),
      coefficient: 0n,
    };
  }
  const biasedExponent = Number((high >> 49n) & 0x3fffn);
  const coefficient = ((high & ((1n << 49n) - 1n)) << 64n) | low;
  return { kind: 'finite', negative, biasedExponent, coefficient };
}

/** Encodes a token; `_typeBits` is present only when some type bit is set, as on a real server. */
export function encodeResumeToken(data: ResumeTokenData): ResumeToken {
  const w = new KeyStringWriter();
  w.value(data.clusterTime);
  w.int32(data.version);
  if (data.version >= 1) w.int32(data.tokenType);
  w.int32(data.txnOpIndex);
  if (data.version >= 1) w.value(data.fromInvalidate);
  if (data.uuid) w.value(data.uuid);
  else if (data.version >= 2) w.value(null);
  if (data.eventIdentifier !== undefined) w.value(data.eventIdentifier);
  if (data.fragmentNum !== undefined) w.int32(data.fragmentNum);
  w.byte(END);
  const token: ResumeToken = { _data: w.hex() };
  const typeBits = w.typeBits.toBytes();
  if (typeBits) token._typeBits = new Binary(typeBits, 0);
  return token;
}

/** The token of a high-water mark at `clusterTime`. */
export function highWaterMarkToken(clusterTime: Timestamp): ResumeToken {
  return encodeResumeToken({
    clusterTime,
    version: TOKEN_VERSION,
    tokenType: HIGH_WATER_MARK_TOKEN,
    txnOpIndex: 0,
    fromInvalidate: false,
  });
}

// ---------------------------------------------------------------- decoding

class TypeBitsReader {
  private bit = 0;
  constructor(private readonly data: Uint8Array | undefined) {}

  read(): number {
    if (!this.data || this.data.length === 0) return 0;
    const byte = this.bit >> 3;
    const offset = this.bit & 7;
    this.bit++;
    if (byte >= this.data.length) throw new Error('resume token type bits are too short');
    return ((this.data[byte] ?? 0) >> offset) & 1;
  }

  readPair(): number {
    const high = this.read();
    return (high << 1) | this.read();
  }

  readBits(count: number): number {
    let v = 0;
    for (let i = 0; i < count; i++) v = (v << 1) | this.read();
    return v;
  }
}

/** The raw data bytes of a `_typeBits` BinData (its size prefix removed). */
function typeBitsData(bin: Binary | undefined): Uint8Array | undefined {
  if (!bin) return undefined;
  const raw = bin.buffer.subarray(0, bin.position);
  const first = raw[0];
  if (first === undefined || first === 0) return undefined;
  if (first < 0x80) return raw.subarray(0, 1);
  if (first > 0x80) return raw.subarray(1, 1 + (first & 0x7f));
  const n = (raw[1] ?? 0) | ((raw[2] ?? 0) << 8) | ((raw[3] ?? 0) << 16) | ((raw[4] ?? 0) << 24);
  return raw.subarray(5, 5 + n);
}

class KeyStringReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly tb: TypeBitsReader,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  byte(invert = false): number {
    const b = this.buf[this.pos++];
    if (b === undefined) throw new Error('resume token ends early');
    return invert ? ~b & 0xff : b;
  }

  peek(): number | undefined {
    return this.buf[this.pos];
  }

  u64(invert = false): bigint {
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.byte(invert));
    return v;
  }

  cstring(): string {
    const bytes: number[] = [];
    for (;;) {
      const b = this.byte();
      if (b !== 0) {
        bytes.push(b);
        continue;
      }
      if (this.peek() === 0xff) {
        this.pos++;
        bytes.push(0);
        continue;
      }
      return Buffer.from(bytes).toString('utf8');
    }
  }

  /** One value whose type byte is `ctype`. */
  value(ctype: number): unknown {
    switch (ctype) {
      case C.minKey:
        return new MinKey();
      case C.maxKey:
        return new MaxKey();
      case C.nullish:
        return null;
      case C.undefined:
        return undefined;
      case C.boolTrue:
        return true;
      case C.boolFalse:
        return false;
      case C.date:
        return new Date(Number(BigInt.asIntN(64, this.u64() ^ (1n << 63n))));
      case C.timestamp: {
        const v = this.u64();
        return new Timestamp({ t: Number(v >> 32n), i: Number(v & 0xffffffffn) });
      }
      case C.oid:
        return new ObjectId(Uint8Array.from(Array.from({ length: 12 }, () => this.byte())));
      case C.stringLike: {
        const symbol = this.tb.read() === 1;
        const s = this.cstring();
        return symbol ? new BSONSymbol(s) : s;
      }
      case C.code:
        return new Code(this.cstring());
      case C.codeWithScope: {
        const code = this.cstring();
        return new Code(code, this.objectBody());
      }
      case C.binData: {
        let size = this.byte();
        if (size === 0xff) size = Number(this.u32());
        const subType = this.byte();
        const data = Uint8Array.from(Array.from({ length: size }, () => this.byte()));
        return subType === 4 && size === 16 ? new UUID(data) : new Binary(data, subType);
      }
      case C.regex:
        return new BSONRegExp(this.rawCString(), this.rawCString());
      case C.dbPointer: {
        const size = Number(this.u32());
        const ns = Buffer.from(Array.from({ length: size }, () => this.byte())).toString('utf8');
        const oid = new ObjectId(Uint8Array.from(Array.from({ length: 12 }, () => this.byte())));
        return new DBRef(ns, oid);
      }
      case C.object:
        return this.objectBody();
      case C.array: {
        const out: unknown[] = [];
        for (let t = this.byte(); t !== 0; t = this.byte()) out.push(this.value(t));
        return out;
      }
      default:
        if (ctype >= C.numericNaN && ctype <= C.posLarge) return this.numeric(ctype);
        // key_string.cpp toBsonValue: keyStringAsserted(50811, "Unknown type: " << ctype).
        throw new InvalidTokenError(50811, `KeyString format error: Unknown type: ${ctype}`);
    }
  }

  private u32(): number {
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + this.byte();
    return v;
  }

  private rawCString(): string {
    const bytes: number[] = [];
    for (let b = this.byte(); b !== 0; b = this.byte()) bytes.push(b);
    return Buffer.from(bytes).toString('utf8');
  }

  private objectBody(): Document {
    const out: Document = {};
    for (let t = this.byte(); t !== 0; t = this.byte()) {
      const name = this.rawCString();
      out[name] = this.value(this.byte());
    }
    return out;
  }

  private numeric(ctype: number): unknown {
    if (ctype === C.numericNaN) {
      return this.tb.readPair() === TB_DECIMAL ? Decimal128.fromString('NaN') : new Double(NaN);
    }
    if (ctype === C.zero) {
      let type = this.tb.readPair();
      if (type === 3) type = (type << 3) | this.tb.readBits(3);
      if (type === TB_INT) return new Int32(0);
      if (type === TB_LONG) return Long.fromInt(0);
      if (type === TB_DOUBLE) return new Double(0);
      if (type === TB_V1_NEGATIVE_DOUBLE_ZERO || type === 3) return new Double(-0);
      const whichZero = ((type - TB_DECIMAL_ZERO_0XXX) << 12) | this.tb.readBits(12);
      const negative = whichZero > 12287;
      const exponent = (negative ? whichZero - 12288 : whichZero) - 6176;
      return Decimal128.fromString(`${negative ? '-' : ''}0E${exponent}`);
    }
    if (ctype === C.posLarge || ctype === C.negLarge) {
      const negative = ctype === C.negLarge;
      const type = this.tb.readPair();
      const encoded = this.u64(negative);
      let value: number;
      if (encoded === U64_MASK) value = Infinity;
      else value = bitsToDouble((encoded >> 1n) | (1n << 62n));
      if (negative) value = -value;
      return this.typed(type, value);
    }
    if (ctype === C.posSmall || ctype === C.negSmall) {
      const negative = ctype === C.negSmall;
      const type = this.tb.readPair();
      const encoded = this.u64(negative);
      let value: number;
      if (encoded >> 62n === 3n) value = bitsToDouble(encoded >> 2n);
      else value = bitsToDouble((encoded - (1n << 62n)) >> 1n) * 2 ** -256;
      return this.typed(type, negative ? -value : value);
    }
    // 1..8-byte integers, possibly with a binary fraction (V1: 8 bytes in total).
    const negative = ctype < C.zero;
    const intBytes = negative ? C.neg1 - ctype + 1 : ctype - C.pos1 + 1;
    const type = this.tb.readPair();
    let encodedInt = 0n;
    for (let i = 0; i < intBytes; i++)
      encodedInt = (encodedInt << 8n) | BigInt(this.byte(negative));
    const integerPart = encodedInt >> 1n;
    if ((encodedInt & 1n) === 0n) {
      const n = negative ? -integerPart : integerPart;
      if (type === TB_INT) return new Int32(Number(n));
      if (type === TB_LONG) return Long.fromBigInt(n);
      return this.typed(type, Number(n));
    }
    const fracBytes = 8 - intBytes;
    let encodedFraction = integerPart;
    for (let i = 0; i < fracBytes; i++)
      encodedFraction = (encodedFraction << 8n) | BigInt(this.byte(negative));
    const value = Number(encodedFraction & ~3n) * 256 ** -fracBytes;
    return this.typed(type, negative ? -value : value);
  }

  private typed(type: number, value: number): unknown {
    if (type === TB_DECIMAL) {
      this.tb.readBits(6); // the stored exponent bits: precision we do not restore
      return Decimal128.fromString(String(value));
    }
    if (type === TB_LONG) return Long.fromNumber(value);
    if (type === TB_INT) return new Int32(value);
    return new Double(value);
  }
}

/**
 * A resume token the server cannot read, with the code and text a real server answers. The
 * checks and their order are `ResumeToken::getData` (src/mongo/db/pipeline/resume_token.cpp);
 * the KeyString decoder's own failures come first (key_string.cpp `toBsonSafe`).
 */
export class InvalidTokenError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function invalid(code: number, message: string): never {
  throw new InvalidTokenError(code, message);
}

/** Decodes `_data` (with its optional `_typeBits`) back into the token's fields. */
export function decodeResumeToken(token: string | ResumeToken | Document): ResumeTokenData {
  const hex = typeof token === 'string' ? token : token._data;
  // hexblob::validate: only text that is not hex is FailedToParse (an empty string is valid hex).
  if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(hex)) {
    invalid(9, 'resume token string was not a valid hex string');
  }
  const typeBits =
    typeof token === 'string' || !(token._typeBits instanceof Binary) ? undefined : token._typeBits;
  const r = new KeyStringReader(
    Buffer.from(hex, 'hex'),
    new TypeBitsReader(typeBitsData(typeBits)),
  );
  const values: unknown[] = [];
  try {
    while (!r.done) {
      const ctype = r.byte();
      if (ctype === END) break;
      values.push(r.value(ctype));
    }
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    // Bytes that end inside a value: the decoder's BufReader runs out (ErrorCodes::Overflow).
    // Code from bufreader.h; the server's exact text was not checked.
    invalid(15, `KeyString format error: ${err instanceof Error ? err.message : String(err)}`);
  }
  let i = 0;
  const more = (): boolean => i < values.length;
  const next = (): unknown => values[i++];
  if (!more()) invalid(40649, 'invalid empty resume token');
  // BSONElement::timestamp() reads a Date as a Timestamp and anything else as Timestamp(0, 0).
  const first = next();
  const clusterTime =
    first instanceof Timestamp
      ? first
      : first instanceof Date
        ? Timestamp.fromBits(first.getTime() % 1000, Math.floor(first.getTime() / 1000))
        : new Timestamp({ t: 0, i: 0 });
  if (!more()) invalid(50796, 'Resume Token does not contain version');
  const versionValue = next();
  if (!(versionValue instanceof Int32)) {
    invalid(50854, 'Invalid resume token: wrong type for version');
  }
  const version = versionValue.value;
  if (version !== 0 && version !== 1 && version !== 2) {
    invalid(50795, 'Invalid Resume Token: only supports version 0, 1 and 2');
  }
  const data: ResumeTokenData = {
    clusterTime,
    version,
    tokenType: EVENT_TOKEN,
    txnOpIndex: 0,
    fromInvalidate: false,
  };
  if (version >= 1) {
    if (!more()) invalid(51055, 'Resume Token does not contain tokenType');
    const tokenType = next();
    if (!(tokenType instanceof Int32)) invalid(51056, 'Resume Token tokenType is not an int.');
    if (tokenType.value !== EVENT_TOKEN && tokenType.value !== HIGH_WATER_MARK_TOKEN) {
      invalid(51057, `Token type ${tokenType.value} not recognized`);
    }
    data.tokenType = tokenType.value;
  }
  if (!more()) invalid(50793, 'Resume Token does not contain txnOpIndex');
  const txnOpIndex = next();
  if (!(txnOpIndex instanceof Int32)) invalid(50855, 'Resume Token txnOpIndex is not an integer');
  if (txnOpIndex.value < 0) {
    invalid(50794, 'Invalid Resume Token: txnOpIndex should be non-negative');
  }
  data.txnOpIndex = txnOpIndex.value;
  if (version >= 1) {
    if (!more()) invalid(50872, 'Resume Token does not contain fromInvalidate');
    const fromInvalidate = next();
    if (typeof fromInvalidate !== 'boolean') {
      invalid(50870, 'Resume Token fromInvalidate is not a boolean.');
    }
    data.fromInvalidate = fromInvalidate;
  }
  // UUID and eventIdentifier are optional up to v1; from v2 the UUID is at least a null.
  if (!more()) {
    if (version >= 2) invalid(6189500, 'Expected UUID or null');
    return data;
  }
  const uuid = next();
  if (uuid instanceof Binary) data.uuid = uuid instanceof UUID ? uuid : new UUID(uuid.buffer);
  else data.uuid = null;
  if (data.tokenType === HIGH_WATER_MARK_TOKEN && more()) {
    invalid(6189504, 'Invalid high water mark token');
  }
  if (!more()) {
    if (data.tokenType === EVENT_TOKEN && version >= 2) {
      invalid(6189501, 'Expected an eventIdentifier for an event resume token');
    }
    return data;
  }
  const eventIdentifier = next();
  if (!isPlainObject(eventIdentifier)) {
    invalid(6189503, 'Resume Token eventIdentifier is not an object');
  }
  data.eventIdentifier = eventIdentifier;
  if (more() && version >= 2) {
    const fragmentNum = next();
    if (!(fragmentNum instanceof Int32) || fragmentNum.value < 0) {
      invalid(7182501, "Resume token 'fragmentNum' must be a non-negative integer.");
    }
    data.fragmentNum = fragmentNum.value;
  }
  if (more()) invalid(40646, 'invalid oversized resume token');
  return data;
}

/** Orders two tokens as the server does: by their KeyString bytes, i.e. `_data` as a string. */
export function compareTokens(a: string | ResumeToken, b: string | ResumeToken): number {
  const x = typeof a === 'string' ? a.toUpperCase() : a._data.toUpperCase();
  const y = typeof b === 'string' ? b.toUpperCase() : b._data.toUpperCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The clusterTime from bytes 1–8 of `_data` (no full decode needed). */
export function tokenClusterTime(hex: string): Timestamp {
  if (!/^82[0-9a-fA-F]{16}/.test(hex))
    throw new Error('resume token does not start with a Timestamp');
  return new Timestamp({ t: parseInt(hex.slice(2, 10), 16), i: parseInt(hex.slice(10, 18), 16) });
}
