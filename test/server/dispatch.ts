// Command body → handler → reply body. The one place that knows every command family, applies
// fail points, turns exceptions into MongoDB error replies with the labels a real 8.0 server
// attaches (mongo/db/error_labels.cpp), and stamps replica-set replies with cluster time.
import { Binary, type Document, Double, Int32, Long, type Timestamp } from 'bson';
import { CODE_NAMES, RESUMABLE_CHANGE_STREAM_CODES, ServerError, fail } from './errors.js';
import { adminCommands } from './commands/admin.js';
import { authCommands, checkAuthorized } from './commands/auth.js';
import { crudCommands } from './commands/crud.js';
import { cursorCommands } from './commands/cursors.js';
import { ddlCommands } from './commands/ddl.js';
import {
  isTransactionCommand,
  runInTransaction,
  transactionCommands,
} from './commands/transactions.js';
import {
  evaluateFailCommand,
  evaluateFailGetMore,
  evaluateWriteConcernError,
  failPointCommands,
  failPointsOf,
} from './commands/failpoints.js';
import { topologyOf } from './topology.js';
import { checkMemberRole } from './topology/roles.js';
import type {
  CommandContext,
  CommandHandler,
  ConnectionInfo,
  ServerCursor,
  ServerState,
} from './types.js';

/** Returned instead of a reply when the connection must be dropped without answering. */
export const CLOSE_CONNECTION = Symbol('closeConnection');
export type DispatchResult = Document | typeof CLOSE_CONNECTION;

const listCommands: CommandHandler = () => {
  const commands: Document = {};
  for (const name of Object.keys(HANDLERS).sort()) {
    commands[name] = {
      help: '',
      requiresAuth: false,
      secondaryOk: true,
      adminOnly: ADMIN_ONLY.has(name),
      apiVersions: [],
      deprecatedApiVersions: [],
    };
  }
  return { commands, ok: new Double(1) };
};

const HANDLERS: Readonly<Record<string, CommandHandler>> = {
  ...crudCommands,
  ...ddlCommands,
  ...cursorCommands,
  ...adminCommands,
  ...authCommands,
  ...failPointCommands,
  ...transactionCommands,
  listCommands,
};

/** Commands mongod accepts only on the `admin` database. */
const ADMIN_ONLY: ReadonlySet<string> = new Set([
  'configureFailPoint',
  'getParameter',
  'getLog',
  'replSetGetStatus',
  'replSetStepDown',
  'listDatabases',
  'renameCollection',
  'commitTransaction',
  'abortTransaction',
]);

/** Spellings of one command; failCommand's `failCommands` matches any of them. */
const ALIAS_GROUPS: readonly (readonly string[])[] = [
  ['isMaster', 'ismaster'],
  ['buildInfo', 'buildinfo'],
];

function aliasesOf(name: string): readonly string[] {
  return ALIAS_GROUPS.find((group) => group.includes(name)) ?? [name];
}

/** Error codes in MongoDB's RetriableError category: they earn `RetryableWriteError`. */
const RETRIABLE_CODES: ReadonlySet<number> = new Set([
  6, 7, 89, 91, 134, 189, 262, 317, 358, 384, 402, 406, 407, 412, 9001, 10107, 11600, 11602, 13435,
  13436,
]);
/**
 * The NotPrimaryError category. On a replica set mongod adds its topologyVersion to these errors,
 * injected ones included (appendErrorLabelsAndTopologyVersion in service_entry_point_common.cpp;
 * jstests/replsets/notprimary_errors_return_topology_version.js), so a driver can tell a stale
 * error from news (SDAM spec, "topologyVersion": an error no newer than what the monitor saw
 * does not mark the server Unknown). Shutdown errors carry one only in quiesce mode, which this
 * server has not.
 */
