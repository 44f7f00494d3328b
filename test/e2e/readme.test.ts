// The README never lies: every command of its ```sh blocks is either run here against the test
// backend, or listed in ALLOWED with the reason it is not (and where it is tested instead). A
// new command that is neither fails this file.
//
// A `mongo-tail` command runs as `node bin/mongo-tail.js`, in a temporary directory, rewritten
// so that it can run here and ends by itself:
// - `--uri` becomes the test backend's (added when missing);
// - the database `shop` becomes a fresh one, which beforeAll fills with a few orders;
// - `--since` (given or not) becomes the cluster time before those orders: "15m" on a shared
//   backend would read every other test's writes;
// - `--until now` is added when nothing else ends the run (`--until`, `-n`, `--idle-timeout`);
// - a stream on the whole deployment gets `--split-large-events` (other tests write 16 MB
//   events meanwhile);
// - `| jq …` runs when jq is installed; without it the line runs without its jq part.
// Each must exit 0 (or the code its comment names, as "exit 4"), print nothing that looks like
// an error or a stack, and print something (on stdout, or into the file it redirects to); a
// jq line must never print a bare `null`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Long, type MongoClient } from 'mongodb';
import { FLAGS, SUBCOMMANDS, type FlagSpec } from '../../src/flags.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { clusterTime, connect } from './util.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'mongo-tail.js');
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb', TZ: 'UTC', NO_COLOR: '1' };
const HAVE_JQ = spawnSync('sh', ['-c', 'command -v jq'], { stdio: 'ignore' }).status === 0;

/** README commands not run here, each with the reason. */
const ALLOWED: Record<string, string> = {
  'npm ci && npm run demo':
    'installs packages; the demo runs until Ctrl-C: test/e2e/demo.test.ts runs it with ' +
    '--duration and with Ctrl-C, and runs the commands it prints',
  'npm test': 'the whole suite, this file included',
  'npm ci': 'installs packages: test/e2e/pack.test.ts installs from a copy of the clone',
  'npm pack': 'test/e2e/pack.test.ts packs a copy of the clone',
  'npm install -g ./mongo-tail-0.1.0.tgz':
    'a global install changes the machine: test/e2e/pack.test.ts installs into a temporary prefix',
  'npm run lint': 'checks the source tree (CI runs it), no claim about mongo-tail',
  'npm run typecheck': 'checks the source tree (CI runs it), no claim about mongo-tail',
  'npm run test-server -- --port 27017':
    'runs until Ctrl-C on a fixed port; every integration test starts the same server',
  'npm run conformance': 'minutes of MongoDB conformance tests; `npm test` runs them',
  'npm run conformance:sharded':
    'the conformance tests on the sharded cluster; `npm test` runs them',
};

interface Word {
  /** The text as written, quotes included. */
  raw: string;
  /** The word after quote removal. */
  value: string;
  /** `|`, `&&`, `;`, `>`, `>>`… */
  op: boolean;
}

/** Shell words and operators of one command line (quotes, `|`, `&&`, `>>`…); stops at `#`. */
function shellWords(line: string): { words: Word[]; end: number } {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    const ch = line[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '#') return { words, end: i };
    const op = /^(\|\||&&|>>|[|;<>&])/.exec(line.slice(i))?.[0];
    if (op !== undefined) {
      words.push({ raw: op, value: op, op: true });
      i += op.length;
      continue;
    }
    const begin = i;
    let value = '';
    while (i < line.length && !/[\s|;<>&]/.test(line[i] as string)) {
      const c = line[i] as string;
      if (c === "'" || c === '"') {
        const close = line.indexOf(c, i + 1);
        if (close < 0) throw new Error(`unbalanced ${c} in README line: ${line}`);
        value += line.slice(i + 1, close);
        i = close + 1;
      } else {
        value += c === '\\' ? (line[++i] ?? '') : c;
        i++;
      }
    }
    words.push({ raw: line.slice(begin, i), value, op: false });
  }
  return { words, end: line.length };
}

interface Command {
  /** The command as written, without its comment. */
  text: string;
  comment: string;
  words: Word[];
}

