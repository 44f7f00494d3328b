// Flags + environment → one validated TailOptions. Nothing here touches the network; the only
// input read from disk is a `--pipeline @file` / `--resume-after @file` argument.
//
// Precedence, written once: defaults < environment < flags.
//   uri:   --uri  > MONGODB_URI  > mongodb://localhost:27017
//   color: --color/--no-color  > FORCE_COLOR (0/false = off)  > NO_COLOR (any value = off)
//          > "stdout is a terminal"; only the pretty format is ever coloured.
//   format: --format > pretty on a terminal, json otherwise.
//   timeouts: --connect-timeout > the URI's own serverSelectionTimeoutMS / connectTimeoutMS
//          > 10s. An explicit flag sets both; without it each option the URI names is kept
//          (issue 8: `serverSelectionTimeoutMS=300` used to be overridden by the default).
//   auth, TLS: --username/--password/--auth-source/--auth-mechanism/--tls… add to the URI; an
//          option given both ways is a usage error rather than a silent choice. The password is
//          never put into the URI, so no message that shows the URI can carry it.
import { accessSync, constants, statSync } from 'node:fs';
import { Decimal128, EJSON, type Binary, type Document, type Timestamp } from 'bson';
import type { Format } from './format/index.js';
import { peopleTime } from './format/time.js';
import { DurationError, parseDuration } from './duration.js';
import { describeFsError, UsageError } from './errors.js';
import { FileTooLargeError, readFileCapped } from './file-arg.js';
import {
  AUTH_MECHANISMS,
  BASIC_OPS,
  BEFORE_CHANGE_MODES,
  EXPANDED_OPS,
  FULL_DOCUMENT_MODES,
  OUTPUT_FORMATS,
  type TailFlags,
} from './flags.js';
import { resolveTarget, type WatchTarget } from './namespace.js';
import { uriCredentials } from './redact.js';
import { tokenDataProblem } from './token.js';
import {
  compareTimestamps,
  formatTimestamp,
  parseWhen,
  sinceTimestamp,
  untilTimestamp,
  WhenError,
} from './when.js';

/**
 * The flags as commander hands them over: strings and booleans, unvalidated. Derived from the
 * declarations in flags.ts (issue 9), so a flag cannot be parsed without being declared.
 * `password` is `true` for the flag without a value (ask on the terminal).
 */
export type RawFlags = TailFlags;

/** Authentication given by flags (or a URI user still waiting for a password). */
export interface AuthSettings {
  /** Also set for a user named in the URI when the password comes from a flag or the prompt. */
  username?: string;
  password?: string;
  /** No password yet: `main` asks for it on the terminal before connecting. */
  askPassword?: boolean;
  source?: string;
  mechanism?: AuthMechanism;
}

/** TLS asked for by flags (present: TLS is on). */
export interface TlsSettings {
  caFile?: string;
  certificateKeyFile?: string;
  allowInvalidCertificates?: boolean;
}

// The value lists live with the flags (flags.ts): help and completion show them too.
export { AUTH_MECHANISMS, BASIC_OPS, EXPANDED_OPS };
export type AuthMechanism = (typeof AUTH_MECHANISMS)[number];

/**
 * A resume token as the server sends it. `_typeBits` appears when the event's key holds
 * numbers whose exact type the hex cannot carry (a Long or Double `_id`); it is kept as is.
 */
export interface ResumeToken {
  _data: string;
  _typeBits?: Binary;
}

export type FullDocumentMode = 'default' | 'updateLookup' | 'whenAvailable' | 'required';
export type BeforeChangeMode = 'off' | 'whenAvailable' | 'required';

/** Where the stream starts when no token file position applies. */
export type StartPosition =
  | { kind: 'now' }
  | { kind: 'resumeAfter'; token: ResumeToken }
  | { kind: 'startAfter'; token: ResumeToken }
  /**
   * `wallFrom` (epoch ms): the time was given to the millisecond, so events of the first second
   * whose wallTime is earlier are skipped (cluster times have one-second resolution).
   */
  | { kind: 'since'; ts: Timestamp; wallFrom?: number };

/**
 * A start as asked for: a position, or `oldest` (--since oldest), which the source resolves
 * against the deployment when it opens the stream (the oldest oplog entry).
 */
export type StartRequest = StartPosition | { kind: 'oldest' };

/**
 * When to stop by cluster time: `now` is resolved against the server at start. `wallTo` (epoch
 * ms): the time was given to the millisecond; in the last second, events whose wallTime is
 * later stop the run.
 */
export type UntilSpec = { kind: 'now' } | { kind: 'at'; ts: Timestamp; wallTo?: number };

