// The change-stream source: opens the stream at the right position over the official
// driver's connections, hands over whole batches of events as bytes, and re-opens the stream
// when it cannot carry on:
// - after an invalidate (drop/rename/dropDatabase), with `startAfter` the invalidate token,
//   like `tail -F` following a file that was replaced;
// - after a transient failure (network error, failover, a `ResumableChangeStreamError`,
//   CursorNotFound), from our own last position, with capped exponential backoff and a
//   bounded number of tries, saying so on stderr each time.
// Failures that retrying cannot fix become typed errors (exit 3 or 4); the stream never
// falls back to "now" on its own.
//
// A server that stops answering is a transient failure too: every aggregate and getMore has a
// deadline (./cursor.ts), and one that passes re-opens the stream like a dropped connection, so
// a hung server ends in all events or exit 3 after --retry-for, never in a silent wait. Nor is
// such a wait idle time: `idleWindow` tells --idle-timeout what it may count.
//
// While the caller writes one batch out, the next one is already being fetched (at most one
// getMore in flight, so at most one batch of ≤ 16 MiB waits in memory).
//
// Every command goes to the primary. When the driver learns that the primary changed, a command
// still outstanding went to the old one, which may never answer (hung, cut off): the source
// abandons it (PrimaryChangedError) and re-opens at once on the new primary, instead of waiting
// for the command's deadline. A prefetched batch abandoned this way is read again: the position
// stands before it.
import type { Document } from 'bson';
import {
  MongoError,
  MongoNetworkError,
  type MongoClient,
  type TopologyDescription,
  type TopologyDescriptionChangedEvent,
} from 'mongodb';
import { formatDuration, formatElapsed } from '../duration.js';
import { ConnectError, ExitCode, TailError, UsageError } from '../errors.js';
import { formatTimestamp } from '../when.js';
import { peopleTime } from '../format/time.js';
import type { WatchTarget } from '../namespace.js';
import type { ResumeToken, StartRequest, TailOptions } from '../options.js';
import type { WatchSpec } from '../pipeline.js';
import { redactUri } from '../redact.js';
import { readHeader, type CursorReply } from './batch.js';
import {
  ANSWER_MARGIN_MS,
  AnswerTimes,
  NoAnswerError,
  PrimaryChangedError,
  RawCursor,
  SERVER_AWAIT_MS,
  answerLimitMs,
  type GetMoreOptions,
} from './cursor.js';
import {
  codeOf,
  isHistoryLost,
  isTransient,
  messageOf,
  oldestFromReply,
  toStreamError,
  type OldestHeld,
} from './diagnose.js';
import { ResumePosition } from './position.js';
import { DEFAULT_RETRY, Reopen, type RetryPolicy } from './reopen.js';

export { tokenTime } from './position.js';
export { DEFAULT_RETRY, type RetryDelays, type RetryPolicy } from './reopen.js';
export { isTransient, toStreamError } from './diagnose.js';

/** How many bytes of events one getMore asks for when the user set no --batch-size. */
export const BATCH_TARGET_BYTES = 1 * 1024 * 1024;
const MIN_BATCH = 16;

/** A non-empty batch of events, still as BSON bytes. */
export interface EventBatch {
  /** The bytes the offsets point into. */
  bytes: Buffer;
  /** Where each event document starts. */
  starts: number[];
  /**
   * The position after the last event: the post-batch resume token when the server sent one
   * (it may stand later than the last event, past events the pipeline filtered out), else the
   * last event's `_id`.
   */
  end: ResumeToken;
  /** The server closed the stream after this batch: its last event is the invalidate. */
  closing: boolean;
}

/** What one read of the source produced. */
export type Step =
  | { kind: 'batch'; batch: EventBatch }
  /** An empty batch; `token` is the post-batch resume token, when the server sent one. */
  | { kind: 'idle'; token: ResumeToken | undefined }
  /** The server ended the stream after an invalidate; `token` is the invalidate token. */
  | { kind: 'invalidated'; token: ResumeToken };

/** The resume token of event `index` of a batch (the batch's end position for the last one). */
export function eventToken(batch: EventBatch, index: number): ResumeToken {
  if (index === batch.starts.length - 1) return batch.end;
  return requireToken(readHeader(batch.bytes, batch.starts[index] as number).token);
}

