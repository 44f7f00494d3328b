// The MongoDB wire protocol as bytes ⇄ messages, with no sockets and no knowledge of commands.
// Clients open with OP_QUERY (the legacy handshake, answered with OP_REPLY) and then speak
// OP_MSG. We never advertise compression, so OP_COMPRESSED never arrives from a well-behaved
// client. https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
import { type Document, deserialize, serialize } from 'bson';
import { crc32c } from './crc32c.js';
import {
  type BsonPieces,
  bsonPieces,
  holdsRawBson,
  serializeWithRaw,
  writePieces,
} from './change-stream/raw-bson.js';
import { EXACT } from './values.js';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

/** The largest message a client may send, as `maxMessageSizeBytes` advertises. */
export const MAX_MESSAGE_SIZE = 48_000_000;
const HEADER_SIZE = 16;

/** OP_MSG flag bits. */
export const CHECKSUM_PRESENT = 0x1;
export const MORE_TO_COME = 0x2;
export const EXHAUST_ALLOWED = 0x10000;
// Bits 0–15 are "required": a receiver must reject ones it does not know.
const KNOWN_REQUIRED_FLAGS = CHECKSUM_PRESENT | MORE_TO_COME;

export interface MessageHeader {
  messageLength: number;
  requestID: number;
  responseTo: number;
  opCode: number;
}

export interface OpMsg {
  opCode: typeof OP_MSG;
  header: MessageHeader;
  flagBits: number;
  /** The kind-0 body with every kind-1 sequence merged in under its identifier. */
  body: Document;
  /** The identifiers of the kind-1 sections, in order (kept for tests and diagnostics). */
  sequenceIds: string[];
}

export interface OpQuery {
  opCode: typeof OP_QUERY;
  header: MessageHeader;
  flags: number;
  fullCollectionName: string;
  numberToSkip: number;
  numberToReturn: number;
  query: Document;
  returnFieldsSelector?: Document;
}

export interface OpReply {
  opCode: typeof OP_REPLY;
  header: MessageHeader;
  responseFlags: number;
  cursorId: bigint;
  startingFrom: number;
  documents: Document[];
}

export type Message = OpMsg | OpQuery | OpReply;

/**
 * A malformed message. `code`/`codeName` are what a real server reports; `fatal` means the
 * byte stream can no longer be trusted and the connection must close without a reply.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}

/** Reads the 16-byte header at the start of `buf`. */
export function readHeader(buf: Buffer): MessageHeader {
  if (buf.length < HEADER_SIZE)
    throw new ProtocolError(17, 'ProtocolError', 'message too short', true);
  return {
    messageLength: buf.readInt32LE(0),
    requestID: buf.readInt32LE(4),
    responseTo: buf.readInt32LE(8),
    opCode: buf.readInt32LE(12),
  };
}

/** Parses one whole message (`buf` holds exactly `messageLength` bytes). */
export function parseMessage(buf: Buffer): Message {
  const header = readHeader(buf);
  if (header.messageLength !== buf.length) {
    throw new ProtocolError(17, 'ProtocolError', 'message length does not match its header', true);
  }
  switch (header.opCode) {
    case OP_MSG:
      return parseOpMsg(buf, header);
    case OP_QUERY:
      return parseOpQuery(buf, header);
    case OP_REPLY:
      return parseOpReply(buf, header);
    default:
      throw new ProtocolError(17, 'ProtocolError', `unsupported opCode ${header.opCode}`, true);
  }
}

/** Reads one BSON document at `offset`; returns it and the offset just past it. */
function readDocument(buf: Buffer, offset: number, end: number): [Document, number] {
  if (offset + 5 > end) throw new ProtocolError(22, 'InvalidBSON', 'truncated BSON document');
  const size = buf.readInt32LE(offset);
  if (size < 5 || offset + size > end) {
    throw new ProtocolError(22, 'InvalidBSON', 'BSON document size out of bounds');
  }
  try {
    return [deserialize(buf.subarray(offset, offset + size), EXACT), offset + size];
  } catch (err) {
    throw new ProtocolError(22, 'InvalidBSON', `invalid BSON: ${(err as Error).message}`);
  }
}

function readCString(buf: Buffer, offset: number, end: number): [string, number] {
  const zero = buf.indexOf(0, offset);
  if (zero < 0 || zero >= end) throw new ProtocolError(17, 'ProtocolError', 'unterminated cstring');
  return [buf.toString('utf8', offset, zero), zero + 1];
}

