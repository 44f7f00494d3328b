// The commander programs, their help text and examples, all built from the declarations in
// flags.ts. Defining them runs nothing; `parseArgs` turns argv into a plain description of what
// to do, and `main` does it. Commander is told not to exit or print by itself
// (exitOverride/configureOutput), so usage errors reach `main` and become exit 2, and tests can
// run everything in-process.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './errors.js';
import {
  commandsOf,
  findFlag,
  flagDetails,
  flagsFor,
  flagTerm,
  GROUPS,
  SHELLS,
  SUBCOMMAND_HELP,
  SUBCOMMANDS,
  type FlagSpec,
  type Shell,
  type Subcommand,
  type TailFlags,
  type TokenFlags,
} from './flags.js';

/** What the command line asks for. */
export type Invocation =
  | { command: 'tail'; flags: TailFlags; namespaces: string[] }
  | { command: 'token'; input: string; color?: boolean; json?: boolean; utc?: boolean }
  | { command: 'completion'; shell: Shell }
  /** --help or --version: the text to print on stdout, exit 0. */
  | { command: 'print'; text: string };

/** How help is laid out when nothing says how wide the terminal is. */
export const DEFAULT_HELP_WIDTH = 80;
const MIN_HELP_WIDTH = 60;
const MAX_HELP_WIDTH = 120;

/**
 * The help width: the terminal's columns when stdout is one, else $COLUMNS when it is a
 * number, else 80; kept within 60..120 (narrower is unreadable, wider lines are hard to follow).
 */
export function helpWidth(
  columns: number | undefined,
  env: { COLUMNS?: string | undefined },
): number {
  let width = DEFAULT_HELP_WIDTH;
  if (columns !== undefined && Number.isInteger(columns) && columns > 0) width = columns;
  else if (env.COLUMNS !== undefined && /^\d+$/.test(env.COLUMNS.trim())) {
    const fromEnv = Number(env.COLUMNS.trim());
    if (fromEnv > 0) width = fromEnv;
  }
  return Math.min(MAX_HELP_WIDTH, Math.max(MIN_HELP_WIDTH, width));
}

const DESCRIPTION =
  'Tail MongoDB change streams like tail -f: coloured lines in a terminal, Extended JSON for ' +
  'pipes, a resume-token file for scripts.';

const SUBCOMMAND_USAGE: Readonly<Record<Subcommand, string>> = {
  token: 'mongo-tail token [options] <file|token>',
  completion: `mongo-tail completion ${SHELLS.join('|')}`,
};

/** The examples: a comment, then the command (wrapped with `\` when the terminal is narrow). */
const EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  [
    'watch one collection in the terminal',
    'mongo-tail --uri "mongodb://localhost:27017/?replicaSet=rs0" shop.orders',
  ],
  [
    'NDJSON into jq: only inserts and deletes of two collections',
    "mongo-tail --ops insert,delete shop.orders shop.users | jq -c '.documentKey'",
  ],
  [
    'paid orders, as a script that resumes exactly where the last run stopped',
    'mongo-tail --token-file orders.pos --filter \'{"status": "paid"}\' shop.orders >> paid.ndjson',
  ],
  ['catch up on the last 15 minutes, then exit', 'mongo-tail --since 15m --until now shop'],
  [
    'log in as alice (asked for her password), over TLS checked against your own CA',
    'mongo-tail --uri "mongodb://db1.example.net/?replicaSet=rs0" -u alice --tls-ca-file ca.pem shop',
  ],
  ['what does a saved token point at?', 'mongo-tail token orders.pos'],
  ['complete flags and values in bash', 'source <(mongo-tail completion bash)'],
];

