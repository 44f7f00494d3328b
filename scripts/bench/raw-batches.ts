// The raw-batch client: the server's headroom. A minimal OP_MSG client over a raw socket
// (framing and request encoding from test/server/wire.ts) that runs `aggregate` with
// `$changeStream` and then `getMore` until it has N events. It decodes no event: it walks the
// top-level elements of the reply to find the batch array and counts the array's elements by
// their length prefixes, then prints one empty line per event (so the bench counts lines for
// every contender alike).
//   node --import ./test/register.mjs scripts/bench/raw-batches.ts URI DB COLL TOKEN N [--check-end]
// --check-end: after N events, one more getMore must come back empty (checks a preload).
import * as net from 'node:net';
import type { Long } from 'bson';
import { type Document, EJSON, deserialize } from 'bson';
import { elementsOf, readCursor } from '../../src/source/batch.js';
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

interface CursorReply {
  id: Long;
  events: number;
}

/**
 * Reads `{ok, cursor: {firstBatch|nextBatch, id}}` out of an OP_MSG reply without decoding
 * events: they are counted by their length prefixes (mongo-tail's own reply reader).
 */
function readCursorReply(msg: Buffer): CursorReply {
  const opCode = msg.readInt32LE(12);
  // header (16), flagBits (4), section kind 0 (1), then the body.
  if (opCode !== OP_MSG || msg[20] !== 0) throw new Error('unexpected reply');
  const bodyAt = 21;
  const body = msg.subarray(bodyAt, bodyAt + msg.readInt32LE(bodyAt));
  const fields = elementsOf(body, 0);
  const ok = fields.find((e) => e.name === 'ok');
  const okValue =
    ok === undefined ? 0 : ok.type === 0x01 ? body.readDoubleLE(ok.at) : body.readInt32LE(ok.at);
  const cursor = fields.find((e) => e.name === 'cursor' && e.type === 0x03);
  if (okValue !== 1 || cursor === undefined) {
    const doc = deserialize(body);
    throw new Error(`server error: ${String(doc.errmsg ?? JSON.stringify(doc))}`);
  }
  const reply = readCursor(body.subarray(cursor.at, cursor.to));
  return { id: reply.id, events: reply.starts.length };
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
