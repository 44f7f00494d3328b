// Arithmetic for $inc, $mul and $bit with MongoDB's type promotion (int → long → double →
// decimal) and overflow of 64-bit integers.
import { Decimal128, Double, Int32, Long } from 'bson';
import { bsonType, toNumber } from '../values.js';

/** A number type's rank in promotion order. */
export type NumKind = 0 | 1 | 2 | 3; // int, long, double, decimal

/** The promotion rank of a BSON number. */
export function numKind(v: unknown): NumKind {
  switch (bsonType(v)) {
    case 'int':
      return 0;
    case 'long':
      return 1;
    case 'double':
      return 2;
    default:
      return 3;
  }
}

/** An integral BSON number as a bigint (fractions truncated). */
export function toBig(v: unknown): bigint {
  if (v instanceof Long) return v.toBigInt();
  return BigInt(Math.trunc(toNumber(v) ?? 0));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** `$inc` or `$mul` of two numbers in the wider of their types; 64-bit overflow calls `onOverflow`. */
export function arith(
  op: '$inc' | '$mul',
  a: unknown,
  b: unknown,
  onOverflow: () => never,
): unknown {
  const kind = Math.max(numKind(a), numKind(b)) as NumKind;
  if (kind <= 1) {
    const r = op === '$inc' ? toBig(a) + toBig(b) : toBig(a) * toBig(b);
    if (kind === 0 && r >= -(2n ** 31n) && r < 2n ** 31n) return new Int32(Number(r));
    if (r < INT64_MIN || r > INT64_MAX) onOverflow();
    return Long.fromBigInt(r);
  }
  const x = toNumber(a) ?? 0;
  const y = toNumber(b) ?? 0;
  const r = op === '$inc' ? x + y : x * y;
  return kind === 2 ? new Double(r) : Decimal128.fromString(String(r));
}

/** Zero in the type of `v` (what `$mul` sets on a missing field). */
export function zeroLike(v: unknown): unknown {
  switch (numKind(v)) {
    case 0:
      return new Int32(0);
    case 1:
      return Long.ZERO;
    case 2:
      return new Double(0);
    default:
      return Decimal128.fromString('0');
  }
}