const NOT_PRIMARY_CODES: ReadonlySet<number> = new Set([189, 10058, 10107, 11602, 13435, 13436]);
/** The NonResumableChangeStreamError category. */
const NON_RESUMABLE_CODES: ReadonlySet<number> = new Set([280, 286]);

/** Codes this server or an injected failCommand may report that `CODE_NAMES` does not list. */
const EXTRA_CODE_NAMES: Readonly<Record<number, string>> = {
  6: 'HostUnreachable',
  7: 'HostNotFound',
  8: 'UnknownError',
  63: 'OBSOLETE_StaleShardVersion',
  64: 'WriteConcernTimeout',
  76: 'NoReplicationEnabled',
  100: 'UnsatisfiableWriteConcern',
  118: 'NamespaceNotSharded',
  134: 'ReadConcernMajorityNotAvailableYet',
  150: 'StaleEpoch',
  216: 'ElectionInProgress',
  223: 'IllegalOpMsgFlag',
  225: 'TransactionTooOld',
  251: 'NoSuchTransaction',
  256: 'TransactionCommitted',
  263: 'OperationNotSupportedInTransaction',
  266: 'FailPointSetFailed',
  288: 'ChecksumMismatch',
  352: 'UnsupportedOpQueryCommand',
  9001: 'SocketException',
};

/** MongoDB's codeName for `code`, as far as this server knows it. */
export function codeNameOf(code: number): string {
  return CODE_NAMES[code] ?? EXTRA_CODE_NAMES[code] ?? `Location${code}`;
}

const debug = (): boolean => Boolean(process.env.MONGO_TAIL_TEST_SERVER_DEBUG);

/** Handles an OP_MSG body: `$db` names the database. */
export async function dispatchMsg(
  body: Document,
  server: ServerState,
  connection: ConnectionInfo,
): Promise<DispatchResult> {
  const db: unknown = body.$db;
  if (typeof db !== 'string') {
    return finish(
      errorReply(new ServerError(40571, 'OP_MSG requests require a $db argument')),
      server,
    );
  }
  return dispatch(body, { db, server, connection });
}

/**
 * Handles an OP_QUERY on `<db>.$cmd`. Since 5.1 servers accept only the handshake this way;
 * anything else gets 352 UnsupportedOpQueryCommand, as from a real 8.0 server.
 */
export async function dispatchLegacy(
  fullCollectionName: string,
  query: Document,
  server: ServerState,
  connection: ConnectionInfo,
): Promise<DispatchResult> {
  const dot = fullCollectionName.indexOf('.');
  const db = dot < 0 ? fullCollectionName : fullCollectionName.slice(0, dot);
  const coll = dot < 0 ? '' : fullCollectionName.slice(dot + 1);
  // Drivers may wrap the command as {$query: cmd, $readPreference: ...}.
  const wrapped: unknown = query.$query;
  const body =
    typeof wrapped === 'object' && wrapped !== null && !Array.isArray(wrapped)
      ? (wrapped as Document)
      : query;
  const name = Object.keys(body)[0] ?? '';
  if (coll !== '$cmd' || !['hello', 'isMaster', 'ismaster'].includes(name)) {
    const reply: Document = {
      ok: new Double(0),
      errmsg:
        `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade. ` +
        'For more details see https://dochub.mongodb.org/core/legacy-opcode-removal',
      code: new Int32(352),
      codeName: 'UnsupportedOpQueryCommand',
    };
    return finish(reply, server);
  }
  return dispatch(body, { db, server, connection });
}

/** Commands a mongos answers whatever database they name (the handshake and probes). */
const NO_DB_COMMANDS = new Set(['hello', 'isMaster', 'ismaster', 'ping', 'buildInfo', 'buildinfo']);

