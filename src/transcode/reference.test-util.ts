// Test helper (not a test): the output transcodeDocument must give, computed the old way — bson
// deserializes each value on its own, today's formatters (relaxedJson from src/format/json.ts,
// bson's EJSON.stringify) write it — but walking the BSON elements in their order (with bson's
// own element parser), so integer-like keys stay where they are. Documents, arrays and scopes
// are walked here, value by value, for the same reason.
//
// Where the transcoder follows the Extended JSON spec instead of today's output, the spec's text
// is built here, from today's where possible:
//   - undefined (0x06): {"$undefined":true} (today: null in both formats);
//   - DBPointer (0x0C): {"$dbPointer":{"$ref":namespace,"$id":{"$oid":…}}} (today: a DBRef-shaped
//     document, and a namespace with one '.' in it split into $ref and $db);
//   - a date beyond what a JS Date holds (±8.64e15 ms): its exact int64 in $numberLong
//     (today: "NaN" from EJSON, 0 from relaxedJson).
import { deserialize, EJSON, onDemand } from 'bson';
import { relaxedJson } from '../format/json.js';
import type { JsonMode } from './index.js';

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;
// ignoreBOM: a leading U+FEFF is part of the string, not a byte-order mark to drop.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_JS_DATE = 8640000000000000n;

/** The document (or array) at `offset` in `bytes` as the old path writes it, in BSON order. */
export function referenceJson(
  bytes: Uint8Array,
  mode: JsonMode,
  offset = 0,
  isArray = false,
): string {
  const parts: string[] = [];
  for (const [type, nameOffset, nameLength, valueOffset, valueLength] of onDemand.parseToElements(
    bytes,
    offset,
  )) {
    const value = valueText(bytes, type, valueOffset, valueLength, mode);
    if (isArray) {
      parts.push(value);
    } else {
      const name = utf8.decode(bytes.subarray(nameOffset, nameOffset + nameLength));
      parts.push(`${JSON.stringify(name)}:${value}`);
    }
  }
  return isArray ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}

/** One value, deserialized alone (as the only field of a document of its own). */
function oldText(
  bytes: Uint8Array,
  type: number,
  offset: number,
  length: number,
  mode: JsonMode,
): string {
  const doc = Buffer.alloc(4 + 1 + 2 + length + 1);
  doc.writeInt32LE(doc.length, 0);
  doc[4] = type;
  doc[5] = 0x76; // "v"
  Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).copy(doc, 7);
  const value: unknown = deserialize(doc, EXACT).v;
  return mode === 'relaxed' ? relaxedJson(value) : EJSON.stringify(value, { relaxed: false });
}

function valueText(
  bytes: Uint8Array,
  type: number,
  offset: number,
  length: number,
  mode: JsonMode,
): string {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 0x03:
      return referenceJson(bytes, mode, offset, false);
    case 0x04:
      return referenceJson(bytes, mode, offset, true);
    case 0x0f: {
      // Code with scope: the scope is a document, walked here too.
      const codeLength = view.readInt32LE(offset + 4);
      const code = utf8.decode(view.subarray(offset + 8, offset + 8 + codeLength - 1));
      const scope = referenceJson(bytes, mode, offset + 8 + codeLength, false);
      return `{"$code":${JSON.stringify(code)},"$scope":${scope}}`;
    }
    case 0x06:
      return '{"$undefined":true}';
    case 0x0c: {
      const nsLength = view.readInt32LE(offset);
      const ns = utf8.decode(view.subarray(offset + 4, offset + 4 + nsLength - 1));
      const id = oldText(bytes, 0x07, offset + 4 + nsLength, 12, mode);
      return `{"$dbPointer":{"$ref":${JSON.stringify(ns)},"$id":${id}}}`;
    }
    case 0x09: {
      const ms = view.readBigInt64LE(offset);
      if (ms > MAX_JS_DATE || ms < -MAX_JS_DATE) return `{"$date":{"$numberLong":"${ms}"}}`;
      return oldText(bytes, type, offset, length, mode);
    }
    default:
      return oldText(bytes, type, offset, length, mode);
  }
}
