// Server and driver errors on the change stream → what to do (retry or not) and the typed
// error the user sees (exit 3 connect, 4 resume, 2 usage, 1 unexpected), with its message and
// hint. Pure: every mapping is tested without a server.
import type { Document, Timestamp } from 'bson';
import {
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
} from 'mongodb';
import { ConnectError, ExitCode, ResumeError, TailError, UsageError } from '../errors.js';
import type { StartPosition, TailOptions } from '../options.js';
import { peopleTime } from '../format/time.js';
import { redactUri } from '../redact.js';
import { formatTimestamp } from '../when.js';
import { tokenTime } from './position.js';

// Server codes after which re-opening from our own position is worth it (the driver's own
// resumable set plus CappedPositionLost, where a re-open tells us for sure whether history
// is lost).
const TRANSIENT_CODES = new Set([
  6, 7, 43, 63, 89, 91, 133, 136, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435,
  13436,
]);

/** True when re-opening the stream may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (!(error instanceof MongoError)) return false;
  if (error.hasErrorLabel('NonResumableChangeStreamError')) return false;
  if (error.hasErrorLabel('ResumableChangeStreamError')) return true;
  const code = codeOf(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * The server error code as a number. With promoteValues off (how the stream is read) the
 * driver also builds error replies with exact types, so the code can arrive as an Int32.
 */
export function codeOf(error: MongoError): number | undefined {
  const code = Number(error.code);
  return Number.isFinite(code) ? code : undefined;
}

const USAGE_CODES = new Set([2, 9, 14, 20, 72, 73, 40323, 40324, 40602, 15998, 16410, 16436]);

/**
 * Codes a server answers for a resume token it cannot read (resume_token.cpp and the KeyString
 * decoder): 9 FailedToParse only for text that is not hex; an empty token, a bad version, a
 * truncated or inconsistent one get these (50811 an unknown KeyString type, 15 a value cut
 * short); 40647 a `_data` that is missing or not a string; 40648 a `_typeBits` of the wrong type.
 */
export const INVALID_TOKEN_CODES: ReadonlySet<number> = new Set([
  9, 15, 40646, 40647, 40648, 40649, 50793, 50794, 50795, 50796, 50811, 50854, 50855, 50870, 50872,
  51055, 51056, 51057, 6189500, 6189501, 6189502, 6189503, 6189504, 7182501,
]);

// Context a server puts before the cause of an error raised while the pipeline runs
// (getmore_cmd.cpp: `addContext("Executor error during getMore")`; the aggregate's
// "PlanExecutor error during aggregation"). The cause is what a person needs.
const EXECUTOR_CONTEXT =
  /^(?:(?:PlanExecutor error during aggregation|Executor error during getMore) :: caused by :: )+/;

/** A server error message without the executor context in front of its cause. */
export function causeOf(message: string): string {
  return message.replace(EXECUTOR_CONTEXT, '');
}

/** The oldest entry a server still holds in its oplog: where the history it can replay begins. */
export interface OldestHeld {
  ts: Timestamp;
  wall?: Date;
}

/** True for 286 ChangeStreamHistoryLost: the requested point has left the oplog. */
export function isHistoryLost(error: unknown): boolean {
  return error instanceof MongoServerError && codeOf(error) === 286;
}

/**
 * The oldest oplog entry in the reply of `find` on `local.oplog.rs` sorted by `{$natural: 1}`
 * (how `rs.printReplicationInfo()` finds "oplog first event time"); undefined when the reply
 * holds none.
 */
export function oldestFromReply(reply: Document): OldestHeld | undefined {
  const cursor: unknown = reply.cursor;
  const batch: unknown =
    typeof cursor === 'object' && cursor !== null ? (cursor as Document).firstBatch : undefined;
  const first: unknown = Array.isArray(batch) ? batch[0] : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const { ts, wall } = first as Document;
  if (!hasTag(ts, 'Timestamp')) return undefined;
  const oldest: OldestHeld = { ts: ts as Timestamp };
  if (wall instanceof Date && Number.isFinite(wall.getTime())) oldest.wall = wall;
  return oldest;
}

/**
 * Maps a failure on the stream to the error the user sees. `oldest`, when known, names where
 * the history lost with a 286 ends.
 */