/** Everything the tailer needs, validated. */
export interface TailOptions {
  uri: string;
  target: WatchTarget;
  ops?: string[];
  filter?: Document;
  match?: Document;
  pipeline: Document[];
  fullDocument?: FullDocumentMode;
  fullDocumentBeforeChange?: BeforeChangeMode;
  expanded: boolean;
  /** --partition i/N: only events whose document key hashes to `index` of `count` (count ≥ 2). */
  partition?: Partition;
  start: StartRequest;
  tokenFile?: string;
  until?: UntilSpec;
  /** How a time was read, said on stderr at start ("read 1732880000000 as epoch milliseconds"). */
  notes?: string[];
  limit?: number;
  idleTimeoutMs?: number;
  exitOnInvalidate: boolean;
  /** Ask the server to split events over 16 MB ($changeStreamSplitLargeEvent); reassembled here. */
  splitLargeEvents: boolean;
  checkpointIntervalMs: number;
  /** --retry-for: how long failures in a row may last before the run gives up (Infinity: never). */
  retryForMs: number;
  /** Only when --connect-timeout was given (see `connectTimeouts` for the precedence). */
  connectTimeoutMs?: number;
  format: Format;
  /** --key: each JSON line is `<documentKey>\t<event>`, for keyed consumers such as kcat -K. */
  key?: boolean;
  color: boolean;
  quiet: boolean;
  /** --wide: pretty lines are printed whole, never cut to the terminal's width. */
  wide: boolean;
  /** --pretty-multiline: pretty events with one field per line, indented like mongosh. */
  multiline: boolean;
  /** --stats: events/s, totals by operation and lag on stderr, every 5s and at exit. */
  stats: boolean;
  batchSize?: number;
  maxAwaitMs?: number;
  /** Zone for times people read (pretty lines, notes, summary): see resolveTimeZone. */
  timeZone?: string;
  auth?: AuthSettings;
  tls?: TlsSettings;
}

/** Tailer `index` of `count`: which share of the events by document-key hash (issue 10). */
export interface Partition {
  index: number;
  count: number;
}

/** What the environment contributes besides variables. */
export interface OptionContext {
  env: Readonly<Record<string, string | undefined>>;
  stdoutIsTTY: boolean;
  now: Date;
  /** Reads an `@file` argument; injectable for tests. */
  readText?: (path: string) => string;
  /** A terminal to ask for a password on (stdin and stderr are terminals). */
  canPrompt?: boolean;
}

export const DEFAULT_URI = 'mongodb://localhost:27017';
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** --retry-for's default (the same number as the re-open policy's). */
export const DEFAULT_RETRY_FOR_MS = 60_000;

/** The driver's timeout options: --connect-timeout > the URI's own options > 10s. */
export function connectTimeouts(
  uri: string,
  flagMs: number | undefined,
): { serverSelectionTimeoutMS?: number; connectTimeoutMS?: number } {
  if (flagMs !== undefined) return { serverSelectionTimeoutMS: flagMs, connectTimeoutMS: flagMs };
  // Options the driver reads from the URI are left out: the options object would override them.
  const inUri = (name: string): boolean => new RegExp(`[?&]${name}=`, 'i').test(uri);
  return {
    ...(inUri('serverSelectionTimeoutMS')
      ? {}
      : { serverSelectionTimeoutMS: DEFAULT_CONNECT_TIMEOUT_MS }),
    ...(inUri('connectTimeoutMS') ? {} : { connectTimeoutMS: DEFAULT_CONNECT_TIMEOUT_MS }),
  };
}
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 1_000;

const FORMATS: readonly Format[] = OUTPUT_FORMATS;
const FULL_DOCUMENT: readonly FullDocumentMode[] = FULL_DOCUMENT_MODES;
const BEFORE_CHANGE: readonly BeforeChangeMode[] = BEFORE_CHANGE_MODES;

/** Stages MongoDB accepts after $changeStream (anything else is refused with code 20). */
export const ALLOWED_STAGES = [
  '$match',
  '$project',
  '$addFields',
  '$set',
  '$unset',
  '$replaceRoot',
  '$replaceWith',
  '$redact',
  '$changeStreamSplitLargeEvent',
] as const;