function requireToken(token: ResumeToken | undefined): ResumeToken {
  if (token === undefined) {
    throw new UsageError(
      'a change event came without its _id (the resume token)',
      'keep _id in --pipeline stages ($project/$unset/$replaceRoot must not drop it)',
    );
  }
  return token;
}

/** The address of the member a topology description shows as primary, if any. */
export function primaryOf(description: TopologyDescription): string | undefined {
  for (const [address, server] of description.servers) {
    if (server.type === 'RSPrimary') return address;
  }
  return undefined;
}

/** Reads one change stream, re-opening it as described at the top of this file. */
export class ChangeSource {
  private cursor: RawCursor | undefined;
  /** Replies read on the current cursor (one that fails on its first getMore has not recovered). */
  private replies = 0;
  /** The average size of the events of the last non-empty batch (sizes the next getMore). */
  private bytesPerEvent: number | undefined;
  /** The prefetched getMore, when one is in flight. */
  private pending: Promise<CursorReply> | undefined;
  /** The server closed the stream: the invalidate token, reported after the batch's events. */
  private invalidatedBy: ResumeToken | undefined;
  private position: ResumePosition;
  /** --since oldest, not yet looked up: the first open asks the oplog for its oldest entry. */
  private startAtOldest: boolean;
  private readonly reopen: Reopen;
  private closed = false;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** True between a failure and the next successful read: the stream is being re-opened. */
  recovering = false;
  private readonly marginMs: number;
  /** Commands in a row the server did not answer in time (each gets a longer deadline). */
  private unanswered = 0;
  private readonly answers = new AnswerTimes();
  /** The commands outstanding, each with what abandons it when the primary changes. */
  private readonly inFlight = new Set<AbortController>();
  private readonly onTopologyChange = (event: TopologyDescriptionChangedEvent): void => {
    const from = primaryOf(event.previousDescription);
    const to = primaryOf(event.newDescription);
    // Only a primary that was known and is no longer: the first discovery of one (while the
    // first aggregate waits for it, or a re-open waits out an election) changes nothing sent.
    if (from === undefined || from === to || this.inFlight.size === 0) return;
    const outstanding = [...this.inFlight];
    // A tick later: a command that failed with the change itself (a step-down's error marks the
    // member unknown before the command's promise rejects) keeps its own, more precise error.
    setImmediate(() => {
      for (const command of outstanding) {
        if (this.inFlight.has(command)) command.abort(new PrimaryChangedError(from, to));
      }
    });
  };

  constructor(
    private readonly client: MongoClient,
    private readonly target: WatchTarget,
    private readonly spec: WatchSpec,
    start: StartRequest,
    private readonly opts: Pick<TailOptions, 'uri' | 'tokenFile' | 'timeZone'>,
    private readonly note: (message: string) => void,
    retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.startAtOldest = start.kind === 'oldest';
    // For `oldest`, a stand-in until open() replaces it (nothing reads it before then).
    this.position = new ResumePosition(start.kind === 'oldest' ? { kind: 'now' } : start);
    this.reopen = new Reopen(retry);
    this.marginMs = retry.answerMarginMs ?? ANSWER_MARGIN_MS;
    client.on('topologyDescriptionChanged', this.onTopologyChange);
  }

  /**
   * The span --idle-timeout may count: from `since` (the server answering on time since then)
   * to `until` (its latest answer); undefined while the stream is being re-opened or a read is
   * outstanding past its await time.
   */
  idleWindow(): { since: number; until: number } | undefined {
    const since = this.recovering ? undefined : this.answers.answeringSince();
    return since === undefined ? undefined : { since, until: this.answers.answeredAt };
  }

