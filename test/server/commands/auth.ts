// Authentication and authorization as a mongod started with `--auth` does them, for SCRAM-SHA-1
// and SCRAM-SHA-256 only: `saslStart` / `saslContinue` (mongo/db/auth/sasl_commands.cpp), the
// handshake's `saslSupportedMechs` and `speculativeAuthenticate` (mongodb/specifications
// source/auth/auth.md, "Mechanism Negotiation via Handshake", "Speculative Authentication"), and
// the check every command passes first (mongo/db/commands.cpp `CommandInvocation::
// checkAuthorization`): unauthenticated → 13 "command X requires authentication"; lacking the
// role → 13 "not authorized on <db> to execute command { … }".
import {
  Binary,
  type Document,
  Double,
  Int32,
  Long,
  ObjectId,
  Timestamp,
  UUID,
  BSONRegExp,
  Decimal128,
} from 'bson';
import { fail } from '../errors.js';
import {
  SCRAM_MECHANISMS,
  type ScramMechanism,
  decodeSaslName,
  parseAttributes,
  proofMatches,
  scramCredential,
  serverNonce,
  serverSignature,
} from '../scram.js';
import type {
  CommandContext,
  CommandHandler,
  ConnectionInfo,
  RoleGrant,
  UserRecord,
} from '../types.js';
import { adminCommands } from './admin.js';

/** A user as `startTestServer({auth})` takes it; `db` (default `admin`) is its authSource. */
export interface UserSpec {
  user: string;
  password: string;
  /** `root` (the default), `read@db`, `readWrite@db`, `readAnyDatabase`, `readWriteAnyDatabase`; a bare `read`/`readWrite` means the user's own db. */
  roles?: string[];
  db?: string;
}

const ROLE_NAMES: ReadonlySet<string> = new Set([
  'root',
  'read',
  'readWrite',
  'readAnyDatabase',
  'readWriteAnyDatabase',
]);

/** `readWrite@a` → `{role: 'readWrite', db: 'a'}`; throws on a role this server does not know. */
export function parseRole(text: string, userDb: string): RoleGrant {
  const at = text.indexOf('@');
  const role = at < 0 ? text : text.slice(0, at);
  if (!ROLE_NAMES.has(role)) {
    throw new Error(
      `unknown role '${text}' (known: root, read@db, readWrite@db, readAnyDatabase, readWriteAnyDatabase)`,
    );
  }
  // Cluster-wide roles live on admin, as in MongoDB.
  const global = role === 'root' || role.endsWith('AnyDatabase');
  const db = global ? 'admin' : at < 0 ? userDb : text.slice(at + 1);
  if (db === '') throw new Error(`role '${text}' names no database`);
  return { role: role as RoleGrant['role'], db };
}

/** The server's user table: SCRAM credentials are derived once, here (PBKDF2 is slow on purpose). */
export function buildUsers(specs: readonly UserSpec[]): Map<string, UserRecord> {
  const users = new Map<string, UserRecord>();
  for (const spec of specs) {
    if (spec.user === '' || spec.password === '') {
      throw new Error('a user needs a non-empty name and password');
    }
    const db = spec.db ?? 'admin';
    const credentials = {} as Record<ScramMechanism, UserRecord['credentials'][ScramMechanism]>;
    for (const mech of SCRAM_MECHANISMS) {
      credentials[mech] = scramCredential(mech, spec.user, spec.password);
    }
    users.set(`${db}.${spec.user}`, {
      user: spec.user,
      db,
      roles: (spec.roles ?? ['root']).map((r) => parseRole(r, db)),
      credentials,
    });
  }
  return users;
}

// ---------------------------------------------------------------- SASL conversations

interface Conversation {
  readonly mechanism: ScramMechanism;
  readonly record: UserRecord;
  readonly clientFirstBare: string;
  readonly serverFirst: string;
  readonly nonce: string;
  /** `c=` the client must send back: base64 of its GS2 header. */
  readonly channelBinding: string;
  readonly skipEmptyExchange: boolean;
  /** 1: waiting for client-final; 2: waiting for the empty last message. */
  step: 1 | 2;
}