/** Validates flags, namespaces and environment into TailOptions; throws UsageError. */
export function resolveOptions(
  flags: RawFlags,
  namespaces: readonly string[],
  ctx: OptionContext,
): TailOptions {
  const readText = ctx.readText ?? ((path: string) => readFileCapped(path));

  const uri = resolveUri(flags.uri, ctx.env);
  const target = resolveTarget(namespaces);
  const expanded = flags.expanded === true;
  const ops = flags.ops === undefined ? undefined : parseOps(flags.ops, expanded);

  const filter = flags.filter === undefined ? undefined : parseDocument('--filter', flags.filter);
  if (filter !== undefined) checkFilter(filter);
  const match = flags.match === undefined ? undefined : parseDocument('--match', flags.match);
  const pipeline = flags.pipeline === undefined ? [] : parsePipeline(flags.pipeline, readText);

  const fullDocument = oneOf('--full-document', flags.fullDocument, FULL_DOCUMENT);
  const fullDocumentBeforeChange = oneOf(
    '--full-document-before-change',
    flags.fullDocumentBeforeChange,
    BEFORE_CHANGE,
  );

  const timeZone = resolveTimeZone(flags.utc, ctx.env);
  const timeNotes: string[] = [];
  const start = resolveStart(flags, ctx, readText, timeNotes, timeZone);
  const until =
    flags.until === undefined ? undefined : parseUntil(flags.until, ctx.now, timeNotes, timeZone);
  if (
    until?.kind === 'at' &&
    start.kind === 'since' &&
    (compareTimestamps(until.ts, start.ts) < 0 ||
      (until.wallTo !== undefined && start.wallFrom !== undefined && until.wallTo < start.wallFrom))
  ) {
    throw new UsageError(
      `--until ${flags.until} is before --since ${flags.since}`,
      'nothing could be printed; check the two times',
    );
  }
  // Starting from now (no start flag, no token file that could hold an older position), an
  // --until in the past could only ever print nothing.
  if (
    until?.kind === 'at' &&
    start.kind === 'now' &&
    flags.tokenFile === undefined &&
    until.ts.t < Math.floor(ctx.now.getTime() / 1000)
  ) {
    throw new UsageError(
      `--until ${flags.until} is in the past, and the stream starts now`,
      'nothing could be printed; add --since to read from an earlier time',
    );
  }

  const tokenFile = flags.tokenFile;
  if (tokenFile !== undefined && tokenFile.trim() === '') {
    throw new UsageError('--token-file needs a file path');
  }
  if (flags.checkpointInterval !== undefined && tokenFile === undefined) {
    throw new UsageError('--checkpoint-interval only applies with --token-file');
  }

  const format = flags.format === undefined ? undefined : oneOf('--format', flags.format, FORMATS);
  // `--color` or `--pretty-multiline` without a format asks for pretty lines, e.g. into `less -R`.
  const resolvedFormat: Format =
    format ??
    (ctx.stdoutIsTTY || flags.color === true || flags.prettyMultiline === true ? 'pretty' : 'json');
  if (flags.prettyMultiline === true && resolvedFormat !== 'pretty') {
    throw new UsageError(
      `--pretty-multiline and --format ${resolvedFormat} cannot be used together`,
      '--pretty-multiline lays out pretty events; leave it out, or use -f pretty',
    );
  }
  if (flags.wide === true && resolvedFormat !== 'pretty') {
    throw new UsageError(
      `--wide applies to pretty output; ${resolvedFormat} lines are never cut`,
      'leave out --wide, or use -f pretty',
    );
  }

  if (flags.key === true && resolvedFormat === 'pretty') {
    throw new UsageError(
      '--key applies to json and canonical output, not pretty',
      'add -f json (or -f canonical)',
    );
  }
  const partition = flags.partition === undefined ? undefined : parsePartition(flags.partition);

  if (flags.color === true && resolvedFormat !== 'pretty') {
    throw new UsageError(
      `--color applies to pretty output; ${resolvedFormat} is never coloured`,
      'leave out --color, or use -f pretty',
    );
  }

  const options: TailOptions = {
    uri,
    target,
    pipeline,
    expanded,
    start,
    exitOnInvalidate: flags.exitOnInvalidate === true,
    // A --pipeline that splits events needs the reassembly this turns on, or the fragments
    // would print one by one (buildWatch does not add the stage a second time).
    splitLargeEvents:
      flags.splitLargeEvents === true ||
      pipeline.some((stage) => '$changeStreamSplitLargeEvent' in stage),
    checkpointIntervalMs:
      flags.checkpointInterval === undefined
        ? DEFAULT_CHECKPOINT_INTERVAL_MS
        : duration('--checkpoint-interval', flags.checkpointInterval, { allowZero: true }),
    retryForMs: flags.retryFor === undefined ? DEFAULT_RETRY_FOR_MS : retryFor(flags.retryFor),
    format: resolvedFormat,
    color: resolvedFormat === 'pretty' && resolveColor(flags.color, ctx),
    quiet: flags.quiet === true,
    wide: flags.wide === true,
    multiline: flags.prettyMultiline === true,
    stats: flags.stats === true,
  };
  if (flags.connectTimeout !== undefined) {
    options.connectTimeoutMs = duration('--connect-timeout', flags.connectTimeout);
  }
  if (ops !== undefined) options.ops = ops;
  if (flags.key === true) options.key = true;
  // 1 of 1 is everything: no stage, and no need for a server with $toHashedIndexKey.
  if (partition !== undefined && partition.count > 1) options.partition = partition;
  if (filter !== undefined) options.filter = filter;
  if (match !== undefined) options.match = match;
  if (fullDocument !== undefined) options.fullDocument = fullDocument;
  if (fullDocumentBeforeChange !== undefined) {
    options.fullDocumentBeforeChange = fullDocumentBeforeChange;
  }
  if (tokenFile !== undefined) options.tokenFile = tokenFile;
  if (until !== undefined) options.until = until;
  if (timeNotes.length > 0) options.notes = timeNotes;
  if (flags.limit !== undefined) options.limit = positiveInteger('--limit', flags.limit);
  if (flags.idleTimeout !== undefined) {
    options.idleTimeoutMs = duration('--idle-timeout', flags.idleTimeout);
  }
  if (flags.batchSize !== undefined) {
    options.batchSize = positiveInteger('--batch-size', flags.batchSize);
  }
  if (flags.maxAwait !== undefined)
    options.maxAwaitMs = milliseconds('--max-await', flags.maxAwait);
  if (timeZone !== undefined) options.timeZone = timeZone;
  const auth = resolveAuth(flags, uri, ctx.canPrompt === true);
  if (auth !== undefined) options.auth = auth;
  const tls = resolveTls(flags, uri);
  if (tls !== undefined) options.tls = tls;
  return options;
}

