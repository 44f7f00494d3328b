// A change stream opened at the mongos: one `$changeStream` cursor per shard, merged in resume-
// token order (cluster time first), as the real mongos merges them (AsyncResultsMerger with
// `tailableMode: kTailableAndAwaitData` and the `$sortKey` = resume token,
// src/mongo/s/query/exec/async_results_merger.cpp). An event is returned only once every other
// shard has promised nothing earlier: it has a buffered event not before it, or its
// postBatchResumeToken (its high-water mark) is not before it (`_readyUnsorted`/`_readySorted`
// with `_promisedMinSortKeys`). So an idle shard holds the merged stream back until its periodic
// no-op moves its high-water mark (jstests/sharding/change_stream_no_shards_idle.js waits on
// `periodicNoopIntervalSecs` the same way).
//
// Resuming: every shard resumes from the client's token and passes the event with that token on;
// the mongos swallows it and fails with 280 when an event past it comes first
// (DocumentSourceChangeStreamEnsureResumeTokenPresent runs on mongos for a sharded stream).
// An invalidate from any shard ends the merged stream after the event before it (a dropped
// collection's `drop` comes from the primary shard alone: the others drop with `fromMigrate`).
import { type Document, Long, deserialize } from 'bson';
import {
  ChangeStreamCursor,
  DEFAULT_AWAIT_MS,
  type ChangeStreamSpec,
  cursorReply,
} from '../change-stream/change-stream.js';
import { RawDocumentArray } from '../change-stream/raw-bson.js';
import {
  HIGH_WATER_MARK_TOKEN,
  compareTokens,
  decodeResumeToken,
  highWaterMarkToken,
  type ResumeToken,
} from '../change-stream/tokens.js';
import { ServerError, fail, withContext } from '../errors.js';
import { nextTick } from '../oplog.js';
import type { CommandContext, ConnectionInfo, ServerCursor } from '../types.js';
import { EXACT, toNumber } from '../values.js';
import type { Shard, ShardedCluster } from './sharded.js';

const NON_RESUMABLE = ['NonResumableChangeStreamError'];

interface Pending {
  readonly bson: Uint8Array;
  readonly token: ResumeToken;
  readonly invalidate: boolean;
}

/** One shard's cursor and what the mongos has read from it. */
interface ShardStream {
  readonly shard: Shard;
  readonly cursor: ChangeStreamCursor;
  buffer: Pending[];
  /** Its latest postBatchResumeToken: it will return nothing before this. */
  hwm: ResumeToken;
  /** Its cursor is closed (after an invalidate). */
  done: boolean;
}

/** The merged `$changeStream` cursor a mongos hands out. */
export class MongosChangeStream implements ServerCursor {
  readonly id: Long;
  readonly ns: string;
  readonly isChangeStream = true;
  private readonly streams: ShardStream[];
  private pbrt: ResumeToken;
  private finished = false;
  private killed = false;
  private readonly wakers = new Set<() => void>();
  /** The client's token while the event carrying it has not come by. */
  private clientToken: ResumeToken | undefined;
  private mustSeeToken = false;
  private tokenSeen = false;

  constructor(
    private readonly cluster: ShardedCluster,
    ctx: CommandContext,
    spec: ChangeStreamSpec,
    stages: Document[],
    readonly lsid: Document | null,
  ) {
    const token = spec.resumeAfter ?? spec.startAfter;
    // A new stream starts on every shard at one cluster time, the mongos' own (the real mongos
    // sets `$_resumeAfterClusterTime`/startAtOperationTime from its VectorClock for the shards).
    const shardSpec: ChangeStreamSpec =
      token || spec.startAtOperationTime
        ? spec
        : { ...spec, startAtOperationTime: nextTick(cluster.clock.lastTimestamp) };
    if (token) {
      const data = decodeResumeToken(token);
      this.clientToken = token;
      // An invalidate's token is swallowed by the shard that made it (startAfter).
      this.mustSeeToken = data.tokenType !== HIGH_WATER_MARK_TOKEN && !data.fromInvalidate;
      this.pbrt = token;
    } else {
      this.pbrt = highWaterMarkToken(shardSpec.startAtOperationTime ?? cluster.clock.lastTimestamp);
    }
    this.streams = cluster.shards.map((shard) => {
      const cursor = new ChangeStreamCursor(shard.state, shardSpec, stages, lsid, {
        onShard: true,
      });
      return { shard, cursor, buffer: [], hwm: this.pbrt, done: false };
    });
    const first = this.streams[0] as ShardStream;
    this.ns = first.cursor.ns;
    this.id = ctx.server.cursors.nextId();
  }

  /** The aggregate's reply; reads what every shard has and merges what may go. */
  firstBatch(batchSize: number): Document {
    for (const s of this.streams) {
      const reply = s.cursor.firstBatch(Number.MAX_SAFE_INTEGER);
      this.take(s, reply);
    }
    let batch: Uint8Array[] = [];
    try {
      batch = this.merge(batchSize);
    } catch (err) {
      throw err instanceof ServerError
        ? withContext(err, 'PlanExecutor error during aggregation')
        : err;
    }
    return this.reply('firstBatch', batch);
  }

