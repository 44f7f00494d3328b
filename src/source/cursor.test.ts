import { getEventListeners } from 'node:events';
import { Long, serialize, type Document } from 'bson';
import { MongoNetworkError, type MongoClient } from 'mongodb';
import {
  ANSWER_MARGIN_MS,
  AnswerTimes,
  NoAnswerError,
  PrimaryChangedError,
  RawCursor,
  SERVER_AWAIT_MS,
  answerLimitMs,
} from './cursor.js';
import { isTransient } from './diagnose.js';

/** A reply whose `cursor` is raw bytes, as the driver returns it with `raw: true`. */
function cursorReply(): Document {
  const cursor = serialize({ id: Long.fromNumber(7), ns: 'db.c', firstBatch: [] });
  return { cursor: new Uint8Array(cursor), ok: 1 };
}

interface Sent {
  command: Document;
  signal: AbortSignal | undefined;
}

/**
 * A client whose `command` answers the aggregate and hands every later command to `answer`
 * (which may never settle: a server that does not answer).
 */
function fakeClient(answer: (sent: Sent) => Promise<Document>): {
  client: MongoClient;
  sent: Sent[];
} {
  const sent: Sent[] = [];
  const client = {
    startSession: () => ({ endSession: () => Promise.resolve() }),
    db: () => ({
      command: (command: Document, opts: { signal?: AbortSignal }) => {
        const one = { command, signal: opts.signal };
        sent.push(one);
        return command.aggregate !== undefined ? Promise.resolve(cursorReply()) : answer(one);
      },
    }),
  } as unknown as MongoClient;
  return { client, sent };
}

/** Never settles unless the command's signal aborts it (as the driver does). */
const hangs = ({ signal }: Sent): Promise<Document> =>
  new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

async function openCursor(client: MongoClient): Promise<RawCursor> {
  const { cursor } = await RawCursor.open(client, 'db', { aggregate: 'c', pipeline: [] }, 1000);
  return cursor;
}

describe('answerLimitMs', () => {
  test('await time + margin; an aggregate adds its connect time', () => {
    expect(answerLimitMs(SERVER_AWAIT_MS, ANSWER_MARGIN_MS)).toBe(11_000);
    expect(answerLimitMs(0, ANSWER_MARGIN_MS, 0, 20_000)).toBe(30_000);
  });

  test('the margin doubles per unanswered try in a row, up to 16 times', () => {
    expect([0, 1, 2, 3, 4, 5, 30].map((n) => answerLimitMs(1000, 500, n))).toEqual([
      1500, 2000, 3000, 5000, 9000, 9000, 9000,
    ]);
  });
});