/** A query option of the URI, percent-decoded (undefined: not there). */
function uriOption(uri: string, name: string): string | undefined {
  const m = new RegExp(`[?&]${name}=([^&#]*)`, 'i').exec(uri);
  if (m === null) return undefined;
  try {
    return decodeURIComponent(m[1] ?? '');
  } catch {
    return m[1];
  }
}

function givenTwice(flag: string, inUri: string): UsageError {
  return new UsageError(
    `${flag} and ${inUri} in the connection string cannot be used together`,
    `give it once: with ${flag}, or in the connection string`,
  );
}

// Mechanisms that cannot log in without a password (DEFAULT negotiates a SCRAM one).
const NEEDS_PASSWORD: ReadonlySet<string> = new Set([
  'DEFAULT',
  'SCRAM-SHA-256',
  'SCRAM-SHA-1',
  'PLAIN',
]);

function resolveAuth(flags: RawFlags, uri: string, canPrompt: boolean): AuthSettings | undefined {
  const inUri = uriCredentials(uri);
  if (flags.username !== undefined) {
    if (flags.username === '') throw new UsageError('--username needs a user name');
    if (inUri.user !== undefined) throw givenTwice('--username', 'a user name');
  }
  if (flags.password === '') {
    throw new UsageError('--password is empty', 'leave out the value to be asked for it');
  }
  if (flags.password !== undefined && inUri.password !== undefined) {
    throw givenTwice('--password', 'a password');
  }
  let mechanism: AuthMechanism | undefined;
  if (flags.authMechanism !== undefined) {
    if (uriOption(uri, 'authMechanism') !== undefined) {
      throw givenTwice('--auth-mechanism', 'authMechanism');
    }
    const wanted = flags.authMechanism.trim().toUpperCase();
    mechanism = AUTH_MECHANISMS.find((m) => m === wanted);
    if (mechanism === undefined) {
      throw new UsageError(
        `--auth-mechanism: unknown value "${flags.authMechanism}"`,
        `use one of: ${AUTH_MECHANISMS.join(', ')}`,
      );
    }
  }
  const source = flags.authSource;
  if (source !== undefined) {
    if (source.trim() === '') throw new UsageError('--auth-source needs a database name');
    if (uriOption(uri, 'authSource') !== undefined) throw givenTwice('--auth-source', 'authSource');
  }

  const user = flags.username ?? inUri.user;
  const effective = (mechanism ?? uriOption(uri, 'authMechanism') ?? 'DEFAULT').toUpperCase();
  if (user === undefined) {
    if (flags.password !== undefined) {
      throw new UsageError(
        '--password needs a user name',
        'add --username <name>, or put the user in the connection string',
      );
    }
    if (source !== undefined && effective === 'DEFAULT') {
      throw new UsageError(
        '--auth-source only applies with a user',
        'add --username <name>, or put the user in the connection string',
      );
    }
  }
  const password = typeof flags.password === 'string' ? flags.password : undefined;
  // mongosh asks too when a user has no password: `mongodb://alice@host` or --username alone.
  const askPassword =
    user !== undefined &&
    password === undefined &&
    inUri.password === undefined &&
    (flags.password === true || NEEDS_PASSWORD.has(effective));
  if (askPassword && !canPrompt) {
    if (flags.password === true) {
      throw new UsageError(
        '--password needs a value when stdin is not a terminal (or set it in MONGODB_URI)',
        'in a script, put the user and the password (percent-encoded) in MONGODB_URI',
      );
    }
    throw new UsageError(
      `no password for user ${user}, and stdin is not a terminal to ask for it`,
      'add --password <pw>, or put the password in MONGODB_URI',
    );
  }

  const auth: AuthSettings = {};
  if (flags.username !== undefined || password !== undefined || askPassword) auth.username = user;
  if (password !== undefined) auth.password = password;
  if (askPassword) auth.askPassword = true;
  if (source !== undefined) auth.source = source;
  if (mechanism !== undefined) auth.mechanism = mechanism;
  return Object.keys(auth).length === 0 ? undefined : auth;
}