const NOTES = [
  '--filter matches document fields: against fullDocument for insert, replace and update ' +
    '(update needs a full document, so --full-document updateLookup is turned on unless you ' +
    'chose a mode), against the pre-image for delete when --full-document-before-change is on ' +
    '(otherwise deletes never match); other events (drop, rename, DDL, invalidate) pass. ' +
    '--match is a raw $match on the whole event.',
  '--token-file: the position is saved there (never ahead of what was printed) and the next ' +
    'run continues after it. --since/--resume-after/--start-after only apply while the file ' +
    'does not exist yet. After a drop or rename the saved token makes the next run continue ' +
    'with startAfter.',
  'Times (--since, --until): ISO date-time (local time without a zone), a time of day today ' +
    '(12:03, 12:03:30.250), epoch seconds or milliseconds (13 digits), T,I (a cluster ' +
    'timestamp) or a duration ago (15m, 2h, 1d); --until also takes "now", --since "oldest" ' +
    '(the oldest event the oplog still holds). Cluster times count whole seconds: given to the ' +
    "millisecond, a bound is applied by the events' wallTime inside that second (MongoDB 6.0+). " +
    'Durations: 500ms, 15s, 15m, 2h, 1d.',
  'Subcommands are the first word that is not a flag. To watch a database named token or ' +
    'completion, put -- before it: mongo-tail -- token.',
];

const PASSWORDS =
  'Passwords: give them in MONGODB_URI or let mongo-tail ask (-u alice, or -p alone), not in ' +
  '--uri or -p <password>: `ps` shows every argument to other users of the machine. A password ' +
  'is shown as **** in every message; the token file holds a resume token and nothing secret.';

const EXIT_CODES: ReadonlyArray<readonly [string, string]> = [
  ['0', 'done as asked (--limit, --until, --idle-timeout reached, or stdout closed)'],
  ['1', 'unexpected error'],
  ['2', 'usage error (bad flag, value, environment or token file)'],
  ['3', 'cannot connect or authenticate, or the deployment cannot stream (standalone server)'],
  ['4', 'cannot resume from the given position (history lost, token not found)'],
  ['5', 'the stream was invalidated and --exit-on-invalidate was given'],
  [
    '129',
    'hung up (SIGHUP); 130 interrupted (SIGINT); 143 terminated (SIGTERM); the token is saved ' +
      'first, a second signal ends the process at once',
  ],
];

// ------------------------------------------------------------------ text layout

/** Splits `text` into lines of at most `width` characters (a longer word is cut). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter((w) => w !== '')) {
    while (word.length > width) {
      if (line !== '') lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/** `indent` + wrapped text, each line within `width`. */
function paragraph(text: string, width: number, indent = ''): string[] {
  return wrapText(text, width - indent.length).map((line) => indent + line);
}

/**
 * Two columns: terms, then their text wrapped beside them. A term too long for the column gets
 * its text on the next lines; on a narrow terminal every text goes under its term.
 */
function rows(entries: ReadonlyArray<readonly [string, string]>, width: number): string[] {
  const longest = Math.max(...entries.map(([term]) => term.length));
  const column = Math.min(longest, Math.floor(width * 0.4));
  let textIndent = 2 + column + 2;
  // Too little room beside the terms: stack them.
  if (width - textIndent < 32) textIndent = 6;
  const out: string[] = [];
  for (const [term, text] of entries) {
    const wrapped = wrapText(text, width - textIndent);
    const head = `  ${term}`;
    if (head.length + 2 <= textIndent) {
      out.push(`${head.padEnd(textIndent)}${wrapped[0] ?? ''}`.trimEnd());
      wrapped.shift();
    } else {
      out.push(...paragraph(term, width, '  '));
    }
    out.push(...wrapped.map((line) => `${' '.repeat(textIndent)}${line}`));
  }
  return out;
}