/** mongod numbers every conversation 1: a connection holds one at a time. */
const CONVERSATION_ID = 1;
const conversations = new WeakMap<ConnectionInfo, Conversation>();

function authFailed(): never {
  // mongod tells the client nothing more (unknown user, bad proof alike), to not leak which.
  fail(18, 'Authentication failed.');
}

function payloadText(value: unknown): string {
  if (value instanceof Binary) return Buffer.from(value.buffer).toString('utf8');
  if (typeof value === 'string') return value;
  fail(14, "BSON field 'payload' is the wrong type, expected type 'binData'");
}

function saslReply(done: boolean, payload: string): Document {
  return {
    conversationId: new Int32(CONVERSATION_ID),
    done,
    payload: new Binary(Buffer.from(payload, 'utf8')),
  };
}

/** saslStart's work: parse client-first, answer server-first, remember the conversation. */
function startConversation(cmd: Document, db: string, ctx: CommandContext): Document {
  const mechanism: unknown = cmd.mechanism;
  if (typeof mechanism !== 'string' || !SCRAM_MECHANISMS.includes(mechanism as ScramMechanism)) {
    fail(
      334,
      `Received authentication for mechanism ${String(mechanism)} which is unknown or not enabled`,
    );
  }
  const mech = mechanism as ScramMechanism;
  const clientFirst = payloadText(cmd.payload);
  // GS2 header (RFC 5802 §7): "n,," or "y,," (no channel binding) and an optional authzid.
  const m = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(clientFirst);
  if (!m) authFailed();
  const gs2Header = `${m[1]},${m[2] ?? ''},`;
  const clientFirstBare = m[3]!;
  const attrs = parseAttributes(clientFirstBare);
  const name = attrs.get('n');
  const clientNonce = attrs.get('r');
  if (name === undefined || clientNonce === undefined || clientNonce === '') authFailed();
  const record = ctx.server.users?.get(`${db}.${decodeSaslName(name)}`);
  if (!record) authFailed();
  const cred = record.credentials[mech];
  const nonce = clientNonce + serverNonce();
  const serverFirst = `r=${nonce},s=${cred.salt.toString('base64')},i=${cred.iterations}`;
  const options: unknown = cmd.options;
  conversations.set(ctx.connection, {
    mechanism: mech,
    record,
    clientFirstBare,
    serverFirst,
    nonce,
    channelBinding: Buffer.from(gs2Header, 'utf8').toString('base64'),
    // SERVER-44857: with skipEmptyExchange the server finishes on client-final.
    skipEmptyExchange:
      typeof options === 'object' &&
      options !== null &&
      (options as Document).skipEmptyExchange === true,
    step: 1,
  });
  return saslReply(false, serverFirst);
}

const saslStart: CommandHandler = (cmd, ctx) => ({
  ...startConversation(cmd, ctx.db, ctx),
  ok: new Double(1),
});

const saslContinue: CommandHandler = (cmd, ctx) => {
  const conv = conversations.get(ctx.connection);
  const id: unknown = cmd.conversationId;
  const idValue = id instanceof Int32 || id instanceof Double ? id.valueOf() : id;
  if (!conv || idValue !== CONVERSATION_ID) fail(17, 'No SASL session state found');
  const text = payloadText(cmd.payload);
  if (conv.step === 2) {
    conversations.delete(ctx.connection);
    if (text !== '') authFailed();
    authenticate(ctx.connection, conv.record);
    return { ...saslReply(true, ''), ok: new Double(1) };
  }
  // client-final = c=<binding>,r=<nonce>,p=<proof>; the AuthMessage covers all but the proof.
  const proofAt = text.lastIndexOf(',p=');
  const attrs = parseAttributes(text);
  const proof = attrs.get('p');
  if (
    proofAt < 0 ||
    proof === undefined ||
    attrs.get('c') !== conv.channelBinding ||
    attrs.get('r') !== conv.nonce
  ) {
    conversations.delete(ctx.connection);
    authFailed();
  }
  const withoutProof = text.slice(0, proofAt);
  const authMessage = `${conv.clientFirstBare},${conv.serverFirst},${withoutProof}`;
  const cred = conv.record.credentials[conv.mechanism];
  if (!proofMatches(conv.mechanism, cred, authMessage, proof)) {
    conversations.delete(ctx.connection);
    authFailed();
  }
  const serverFinal = `v=${serverSignature(conv.mechanism, cred, authMessage)}`;
  if (conv.skipEmptyExchange) {
    conversations.delete(ctx.connection);
    authenticate(ctx.connection, conv.record);
    return { ...saslReply(true, serverFinal), ok: new Double(1) };
  }
  conv.step = 2;
  return { ...saslReply(false, serverFinal), ok: new Double(1) };
};

