// One server-side change-stream cursor, driven by hand over the driver's connections:
// `aggregate` opens it, `getMore` reads the next batch, `killCursors` lets it go.
//
// Replies come back raw (`raw: true` keeps the reply's `cursor` as BSON bytes) and are split
// into events without decoding them (./batch.ts), so exact BSON types survive for the
// formatters and the JSON formats never build JS objects for events. Error replies keep the
// driver's own decoding, so its server monitoring and failover logic see plain numeric codes.
//
// Every command has a deadline: a server that holds a getMore past its await time plus a margin
// has stopped answering (hung, SIGSTOPped, a network path that swallows packets), and without a
// deadline the driver would wait forever (socketTimeoutMS is 0, and mongodb 7.9 ignores
// `timeoutMS`). The command is aborted through the driver's per-command `signal`, which
// destroys its connection, so a late reply can never arrive; the source re-opens the stream.
import type { Document, Long } from 'bson';
import {
  MongoNetworkError,
  MongoNetworkTimeoutError,
  type ClientSession,
  type MongoClient,
} from 'mongodb';
import { formatElapsed } from '../duration.js';
import { ExitCode, TailError } from '../errors.js';
import { readCursor, type CursorReply } from './batch.js';

/** The await time of a getMore sent without maxTimeMS: 1 s (getmore_cmd.cpp `value_or(1000)`). */
export const SERVER_AWAIT_MS = 1000;

/**
 * How long past its await time a command may go unanswered before it counts as a failure.
 * An answer normally comes within milliseconds of the await time; 10 s also covers a 1 MiB
 * batch (BATCH_TARGET_BYTES) over a slow link, a GC or disk stall on a loaded server and an
 * election's step-down (which answers with an error, not silence), while a hung server is
 * still noticed well before the driver's monitor gives up on it (heartbeat 10 s + connect
 * timeout 10 s).
 */
export const ANSWER_MARGIN_MS = 10_000;

/** The margin doubles per unanswered try in a row, up to this factor (see answerLimitMs). */
const MAX_MARGIN_FACTOR = 16;

/**
 * How long a command may take in all: its await time, the connect time it may need (server
 * selection and a new connection, each bounded by the driver itself, for an aggregate), and the
 * margin. The margin doubles with every unanswered try in a row: a server that is only slow
 * (an aggregate scanning a long stretch of oplog for a selective filter) gets ever more time,
 * while a hung one is still noticed after the first margin; --retry-for bounds the whole.
 */
export function answerLimitMs(
  awaitMs: number,
  marginMs: number,
  unansweredInARow = 0,
  connectMs = 0,
): number {
  const factor = Math.min(MAX_MARGIN_FACTOR, 2 ** Math.max(0, unansweredInARow));
  return awaitMs + connectMs + marginMs * factor;
}

/** The server did not answer a command within its deadline (a transient failure). */
export class NoAnswerError extends MongoNetworkTimeoutError {
  constructor(
    /** The command, for the message: `getMore` or `aggregate`. */
    readonly command: string,
    /** How long it went unanswered, measured. */
    readonly elapsedMs: number,
    /** When its await time ran out: the server is failing since then. */
    readonly dueAt: number,
  ) {
    // A network timeout, as the driver's own socket timeout reports one: the driver then marks
    // the session dirty (its server session is not reused) and leaves the topology alone.
    super(
      `the server did not answer ${command === 'getMore' ? 'a getMore' : `the ${command}`} ` +
        `within ${formatElapsed(elapsedMs)}`,
    );
  }

  override get name(): string {
    return 'NoAnswerError';
  }
}

/**
 * The primary changed while a command was outstanding (a transient failure). Commands go to the
 * primary, so one in flight went to the old one, which may be silent (hung, cut off): the driver
 * does not abandon it when it learns of the new primary, and its monitor of the old one gives up
 * only after connect timeout + heartbeat (~20 s). A network error, not a timeout: the driver then
 * marks the old member unknown and clears its pool, as after a dropped connection.
 */
export class PrimaryChangedError extends MongoNetworkError {
  constructor(
    /** The primary the command went to. */
    readonly from: string,
    /** The new primary, if one is known yet. */
    readonly to: string | undefined,
  ) {
    super(
      to === undefined
        ? `${from} is no longer the primary`
        : `the primary changed from ${from} to ${to}`,
    );
  }

  override get name(): string {
    return 'PrimaryChangedError';
  }
}

/** The options of the `getMore`s. */
export interface GetMoreOptions {
  batchSize?: number;
  maxAwaitTimeMS?: number;
}

/** An answer this much past its await time was late: the time before it was not idle. */
const LATE_MS = 1000;

/**
 * Watches the commands of one stream for what --idle-timeout may count: time in which the server
 * answered and had nothing. A command still within its await time counts (the server is waiting
 * for events); one past it does not (it is late, or the server is not answering), and neither
 * does the time before a late answer.
 */
export class AnswerTimes {
  private outstanding: { sentAt: number; awaitMs: number } | undefined;
  private onTimeSince = 0;
  private lastAnswer = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Follows `reply`, a command sent now that may take `awaitMs` to answer; returns it. */
  track<T>(reply: Promise<T>, awaitMs: number): Promise<T> {
    const sent = { sentAt: this.now(), awaitMs };
    this.outstanding = sent;
    const settled = (answered: boolean) => (): void => {
      if (this.outstanding === sent) this.outstanding = undefined;
      const now = this.now();
      if (now - sent.sentAt > sent.awaitMs + LATE_MS) this.onTimeSince = now;
      if (answered) this.lastAnswer = now;
    };
    reply.then(settled(true), settled(false));
    return reply;
  }