describe('a getMore the server does not answer', () => {
  test('is aborted through its signal after the limit: NoAnswerError, transient, measured', async () => {
    const { client, sent } = fakeClient(hangs);
    const cursor = await openCursor(client);
    const started = Date.now();
    const error = await cursor.getMore({ maxAwaitTimeMS: 20 }, 60).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NoAnswerError);
    const noAnswer = error as NoAnswerError;
    expect(noAnswer.command).toBe('getMore');
    // Node's timers may fire a millisecond before Date.now() says the time is up.
    expect(noAnswer.elapsedMs).toBeGreaterThanOrEqual(55);
    expect(noAnswer.message).toMatch(/^the server did not answer a getMore within \d+\.\ds$/);
    // Failing since the answer was due: sent + the 20 ms await time.
    expect(noAnswer.dueAt).toBeGreaterThanOrEqual(started + 20);
    expect(noAnswer.dueAt).toBeLessThanOrEqual(Date.now() - 35);
    // The driver destroys the connection of an aborted command: a transient network failure.
    expect(noAnswer).toBeInstanceOf(MongoNetworkError);
    expect(isTransient(noAnswer)).toBe(true);
    expect(sent.at(-1)?.command).toMatchObject({ getMore: Long.fromNumber(7), maxTimeMS: 20 });
    expect(sent.at(-1)?.signal?.aborted).toBe(true);
  });

  test('is given up even when the driver ignores the signal, and its late answer goes nowhere', async () => {
    let late: ((reply: Document) => void) | undefined;
    const { client } = fakeClient(
      () =>
        new Promise((resolve) => {
          late = resolve;
        }),
    );
    const cursor = await openCursor(client);
    await expect(cursor.getMore({}, 30)).rejects.toBeInstanceOf(NoAnswerError);
    late?.(cursorReply());
    // The id stays that of the cursor the late reply did not update.
    expect(cursor.id.toNumber()).toBe(7);
  });

  test('an answer in time clears the deadline', async () => {
    const { client, sent } = fakeClient(() => Promise.resolve(cursorReply()));
    const cursor = await openCursor(client);
    const reply = await cursor.getMore({}, 30);
    expect(reply.id.toNumber()).toBe(7);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent.at(-1)?.signal?.aborted).toBe(false);
  });

  test('an aggregate that does not answer is named in the error', async () => {
    const client = {
      startSession: () => ({ endSession: () => Promise.resolve() }),
      db: () => ({
        command: (_c: Document, opts: { signal?: AbortSignal }) => hangs(opts as Sent),
      }),
    } as unknown as MongoClient;
    await expect(RawCursor.open(client, 'db', { aggregate: 1, pipeline: [] }, 30)).rejects.toThrow(
      /^the server did not answer the aggregate within \d+\.\ds$/,
    );
  });

  test('killCursors on a server that does not answer is given up (close returns)', async () => {
    const { client, sent } = fakeClient(hangs);
    const cursor = await openCursor(client);
    await cursor.close();
    expect(sent.at(-1)?.command).toMatchObject({ killCursors: 'c' });
    expect(sent.at(-1)?.signal?.aborted).toBe(true);
  }, 10_000);
});

describe('a command abandoned through an external signal', () => {
  test("a getMore rejects with the signal's reason, and the driver's signal aborts too", async () => {
    const { client, sent } = fakeClient(hangs);
    const cursor = await openCursor(client);
    const external = new AbortController();
    const reply = cursor.getMore({}, 10_000, external.signal);
    const changed = new PrimaryChangedError('a:27017', 'b:27017');
    external.abort(changed);
    await expect(reply).rejects.toBe(changed);
    expect(sent.at(-1)?.signal?.aborted).toBe(true);
    expect(changed.message).toBe('the primary changed from a:27017 to b:27017');
    // Transient, and not a command left unanswered (no longer deadline next time).
    expect(isTransient(changed)).toBe(true);
    expect(changed).not.toBeInstanceOf(NoAnswerError);
  });

  test('it wins even when the driver ignores the signal; an abort after the answer is harmless', async () => {
    const { client } = fakeClient(() => new Promise(() => undefined));
    const cursor = await openCursor(client);
    const external = new AbortController();
    const reply = cursor.getMore({}, 10_000, external.signal);
    external.abort(new PrimaryChangedError('a:1', undefined));
    await expect(reply).rejects.toThrow(/^a:1 is no longer the primary$/);

    const answered = fakeClient(() => Promise.resolve(cursorReply()));
    const later = new AbortController();
    const next = await (await openCursor(answered.client)).getMore({}, 10_000, later.signal);
    later.abort(new PrimaryChangedError('a:1', 'b:1'));
    expect(next.id.toNumber()).toBe(7);
  });

  test('a command leaves nothing on the external signal once it is answered (no per-event leak)', async () => {
    const { client } = fakeClient(() => Promise.resolve(cursorReply()));
    const cursor = await openCursor(client);
    const external = new AbortController();
    for (let i = 0; i < 100; i++) await cursor.getMore({}, 10_000, external.signal);
    // AbortSignal.any kept each combined signal registered on its sources: ~600 B per getMore.
    expect(getEventListeners(external.signal, 'abort')).toHaveLength(0);
  });

  test('the deadline still applies with an external signal, and an aborted one sends nothing', async () => {
    const { client, sent } = fakeClient(hangs);
    const cursor = await openCursor(client);
    const external = new AbortController();
    await expect(cursor.getMore({}, 30, external.signal)).rejects.toBeInstanceOf(NoAnswerError);
    expect(external.signal.aborted).toBe(false);
    const count = sent.length;
    external.abort(new PrimaryChangedError('a:1', 'b:1'));
    await expect(cursor.getMore({}, 30, external.signal)).rejects.toBeInstanceOf(
      PrimaryChangedError,
    );
    expect(sent.length).toBe(count);
  });

  test('an aggregate rejects with the reason and ends its session', async () => {
    let ended = 0;
    let driverSignal: AbortSignal | undefined;
    const client = {
      startSession: () => ({ endSession: () => Promise.resolve(ended++) }),
      db: () => ({
        command: (_c: Document, opts: { signal?: AbortSignal }) => {
          driverSignal = opts.signal;
          return hangs(opts as Sent);
        },
      }),
    } as unknown as MongoClient;
    const external = new AbortController();
    const opened = RawCursor.open(
      client,
      'db',
      { aggregate: 1, pipeline: [] },
      10_000,
      external.signal,
    );
    const changed = new PrimaryChangedError('a:1', 'b:1');
    external.abort(changed);
    await expect(opened).rejects.toBe(changed);
    expect(driverSignal?.reason).toBe(changed);
    expect(ended).toBe(1);
  });
});