function resolveTls(flags: RawFlags, uri: string): TlsSettings | undefined {
  // Any TLS flag turns TLS on: a CA file without TLS would be silently unused.
  const given = [
    flags.tls === true ? '--tls' : undefined,
    flags.tlsCaFile !== undefined ? '--tls-ca-file' : undefined,
    flags.tlsCertificateKeyFile !== undefined ? '--tls-certificate-key-file' : undefined,
    flags.tlsAllowInvalidCertificates === true ? '--tls-allow-invalid-certificates' : undefined,
  ].filter((flag) => flag !== undefined);
  const [first] = given;
  if (first === undefined) return undefined;
  const inUri = uriOption(uri, 'tls') ?? uriOption(uri, 'ssl');
  if (inUri?.toLowerCase() === 'false') {
    throw new UsageError(
      `${first} asks for TLS, but the connection string says tls=false`,
      'remove tls=false from the connection string, or leave out the TLS flags',
    );
  }
  const tls: TlsSettings = {};
  if (flags.tlsCaFile !== undefined) {
    if (uriOption(uri, 'tlsCAFile') !== undefined) throw givenTwice('--tls-ca-file', 'tlsCAFile');
    tls.caFile = readableFile('--tls-ca-file', flags.tlsCaFile);
  }
  if (flags.tlsCertificateKeyFile !== undefined) {
    if (uriOption(uri, 'tlsCertificateKeyFile') !== undefined) {
      throw givenTwice('--tls-certificate-key-file', 'tlsCertificateKeyFile');
    }
    tls.certificateKeyFile = readableFile(
      '--tls-certificate-key-file',
      flags.tlsCertificateKeyFile,
    );
  }
  if (flags.tlsAllowInvalidCertificates === true) {
    for (const name of ['tlsAllowInvalidCertificates', 'tlsInsecure']) {
      if (uriOption(uri, name) !== undefined) {
        throw givenTwice('--tls-allow-invalid-certificates', name);
      }
    }
    tls.allowInvalidCertificates = true;
  }
  return tls;
}

/** Checked here so a typo is exit 2 naming the file, not a connect failure (exit 3). */
function readableFile(flag: string, path: string): string {
  if (path.trim() === '') throw new UsageError(`${flag} needs a file path`);
  try {
    accessSync(path, constants.R_OK);
    if (statSync(path).isDirectory()) throw Object.assign(new Error(path), { code: 'EISDIR' });
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${describeFsError(error)})`);
  }
  return path;
}

function resolveUri(flag: string | undefined, env: OptionContext['env']): string {
  const fromEnv = env.MONGODB_URI;
  const uri = flag ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_URI);
  const where = flag !== undefined ? '--uri' : 'MONGODB_URI';
  if (!/^mongodb(\+srv)?:\/\//i.test(uri)) {
    // The value itself is not echoed: it may hold a password in an unexpected shape.
    throw new UsageError(
      `${where} must start with mongodb:// or mongodb+srv://`,
      'e.g. --uri mongodb://localhost:27017/?replicaSet=rs0',
    );
  }
  return uri;
}

/** Colour for a terminal-facing output: flag > FORCE_COLOR > NO_COLOR > is it a terminal. */
export function resolveColor(
  flag: boolean | undefined,
  ctx: Pick<OptionContext, 'env' | 'stdoutIsTTY'>,
): boolean {
  if (flag !== undefined) return flag;
  const force = ctx.env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.toLowerCase());
  if (ctx.env.NO_COLOR !== undefined && ctx.env.NO_COLOR !== '') return false;
  return ctx.stdoutIsTTY;
}

/**
 * The zone times are shown in: UTC with --utc, else $TZ when it names a valid zone, else
 * undefined (the process's local zone).
 */
export function resolveTimeZone(
  utc: boolean | undefined,
  env: OptionContext['env'],
): string | undefined {
  return utc === true ? 'UTC' : validZone(env.TZ);
}

function validZone(zone: string | undefined): string | undefined {
  if (zone === undefined || zone === '') return undefined;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return undefined; // e.g. a POSIX rule string Intl does not know: keep the default
  }
}

