// The change-stream source: opens the stream at the right position over the official
// driver's connections and re-opens it when it cannot carry on:
// - after an invalidate (drop/rename/dropDatabase), with `startAfter` the invalidate token,
//   like `tail -F` following a file that was replaced;
// - after a transient failure (network error, failover, a `ResumableChangeStreamError`,
//   CursorNotFound), from our own last position, with capped exponential backoff and a
//   bounded number of tries, saying so on stderr each time.
// Failures that retrying cannot fix become typed errors (exit 3 or 4); the stream never
// falls back to "now" on its own.
import { Long, Timestamp, deserialize, type Binary, type Document } from 'bson';
import {
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type ClientSession,
} from 'mongodb';
import { ConnectError, ResumeError, TailError, ExitCode, UsageError } from './errors.js';
import { formatDuration } from './duration.js';
import type { WatchTarget } from './namespace.js';
import type { ResumeToken, StartPosition, TailOptions } from './options.js';
import type { WatchSpec } from './pipeline.js';
import { redactUri } from './redact.js';
import { formatTimestamp } from './when.js';

/** What one read of the source produced. */
export type Step =
  | {
      kind: 'event';
      event: Document;
      /** The position just after this event (checkpoint it once the event is written). */
      token: ResumeToken;
      /** No more events are buffered: a batch boundary. */
      batchEnd: boolean;
    }
  /** An empty batch; `token` is the post-batch resume token, when the server sent one. */
  | { kind: 'idle'; token: ResumeToken | undefined }
  /** The server ended the stream after an invalidate; `token` is the invalidate token. */
  | { kind: 'invalidated'; token: ResumeToken };

/** How hard to try re-opening after transient failures. */
export interface RetryPolicy {
  maxTries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxTries: 6, baseDelayMs: 250, maxDelayMs: 10_000 };

// Events keep their exact BSON types: the formatters print Int32 vs Double vs Long, and
// canonical output must round-trip.
const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

/** A client with the tailer's settings, not connected yet (UsageError for a bad URI). */
export function createClient(opts: TailOptions): MongoClient {
  try {
    return new MongoClient(opts.uri, {
      // An appName in the connection string wins (it shows in the server's logs and currentOp).
      ...(/[?&]appName=/i.test(opts.uri) ? {} : { appName: 'mongo-tail' }),
      serverSelectionTimeoutMS: opts.connectTimeoutMs,
      connectTimeoutMS: opts.connectTimeoutMs,
    });
  } catch (error) {
    // A URI the driver cannot parse (bad option, bad host list) is the user's to fix.
    throw new UsageError(`invalid connection string: ${messageOf(error)}`);
  }
}

/** Connects the client; ConnectError (exit 3) when it cannot. The caller closes the client. */
export async function connectClient(client: MongoClient, opts: TailOptions): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw toConnectError(error, opts);
  }
}

/** The deployment's current cluster time (what `--until now` means). */
export async function readClusterTime(
  client: MongoClient,
  opts: Pick<TailOptions, 'uri'>,
): Promise<Timestamp> {
  const session = client.startSession();
  let hello: Document;
  try {
    hello = await client.db('admin').command({ hello: 1 }, { session });
    const fromReply =
      hello.operationTime ?? (hello.$clusterTime as Document | undefined)?.clusterTime;
    const ts: unknown = session.operationTime ?? fromReply;
    if (hasTag(ts, 'Timestamp')) return ts as Timestamp;
  } finally {
    await session.endSession();
  }
  // No cluster time: a standalone server (a replica set or mongos always reports one).
  if (hello.setName === undefined && hello.msg !== 'isdbgrid') throw standaloneError(opts.uri);
  throw new ConnectError(
    'the server did not report a cluster time, so --until now cannot be resolved',
    'use --until with an explicit time instead',
  );
}

/** One open server-side change-stream cursor and what it has buffered. */
interface OpenCursor {
  id: Long;
  /** `getMore`'s `collection`: the part of the reply's `ns` after the database. */
  collection: string;
  db: string;
  session: ClientSession;
  batch: Document[];
  /** The post-batch resume token of the last reply. */
  pbrt: ResumeToken | undefined;
  /** The position this cursor was opened from, and whether it returned an event yet. */
  openedWith: StartPosition['kind'];
  received: boolean;
  /** Replies read on this cursor (a cursor that fails on its first getMore counts as failed). */
  replies: number;
}