/** Runs one command: the first key of `body` names it. */
export async function dispatch(body: Document, ctx: CommandContext): Promise<DispatchResult> {
  const name = Object.keys(body)[0] ?? '';
  let labelsOverride: string[] | undefined;
  let changeStreamGetMore = false;
  let reply: Document;
  try {
    // A mongos answers the commands it routes itself (topology/mongos.ts).
    const router = ctx.server.router;
    const routed = router !== undefined && Object.prototype.hasOwnProperty.call(router, name);
    const handler = routed
      ? router[name]
      : Object.prototype.hasOwnProperty.call(HANDLERS, name)
        ? HANDLERS[name]
        : undefined;
    if (!handler) fail(59, `no such command: '${name}'`);
    // A mongos refuses the local database before authorization (ExecCommandClient::_prologue):
    // each shard has its own, the oplog included.
    if (router !== undefined && ctx.db === 'local' && !NO_DB_COMMANDS.has(name)) {
      fail(20, "Can't use 'local' database through mongos");
    }
    if (ADMIN_ONLY.has(name) && ctx.db !== 'admin') {
      fail(13, `${name} may only be run against the admin database.`);
    }
    checkAuthorized(name, body, ctx);
    const fps = failPointsOf(ctx.server);
    const aliases = aliasesOf(name);
    const action = evaluateFailCommand(fps, aliases, ctx.connection);
    if (action) {
      labelsOverride = action.errorLabels;
      if (action.blockTimeMS > 0) await sleep(action.blockTimeMS);
      if (action.closeConnection) return CLOSE_CONNECTION;
      if (action.errorCode !== undefined) {
        throw new ServerError(action.errorCode, "Failing command via 'failCommand' failpoint");
      }
    }
    // A secondary refuses writes, and reads that do not allow it (10107 / 13435).
    checkMemberRole(name, body, ctx.server);
    if (name === 'getMore') {
      const cursor = checkOutCursor(body, ctx);
      changeStreamGetMore = cursor?.cursor.isChangeStream ?? false;
      if (cursor) failGetMoreAfterCheckout(cursor.id, cursor.cursor, ctx);
    }
    // A transaction's statements, commit and abort run against its session's state.
    // (A mongos forwards them whole to a shard, which runs the transaction.)
    reply =
      !routed && isTransactionCommand(name, body)
        ? await runInTransaction(name, body, ctx, handler)
        : await handler(body, ctx);
    const wce = evaluateWriteConcernError(fps, aliases, ctx.connection);
    if (wce) {
      reply.writeConcernError = wce.writeConcernError;
      const wcCode = numeric(wce.writeConcernError.code);
      const labels =
        wce.errorLabels ?? computeLabels(name, body, undefined, wcCode, changeStreamGetMore);
      if (labels.length > 0) reply.errorLabels = labels;
    }
  } catch (err) {
    reply = errorReply(
      err,
      (code) => labelsOverride ?? computeLabels(name, body, code, undefined, changeStreamGetMore),
    );
  }
  return finish(reply, ctx.server);
}

/** The cursor a getMore names, if it exists and belongs to the namespace the getMore gives. */
function checkOutCursor(
  body: Document,
  ctx: CommandContext,
): { id: Long; cursor: ServerCursor } | undefined {
  const id = cursorId(body.getMore);
  const cursor = id === undefined ? undefined : ctx.server.cursors.get(id);
  // Checkout validates the namespace first; the getMore handler reports a mismatch itself.
  if (!cursor || id === undefined || cursor.ns !== `${ctx.db}.${String(body.collection)}`) {
    return undefined;
  }
  return { id, cursor };
}

/**
 * `failGetMoreAfterCursorCheckout` fires once the cursor is found; as in mongod, the failed
 * getMore destroys the cursor.
 */
function failGetMoreAfterCheckout(id: Long, cursor: ServerCursor, ctx: CommandContext): void {
  const code = evaluateFailGetMore(failPointsOf(ctx.server), ctx.connection);
  if (code === undefined) return;
  ctx.server.cursors.remove(id);
  cursor.kill();
  throw new ServerError(code, "Hit the 'failGetMoreAfterCursorCheckout' failpoint");
}