function parseOps(values: readonly string[], expanded: boolean): string[] {
  const names = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (names.length === 0) throw new UsageError('--ops needs at least one operation type');
  const valid: readonly string[] = [...BASIC_OPS, ...EXPANDED_OPS];
  const out: string[] = [];
  for (const name of names) {
    if ((EXPANDED_OPS as readonly string[]).includes(name)) {
      if (!expanded) {
        throw new UsageError(
          `--ops ${name} needs --expanded`,
          `${name} events are only sent with showExpandedEvents; add --expanded`,
        );
      }
    } else if (!(BASIC_OPS as readonly string[]).includes(name)) {
      const near = valid.find((v) => v.toLowerCase() === name.toLowerCase());
      throw new UsageError(
        `--ops: unknown operation type "${name}"` + (near ? ` (did you mean ${near}?)` : ''),
        `valid: ${BASIC_OPS.join(', ')}; with --expanded also ${EXPANDED_OPS.join(', ')}`,
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Parses Extended JSON (canonical types kept: `1` stays an Int32) into a document. */
function parseEjson(
  flag: string,
  text: string,
  hint = `e.g. ${flag} '{"status": "paid"}'`,
): unknown {
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch (error) {
    throw invalidJson(flag, error, hint);
  }
  // bson reads some wrong values without a word ({"$date": "yesterday"} becomes 1970,
  // {"$numberInt": "1.5"} becomes 1): such a filter would quietly match something else.
  checkEjsonValues(flag, tree);
  try {
    // From the text again, not the tree: JSON.stringify would turn -0 into 0.
    return EJSON.parse(text, { relaxed: false });
  } catch (error) {
    throw invalidJson(flag, error, hint);
  }
}

function invalidJson(flag: string, error: unknown, hint: string): UsageError {
  const why = error instanceof Error ? error.message : String(error);
  return new UsageError(`${flag}: invalid JSON: ${why}`, hint);
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
// The largest time a JavaScript Date (and so bson) can hold, in ms either side of 1970.
const MAX_DATE_MS = 8.64e15;
const WHOLE = /^-?\d+$/;
const DOUBLE = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^(-?Infinity|NaN)$/;

/** Refuses Extended JSON wrappers whose value bson would change or drop (UsageError). */
export function checkEjsonValues(flag: string, tree: unknown): void {
  // A loop, not recursion: a deeply nested argument must not overflow the stack.
  const pending: unknown[] = [tree];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      pending.push(...(value as unknown[]));
      continue;
    }
    const doc = value as Record<string, unknown>;
    const problem = wrapperProblem(doc);
    if (problem !== undefined) {
      throw new UsageError(
        `${flag}: ${abbreviate(JSON.stringify(doc))} is not ${problem.what}`,
        problem.hint,
      );
    }
    pending.push(...Object.values(doc));
  }
}

function wrapperProblem(doc: Record<string, unknown>): { what: string; hint: string } | undefined {
  // bson ignores a wrapper key whose value is null, so it is skipped here too.
  const { $numberInt: int, $numberLong: long, $numberDouble: double } = doc;
  const { $numberDecimal: decimal, $date: date } = doc;
  if (int != null && !isInt32(int)) {
    return {
      what: 'a 32-bit integer',
      hint: `$numberInt takes a whole number from ${INT32.min} to ${INT32.max} as a string, e.g. {"$numberInt": "42"}; a fraction is {"$numberDouble": "1.5"}`,
    };
  }
  if (long != null && !isInt64(long)) {
    return {
      what: 'a 64-bit integer',
      hint: `$numberLong takes a whole number from ${INT64.min} to ${INT64.max} as a string, e.g. {"$numberLong": "42"}`,
    };
  }
  if (double != null && !isDouble(double)) {
    return {
      what: 'a double',
      hint: '$numberDouble takes a number as a string (or "Infinity", "-Infinity", "NaN"), e.g. {"$numberDouble": "1.5"}',
    };
  }
  if (decimal != null && !isDecimal(decimal)) {
    return {
      what: 'a decimal',
      hint: '$numberDecimal takes a number of at most 34 digits as a string, e.g. {"$numberDecimal": "9.99"}',
    };
  }
  if (date != null && !isDate(date)) {
    return {
      what: 'a date',
      hint: '$date takes an ISO 8601 time, e.g. {"$date": "2024-05-01T12:00:00Z"}, or {"$date": {"$numberLong": "<ms since 1970>"}}',
    };
  }
  return undefined;
}

function isInt32(value: unknown): boolean {
  const n = typeof value === 'string' && WHOLE.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= INT32.min && n <= INT32.max;
}

function isInt64(value: unknown): boolean {
  if (typeof value !== 'string' || !WHOLE.test(value)) return false;
  const n = BigInt(value);
  return n >= INT64.min && n <= INT64.max;
}

function isDouble(value: unknown): boolean {
  if (typeof value === 'number') return true;
  if (typeof value !== 'string' || !DOUBLE.test(value)) return false;
  // Digits that overflow to Infinity are not the number written.
  return Number.isFinite(Number(value)) || !/\d/.test(value);
}

function isDecimal(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    Decimal128.fromString(value); // throws on what it cannot hold exactly
    return true;
  } catch {
    return false;
  }
}

function isDate(value: unknown): boolean {
  let ms: number;
  if (typeof value === 'string') ms = Date.parse(value);
  else if (typeof value === 'object' && value !== null && Object.keys(value).length === 1) {
    const long = (value as Record<string, unknown>).$numberLong;
    if (!isInt64(long)) return false;
    ms = Number(long);
  } else return false;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS;
}

function parseDocument(flag: string, text: string): Document {
  const value = parseEjson(flag, text);
  if (!isPlainDocument(value)) throw new UsageError(`${flag} must be a JSON object, got ${text}`);
  return value;
}

// These name document paths inside expressions or run code; they cannot be re-rooted under
// fullDocument by prefixing field names, so --filter refuses them (use --match instead).
const UNPREFIXABLE = new Set(['$expr', '$where', '$text', '$jsonSchema', '$function']);

function checkFilter(filter: Document, path = '--filter'): void {
  for (const [key, value] of Object.entries(filter)) {
    if (UNPREFIXABLE.has(key)) {
      throw new UsageError(
        `${path} cannot use ${key}`,
        '--filter rewrites field names to fullDocument.<field>; write the $match yourself with --match',
      );
    }
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value) || value.length === 0) {
        throw new UsageError(`${path}: ${key} needs a non-empty array of filters`);
      }
      for (const part of value) {
        if (!isPlainDocument(part)) throw new UsageError(`${path}: ${key} entries must be objects`);
        checkFilter(part, path);
      }
    }
  }
}

