// A getMore / aggregate reply's `cursor` document, read straight from its BSON bytes. The
// events stay bytes: the loop hands each one to a formatter (the JSON formats transcode the
// bytes directly) and reads only the few top-level fields it needs itself (`_id`,
// `operationType`, `clusterTime`), when it needs them. Nothing here builds a JS object for an
// event body.
import { Binary, Long, Timestamp, deserialize } from 'bson';
import { ExitCode, TailError } from '../errors.js';
import type { ResumeToken } from '../options.js';

/** One reply's cursor: its id, namespace, the events (as byte offsets) and the PBRT. */
export interface CursorReply {
  id: Long;
  /** The reply's `ns`, when it has one. */
  ns: string | undefined;
  /** The bytes the offsets point into (the cursor document). */
  bytes: Buffer;
  /** Where each event document starts in `bytes`. */
  starts: number[];
  /** The post-batch resume token. */
  pbrt: ResumeToken | undefined;
}

/** What a change event says about itself at its top level. */
export interface EventHeader {
  token: ResumeToken | undefined;
  operationType: string | undefined;
  clusterTime: Timestamp | undefined;
  /** `splitEvent` of a fragment of a large event ($changeStreamSplitLargeEvent). */
  split: { fragment: number; of: number } | undefined;
}

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

function malformed(what: string): TailError {
  return new TailError(`the server sent a malformed cursor reply (${what})`, ExitCode.Unexpected);
}

/** A Buffer view of the same bytes (no copy), for its fast string and integer readers. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Splits a reply's `cursor` document into its parts; TailError when it is not one. */
export function readCursor(raw: Uint8Array): CursorReply {
  const bytes = asBuffer(raw);
  let id: Long | undefined;
  let ns: string | undefined;
  let starts: number[] | undefined;
  let pbrt: ResumeToken | undefined;
  for (const { name, type, at, to } of elementsOf(bytes, 0)) {
    if (name === 'id' && type === 0x12) {
      id = new Long(bytes.readInt32LE(at), bytes.readInt32LE(at + 4));
    } else if (name === 'ns' && type === 0x02) {
      ns = bytes.toString('utf8', at + 4, to - 1);
    } else if ((name === 'firstBatch' || name === 'nextBatch') && type === 0x04) {
      starts = elementStarts(bytes, at);
    } else if (name === 'postBatchResumeToken' && type === 0x03) {
      pbrt = tokenOf(deserialize(bytes.subarray(at, to), EXACT));
    }
  }
  if (id === undefined || starts === undefined) throw malformed('no cursor id or batch');
  return { id, ns, bytes, starts, pbrt };
}

/** The offsets of the documents in the BSON array at `start` (every element must be one). */
function elementStarts(bytes: Buffer, start: number): number[] {
  const end = documentEnd(bytes, start);
  const starts: number[] = [];
  let at = start + 4;
  while (at < end - 1) {
    if (bytes[at] !== 0x03) throw malformed('a batch element is not a document');
    const valueAt = cstringEnd(bytes, at + 1, end) + 1;
    starts.push(valueAt);
    at = documentEnd(bytes, valueAt);
    if (at > end) throw malformed('an event runs past its batch');
  }
  return starts;
}

/** Reads `_id`, `operationType`, `clusterTime` and `splitEvent` off the event at `start`. */
export function readHeader(bytes: Buffer, start: number): EventHeader {
  const end = documentEnd(bytes, start);
  const header: EventHeader = {
    token: undefined,
    operationType: undefined,
    clusterTime: undefined,
    split: undefined,
  };
  let at = start + 4;
  while (at < end - 1) {
    const type = bytes[at] as number;
    const nameEnd = cstringEnd(bytes, at + 1, end);
    const valueAt = nameEnd + 1;
    const next = valueEnd(bytes, type, valueAt, end);
    const nameLength = nameEnd - at - 1;
    // Compare lengths first: most fields are skipped without building their name.
    if (nameLength === 3 && type === 0x03 && nameIs(bytes, at + 1, '_id')) {
      header.token = readToken(bytes, valueAt);
    } else if (nameLength === 13 && type === 0x02 && nameIs(bytes, at + 1, 'operationType')) {
      header.operationType = bytes.toString('utf8', valueAt + 4, next - 1);
    } else if (nameLength === 11 && type === 0x11 && nameIs(bytes, at + 1, 'clusterTime')) {
      // A BSON timestamp is the increment (low word), then the seconds (high word).
      header.clusterTime = new Timestamp({
        i: bytes.readUInt32LE(valueAt),
        t: bytes.readUInt32LE(valueAt + 4),
      });
    } else if (nameLength === 10 && type === 0x03 && nameIs(bytes, at + 1, 'splitEvent')) {
      header.split = readSplit(bytes, valueAt);
    }
    at = next;
  }
  return header;
}

/**
 * The event's `wallTime` (a BSON date, MongoDB 6.0+) as epoch milliseconds; undefined when it
 * has none. Separate from readHeader: only events in a --since/--until boundary second need it.
 */
export function readWallTime(bytes: Buffer, start: number): number | undefined {
  const end = documentEnd(bytes, start);
  let at = start + 4;
  while (at < end - 1) {
    const type = bytes[at] as number;
    const nameEnd = cstringEnd(bytes, at + 1, end);
    const valueAt = nameEnd + 1;
    const next = valueEnd(bytes, type, valueAt, end);
    if (nameEnd - at - 1 === 8 && type === 0x09 && nameIs(bytes, at + 1, 'wallTime')) {
      return Number(bytes.readBigInt64LE(valueAt));
    }
    at = next;
  }
  return undefined;
}

