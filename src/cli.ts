// The commander program: flags, help text, examples. Defining it runs nothing; `parseArgs`
// turns argv into a plain description of what to do, and `main` does it. Commander is told
// not to exit or print by itself (exitOverride/configureOutput), so usage errors reach `main`
// and become exit 2, and tests can run everything in-process.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { UsageError } from './errors.js';
import type { RawFlags } from './options.js';

/** What the command line asks for. */
export type Invocation =
  | { command: 'tail'; flags: RawFlags; namespaces: string[] }
  | { command: 'token'; input: string; color?: boolean }
  /** --help or --version: the text to print on stdout, exit 0. */
  | { command: 'print'; text: string };

const HELP_WIDTH = 100;

const EXAMPLES = `
Commands:
  mongo-tail token <file|token>   show what a resume token points at (time, kind, event)

Examples:
  # watch one collection in the terminal
  mongo-tail --uri "mongodb://localhost:27017/?replicaSet=rs0" shop.orders

  # NDJSON into jq: only inserts and deletes of two collections
  mongo-tail --ops insert,delete shop.orders shop.users | jq -c '.documentKey'

  # paid orders, as a script that resumes exactly where the last run stopped
  mongo-tail --token-file orders.pos --filter '{"status": "paid"}' shop.orders >> paid.ndjson

  # catch up on the last 15 minutes, then exit
  mongo-tail --since 15m --until now shop

  # log in as alice (asked for her password), over TLS checked against your own CA
  mongo-tail --uri "mongodb://db1.example.net/?replicaSet=rs0" -u alice --tls-ca-file ca.pem shop

  # what does a saved token point at?
  mongo-tail token orders.pos

--filter matches document fields: against fullDocument for insert, replace and update (update
needs a full document, so --full-document updateLookup is turned on unless you chose a mode),
against the pre-image for delete when --full-document-before-change is on (otherwise deletes
never match); other events (drop, rename, DDL, invalidate) pass. --match is a raw $match on the
whole event.

--token-file: the position is saved there (never ahead of what was printed) and the next run
continues after it. --since/--resume-after/--start-after only apply while the file does not
exist yet. After a drop or rename the saved token makes the next run continue with startAfter.

Times (--since, --until): ISO date-time (local time without a zone), epoch seconds, T,I (a
cluster timestamp) or a duration ago (15m, 2h, 1d); --until also takes "now".
Durations: 500ms, 15s, 15m, 2h, 1d.

Environment: MONGODB_URI (when --uri is not given), NO_COLOR, FORCE_COLOR, MONGO_TAIL_DEBUG
(show stack traces).

Passwords: give them in MONGODB_URI or let mongo-tail ask (-u alice, or -p alone), not in --uri
or -p <password>: \`ps\` shows every argument to other users of the machine. A password is shown
as **** in every message; the token file holds a resume token and nothing secret.

Exit codes:
  0    done as asked (--limit, --until, --idle-timeout reached, or stdout closed)
  1    unexpected error
  2    usage error (bad flag, value, environment or token file)
  3    cannot connect or authenticate, or the deployment cannot stream (standalone server)
  4    cannot resume from the given position (history lost, token not found)
  5    the stream was invalidated and --exit-on-invalidate was given
  129  hung up (SIGHUP); 130 interrupted (SIGINT); 143 terminated (SIGTERM); the token is
       saved first, a second signal ends the process at once
`;