export function toStreamError(
  error: unknown,
  position: StartPosition,
  opts: Pick<TailOptions, 'uri' | 'tokenFile' | 'timeZone'>,
  oldest?: OldestHeld,
): unknown {
  if (
    error instanceof MongoServerError &&
    codeOf(error) === 280 &&
    /_id.*modified|modified.*_id/i.test(error.message)
  ) {
    return new UsageError(
      'the pipeline changed or removed the event _id, which holds the resume token',
      'keep _id in --pipeline stages ($project/$unset/$replaceRoot must not drop it)',
    );
  }
  if (!(error instanceof MongoServerError)) {
    if (error instanceof MongoServerSelectionError || error instanceof MongoNetworkError) {
      return toConnectError(error, opts);
    }
    return error;
  }
  const code = codeOf(error);
  const message = causeOf(error.message);
  const where = describePosition(position, opts.timeZone);
  const startOver =
    position.kind === 'since'
      ? 'leave out --since to start from now, or '
      : opts.tokenFile !== undefined
        ? `remove ${opts.tokenFile} to start from now (or remove it and use --since), or `
        : 'leave out the token to start from now, or ';
  const tokenGiven = position.kind === 'resumeAfter' || position.kind === 'startAfter';
  if (code !== undefined && INVALID_TOKEN_CODES.has(code) && tokenGiven) {
    // The token itself is damaged, not the command line.
    return new ResumeError(
      `cannot resume ${where}: the server cannot read the resume token ` +
        `${opts.tokenFile === undefined ? 'given' : `in ${opts.tokenFile}`} (${message})`,
      opts.tokenFile === undefined
        ? 'pass the token exactly as mongo-tail or the driver printed it'
        : `${startOver.replace(/, or $/, '')}`,
    );
  }
  switch (code) {
    case 40573:
      return standaloneError(opts.uri);
    case 286:
      return new ResumeError(
        `cannot resume ${where}: that point is no longer in the oplog (ChangeStreamHistoryLost); ` +
          lostWindow(position, oldest, opts.timeZone),
        opts.tokenFile !== undefined && position.kind !== 'since'
          ? `remove ${opts.tokenFile} and start again with --since at a time the oplog still holds (or from now)`
          : `${startOver}use a later --since to read what the oplog still holds`,
      );
    case 280:
      return new ResumeError(
        `cannot resume ${where}: ${message} (ChangeStreamFatalError)`,
        `was the token taken from another collection or deployment? ${startOver}use --since`,
      );
    case 260:
      return new ResumeError(
        `cannot resume ${where}: ${message} (InvalidResumeToken)`,
        'a token from an invalidate (drop/rename) continues with --start-after instead of --resume-after',
      );
    case 13:
    case 18:
      return new ConnectError(
        `not allowed to open the change stream on ${redactUri(opts.uri)}: ${message}`,
        'the user needs the find and changeStream actions on what is watched',
      );
    case 10334:
      return new TailError(
        `an event is larger than the 16 MB a server can send in one piece: ${message} (BSONObjectTooLarge)`,
        ExitCode.Unexpected,
        'add --split-large-events: the server sends such events in fragments and mongo-tail ' +
          'prints each whole (MongoDB 6.0.9 or newer)',
      );
    case 47:
      return new TailError(
        `an event lacks the document image that "required" asks for: ${message}`,
        ExitCode.Unexpected,
        'use whenAvailable, or enable changeStreamPreAndPostImages on the collection',
      );
    default:
      if (code !== undefined && USAGE_CODES.has(code)) {
        return new UsageError(
          `the server refused the change stream: ${message} (${error.codeName ?? code})`,
        );
      }
      return new TailError(
        `server error ${error.codeName ?? ''} (${String(code)}): ${message}`.replace('  ', ' '),
        ExitCode.Unexpected,
      );
  }
}

export function standaloneError(uri: string): ConnectError {
  return new ConnectError(
    `change streams need a replica set or sharded cluster, and ${redactUri(uri)} is a standalone server`,
    'make a single mongod a one-node replica set: restart it with --replSet rs0, run ' +
      'rs.initiate() once in mongosh, then connect with ?replicaSet=rs0',
  );
}

/** The hint of a connect failure with no more specific cause (a timeout, a dropped socket). */
export const UNREACHABLE_HINT =
  'is the server running and reachable? --connect-timeout sets how long to try';

export function toConnectError(error: unknown, opts: Pick<TailOptions, 'uri'>): unknown {
  if (error instanceof MongoServerError) {
    const code = codeOf(error);
    if (code === 18 || code === 13) {
      return new ConnectError(
        `authentication failed for ${redactUri(opts.uri)}: ${error.message}`,
        'check the user name, password and authSource in the connection string',
      );
    }
    if (code === 40573) return standaloneError(opts.uri);
  }
  if (error instanceof TailError) return error;
  // What the driver last saw of each server says why none could be selected (refused, TLS).
  if (error instanceof MongoServerSelectionError) {
    const seen = new Map<string, ServerSeen>();
    for (const [address, server] of error.reason?.servers ?? []) {
      if (server.error != null) seen.set(address, seenInFailure(server.error));
    }
    const specific = explainServers(seen, opts.uri, undefined);
    if (specific !== undefined) return specific;
  }
  const srv = /^querySrv (ENOTFOUND|ENODATA) (\S+)/.exec(messageOf(error));
  if (srv !== null) {
    return new ConnectError(
      `cannot connect to ${redactUri(opts.uri)}: there is no DNS SRV record ${srv[2] ?? ''} (${srv[1] ?? ''})`,
      'check the host name after mongodb+srv:// (the cluster address, e.g. from Atlas "Connect")',
    );
  }
  // Anything else on the way to a server (DNS, TLS, sockets) is a connect failure.
  return new ConnectError(
    `cannot connect to ${redactUri(opts.uri)}: ${messageOf(error)}`,
    UNREACHABLE_HINT,
  );
}