/**
 * Reads one change stream, re-opening it as described at the top of this file.
 *
 * It runs the `aggregate` + `getMore` protocol itself rather than through the driver's
 * ChangeStream: replies come back as raw BSON and the batches are decoded here with exact
 * types (Int32 vs Double vs Long, for the formatters and canonical output), while error
 * replies keep the driver's own decoding, so its server-monitoring and failover logic sees
 * plain numeric codes. Resuming follows the drivers' change-stream spec: from the last
 * event's `_id`, else the post-batch resume token, `startAfter` only until an event came.
 */
export class ChangeSource {
  private cursor: OpenCursor | undefined;
  private position: StartPosition;
  private failures = 0;
  private closed = false;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** True between a failure and the next successful read: the stream is being re-opened. */
  recovering = false;

  constructor(
    private readonly client: MongoClient,
    private readonly target: WatchTarget,
    private readonly spec: WatchSpec,
    start: StartPosition,
    private readonly opts: Pick<TailOptions, 'uri' | 'tokenFile'>,
    private readonly note: (message: string) => void,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.position = start;
  }

  /** Reads the next event, or reports an empty batch / the end of an invalidated stream. */
  async next(): Promise<Step> {
    for (;;) {
      if (this.closed) return { kind: 'idle', token: undefined };
      const cursor = this.cursor;
      if (cursor !== undefined && cursor.batch.length > 0) return this.take(cursor);
      if (cursor !== undefined && cursor.id.isZero()) {
        // Only an invalidate ends a change-stream cursor from the server's side; the last
        // post-batch resume token is the invalidate token.
        await this.discard(cursor);
        if (cursor.pbrt === undefined) {
          throw new TailError(
            'the server closed the change stream without a resume token',
            ExitCode.Unexpected,
          );
        }
        return { kind: 'invalidated', token: cursor.pbrt };
      }
      try {
        if (cursor === undefined) await this.open();
        else await this.getMore(cursor);
      } catch (error) {
        this.recovering = true;
        // A cursor lost with its connection, or one the server no longer knows, needs no
        // killCursors (as the drivers do): that would only wait for a server to answer.
        const gone =
          error instanceof MongoNetworkError ||
          (error instanceof MongoError && codeOf(error) === 43);
        if (this.cursor !== undefined) await this.discard(this.cursor, !gone);
        if (this.closed) return { kind: 'idle', token: undefined };
        await this.recover(error);
        continue;
      }
      const current = this.cursor;
      if (current === undefined) return { kind: 'idle', token: undefined }; // closed meanwhile
      // Recovered once a re-opened stream delivers: a cursor that opens and then fails on its
      // first getMore has not.
      if (current.replies > 1 || current.batch.length > 0) this.recovering = false;
      if (current.batch.length > 0) continue;
      // An empty batch: the post-batch resume token is the position now.
      if (current.replies > 1) this.failures = 0;
      if (current.pbrt !== undefined) {
        // Like the drivers: a stream started with startAfter keeps using it until an event came.
        const kind =
          current.openedWith === 'startAfter' && !current.received ? 'startAfter' : 'resumeAfter';
        this.position = { kind, token: current.pbrt };
      }
      if (current.id.isZero()) continue; // reported as invalidated above
      return { kind: 'idle', token: current.pbrt };
    }
  }

  /** Continues after an invalidate: the next read opens a new stream after `token`. */
  followInvalidate(token: ResumeToken): void {
    this.position = { kind: 'startAfter', token };
  }

