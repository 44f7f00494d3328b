// MongoDB's hashed-index hash (BSONElementHasher::hash64, src/mongo/db/hasher.cpp), which
// `$toHashedIndexKey` and hashed shard keys use: MD5 over the seed (int32, 0), then for the
// element its canonical type (int32) and its value, recursing into documents and arrays with
// field names; the first 8 bytes of the digest, read as a little-endian int64. Numbers are hashed
// as the int64 they truncate to, so 1, NumberLong(1) and 1.9 hash alike. Walking the BSON bytes
// keeps the rules the server's (value sizes, field names with their NUL, the closing EOO).
import { createHash, type Hash } from 'node:crypto';
import { Decimal128, Long, serialize } from 'bson';

/** canonicalizeBSONType (src/mongo/bson/bsontypes.h) by BSON type byte. */
const CANONICAL: Readonly<Record<number, number>> = {
  0x00: 0, // EOO
  0x06: 0, // undefined
  0x0a: 5, // null
  0x01: 10, // double
  0x10: 10, // int
  0x12: 10, // long
  0x13: 10, // decimal
  0x02: 15, // string
  0x0e: 15, // symbol
  0x03: 20, // object
  0x04: 25, // array
  0x05: 30, // binData
  0x07: 35, // objectId
  0x08: 40, // bool
  0x09: 45, // date
  0x11: 47, // timestamp
  0x0b: 50, // regex
  0x0c: 55, // dbPointer
  0x0d: 60, // javascript
  0x0f: 65, // javascriptWithScope
  0xff: -1, // minKey
  0x7f: 127, // maxKey
};

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const TWO_63 = 2 ** 63;

/** The hash of a value as `$toHashedIndexKey` computes it (missing hashes as null). */
export function hashedIndexKey(value: unknown, seed = 0): Long {
  const doc = serialize({ v: value === undefined ? null : value });
  // The element starts after the document length; its name is "v\0".
  return hashElement(doc, 4, seed);
}

/** hash64 of the BSON element that starts (at its type byte) at `offset` in `bytes`. */
export function hashElement(bytes: Uint8Array, offset: number, seed = 0): Long {
  const md5 = createHash('md5');
  md5.update(int32(seed));
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nameEnd = buf.indexOf(0, offset + 1);
  hashValue(md5, buf, buf[offset] as number, nameEnd + 1);
  return Long.fromBytesLE([...md5.digest().subarray(0, 8)]);
}

/**
 * Adds one element: its canonical type, its name when embedded (with the NUL), its value (at
 * `at`). Returns where the element ends.
 */
function hashValue(md5: Hash, buf: Buffer, type: number, at: number, name?: Buffer): number {
  const canonical = CANONICAL[type];
  if (canonical === undefined) throw new RangeError(`cannot hash BSON type 0x${type.toString(16)}`);
  md5.update(int32(canonical));
  if (name !== undefined) md5.update(name);
  switch (type) {
    case 0x01:
      md5.update(int64(doubleForHash(buf.readDoubleLE(at))));
      return at + 8;
    case 0x10:
      md5.update(int64(BigInt(buf.readInt32LE(at))));
      return at + 4;
    case 0x12:
      md5.update(buf.subarray(at, at + 8));
      return at + 8;
    case 0x13:
      md5.update(int64(decimalForHash(new Decimal128(buf.subarray(at, at + 16)))));
      return at + 16;
    case 0x03:
    case 0x04:
      return hashDocument(md5, buf, at);
    case 0x0f: {
      // Code with scope: the code's characters and NUL (no length), then the scope's elements.
      const codeLen = buf.readInt32LE(at + 4);
      md5.update(buf.subarray(at + 8, at + 8 + codeLen));
      hashDocument(md5, buf, at + 8 + codeLen);
      return at + buf.readInt32LE(at);
    }
    default: {
      const end = at + valueSize(buf, type, at);
      md5.update(buf.subarray(at, end));
      return end;
    }
  }
}

/** The elements of the document at `at`, each with its name, then the EOO; returns its end. */
function hashDocument(md5: Hash, buf: Buffer, at: number): number {
  const end = at + buf.readInt32LE(at);
  let pos = at + 4;
  while (pos < end - 1) {
    const nameEnd = buf.indexOf(0, pos + 1);
    pos = hashValue(md5, buf, buf[pos] as number, nameEnd + 1, buf.subarray(pos + 1, nameEnd + 1));
  }
  // EOO: canonical type 0; its name is empty and it has no value.
  md5.update(int32(0));
  return end;
}

/** BSONElement::valuesize for the types hashed as raw bytes. */
function valueSize(buf: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x06:
    case 0x0a:
    case 0xff:
    case 0x7f:
      return 0;
    case 0x08:
      return 1;
    case 0x09:
    case 0x11:
      return 8;
    case 0x07:
      return 12;
    case 0x02:
    case 0x0d:
    case 0x0e:
      return 4 + buf.readInt32LE(at);
    case 0x05:
      return 5 + buf.readInt32LE(at);
    case 0x0c:
      return 4 + buf.readInt32LE(at) + 12;
    case 0x0b: {
      const patternEnd = buf.indexOf(0, at);
      return buf.indexOf(0, patternEnd + 1) + 1 - at;
    }
    default:
      throw new RangeError(`cannot hash BSON type 0x${type.toString(16)}`);
  }
}

/** safeNumberLongForHash for a double: NaN → 0, clamped, 2^63 → -2^63 (the server keeps that). */
function doubleForHash(d: number): bigint {
  if (Number.isNaN(d)) return 0n;
  if (d === TWO_63) return INT64_MIN;
  if (!(d < TWO_63)) return INT64_MAX;
  if (d < -TWO_63) return INT64_MIN;
  return BigInt(Math.trunc(d));
}

/** safeNumberLong for a decimal: NaN → 0, clamped, else rounded half to even (toLong). */
function decimalForHash(d: Decimal128): bigint {
  const text = d.toString();
  if (text === 'NaN' || text === '-NaN') return 0n;
  if (text === 'Infinity') return INT64_MAX;
  if (text === '-Infinity') return INT64_MIN;
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]\d+))?$/.exec(text);
  if (m === null) return 0n;
  const [, sign, int, frac = '', exp = '0'] = m;
  const digits = BigInt(`${int ?? '0'}${frac}`);
  const scale = Number(exp) - frac.length;
  let n: bigint;
  if (scale >= 0) {
    n = digits * 10n ** BigInt(scale);
  } else {
    const div = 10n ** BigInt(-scale);
    n = digits / div;
    const rest = (digits % div) * 2n;
    if (rest > div || (rest === div && n % 2n === 1n)) n += 1n;
  }
  if (sign === '-') n = -n;
  return n > INT64_MAX ? INT64_MAX : n < INT64_MIN ? INT64_MIN : n;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

function int64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
}
