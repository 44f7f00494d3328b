// BSON bytes → one line of Extended JSON, written straight from the bytes: no JS object is built
// for the document, and fields keep their BSON order (a JS object would move integer-like keys
// such as "2" and "10" first).
//
// relaxed: the Extended JSON spec's relaxed form, like mongoexport and pymongo and the same text
//   as src/format/json.ts's relaxedJson (Int64 as exact digits, doubles always non-integers).
// canonical: the same text as bson's EJSON.stringify(value, {relaxed: false}).
//
// Where the formatters of today (bson deserialize, then relaxedJson / EJSON.stringify) depart
// from the Extended JSON spec or from the BSON field order, this follows the spec and the bytes
// (index.test.ts shows both outputs side by side):
//   - every document keeps its field order (a JS object moves integer-like keys first);
//   - a document shaped like a DBRef is written like any other ($ref, $id, $db moved first today);
//   - undefined (0x06) is {"$undefined":true}, not null;
//   - a DBPointer (0x0C) is {"$dbPointer":{"$ref":namespace,"$id":…}}, not a DBRef-shaped
//     document whose namespace was split at a '.' into $db and $ref;
//   - a date beyond the ±8.64e15 ms a JS Date holds keeps its exact int64 ms (today "NaN" / 0).
// Also unlike bson, regex options with characters bson refuses are written (sorted), not thrown
// on, and a Binary vector (subtype 9) is written as base64 without checking its layout.
import { TranscodeError } from './error.js';
import type { SliceBuffer } from './reader.js';
import { walk } from './walk.js';

export { TranscodeError } from './error.js';

export type JsonMode = 'relaxed' | 'canonical';

/** The BSON document that starts at `start` in `bytes` (its int32 length prefix included) as one line of Extended JSON. */
export function transcodeDocument(bytes: Uint8Array, start: number, mode: JsonMode): string {
  // A Buffer view (no copy) for its native slicing methods; offsets stay those of `bytes`.
  const buf = (
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ) as SliceBuffer;
  if (!Number.isInteger(start) || start < 0 || start > buf.length) {
    throw new TranscodeError(`document start ${start} is outside the input (${buf.length} bytes)`);
  }
  if (buf.length - start < 5) {
    throw new TranscodeError(
      `truncated document at byte ${start}: ${buf.length - start} bytes, a document needs at least 5`,
    );
  }
  const size = buf.readInt32LE(start);
  if (size < 5) throw new TranscodeError(`document at byte ${start} has length ${size}, below 5`);
  if (size > buf.length - start) {
    throw new TranscodeError(
      `truncated document at byte ${start}: its length is ${size} but only ${buf.length - start} bytes are left`,
    );
  }
  const last = buf[start + size - 1]!;
  if (last !== 0) {
    throw new TranscodeError(
      `document at byte ${start} ends with 0x${last.toString(16).padStart(2, '0')} instead of 0x00`,
    );
  }
  return walk(buf, start, size, mode === 'canonical');
}
