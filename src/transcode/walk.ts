// One pass over a BSON document's bytes (bsonspec.org/spec.html), writing Extended JSON as it
// goes, elements in their BSON order. Nesting is kept on an explicit stack instead of the call
// stack, so a deeply nested document cannot overflow it. Every length is checked against the
// enclosing document before it is used, so malformed bytes end in a TranscodeError, never in a
// read outside the document or in output for bytes that are not BSON.
import { TranscodeError } from './error.js';
import { int32 } from './reader.js';
import type { SliceBuffer } from './reader.js';
import {
  binary,
  dateCanonical,
  dateRelaxed,
  decimal,
  doubleCanonical,
  doubleRelaxed,
  int64,
  objectId,
  timestamp,
} from './scalars.js';
import { ascii, begin, byte, finish, int, jsonString } from './writer.js';

// What the innermost open container is, which says how it closes.
const DOCUMENT = 0;
const ARRAY = 1;
const SCOPE = 2; // the scope of a Code with scope, inside {"$code":…,"$scope":

function hexByte(b: number): string {
  return '0x' + b.toString(16).padStart(2, '0');
}

/** Checks that `size` bytes from `pos` end before the container's NUL at `end`. */
function need(pos: number, size: number, end: number, what: string): void {
  if (size > end - pos) {
    throw new TranscodeError(`${what} at byte ${pos} runs past the end of its document`);
  }
}

/** The length of the document (array, scope) at `pos`, checked to end by `limit` and with a NUL. */
function containerSize(buf: Uint8Array, pos: number, limit: number, what: string): number {
  need(pos, 4, limit, `${what} length`);
  const size = int32(buf, pos);
  if (size < 5) throw new TranscodeError(`${what} at byte ${pos} has length ${size}, below 5`);
  if (size > limit - pos) {
    throw new TranscodeError(
      `${what} at byte ${pos} has length ${size}, past the end of its container (${limit - pos} bytes left)`,
    );
  }
  const last = buf[pos + size - 1]!;
  if (last !== 0) {
    throw new TranscodeError(`${what} at byte ${pos} ends with ${hexByte(last)} instead of 0x00`);
  }
  return size;
}

/** The BSON string at `pos` (int32 length, bytes, NUL): its length field, checked. */
function stringSize(buf: Uint8Array, pos: number, end: number): number {
  need(pos, 4, end, 'string length');
  const size = int32(buf, pos);
  if (size < 1 || size > end - pos - 4) {
    throw new TranscodeError(`string at byte ${pos} has a wrong length ${size}`);
  }
  if (buf[pos + 3 + size] !== 0) {
    throw new TranscodeError(`string at byte ${pos} lacks its terminating NUL`);
  }
  return size;
}

/** The NUL that ends the C string (a key, a regex part) at `pos`; it must come before `end`. */
function cstringEnd(buf: Uint8Array, pos: number, end: number, what: string): number {
  let i = pos;
  while (buf[i] !== 0) i++; // stops at the latest on the container's own NUL at `end`
  if (i >= end) {
    throw new TranscodeError(`${what} at byte ${pos} runs past the end of its document`);
  }
  return i;
}

/** The BSON string at `pos` as a JSON string literal; returns where the next element starts. */
function string(buf: SliceBuffer, pos: number, end: number): number {
  const n = stringSize(buf, pos, end);
  jsonString(buf, pos + 4, pos + 3 + n, 'string');
  return pos + 4 + n;
}

/** Regex options, sorted as bson sorts them (the spec's degenerate-BSON example does too). */
function regexOptions(buf: SliceBuffer, start: number, end: number): void {
  let sorted = true;
  for (let i = start; i < end; i++) {
    // Only ASCII letters are options; anything else is written as it is (after the UTF-8 check),
    // since sorting its bytes would break it.
    if (buf[i]! >= 0x80) return jsonString(buf, start, end, 'regex options');
    if (i > start && buf[i]! < buf[i - 1]!) sorted = false;
  }
  if (sorted) return jsonString(buf, start, end, 'regex options');
  const bytes = Uint8Array.from(buf.subarray(start, end)).sort();
  jsonString(bytes, 0, bytes.length, 'regex options');
}

