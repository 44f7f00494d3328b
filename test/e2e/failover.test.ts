// Failover under load: mongo-tail follows a collection on a three-member replica set while a
// writer inserts a steady stream of documents (retryable writes) and the primary is stepped
// down three times. Every inserted `seq` must be printed exactly once, in order.
//
// Runs against MONGO_TAIL_TEST_URI when that is a set of three or more members (step-downs
// through replSetStepDown); otherwise against a private three-member test server.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Document, MongoClient, MongoNetworkError } from 'mongodb';
import { type TestServer, startTestServer } from '../server/index.js';
import { uniqueDbName } from '../helpers/testenv.js';
import { type RunningCli, startCli } from './harness.js';
import { clusterTime, events } from './util.js';

/** A set whose primary the test can step down. */
interface Deployment {
  readonly uri: string;
  readonly kind: string;
  /** Steps the primary down; resolves once another member is primary. */
  stepDown(): Promise<{ from: string; to: string }>;
  close(): Promise<void>;
}

/** MONGO_TAIL_TEST_URI when it is a set of three or more members, else undefined. */
async function realSet(): Promise<Deployment | undefined> {
  const uri = process.env.MONGO_TAIL_TEST_URI;
  if (!uri) return undefined;
  const admin = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const hello = await admin.db('admin').command({ hello: 1 });
    if (!Array.isArray(hello.hosts) || hello.hosts.length < 3) {
      await admin.close();
      return undefined;
    }
  } catch (error) {
    await admin.close();
    throw error;
  }
  const primary = async (): Promise<string | undefined> =>
    (await admin.db('admin').command({ hello: 1 })).primary as string | undefined;
  return {
    uri,
    kind: 'MONGO_TAIL_TEST_URI',
    async stepDown() {
      const from = await primary();
      try {
        // A short step-down period: the test steps down three times within seconds.
        await admin.db('admin').command({ replSetStepDown: 2, secondaryCatchUpPeriodSecs: 2 });
      } catch (error) {
        // Servers before 4.2 close the connection that asked.
        if (!(error instanceof MongoNetworkError)) throw error;
      }
      for (;;) {
        const to = await primary().catch(() => undefined);
        if (to !== undefined && to !== from) return { from: from ?? '?', to };
        await sleep(50);
      }
    },
    close: () => admin.close(),
  };
}

