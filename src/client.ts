// The MongoClient: created with the tailer's settings, connected with typed failures, and asked
// for the deployment's cluster time (what `--until now` means).
import type { Document, Timestamp } from 'bson';
import {
  MongoClient,
  MongoServerSelectionError,
  type MongoClientOptions,
  type ServerHeartbeatFailedEvent,
  type ServerHeartbeatSucceededEvent,
  type TopologyDescriptionChangedEvent,
} from 'mongodb';
import { ConnectError, UsageError } from './errors.js';
import { redactFragments } from './redact.js';
import { connectTimeouts, type TailOptions } from './options.js';
import {
  explainServers,
  hasTag,
  isDecisive,
  messageOf,
  seenInFailure,
  seenInHello,
  standaloneError,
  toConnectError,
  UNREACHABLE_HINT,
  type ServerSeen,
} from './source/diagnose.js';

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

/**
 * Connects the client; ConnectError (exit 3) when it cannot, naming the cause. The caller
 * closes the client (which also ends a connect given up on early).
 */
export async function connectClient(client: MongoClient, opts: TailOptions): Promise<void> {
  const watch = watchServers(client);
  const connecting = client.connect();
  // Given up on early, the connect rejects as the caller closes the client: nobody waits then.
  connecting.catch(() => undefined);
  try {
    await Promise.race([connecting, watch.hopeless]);
  } catch (error) {
    const specific =
      error === HOPELESS || error instanceof MongoServerSelectionError
        ? explainServers(watch.seen, opts.uri, client.options.replicaSet)
        : undefined;
    throw specific ?? withFlagHints(toConnectError(error, opts), opts);
  } finally {
    watch.stop();
  }
}

const HOPELESS = Symbol('every server failed for good');

/**
 * Follows the driver's monitoring (SDAM) events while connecting. Server selection waits its
 * whole timeout (10 s by default) even when every host refused the connection at once, or is
 * not in the replica set asked for (the driver drops it from the topology and says only
 * "timed out"); `hopeless` rejects as soon as every server known has failed for a reason that
 * waiting will not fix. Timeouts and resets still wait, as the server may be starting.
 */
function watchServers(client: MongoClient): {
  seen: Map<string, ServerSeen>;
  hopeless: Promise<never>;
  stop: () => void;
} {
  const seen = new Map<string, ServerSeen>();
  let known: string[] = [];
  let giveUp: (reason: unknown) => void = () => undefined;
  const hopeless = new Promise<never>((_resolve, reject) => (giveUp = reject));
  hopeless.catch(() => undefined);
  const check = (): void => {
    const all = new Set([...known, ...seen.keys()]);
    const decisive = [...all].every((address) => {
      const s = seen.get(address);
      return s !== undefined && isDecisive(s);
    });
    if (all.size > 0 && decisive) giveUp(HOPELESS);
  };
  const onTopology = (event: TopologyDescriptionChangedEvent): void => {
    known = [...event.newDescription.servers.keys()];
    check();
  };
  const onFailed = (event: ServerHeartbeatFailedEvent): void => {
    seen.set(event.connectionId, seenInFailure(event.failure));
    check();
  };
  const onSucceeded = (event: ServerHeartbeatSucceededEvent): void => {
    // Read now: a mongodb+srv TXT record may set replicaSet after the client was made.
    seen.set(event.connectionId, seenInHello(event.reply, client.options.replicaSet));
    check();
  };
  client.on('topologyDescriptionChanged', onTopology);
  client.on('serverHeartbeatFailed', onFailed);
  client.on('serverHeartbeatSucceeded', onSucceeded);
  return {
    seen,
    hopeless,
    stop: () => {
      client.off('topologyDescriptionChanged', onTopology);
      client.off('serverHeartbeatFailed', onFailed);
      client.off('serverHeartbeatSucceeded', onSucceeded);
    },
  };
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
  // Only the cause-less failure: a specific one (refused, TLS handshake) has its own hint.
  if (opts.tls !== undefined && error.hint === UNREACHABLE_HINT) {
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