function authenticate(connection: ConnectionInfo, record: UserRecord): void {
  connection.authenticatedUser = { user: record.user, db: record.db, roles: record.roles };
}

const logout: CommandHandler = (_cmd, ctx) => {
  delete ctx.connection.authenticatedUser;
  return { ok: new Double(1) };
};

/**
 * hello / isMaster with the handshake's auth extras: `saslSupportedMechs` when the named user
 * exists, and `speculativeAuthenticate` (the saslStart reply) when the embedded saslStart
 * succeeds; a failing one is left out, and the driver then authenticates the long way.
 */
function withHandshakeAuth(inner: CommandHandler): CommandHandler {
  return async (cmd, ctx) => {
    const reply = await inner(cmd, ctx);
    if (!ctx.server.users) return reply;
    const extra: Document = {};
    const mechsFor: unknown = cmd.saslSupportedMechs;
    if (typeof mechsFor === 'string' && ctx.server.users.has(mechsFor)) {
      extra.saslSupportedMechs = [...SCRAM_MECHANISMS];
    }
    const spec: unknown = cmd.speculativeAuthenticate;
    if (typeof spec === 'object' && spec !== null && 'saslStart' in spec) {
      const start = spec as Document;
      const db = typeof start.db === 'string' ? start.db : ctx.db;
      try {
        extra.speculativeAuthenticate = startConversation(start, db, ctx);
      } catch {
        // Left out: the client falls back to saslStart and sees the real error there.
      }
    }
    const { ok, ...rest } = reply;
    return { ...rest, ...extra, ok };
  };
}

/** SASL commands and the handshake commands with their auth extras (they replace admin's). */
export const authCommands: Record<string, CommandHandler> = {
  saslStart,
  saslContinue,
  logout,
  hello: withHandshakeAuth(adminCommands.hello!),
  isMaster: withHandshakeAuth(adminCommands.isMaster!),
  ismaster: withHandshakeAuth(adminCommands.ismaster!),
};

// ---------------------------------------------------------------- authorization

/** Commands mongod runs without authentication (`requiresAuth() == false`). */
const NO_AUTH: ReadonlySet<string> = new Set([
  'hello',
  'isMaster',
  'ismaster',
  'ping',
  'buildInfo',
  'buildinfo',
  'saslStart',
  'saslContinue',
  'logout',
  'whatsmyuri',
  'connectionStatus',
  'endSessions',
]);

/** Any authenticated user may run these (they touch only the user's own sessions). */
const ANY_USER: ReadonlySet<string> = new Set([
  'endSessions',
  'commitTransaction',
  'abortTransaction',
  // Real mongod lists only the databases a user may see; this server lists them all.
  'listDatabases',
]);

const READS: ReadonlySet<string> = new Set([
  'find',
  'count',
  'distinct',
  'aggregate',
  'getMore',
  'killCursors',
  'listCollections',
  'listIndexes',
]);

const WRITES: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'delete',
  'findAndModify',
  'findandmodify',
  'create',
  'collMod',
  'drop',
  'dropDatabase',
  'createIndexes',
  'dropIndexes',
  'deleteIndexes',
]);

type Need = 'read' | 'readWrite';