async function privateSet(): Promise<Deployment> {
  const server: TestServer = await startTestServer({ topology: 'replset3' });
  return {
    uri: server.uri,
    kind: 'private replset3 test server',
    stepDown: () => server.stepDown(),
    close: () => server.stop(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Inserts `{_id: seq, seq}` for seq 1..total, a few ms apart, timing each write. */
class Writer {
  written = 0;
  maxLatencyMs = 0;
  readonly done: Promise<void>;

  constructor(client: MongoClient, db: string, total: number) {
    const coll = client.db(db).collection<{ _id: number; seq: number }>('events');
    this.done = (async () => {
      for (let seq = 1; seq <= total; seq++) {
        const started = Date.now();
        await coll.insertOne({ _id: seq, seq });
        this.maxLatencyMs = Math.max(this.maxLatencyMs, Date.now() - started);
        this.written = seq;
        await sleep(2);
      }
    })();
  }

  /** Resolves once `seq` was written (or the writer failed). */
  async reached(seq: number): Promise<void> {
    while (this.written < seq) {
      await Promise.race([this.done, sleep(10)]);
      if (this.written < seq && (await settled(this.done))) {
        throw new Error(`the writer stopped at ${this.written}`);
      }
    }
  }
}

async function settled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return (await Promise.race([p.then(() => true), Promise.resolve(marker)])) !== marker;
}

/** The `seq` of each printed insert event, in order. */
function printedSeqs(lines: string[]): number[] {
  return events(lines.join('\n')).map((e) => Number((e.fullDocument as Document).seq));
}

/** Lines mongo-tail printed on stderr about re-opening the stream. */
function reopenNotes(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.includes('re-opening'));
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

let deployment: Deployment;
let writerClient: MongoClient;
let dir: string;

beforeAll(async () => {
  deployment = (await realSet()) ?? (await privateSet());
  writerClient = new MongoClient(deployment.uri, {
    retryWrites: true,
    serverSelectionTimeoutMS: 15_000,
  });
  await writerClient.connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-failover-'));
}, 20_000);
afterAll(async () => {
  await writerClient?.close();
  await deployment?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Steps down at each of `at` (seqs written), timing how long each election took. */
async function stepDownsDuring(writer: Writer, at: number[]): Promise<string[]> {
  const notes: string[] = [];
  for (const seq of at) {
    await writer.reached(seq);
    const started = Date.now();
    const { from, to } = await deployment.stepDown();
    notes.push(`at seq ${writer.written}: ${from} → ${to} in ${Date.now() - started} ms`);
  }
  return notes;
}

test('three step-downs under a steady write load: every event printed once, in order', async () => {
  const N = 1500;
  const db = uniqueDbName('failover');
  const since = await clusterTime(writerClient);
  const started = Date.now();
  const tail = startCli([
    '--uri',
    deployment.uri,
    '-f',
    'json',
    '--since',
    since,
    `${db}.events`,
    '-n',
    String(N),
  ]);
  const writer = new Writer(writerClient, db, N);
  const steps = await stepDownsDuring(writer, [N * 0.25, N * 0.5, N * 0.75]);
  await writer.done;
  const result = await tail.done;
  const seqs = printedSeqs(result.stdout.split('\n').filter((l) => l !== ''));
  const notes = reopenNotes(result.stderr);
  console.log(
    `failover (${deployment.kind}): ${seqs.length} events in ${Date.now() - started} ms; ` +
      `step-downs: ${steps.join('; ')}; slowest write ${writer.maxLatencyMs} ms; ` +
      `mongo-tail re-opened ${notes.length}x:\n${notes.join('\n')}`,
  );
  expect(result.code).toBe(0);
  expect(seqs).toEqual(range(N));
}, 60_000);

test('with --token-file, stopped and restarted between step-downs: nothing lost or repeated', async () => {
  const N = 900;
  const db = uniqueDbName('failover_tf');
  const tokenFile = join(dir, `${db}.token`);
  const since = await clusterTime(writerClient);
  const argv = [
    '--uri',
    deployment.uri,
    '-f',
    'json',
    '--since',
    since,
    '--token-file',
    tokenFile,
    `${db}.events`,
  ];
  const writer = new Writer(writerClient, db, N);
  const first: RunningCli = startCli(argv);
  const steps = await stepDownsDuring(writer, [N * 0.25]);
  // Stop the first run after it followed the first step-down, then start another.
  await first.waitForLines(Math.floor(N * 0.3), 20_000);
  first.signal('SIGTERM');
  const firstResult = await first.done;
  const second = startCli(argv);
  steps.push(...(await stepDownsDuring(writer, [N * 0.6, N * 0.85])));
  await writer.done;
  // The second run ends with the last event; it waits for more, so it is stopped then.
  const firstCount = firstResult.stdout.split('\n').filter((l) => l !== '').length;
  await second.waitForLines(N - firstCount, 20_000).catch(() => undefined);
  second.signal('SIGTERM');
  const secondResult = await second.done;
  const seqs = [
    ...printedSeqs(firstResult.stdout.split('\n').filter((l) => l !== '')),
    ...printedSeqs(secondResult.stdout.split('\n').filter((l) => l !== '')),
  ];
  console.log(
    `failover with --token-file (${deployment.kind}): run 1 printed ${firstCount}, run 2 ` +
      `${seqs.length - firstCount}; step-downs: ${steps.join('; ')}; re-opens: ` +
      `${reopenNotes(firstResult.stderr).length} + ${reopenNotes(secondResult.stderr).length}`,
  );
  expect([firstResult.code, secondResult.code]).toEqual([143, 143]);
  expect(seqs).toEqual(range(N));
}, 60_000);

// A primary that stops answering (hung, not stepped down) needs a server that can be made to
// hang: this test always starts a private three-member test server.
describe('a primary that hangs past the election timeout', () => {
  // A getMore (1 s server await) counts as unanswered after 2 s instead of 11 s.
  const FAST = { baseDelayMs: 20, maxDelayMs: 200, answerMarginMs: 1000 };
  const ELECTION_TIMEOUT_MS = 1500;
  // Much longer than the election timeout plus the writer's and mongo-tail's 1 s deadlines, so
  // the new primary takes writes (and mongo-tail reads them) while the old one is still silent.
  const HANG_MS = 7000;

  /** One insert acknowledged: by which member, when. */
  interface Ack {
    seq: number;
    host: string | undefined;
    at: number;
  }

  /**
   * Inserts `{_id: seq, seq}` for `from..to` one by one. A 1 s socket timeout gives up on a hung
   * member; the insert is then tried again (the driver retries it once itself) until a primary
   * answers. A try that reached the server before its connection went is already written: 11000.
   */
  async function insertSeqs(
    client: MongoClient,
    db: string,
    from: number,
    to: number,
    acks: Ack[],
    lastInsertHost: () => string | undefined,
  ): Promise<void> {
    const coll = client.db(db).collection<{ _id: number; seq: number }>('events');
    for (let seq = from; seq <= to; seq++) {
      for (let attempt = 1; ; attempt++) {
        try {
          await coll.insertOne({ _id: seq, seq });
          acks.push({ seq, host: lastInsertHost(), at: Date.now() });
          break;
        } catch (error) {
          if ((error as { code?: unknown }).code === 11000) break;
          if (attempt >= 20) throw error;
          await sleep(50);
        }
      }
      await sleep(2);
    }
  }

  test('during a steady write load: writes go to the new primary, mongo-tail re-opens there, every event once, in order', async () => {
    const N = 600;
    const server = await startTestServer({
      topology: 'replset3',
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      electionDelayMs: 100,
    });
    const client = new MongoClient(server.uri, {
      retryWrites: true,
      serverSelectionTimeoutMS: 10_000,
      // A retry's new connection to the hung member gives up too (its handshake).
      connectTimeoutMS: 1000,
      socketTimeoutMS: 1000,
      monitorCommands: true,
    });
    // Writes are sequential: the last insert that succeeded is the one just acknowledged.
    let lastInsertHost: string | undefined;
    client.on('commandSucceeded', (e) => {
      if (e.commandName === 'insert') lastInsertHost = e.address;
    });
    const stamps: number[] = [];
    let stamping: NodeJS.Timeout | undefined;
    try {
      await client.connect();
      const db = uniqueDbName('failover_hang');
      const since = await clusterTime(client);
      const tail = startCli(
        [
          '--uri',
          server.uri,
          '-f',
          'json',
          '--since',
          since,
          // Longer than any pause in the writes here; a hang that counted as idle time would
          // end the run early (fewer than N lines).
          '--idle-timeout',
          '5s',
          // A defect (the stream stuck on the hung member) ends in exit 3, not a jest timeout.
          '--retry-for',
          '15s',
          `${db}.events`,
          '-n',
          String(N),
        ],
        { retry: FAST },
      );
      // When each line was printed (10 ms resolution).
      stamping = setInterval(() => {
        while (stamps.length < tail.lines.length) stamps.push(Date.now());
      }, 10);
      const acks: Ack[] = [];
      await insertSeqs(client, db, 1, N / 3, acks, () => lastInsertHost);
      await tail.waitForLines(N / 3, 15_000);

      const old = server.primary();
      const oldNode = server.nodes.find((n) => n.host === old);
      if (old === undefined || oldNode === undefined) throw new Error('no primary to hang');
      const hangAt = Date.now();
      const hangEnded = oldNode.hang(HANG_MS).then(() => Date.now());
      const noteAt = tail.waitForStderr('re-opening', 15_000).then(() => Date.now());
      // A third of the writes while the old primary is silent, the rest after it answered again
      // (and stepped down, closing its client connections).
      await insertSeqs(client, db, N / 3 + 1, (2 * N) / 3, acks, () => lastInsertHost);
      const endedAt = await hangEnded;
      await insertSeqs(client, db, (2 * N) / 3 + 1, N, acks, () => lastInsertHost);
      const result = await tail.done;
      clearInterval(stamping);
      while (stamps.length < tail.lines.length) stamps.push(Date.now());

      const next = server.primary();
      const afterHang = acks.filter((a) => a.at > hangAt);
      const firstNew = afterHang.find((a) => a.host !== old);
      const seqs = printedSeqs(result.stdout.split('\n').filter((l) => l !== ''));
      const notes = reopenNotes(result.stderr);
      const firstNewPrintedAt = firstNew === undefined ? undefined : stamps[firstNew.seq - 1];
      console.log(
        `hung primary (${HANG_MS} ms, electionTimeoutMs ${ELECTION_TIMEOUT_MS}): ${old} → ` +
          `${next}; note after ${(await noteAt) - hangAt} ms; first write on the new primary ` +
          `(seq ${firstNew?.seq}) acknowledged after ${(firstNew?.at ?? NaN) - hangAt} ms, ` +
          `printed after ${(firstNewPrintedAt ?? NaN) - hangAt} ms; hang ended after ` +
          `${endedAt - hangAt} ms; ${afterHang.filter((a) => a.at < endedAt).length} writes ` +
          `acknowledged during the hang; mongo-tail re-opened ${notes.length}x:\n` +
          notes.join('\n'),
      );

      expect(result.code).toBe(0);
      expect(seqs).toEqual(range(N));
      // Every write after the hang began went to another member, some while the old one was
      // still silent (the election took electionTimeoutMs, far less than the hang).
      expect(next).toBeDefined();
      expect(next).not.toBe(old);
      expect(afterHang.filter((a) => a.host === old)).toEqual([]);
      expect(afterHang.filter((a) => a.at < endedAt).length).toBeGreaterThan(0);
      expect(oldNode.role()).toBe('SECONDARY');
      // mongo-tail noticed the new primary (at once: the election took less than the getMore
      // deadline) or the silent getMore, and re-opened the stream; stderr holds nothing but
      // re-open notes and, if any, a summary that says the limit (not idleness) ended it.
      expect(result.stderr).toMatch(
        /^mongo-tail: change stream interrupted \((the primary changed from [^ ]+ to [^ ]+|the server did not answer a getMore within \d+\.\ds)\); re-opening from the last position/m,
      );
      expect(
        result.stderr
          .split('\n')
          .filter(
            (l) => l !== '' && !l.includes('re-opening') && !/stopped: limit reached$/.test(l),
          ),
      ).toEqual([]);
    } finally {
      clearInterval(stamping);
      await client.close();
      await server.stop();
    }
  }, 30_000);

  // When the election takes longer than mongo-tail's getMore deadline (real sets: 10 s
  // electionTimeoutMillis against 1 s + ANSWER_MARGIN_MS 10 s, a near race), the re-open
  // aggregate goes to the silent member, which the driver still shows as primary. mongo-tail
  // abandons it once the driver learns of the new primary and re-opens there: the hang outlasts
  // --retry-for, so only that ends this run with exit 0 (waiting for the aggregate's own
  // deadline ran out of --retry-for, exit 3).
  test('an election slower than the getMore deadline: the re-open follows the new primary, every event once, in order', async () => {
    const N = 40;
    const server = await startTestServer({
      topology: 'replset3',
      electionTimeoutMs: 4000,
      electionDelayMs: 100,
    });
    const client = new MongoClient(server.uri, {
      serverSelectionTimeoutMS: 10_000,
      connectTimeoutMS: 1000,
      socketTimeoutMS: 1000,
    });
    try {
      await client.connect();
      const db = uniqueDbName('failover_slow_election');
      const since = await clusterTime(client);
      const tail = startCli(
        [
          '--uri',
          server.uri,
          '-f',
          'json',
          '--since',
          since,
          '--retry-for',
          '8s',
          `${db}.events`,
          '-n',
          String(N),
        ],
        { retry: FAST },
      );
      const acks: Ack[] = [];
      await insertSeqs(client, db, 1, N / 2, acks, () => undefined);
      await tail.waitForLines(N / 2, 15_000);
      const old = server.primary();
      const oldNode = server.nodes.find((n) => n.host === old);
      if (old === undefined || oldNode === undefined) throw new Error('no primary to hang');
      const hangAt = Date.now();
      // Longer than --retry-for: only a re-open on the new primary ends this run with exit 0.
      void oldNode.hang(12_000);
      const noteAt = tail.waitForStderr('re-opening', 15_000).then(() => Date.now());
      const changeAt = tail.waitForStderr('the primary changed', 15_000).then(() => Date.now());
      const firstNewAt = tail.waitForLines(N / 2 + 1, 15_000).then(() => Date.now());
      // Settled here so that a missing note fails the expectations below, not the run.
      for (const p of [noteAt, changeAt, firstNewAt]) p.catch(() => undefined);
      await insertSeqs(client, db, N / 2 + 1, N, acks, () => undefined);
      const wroteAt = Date.now();
      const result = await tail.done;
      const after = async (at: Promise<number>): Promise<string> =>
        `${await at.then((t) => `${t - hangAt} ms`).catch(() => 'never')}`;
      console.log(
        `slow election (4000 ms) against a 2 s getMore deadline: first note after ` +
          `${await after(noteAt)}, primary-change note after ${await after(changeAt)}, first ` +
          `event on the new primary printed after ${await after(firstNewAt)}; the new primary ` +
          `took all writes ${wroteAt - hangAt} ms after the hang; mongo-tail exit ${result.code} ` +
          `after ${Date.now() - hangAt} ms:\n${result.stderr}`,
      );
      const seqs = printedSeqs(result.stdout.split('\n').filter((l) => l !== ''));
      expect(result.code).toBe(0);
      expect(seqs).toEqual(range(N));
      expect(server.primary()).not.toBe(old);
      // The re-open was abandoned for the new primary; stderr holds nothing but re-open notes
      // and the summary that says the limit ended the run.
      expect(result.stderr).toMatch(
        new RegExp(
          `^mongo-tail: change stream interrupted \\(the primary changed from ${old.replace(/\./g, '\\.')} to [^)]+\\); re-opening from the last position in 0ms `,
          'm',
        ),
      );
      expect(
        result.stderr
          .split('\n')
          .filter(
            (l) => l !== '' && !l.includes('re-opening') && !/stopped: limit reached$/.test(l),
          ),
      ).toEqual([]);
    } finally {
      await client.close();
      await server.stop();
    }
  }, 30_000);
});
