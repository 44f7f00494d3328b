// The raw-batch client: the server's headroom. A minimal OP_MSG client over a raw socket
// (framing and request encoding from test/server/wire.ts) that runs `aggregate` with
// `$changeStream` and then `getMore` until it has N events. It decodes no event: it walks the
// top-level elements of the reply to find the batch array and counts the array's elements by
// their length prefixes, then prints one empty line per event (so the bench counts lines for
// every contender alike).
//   node --import ./test/register.mjs scripts/bench/raw-batches.ts URI DB COLL TOKEN N [--check-end]
// --check-end: after N events, one more getMore must come back empty (checks a preload).
import * as net from 'node:net';
import { type Document, EJSON, Long, deserialize } from 'bson';
import { FrameReader, OP_MSG, encodeOpMsg } from '../../test/server/wire.js';

/** The first host of a mongodb:// connection string (no auth, no SRV: this client is minimal). */
function firstHost(uri: string): { host: string; port: number } {
  const m = /^mongodb:\/\/([^/?]+)/.exec(uri);
  if (!m || m[1]!.includes('@')) {
    throw new Error('the raw client takes mongodb://host:port URIs without credentials');
  }
  const first = m[1]!.split(',')[0]!;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(first);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 27017) };
  const [host, port] = first.split(':');
  return { host: host!, port: Number(port ?? 27017) };
}

/** Bytes taken by a BSON value of `type` at `at` (the value only, not the type or name). */
function valueSize(buf: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x01: // double
    case 0x09: // date
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // code
    case 0x0e: // symbol
      return 4 + buf.readInt32LE(at);
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      return buf.readInt32LE(at);
    case 0x05: // binary
      return 5 + buf.readInt32LE(at);
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // maxKey
    case 0xff: // minKey
      return 0;
    case 0x07: // ObjectId
      return 12;
    case 0x08: // bool
      return 1;
    case 0x0b: {
      // regex: two cstrings
      const end = buf.indexOf(0, buf.indexOf(0, at) + 1);
      return end + 1 - at;
    }
    case 0x0c: // DBPointer
      return 4 + buf.readInt32LE(at) + 12;
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      throw new Error(`unknown BSON type 0x${type.toString(16)}`);
  }
}

interface Element {
  name: string;
  type: number;
  /** Offset of the value. */
  at: number;
  size: number;
}

/** The top-level elements of the document at `start` (names decoded, values not). */
function* elements(buf: Buffer, start: number): Generator<Element> {
  const end = start + buf.readInt32LE(start) - 1; // the trailing 0x00
  let at = start + 4;
  while (at < end) {
    const type = buf[at]!;
    const zero = buf.indexOf(0, at + 1);
    const name = buf.toString('latin1', at + 1, zero);
    const valueAt = zero + 1;
    const size = valueSize(buf, type, valueAt);
    yield { name, type, at: valueAt, size };
    at = valueAt + size;
  }
}

/** How many elements the embedded array at `at` holds (skipped by their sizes, not decoded). */
function countElements(buf: Buffer, at: number): number {
  let n = 0;
  for (const _ of elements(buf, at)) n++;
  return n;
}

interface CursorReply {
  id: Long;
  events: number;
}

/** Reads `{ok, cursor: {firstBatch|nextBatch, id}}` out of an OP_MSG reply without decoding events. */
function readCursorReply(msg: Buffer): CursorReply {
  const opCode = msg.readInt32LE(12);
  // header (16), flagBits (4), section kind 0 (1), then the body.
  if (opCode !== OP_MSG || msg[20] !== 0) throw new Error('unexpected reply');
  const bodyAt = 21;
  let ok = 0;
  let cursorAt: number | undefined;
  for (const e of elements(msg, bodyAt)) {
    if (e.name === 'ok') ok = e.type === 0x01 ? msg.readDoubleLE(e.at) : msg.readInt32LE(e.at);
    if (e.name === 'cursor' && e.type === 0x03) cursorAt = e.at;
  }
  if (ok !== 1 || cursorAt === undefined) {
    const body = deserialize(msg.subarray(bodyAt, bodyAt + msg.readInt32LE(bodyAt)));
    throw new Error(`server error: ${String(body.errmsg ?? JSON.stringify(body))}`);
  }
  let id = Long.ZERO;
  let events = 0;
  for (const e of elements(msg, cursorAt)) {
    if (e.name === 'id' && e.type === 0x12) id = Long.fromBigInt(msg.readBigInt64LE(e.at));
    if ((e.name === 'firstBatch' || e.name === 'nextBatch') && e.type === 0x04) {
      events = countElements(msg, e.at);
    }
  }
  return { id, events };
}

/** One connection: send a command, get the raw reply bytes. */
class RawConnection {
  private readonly reader = new FrameReader(Number.MAX_SAFE_INTEGER);
  private readonly waiting: ((msg: Buffer) => void)[] = [];
  private failure: Error | undefined;
  private requestId = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) this.waiting.shift()?.(frame);
    });
    const fail = (error?: Error): void => {
      this.failure ??= error ?? new Error('the server closed the connection');
      for (const w of this.waiting.splice(0)) w(Buffer.alloc(0));
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  command(body: Document): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push((msg) => (msg.length === 0 ? reject(this.failure) : resolve(msg)));
      this.socket.write(encodeOpMsg({ requestID: ++this.requestId, body }));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Writes `n` newlines to stdout, waiting for the pipe when it is full. */
async function printLines(n: number): Promise<void> {
  if (n === 0) return;
  if (!process.stdout.write(Buffer.alloc(n, 0x0a))) {
    await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}

async function main(argv: string[]): Promise<void> {
  const [uri, db, coll, tokenJson, limitText] = argv;
  const checkEnd = argv.includes('--check-end');
  if (!uri || !db || !coll || !tokenJson || !limitText) {
    throw new Error('usage: raw-batches.ts URI DB COLL TOKEN N [--check-end]');
  }
  const limit = Number(limitText);
  const token = EJSON.parse(tokenJson, { relaxed: false }) as Document;
  const { host, port } = firstHost(uri);
  const conn = await RawConnection.open(host, port);
  try {
    let reply = readCursorReply(
      await conn.command({
        aggregate: coll,
        pipeline: [{ $changeStream: { resumeAfter: token } }],
        cursor: {},
        $db: db,
      }),
    );
    let seen = 0;
    for (;;) {
      const take = Math.min(reply.events, limit - seen);
      await printLines(take);
      seen += reply.events;
      if (seen >= limit) break;
      if (reply.id.isZero()) throw new Error(`the cursor closed after ${seen} of ${limit} events`);
      reply = readCursorReply(await conn.command({ getMore: reply.id, collection: coll, $db: db }));
    }
    if (checkEnd && seen === limit && !reply.id.isZero()) {
      const more = await conn.command({
        getMore: reply.id,
        collection: coll,
        maxTimeMS: 300,
        $db: db,
      });
      seen += readCursorReply(more).events;
    }
    if (checkEnd && seen !== limit)
      throw new Error(`expected ${limit} events, the stream has ${seen}`);
    if (!reply.id.isZero()) await conn.command({ killCursors: coll, cursors: [reply.id], $db: db });
  } finally {
    conn.close();
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`raw-batches: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