  /** Reads the next batch of events, or reports an empty batch / the end of an invalidated stream. */
  async next(): Promise<Step> {
    for (;;) {
      if (this.closed) return { kind: 'idle', token: undefined };
      if (this.invalidatedBy !== undefined) {
        const token = this.invalidatedBy;
        this.invalidatedBy = undefined;
        return { kind: 'invalidated', token };
      }
      let reply: CursorReply;
      try {
        reply = await this.read();
      } catch (error) {
        this.pending = undefined;
        this.recovering = true;
        if (error instanceof NoAnswerError) this.unanswered += 1;
        const gone =
          error instanceof MongoNetworkError ||
          (error instanceof MongoError && codeOf(error) === 43);
        if (this.cursor !== undefined) await this.discard(this.cursor, !gone);
        if (this.closed) return { kind: 'idle', token: undefined };
        await this.recover(error);
        continue;
      }
      const cursor = this.cursor;
      if (cursor === undefined || this.closed) return { kind: 'idle', token: undefined };
      this.replies += 1;
      this.unanswered = 0;
      const count = reply.starts.length;
      if (reply.id.isZero()) {
        // Only an invalidate ends a change-stream cursor from the server's side; the last
        // post-batch resume token is the invalidate token.
        await this.discard(cursor, false);
        if (reply.pbrt === undefined) {
          throw new TailError(
            'the server closed the change stream without a resume token',
            ExitCode.Unexpected,
          );
        }
        this.invalidatedBy = reply.pbrt;
      } else if (count > 0) {
        this.bytesPerEvent = Math.max(1, Math.ceil(reply.bytes.length / count));
        this.recovered(); // before the next getMore, which --retry-for no longer bounds
        // Fetch the next batch while this one is written out.
        const pending = this.getMore(cursor);
        pending.catch(() => undefined); // its failure surfaces when it is awaited
        this.pending = pending;
      }
      if (count > 0) {
        this.recovered();
        const { bytes, starts } = reply;
        const last = starts[count - 1] as number;
        const end = reply.pbrt ?? requireToken(readHeader(bytes, last).token);
        // A pipeline that drops `_id` shows on the first event already.
        if (count > 1) requireToken(readHeader(bytes, starts[0] as number).token);
        this.position.consumed(end);
        return { kind: 'batch', batch: { bytes, starts, end, closing: reply.id.isZero() } };
      }
      if (this.invalidatedBy !== undefined) continue;
      // An empty batch: the post-batch resume token is the position now.
      if (this.replies > 1) this.recovered();
      if (reply.pbrt !== undefined) this.position.caughtUp(reply.pbrt);
      return { kind: 'idle', token: reply.pbrt };
    }
  }

  /** Continues after an invalidate: the next read opens a new stream after `token`. */
  followInvalidate(token: ResumeToken): void {
    this.position.invalidated(token);
  }

  /** Closes the current cursor (the client belongs to the caller). */
  async close(): Promise<void> {
    this.closed = true;
    this.client.off('topologyDescriptionChanged', this.onTopologyChange);
    if (this.sleeping !== undefined) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    if (this.cursor !== undefined) await this.discard(this.cursor);
  }

  /** The next reply: the prefetched getMore, a new one, or a new cursor's first batch. */
  private async read(): Promise<CursorReply> {
    if (this.cursor === undefined) return this.open();
    const pending = this.pending ?? this.getMore(this.cursor);
    this.pending = undefined;
    return pending;
  }

  private getMore(cursor: RawCursor): Promise<CursorReply> {
    const opts = this.getMoreOptions();
    // No maxTimeMS sent means the server's default (the command stays what the user asked
    // for); a server with another default is covered by the margin.
    const awaitMs = opts.maxAwaitTimeMS ?? SERVER_AWAIT_MS;
    const limitMs = this.bounded(answerLimitMs(awaitMs, this.marginMs, this.unanswered));
    return this.answers.track(
      this.abandonable((signal) => cursor.getMore(opts, limitMs, signal)),
      awaitMs,
    );
  }

