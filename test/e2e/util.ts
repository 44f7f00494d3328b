// Shared bits for the end-to-end tests: a client on the shared backend, the cluster time,
// and reading mongo-tail's output back.
import { EJSON, type Document } from 'bson';
import { MongoClient } from 'mongodb';
import { testUri } from '../helpers/testenv.js';

/** A client for setting up data (its own connection, closed by the caller). */
export async function connect(uri = testUri()): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return client;
}

/** The deployment's current cluster time as `T,I` (what --since/--until accept). */
export async function clusterTime(client: MongoClient): Promise<string> {
  const session = client.startSession();
  try {
    await client.db('admin').command({ ping: 1 }, { session });
    // (A tag check: the driver's bson classes are not the ones this ES module imports.)
    const ts = session.operationTime;
    if (ts?._bsontype !== 'Timestamp') throw new Error('no operationTime from the server');
    return `${ts.t},${ts.i}`;
  } finally {
    await session.endSession();
  }
}

/** Every stdout line parsed as relaxed Extended JSON. */
export function events(stdout: string): Document[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => EJSON.parse(line, { relaxed: true }) as Document);
}

/** `operationType ns.coll` per event, for compact assertions. */
export function summary(stdout: string): string[] {
  return events(stdout).map((e) => {
    const ns = e.ns as { db?: string; coll?: string } | undefined;
    return ns?.coll === undefined ? String(e.operationType) : `${e.operationType} ${ns.coll}`;
  });
}

/** Polls `check` until it is truthy (no fixed sleeps where an outcome can be awaited). */
export async function eventually<T>(
  check: () => Promise<T> | T,
  ms = 8000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Test documents use plain numbers and strings as _id (the driver's default type says ObjectId). */
export interface AnyDoc {
  _id: number | string;
  [key: string]: unknown;
}

/** The summary line a run ends with on stderr (not with -q), e.g. `… stopped: limit reached`. */
const SUMMARY_LINE = String.raw`mongo-tail: \d+ events?\b[^\n]*; stopped: [^\n]+\n`;

/** stderr holding nothing but the summary line. */
export const SUMMARY_ONLY = new RegExp(`^${SUMMARY_LINE}$`);

/** stderr without the summary line it ends with (unchanged when there is none). */
export function withoutSummary(stderr: string): string {
  return stderr.replace(new RegExp(`${SUMMARY_LINE}$`), '');
}