function parsePipeline(arg: string, readText: (path: string) => string): Document[] {
  let text = arg;
  let where = '--pipeline';
  if (arg.startsWith('@')) {
    const path = arg.slice(1);
    where = `--pipeline ${arg}`;
    try {
      text = readText(path);
    } catch (error) {
      if (error instanceof FileTooLargeError) {
        throw new UsageError(
          `--pipeline ${arg}: the file is larger than ${error.limitText}`,
          `@file reads at most ${error.limitText}; a pipeline file holds a few stages`,
        );
      }
      throw new UsageError(
        `cannot read ${path} (${describeFsError(error)})`,
        'for --pipeline @file',
      );
    }
  }
  const example = '[{"$match": {"operationType": "insert"}}]';
  const value = parseEjson(
    where,
    text,
    arg.startsWith('@')
      ? `the file holds a JSON array of stages, e.g. ${example}`
      : `e.g. --pipeline '${example}'`,
  );
  const stages = Array.isArray(value) ? value : [value];
  stages.forEach((stage, index) => {
    if (!isPlainDocument(stage) || Object.keys(stage).length !== 1) {
      throw new UsageError(`${where}: stage ${index + 1} must be an object with one stage name`);
    }
    const [name = ''] = Object.keys(stage);
    if (!(ALLOWED_STAGES as readonly string[]).includes(name)) {
      throw new UsageError(
        `${where}: ${name} is not allowed in a change stream pipeline`,
        `allowed: ${ALLOWED_STAGES.join(', ')}`,
      );
    }
    if (name === '$changeStreamSplitLargeEvent' && index !== stages.length - 1) {
      throw new UsageError(`${where}: $changeStreamSplitLargeEvent must be the last stage`);
    }
  });
  return stages as Document[];
}

function resolveStart(
  flags: RawFlags,
  ctx: OptionContext,
  readText: (path: string) => string,
  notes: string[],
  timeZone: string | undefined,
): StartRequest {
  const given = (['resumeAfter', 'startAfter', 'since'] as const).filter(
    (k) => flags[k] !== undefined,
  );
  if (given.length > 1) {
    const names = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new UsageError(
      `${names.join(' and ')} cannot be used together`,
      'choose one start position',
    );
  }
  if (flags.resumeAfter !== undefined) {
    return {
      kind: 'resumeAfter',
      token: parseToken('--resume-after', flags.resumeAfter, readText),
    };
  }
  if (flags.startAfter !== undefined) {
    return { kind: 'startAfter', token: parseToken('--start-after', flags.startAfter, readText) };
  }
  if (flags.since !== undefined) {
    // kcat's `-o beginning`: resolved against the deployment's oplog when the stream opens.
    if (flags.since.trim().toLowerCase() === 'oldest') return { kind: 'oldest' };
    const when = parseWhenFlag('--since', flags.since, ctx.now, notes, timeZone);
    if (when.kind === 'now') {
      throw new UsageError('--since now is the default; leave --since out to start from now');
    }
    // A time of day is today's; later than now it is most likely yesterday's, and waiting
    // for it would look like a tail that prints nothing.
    if (when.kind === 'date' && when.form === 'time-of-day' && when.date > ctx.now) {
      const yesterday = new Date(ctx.now.getTime());
      yesterday.setDate(yesterday.getDate() - 1);
      const day = [
        yesterday.getFullYear(),
        String(yesterday.getMonth() + 1).padStart(2, '0'),
        String(yesterday.getDate()).padStart(2, '0'),
      ].join('-');
      throw new UsageError(
        `--since ${flags.since.trim()} is later than now (a time of day means today)`,
        `did you mean yesterday? give the date: --since ${day}T${flags.since.trim()}`,
      );
    }
    const ts = sinceTimestamp(when);
    return when.kind === 'date' && when.ms !== undefined
      ? { kind: 'since', ts, wallFrom: when.ms.since }
      : { kind: 'since', ts };
  }
  return { kind: 'now' };
}

function parseUntil(
  text: string,
  now: Date,
  notes: string[],
  timeZone: string | undefined,
): UntilSpec {
  const when = parseWhenFlag('--until', text, now, notes, timeZone);
  if (when.kind === 'now') return { kind: 'now' };
  const ts = untilTimestamp(when);
  return when.kind === 'date' && when.ms !== undefined
    ? { kind: 'at', ts, wallTo: when.ms.until }
    : { kind: 'at', ts };
}