describe('AnswerTimes (what --idle-timeout may count)', () => {
  function setup(): { times: AnswerTimes; at: (ms: number) => void } {
    let clock = 1_000_000;
    return { times: new AnswerTimes(() => clock), at: (ms) => (clock = 1_000_000 + ms) };
  }
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  test('answeredAt: the time of the latest answer, not of a failure', async () => {
    const { times, at } = setup();
    expect(times.answeredAt).toBe(0);
    at(300);
    await times.track(Promise.resolve(), 1000);
    await settle();
    expect(times.answeredAt).toBe(1_000_300);
    at(900);
    await times.track(Promise.reject(new Error('cut')), 1000).catch(() => undefined);
    await settle();
    expect(times.answeredAt).toBe(1_000_300);
  });

  test('a getMore within its await time counts; past it, nothing counts until it answers', async () => {
    const { times, at } = setup();
    let answer: (() => void) | undefined;
    void times.track(new Promise<void>((resolve) => (answer = resolve)), 1000);
    at(1000);
    expect(times.answeringSince()).toBe(0);
    at(1001);
    expect(times.answeringSince()).toBeUndefined();
    // An answer a little past the await time is on time: nothing before it is lost.
    at(1500);
    answer?.();
    await settle();
    expect(times.answeringSince()).toBe(0);
  });

  test('after a late answer, idle time counts from the answer', async () => {
    const { times, at } = setup();
    let answer: (() => void) | undefined;
    void times.track(new Promise<void>((resolve) => (answer = resolve)), 1000);
    at(7000);
    expect(times.answeringSince()).toBeUndefined();
    answer?.();
    await settle();
    expect(times.answeringSince()).toBe(1_007_000);
  });

  test('a failed command settles too; restart() starts idle time over', async () => {
    const { times, at } = setup();
    const failed = times.track(Promise.reject(new Error('gone')), 0);
    await failed.catch(() => undefined);
    await settle();
    expect(times.answeringSince()).toBe(0);
    at(3000);
    times.restart();
    expect(times.answeringSince()).toBe(1_003_000);
  });

  test('a newer command replaces the one being watched', () => {
    const { times, at } = setup();
    void times.track(new Promise<void>(() => undefined), 0);
    at(10);
    expect(times.answeringSince()).toBeUndefined();
    void times.track(new Promise<void>(() => undefined), 1000);
    expect(times.answeringSince()).toBe(0);
  });
});