/** The document of `size` bytes at `start` in `buf` as compact Extended JSON. */
export function walk(buf: SliceBuffer, start: number, size: number, canonical: boolean): string {
  // The open containers around the current one: where each one's closing NUL is, and its kind.
  const ends: number[] = [];
  const kinds: number[] = [];
  let end = start + size - 1;
  let kind = DOCUMENT;
  let first = true;
  let pos = start + 4;
  begin();
  byte(0x7b); // {

  for (;;) {
    if (pos === end) {
      // ']' closes an array, '}' a document, '}}' a scope and the {"$code":… around it.
      if (kind === ARRAY) byte(0x5d);
      else ascii(kind === SCOPE ? '}}' : '}');
      if (ends.length === 0) return finish();
      pos = end + 1;
      end = ends.pop()!;
      kind = kinds.pop()!;
      first = false;
      continue;
    }

    const at = pos;
    const type = buf[pos]!;
    if (type === 0) {
      throw new TranscodeError(
        `0x00 type byte at byte ${pos}, before the document's end at byte ${end}`,
      );
    }
    const nameEnd = cstringEnd(buf, pos + 1, end, 'element name');
    if (first) first = false;
    else byte(0x2c); // ,
    if (kind !== ARRAY) {
      jsonString(buf, pos + 1, nameEnd, 'key');
      byte(0x3a); // :
    }
    pos = nameEnd + 1;

    switch (type) {
      case 0x01: // double
        need(pos, 8, end, 'double');
        if (canonical) doubleCanonical(buf.readDoubleLE(pos));
        else doubleRelaxed(buf.readDoubleLE(pos));
        pos += 8;
        break;
      case 0x02: // string
        pos = string(buf, pos, end);
        break;
      case 0x03: // document
      case 0x04: {
        // array
        const n = containerSize(buf, pos, end, type === 0x03 ? 'document' : 'array');
        ends.push(end);
        kinds.push(kind);
        end = pos + n - 1;
        kind = type === 0x03 ? DOCUMENT : ARRAY;
        first = true;
        byte(type === 0x03 ? 0x7b : 0x5b); // { or [
        pos += 4;
        break;
      }
      case 0x05: {
        // binary: int32 length, subtype, payload
        need(pos, 5, end, 'binary');
        const n = int32(buf, pos);
        if (n < 0 || n > end - pos - 5) {
          throw new TranscodeError(`binary at byte ${pos} has a wrong length ${n}`);
        }
        let data = pos + 5;
        if (buf[pos + 4] === 0x02) {
          // The old binary subtype repeats the payload length inside it; the spec (and bson)
          // write only the payload, so the inner length is checked and dropped.
          if (n < 4 || int32(buf, data) !== n - 4) {
            throw new TranscodeError(`binary subtype 0x02 at byte ${pos} has a wrong inner length`);
          }
          data += 4;
        }
        binary(buf, pos + 4, data, pos + 5 + n);
        pos += 5 + n;
        break;
      }
      case 0x06: // undefined (deprecated)
        ascii('{"$undefined":true}');
        break;
      case 0x07: // ObjectId
        need(pos, 12, end, 'ObjectId');
        objectId(buf, pos);
        pos += 12;
        break;
      case 0x08: {
        // boolean
        need(pos, 1, end, 'boolean');
        const b = buf[pos]!;
        if (b > 1) {
          throw new TranscodeError(`boolean at byte ${pos} is ${hexByte(b)}, not 0x00 or 0x01`);
        }
        ascii(b === 1 ? 'true' : 'false');
        pos += 1;
        break;
      }
      case 0x09: // UTC datetime
        need(pos, 8, end, 'date');
        if (canonical) dateCanonical(buf, pos);
        else dateRelaxed(buf, pos);
        pos += 8;
        break;
      case 0x0a: // null
        ascii('null');
        break;
      case 0x0b: {
        // regular expression: pattern and options, two C strings
        const patternEnd = cstringEnd(buf, pos, end, 'regex pattern');
        const optionsEnd = cstringEnd(buf, patternEnd + 1, end, 'regex options');
        ascii('{"$regularExpression":{"pattern":');
        jsonString(buf, pos, patternEnd, 'regex pattern');
        ascii(',"options":');
        regexOptions(buf, patternEnd + 1, optionsEnd);
        ascii('}}');
        pos = optionsEnd + 1;
        break;
      }
      case 0x0c: // DBPointer (deprecated): namespace string, ObjectId
        ascii('{"$dbPointer":{"$ref":');
        pos = string(buf, pos, end);
        need(pos, 12, end, 'DBPointer id');
        ascii(',"$id":');
        objectId(buf, pos);
        ascii('}}');
        pos += 12;
        break;
      case 0x0d: // JavaScript code
        ascii('{"$code":');
        pos = string(buf, pos, end);
        byte(0x7d);
        break;
      case 0x0e: // symbol (deprecated)
        ascii('{"$symbol":');
        pos = string(buf, pos, end);
        byte(0x7d);
        break;
      case 0x0f: {
        // code with scope: int32 total length, string, scope document; the lengths must add up
        need(pos, 4, end, 'code with scope length');
        const total = int32(buf, pos);
        if (total < 14 || total > end - pos) {
          throw new TranscodeError(`code with scope at byte ${pos} has a wrong length ${total}`);
        }
        const codeEnd = pos + total;
        ascii('{"$code":');
        const scope = string(buf, pos + 4, codeEnd);
        const scopeSize = containerSize(buf, scope, codeEnd, 'scope document');
        if (scope + scopeSize !== codeEnd) {
          throw new TranscodeError(`code with scope at byte ${pos} has a wrong length ${total}`);
        }
        ascii(',"$scope":{');
        ends.push(end);
        kinds.push(kind);
        end = codeEnd - 1;
        kind = SCOPE;
        first = true;
        pos = scope + 4;
        break;
      }
      case 0x10: // int32
        need(pos, 4, end, 'int32');
        if (canonical) {
          ascii('{"$numberInt":"');
          int(int32(buf, pos));
          ascii('"}');
        } else {
          int(int32(buf, pos));
        }
        pos += 4;
        break;
      case 0x11: // Timestamp
        need(pos, 8, end, 'timestamp');
        timestamp(buf, pos);
        pos += 8;
        break;
      case 0x12: // int64
        need(pos, 8, end, 'int64');
        if (canonical) {
          ascii('{"$numberLong":"');
          int64(buf, pos);
          ascii('"}');
        } else {
          int64(buf, pos);
        }
        pos += 8;
        break;
      case 0x13: // Decimal128
        need(pos, 16, end, 'Decimal128');
        decimal(buf, pos);
        pos += 16;
        break;
      case 0x7f:
        ascii('{"$maxKey":1}');
        break;
      case 0xff:
        ascii('{"$minKey":1}');
        break;
      default:
        throw new TranscodeError(`unknown BSON type ${hexByte(type)} at byte ${at}`);
    }
  }
}
