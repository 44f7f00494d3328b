import { EventEmitter } from 'node:events';
import { Long, serialize, type Document } from 'bson';
import { MongoNetworkError, type MongoClient, type TopologyDescription } from 'mongodb';
import type { WatchSpec } from '../pipeline.js';
import { PrimaryChangedError } from './cursor.js';
import { ChangeSource, primaryOf, type Step } from './index.js';

interface Sent {
  command: Document;
  signal: AbortSignal | undefined;
}

const token = (n: number): Document => ({ _data: `8200000000${n}` });

/** A raw reply (the `cursor` as BSON bytes) with one insert event per token number. */
function reply(batch: 'firstBatch' | 'nextBatch', tokens: number[], pbrt: number): Document {
  const events = tokens.map((n) => ({ _id: token(n), operationType: 'insert' }));
  const cursor = serialize({
    id: Long.fromNumber(7),
    ns: 'db.c',
    [batch]: events,
    postBatchResumeToken: token(pbrt),
  });
  return { cursor: new Uint8Array(cursor), ok: 1 };
}

/**
 * A client that emits topology events when told and hands each aggregate and getMore to
 * `answer` (killCursors succeeds).
 */
class FakeClient extends EventEmitter {
  readonly options = { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 };
  readonly sent: Sent[] = [];

  constructor(private readonly answer: (sent: Sent) => Promise<Document>) {
    super();
  }

  startSession(): unknown {
    return { endSession: () => Promise.resolve() };
  }

  db(): unknown {
    return {
      command: (command: Document, opts: { signal?: AbortSignal }) => {
        if (command.killCursors !== undefined) return Promise.resolve({ ok: 1 });
        const one = { command, signal: opts.signal };
        this.sent.push(one);
        return this.answer(one);
      },
    };
  }

  /** The driver learned that the primary is now `to` (was `from`). */
  primaryChanged(from: string | undefined, to: string | undefined): void {
    this.emit('topologyDescriptionChanged', {
      previousDescription: topology(from),
      newDescription: topology(to),
    });
  }
}

function topology(primary: string | undefined): TopologyDescription {
  const servers = new Map(
    ['a:1', 'b:1', 'c:1'].map((address) => [
      address,
      { type: address === primary ? 'RSPrimary' : 'RSSecondary' },
    ]),
  );
  return { servers } as unknown as TopologyDescription;
}

/** Never settles unless the command's signal aborts it (as the driver does). */
const hangs = ({ signal }: Sent): Promise<Document> =>
  new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

const SPEC: WatchSpec = { pipeline: [], options: {}, printInvalidate: true, notes: [] };
const TARGET = { scope: { kind: 'collection', db: 'db', coll: 'c' }, label: 'db.c' } as const;

function source(client: FakeClient, notes: string[]): ChangeSource {
  return new ChangeSource(
    client as unknown as MongoClient,
    TARGET,
    SPEC,
    { kind: 'now' },
    { uri: 'mongodb://a:1/?replicaSet=rs0' },
    (note) => notes.push(note),
    { retryForMs: 10_000, baseDelayMs: 50, maxDelayMs: 50 },
  );
}

