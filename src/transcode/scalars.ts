// Fixed-size BSON values read straight from the bytes and written as Extended JSON
// (mongodb/specifications source/extended-json, "Conversion table").
import { writeDecimal128 } from './decimal.js';
import { int32, uint32 } from './reader.js';
import type { SliceBuffer } from './reader.js';
import { ascii, byte, digits, hex, uint } from './writer.js';

// An int64 whose high word lies in [-2^21, 2^21) is below 2^53 in magnitude: exact as a double.
const SAFE_HIGH = 0x200000;

/** The signed 64-bit integer at `pos` as exact decimal digits. */
export function int64(buf: SliceBuffer, pos: number): void {
  const high = int32(buf, pos + 4);
  if (high >= 0 && high < SAFE_HIGH) {
    uint(high * 0x100000000 + uint32(buf, pos));
  } else if (high < 0 && high >= -SAFE_HIGH) {
    byte(0x2d); // '-'
    uint(-(high * 0x100000000 + uint32(buf, pos)));
  } else {
    ascii(buf.readBigInt64LE(pos).toString());
  }
}

/** A double as relaxed Extended JSON: a JSON number that always reads back as a non-integer. */
export function doubleRelaxed(x: number): void {
  if (x === 0) return ascii(Object.is(x, -0) ? '-0.0' : '0.0');
  // Same text as doubleText in src/format/json.ts: String()'s shortest round-trip digits, plus
  // ".0" when they have neither a fraction nor an exponent (integers below 1e21).
  const s = String(x);
  if (Number.isInteger(x)) return ascii(Math.abs(x) < 1e21 ? s + '.0' : s);
  if (Number.isFinite(x)) return ascii(s);
  ascii('{"$numberDouble":"' + s + '"}'); // NaN, Infinity, -Infinity
}

/** A double as canonical Extended JSON, with the text bson's EJSON writes. */
export function doubleCanonical(x: number): void {
  ascii('{"$numberDouble":"');
  if (x === 0) ascii(Object.is(x, -0) ? '-0.0' : '0.0');
  // toFixed(1) writes an integral double's exact digits (2**60 → "1152921504606846976.0", where
  // String() rounds to "1152921504606847000") and falls back to String() from 1e21 on.
  else ascii(Number.isInteger(x) ? x.toFixed(1) : String(x));
  ascii('"}');
}

// 10000-01-01T00:00:00Z: relaxed dates are ISO strings only for years 1970–9999 (the spec's rule).
const MAX_ISO_DATE = 253402300800000;
const DAY = 86400000;

/** `ms` (0 ≤ ms < 10000-01-01) as Date#toISOString writes it, without ".000" for whole seconds. */
export function isoDate(ms: number): void {
  // Days since 1970 → year, month, day: the inverse of Howard Hinnant's days_from_civil
  // (howardhinnant.github.io/date_algorithms.html#civil_from_days) for days ≥ 0. Done by hand:
  // new Date(ms).toISOString() costs about half a microsecond.
  const days = Math.floor(ms / DAY);
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  let rest = ms - days * DAY;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;

  digits(year, 4); // 1970–9999
  byte(0x2d); // -
  digits(month, 2);
  byte(0x2d);
  digits(day, 2);
  byte(0x54); // T
  digits(hour, 2);
  byte(0x3a); // :
  digits(minute, 2);
  byte(0x3a);
  digits(second, 2);
  if (milli !== 0) {
    byte(0x2e); // .
    digits(milli, 3);
  }
  byte(0x5a); // Z
}

/** The UTC datetime (int64 ms) at `pos` as relaxed Extended JSON. */
export function dateRelaxed(buf: SliceBuffer, pos: number): void {
  const high = int32(buf, pos + 4);
  if (high >= 0 && high < SAFE_HIGH) {
    const ms = high * 0x100000000 + uint32(buf, pos);
    if (ms < MAX_ISO_DATE) {
      ascii('{"$date":"');
      isoDate(ms);
      ascii('"}');
      return;
    }
  }
  dateCanonical(buf, pos);
}

/** The UTC datetime (int64 ms) at `pos` as canonical Extended JSON. */
export function dateCanonical(buf: SliceBuffer, pos: number): void {
  ascii('{"$date":{"$numberLong":"');
  int64(buf, pos);
  ascii('"}}');
}

/** The 12-byte ObjectId at `pos`. */
export function objectId(buf: SliceBuffer, pos: number): void {
  ascii('{"$oid":"');
  hex(buf, pos, pos + 12);
  ascii('"}');
}

/** The Timestamp at `pos` (increment first, then seconds, both unsigned). */
export function timestamp(buf: Uint8Array, pos: number): void {
  ascii('{"$timestamp":{"t":');
  uint(uint32(buf, pos + 4));
  ascii(',"i":');
  uint(uint32(buf, pos));
  ascii('}}');
}

/** The 16-byte Decimal128 at `pos`. */
export function decimal(buf: Uint8Array, pos: number): void {
  ascii('{"$numberDecimal":"');
  writeDecimal128(buf, pos);
  ascii('"}');
}

/** Binary payload bytes [start, end) with its subtype byte at `subType`. */
export function binary(buf: SliceBuffer, subType: number, start: number, end: number): void {
  ascii('{"$binary":{"base64":"');
  ascii(buf.base64Slice(start, end));
  ascii('","subType":"');
  hex(buf, subType, subType + 1); // two hex digits, like bson
  ascii('"}}');
}