/** Shell words, quotes kept (a quoted string with blanks stays one word). */
function shellWords(command: string): string[] {
  return command.match(/(?:[^\s'"]+|'[^']*'|"[^"]*")+/g) ?? [];
}

/** An example command, continued with ` \` over several lines when it does not fit. */
function commandLines(command: string, width: number): string[] {
  const first = '  ';
  const next = '      ';
  if (first.length + command.length <= width) return [first + command];
  const lines: string[] = [];
  let line = '';
  for (const word of shellWords(command)) {
    const indent = lines.length === 0 ? first : next;
    // Room for the word and a trailing " \".
    if (line !== '' && indent.length + line.length + 1 + word.length + 2 > width) {
      lines.push(`${indent}${line} \\`);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push((lines.length === 0 ? first : next) + line);
  // A single word wider than the terminal is cut rather than overflowing it.
  return lines.flatMap((l) => (l.length <= width ? [l] : wrapText(l, width)));
}

function flagText(flag: FlagSpec): string {
  const details = flagDetails(flag);
  return details.length === 0 ? flag.help : `${flag.help} (${details.join('; ')})`;
}

function optionRows(flags: readonly FlagSpec[]): Array<[string, string]> {
  return flags.map((flag) => [flagTerm(flag), flagText(flag)]);
}

function section(heading: string, body: string[]): string[] {
  return ['', `${heading}:`, ...body];
}

/** The whole `mongo-tail --help` text at `width` columns. */
export function renderTailHelp(width: number): string {
  const out = [
    'Usage: mongo-tail [options] [namespace...]',
    ...SUBCOMMANDS.map((sub) => `       ${SUBCOMMAND_USAGE[sub]}`),
    '',
    ...paragraph(DESCRIPTION, width),
    ...section(
      'Arguments',
      rows(
        [
          [
            'namespace...',
            'db or db.coll to watch (several: one stream plus an ns filter; none: the whole ' +
              'deployment)',
          ],
        ],
        width,
      ),
    ),
  ];
  const flags = flagsFor('tail');
  for (const group of GROUPS) {
    const inGroup = flags.filter((flag) => flag.group === group);
    if (inGroup.length > 0) out.push(...section(group, rows(optionRows(inGroup), width)));
  }
  out.push(
    ...section(
      'Commands',
      rows(
        [
          ['token <file|token>', `${SUBCOMMAND_HELP.token}; --json: as one JSON line`],
          [`completion ${SHELLS.join('|')}`, SUBCOMMAND_HELP.completion],
        ],
        width,
      ),
    ),
  );
  out.push('', 'Examples:');
  EXAMPLES.forEach(([comment, command], index) => {
    if (index > 0) out.push('');
    out.push(...paragraph(comment, width, '  # '), ...commandLines(command, width));
  });
  for (const note of NOTES) out.push('', ...paragraph(note, width));
  const envFlags = flags.filter((flag) => flag.env !== undefined);
  out.push(
    '',
    ...paragraph(
      `Environment: ${envFlags.map((f) => `${f.env} (when --${f.long} is not given)`).join(', ')}, ` +
        'NO_COLOR, FORCE_COLOR, COLUMNS (the width of this help when stdout is no terminal), ' +
        'MONGO_TAIL_DEBUG (show stack traces).',
      width,
    ),
    '',
    ...paragraph(PASSWORDS, width),
    ...section('Exit codes', rows(EXIT_CODES, width)),
  );
  return `${out.join('\n')}\n`;
}

function renderSubcommandHelp(sub: Subcommand, width: number): string {
  const [argument, text] =
    sub === 'token'
      ? ['file|token', 'a token file, or a token ({"_data":…} or its hex)']
      : [SHELLS.join('|'), 'the shell to complete for'];
  const description =
    sub === 'token'
      ? 'Show what a resume token points at: cluster time, kind, event.'
      : `Print a completion script for ${SHELLS.join(', ')}: e.g. add ` +
        "'source <(mongo-tail completion bash)' to ~/.bashrc, 'mongo-tail completion fish | " +
        "source' to fish's config.";
  const out = [
    `Usage: ${SUBCOMMAND_USAGE[sub]}`,
    '',
    ...paragraph(description, width),
    ...section('Arguments', rows([[argument, text]], width)),
    ...section('Options', rows(optionRows(flagsFor(sub)), width)),
  ];
  return `${out.join('\n')}\n`;
}

// ------------------------------------------------------------------ the programs

/** The package version, read from package.json beside src/ or dist/. */
export function readVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  return typeof version === 'string' ? version : '0.0.0';
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds the declared flags of `command` (help and version are commander's own). */
function addFlags(program: Command, command: 'tail' | Subcommand): Command {
  for (const flag of flagsFor(command)) {
    if (flag.long === 'help') {
      program.helpOption(`-${flag.short}, --help`, flag.help);
    } else if (flag.long === 'version') {
      program.version(readVersion(), `-${flag.short}, --version`, flag.help);
    } else {
      const option = new Option(flagTerm(flag), flag.help);
      if (flag.repeatable === true) option.argParser(collect);
      program.addOption(option);
    }
  }
  return program;
}

type Out = (text: string) => void;

function buildProgram(onResult: (i: Invocation) => void, out: Out, width: number): Command {
  const program = new Command('mongo-tail')
    .usage('[options] [namespace...]')
    .argument('[namespace...]')
    .action((namespaces: string[], flags: TailFlags) => {
      onResult({ command: 'tail', flags, namespaces });
    });
  return configure(addFlags(program, 'tail'), out, () => renderTailHelp(width));
}

function buildTokenProgram(onResult: (i: Invocation) => void, out: Out, width: number): Command {
  const program = new Command('mongo-tail token')
    .argument('<file|token>')
    .action((input: string, flags: TokenFlags) => {
      const invocation: Invocation = { command: 'token', input };
      if (flags.color !== undefined) invocation.color = flags.color;
      if (flags.json === true) invocation.json = true;
      if (flags.utc === true) invocation.utc = true;
      onResult(invocation);
    });
  return configure(addFlags(program, 'token'), out, () => renderSubcommandHelp('token', width));
}

function buildCompletionProgram(
  onResult: (i: Invocation) => void,
  out: Out,
  width: number,
): Command {
  const program = new Command('mongo-tail completion')
    .argument('<shell>')
    .action((shell: string) => {
      const known = SHELLS.find((s) => s === shell);
      if (known === undefined) {
        throw new UsageError(
          `completion: unknown shell "${shell}"`,
          `use one of: ${SHELLS.join(', ')}`,
        );
      }
      onResult({ command: 'completion', shell: known });
    });
  return configure(addFlags(program, 'completion'), out, () =>
    renderSubcommandHelp('completion', width),
  );
}

function configure(command: Command, out: Out, help: () => string): Command {
  return command
    .exitOverride()
    .configureHelp({ formatHelp: help })
    .configureOutput({
      writeOut: out,
      // Errors are raised as UsageError and printed once, by main.
      writeErr: () => undefined,
      outputError: () => undefined,
    });
}

// ------------------------------------------------------------------ reading argv

interface Scanned {
  /** Indexes of the positional arguments before `--`. */
  positionals: number[];
  /** Flags as written before `--` (a bundle `-qn5` gives -q and -n), with their declaration. */
  flags: Array<{ written: string; spec: FlagSpec | undefined }>;
}

const NEGATIVE_NUMBER = /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/;

/** Whether commander would read `arg` as a flag rather than a value. */
function maybeFlag(arg: string): boolean {
  return arg.length > 1 && arg.startsWith('-') && !NEGATIVE_NUMBER.test(arg);
}

/**
 * Which words are flags, flag values and positionals, the way commander reads them, so that a
 * subcommand can be found wherever it stands (`mongo-tail -q token pos.json`).
 */
function scan(argv: readonly string[]): Scanned {
  const scanned: Scanned = { positionals: [], flags: [] };
  // Skips the value a flag takes from the next word; `inline`: the value was in the same word.
  const takeValue = (spec: FlagSpec | undefined, i: number, inline: boolean): number => {
    if (spec?.arg === undefined || inline) return i;
    const next = argv[i + 1];
    if (spec.arg.startsWith('<')) return next === undefined ? i : i + 1;
    return next !== undefined && !maybeFlag(next) ? i + 1 : i;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    if (!maybeFlag(arg)) {
      scanned.positionals.push(i);
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const written = eq === -1 ? arg : arg.slice(0, eq);
      const spec = findFlag(written);
      scanned.flags.push({ written, spec });
      i = takeValue(spec, i, eq !== -1);
    } else {
      for (let j = 1; j < arg.length; j += 1) {
        const written = `-${arg[j] ?? ''}`;
        const spec = findFlag(written);
        scanned.flags.push({ written, spec });
        if (spec?.arg !== undefined) {
          i = takeValue(spec, i, j + 1 < arg.length);
          break;
        }
      }
    }
  }
  return scanned;
}

function isSubcommand(word: string | undefined): word is Subcommand {
  return (SUBCOMMANDS as readonly (string | undefined)[]).includes(word);
}

/** The subcommand argv asks for and where its word is (undefined: a tail); UsageError when unclear. */
function chooseCommand(argv: readonly string[]): { sub: Subcommand; at: number } | undefined {
  const { positionals, flags } = scan(argv);
  const [first, ...later] = positionals.map((i) => argv[i]);
  const at = positionals[0] ?? -1;
  if (!isSubcommand(first)) {
    const stray = later.find(isSubcommand);
    if (stray !== undefined) {
      throw new UsageError(
        `'${stray}' is a subcommand: use ${SUBCOMMAND_USAGE[stray]}`,
        `to watch a database named ${stray}, put -- before it: mongo-tail [options] -- ${stray}`,
      );
    }
    return undefined;
  }
  const help = flags.some(({ spec }) => spec?.long === 'help');
  // Flags of the tail given to a subcommand are named, not silently ignored.
  const misplaced = flags
    .filter(({ spec }) => spec !== undefined && !commandsOf(spec).includes(first))
    .map(({ written, spec }) =>
      written.startsWith('--') || spec === undefined ? written : `${written}/--${spec.long}`,
    );
  if (!help && misplaced.length > 0) {
    const given = [...new Set(misplaced)];
    const listed =
      given.length === 1
        ? `${given[0] ?? ''} does`
        : `${given.slice(0, -1).join(', ')} and ${given.at(-1) ?? ''} do`;
    const own = flagsFor(first)
      .filter((spec) => spec.long !== 'help')
      .map((spec) => `--${spec.long}`);
    throw new UsageError(
      `${listed} not apply to mongo-tail ${first}`,
      own.length === 0
        ? `see mongo-tail ${first} --help`
        : `mongo-tail ${first} takes ${own.join(', ')}`,
    );
  }
  return { sub: first, at };
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
export function parseArgs(
  argv: readonly string[],
  { width = DEFAULT_HELP_WIDTH }: { width?: number } = {},
): Invocation {
  let result: Invocation | undefined;
  let printed = '';
  const onResult = (invocation: Invocation): void => {
    result = invocation;
  };
  const out = (text: string): void => {
    printed += text;
  };
  const chosen = chooseCommand(argv);
  const sub = chosen?.sub;
  let program: Command;
  const args = [...argv];
  if (chosen === undefined) {
    program = buildProgram(onResult, out, width);
  } else {
    // The subcommand's word is taken out; flags before it are the subcommand's too.
    args.splice(chosen.at, 1);
    program =
      chosen.sub === 'token'
        ? buildTokenProgram(onResult, out, width)
        : buildCompletionProgram(onResult, out, width);
  }
  try {
    program.parse(args, { from: 'user' });
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
        sub === undefined ? 'see mongo-tail --help' : `see mongo-tail ${sub} --help`,
      );
    }
    throw error;
  }
  if (result === undefined) throw new UsageError('nothing to do', 'see mongo-tail --help');
  return result;
}

/** The full --help text (for the README and the snapshot test). */
export function helpText(width = DEFAULT_HELP_WIDTH): string {
  const parsed = parseArgs(['--help'], { width });
  return parsed.command === 'print' ? parsed.text : '';
}