function tokensOf(step: Step): string[] {
  if (step.kind !== 'batch') return [];
  return [step.batch.end._data];
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const stage = (sent: Sent | undefined): Document =>
  (sent?.command.pipeline as Document[])[0]?.$changeStream as Document;

describe('primaryOf', () => {
  test('the member shown as RSPrimary, if any', () => {
    expect(primaryOf(topology('b:1'))).toBe('b:1');
    expect(primaryOf(topology(undefined))).toBeUndefined();
  });
});

describe('a change of primary while a command is outstanding', () => {
  test('abandons the prefetched getMore and re-opens at once from before its batch', async () => {
    const client: FakeClient = new FakeClient((sent) => {
      // The first aggregate reads event 1, its getMore goes unanswered; the re-open reads event 2.
      if (client.sent.length === 2) return hangs(sent);
      if (sent.command.aggregate === undefined) return Promise.resolve(reply('nextBatch', [], 2));
      return Promise.resolve(
        client.sent.length === 1 ? reply('firstBatch', [1], 1) : reply('firstBatch', [2], 2),
      );
    });
    const notes: string[] = [];
    const tail = source(client, notes);
    try {
      expect(tokensOf(await tail.next())).toEqual([token(1)._data]);
      // The next batch is being fetched (from the old primary, which never answers).
      expect(client.sent.map((s) => Object.keys(s.command)[0])).toEqual(['aggregate', 'getMore']);
      client.primaryChanged('a:1', 'b:1');
      const getMore = client.sent[1];
      await until(() => getMore?.signal?.aborted === true);
      expect(getMore?.signal?.reason).toBeInstanceOf(PrimaryChangedError);

      expect(tokensOf(await tail.next())).toEqual([token(2)._data]);
      // Re-opened after event 1, the last one handed over: the abandoned batch is read again.
      expect(client.sent.map((s) => Object.keys(s.command)[0])).toEqual([
        'aggregate',
        'getMore',
        'aggregate',
        'getMore',
      ]);
      expect(stage(client.sent[2])).toMatchObject({ resumeAfter: token(1) });
      expect(notes).toEqual([
        expect.stringMatching(
          /^change stream interrupted \(the primary changed from a:1 to b:1\); re-opening from the last position in 0ms /,
        ),
      ]);
    } finally {
      await tail.close();
    }
  });

  test('abandons an aggregate sent to a primary that was lost (no new one yet)', async () => {
    const client: FakeClient = new FakeClient((sent) =>
      client.sent.length === 1 ? hangs(sent) : Promise.resolve(reply('firstBatch', [], 3)),
    );
    const notes: string[] = [];
    const tail = source(client, notes);
    try {
      const step = tail.next();
      await until(() => client.sent.length === 1);
      client.primaryChanged('a:1', undefined);
      expect(await step).toEqual({ kind: 'idle', token: token(3) });
      expect(notes).toEqual([expect.stringMatching(/\(a:1 is no longer the primary\)/)]);
    } finally {
      await tail.close();
    }
  });

  test('a primary found, a change with nothing outstanding, or the same primary abandon nothing', async () => {
    let answerFirst: ((reply: Document) => void) | undefined;
    const client: FakeClient = new FakeClient((sent) => {
      if (sent.command.aggregate !== undefined) {
        return new Promise((resolve) => (answerFirst = resolve));
      }
      return Promise.resolve(reply('nextBatch', [], 5));
    });
    const notes: string[] = [];
    const tail = source(client, notes);
    try {
      const step = tail.next();
      await until(() => answerFirst !== undefined);
      // The first aggregate waits for a primary to be found; finding one changes nothing sent.
      client.primaryChanged(undefined, 'a:1');
      client.primaryChanged('a:1', 'a:1');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(client.sent[0]?.signal?.aborted).toBe(false);
      answerFirst?.(reply('firstBatch', [], 4));
      expect(await step).toEqual({ kind: 'idle', token: token(4) });
      // Nothing outstanding now (an empty batch prefetches nothing).
      client.primaryChanged('a:1', 'b:1');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await tail.next()).toEqual({ kind: 'idle', token: token(5) });
      expect(client.sent.map((s) => Object.keys(s.command)[0])).toEqual(['aggregate', 'getMore']);
      expect(notes).toEqual([]);
    } finally {
      await tail.close();
    }
  });

  test('a command that failed with the change keeps its own error', async () => {
    let fail: ((error: Error) => void) | undefined;
    const client: FakeClient = new FakeClient(() =>
      client.sent.length === 1
        ? new Promise((_resolve, reject) => (fail = reject))
        : Promise.resolve(reply('firstBatch', [], 6)),
    );
    const notes: string[] = [];
    const tail = source(client, notes);
    try {
      const step = tail.next();
      await until(() => fail !== undefined);
      // As after a step-down: the driver marks the member unknown, then the command rejects.
      client.primaryChanged('a:1', undefined);
      fail?.(new MongoNetworkError('connection 3 to a:1 closed'));
      expect(await step).toEqual({ kind: 'idle', token: token(6) });
      expect(notes).toEqual([expect.stringMatching(/\(connection 3 to a:1 closed\)/)]);
    } finally {
      await tail.close();
    }
  });

  test('close() stops listening to the client', async () => {
    const client: FakeClient = new FakeClient(hangs);
    const tail = source(client, []);
    expect(client.listenerCount('topologyDescriptionChanged')).toBe(1);
    await tail.close();
    expect(client.listenerCount('topologyDescriptionChanged')).toBe(0);
  });
});
