// Server-side cursors: the registry shared by query and change-stream cursors, the query cursor
// that find / aggregate / listCollections / listIndexes return, and getMore / killCursors.
import { createHash, randomBytes } from 'node:crypto';
import { Binary, type Document, Long, calculateObjectSize } from 'bson';
import { ServerError, fail } from '../errors.js';
import type { CommandContext, CommandHandler, CursorRegistry, ServerCursor } from '../types.js';
import { bsonType, isDocument, toNumber } from '../values.js';

/** Every open cursor of the server, by id. */
export class Cursors implements CursorRegistry {
  private readonly byId = new Map<string, ServerCursor>();

  nextId(): Long {
    for (;;) {
      // Random positive Int64s, as a real server hands out (never 0: that means "exhausted").
      const bytes = randomBytes(8);
      bytes[7] = (bytes[7] as number) & 0x7f;
      const id = Long.fromBytesLE([...bytes]);
      if (!id.isZero() && !this.byId.has(id.toString())) return id;
    }
  }

  add(cursor: ServerCursor): void {
    this.byId.set(cursor.id.toString(), cursor);
  }

  get(id: Long): ServerCursor | undefined {
    return this.byId.get(id.toString());
  }

  remove(id: Long): boolean {
    return this.byId.delete(id.toString());
  }

  /** Every open cursor (a step-down kills the change streams among them). */
  list(): ServerCursor[] {
    return [...this.byId.values()];
  }

  /** How many cursors are open (for tests). */
  get size(): number {
    return this.byId.size;
  }
}

/** A reply batch may hold at most this many bytes of documents (MongoDB's 16 MiB). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** First batches hold 101 documents unless the client asks otherwise. */
export const DEFAULT_FIRST_BATCH = 101;

/** Takes the next batch: at most `limit` documents (0 = no count limit) and 16 MiB, but never none when some remain and a limit allows one. */
function takeBatch(docs: Document[], start: number, limit: number): Document[] {
  const out: Document[] = [];
  let bytes = 0;
  for (let i = start; i < docs.length; i++) {
    if (limit > 0 && out.length >= limit) break;
    const doc = docs[i] as Document;
    const size = calculateObjectSize(doc);
    if (out.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
    out.push(doc);
    bytes += size;
  }
  return out;
}

/** Reads a `batchSize` argument: undefined when absent, else a non-negative integer. */
export function readBatchSize(v: unknown, field = 'batchSize'): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n)) {
    fail(14, `Field '${field}' should be a number, not ${bsonType(v)}`);
  }
  if (n < 0) fail(51024, `BSON field '${field}' value must be >= 0, actual value '${n}'`);
  return n;
}

/** The documents of a finished query, handed out in batches. */
export class QueryCursor implements ServerCursor {
  readonly isChangeStream = false;
  private killed = false;

  /**
   * `lsid`: the session of the command that opened the cursor, null without one; getMores must
   * come from it (validateLSID, src/mongo/db/commands/getmore_cmd.cpp: every ClientCursor keeps
   * its opening operation's session).
   */
  constructor(
    readonly id: Long,
    readonly ns: string,
    private readonly docs: Document[],
    private pos: number,
    readonly lsid: Document | null = null,
  ) {}

  get remaining(): number {
    return this.docs.length - this.pos;
  }

  async getMore(cmd: Document): Promise<Document> {
    await Promise.resolve();
    if (this.killed) fail(43, `cursor id ${this.id.toString()} not found`);
    const batch = takeBatch(this.docs, this.pos, readBatchSize(cmd.batchSize) ?? 0);
    this.pos += batch.length;
    const done = this.pos >= this.docs.length;
    return { cursor: { nextBatch: batch, id: done ? Long.ZERO : this.id, ns: this.ns }, ok: 1 };
  }

  kill(): void {
    this.killed = true;
  }
}

/**
 * The reply to a command that opens a query cursor (`find`, `aggregate`, list commands): the
 * first batch, and a registered cursor when documents remain (unless `singleBatch`). `lsid` is
 * the command's own (`cmd.lsid`): the cursor belongs to that session.
 */
export function cursorReply(
  ctx: CommandContext,
  ns: string,
  docs: Document[],
  opts: { batchSize?: number; singleBatch?: boolean; lsid?: unknown } = {},
): Document {
  const limit = opts.batchSize ?? DEFAULT_FIRST_BATCH;
  // batchSize 0 on the first batch means "open the cursor, return nothing yet".
  const firstBatch = limit === 0 ? [] : takeBatch(docs, 0, limit);
  let id = Long.ZERO;
  if (!opts.singleBatch && firstBatch.length < docs.length) {
    id = ctx.server.cursors.nextId();
    const lsid = isDocument(opts.lsid) ? opts.lsid : null;
    ctx.server.cursors.add(new QueryCursor(id, ns, docs, firstBatch.length, lsid));
  }
  return { cursor: { firstBatch, id, ns }, ok: 1 };
}

function readCursorId(v: unknown, field: string): Long {
  if (v instanceof Long) return v;
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n) || bsonType(v) === 'bool') {
    fail(14, `BSON field '${field}' is the wrong type '${bsonType(v)}', expected type 'long'`);
  }
  return Long.fromNumber(n);
}

/**
 * The session a cursor was opened in: `null` when it was opened without one, `undefined` when
 * the cursor does not say, which this server then does not check.
 */
function sessionOf(cursor: object): Document | null | undefined {
  const lsid: unknown = (cursor as { lsid?: unknown }).lsid;
  if (lsid === null) return null;
  return typeof lsid === 'object' && lsid !== undefined ? (lsid as Document) : undefined;
}

