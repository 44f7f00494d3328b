// The output line is written as bytes into one reused scratch buffer and turned into a string
// once, at the end. Building it with `+=` made ~100 rope pieces and small strings per event, and
// walking and flattening them cost more than the transcoding itself (measured with
// scripts/bench-transcode.ts: this is about 2× faster than `+=`, which beat an array join).
//
// Text from the document is copied as its UTF-8 bytes, escaped as JSON.stringify escapes it,
// and checked to be valid UTF-8: the line is exactly JSON.stringify of the decoded string, since
// that only ever escapes '"', '\\', control characters and lone surrogates (which valid UTF-8
// cannot hold). Not reentrant, and need not be: nothing here calls out to other code.
import { isUtf8 } from 'node:buffer';
import { TranscodeError } from './error.js';
import type { SliceBuffer } from './reader.js';

const INITIAL_SIZE = 16 * 1024;
// After a line longer than this, the scratch buffer is dropped rather than kept for ever.
const KEEP_SIZE = 1024 * 1024;

let out = Buffer.allocUnsafe(INITIAL_SIZE) as SliceBuffer;
let at = 0;
let wide = false; // some byte ≥ 0x80 was written: decode as UTF-8, not Latin-1

/** Starts a new line. */
export function begin(): void {
  at = 0;
  wide = false;
}

/** The line written since `begin`. */
export function finish(): string {
  const line = wide ? out.utf8Slice(0, at) : out.latin1Slice(0, at);
  if (out.length > KEEP_SIZE) out = Buffer.allocUnsafe(INITIAL_SIZE) as SliceBuffer;
  return line;
}

/** Makes room for `bytes` more bytes. */
function reserve(bytes: number): void {
  if (at + bytes <= out.length) return;
  let size = out.length * 2;
  while (size < at + bytes) size *= 2;
  const bigger = Buffer.allocUnsafe(size) as SliceBuffer;
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

/** One ASCII byte. */
export function byte(c: number): void {
  reserve(1);
  out[at++] = c;
}

/** An ASCII string (punctuation, numbers as text, base64). */
export function ascii(s: string): void {
  const n = s.length;
  reserve(n);
  const o = out;
  let p = at;
  for (let i = 0; i < n; i++) o[p++] = s.charCodeAt(i);
  at = p;
}

// Powers of ten up to 10^22, all exact as doubles.
export const POW10 = Array.from({ length: 23 }, (_, n) => 10 ** n);

/** How many decimal digits a non-negative integer below 2^53 has. */
export function digitCount(v: number): number {
  let width = 1;
  while (width < 16 && v >= POW10[width]!) width++;
  return width;
}

/** A non-negative integer below 2^53 in decimal. */
export function uint(v: number): void {
  if (v < 10) {
    reserve(1);
    out[at++] = 0x30 + v;
    return;
  }
  digits(v, digitCount(v));
}

/** An integer of magnitude below 2^53 in decimal. */
export function int(v: number): void {
  if (v < 0) {
    byte(0x2d); // '-'
    uint(-v);
  } else {
    uint(v);
  }
}

/** A non-negative integer below 2^53 as exactly `width` digits, zero-padded. */
export function digits(v: number, width: number): void {
  if (v >= 0x80000000) {
    // Beyond int32, `%` and division are slow double operations (dates in ms, big Longs):
    // split off the last 8 digits, so both parts are int32 arithmetic. The quotient of an
    // inexact division can be one off; the remainder says so, and is itself exact.
    let high = Math.floor(v / 1e8);
    let low = v - high * 1e8;
    if (low < 0) {
      high -= 1;
      low += 1e8;
    } else if (low >= 1e8) {
      high += 1;
      low -= 1e8;
    }
    digits(high, width - 8);
    digits(low, 8);
    return;
  }
  reserve(width);
  const o = out;
  let p = at + width;
  at = p;
  for (let x = v, i = 0; i < width; i++) {
    const q = (x / 10) | 0;
    o[--p] = 0x30 + x - q * 10;
    x = q;
  }
}

const HEX = [...'0123456789abcdef'].map((c) => c.charCodeAt(0));

/** The bytes [start, end) of `src` as lowercase hex. */
export function hex(src: Uint8Array, start: number, end: number): void {
  reserve(2 * (end - start));
  const o = out;
  let p = at;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    o[p++] = HEX[b >> 4]!;
    o[p++] = HEX[b & 15]!;
  }
  at = p;
}

// The escape letter JSON.stringify uses after a backslash, or 0 for a \u00XX escape.
const SHORT_ESCAPE = new Uint8Array(0x60);
for (const [c, letter] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
] as const) {
  SHORT_ESCAPE[c] = letter.charCodeAt(0);
}

/** The UTF-8 bytes [start, end) of `src` as a JSON string literal; `what` names them in an error. */
export function jsonString(src: Uint8Array, start: number, end: number, what: string): void {
  reserve(end - start + 2);
  let o = out;
  let p = at;
  let high = 0;
  o[p++] = 0x22;
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
      o[p++] = c;
      high |= c;
      continue;
    }
    // An escape: room for it (up to 6 bytes) and for the rest of the string.
    at = p;
    reserve(6 + (end - i));
    o = out;
    o[p++] = 0x5c;
    const letter = SHORT_ESCAPE[c]!;
    if (letter !== 0) {
      o[p++] = letter;
    } else {
      o[p++] = 0x75; // \u00XX, lowercase hex like JSON.stringify
      o[p++] = 0x30;
      o[p++] = 0x30;
      o[p++] = HEX[c >> 4]!;
      o[p++] = HEX[c & 15]!;
    }
  }
  o[p++] = 0x22;
  if (high >= 0x80) {
    // Non-ASCII: the bytes were copied as they are, so they must be UTF-8 (BSON requires it; a
    // lossy decode would print a different string than the one stored).
    if (!isUtf8(src.subarray(start, end))) {
      throw new TranscodeError(`invalid UTF-8 in ${what} at byte ${start}`);
    }
    wide = true;
  }
  at = p;
}