function grants(roles: readonly RoleGrant[], db: string, need: Need): boolean {
  return roles.some((r) => {
    if (r.role === 'root') return true;
    // The AnyDatabase roles leave out `local` and `config` (MongoDB's built-in roles page).
    const anyDb = db !== 'local' && db !== 'config';
    if (r.role === 'readWriteAnyDatabase') return anyDb;
    if (r.role === 'readAnyDatabase') return anyDb && need === 'read';
    if (r.db !== db) return false;
    return r.role === 'readWrite' || need === 'read';
  });
}

function isRoot(roles: readonly RoleGrant[]): boolean {
  return roles.some((r) => r.role === 'root');
}

function writesThroughPipeline(cmd: Document): boolean {
  const pipeline: unknown = cmd.pipeline;
  if (!Array.isArray(pipeline)) return false;
  const last: unknown = pipeline.at(-1);
  return typeof last === 'object' && last !== null && ('$out' in last || '$merge' in last);
}

function clusterWideStream(cmd: Document): boolean {
  const first: unknown = Array.isArray(cmd.pipeline) ? cmd.pipeline[0] : undefined;
  if (typeof first !== 'object' || first === null) return false;
  const stage: unknown = (first as Document).$changeStream;
  return (
    typeof stage === 'object' && stage !== null && (stage as Document).allChangesForCluster === true
  );
}

/** Whether `roles` may run `name` on `db` (a deliberately small model of MongoDB's privileges). */
function allowed(name: string, cmd: Document, db: string, roles: readonly RoleGrant[]): boolean {
  if (isRoot(roles) || ANY_USER.has(name)) return true;
  if (name === 'aggregate' && clusterWideStream(cmd)) {
    return roles.some((r) => r.role.endsWith('AnyDatabase'));
  }
  if (name === 'renameCollection') {
    const from = typeof cmd.renameCollection === 'string' ? cmd.renameCollection : '';
    const to = typeof cmd.to === 'string' ? cmd.to : '';
    const dbOf = (ns: string): string => ns.slice(0, Math.max(0, ns.indexOf('.')));
    return grants(roles, dbOf(from), 'readWrite') && grants(roles, dbOf(to), 'readWrite');
  }
  if (WRITES.has(name) || (name === 'aggregate' && writesThroughPipeline(cmd))) {
    return grants(roles, db, 'readWrite');
  }
  if (READS.has(name)) return grants(roles, db, 'read');
  return false; // server administration: root only
}

/** Throws 13 Unauthorized unless the connection may run `name`; a no-op without `--auth`. */
export function checkAuthorized(name: string, cmd: Document, ctx: CommandContext): void {
  if (!ctx.server.users || NO_AUTH.has(name)) return;
  const user = ctx.connection.authenticatedUser;
  if (!user) fail(13, `command ${name} requires authentication`);
  if (!allowed(name, cmd, ctx.db, user.roles)) {
    fail(13, `not authorized on ${ctx.db} to execute command ${bsonToString(cmd)}`);
  }
}

/** A document as mongod's `BSONObj::toString` writes it into error messages. */
export function bsonToString(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Int32 || value instanceof Long) return value.toString();
  if (value instanceof Double) {
    const n = value.valueOf();
    return Number.isInteger(n) ? n.toFixed(1) : String(n);
  }
  if (value instanceof Decimal128) return `NumberDecimal("${value.toString()}")`;
  if (value instanceof Timestamp) return `Timestamp(${value.t}, ${value.i})`;
  if (value instanceof ObjectId) return `ObjectId('${value.toHexString()}')`;
  if (value instanceof UUID) return `UUID("${value.toHexString(true)}")`;
  if (value instanceof Binary) {
    if (value.sub_type === Binary.SUBTYPE_UUID && value.position === 16) {
      return `UUID("${new UUID(value.buffer).toHexString(true)}")`;
    }
    const hex = Buffer.from(value.buffer.subarray(0, value.position)).toString('hex').toUpperCase();
    return `BinData(${value.sub_type}, ${hex})`;
  }
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof BSONRegExp) return `/${value.pattern}/${value.options}`;
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[ ${value.map(bsonToString).join(', ')} ]`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Document);
    if (entries.length === 0) return '{}';
    return `{ ${entries.map(([k, v]) => `${k}: ${bsonToString(v)}`).join(', ')} }`;
  }
  return String(value);
}