/** Every command line of the README's ```sh blocks (continuation lines joined). */
function readmeCommands(markdown: string): Command[] {
  const commands: Command[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const body = (block[1] ?? '').replace(/\\\n\s*/g, ' ');
    for (const line of body.split('\n')) {
      const { words, end } = shellWords(line);
      if (words.length === 0) continue;
      const comment = line.slice(end + 1).trim();
      commands.push({ text: line.slice(0, end).trim(), comment, words });
    }
  }
  return commands;
}

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
/** mongo-tail's flags that take a value: the word after one is no namespace. */
const VALUE_FLAGS = new Set<string>(
  FLAGS.flatMap((flag: FlagSpec) =>
    flag.arg?.startsWith('<') ? [`--${flag.long}`, ...(flag.short ? [`-${flag.short}`] : [])] : [],
  ),
);

interface Plan {
  /** What runs, through `sh -c` in the temporary directory. */
  script: string;
  /** Files the command writes into (its redirections). */
  outputs: string[];
  /** Token files `mongo-tail token` reads, made first when missing. */
  tokenFiles: string[];
  usesJq: boolean;
}

/** The runnable form of a README command, or undefined when it is no `mongo-tail` command. */
function plan(command: Command, ctx: { uri: string; db: string; since: string }): Plan | undefined {
  const segments: Word[][] = [[]];
  for (const word of command.words) {
    if (word.op && (word.value === '|' || word.value === '&&' || word.value === ';')) {
      segments.push([word], []);
    } else (segments[segments.length - 1] as Word[]).push(word);
  }
  if (segments[0]?.[0]?.value !== 'mongo-tail') return undefined;
  const result: Plan = { script: '', outputs: [], tokenFiles: [], usesJq: false };
  const parts: string[] = [];
  for (const segment of segments) {
    const [first] = segment;
    if (first?.op) {
      parts.push(first.raw);
      continue;
    }
    if (first?.value === 'jq') {
      result.usesJq = true;
      // Without jq the line ends before its `|`.
      if (HAVE_JQ) parts.push(segment.map((w) => w.raw).join(' '));
      else parts.pop();
      continue;
    }
    if (first?.value !== 'mongo-tail') return undefined;
    parts.push(mongoTail(segment.slice(1), ctx, result));
  }
  result.script = parts.join(' ');
  return result;
}

/** One `mongo-tail …` segment rewritten as the header says. */
function mongoTail(
  args: Word[],
  ctx: { uri: string; db: string; since: string },
  out: Plan,
): string {
  const words: string[] = [quote(process.execPath), quote(BIN)];
  const has = (...flags: string[]): boolean => args.some((w) => flags.includes(w.value));
  const info = has('--help', '-h', '--version', '-V');
  // `token <file>`, `completion bash`: no connection, no namespace.
  const subcommand = args.find((w) => !w.value.startsWith('-'))?.value;
  const other = (SUBCOMMANDS as readonly string[]).includes(subcommand ?? '');
  const token = subcommand === 'token';
  let namespaces = 0;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as Word;
    const previous = args[i - 1];
    if (word.op) {
      words.push(word.raw);
      const target = args[i + 1];
      if ((word.value === '>' || word.value === '>>') && target) out.outputs.push(target.value);
      if (target) words.push(target.raw);
      i++;
    } else if (previous?.value === '--uri') words.push(quote(ctx.uri));
    else if (previous?.value === '--since') words.push(ctx.since);
    else if (previous && VALUE_FLAGS.has(previous.value)) words.push(word.raw);
    else if (token && word.value !== 'token') {
      out.tokenFiles.push(word.value);
      words.push(word.raw);
    } else if (!word.value.startsWith('-') && !other) {
      namespaces++;
      words.push(quote(word.value.replace(/^shop(?=\.|$)/, ctx.db)));
    } else words.push(word.raw);
  }
  if (info || other) return words.join(' ');
  if (!has('--uri')) words.push('--uri', quote(ctx.uri));
  if (!has('--since', '--resume-after', '--start-after')) words.push('--since', ctx.since);
  if (!has('--until', '-n', '--limit', '--idle-timeout')) words.push('--until', 'now');
  if (namespaces === 0) words.push('--split-large-events');
  // Redirections stay last, where the README put them.
  const at = words.findIndex((w) => w === '>' || w === '>>');
  if (at >= 0) words.push(...words.splice(at, 2));
  return words.join(' ');
}

