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