function parseOpMsg(buf: Buffer, header: MessageHeader): OpMsg {
  if (buf.length < HEADER_SIZE + 5) {
    throw new ProtocolError(17, 'ProtocolError', 'OP_MSG too short', true);
  }
  const flagBits = buf.readUInt32LE(HEADER_SIZE);
  const unknown = flagBits & 0xffff & ~KNOWN_REQUIRED_FLAGS;
  if (unknown !== 0) {
    throw new ProtocolError(
      223,
      'IllegalOpMsgFlag',
      `Unrecognized flags in OP_MSG message: 0x${unknown.toString(16)}`,
    );
  }
  let end = buf.length;
  if (flagBits & CHECKSUM_PRESENT) {
    end -= 4;
    if (end < HEADER_SIZE + 4)
      throw new ProtocolError(17, 'ProtocolError', 'OP_MSG too short', true);
    const expected = buf.readUInt32LE(end);
    if (crc32c(buf.subarray(0, end)) !== expected) {
      throw new ProtocolError(288, 'ChecksumMismatch', 'OP_MSG checksum does not match contents');
    }
  }
  let body: Document | undefined;
  const sequences: [string, Document[]][] = [];
  let offset = HEADER_SIZE + 4;
  while (offset < end) {
    const kind = buf[offset++];
    if (kind === 0) {
      if (body)
        throw new ProtocolError(40430, 'Location40430', 'Multiple body sections in message');
      [body, offset] = readDocument(buf, offset, end);
    } else if (kind === 1) {
      if (offset + 4 > end) throw new ProtocolError(17, 'ProtocolError', 'truncated sequence');
      const size = buf.readInt32LE(offset);
      const seqEnd = offset + size;
      if (size < 5 || seqEnd > end) {
        throw new ProtocolError(17, 'ProtocolError', 'document sequence size out of bounds');
      }
      let id: string;
      [id, offset] = readCString(buf, offset + 4, seqEnd);
      const docs: Document[] = [];
      while (offset < seqEnd) {
        let doc: Document;
        [doc, offset] = readDocument(buf, offset, seqEnd);
        docs.push(doc);
      }
      sequences.push([id, docs]);
    } else {
      throw new ProtocolError(40432, 'Location40432', `Unknown section kind ${String(kind)}`);
    }
  }
  if (!body) throw new ProtocolError(40587, 'Location40587', 'OP_MSG messages must have a body');
  for (const [id, docs] of sequences) {
    if (Object.prototype.hasOwnProperty.call(body, id)) {
      throw new ProtocolError(40433, 'Location40433', `Duplicate field name in OP_MSG: ${id}`);
    }
    body[id] = docs;
  }
  return { opCode: OP_MSG, header, flagBits, body, sequenceIds: sequences.map(([id]) => id) };
}

function parseOpQuery(buf: Buffer, header: MessageHeader): OpQuery {
  const end = buf.length;
  let offset = HEADER_SIZE;
  if (offset + 4 > end) throw new ProtocolError(17, 'ProtocolError', 'OP_QUERY too short', true);
  const flags = buf.readInt32LE(offset);
  const [fullCollectionName, afterName] = readCString(buf, offset + 4, end);
  offset = afterName;
  if (offset + 8 > end) throw new ProtocolError(17, 'ProtocolError', 'OP_QUERY too short', true);
  const numberToSkip = buf.readInt32LE(offset);
  const numberToReturn = buf.readInt32LE(offset + 4);
  const [query, afterQuery] = readDocument(buf, offset + 8, end);
  offset = afterQuery;
  const msg: OpQuery = {
    opCode: OP_QUERY,
    header,
    flags,
    fullCollectionName,
    numberToSkip,
    numberToReturn,
    query,
  };
  if (offset < end) [msg.returnFieldsSelector] = readDocument(buf, offset, end);
  return msg;
}

function parseOpReply(buf: Buffer, header: MessageHeader): OpReply {
  const end = buf.length;
  if (end < HEADER_SIZE + 20)
    throw new ProtocolError(17, 'ProtocolError', 'OP_REPLY too short', true);
  const responseFlags = buf.readInt32LE(HEADER_SIZE);
  const cursorId = buf.readBigInt64LE(HEADER_SIZE + 4);
  const startingFrom = buf.readInt32LE(HEADER_SIZE + 12);
  const numberReturned = buf.readInt32LE(HEADER_SIZE + 16);
  const documents: Document[] = [];
  let offset = HEADER_SIZE + 20;
  for (let i = 0; i < numberReturned; i++) {
    let doc: Document;
    [doc, offset] = readDocument(buf, offset, end);
    documents.push(doc);
  }
  return { opCode: OP_REPLY, header, responseFlags, cursorId, startingFrom, documents };
}

// ---------------------------------------------------------------- encoding

/**
 * Reply and request documents are serialized alike; `undefined` fields are dropped. A reply may
 * carry a batch that is BSON already (a change stream's events): its bytes are spliced in.
 */
function bsonBytes(doc: Document): Uint8Array {
  return holdsRawBson(doc) ? serializeWithRaw(doc) : plainBytes(doc);
}

function plainBytes(doc: Document): Uint8Array {
  return serialize(doc, { ignoreUndefined: true });
}

function header(length: number, requestID: number, responseTo: number, opCode: number): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(requestID, 4);
  buf.writeInt32LE(responseTo, 8);
  buf.writeInt32LE(opCode, 12);
  return buf;
}