/** `{fragment, of}` (int32 or int64 numbers); undefined when it is not that. */
function readSplit(bytes: Buffer, start: number): EventHeader['split'] {
  let fragment: number | undefined;
  let of: number | undefined;
  for (const { name, type, at } of elementsOf(bytes, start)) {
    const value =
      type === 0x10
        ? bytes.readInt32LE(at)
        : type === 0x12
          ? Number(bytes.readBigInt64LE(at))
          : undefined;
    if (name === 'fragment') fragment = value;
    if (name === 'of') of = value;
  }
  return fragment === undefined || of === undefined ? undefined : { fragment, of };
}

/** One top-level element of a BSON document: its name, type, and where its bytes lie. */
export interface Element {
  name: string;
  type: number;
  /** Where the element starts (its type byte). */
  from: number;
  /** Where its value starts. */
  at: number;
  /** Where it ends (exclusive). */
  to: number;
}

/** The top-level elements of the document at `start`, bounds-checked; values are not decoded. */
export function elementsOf(bytes: Buffer, start: number): Element[] {
  const end = documentEnd(bytes, start);
  const elements: Element[] = [];
  let from = start + 4;
  while (from < end - 1) {
    const type = bytes[from] as number;
    const nameEnd = cstringEnd(bytes, from + 1, end);
    const to = valueEnd(bytes, type, nameEnd + 1, end);
    const name = bytes.toString('utf8', from + 1, nameEnd);
    elements.push({ name, type, from, at: nameEnd + 1, to });
    from = to;
  }
  return elements;
}

/** The resume token in an `_id` document: `_data` (string) and `_typeBits` (binary), if any. */
function readToken(bytes: Buffer, start: number): ResumeToken | undefined {
  let data: string | undefined;
  let typeBits: Binary | undefined;
  for (const { name, type, at, to } of elementsOf(bytes, start)) {
    if (name === '_data' && type === 0x02) data = bytes.toString('utf8', at + 4, to - 1);
    if (name === '_typeBits' && type === 0x05) {
      typeBits = new Binary(Uint8Array.prototype.slice.call(bytes, at + 5, to), bytes[at + 4]);
    }
  }
  if (data === undefined) return undefined;
  return typeBits === undefined ? { _data: data } : { _data: data, _typeBits: typeBits };
}

/** A decoded `_id` / PBRT value as a ResumeToken (undefined when it is not one). */
export function tokenOf(value: unknown): ResumeToken | undefined {
  if (typeof value !== 'object' || value === null || !('_data' in value)) return undefined;
  const { _data: data, _typeBits: typeBits } = value as { _data: unknown; _typeBits?: unknown };
  if (typeof data !== 'string') return undefined;
  // By tag, not instanceof: the driver's CommonJS bson build makes other classes than ours.
  const isBinary =
    typeof typeBits === 'object' &&
    typeBits !== null &&
    (typeBits as { _bsontype?: unknown })._bsontype === 'Binary';
  return isBinary ? { _data: data, _typeBits: typeBits as Binary } : { _data: data };
}

/** The end (exclusive) of the document at `start`, checked against the buffer. */
export function documentEnd(bytes: Buffer, start: number): number {
  if (start + 5 > bytes.length) throw malformed('a document runs past the reply');
  const length = bytes.readInt32LE(start);
  const end = start + length;
  if (length < 5 || end > bytes.length || bytes[end - 1] !== 0) {
    throw malformed('a document length does not fit');
  }
  return end;
}

/** Whether the field name at `at` is `name` (ASCII; the caller checked the length). */
function nameIs(bytes: Buffer, at: number, name: string): boolean {
  for (let k = 0; k < name.length; k += 1) {
    if (bytes[at + k] !== name.charCodeAt(k)) return false;
  }
  return true;
}

function cstringEnd(bytes: Buffer, start: number, end: number): number {
  const nul = bytes.indexOf(0, start);
  if (nul < 0 || nul >= end) throw malformed('a field name runs past its document');
  return nul;
}

/** Where the value of an element of `type` that starts at `at` ends. */
function valueEnd(bytes: Buffer, type: number, at: number, end: number): number {
  let next: number;
  switch (type) {
    case 0x01: // double
    case 0x09: // date
    case 0x11: // timestamp
    case 0x12: // int64
      next = at + 8;
      break;
    case 0x02: // string
    case 0x0d: // code
    case 0x0e: // symbol
      next = at + 4 + readLength(bytes, at, end);
      break;
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      next = at + readLength(bytes, at, end);
      break;
    case 0x05: // binary: length, subtype, bytes
      next = at + 5 + readLength(bytes, at, end);
      break;
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // max key
    case 0xff: // min key
      next = at;
      break;
    case 0x07: // ObjectId
      next = at + 12;
      break;
    case 0x08: // boolean
      next = at + 1;
      break;
    case 0x0b: // regex: two C strings
      next = cstringEnd(bytes, cstringEnd(bytes, at, end) + 1, end) + 1;
      break;
    case 0x0c: // DBPointer: string, ObjectId
      next = at + 4 + readLength(bytes, at, end) + 12;
      break;
    case 0x10: // int32
      next = at + 4;
      break;
    case 0x13: // decimal128
      next = at + 16;
      break;
    default:
      throw malformed(`unknown BSON type 0x${type.toString(16)}`);
  }
  if (next > end - 1) throw malformed('a value runs past its document');
  return next;
}

function readLength(bytes: Buffer, at: number, end: number): number {
  if (at + 4 > end) throw malformed('a value runs past its document');
  const length = bytes.readInt32LE(at);
  if (length < 0) throw malformed('a negative length');
  return length;
}