function sh(
  script: string,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const COMMANDS = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
const db = uniqueDbName('readme');
let client: MongoClient;
let dir: string;
let since: string;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing (the README commands run the bin): npm run build');
  }
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-readme-'));
  client = await connect();
  const shop = client.db(db);
  await shop.createCollection('orders', { changeStreamPreAndPostImages: { enabled: true } });
  since = await clusterTime(client);
  const orders = shop.collection<{ _id: number; [key: string]: unknown }>('orders');
  // The first event carries a Long above 2^53, for the note on jq under Examples.
  await orders.insertOne({
    _id: 1,
    item: 'tea',
    qty: Long.fromString('9007199254740993'),
    status: 'new',
  });
  await orders.insertOne({ _id: 2, item: 'cake', total: 4.5, status: 'new' });
  await orders.updateOne({ _id: 1 }, { $set: { status: 'paid' } });
  await orders.replaceOne({ _id: 2 }, { item: 'cake', status: 'cancelled' });
  await orders.deleteOne({ _id: 2 });
}, 30_000);

afterAll(async () => {
  await client?.db(db).dropDatabase();
  await client?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Commands neither run here nor allowed. */
const neither = (commands: Command[]): string[] =>
  commands
    .filter(
      (c) => ALLOWED[c.text] === undefined && plan(c, { uri: '', db: '', since: '' }) === undefined,
    )
    .map((c) => c.text);

test('the guard: a new command in a sh block that is neither run nor allowed is reported', () => {
  const markdown = [
    'text',
    '```sh',
    '# a comment line',
    'npm test        # allowed',
    'mongo-tail shop | jq -c .   # run',
    'npm link        # new',
    '```',
    '```',
    'not a sh block: ignored',
    '```',
  ].join('\n');
  const commands = readmeCommands(markdown);
  expect(commands.map((c) => c.text)).toEqual([
    'npm test',
    'mongo-tail shop | jq -c .',
    'npm link',
  ]);
  expect(neither(commands)).toEqual(['npm link']);
});

test('every README command is run here or allowed with a reason', () => {
  const texts = COMMANDS.map((c) => c.text);
  expect(texts.length).toBeGreaterThan(5);
  expect(neither(COMMANDS)).toEqual([]);
  // An allowance for a command the README no longer shows would hide the next one.
  expect(Object.keys(ALLOWED).filter((text) => !texts.includes(text))).toEqual([]);
});

const runnable = COMMANDS.filter((c) => ALLOWED[c.text] === undefined);
test.each(runnable.map((c) => [c.text, c] as const))(
  'README: %s',
  async (_text, command) => {
    const p = plan(command, { uri: testUri(), db, since }) as Plan;
    if (p.usesJq && !HAVE_JQ) console.log(`skipping the jq part of: ${command.text} (no jq here)`);
    for (const file of p.tokenFiles) {
      if (existsSync(join(dir, file))) continue;
      const made = await sh(
        `${quote(process.execPath)} ${quote(BIN)} --uri ${quote(testUri())} ${db} --since ${since} --token-file ${quote(file)} -n 1`,
        dir,
      );
      expect(made.code).toBe(0);
    }
    const expected = Number(/\bexits? (?:with )?(?:code )?(\d+)\b/.exec(command.comment)?.[1] ?? 0);
    const { code, stdout, stderr } = await sh(p.script, dir);
    const shown = `$ ${p.script}\n${stderr}`;
    expect({ code, shown }).toEqual({ code: expected, shown });
    expect(stderr).not.toMatch(/error|\n\s+at /i);
    if (p.outputs.length === 0) expect(stdout).not.toBe('');
    for (const file of p.outputs) expect(statSync(join(dir, file)).size).toBeGreaterThan(0);
    if (p.usesJq && HAVE_JQ) expect(stdout.split('\n')).not.toContain('null');
  },
  30_000,
);

test('the note under Examples: jq 1.6 rounds a Long above 2^53, -f canonical keeps it', async () => {
  const tail = `${quote(process.execPath)} ${quote(BIN)} --uri ${quote(testUri())} ${db}.orders --since ${since} -n 1`;
  const json = await sh(`${tail} -f json`, dir);
  expect(json.stdout).toContain('"qty":9007199254740993');
  if (!HAVE_JQ) {
    console.log('skipping the jq half of the Long check: jq is not installed');
    return;
  }
  const canonical = await sh(`${tail} -f canonical | jq -c .fullDocument.qty`, dir);
  expect(canonical.stdout).toBe('{"$numberLong":"9007199254740993"}\n');
  const version = spawnSync('jq', ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (version === 'jq-1.6') {
    const rounded = await sh(`${tail} -f json | jq .fullDocument.qty`, dir);
    expect(rounded.stdout).toBe('9007199254740992\n');
  } else console.log(`skipping the rounding check: it is about jq 1.6, this is ${version}`);
}, 30_000);