  /** Sends a command that a change of primary abandons while it is outstanding. */
  private abandonable<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const command = new AbortController();
    this.inFlight.add(command);
    const reply = send(command.signal);
    const settled = (): void => {
      this.inFlight.delete(command);
    };
    reply.then(settled, settled);
    return reply;
  }

  /**
   * While re-opening, --retry-for bounds the wait for an answer too: a try gets what is left
   * of it plus the margin (the last try is made at the deadline and needs time to answer).
   */
  private bounded(limitMs: number): number {
    return Math.min(limitMs, this.reopen.remainingMs + this.marginMs);
  }

  /** The stream reads again after a failure: the next failure starts a new count. */
  private recovered(): void {
    if (this.recovering) this.answers.restart();
    this.recovering = false;
    this.reopen.succeeded();
  }

  private getMoreOptions(): GetMoreOptions {
    const { batchSize, maxAwaitTimeMS } = this.spec.options;
    const opts: GetMoreOptions = {};
    if (batchSize !== undefined) opts.batchSize = batchSize;
    else if (this.bytesPerEvent !== undefined) {
      // Without --batch-size a server fills a batch up to 16 MiB: ask for about
      // BATCH_TARGET_BYTES instead, so the batch being written plus the one being fetched
      // stay small (memory flat while catching up) and the first lines come sooner.
      opts.batchSize = Math.max(MIN_BATCH, Math.floor(BATCH_TARGET_BYTES / this.bytesPerEvent));
    }
    if (maxAwaitTimeMS !== undefined) opts.maxAwaitTimeMS = maxAwaitTimeMS;
    return opts;
  }

  private async open(): Promise<CursorReply> {
    const { options } = this.spec;
    // The connect time as for the aggregate below: this may be the run's first command.
    const { serverSelectionTimeoutMS, connectTimeoutMS } = this.client.options;
    const limitMs = this.bounded(
      answerLimitMs(0, this.marginMs, this.unanswered, serverSelectionTimeoutMS + connectTimeoutMS),
    );
    if (this.startAtOldest) {
      const oldest = await this.answers.track(oplogStart(this.client, limitMs), 0);
      this.startAtOldest = false;
      this.position = new ResumePosition({ kind: 'since', ts: oldest.ts });
      this.note(
        `starting at the oldest event still held: ${formatTimestamp(oldest.ts)} ` +
          `(${peopleTime(oldest.wall ?? new Date(oldest.ts.t * 1000), this.opts.timeZone)})`,
      );
    }
    const stage: Document = {};
    if (options.fullDocument !== undefined) stage.fullDocument = options.fullDocument;
    if (options.fullDocumentBeforeChange !== undefined) {
      stage.fullDocumentBeforeChange = options.fullDocumentBeforeChange;
    }
    const position = this.position.current;
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
    this.position.opened();
    // An aggregate does not await events, but it may need a server selected and a connection
    // made first: the driver bounds each itself (in limitMs), and its errors say more than ours.
    const { cursor, reply } = await this.answers.track(
      this.abandonable((signal) => RawCursor.open(this.client, db, command, limitMs, signal)),
      0,
    );
    // Closed while the aggregate was on its way: let go of the cursor it opened.
    if (this.closed) {
      await cursor.close();
      return reply;
    }
    this.cursor = cursor;
    this.replies = 0;
    return reply;
  }

  private async discard(cursor: RawCursor, kill = true): Promise<void> {
    if (this.cursor === cursor) this.cursor = undefined;
    await cursor.close(kill);
  }

  /** Waits and returns when the error is worth another try; throws the typed error otherwise. */
  private async recover(error: unknown): Promise<void> {
    if (!isTransient(error)) {
      const oldest = isHistoryLost(error) ? await oldestHeld(this.client) : undefined;
      throw toStreamError(error, this.position.current, this.opts, oldest);
    }
    const retry = this.reopen.failed(error instanceof NoAnswerError ? error.dueAt : undefined);
    // The driver knows the new primary already (or waits for it in server selection): waiting
    // first gains nothing, and each change abandons one command only.
    if (retry !== undefined && error instanceof PrimaryChangedError) retry.delayMs = 0;
    const { retryForMs } = this.reopen.policy;
    if (retry === undefined) {
      const tries = this.reopen.tries;
      const spent =
        retryForMs === 0
          ? '(--retry-for 0)'
          : `within --retry-for ${formatDuration(retryForMs)} (${tries} ${tries === 1 ? 'try' : 'tries'} ` +
            `in ${formatElapsed(this.reopen.elapsedMs)})`;
      throw new ConnectError(
        `lost the change stream from ${redactUri(this.opts.uri)} and could not re-open it ` +
          `${spent}: ${messageOf(error)}`,
        'the token file (if any) holds the last position; run again to continue from there',
      );
    }
    const limit = Number.isFinite(retryForMs)
      ? `giving up after ${formatDuration(retryForMs)}`
      : 'retrying forever';
    this.note(
      `change stream interrupted (${messageOf(error)}); re-opening from the last position ` +
        `in ${formatDuration(retry.delayMs)} (failing for ${formatElapsed(retry.elapsedMs)}, ${limit})`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, retry.delayMs);
      this.sleeping = { timer, wake: resolve };
    });
    this.sleeping = undefined;
  }
}