  /** Closes the current cursor (the client belongs to the caller). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sleeping !== undefined) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    if (this.cursor !== undefined) await this.discard(this.cursor);
  }

  private take(cursor: OpenCursor): Step {
    const event = cursor.batch.shift() as Document;
    cursor.received = true;
    this.failures = 0;
    const batchEnd = cursor.batch.length === 0;
    // The end of a batch may stand later than its last event (filtered events after it).
    const token = (batchEnd ? cursor.pbrt : undefined) ?? asToken(event._id);
    if (token === undefined) {
      throw new UsageError(
        'a change event came without its _id (the resume token)',
        'keep _id in --pipeline stages ($project/$unset/$replaceRoot must not drop it)',
      );
    }
    this.position = { kind: 'resumeAfter', token };
    return { kind: 'event', event, token, batchEnd };
  }

  private async open(): Promise<void> {
    const { options } = this.spec;
    const stage: Document = {};
    if (options.fullDocument !== undefined) stage.fullDocument = options.fullDocument;
    if (options.fullDocumentBeforeChange !== undefined) {
      stage.fullDocumentBeforeChange = options.fullDocumentBeforeChange;
    }
    const position = this.position;
    if (position.kind === 'resumeAfter') stage.resumeAfter = position.token;
    if (position.kind === 'startAfter') stage.startAfter = position.token;
    if (position.kind === 'since') stage.startAtOperationTime = position.ts;
    if (options.showExpandedEvents === true) stage.showExpandedEvents = true;
    const scope = this.target.scope;
    if (scope.kind === 'cluster') stage.allChangesForCluster = true;
    const db = scope.kind === 'cluster' ? 'admin' : scope.db;
    const cursorSpec: Document = {};
    if (options.batchSize !== undefined) cursorSpec.batchSize = options.batchSize;
    const command: Document = {
      aggregate: scope.kind === 'collection' ? scope.coll : 1,
      pipeline: [{ $changeStream: stage }, ...this.spec.pipeline],
      cursor: cursorSpec,
    };
    // A cursor lives in the session that opened it: every getMore must use the same one.
    const session = this.client.startSession();
    try {
      const reply = await this.run(db, command, session);
      const cursor: OpenCursor = {
        ...reply,
        db,
        session,
        openedWith: position.kind,
        received: false,
        replies: 1,
      };
      // Closed while the aggregate was on its way: let go of the cursor it opened.
      if (this.closed) return await this.discard(cursor);
      this.cursor = cursor;
    } catch (error) {
      await session.endSession().catch(() => undefined);
      throw error;
    }
  }

  private async getMore(cursor: OpenCursor): Promise<void> {
    const command: Document = { getMore: cursor.id, collection: cursor.collection };
    const { batchSize, maxAwaitTimeMS } = this.spec.options;
    if (batchSize !== undefined) command.batchSize = batchSize;
    if (maxAwaitTimeMS !== undefined) command.maxTimeMS = maxAwaitTimeMS;
    const reply = await this.run(cursor.db, command, cursor.session);
    if (this.cursor !== cursor) return; // closed while waiting
    cursor.id = reply.id;
    cursor.batch = reply.batch;
    if (reply.pbrt !== undefined) cursor.pbrt = reply.pbrt;
    cursor.replies += 1;
  }

  /** Runs an aggregate or getMore and decodes the cursor part of the reply exactly. */
  private async run(
    db: string,
    command: Document,
    session: ClientSession,
  ): Promise<{ id: Long; collection: string; batch: Document[]; pbrt: ResumeToken | undefined }> {
    // `raw`: embedded documents of the reply (`cursor`) stay BSON bytes for us to decode.
    const reply = await this.client.db(db).command(command, { session, raw: true } as never);
    const raw: unknown = reply.cursor;
    if (!(raw instanceof Uint8Array)) {
      throw new TailError('the server replied without a cursor', ExitCode.Unexpected);
    }
    const cursor = deserialize(raw, EXACT) as Document;
    const batch = (cursor.firstBatch ?? cursor.nextBatch) as Document[] | undefined;
    const id: unknown = cursor.id;
    if (!Array.isArray(batch) || !(id instanceof Long)) {
      throw new TailError('the server sent a malformed cursor reply', ExitCode.Unexpected);
    }
    const ns = typeof cursor.ns === 'string' ? cursor.ns : `${db}.$cmd.aggregate`;
    return {
      id,
      collection: ns.slice(ns.indexOf('.') + 1),
      batch,
      pbrt: asToken(cursor.postBatchResumeToken),
    };
  }

  private async discard(cursor: OpenCursor, kill = true): Promise<void> {
    if (this.cursor === cursor) this.cursor = undefined;
    if (kill && !cursor.id.isZero()) {
      // Best effort: a cursor the server lost (network error, failover) is gone already.
      await this.client
        .db(cursor.db)
        .command(
          { killCursors: cursor.collection, cursors: [cursor.id] },
          { session: cursor.session, timeoutMS: 2000 },
        )
        .catch(() => undefined);
    }
    await cursor.session.endSession().catch(() => undefined);
  }

