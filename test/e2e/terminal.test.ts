// The status line and the end of a run, as people see them (issue 9): a reader that left is
// noticed while the stream is quiet, a run ends with a one-line summary (not with -q), the
// spinner stays off a terminal that a piped stdout's reader may draw on, and --stats reports
// the lag. Spawned runs of the bin in sh (and under `script` for a terminal).
import { spawn, spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type { MongoClient } from 'mongodb';
import { parseArgs } from '../../src/cli.js';
import { resolveOptions } from '../../src/options.js';
import { runTail } from '../../src/tail.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, type AnyDoc } from './util.js';
import { BIN, ENV, ROOT, ensureBuilt } from './bin.js';

/** Braille spinner frames (ora's "dots"). */
const FRAMES = /[\u2800-\u28ff]/;
const SUMMARY =
  /^mongo-tail: \d+ events? (\(.+\) )?in [\d.]+s; reached \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(lag \d+s\); stopped: .+$/m;

interface Shell {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When the first stdout byte came, and when the shell ended (ms since the epoch). */
  firstOutputAt: number | undefined;
  endedAt: number;
}

function sh(script: string): Promise<Shell> {
  const child = spawn('sh', ['-c', script], { env: ENV, cwd: ROOT });
  let stdout = '';
  let stderr = '';
  let firstOutputAt: number | undefined;
  child.stdout.on('data', (d: Buffer) => {
    firstOutputAt ??= Date.now();
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, firstOutputAt, endedAt: Date.now() }),
    );
  });
}

const q = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;
const tail = (args: string[]): string =>
  [process.execPath, BIN, '--uri', testUri(), ...args].map(q).join(' ');

let client: MongoClient;

beforeAll(async () => {
  ensureBuilt();
  client = await connect();
}, 60_000);
afterAll(async () => {
  await client.close();
});

test('`| head -1` on a quiet collection: mongo-tail stops soon after head, exit 0, with a summary', async () => {
  const db = uniqueDbName('quiet');
  const since = await clusterTime(client);
  await client.db(db).collection<AnyDoc>('c').insertOne({ _id: 1 });
  // Nothing more is written: only watching the reader can end this run.
  const run = await sh(
    `{ ${tail(['--since', since, '-f', 'json', `${db}.c`])}; echo "exit $?" >&2; } | head -1`,
  );
  expect(JSON.parse(run.stdout)).toMatchObject({ documentKey: { _id: 1 } });
  expect(run.stderr).toMatch(/^exit 0$/m);
  expect(run.stderr).toMatch(SUMMARY);
  expect(run.stderr).toContain('1 event (insert 1)');
  expect(run.stderr).toMatch(/stopped: stdout closed$/m);
  // Not a tight bound (noisy machines): before, it ran until the next event, i.e. forever.
  expect(run.endedAt - (run.firstOutputAt ?? 0)).toBeLessThan(5000);
}, 30_000);

test('a run ends with a one-line summary on stderr; -q keeps stderr silent', async () => {
  const db = uniqueDbName('summary');
  const since = await clusterTime(client);
  const coll = client.db(db).collection<AnyDoc>('c');
  await coll.insertMany([1, 2, 3, 4, 5].map((i) => ({ _id: i })));
  await coll.updateOne({ _id: 1 }, { $set: { seen: true } });
  await coll.deleteOne({ _id: 2 });

  const limited = await sh(tail(['--since', since, '-n', '3', `${db}.c`]));
  expect(limited.code).toBe(0);
  expect(limited.stdout.trim().split('\n')).toHaveLength(3);
  const lines = limited.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(SUMMARY);
  expect(lines[0]).toContain('3 events (insert 3)');
  // More is waiting in the same batch or not known: never "caught up".
  expect(lines[0]).toMatch(/stopped: limit reached(, more waiting)?$/);

  const all = await sh(tail(['--since', since, '--until', 'now', `${db}.c`]));
  expect(all.code).toBe(0);
  expect(all.stderr).toMatch(SUMMARY);
  expect(all.stderr).toContain('7 events (insert 5 · update 1 · delete 1)');
  expect(all.stderr).toMatch(/stopped: caught up \(--until\)$/m);

  const quiet = await sh(tail(['-q', '--since', since, '-n', '3', `${db}.c`]));
  expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });
}, 30_000);

/** `script` gives the run a terminal (sized, so a spinner could run); undefined when absent. */
function scriptAvailable(): boolean {
  return spawnSync('script', ['-qc', 'true', '/dev/null'], { stdio: 'ignore' }).status === 0;
}

