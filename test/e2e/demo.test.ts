// The README's first command, `npm run demo`, as a user runs it: it starts its own replica set,
// prints commands to paste into a second terminal (which must work against it while it runs),
// shows every kind of change of its shop, and leaves no process, port or file behind, whether
// `--duration` ends it or Ctrl-C does.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EJSON, type Document } from 'bson';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb', TZ: 'UTC', NO_COLOR: '1' };
const HAVE_JQ = spawnSync('sh', ['-c', 'command -v jq'], { stdio: 'ignore' }).status === 0;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once `test` holds for stdout/stderr (rejects when the process ends first). */
  until: (test: (out: string, err: string) => boolean) => Promise<void>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a test started; afterEach stops those still going. */
const live = new Set<Run>();

/** Spawns `command` in its own process group (so a test can Ctrl-C the whole group). */
function start(command: string, args: string[]): Run {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  const checks = new Set<() => void>();
  const wake = (): void => checks.forEach((check) => check());
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    wake();
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        wake();
        resolve({ code, signal });
      });
    },
  );
  const until = (test: (out: string, err: string) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (test(stdout, stderr)) {
          checks.delete(check);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          checks.delete(check);
          reject(new Error(`ended before the awaited output; stderr: ${stderr}`));
        }
      };
      checks.add(check);
      check();
    });
  const run = { child, stdout: () => stdout, stderr: () => stderr, until, done };
  live.add(run);
  void done.finally(() => live.delete(run));
  return run;
}

// A failed test still lets the demo clean up (Ctrl-C), and kills what does not stop.
afterEach(async () => {
  const signal = (run: Run, name: NodeJS.Signals): void => {
    try {
      process.kill(-(run.child.pid as number), name);
    } catch {
      // already gone
    }
  };
  for (const run of live) {
    signal(run, 'SIGINT');
    const stopped = await Promise.race([
      run.done.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000).unref()),
    ]);
    if (!stopped) signal(run, 'SIGKILL');
  }
}, 30_000);

const startDemo = (args: string[]): Run => start('npm', ['run', '-s', 'demo', '--', ...args]);

/** What the demo printed before its first event: the URI and the lines to paste. */
function banner(stderr: string): { uri: string; jqLine: string; tokenLine: string; tmp: string } {
  const uri = /running at (mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs0) /.exec(stderr)?.[1];
  const pasted = stderr.split('\n').filter((line) => line.startsWith('  '));
  const jqLine = pasted.find((line) => line.includes('| jq'))?.trim();
  const tokenLine = pasted.find((line) => line.includes('--token-file'))?.trim();
  const tokenFile = / --token-file (\S+)/.exec(tokenLine ?? '')?.[1];
  if (!uri || !jqLine || !tokenLine || !tokenFile) throw new Error(`no banner in: ${stderr}`);
  return { uri, jqLine, tokenLine, tmp: dirname(tokenFile) };
}

/** Whether anything still listens at the URI's port. */
function listening(uri: string): Promise<boolean> {
  const port = Number(/:(\d+)\//.exec(uri)?.[1]);
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const parseLines = (text: string): Document[] =>
  text
    .trimEnd()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => EJSON.parse(line) as Document);

function expectClean(stderr: string): void {
  expect(stderr).not.toMatch(/error|\n\s+at /i);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing (the pasted commands run the bin): npm run build');
  }
});