/** How long the look-up of the oldest oplog entry may delay the exit after a 286. */
const OLDEST_LIMIT_MS = 2000;

/** `find` on `local.oplog.rs` for its first entry in `$natural` order (the oldest). */
function findOldest(client: MongoClient, signal: AbortSignal): Promise<Document> {
  return client.db('local').command(
    {
      find: 'oplog.rs',
      filter: {},
      sort: { $natural: 1 },
      projection: { _id: 0, ts: 1, wall: 1 },
      limit: 1,
      singleBatch: true,
    },
    { signal },
  );
}

/**
 * --since oldest: the oldest entry the oplog holds (kcat's `-o beginning`). A network failure
 * or no answer within `limitMs` is transient (retried like an aggregate); anything else is a
 * ConnectError that says why and what to do instead.
 */
export async function oplogStart(client: MongoClient, limitMs: number): Promise<OldestHeld> {
  const startedAt = Date.now();
  const signal = AbortSignal.timeout(limitMs);
  const timedOut = new Promise<never>((_, reject) => {
    signal.addEventListener(
      'abort',
      () => reject(new NoAnswerError('oplog look-up', Date.now() - startedAt, startedAt)),
      { once: true },
    );
  });
  timedOut.catch(() => undefined); // only awaited through the race
  let oldest: OldestHeld | undefined;
  try {
    oldest = oldestFromReply(await Promise.race([findOldest(client, signal), timedOut]));
  } catch (error) {
    if (error instanceof NoAnswerError || isTransient(error)) throw error;
    throw await oplogUnreadable(client, error);
  }
  if (oldest === undefined) throw await oplogUnreadable(client, undefined);
  return oldest;
}

/** Why --since oldest cannot start: `error` from the look-up, or undefined for an empty oplog. */
async function oplogUnreadable(client: MongoClient, error: unknown): Promise<ConnectError> {
  const instead = 'give --since a time instead (e.g. --since 1d)';
  if (error instanceof MongoError && codeOf(error) === 13) {
    return new ConnectError(
      "--since oldest: cannot read the oplog's oldest time (not authorized to read local.oplog.rs)",
      `${instead}, or connect as a user with read on the local database`,
    );
  }
  // A mongos has no oplog of its own (each shard has one): ask what answered.
  const hello = await client
    .db('admin')
    .command({ hello: 1 }, { signal: AbortSignal.timeout(OLDEST_LIMIT_MS) })
    .catch(() => undefined);
  if (hello?.msg === 'isdbgrid') {
    return new ConnectError(
      '--since oldest needs a replica set: through mongos each shard has an oplog of its own',
      instead,
    );
  }
  if (error === undefined) {
    return new ConnectError(
      '--since oldest: the oplog (local.oplog.rs) holds no entries; is this a replica set member?',
      instead,
    );
  }
  return new ConnectError(
    `--since oldest: cannot read the oplog's oldest time (${messageOf(error)})`,
    instead,
  );
}

/**
 * The oldest entry the server still holds, to name the lost window after a 286; best effort.
 * Reading `local.oplog.rs` works on a replica-set member (mongod 6–8) for a user with read on
 * `local`; a user without it (13), a mongos (no oplog to read there) or a server that does not
 * answer in time gives undefined, and the message leaves the oldest time out.
 */
async function oldestHeld(client: MongoClient): Promise<OldestHeld | undefined> {
  const signal = AbortSignal.timeout(OLDEST_LIMIT_MS);
  // The race settles the wait even at a step that would not look at the signal.
  const aborted = new Promise<undefined>((resolve) => {
    signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  const lookup = findOldest(client, signal).then(oldestFromReply, () => undefined);
  return Promise.race([lookup, aborted]);
}