/** The package version, read from package.json beside src/ or dist/. */
export function readVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  return typeof version === 'string' ? version : '0.0.0';
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Builds the program; `onResult` receives what to run. */
function buildProgram(
  onResult: (invocation: Invocation) => void,
  out: (text: string) => void,
): Command {
  const program = new Command('mongo-tail');
  program
    .description(
      'Tail MongoDB change streams like tail -f: coloured lines in a terminal, Extended JSON\n' +
        'for pipes, a resume-token file for scripts.',
    )
    .usage('[options] [namespace...]')
    .argument(
      '[namespace...]',
      'db or db.coll to watch (several: one stream plus an ns filter; none: the whole deployment)',
    )
    .version(readVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    // Connection
    .option(
      '--uri <uri>',
      'connection string (default: $MONGODB_URI, else mongodb://localhost:27017)',
    )
    .option('--connect-timeout <duration>', 'give up connecting after this long (default: 10s)')
    .option(
      '--retry-for <duration>',
      're-open a lost stream for this long (default: 60s; 0: give up at once; "forever")',
    )
    // Authentication and TLS (added to what the connection string says; never both ways)
    .option('-u, --username <name>', 'log in as this user (asks for the password on a terminal)')
    .option(
      '-p, --password [password]',
      'the password; without a value (last, or before --) it is asked on the terminal',
    )
    .option('--auth-source <db>', 'the database that holds the user (default: admin)')
    .option(
      '--auth-mechanism <name>',
      'SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, GSSAPI, MONGODB-X509, MONGODB-AWS or MONGODB-OIDC',
    )
    .option('--tls', 'connect with TLS (implied by the --tls-… flags and by mongodb+srv://)')
    .option('--tls-ca-file <path>', "CA certificates (PEM) to check the server's certificate with")
    .option('--tls-certificate-key-file <path>', 'client certificate and key (PEM), e.g. for X.509')
    .option(
      '--tls-allow-invalid-certificates',
      'accept any server certificate (insecure: for tests only)',
    )
    // Filters
    .option('--ops <types>', 'only these operation types, comma-separated (repeatable)', collect)
    .option('--filter <json>', 'match document fields (Extended JSON); see below')
    .option('--match <json>', 'a raw $match on the change event (Extended JSON)')
    .option('--pipeline <json|@file>', 'extra stages after $changeStream (a JSON array, or @file)')
    // Documents
    .option(
      '--full-document <mode>',
      'fullDocument on updates: default, updateLookup, whenAvailable or required',
    )
    .option('--full-document-before-change <mode>', 'the pre-image: off, whenAvailable or required')
    .option('--expanded', 'also DDL events (create, createIndexes, …: showExpandedEvents)')
    // Position
    .option('--token-file <path>', 'resume from and save the position in this file')
    .option('--resume-after <token>', 'start after this resume token ({"_data":…}, hex, or @file)')
    .option('--start-after <token>', 'like --resume-after, also after an invalidate token')
    .option('--since <when>', 'start at this time (see Times below)')
    .option('--until <when>', 'stop once the stream passes this time; "now" = catch up and exit')
    .option('-n, --limit <n>', 'exit after printing n events')
    .option('--idle-timeout <duration>', 'exit after this long without an event')
    .option('--exit-on-invalidate', 'exit (code 5) when a drop/rename ends the stream')
    .option(
      '--split-large-events',
      'receive events over 16 MB in fragments and print each whole (MongoDB 6.0.9+)',
    )
    .option(
      '--checkpoint-interval <duration>',
      'save the token file at most this often (default: 1s)',
    )
    // Output
    .option('-f, --format <format>', 'pretty, json (relaxed Extended JSON) or canonical')
    .option('--color', 'coloured pretty lines even into a pipe (e.g. less -R)')
    .option('--no-color', 'never colour')
    .option('-q, --quiet', 'no notes or spinner on stderr (errors still print)')
    // Tuning
    .option('--batch-size <n>', 'events per batch the server may return')
    .option('--max-await <ms>', 'how long the server waits for new events per request')
    .addHelpText('after', EXAMPLES)
    .action((namespaces: string[], flags: RawFlags) => {
      onResult({ command: 'tail', flags, namespaces });
    });

  return configure(program, out);
}

/** `mongo-tail token <file|token>`: a separate program, so a database named "token" can
 *  still be watched with `mongo-tail -- token`. */
function buildTokenProgram(
  onResult: (invocation: Invocation) => void,
  out: (text: string) => void,
): Command {
  const program = new Command('mongo-tail token')
    .usage('[options] <file|token>')
    .description('Show what a resume token points at: cluster time, kind, event.')
    .argument('<file|token>', 'a token file, or a token ({"_data":…} or its hex)')
    .helpOption('-h, --help', 'show this help')
    .option('--color', 'colour even when stdout is not a terminal')
    .option('--no-color', 'never colour')
    .action((input: string, flags: { color?: boolean }) => {
      onResult(
        flags.color === undefined
          ? { command: 'token', input }
          : { command: 'token', input, color: flags.color },
      );
    });
  return configure(program, out);
}

function configure(command: Command, out: (text: string) => void): Command {
  return command.exitOverride().configureOutput({
    writeOut: out,
    // Errors are raised as UsageError and printed once, by main.
    writeErr: () => undefined,
    outputError: () => undefined,
    getOutHelpWidth: () => HELP_WIDTH,
    getErrHelpWidth: () => HELP_WIDTH,
  });
}

/**
 * The values given to -p/--password, found before parsing so that even a usage error cannot
 * echo one (main adds them to the secrets it masks).
 */
export function passwordArgs(argv: readonly string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    const next = argv[i + 1];
    if ((arg === '--password' || arg === '-p') && next !== undefined && !next.startsWith('-')) {
      found.push(next);
    } else if (arg.startsWith('--password=')) {
      found.push(arg.slice('--password='.length));
    } else {
      // -pSECRET, also after bundled boolean short flags (-qpSECRET)
      const bundled = /^-[qhV]*p(.+)$/.exec(arg);
      if (bundled?.[1] !== undefined) found.push(bundled[1]);
    }
  }
  return found.filter((p) => p !== '');
}

/** Parses argv (without node and script); throws UsageError for bad usage. */
export function parseArgs(argv: readonly string[]): Invocation {
  let result: Invocation | undefined;
  let printed = '';
  const onResult = (invocation: Invocation): void => {
    result = invocation;
  };
  const out = (text: string): void => {
    printed += text;
  };
  const [first, ...rest] = argv;
  const isToken = first === 'token';
  const program = isToken ? buildTokenProgram(onResult, out) : buildProgram(onResult, out);
  try {
    program.parse(isToken ? rest : [...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return { command: 'print', text: printed };
      }
      throw new UsageError(
        // One line: commander puts its "(Did you mean …?)" on a line of its own.
        error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '),
        isToken ? 'see mongo-tail token --help' : 'see mongo-tail --help',
      );
    }
    throw error;
  }
  if (result === undefined) throw new UsageError('nothing to do', 'see mongo-tail --help');
  return result;
}

/** The full --help text (for the README and the snapshot test). */
export function helpText(): string {
  const parsed = parseArgs(['--help']);
  return parsed.command === 'print' ? parsed.text : '';
}
