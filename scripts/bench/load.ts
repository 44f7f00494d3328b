// Writing the bench's events: the starting point every reader shares (a resume token taken
// before the writes), the preloads (a realistic mix; same-sized inserts), and the live
// writers, which run as their own process (scripts/bench/writer.ts) so their CPU is not ours.
import { type ChildProcess } from 'node:child_process';
import { type Document, EJSON, Long } from 'bson';
import { type Collection, MongoClient } from 'mongodb';
import { order } from './docs.js';
import { spawnTracked } from './procs.js';

/** A client for setting up data. */
export async function connect(uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  return client;
}

/**
 * The position right now on `db.coll`, as a resume token in Extended JSON: the
 * postBatchResumeToken of a fresh change stream (a high-water mark that every client accepts as
 * `resumeAfter`; the stream then returns exactly the events written after this call).
 */
export async function startToken(client: MongoClient, db: string, coll: string): Promise<string> {
  const reply = await client.db(db).command({
    aggregate: coll,
    pipeline: [{ $changeStream: {} }],
    cursor: { batchSize: 0 },
  });
  const cursor = reply.cursor as { id: Long; postBatchResumeToken?: Document };
  if (!cursor.postBatchResumeToken) throw new Error('the server sent no postBatchResumeToken');
  if (!cursor.id.isZero()) {
    await client.db(db).command({ killCursors: coll, cursors: [cursor.id] });
  }
  return EJSON.stringify(cursor.postBatchResumeToken, { relaxed: false });
}

/** The shares of the preload mix. */
export const MIX = { insert: 0.7, update: 0.2, delete: 0.1 };
const CHUNK = 1000;

/** How many inserts, updates and deletes make `events` events of the mix (exact total). */
export function mixCounts(events: number): { insert: number; update: number; delete: number } {
  let totals = { insert: 0, update: 0, delete: 0 };
  for (let done = 0; done < events; done += CHUNK) {
    const c = chunkCounts(Math.min(CHUNK, events - done));
    totals = {
      insert: totals.insert + c.insert,
      update: totals.update + c.update,
      delete: totals.delete + c.delete,
    };
  }
  return totals;
}

function chunkCounts(k: number): { insert: number; update: number; delete: number } {
  const insert = Math.max(1, Math.round(k * MIX.insert));
  const update = Math.min(insert, Math.round(k * MIX.update));
  return { insert, update, delete: k - insert - update };
}

/**
 * Writes exactly `events` change events into `coll`: per chunk of 1,000, 700 orders by
 * insertMany, 200 updates (`$set` status + `$inc` of a Long) and 100 deletes, each as one bulk
 * command with one statement (and one event) per document.
 */
export async function preloadMix(
  coll: Collection,
  events: number,
  log: (line: string) => void,
): Promise<void> {
  let seq = 0;
  let quarter = 0;
  for (let done = 0; done < events;) {
    const k = Math.min(CHUNK, events - done);
    const counts = chunkCounts(k);
    const docs = Array.from({ length: counts.insert }, () => order(seq++));
    await coll.insertMany(docs, { ordered: true });
    if (counts.update > 0) {
      await coll.bulkWrite(
        docs.slice(0, counts.update).map((d) => ({
          updateOne: {
            filter: { _id: d._id },
            update: {
              $set: { status: 'paid', updatedAt: new Date() },
              $inc: { 'counters.edits': Long.ONE },
            },
          },
        })),
        { ordered: true },
      );
    }
    if (counts.delete > 0) {
      await coll.bulkWrite(
        docs.slice(docs.length - counts.delete).map((d) => ({
          deleteOne: { filter: { _id: d._id } },
        })),
        { ordered: true },
      );
    }
    done += k;
    if (Math.floor((done * 4) / events) > quarter && done < events) {
      quarter = Math.floor((done * 4) / events);
      log(`  preload: ${done.toLocaleString('en-US')} / ${events.toLocaleString('en-US')} events`);
    }
  }
}

/** Inserts `count` documents from `gen`, in insertMany calls of at most ~8 MB / 1,000 docs. */
export async function preloadInserts(
  coll: Collection,
  count: number,
  gen: (seq: number) => Document,
  docBytes: number,
): Promise<void> {
  const perCall = Math.max(1, Math.min(1000, Math.floor(8_000_000 / docBytes)));
  for (let seq = 0; seq < count;) {
    const n = Math.min(perCall, count - seq);
    const docs = Array.from({ length: n }, (_, k) => gen(seq + k));
    await coll.insertMany(docs, { ordered: true });
    seq += n;
  }
}

/** What a writer process is asked to do (passed as JSON on its command line). */
export type WriterSpec =
  | {
      /** `count` orders at `rate` per second, each with `seq` and `sentAt` (ms, fractional). */
      mode: 'rate';
      uri: string;
      db: string;
      coll: string;
      count: number;
      rate: number;
    }
  | {
      /**
       * `count` events as fast as the reader keeps up: insertMany of 1,000 orders, then
       * deleteMany of them (the collection stays small), never more than `window` events ahead
       * of the count the bench reports (so a bounded oplog never drops unread history).
       */
      mode: 'flow';
      uri: string;
      db: string;
      coll: string;
      count: number;
      window: number;
      /** Documents of about this size instead of orders (see docs.ts `sized`). */
      docBytes?: number;
    };

/** Messages between the bench and a writer. */
export type WriterMessage = { read: number } | { sent: number; done: true } | { error: string };

export interface Writer {
  readonly child: ChildProcess;
  /** Tells a flow writer how many events the reader has taken. */
  reportRead(read: number): void;
  /** Resolves with the number of events written, once the writer is done. */
  readonly done: Promise<number>;
}

/** Starts scripts/bench/writer.ts. */
export function startWriter(root: string, spec: WriterSpec): Writer {
  const child = spawnTracked(
    process.execPath,
    ['--import', './test/register.mjs', 'scripts/bench/writer.ts', JSON.stringify(spec)],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const done = new Promise<number>((resolve, reject) => {
    let sent: number | undefined;
    let error: string | undefined;
    child.on('message', (msg: WriterMessage) => {
      if ('done' in msg) sent = msg.sent;
      if ('error' in msg) error = msg.error;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (sent !== undefined && code === 0) resolve(sent);
      else reject(new Error(`the writer failed (${error ?? signal ?? `exit code ${code}`})`));
    });
  });
  done.catch(() => undefined);
  return {
    child,
    reportRead(read) {
      if (child.connected) child.send({ read } satisfies WriterMessage, () => undefined);
    },
    done,
  };
}