/**
 * What connecting learnt of one server from its monitor: a cause that waiting will not fix
 * (nothing listens, no such host, TLS, the wrong kind of server), one that may pass
 * (`waiting`: a timeout, a reset), or that it can be used (`fine`).
 */
export type ServerSeen =
  | { kind: 'refused' | 'unresolved' | 'unreachable' | 'tls' | 'waiting'; detail: string }
  | { kind: 'otherSet'; setName: string }
  | { kind: 'standalone' | 'ghost' | 'mongos' | 'fine' };

// Node's certificate check codes (tls.TLSSocket#authorizationError), besides ERR_TLS_*/ERR_SSL_*.
const CERT_CODES =
  /^(?:DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_\w+|CERT_\w+|HOSTNAME_MISMATCH)$/;

/** A failed heartbeat (or server check) → what it says of the server. */
export function seenInFailure(failure: unknown): ServerSeen {
  const detail = messageOf(failure);
  const cause: unknown = failure instanceof Error ? failure.cause : undefined;
  const code = String(errorCode(cause) ?? errorCode(failure) ?? '');
  if (code === 'ECONNREFUSED') return { kind: 'refused', detail };
  if (code === 'ENOTFOUND') return { kind: 'unresolved', detail };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { kind: 'unreachable', detail };
  if (/^ERR_(?:TLS|SSL)_/.test(code) || CERT_CODES.test(code) || /\b(?:TLS|SSL)\b/.test(detail)) {
    return { kind: 'tls', detail };
  }
  return { kind: 'waiting', detail };
}

/** A server's hello reply → whether it is what the connection string asks for. */
export function seenInHello(reply: Document, replicaSet: string | undefined): ServerSeen {
  if (replicaSet === undefined) return { kind: 'fine' };
  if (reply.isreplicaset === true) return { kind: 'ghost' };
  if (reply.msg === 'isdbgrid') return { kind: 'mongos' };
  const setName: unknown = reply.setName;
  if (typeof setName !== 'string') return { kind: 'standalone' };
  return setName === replicaSet ? { kind: 'fine' } : { kind: 'otherSet', setName };
}

/** True when waiting longer cannot make the server usable. */
export function isDecisive(seen: ServerSeen): boolean {
  return seen.kind !== 'waiting' && seen.kind !== 'fine';
}

// The order causes are told in: the one a person most likely got wrong first.
const CAUSE_ORDER: readonly ServerSeen['kind'][] = [
  'otherSet',
  'standalone',
  'ghost',
  'mongos',
  'tls',
  'unresolved',
  'refused',
  'unreachable',
  'waiting',
];

/**
 * The servers' causes as one ConnectError ("cannot connect to URI: nothing listens on …"),
 * hinted for the first of them; undefined when none is decisive. `replicaSet` is the set the
 * connection string asks for.
 */
export function explainServers(
  seen: ReadonlyMap<string, ServerSeen>,
  uri: string,
  replicaSet: string | undefined,
): ConnectError | undefined {
  const groups = new Map<string, { seen: ServerSeen; hosts: string[] }>();
  for (const kind of CAUSE_ORDER) {
    for (const [address, s] of seen) {
      if (s.kind !== kind) continue;
      const key = s.kind === 'otherSet' ? `otherSet ${s.setName}` : s.kind;
      const group = groups.get(key) ?? { seen: s, hosts: [] };
      group.hosts.push(address);
      groups.set(key, group);
    }
  }
  const [first] = groups.values();
  if (first === undefined || !isDecisive(first.seen)) return undefined;
  const clauses = [...groups.values()].map((g) => causeClause(g.seen, g.hosts, replicaSet));
  return new ConnectError(
    `cannot connect to ${redactUri(uri)}: ${clauses.join('; ')}`,
    causeHint(first.seen, replicaSet),
  );
}

