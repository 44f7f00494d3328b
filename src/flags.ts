// Every flag, declared once (issue 9). The commander programs, the --help sections, the README's
// option table and the shell completions are all built from FLAGS, and RawFlags (what
// resolveOptions validates) is derived from it, so none of them can drift from the others.
// Validation stays in options.ts: a declaration says what a flag is, not whether a value is good.
// This module imports nothing, so `--help` stays fast (see test/e2e/spawn.test.ts).

/** The subcommands; `tail` is the program itself (`mongo-tail [options] [namespace...]`). */
export const COMMANDS = ['tail', 'token', 'completion'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The words that name a subcommand when they are the first positional argument. */
export const SUBCOMMANDS = ['token', 'completion'] as const;
export type Subcommand = (typeof SUBCOMMANDS)[number];

/** What each subcommand does (help and completion show it). */
export const SUBCOMMAND_HELP: Readonly<Record<Subcommand, string>> = {
  token: 'show what a resume token points at (time, kind, event)',
  completion: 'print a shell completion script (flags, their values, subcommands)',
};

/** The --help sections, in order. */
export const GROUPS = [
  'Connection',
  'Login and TLS',
  'What to watch',
  'Documents',
  'Position',
  'Output',
  'Tuning',
  'Other',
] as const;
export type Group = (typeof GROUPS)[number];

/** Operation types every stream can carry. */
export const BASIC_OPS = [
  'insert',
  'update',
  'replace',
  'delete',
  'drop',
  'rename',
  'dropDatabase',
  'invalidate',
] as const;
/** Operation types only sent with showExpandedEvents (--expanded). */
export const EXPANDED_OPS = [
  'create',
  'createIndexes',
  'dropIndexes',
  'modify',
  'shardCollection',
  'refineCollectionShardKey',
  'reshardCollection',
] as const;
/** The mechanisms --auth-mechanism accepts (the driver's names, without DEFAULT). */
export const AUTH_MECHANISMS = [
  'SCRAM-SHA-256',
  'SCRAM-SHA-1',
  'PLAIN',
  'GSSAPI',
  'MONGODB-X509',
  'MONGODB-AWS',
  'MONGODB-OIDC',
] as const;
export const OUTPUT_FORMATS = ['pretty', 'json', 'canonical'] as const;
export const FULL_DOCUMENT_MODES = [
  'default',
  'updateLookup',
  'whenAvailable',
  'required',
] as const;
export const BEFORE_CHANGE_MODES = ['off', 'whenAvailable', 'required'] as const;
/** What `mongo-tail completion` writes scripts for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** One flag. Only `long` and `help` are shown verbatim; the rest drives parsing and display. */
export interface FlagSpec {
  /** Without the dashes: `token-file`. */
  readonly long: string;
  /** One letter: `n` for -n. */
  readonly short?: string;
  /** `<name>`: a value is required; `[name]`: optional (taken when the next word is no flag). */
  readonly arg?: `<${string}>` | `[${string}]`;
  readonly group: Group;
  readonly help: string;
  /** The default as shown to people (resolveOptions applies the real one). */
  readonly default?: string;
  /** The environment variable read when the flag is not given. */
  readonly env?: string;
  /** The valid values (shown in help and offered by completion). */
  readonly values?: readonly string[];
  /** The value is a comma-separated list of `values`. */
  readonly list?: boolean;
  /** May be given several times; the values are collected into an array. */
  readonly repeatable?: boolean;
  /** What the value completes to in a shell (default: nothing; `values` win). */
  readonly complete?: 'file';
  /** The RawFlags (or token flags) property; absent for --help and --version. */
  readonly key?: string;
  /** A `--no-…` flag: sets `key` to false. */
  readonly negates?: boolean;
  /** The commands that take it (default: tail only). */
  readonly commands?: readonly CommandName[];
}

const ALL: readonly CommandName[] = COMMANDS;

/** Every flag of every command, in --help order within each group. */
export const FLAGS = [
  // Connection
  {
    long: 'uri',
    arg: '<uri>',
    group: 'Connection',
    key: 'uri',
    env: 'MONGODB_URI',
    default: 'mongodb://localhost:27017',
    help: 'connection string',
  },
  {
    long: 'connect-timeout',
    arg: '<duration>',
    group: 'Connection',
    key: 'connectTimeout',
    default: "the URI's own timeouts, else 10s",
    help: 'give up connecting after this long',
  },
  {
    long: 'retry-for',
    arg: '<duration>',
    group: 'Connection',
    key: 'retryFor',
    default: '60s',
    help: 're-open a lost stream for this long; 0: give up at once; "forever"',
  },
  // Login and TLS: added to the connection string, never given both ways
  {
    long: 'username',
    short: 'u',
    arg: '<name>',
    group: 'Login and TLS',
    key: 'username',
    help: 'log in as this user (asks for the password on a terminal)',
  },
  {
    long: 'password',
    short: 'p',
    arg: '[password]',
    group: 'Login and TLS',
    key: 'password',
    help: 'the password; without a value (last, or before --) it is asked on the terminal',
  },
  {
    long: 'auth-source',
    arg: '<db>',
    group: 'Login and TLS',
    key: 'authSource',
    default: 'admin',
    help: 'the database that holds the user',
  },
  {
    long: 'auth-mechanism',
    arg: '<name>',
    group: 'Login and TLS',
    key: 'authMechanism',
    values: AUTH_MECHANISMS,
    help: 'how to log in',
  },
  {
    long: 'tls',
    group: 'Login and TLS',
    key: 'tls',
    help: 'connect with TLS (implied by the --tls-… flags and by mongodb+srv://)',
  },
  {
    long: 'tls-ca-file',
    arg: '<path>',
    group: 'Login and TLS',
    key: 'tlsCaFile',
    complete: 'file',
    help: "CA certificates (PEM) to check the server's certificate with",
  },
  {
    long: 'tls-certificate-key-file',
    arg: '<path>',
    group: 'Login and TLS',
    key: 'tlsCertificateKeyFile',
    complete: 'file',
    help: 'client certificate and key (PEM), e.g. for X.509',
  },
  {
    long: 'tls-allow-invalid-certificates',
    group: 'Login and TLS',
    key: 'tlsAllowInvalidCertificates',
    help: 'accept any server certificate (insecure: for tests only)',
  },
  // What to watch
  {
    long: 'ops',
    arg: '<types>',
    group: 'What to watch',
    key: 'ops',
    values: [...BASIC_OPS, ...EXPANDED_OPS],
    list: true,
    repeatable: true,
    help: 'only these operation types, comma-separated, repeatable; DDL types need --expanded',
  },
  {
    long: 'filter',
    arg: '<json>',
    group: 'What to watch',
    key: 'filter',
    help: 'match document fields (Extended JSON): fullDocument, or the pre-image of a delete',
  },
  {
    long: 'match',
    arg: '<json>',
    group: 'What to watch',
    key: 'match',
    help: 'a raw $match on the change event (Extended JSON)',
  },
  {
    long: 'pipeline',
    arg: '<json|@file>',
    group: 'What to watch',
    key: 'pipeline',
    help: 'extra stages after $changeStream (a JSON array, or @file)',
  },
  {
    long: 'expanded',
    group: 'What to watch',
    key: 'expanded',
    help: 'also DDL events (create, createIndexes, …: showExpandedEvents)',
  },
  {
    long: 'partition',
    arg: '<i/N>',
    group: 'What to watch',
    key: 'partition',
    help: 'tailer i of N: only events whose _id hashes to i (on the server); keyless ones go to 0',
  },
  // Documents
  {
    long: 'full-document',
    arg: '<mode>',
    group: 'Documents',
    key: 'fullDocument',
    values: FULL_DOCUMENT_MODES,
    help: 'fullDocument on updates; --filter turns on updateLookup unless a mode is given',
  },
  {
    long: 'full-document-before-change',
    arg: '<mode>',
    group: 'Documents',
    key: 'fullDocumentBeforeChange',
    values: BEFORE_CHANGE_MODES,
    default: 'off',
    help: 'the pre-image',
  },
  {
    long: 'split-large-events',
    group: 'Documents',
    key: 'splitLargeEvents',
    help: 'receive events over 16 MB in fragments and print each whole (MongoDB 6.0.9+)',
  },
  // Position
  {
    long: 'token-file',
    arg: '<path>',
    group: 'Position',
    key: 'tokenFile',
    complete: 'file',
    help: 'resume from and save the position in this file',
  },
  {
    long: 'resume-after',
    arg: '<token>',
    group: 'Position',
    key: 'resumeAfter',
    help: 'start after this resume token ({"_data":…}, hex, or @file)',
  },
  {
    long: 'start-after',
    arg: '<token>',
    group: 'Position',
    key: 'startAfter',
    help: 'like --resume-after, also after an invalidate token',
  },
  {
    long: 'since',
    arg: '<when>',
    group: 'Position',
    key: 'since',
    default: 'now',
    help: 'start at this time: a date-time, a time of day, epoch s or ms, T,I, a duration ago (15m), or "oldest"',
  },
  {
    long: 'until',
    arg: '<when>',
    group: 'Position',
    key: 'until',
    help: 'stop once the stream passes this time; "now": catch up and exit',
  },
  {
    long: 'limit',
    short: 'n',
    arg: '<n>',
    group: 'Position',
    key: 'limit',
    help: 'exit after printing n events',
  },
  {
    long: 'idle-timeout',
    arg: '<duration>',
    group: 'Position',
    key: 'idleTimeout',
    help: 'exit after this long without an event (30s, 5m; time the server did not answer is not idle)',
  },
  {
    long: 'exit-on-invalidate',
    group: 'Position',
    key: 'exitOnInvalidate',
    help: 'exit (code 5) when a drop/rename ends the stream',
  },
  {
    long: 'checkpoint-interval',
    arg: '<duration>',
    group: 'Position',
    key: 'checkpointInterval',
    default: '1s',
    help: 'save the token file at most this often',
  },
  // Output
  {
    long: 'format',
    short: 'f',
    arg: '<format>',
    group: 'Output',
    key: 'format',
    values: OUTPUT_FORMATS,
    default: 'pretty on a terminal, else json',
    help: 'how events are printed: json is relaxed Extended JSON, one event per line',
  },
  {
    long: 'json',
    group: 'Output',
    key: 'json',
    commands: ['token'],
    help: 'one JSON object on one line instead of the description',
  },
  {
    long: 'color',
    group: 'Output',
    key: 'color',
    commands: ['tail', 'token'],
    help: 'colour even into a pipe (e.g. less -R)',
  },
  {
    long: 'no-color',
    group: 'Output',
    key: 'color',
    negates: true,
    commands: ['tail', 'token'],
    help: 'never colour (NO_COLOR and FORCE_COLOR are honoured too)',
  },
  {
    long: 'quiet',
    short: 'q',
    group: 'Output',
    key: 'quiet',
    commands: ['tail', 'token'],
    help: 'no notes or spinner on stderr (errors still print)',
  },
  {
    long: 'utc',
    group: 'Output',
    key: 'utc',
    commands: ['tail', 'token'],
    help: 'show times in UTC instead of local time',
  },
  {
    long: 'key',
    group: 'Output',
    key: 'key',
    help: 'json/canonical: each line is <documentKey> TAB <event> (ns if none), for kcat -K',
  },
  {
    long: 'wide',
    group: 'Output',
    key: 'wide',
    help: 'print pretty lines whole, even wider than the terminal',
  },
  {
    long: 'pretty-multiline',
    group: 'Output',
    key: 'prettyMultiline',
    help: 'pretty: one field per line, indented like mongosh',
  },
  {
    long: 'stats',
    group: 'Output',
    key: 'stats',
    help: 'every 5s and at exit: events/s, totals by operation, lag',
  },
  // Tuning
  {
    long: 'batch-size',
    arg: '<n>',
    group: 'Tuning',
    key: 'batchSize',
    default: 'about 1 MiB of events',
    help: 'events per batch the server may return',
  },
  {
    long: 'max-await',
    arg: '<ms|duration>',
    group: 'Tuning',
    key: 'maxAwait',
    default: '1s',
    help: 'how long the server waits for new events per getMore (a number alone is milliseconds: 250; or 2s)',
  },
  // Other
  { long: 'version', short: 'V', group: 'Other', help: 'print the version' },
  { long: 'help', short: 'h', group: 'Other', commands: ALL, help: 'show this help' },
] as const satisfies readonly FlagSpec[];

type Declared = (typeof FLAGS)[number];

/** The declarations a command takes. */
type FlagsOf<C extends CommandName> = Declared extends infer F
  ? F extends { readonly commands: readonly (infer X)[] }
    ? C extends X
      ? F
      : never
    : C extends 'tail'
      ? F
      : never
  : never;

/** What commander hands over for one declaration. */
type ValueOf<F> = F extends { readonly negates: true }
  ? boolean
  : F extends { readonly repeatable: true }
    ? string[]
    : F extends { readonly arg: `[${string}]` }
      ? string | boolean
      : F extends { readonly arg: string }
        ? string
        : boolean;

/** The parsed, unvalidated flags of a command (every property optional: absent = not given). */
export type FlagValues<C extends CommandName> = {
  -readonly [
    F in FlagsOf<C> as F extends { readonly key: infer K extends string } ? K : never
  ]?: ValueOf<F>;
};

/** The tail's flags as commander hands them over: strings and booleans, unvalidated. */
export type TailFlags = FlagValues<'tail'>;
/** `mongo-tail token`'s flags. */
export type TokenFlags = FlagValues<'token'>;

/** The commands a declaration applies to. */
export function commandsOf(flag: FlagSpec): readonly CommandName[] {
  return flag.commands ?? ['tail'];
}

/** The declarations of one command, in declaration order. */
export function flagsFor(command: CommandName): readonly FlagSpec[] {
  return (FLAGS as readonly FlagSpec[]).filter((flag) => commandsOf(flag).includes(command));
}

/** `-n, --limit <n>` / `--tls`: the flag as written in help and commander. */
export function flagTerm(flag: FlagSpec): string {
  const names = flag.short === undefined ? `--${flag.long}` : `-${flag.short}, --${flag.long}`;
  return flag.arg === undefined ? names : `${names} ${flag.arg}`;
}

/** What help and the README add after a flag's text: env, default and valid values. */
export function flagDetails(
  flag: FlagSpec,
  literal: (value: string) => string = (value) => value,
): string[] {
  const details: string[] = [];
  if (flag.env !== undefined) details.push(`env: ${literal(flag.env)}`);
  if (flag.default !== undefined) {
    // A default described in words ("pretty on a terminal, else json") is not a literal.
    details.push(`default: ${/\s/.test(flag.default) ? flag.default : literal(flag.default)}`);
  }
  if (flag.values !== undefined) details.push(`values: ${flag.values.map(literal).join(', ')}`);
  return details;
}

/** The declaration for `--long` or `-s` (undefined: no such flag). */
export function findFlag(name: string): FlagSpec | undefined {
  return (FLAGS as readonly FlagSpec[]).find((flag) =>
    name.startsWith('--') ? flag.long === name.slice(2) : flag.short === name.slice(1),
  );
}
