// The MongoClient: created with the tailer's settings, connected with typed failures, and asked
// for the deployment's cluster time (what `--until now` means).
import type { Document, Timestamp } from 'bson';
import { MongoClient } from 'mongodb';
import { ConnectError, UsageError } from './errors.js';
import { redactFragments } from './redact.js';
import { connectTimeouts, type TailOptions } from './options.js';
import { hasTag, messageOf, standaloneError, toConnectError } from './source/diagnose.js';

/** A client with the tailer's settings, not connected yet (UsageError for a bad URI). */
export function createClient(opts: TailOptions): MongoClient {
  try {
    return new MongoClient(opts.uri, {
      // An appName in the connection string wins (it shows in the server's logs and currentOp).
      ...(/[?&]appName=/i.test(opts.uri) ? {} : { appName: 'mongo-tail' }),
      ...connectTimeouts(opts.uri, opts.connectTimeoutMs),
    });
  } catch (error) {
    // A URI the driver cannot parse (bad option, bad host list) is the user's to fix. Its
    // message may quote a piece of an unescaped password: those words are masked.
    throw new UsageError(
      `invalid connection string: ${redactFragments(messageOf(error), opts.uri)}`,
    );
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