export interface OpMsgInit {
  requestID: number;
  responseTo?: number;
  flagBits?: number;
  body: Document;
  /** Kind-1 sections: identifier → documents. */
  sequences?: Record<string, Document[]>;
  /** Append a CRC-32C and set `checksumPresent`. */
  checksum?: boolean;
}

/** Builds an OP_MSG: one kind-0 body, then any kind-1 sequences, then an optional checksum. */
export function encodeOpMsg(init: OpMsgInit): Buffer {
  const flagBits = ((init.flagBits ?? 0) | (init.checksum ? CHECKSUM_PRESENT : 0)) >>> 0;
  // A body holding a ready-made batch is written piece by piece straight into the message.
  const body: BsonPieces = holdsRawBson(init.body)
    ? bsonPieces(init.body)
    : wholeDocument(plainBytes(init.body));
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(flagBits, 0);
  const parts: BsonPieces['pieces'] = [flags, Buffer.from([0]), ...body.pieces];
  let bodyLength = flags.length + 1 + body.byteLength;
  for (const [id, docs] of Object.entries(init.sequences ?? {})) {
    const name = Buffer.from(`${id}\0`, 'utf8');
    const encoded = docs.map(bsonBytes);
    const size = 4 + name.length + encoded.reduce((n, d) => n + d.length, 0);
    const sizeBuf = Buffer.alloc(4);
    sizeBuf.writeInt32LE(size, 0);
    parts.push(Buffer.from([1]), sizeBuf, name, ...encoded);
    bodyLength += 1 + size;
  }
  const length = HEADER_SIZE + bodyLength + (init.checksum ? 4 : 0);
  const msg = Buffer.allocUnsafe(length);
  header(length, init.requestID, init.responseTo ?? 0, OP_MSG).copy(msg, 0);
  writePieces(parts, msg, HEADER_SIZE);
  if (init.checksum) msg.writeUInt32LE(crc32c(msg.subarray(0, length - 4)), length - 4);
  return msg;
}

function wholeDocument(bytes: Uint8Array): BsonPieces {
  return { pieces: [bytes], byteLength: bytes.length };
}

export interface OpReplyInit {
  requestID: number;
  responseTo: number;
  documents: Document[];
  responseFlags?: number;
  cursorId?: bigint;
  startingFrom?: number;
}

/** Builds an OP_REPLY, the answer to the OP_QUERY handshake. */
export function encodeOpReply(init: OpReplyInit): Buffer {
  const docs = init.documents.map(bsonBytes);
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(init.responseFlags ?? 0, 0);
  fixed.writeBigInt64LE(init.cursorId ?? 0n, 4);
  fixed.writeInt32LE(init.startingFrom ?? 0, 12);
  fixed.writeInt32LE(docs.length, 16);
  const length = HEADER_SIZE + 20 + docs.reduce((n, d) => n + d.length, 0);
  return Buffer.concat(
    [header(length, init.requestID, init.responseTo, OP_REPLY), fixed, ...docs],
    length,
  );
}

export interface OpQueryInit {
  requestID: number;
  fullCollectionName: string;
  query: Document;
  flags?: number;
  numberToSkip?: number;
  numberToReturn?: number;
}

/** Builds an OP_QUERY (what clients send first); used by tests and tools. */
export function encodeOpQuery(init: OpQueryInit): Buffer {
  const name = Buffer.from(`${init.fullCollectionName}\0`, 'utf8');
  const flags = Buffer.alloc(4);
  flags.writeInt32LE(init.flags ?? 0, 0);
  const counts = Buffer.alloc(8);
  counts.writeInt32LE(init.numberToSkip ?? 0, 0);
  counts.writeInt32LE(init.numberToReturn ?? -1, 4);
  const query = bsonBytes(init.query);
  const length = HEADER_SIZE + 4 + name.length + 8 + query.length;
  return Buffer.concat(
    [header(length, init.requestID, 0, OP_QUERY), flags, name, counts, query],
    length,
  );
}

// ---------------------------------------------------------------- framing

/**
 * Cuts a byte stream into whole messages. Chunks are kept as a list and joined only once a
 * message is complete, so a 20 MB message arriving in 64 KB pieces is copied once, not 300 times.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxMessageSize = MAX_MESSAGE_SIZE) {}

  /** Adds bytes; returns every message now complete. Throws a fatal `ProtocolError` on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const length = this.peekLength();
      if (length < HEADER_SIZE || length > this.maxMessageSize) {
        throw new ProtocolError(
          10334,
          'BSONObjectTooLarge',
          `message length ${length} is outside [${HEADER_SIZE}, ${this.maxMessageSize}]`,
          true,
        );
      }
      if (this.buffered < length) break;
      out.push(this.take(length));
    }
    return out;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readInt32LE(0);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readInt32LE(0);
  }

  private take(length: number): Buffer {
    const first = this.chunks[0]!;
    let msg: Buffer;
    if (first.length >= length) {
      msg = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      msg = joined.subarray(0, length);
      this.chunks = joined.length > length ? [joined.subarray(length)] : [];
    }
    this.buffered -= length;
    return msg;
  }
}