function lsidBytes(lsid: Document): string {
  const id: unknown = lsid.id;
  return id instanceof Binary
    ? Buffer.from(id.buffer.subarray(0, id.position)).toString('hex')
    : '';
}

/** sha256 of no user: the `uid` a server without authentication gives every session. */
const NO_AUTH_UID = createHash('sha256').update('').digest('base64');

/**
 * A LogicalSessionId as mongod prints it: `<id> - <uid> - <txnNumber> - <txnUUID>` (the last two
 * empty for client sessions), e.g. "2926eea5-… - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= -  - ".
 */
function printLsid(lsid: Document): string {
  const id: unknown = lsid.id;
  const hex = id instanceof Binary ? lsidBytes(lsid) : '';
  const uuid =
    hex.length === 32
      ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
      : hex;
  const uid: unknown = lsid.uid;
  const uidText =
    uid instanceof Binary
      ? Buffer.from(uid.buffer.subarray(0, uid.position)).toString('base64')
      : NO_AUTH_UID;
  return `${uuid} - ${uidText} -  - `;
}

/**
 * validateLSID (src/mongo/db/commands/getmore_cmd.cpp): a getMore must run in the session the
 * cursor was opened in. It runs when the cursor is pinned, before the namespace check, and a
 * failure leaves the cursor open.
 */
function checkSession(id: Long, cursor: object, cmd: Document): void {
  const owner = sessionOf(cursor);
  if (owner === undefined) return;
  const raw: unknown = cmd.lsid;
  const mine = typeof raw === 'object' && raw !== null ? (raw as Document) : null;
  const cursorId = id.toString();
  if (mine && !owner) {
    fail(
      50736,
      `Cannot run getMore on cursor ${cursorId}, which was not created in a session, in session ${printLsid(mine)}`,
    );
  }
  if (!mine && owner) {
    fail(
      50737,
      `Cannot run getMore on cursor ${cursorId}, which was created in session ${printLsid(owner)}, without an lsid`,
    );
  }
  if (mine && owner && lsidBytes(mine) !== lsidBytes(owner)) {
    fail(
      50738,
      `Cannot run getMore on cursor ${cursorId}, which was created in session ${printLsid(owner)}, in session ${printLsid(mine)}`,
    );
  }
}

/**
 * getMore's `maxTimeMS` and `batchSize` are safeInt64s (src/mongo/db/query/getmore_command.idl):
 * any number, anything else a TypeMismatch from the IDL parser.
 */
function checkSafeInt64(v: unknown, field: string): void {
  if (v === undefined) return;
  const n = toNumber(v);
  if (n === undefined || bsonType(v) === 'bool') {
    fail(
      14,
      `BSON field 'getMore.${field}' is the wrong type '${bsonType(v)}', expected types '[long, int, decimal, double]'`,
    );
  }
}

/** `getMore` and `killCursors`. */
export const cursorCommands: Record<string, CommandHandler> = {
  async getMore(cmd, ctx) {
    const id = readCursorId(cmd.getMore, 'getMore');
    if (cmd.collection === undefined || cmd.collection === '') {
      fail(40414, "BSON field 'getMore.collection' is missing but a required field");
    }
    // `collection: string` in getmore_command.idl: the IDL parser's TypeMismatch.
    if (typeof cmd.collection !== 'string') {
      fail(
        14,
        `BSON field 'getMore.collection' is the wrong type '${bsonType(cmd.collection)}', expected type 'string'`,
      );
    }
    const cursors = ctx.server.cursors;
    checkSafeInt64(cmd.batchSize, 'batchSize');
    checkSafeInt64(cmd.maxTimeMS, 'maxTimeMS');
    const cursor = cursors.get(id);
    if (!cursor) fail(43, `cursor id ${id.toString()} not found`);
    checkSession(id, cursor, cmd);
    const ns = `${ctx.db}.${cmd.collection}`;
    if (cursor.ns !== ns) {
      fail(
        13,
        `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${cursor.ns}`,
      );
    }
    // Only an awaitData cursor (here: a change stream) takes a maxTimeMS; the cursor stays open
    // (validateMaxTimeMS, src/mongo/db/commands/getmore_cmd.cpp, runs before the cursor deleter
    // is armed).
    if (cmd.maxTimeMS !== undefined && !cursor.isChangeStream) {
      fail(2, 'cannot set maxTimeMS on getMore command for a non-awaitData cursor');
    }
    let reply: Document;
    try {
      reply = await cursor.getMore(cmd, ctx);
    } catch (e) {
      // A failed getMore ends the cursor on a real server too.
      if (e instanceof ServerError) {
        cursor.kill();
        cursors.remove(id);
      }
      throw e;
    }
    const replyId = (reply.cursor as Document | undefined)?.id;
    if (replyId instanceof Long && replyId.isZero()) cursors.remove(id);
    return reply;
  },

  killCursors(cmd, ctx) {
    if (!Array.isArray(cmd.cursors)) {
      fail(40414, "BSON field 'killCursors.cursors' is missing but a required field");
    }
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const raw of cmd.cursors as unknown[]) {
      const id = readCursorId(raw, 'killCursors.cursors');
      const cursor = ctx.server.cursors.get(id);
      if (cursor) {
        cursor.kill();
        ctx.server.cursors.remove(id);
        killed.push(id);
      } else {
        notFound.push(id);
      }
    }
    return {
      cursorsKilled: killed,
      cursorsNotFound: notFound,
      cursorsAlive: [],
      cursorsUnknown: [],
      ok: 1,
    };
  },
};