  /**
   * When the server last answered: up to then it is known to have had nothing more. A command
   * still within its await time proves nothing yet (a server that stops answering looks the
   * same until the await time is over).
   */
  get answeredAt(): number {
    return this.lastAnswer;
  }

  /** Idle time starts over now (the stream was re-opened after a failure). */
  restart(): void {
    this.onTimeSince = this.now();
  }

  /**
   * Since when the server has answered on time, or undefined while a command is outstanding past
   * its await time (an answer due now is awaited before anything is called idle).
   */
  answeringSince(): number | undefined {
    const sent = this.outstanding;
    if (sent !== undefined && this.now() - sent.sentAt > sent.awaitMs) return undefined;
    return this.onTimeSince;
  }
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

  /**
   * Runs `command` (an aggregate with `$changeStream`) on `db`; the first batch comes with it.
   * NoAnswerError after `limitMs`; `signal` abandons it earlier, with its reason.
   */
  static async open(
    client: MongoClient,
    db: string,
    command: Document,
    limitMs: number,
    signal?: AbortSignal,
  ): Promise<{ cursor: RawCursor; reply: CursorReply }> {
    // A cursor lives in the session that opened it: every getMore must use the same one.
    const session = client.startSession();
    try {
      const reply = await run(client, db, command, session, limitMs, 0, signal);
      const ns = reply.ns ?? `${db}.$cmd.aggregate`;
      const cursor = new RawCursor(client, db, ns.slice(ns.indexOf('.') + 1), session, reply.id);
      return { cursor, reply };
    } catch (error) {
      await session.endSession().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Reads the next batch (waits up to the await time when there is nothing new). NoAnswerError
   * after `limitMs`; `signal` abandons it earlier, with its reason.
   */
  async getMore(opts: GetMoreOptions, limitMs: number, signal?: AbortSignal): Promise<CursorReply> {
    const command: Document = { getMore: this.id, collection: this.collection };
    if (opts.batchSize !== undefined) command.batchSize = opts.batchSize;
    if (opts.maxAwaitTimeMS !== undefined) command.maxTimeMS = opts.maxAwaitTimeMS;
    const awaitMs = opts.maxAwaitTimeMS ?? SERVER_AWAIT_MS;
    const reply = await run(this.client, this.db, command, this.session, limitMs, awaitMs, signal);
    this.id = reply.id;
    return reply;
  }

  /**
   * Kills the cursor (unless `kill` is false: a cursor lost with its connection, or one the
   * server no longer knows, needs no killCursors, as the drivers do) and ends the session.
   */
  async close(kill = true): Promise<void> {
    if (kill && !this.id.isZero()) {
      // Best effort: a cursor the server lost (network error, failover) is gone already. A
      // signal bounds the wait on a server that does not answer (`timeoutMS` is a no-op in 7.9).
      await this.client
        .db(this.db)
        .command(
          { killCursors: this.collection, cursors: [this.id] },
          { session: this.session, signal: AbortSignal.timeout(KILL_LIMIT_MS) },
        )
        .catch(() => undefined);
    }
    await this.session.endSession().catch(() => undefined);
  }
}

const KILL_LIMIT_MS = 2000;

/**
 * Runs an aggregate or getMore and splits the cursor part of the reply into events; aborts it
 * with NoAnswerError once `limitMs` passed (`awaitMs`: when the answer was due at the latest),
 * or with the reason of `external` when that aborts first.
 */
async function run(
  client: MongoClient,
  db: string,
  command: Document,
  session: ClientSession,
  limitMs: number,
  awaitMs: number,
  external?: AbortSignal,
): Promise<CursorReply> {
  external?.throwIfAborted();
  const sentAt = Date.now();
  // One signal for the driver, aborted by whichever comes first: the deadline or `external`.
  // (Not AbortSignal.any: in Node 20 each combined signal stays registered on its sources,
  // about 600 bytes an event over a long run.)
  const abort = new AbortController();
  const signal = abort.signal;
  const timer = setTimeout(() => {
    const name = command.getMore === undefined ? Object.keys(command)[0] : 'getMore';
    abort.abort(new NoAnswerError(name ?? 'command', Date.now() - sentAt, sentAt + awaitMs));
  }, limitMs);
  const onExternal = (): void => abort.abort(external?.reason);
  external?.addEventListener('abort', onExternal, { once: true });
  // The driver rejects with the abort's reason and destroys the connection. The race makes
  // sure of the outcome even at a step that would not look at the signal; the loser is
  // dropped (a late answer then has nowhere to go).
  const aborted = new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  aborted.catch(() => undefined); // only awaited through the race
  let reply: Document;
  try {
    // `raw`: embedded documents of the reply (`cursor`) stay BSON bytes for us to read.
    const answer = client.db(db).command(command, { session, raw: true, signal } as never);
    answer.catch(() => undefined); // when the race is lost
    reply = await Promise.race([answer, aborted]);
  } finally {
    clearTimeout(timer);
    external?.removeEventListener('abort', onExternal);
  }
  const raw: unknown = reply.cursor;
  if (!(raw instanceof Uint8Array)) {
    throw new TailError('the server replied without a cursor', ExitCode.Unexpected);
  }
  return readCursor(raw);
}