  async getMore(cmd: Document, ctx: CommandContext): Promise<Document> {
    const requested = cmd.batchSize === undefined ? 0 : (toNumber(cmd.batchSize) ?? 0);
    const batchSize = requested > 0 ? requested : Number.MAX_SAFE_INTEGER;
    const maxTimeMS =
      cmd.maxTimeMS === undefined
        ? DEFAULT_AWAIT_MS
        : (toNumber(cmd.maxTimeMS) ?? DEFAULT_AWAIT_MS);
    const deadline = Date.now() + maxTimeMS;
    try {
      await this.pull(ctx);
      let batch = this.merge(batchSize);
      while (batch.length === 0 && !this.finished && !this.killed && !ctx.connection.closed) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        await this.waitForAppend(remaining, ctx.connection);
        if (this.killed) fail(237, 'operation was interrupted because a client killed the cursor');
        await this.pull(ctx);
        batch = this.merge(batchSize);
      }
      return this.reply('nextBatch', batch);
    } catch (err) {
      this.close(ctx);
      throw err instanceof ServerError && !err.message.startsWith('Executor error during getMore')
        ? withContext(err, 'Executor error during getMore')
        : err;
    }
  }

  kill(): void {
    this.killed = true;
    this.finished = true;
    for (const s of this.streams) s.cursor.kill();
    for (const wake of [...this.wakers]) wake();
  }

  private close(ctx: CommandContext): void {
    ctx.server.cursors.remove(this.id);
    this.kill();
  }

  /** Reads every open shard cursor without waiting. */
  private async pull(ctx: CommandContext): Promise<void> {
    for (const s of this.streams) {
      if (s.done) continue;
      // The getMore carries the cluster time to the shard (gossip), so its next no-op is
      // stamped after every event another shard has.
      this.cluster.gossip(s.shard);
      const shardCtx: CommandContext = {
        db: ctx.db,
        server: s.shard.state,
        connection: ctx.connection,
      };
      const reply = await s.cursor.getMore({ getMore: s.cursor.id, maxTimeMS: 0 }, shardCtx);
      this.take(s, reply);
    }
  }

  /** Buffers a shard's batch and notes its high-water mark. */
  private take(s: ShardStream, reply: Document): void {
    const cursor = reply.cursor as Document;
    const batch: unknown = cursor.firstBatch ?? cursor.nextBatch;
    const docs = batch instanceof RawDocumentArray ? batch.docs : [];
    for (const bson of docs) {
      const event = deserialize(bson, EXACT);
      s.buffer.push({
        bson,
        token: event._id as ResumeToken,
        invalidate: event.operationType === 'invalidate',
      });
    }
    s.hwm = cursor.postBatchResumeToken as ResumeToken;
    if ((cursor.id as Long).isZero()) s.done = true;
  }

  /**
   * Takes up to `limit` events in token order, each only once no shard can still return an
   * earlier one; then moves the postBatchResumeToken to the smallest high-water mark.
   */
  private merge(limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (out.length < limit && !this.finished) {
      let next: ShardStream | undefined;
      for (const s of this.streams) {
        const head = s.buffer[0];
        if (head && (!next || compareTokens(head.token, (next.buffer[0] as Pending).token) < 0)) {
          next = s;
        }
      }
      if (!next) break;
      const head = next.buffer[0] as Pending;
      const blocked = this.streams.some(
        (s) => s !== next && s.buffer.length === 0 && compareTokens(s.hwm, head.token) < 0,
      );
      if (blocked) break;
      next.buffer.shift();
      this.pbrt = head.token;
      if (!this.admitAfterResume(head.token)) continue;
      out.push(head.bson);
      if (head.invalidate) this.finished = true;
    }
    if (!this.finished && this.streams.every((s) => s.buffer.length === 0)) {
      let min: ResumeToken | undefined;
      for (const s of this.streams) if (!min || compareTokens(s.hwm, min) < 0) min = s.hwm;
      if (min && compareTokens(min, this.pbrt) > 0) this.pbrt = min;
    }
    return out;
  }

  /** DocumentSourceChangeStreamEnsureResumeTokenPresent, on the merged stream. */
  private admitAfterResume(token: ResumeToken): boolean {
    const client = this.clientToken;
    if (!client) return true;
    const cmp = compareTokens(token, client);
    if (cmp < 0) return false;
    if (cmp === 0) {
      this.tokenSeen = true;
      return false;
    }
    if (this.mustSeeToken && !this.tokenSeen) {
      fail(280, 'cannot resume stream; the resume token was not found.', NON_RESUMABLE);
    }
    this.clientToken = undefined;
    return true;
  }

  private reply(field: 'firstBatch' | 'nextBatch', batch: Uint8Array[]): Document {
    const closed = this.finished;
    if (closed) {
      for (const s of this.streams) s.cursor.kill();
    }
    return cursorReply(field, batch, this.pbrt, closed ? Long.ZERO : this.id, this.ns);
  }

  /** Resolves at the next write on any shard, at `ms`, or when the client goes. */
  private waitForAppend(ms: number, connection: ConnectionInfo): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const unsubscribes: (() => void)[] = [];
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const u of unsubscribes.splice(0)) u();
        this.wakers.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      for (const s of this.streams) unsubscribes.push(s.shard.oplog.subscribe(finish));
      this.wakers.add(finish);
      // A connection closed already calls `finish` at once: then unregister at once too.
      const stopWatching = connection.onClose?.(finish);
      if (stopWatching) {
        if (done) stopWatching();
        else unsubscribes.push(stopWatching);
      }
    });
  }
}
