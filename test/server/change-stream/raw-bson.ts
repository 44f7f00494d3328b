// Documents that are already BSON, carried through a reply without being decoded or serialized
// again: a change-stream batch is the events' cached bytes, and the wire layer writes them, framed
// as one BSON array, straight into the reply message (one copy of each event, no intermediate
// 16 MiB buffers). Byte for byte what `serialize()` writes for the same documents.
import { type Document, deserialize, serialize } from 'bson';
import { EXACT } from '../values.js';

const TYPE_DOCUMENT = 0x03;
const TYPE_ARRAY = 0x04;

/** A BSON array of documents given as their BSON, framed when it is written. */
export class RawDocumentArray {
  /** Bytes of the array value: int32 length, `0x03 "<i>" 0 <doc>` per document, 0. */
  readonly byteLength: number;

  constructor(readonly docs: readonly Uint8Array[]) {
    let size = 4 + 1;
    for (let i = 0; i < docs.length; i++) {
      size += 1 + decimalDigits(i) + 1 + (docs[i] as Uint8Array).length;
    }
    this.byteLength = size;
  }

  /** How many documents it holds. */
  get length(): number {
    return this.docs.length;
  }

  /** Writes the array value at `at`; returns the offset after it. */
  writeTo(out: Uint8Array, at: number): number {
    const start = at;
    at += 4;
    const docs = this.docs;
    for (let i = 0; i < docs.length; i++) {
      const doc = docs[i] as Uint8Array;
      out[at++] = TYPE_DOCUMENT;
      // The key: i in decimal, written back to front.
      const digits = decimalDigits(i);
      for (let d = digits - 1, n = i; d >= 0; d--, n = Math.floor(n / 10)) {
        out[at + d] = 0x30 + (n % 10);
      }
      at += digits;
      out[at++] = 0;
      out.set(doc, at);
      at += doc.length;
    }
    out[at++] = 0;
    writeInt32(out, start, at - start);
    return at;
  }

  /** The array value as bytes. */
  toBytes(): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength);
    this.writeTo(out, 0);
    return out;
  }

  /** The documents, decoded with every BSON type kept (for tests and diagnostics). */
  documents(): Document[] {
    return this.docs.map((doc) => deserialize(doc, EXACT));
  }
}

function decimalDigits(n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  return digits;
}

function writeInt32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

/** A batch as documents, whether it is a plain array or a `RawDocumentArray`. */
export function batchDocuments(batch: unknown): Document[] {
  if (batch instanceof RawDocumentArray) return batch.documents();
  return batch as Document[];
}

function isPlainObject(v: unknown): v is Document {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Whether `doc` holds a `RawDocumentArray`, directly or in a nested plain document. */
export function holdsRawBson(doc: Document): boolean {
  for (const key of Object.keys(doc)) {
    const v: unknown = doc[key];
    if (v instanceof RawDocumentArray) return true;
    if (isPlainObject(v) && holdsRawBson(v)) return true;
  }
  return false;
}

/** A document to write: byte runs, and raw arrays written in place. */
export interface BsonPieces {
  pieces: (Uint8Array | RawDocumentArray)[];
  byteLength: number;
}

/**
 * A (reply) document that may hold `RawDocumentArray`s, as pieces to write: the arrays go in
 * as they are; every other field is serialized by the bson package, as `serialize()` would
 * (undefined fields dropped).
 */
export function bsonPieces(doc: Document): BsonPieces {
  const out: BsonPieces = { pieces: [], byteLength: 0 };
  addDocument(out, doc);
  return out;
}

function addDocument(out: BsonPieces, doc: Document): void {
  const lengthPiece = Buffer.allocUnsafe(4);
  out.pieces.push(lengthPiece);
  const start = out.byteLength;
  out.byteLength += 4;
  for (const key of Object.keys(doc)) {
    const v: unknown = doc[key];
    if (v === undefined) continue;
    const raw = v instanceof RawDocumentArray;
    if (raw || (isPlainObject(v) && holdsRawBson(v))) {
      if (key.includes('\0')) throw new Error(`key ${key} must not contain null bytes`);
      const name = Buffer.from(`\0${key}\0`, 'utf8');
      name[0] = raw ? TYPE_ARRAY : TYPE_DOCUMENT;
      out.pieces.push(name);
      out.byteLength += name.length;
      if (raw) {
        out.pieces.push(v);
        out.byteLength += v.byteLength;
      } else {
        addDocument(out, v as Document);
      }
    } else {
      // One element: the document `{key: v}` without its length prefix and final 0.
      const one = serialize({ [key]: v });
      const element = one.subarray(4, one.length - 1);
      out.pieces.push(element);
      out.byteLength += element.length;
    }
  }
  out.pieces.push(Buffer.from([0]));
  out.byteLength += 1;
  lengthPiece.writeInt32LE(out.byteLength - start, 0);
}

/** Writes `pieces` at `at`; returns the offset after them. */
export function writePieces(pieces: BsonPieces['pieces'], out: Buffer, at: number): number {
  for (const piece of pieces) {
    if (piece instanceof RawDocumentArray) {
      at = piece.writeTo(out, at);
    } else {
      out.set(piece, at);
      at += piece.length;
    }
  }
  return at;
}

/** `serialize()` for a document that may hold `RawDocumentArray`s. */
export function serializeWithRaw(doc: Document): Buffer {
  const { pieces, byteLength } = bsonPieces(doc);
  const out = Buffer.allocUnsafe(byteLength);
  writePieces(pieces, out, 0);
  return out;
}