function parseWhenFlag(
  flag: string,
  text: string,
  now: Date,
  notes: string[],
  timeZone: string | undefined,
): ReturnType<typeof parseWhen> {
  let when: ReturnType<typeof parseWhen>;
  try {
    when = parseWhen(text, now);
  } catch (error) {
    if (error instanceof WhenError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
  if (when.kind === 'date' && when.form === 'epoch-ms') {
    notes.push(
      `${flag}: read ${text.trim()} as epoch milliseconds (${peopleTime(when.date, timeZone)})`,
    );
  }
  return when;
}

/**
 * A token argument: `{"_data":"82…"}` (what the token file holds, so `"$(cat pos.json)"`
 * works), the bare hex, or `@file`.
 */
export function parseToken(
  flag: string,
  arg: string,
  readText: (path: string) => string = (p) => readFileCapped(p),
): ResumeToken {
  let text = arg.trim();
  if (text.startsWith('@')) {
    const path = text.slice(1);
    try {
      text = readText(path).trim();
    } catch (error) {
      if (error instanceof FileTooLargeError) {
        throw new UsageError(
          `${flag} @${path}: the file is larger than ${error.limitText}`,
          `@file reads at most ${error.limitText}; a resume token is a few hundred bytes`,
        );
      }
      throw new UsageError(`${flag}: cannot read ${path} (${describeFsError(error)})`);
    }
  }
  const hint = `${flag} takes a resume token: {"_data":"8266…"} or its hex`;
  if (/^[0-9a-f]+$/i.test(text)) return checkTokenHex(flag, text, hint);
  let value: unknown;
  try {
    value = EJSON.parse(text, { relaxed: false });
  } catch {
    throw new UsageError(`${flag}: not a resume token: ${abbreviate(text)}`, hint);
  }
  if (!isPlainDocument(value) || typeof value._data !== 'string') {
    throw new UsageError(
      `${flag}: not a resume token (no "_data" string): ${abbreviate(text)}`,
      hint,
    );
  }
  const extra = Object.keys(value).filter((k) => k !== '_data' && k !== '_typeBits');
  const typeBits: unknown = value._typeBits;
  const isBinary = (typeBits as { _bsontype?: unknown } | undefined)?._bsontype === 'Binary';
  if (extra.length > 0 || (typeBits !== undefined && !isBinary)) {
    throw new UsageError(
      `${flag}: not a resume token (unexpected fields): ${abbreviate(text)}`,
      hint,
    );
  }
  const token = checkTokenHex(flag, value._data, hint);
  if (isBinary) token._typeBits = typeBits as Binary;
  return token;
}

function checkTokenHex(flag: string, hex: string, hint: string): ResumeToken {
  if (hex === '' || hex.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(hex)) {
    throw new UsageError(`${flag}: the token's _data is not hex: ${abbreviate(hex)}`, hint);
  }
  // Found here, a corrupt token is a usage error; sent, it would be a connect or resume failure.
  const why = tokenDataProblem(hex);
  if (why !== undefined) {
    throw new UsageError(
      `${flag}: not a resume token (${abbreviate(hex)}): ${why.replace(/: not a resume token$/, '')}`,
      hint,
    );
  }
  return { _data: hex };
}

function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag}: unknown value "${value}"`, `use one of: ${allowed.join(', ')}`);
}

/** `--partition i/N`: whole numbers, N ≥ 1 and 0 ≤ i < N. */
export function parsePartition(text: string): Partition {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || !Number.isSafeInteger(index) || !Number.isSafeInteger(count)) {
    throw new UsageError(
      `--partition must be i/N (this tailer's number and how many there are), got "${text}"`,
      'e.g. --partition 0/3, --partition 1/3 and --partition 2/3 on three machines',
    );
  }
  if (count < 1) throw new UsageError(`--partition ${text}: N must be at least 1`);
  if (index >= count) {
    throw new UsageError(
      `--partition ${text}: i must be less than N`,
      `number the tailers 0 to ${count - 1}`,
    );
  }
  return { index, count };
}

function positiveInteger(flag: string, text: string): number {
  const value = text.trim();
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be a whole number of at least 1, got "${text}"`);
  }
  return Number(value);
}

function duration(flag: string, text: string, { allowZero = false } = {}): number {
  // A bare 0 needs no unit; refused here, it gets the same words as `0s` (not "add a unit",
  // which would suggest 0s, which is refused too).
  if (!allowZero && /^\s*0+(\.0*)?\s*$/.test(text)) {
    throw new UsageError(`${flag} must be longer than 0, got "${text}"`);
  }
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
  if (ms === 0 && !allowZero) throw new UsageError(`${flag} must be longer than 0, got "${text}"`);
  if (ms > 2_147_483_647) throw new UsageError(`${flag}: "${text}" is too long`);
  return ms;
}

/** --retry-for: a duration, `0` (give up at once) or `forever`. */
function retryFor(text: string): number {
  const trimmed = text.trim();
  if (trimmed === 'forever') return Infinity;
  if (trimmed === '0') return 0;
  try {
    return duration('--retry-for', text, { allowZero: true });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(error.message, '--retry-for takes a duration (30s, 5m, 2h), 0 or forever');
  }
}

/**
 * --max-await: a plain number is milliseconds (the server's maxAwaitTimeMS); a duration with a
 * unit works too. Every message says so, in the words --idle-timeout's messages use.
 */
function milliseconds(flag: string, text: string): number {
  const hint = `${flag} takes milliseconds (250) or a duration with a unit (500ms, 2s)`;
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    if (ms === 0) throw new UsageError(`${flag} must be longer than 0, got "${text}"`, hint);
    if (ms > 2_147_483_647) throw new UsageError(`${flag}: "${text}" is too long`, hint);
    return ms;
  }
  try {
    return duration(flag, text);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(error.message, hint);
  }
}

function isPlainDocument(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  // BSON values (ObjectId, Int32…) are objects too, but not documents.
  return !('_bsontype' in value);
}

function abbreviate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** `--since` resolved to a display string for notes ("1714564800,0"). */
export function describeStart(start: StartRequest): string {
  switch (start.kind) {
    case 'now':
      return 'now';
    case 'oldest':
      return 'the oldest event still held';
    case 'since':
      return `cluster time ${formatTimestamp(start.ts)}`;
    case 'resumeAfter':
      return 'after the given token';
    case 'startAfter':
      return 'after the given token (startAfter)';
  }
}
