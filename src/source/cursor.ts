// One server-side change-stream cursor, driven by hand over the driver's connections:
// `aggregate` opens it, `getMore` reads the next batch, `killCursors` lets it go.
//
// Replies come back raw (`raw: true` keeps the reply's `cursor` as BSON bytes) and are split
// into events without decoding them (./batch.ts), so exact BSON types survive for the
// formatters and the JSON formats never build JS objects for events. Error replies keep the
// driver's own decoding, so its server monitoring and failover logic see plain numeric codes.
import type { Document, Long } from 'bson';
import type { ClientSession, MongoClient } from 'mongodb';
import { ExitCode, TailError } from '../errors.js';
import { readCursor, type CursorReply } from './batch.js';

/** The options of the `getMore`s. */
export interface GetMoreOptions {
  batchSize?: number;
  maxAwaitTimeMS?: number;
}

/** An open cursor. It owns its session: every getMore and the kill use the same one. */
export class RawCursor {
  private constructor(
    private readonly client: MongoClient,
    readonly db: string,
    /** `getMore`'s `collection`: the part of the reply's `ns` after the database. */
    readonly collection: string,
    private readonly session: ClientSession,
    /** Zero once the server closed the cursor (only an invalidate does that). */
    public id: Long,
  ) {}

  /** Runs `command` (an aggregate with `$changeStream`) on `db`; the first batch comes with it. */
  static async open(
    client: MongoClient,
    db: string,
    command: Document,
  ): Promise<{ cursor: RawCursor; reply: CursorReply }> {
    // A cursor lives in the session that opened it: every getMore must use the same one.
    const session = client.startSession();
    try {
      const reply = await run(client, db, command, session);
      const ns = reply.ns ?? `${db}.$cmd.aggregate`;
      const cursor = new RawCursor(client, db, ns.slice(ns.indexOf('.') + 1), session, reply.id);
      return { cursor, reply };
    } catch (error) {
      await session.endSession().catch(() => undefined);
      throw error;
    }
  }

  /** Reads the next batch (waits up to the await time when there is nothing new). */
  async getMore(opts: GetMoreOptions): Promise<CursorReply> {
    const command: Document = { getMore: this.id, collection: this.collection };
    if (opts.batchSize !== undefined) command.batchSize = opts.batchSize;
    if (opts.maxAwaitTimeMS !== undefined) command.maxTimeMS = opts.maxAwaitTimeMS;
    const reply = await run(this.client, this.db, command, this.session);
    this.id = reply.id;
    return reply;
  }

  /**
   * Kills the cursor (unless `kill` is false: a cursor lost with its connection, or one the
   * server no longer knows, needs no killCursors, as the drivers do) and ends the session.
   */
  async close(kill = true): Promise<void> {
    if (kill && !this.id.isZero()) {
      // Best effort: a cursor the server lost (network error, failover) is gone already.
      await this.client
        .db(this.db)
        .command(
          { killCursors: this.collection, cursors: [this.id] },
          { session: this.session, timeoutMS: 2000 },
        )
        .catch(() => undefined);
    }
    await this.session.endSession().catch(() => undefined);
  }
}

/** Runs an aggregate or getMore and splits the cursor part of the reply into events. */
async function run(
  client: MongoClient,
  db: string,
  command: Document,
  session: ClientSession,
): Promise<CursorReply> {
  // `raw`: embedded documents of the reply (`cursor`) stay BSON bytes for us to read.
  const reply = await client.db(db).command(command, { session, raw: true } as never);
  const raw: unknown = reply.cursor;
  if (!(raw instanceof Uint8Array)) {
    throw new TailError('the server replied without a cursor', ExitCode.Unexpected);
  }
  return readCursor(raw);
}