function causeClause(seen: ServerSeen, hosts: string[], replicaSet: string | undefined): string {
  const list = hosts.join(', ');
  const one = hosts.length === 1;
  const wanted = `replica set '${replicaSet ?? ''}'`;
  switch (seen.kind) {
    case 'refused':
      return `nothing listens on ${hosts.join(' or ')} (connection refused)`;
    case 'unresolved':
      return `the host name ${[...new Set(hosts.map(hostOf))].join(', ')} does not resolve (ENOTFOUND)`;
    case 'unreachable':
      return `no route to ${list} (${seen.detail.includes('ENETUNREACH') ? 'ENETUNREACH' : 'EHOSTUNREACH'})`;
    case 'tls':
      return `TLS handshake with ${list} failed: ${seen.detail}`;
    case 'otherSet':
      return `${list} ${one ? 'is a member' : 'are members'} of replica set '${seen.setName}', not '${replicaSet ?? ''}'`;
    case 'standalone':
      return `${list} ${one ? 'is a standalone server' : 'are standalone servers'}, not in ${wanted}`;
    case 'ghost':
      return `${list} ${one ? 'runs' : 'run'} with --replSet, but the replica set is not initiated`;
    case 'mongos':
      return `${list} ${one ? 'is a mongos' : 'are mongos routers'}, not in ${wanted}`;
    case 'waiting':
      return `${list}: ${seen.detail}`;
    case 'fine':
      return `${list} answered`;
  }
}

function causeHint(seen: ServerSeen, replicaSet: string | undefined): string {
  switch (seen.kind) {
    case 'refused':
      return 'is the server running and reachable? check that mongod is started and listens on that port (mongod --port, default 27017)';
    case 'unresolved':
      return 'check the host name in the connection string';
    case 'unreachable':
      return 'is the host up, and is there a network route to it (VPN, firewall)?';
    case 'tls':
      if (/altname|hostname|host name/i.test(seen.detail)) {
        return 'connect with a host name the certificate names (tlsAllowInvalidHostnames=true skips the check: for testing only)';
      }
      if (/certificate|issuer|self.signed/i.test(seen.detail)) {
        return "--tls-ca-file names the CA that signed the server's certificate (--tls-allow-invalid-certificates skips the check: for testing only)";
      }
      return 'does the server use TLS on that port? if not, leave out --tls (or tls=true); if it does, --tls-ca-file names its CA';
    case 'otherSet':
      return `fix replicaSet= in the connection string: replicaSet=${seen.setName}`;
    case 'standalone':
      return (
        `change streams need a replica set: restart mongod with --replSet ${replicaSet ?? 'rs0'}, ` +
        'run rs.initiate() once in mongosh'
      );
    case 'ghost':
      return 'run rs.initiate() once in mongosh on that server (or rs.add() it from the primary)';
    case 'mongos':
      return 'leave out replicaSet= to connect to a mongos';
    case 'waiting':
    case 'fine':
      return UNREACHABLE_HINT;
  }
}

/** "db1:27017" → "db1"; "[::1]:27017" → "::1". */
function hostOf(address: string): string {
  return address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/** What a 286 lost: from the requested time up to the oldest time still held, when known. */
function lostWindow(
  position: StartPosition,
  oldest: OldestHeld | undefined,
  timeZone: string | undefined,
): string {
  if (oldest === undefined) {
    return 'the events since then cannot be read from this deployment any more';
  }
  const from = timeOf(position);
  const held =
    `the oldest still held is ${formatTimestamp(oldest.ts)} ` +
    `(${oldest.wall === undefined ? isoOf(oldest.ts, timeZone) : isoSeconds(oldest.wall, timeZone)})`;
  return from === undefined
    ? `${held}, so the events before then are lost`
    : `${held}, so the events between ${formatTimestamp(from)} and then are lost`;
}

function timeOf(position: StartPosition): Timestamp | undefined {
  if (position.kind === 'since') return position.ts;
  if (position.kind === 'now') return undefined;
  return tokenTime(position.token);
}

function describePosition(position: StartPosition, timeZone: string | undefined): string {
  switch (position.kind) {
    case 'since':
      return `from cluster time ${formatTimestamp(position.ts)} (${isoOf(position.ts, timeZone)})`;
    case 'now':
      return 'from now';
    case 'resumeAfter':
    case 'startAfter': {
      const ts = tokenTime(position.token);
      return ts === undefined
        ? 'after the given resume token'
        : `after the resume token at cluster time ${formatTimestamp(ts)} (${isoOf(ts, timeZone)})`;
    }
  }
}

function isoOf(ts: Timestamp, timeZone: string | undefined): string {
  return isoSeconds(new Date(ts.t * 1000), timeZone);
}

/** A time to the second, like cluster times (one-second resolution), in the run's zone. */
function isoSeconds(date: Date, timeZone: string | undefined): string {
  return peopleTime(new Date(date.getTime() - date.getUTCMilliseconds()), timeZone);
}

/**
 * Checks a BSON value by its `_bsontype` tag, not with instanceof: the driver builds values
 * with bson's CommonJS build while this ESM code imports the ES module build, so the classes
 * differ even though the values are the same kind.
 */
export function hasTag(value: unknown, tag: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { _bsontype?: unknown })._bsontype === tag
  );
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