function cursorId(value: unknown): Long | undefined {
  if (value instanceof Long) return value;
  const n = numeric(value);
  return n === undefined ? undefined : Long.fromNumber(n);
}

function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof Int32 || value instanceof Double) return value.valueOf();
  if (value instanceof Long) return value.toNumber();
  return undefined;
}

function isChangeStreamAggregate(body: Document): boolean {
  const pipeline: unknown = body.pipeline;
  if (!Array.isArray(pipeline)) return false;
  const first: unknown = pipeline[0];
  return typeof first === 'object' && first !== null && '$changeStream' in first;
}

/** The labels mongod's ErrorLabelBuilder computes for an error (no fail-point override). */
function computeLabels(
  name: string,
  body: Document,
  code: number | undefined,
  wcCode: number | undefined,
  changeStreamGetMore: boolean,
): string[] {
  const retryableWrite = body.txnNumber !== undefined && body.autocommit === undefined;
  if (
    retryableWrite &&
    ((code !== undefined && RETRIABLE_CODES.has(code)) ||
      (wcCode !== undefined && RETRIABLE_CODES.has(wcCode)))
  ) {
    return ['RetryableWriteError'];
  }
  const changeStream =
    (name === 'aggregate' && isChangeStreamAggregate(body)) ||
    (name === 'getMore' && changeStreamGetMore);
  if (
    changeStream &&
    code !== undefined &&
    wcCode === undefined &&
    RESUMABLE_CHANGE_STREAM_CODES.has(code)
  ) {
    return ['ResumableChangeStreamError'];
  }
  if (code !== undefined && NON_RESUMABLE_CODES.has(code)) return ['NonResumableChangeStreamError'];
  return [];
}

/**
 * An exception as a reply body. A `ServerError` keeps its own labels when it has some;
 * otherwise `labelsFor(code)` supplies them. Anything else is a bug: code 1 InternalError.
 */
function errorReply(err: unknown, labelsFor: (code: number) => string[] = () => []): Document {
  if (err instanceof ServerError) {
    const reply = err.toReply();
    reply.ok = new Double(0);
    reply.code = new Int32(err.code);
    if (err.codeName.startsWith('Location')) reply.codeName = codeNameOf(err.code);
    delete reply.errorLabels;
    const labels = err.errorLabels.length > 0 ? err.errorLabels : labelsFor(err.code);
    if (labels.length > 0) reply.errorLabels = [...labels];
    return reply;
  }
  if (debug()) console.error('[test-server] internal error:', err);
  const message = err instanceof Error ? err.message : String(err);
  return { ok: new Double(0), errmsg: message, code: new Int32(1), codeName: 'InternalError' };
}

const ZERO_HASH = new Binary(Buffer.alloc(20), 0);

/**
 * Every reply ends with `ok` (a double, as mongod writes it) and, on a replica set or a mongos,
 * with `$clusterTime` and `operationTime` — error replies included.
 */
function finish(reply: Document, server: ServerState): Document {
  const okValue = numeric(reply.ok);
  if (okValue === undefined) reply.ok = new Double(1);
  else if (!(reply.ok instanceof Double)) reply.ok = new Double(okValue);
  if (server.topology === 'standalone') return reply;
  const code = numeric(reply.code);
  if ((reply.ok as Double).value === 0 && code !== undefined && NOT_PRIMARY_CODES.has(code)) {
    reply.topologyVersion = topologyOf(server).topologyVersion;
  }
  const now = server.oplog.lastTimestamp;
  const operationTime = (reply.operationTime as Timestamp | undefined) ?? now;
  delete reply.$clusterTime;
  delete reply.operationTime;
  reply.$clusterTime = { clusterTime: now, signature: { hash: ZERO_HASH, keyId: Long.ZERO } };
  reply.operationTime = operationTime;
  return reply;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