  /** Waits and returns when the error is worth another try; throws the typed error otherwise. */
  private async recover(error: unknown): Promise<void> {
    if (!isTransient(error)) throw toStreamError(error, this.position, this.opts);
    this.failures += 1;
    if (this.failures >= this.retry.maxTries) {
      throw new ConnectError(
        `lost the change stream from ${redactUri(this.opts.uri)} and could not re-open it ` +
          `after ${this.retry.maxTries} tries: ${messageOf(error)}`,
        'the token file (if any) holds the last position; run again to continue from there',
      );
    }
    const delay = Math.min(
      this.retry.maxDelayMs,
      this.retry.baseDelayMs * 2 ** (this.failures - 1),
    );
    this.note(
      `change stream interrupted (${messageOf(error)}); re-opening from the last position ` +
        `in ${formatDuration(delay)} (try ${this.failures + 1} of ${this.retry.maxTries})`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.sleeping = { timer, wake: resolve };
    });
    this.sleeping = undefined;
  }
}

// Server codes after which re-opening from our own position is worth it (the driver's own
// resumable set plus CappedPositionLost, where a re-open tells us for sure whether history
// is lost).
const TRANSIENT_CODES = new Set([
  6, 7, 43, 63, 89, 91, 133, 136, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435,
  13436,
]);

/** True when re-opening the stream may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (!(error instanceof MongoError)) return false;
  if (error.hasErrorLabel('NonResumableChangeStreamError')) return false;
  if (error.hasErrorLabel('ResumableChangeStreamError')) return true;
  const code = codeOf(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * The server error code as a number. With promoteValues off (how the stream is read) the
 * driver also builds error replies with exact types, so the code can arrive as an Int32.
 */
export function codeOf(error: MongoError): number | undefined {
  const code = Number(error.code);
  return Number.isFinite(code) ? code : undefined;
}

const USAGE_CODES = new Set([2, 9, 14, 20, 72, 73, 40323, 40324, 40602, 15998, 16410, 16436]);

/** Maps a failure on the stream to the error the user sees. */
export function toStreamError(
  error: unknown,
  position: StartPosition,
  opts: Pick<TailOptions, 'uri' | 'tokenFile'>,
): unknown {
  if (
    error instanceof MongoServerError &&
    codeOf(error) === 280 &&
    /_id.*modified|modified.*_id/i.test(error.message)
  ) {
    return new UsageError(
      'the pipeline changed or removed the event _id, which holds the resume token',
      'keep _id in --pipeline stages ($project/$unset/$replaceRoot must not drop it)',
    );
  }
  if (!(error instanceof MongoServerError)) {
    if (error instanceof MongoServerSelectionError || error instanceof MongoNetworkError) {
      return toConnectError(error, opts);
    }
    return error;
  }
  const code = codeOf(error);
  const where = describePosition(position);
  const startOver =
    position.kind === 'since'
      ? 'leave out --since to start from now, or '
      : opts.tokenFile !== undefined
        ? `remove ${opts.tokenFile} to start from now (or remove it and use --since), or `
        : 'leave out the token to start from now, or ';
  const tokenGiven = position.kind === 'resumeAfter' || position.kind === 'startAfter';
  if (code === 9 && tokenGiven) {
    // FailedToParse on a resume token: the token itself is damaged, not the command line.
    return new ResumeError(
      `cannot resume ${where}: the server cannot read the resume token ` +
        `${opts.tokenFile === undefined ? 'given' : `in ${opts.tokenFile}`} (${error.message})`,
      opts.tokenFile === undefined
        ? 'pass the token exactly as mongo-tail or the driver printed it'
        : `${startOver.replace(/, or $/, '')}`,
    );
  }
  switch (code) {
    case 40573:
      return standaloneError(opts.uri);
    case 286:
      return new ResumeError(
        `cannot resume ${where}: that point is no longer in the oplog (ChangeStreamHistoryLost); ` +
          'the events since then cannot be read from this deployment any more',
        opts.tokenFile !== undefined && position.kind !== 'since'
          ? `remove ${opts.tokenFile} and start again with --since at a time the oplog still holds (or from now)`
          : `${startOver}use a later --since to read what the oplog still holds`,
      );
    case 280:
      return new ResumeError(
        `cannot resume ${where}: ${error.message} (ChangeStreamFatalError)`,
        `was the token taken from another collection or deployment? ${startOver}use --since`,
      );
    case 260:
      return new ResumeError(
        `cannot resume ${where}: ${error.message} (InvalidResumeToken)`,
        'a token from an invalidate (drop/rename) continues with --start-after instead of --resume-after',
      );
    case 13:
    case 18:
      return new ConnectError(
        `not allowed to open the change stream on ${redactUri(opts.uri)}: ${error.message}`,
        'the user needs the find and changeStream actions on what is watched',
      );
    case 47:
      return new TailError(
        `an event lacks the document image that "required" asks for: ${error.message}`,
        ExitCode.Unexpected,
        'use whenAvailable, or enable changeStreamPreAndPostImages on the collection',
      );
    default:
      if (code !== undefined && USAGE_CODES.has(code)) {
        return new UsageError(
          `the server refused the change stream: ${error.message} (${error.codeName ?? code})`,
        );
      }
      return new TailError(
        `server error ${error.codeName ?? ''} (${String(code)}): ${error.message}`.replace(
          '  ',
          ' ',
        ),
        ExitCode.Unexpected,
      );
  }
}