test('npm run demo -- --duration 3s: the shop in events, then exit 0 with nothing left', async () => {
  const demo = startDemo(['--duration', '3s', '-f', 'json']);
  const { code } = await demo.done;
  const stderr = demo.stderr();
  expect(code).toBe(0);
  expectClean(stderr);
  // Before any event: the URI, then two commands to paste, with the real URI in them.
  const { uri, jqLine, tokenLine, tmp } = banner(stderr);
  expect(stderr).toMatch(
    /^demo: a test replica set is running at mongodb:.* \(it stops after 3s\)/,
  );
  expect(jqLine).toMatch(/^\.\/bin\/mongo-tail\.js --uri '.+' shop -f json \| jq -c '.+'$/);
  expect(jqLine).toContain(`--uri '${uri}'`);
  expect(tokenLine).toContain(`--uri '${uri}'`);

  const events = parseLines(demo.stdout());
  const kinds = events.map((e) => `${e.operationType} ${e.ns.coll}`);
  expect(kinds).toEqual(
    expect.arrayContaining(['insert orders', 'update customers', 'update orders', 'drop carts']),
  );
  // A customer renamed, shown with the name before it (pre-images are on).
  const rename = events.find((e) => e.ns.coll === 'customers');
  expect(rename?.updateDescription?.updatedFields).toEqual({ name: 'Ada Lovelace' });
  expect(rename?.fullDocumentBeforeChange).toMatchObject({ name: 'Ada Byron' });
  // Nothing from before the tail started (the set-up's writes) and nothing twice.
  expect(events[0]).toMatchObject({ operationType: 'insert', fullDocument: { status: 'new' } });
  expect(new Set(events.map((e) => JSON.stringify(e._id))).size).toBe(events.length);

  expect(existsSync(tmp)).toBe(false);
  expect(await listening(uri)).toBe(false);
}, 40_000);

test('the pasted commands work against the running demo; Ctrl-C ends it cleanly', async () => {
  const demo = startDemo(['-f', 'json']);
  await demo.until((_out, err) => err.includes('--token-file'));
  const { uri, jqLine, tokenLine, tmp } = banner(demo.stderr());
  expect(demo.stderr()).toContain('(Ctrl-C stops it)');

  // The json | jq line as printed, its two sides run by sh as the shell would. jq buffers
  // its output into a pipe, so the test holds the pipe: it watches mongo-tail's lines, stops
  // mongo-tail with Ctrl-C's SIGINT, then hands jq what the pipe carried.
  const [tailSide = '', jqSide = ''] = jqLine.split(' | jq ');
  const tail = start('sh', ['-c', `exec ${tailSide}`]);
  await tail.until((out) => out.split('\n').length > 4);
  process.kill(tail.child.pid as number, 'SIGINT');
  expect((await tail.done).code).toBe(130);
  expectClean(tail.stderr());
  const events = parseLines(tail.stdout());
  expect(events.length).toBeGreaterThanOrEqual(4);
  for (const event of events) expect(event.ns.db).toBe('shop');
  if (HAVE_JQ) {
    const jq = spawnSync('sh', ['-c', `exec jq ${jqSide}`], {
      input: tail.stdout(),
      encoding: 'utf8',
    });
    expect(jq.status).toBe(0);
    expect(parseLines(jq.stdout)).toEqual(
      events.map((e) => ({
        op: e.operationType,
        coll: e.ns.coll,
        id: e.documentKey?._id ?? null,
      })),
    );
  } else {
    console.log('skipping the jq side of the pasted line: jq is not installed');
  }

  // The --token-file line twice: the second run goes on where the first stopped.
  const runs: Document[][] = [];
  for (let i = 0; i < 2; i++) {
    const run = start('sh', ['-c', tokenLine]);
    const { code } = await run.done;
    expect(code).toBe(0);
    expectClean(run.stderr());
    runs.push(parseLines(run.stdout()));
  }
  const [first = [], second = []] = runs;
  expect(first).toHaveLength(3);
  expect(second).toHaveLength(3);
  expect([...first, ...second].every((e) => e.ns.coll === 'orders')).toBe(true);
  const last = first[2]?.clusterTime as { t: number; i: number };
  const next = second[0]?.clusterTime as { t: number; i: number };
  expect(next.t > last.t || (next.t === last.t && next.i > last.i)).toBe(true);
  expect(existsSync(join(tmp, 'pos.json'))).toBe(true);

  // Ctrl-C in the terminal: the whole group gets SIGINT (and npm forwards it once more).
  process.kill(-(demo.child.pid as number), 'SIGINT');
  await demo.done;
  expectClean(demo.stderr());
  expect(parseLines(demo.stdout()).length).toBeGreaterThan(0);
  expect(existsSync(tmp)).toBe(false);
  expect(await listening(uri)).toBe(false);
}, 60_000);
