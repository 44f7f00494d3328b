// The MongoClient: created with the tailer's settings, connected with typed failures, and asked
// for the deployment's cluster time (what `--until now` means).
import type { Document, Timestamp } from 'bson';
import { MongoClient, type MongoClientOptions } from 'mongodb';
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
      ...securityOptions(opts),
    });
  } catch (error) {
    // A URI the driver cannot parse (bad option, bad host list) is the user's to fix. Its
    // message may quote a piece of an unescaped password: those words are masked.
    throw new UsageError(
      `invalid connection string: ${redactFragments(messageOf(error), opts.uri)}`,
    );
  }
}

/** The driver options for --username/--password/--auth-…/--tls… (the URI keeps the rest). */
export function securityOptions(opts: Pick<TailOptions, 'auth' | 'tls'>): MongoClientOptions {
  const out: MongoClientOptions = {};
  const { auth, tls } = opts;
  if (auth?.username !== undefined) {
    out.auth = { username: auth.username, password: auth.password };
  }
  if (auth?.source !== undefined) out.authSource = auth.source;
  if (auth?.mechanism !== undefined) out.authMechanism = auth.mechanism;
  if (tls !== undefined) {
    out.tls = true;
    if (tls.caFile !== undefined) out.tlsCAFile = tls.caFile;
    if (tls.certificateKeyFile !== undefined) out.tlsCertificateKeyFile = tls.certificateKeyFile;
    if (tls.allowInvalidCertificates === true) out.tlsAllowInvalidCertificates = true;
  }
  return out;
}

/** Connects the client; ConnectError (exit 3) when it cannot. The caller closes the client. */
export async function connectClient(client: MongoClient, opts: TailOptions): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw withFlagHints(toConnectError(error, opts), opts);
  }
}

/**
 * The connect failure with a hint that names the flags in use: the generic hints speak of the
 * connection string, where a user of --username or --tls did not put these settings.
 */
function withFlagHints(error: unknown, opts: TailOptions): unknown {
  if (!(error instanceof ConnectError)) return error;
  if (opts.auth !== undefined && error.message.startsWith('authentication failed')) {
    const user = opts.auth.username;
    return new ConnectError(
      user === undefined
        ? error.message
        : error.message.replace(
            /^authentication failed for /,
            `authentication failed as ${user} on `,
          ),
      `check --username, --password and --auth-source (default: admin)`,
    );
  }
  if (opts.tls !== undefined && error.message.startsWith('cannot connect')) {
    return new ConnectError(
      `${error.message} (with TLS)`,
      'does the server accept TLS on that port? --tls-ca-file names the CA that signed its certificate',
    );
  }
  return error;
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