test('stderr a terminal: no spinner frames when stdout is a pipe; intact lines when it is the terminal', async () => {
  if (process.platform !== 'linux' || !scriptAvailable()) {
    console.log('skipping: needs util-linux `script` to give the run a terminal');
    return;
  }
  const db = uniqueDbName('tty');
  const since = await clusterTime(client);
  await client
    .db(db)
    .collection<AnyDoc>('c')
    .insertMany([1, 2, 3].map((i) => ({ _id: i })));
  const args = ['--since', since, '--idle-timeout', '1500ms', '-f', 'json', `${db}.c`];
  // What the terminal shows (the `script` output) is stderr, plus stdout when it is the tty.
  const inTerminal = (command: string): Promise<Shell> =>
    sh(`script -qc ${q(`stty cols 100 rows 30; ${command}`)} /dev/null`);

  const piped = await inTerminal(`${tail(args)} | cat > /dev/null`);
  expect(piped.stdout).not.toMatch(FRAMES);
  expect(piped.stdout).toMatch(/mongo-tail: 3 events \(insert 3\) in .*; stopped: idle 1\.5s/);

  // The control: on the shared terminal the spinner runs, and clears its line before each
  // write of events: each event line is whole, and a spinner frame before it was erased.
  const shared = await inTerminal(tail(args));
  expect(shared.stdout).toMatch(FRAMES);
  const eventLines = shared.stdout.split('\n').filter((line) => line.includes('"operationType"'));
  expect(eventLines).toHaveLength(3);
  for (const line of eventLines) {
    const at = line.indexOf('{');
    const before = line.slice(0, at);
    // eslint-disable-next-line no-control-regex -- the escapes that erase the spinner line
    if (before !== '') expect(before).toMatch(/\x1b\[0?K(\x1b\[1G)?$/);
    expect(JSON.parse(line.slice(at).trim())).toHaveProperty('documentKey');
  }
}, 30_000);

test('--stats: rate, counts by operation and lag on stderr at exit', async () => {
  const db = uniqueDbName('stats');
  const since = await clusterTime(client);
  const coll = client.db(db).collection<AnyDoc>('c');
  await coll.insertMany([1, 2].map((i) => ({ _id: i })));
  await coll.deleteOne({ _id: 1 });
  const invocation = parseArgs([
    '--uri',
    testUri(),
    '--since',
    since,
    '-n',
    '3',
    '--stats',
    `${db}.c`,
  ]);
  if (invocation.command !== 'tail') throw new Error('expected a tail invocation');
  const opts = resolveOptions(invocation.flags, invocation.namespaces, {
    env: {},
    stdoutIsTTY: false,
    now: new Date(),
    canPrompt: false,
  });
  let stderr = '';
  const err = new PassThrough().on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await runTail(opts, {
    stdout: new PassThrough().resume(),
    stderr: err,
    stderrIsTTY: false,
    redact: (text) => text,
  });
  expect(code).toBe(0);
  expect(stderr).toMatch(
    /^mongo-tail: [\d.]+ events\/s · 3 events \(insert 2 · delete 1\) · lag \d+s$/m,
  );
  expect(stderr).toMatch(SUMMARY);
}, 30_000);

describe('pretty lines on a terminal', () => {
  /** Visible width: colour sequences take no room (these lines hold no wide characters). */
  // eslint-disable-next-line no-control-regex -- removing ANSI colour sequences is the point
  const visible = (line: string): number => line.replace(/\x1b\[[0-9;]*m/g, '').length;

  async function run(extra: string[], columns = 80) {
    const db = uniqueDbName('fit');
    const since = await clusterTime(client);
    const coll = client.db(db).collection<AnyDoc>('orders');
    await coll.insertOne({
      _id: 1,
      note: 'x'.repeat(3000),
      items: Array.from({ length: 200 }, (_, i) => i),
    });
    await coll.updateOne({ _id: 1 }, { $set: { status: 'paid' } });
    const result = await runCli(
      ['--uri', testUri(), '--since', since, '-n', '2', '-q', ...extra, `${db}.orders`],
      { stdoutIsTTY: true, columns },
    );
    expect(result.code).toBe(0);
    return result.stdout.split('\n').filter(Boolean);
  }

  test('fit the terminal width, cut with …', async () => {
    for (const columns of [80, 120]) {
      const lines = await run([], columns);
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(visible(line)).toBeLessThanOrEqual(columns);
      expect(lines[0]).toContain('…');
    }
  }, 30_000);

  test('--wide prints them whole', async () => {
    const lines = await run(['--wide']);
    expect(lines).toHaveLength(2);
    expect(visible(lines[0] ?? '')).toBeGreaterThan(3000);
  }, 30_000);

  test('--pretty-multiline: a header, then one field per line, never cut', async () => {
    const lines = await run(['--pretty-multiline', '--full-document', 'updateLookup']);
    expect(lines.some((line) => /^\s{2,}\w+: /.test(line))).toBe(true);
    expect(lines.some((line) => visible(line) > 80)).toBe(true);
  }, 30_000);
});
