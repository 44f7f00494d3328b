// Decimal128 → its text, the spec's "to-scientific-string" exactly as bson writes it. bson's own
// Decimal128#toString costs close to a microsecond (it divides a 128-bit integer nine digits at
// a time), and change events are full of prices and amounts: small coefficients, done here with
// plain numbers (or BigInt, up to the 34 digits a canonical coefficient can have), the common
// plain form written digit by digit. The rare rest — NaN, Infinity, non-canonical encodings,
// which bson prints in its own ways — goes to bson, so every bit pattern reads as bson reads it
// (scalars.test.ts checks both against bson on random bytes).
import { Decimal128 } from 'bson';
import { int32 } from './reader.js';
import { ascii, byte, digitCount, digits, POW10, uint } from './writer.js';

const EXPONENT_BIAS = 6176;
const MAX_COEFFICIENT = 10n ** 34n - 1n;

/** The Decimal128 at `pos` (16 bytes, little-endian) as bson's Decimal128#toString writes it. */
export function decimal128String(buf: Uint8Array, pos: number): string {
  const high = int32(buf, pos + 12);
  // The two bits after the sign are 11 for NaN, Infinity and coefficients of 2^113 and more.
  if (((high >>> 29) & 3) === 3) return new Decimal128(buf.slice(pos, pos + 16)).toString();

  const exponent = ((high >>> 17) & 0x3fff) - EXPONENT_BIAS;
  const top = high & 0x1ffff; // the coefficient's top 17 bits (of 113)
  const midHigh = int32(buf, pos + 8) >>> 0;
  const midLow = int32(buf, pos + 4) >>> 0;
  const low = int32(buf, pos) >>> 0;
  let coefficientText: string;
  if (top === 0 && midHigh === 0 && midLow < 0x200000) {
    coefficientText = String(midLow * 0x100000000 + low); // below 2^53: exact as a double
  } else {
    const coefficient =
      (BigInt(top) << 96n) | (BigInt(midHigh) << 64n) | (BigInt(midLow) << 32n) | BigInt(low);
    if (coefficient > MAX_COEFFICIENT) {
      return new Decimal128(buf.slice(pos, pos + 16)).toString();
    }
    coefficientText = coefficient.toString();
  }
  const sign = high < 0 ? '-' : '';
  const count = coefficientText.length;
  const adjusted = count - 1 + exponent;

  if (exponent > 0 || adjusted >= 34 || adjusted <= -7) {
    // Scientific: d[.ddd]E±n
    const mantissa =
      count > 1 ? coefficientText[0] + '.' + coefficientText.slice(1) : coefficientText;
    return sign + mantissa + (adjusted > 0 ? 'E+' : 'E') + adjusted;
  }
  if (exponent === 0) return sign + coefficientText;
  const point = count + exponent;
  return point > 0
    ? sign + coefficientText.slice(0, point) + '.' + coefficientText.slice(point)
    : sign + '0.' + '0'.repeat(-point) + coefficientText;
}

/** Writes the Decimal128 at `pos` as decimal128String does, without the string when it can. */
export function writeDecimal128(buf: Uint8Array, pos: number): void {
  const high = int32(buf, pos + 12);
  const midLow = int32(buf, pos + 4) >>> 0;
  // The usual price or amount: a coefficient below 2^53 and at most a few digits after the
  // point, so the plain (not scientific) form: written digit by digit, no string made.
  if (((high >>> 29) & 3) !== 3 && (high & 0x1ffff) === 0 && int32(buf, pos + 8) === 0) {
    const exponent = ((high >>> 17) & 0x3fff) - EXPONENT_BIAS;
    if (exponent <= 0 && midLow < 0x200000) {
      const coefficient = midLow * 0x100000000 + (int32(buf, pos) >>> 0);
      const count = digitCount(coefficient);
      const scale = -exponent; // digits after the point
      if (count - 1 - scale > -7) {
        if (high < 0) byte(0x2d); // '-'
        if (scale === 0) return uint(coefficient);
        if (count > scale) {
          const fraction = coefficient % POW10[scale]!;
          uint((coefficient - fraction) / POW10[scale]!);
          byte(0x2e); // '.'
          return digits(fraction, scale);
        }
        ascii('0.');
        return digits(coefficient, scale);
      }
    }
  }
  ascii(decimal128String(buf, pos));
}