function standaloneError(uri: string): ConnectError {
  return new ConnectError(
    `change streams need a replica set or sharded cluster, and ${redactUri(uri)} is a standalone server`,
    'make a single mongod a one-node replica set: restart it with --replSet rs0, run ' +
      'rs.initiate() once in mongosh, then connect with ?replicaSet=rs0',
  );
}

function toConnectError(error: unknown, opts: Pick<TailOptions, 'uri'>): unknown {
  if (error instanceof MongoServerError) {
    const code = codeOf(error);
    if (code === 18 || code === 13) {
      return new ConnectError(
        `authentication failed for ${redactUri(opts.uri)}: ${error.message}`,
        'check the user name, password and authSource in the connection string',
      );
    }
    if (code === 40573) return standaloneError(opts.uri);
  }
  if (error instanceof TailError) return error;
  // Anything else on the way to a server (DNS for mongodb+srv, TLS, sockets) is a connect failure.
  return new ConnectError(
    `cannot connect to ${redactUri(opts.uri)}: ${messageOf(error)}`,
    'is the server running and reachable? --connect-timeout sets how long to try',
  );
}

function describePosition(position: StartPosition): string {
  switch (position.kind) {
    case 'since':
      return `from cluster time ${formatTimestamp(position.ts)} (${isoOf(position.ts)})`;
    case 'now':
      return 'from now';
    case 'resumeAfter':
    case 'startAfter': {
      const ts = tokenTime(position.token);
      return ts === undefined
        ? 'after the given resume token'
        : `after the resume token at cluster time ${formatTimestamp(ts)} (${isoOf(ts)})`;
    }
  }
}

function isoOf(ts: Timestamp): string {
  return new Date(ts.t * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * The cluster time in a resume token: KeyString type byte 0x82 (Timestamp) then seconds and
 * increment as big-endian uint32s. Undefined when the token does not start that way.
 */
export function tokenTime(token: ResumeToken): Timestamp | undefined {
  const hex = token._data;
  if (!/^82[0-9a-f]{16}/i.test(hex)) return undefined;
  const t = Number.parseInt(hex.slice(2, 10), 16);
  const i = Number.parseInt(hex.slice(10, 18), 16);
  return new Timestamp({ t, i });
}

function asToken(value: unknown): ResumeToken | undefined {
  if (typeof value !== 'object' || value === null || !('_data' in value)) return undefined;
  const { _data: data, _typeBits: typeBits } = value as { _data: unknown; _typeBits?: unknown };
  if (typeof data !== 'string') return undefined;
  return hasTag(typeBits, 'Binary')
    ? { _data: data, _typeBits: typeBits as Binary }
    : { _data: data };
}

/**
 * Checks a BSON value by its `_bsontype` tag, not with instanceof: the driver builds values
 * with bson's CommonJS build while this ESM code imports the ES module build, so the classes
 * differ even though the values are the same kind.
 */
function hasTag(value: unknown, tag: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { _bsontype?: unknown })._bsontype === tag
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
