// Stops that must never hang, as a real process (bin/mongo-tail.js → dist/, built by
// `npm run -s build`): a token file or lock that is a named pipe (opening one for reading
// waits for a writer, and no signal ends that wait), and SIGTERM/SIGHUP while the reader of
// stdout has stopped reading. (A second SIGINT while stopping: spawn.test.ts.)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli } from './harness.js';
import { clusterTime, connect, SUMMARY_ONLY, type AnyDoc } from './util.js';
import { BIN, ENV, ensureBuilt } from './bin.js';

/** How long a stop may take before the test calls it hung (it takes ~0.5 s; machines are slow). */
const HUNG_MS = 8000;

let client: MongoClient;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-signals-'));
});
afterAll(async () => {
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From `since` (or the spawn) to the exit. */
  ms: number;
}

/** The child's exit; a child still running after HUNG_MS is killed (and reported as hung). */
function exitOf(child: ChildProcess, since = Date.now()): Promise<Exit & { hung: boolean }> {
  return new Promise((resolve) => {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HUNG_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - since, hung });
    });
  });
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

describe('named pipes where the token file or its lock go: exit 2 at once', () => {
  test.each([
    [
      'the token file',
      (file: string) => file,
      (file: string) => `cannot read token file ${file} (it is a named pipe)`,
    ],
    [
      'the lock',
      (file: string) => `${file}.mongo-tail.lock`,
      (file: string) =>
        `${file}.mongo-tail.lock exists and is not a mongo-tail lock; it is left alone`,
    ],
  ])(
    '%s',
    async (what, fifoAt, message) => {
      const home = await mkdtemp(join(dir, 'fifo-'));
      const file = join(home, 'pos.json');
      mkfifo(fifoAt(file));
      const child = spawn(
        process.execPath,
        [BIN, '--uri', testUri(), '--token-file', file, 'a.b'],
        {
          env: ENV,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exit = await exitOf(child);
      console.log(`named pipe at ${what}: exit ${exit.code} after ${exit.ms} ms (spawn included)`);
      expect({ ...exit, ms: undefined }).toEqual({
        code: 2,
        signal: null,
        hung: false,
        ms: undefined,
      });
      expect(stderr.split('\n')[0]).toBe(`mongo-tail: ${message(file)}`);
      // The pipe is left as it was; nothing else was created.
      expect(await readdir(home)).toEqual([fifoAt(file).slice(home.length + 1)]);
    },
    20_000,
  );
});

describe('a stop while the reader of stdout has stopped reading', () => {
  test.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)(
    '%s: exit %i within moments; the token covers only what stdout took',
    async (signal, code) => {
      const db = uniqueDbName(signal);
      const file = join(dir, `${db}.json`);
      const since = await clusterTime(client);
      const total = 300;
      // ~600 KB of events: far more than a pipe holds.
      await client
        .db(db)
        .collection<AnyDoc>('c')
        .insertMany(Array.from({ length: total }, (_, i) => ({ _id: i, pad: 'x'.repeat(2000) })));
      const args = ['--uri', testUri(), '--since', since, '--token-file', file, `${db}.c`];
      const child = spawn(process.execPath, [BIN, ...args], {
        env: ENV,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      // Never read until the exit: the pipe fills and stays full.
      child.stdout?.pause();
      let out = '';
      const stdoutEnded = new Promise<void>((resolve) => child.stdout?.on('end', resolve));
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stdout?.pause();
      // Connected, read, and stuck on stdout: output waits, unread, in our buffer and the pipe.
      const started = Date.now();
      while ((child.stdout?.readableLength ?? 0) === 0 && Date.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const signalledAt = Date.now();
      child.kill(signal);
      const exit = await exitOf(child, signalledAt);
      console.log(`${signal} with a stalled reader: exit after ${exit.ms} ms (hung: ${exit.hung})`);
      child.stdout?.resume();
      await stdoutEnded;
      expect({ code: exit.code, signal: exit.signal, hung: exit.hung, stderr }).toEqual({
        code,
        signal: null,
        hung: false,
        stderr: expect.stringMatching(SUMMARY_ONLY),
      });

      // Everything stdout took is readable now; a last line may be cut short.
      const lines = out.split('\n').slice(0, -1);
      const ids = lines.map(
        (l) => (JSON.parse(l) as { documentKey: { _id: number } }).documentKey._id,
      );
      const tokens = lines.map((l) => (JSON.parse(l) as { _id: { _data: string } })._id._data);
      expect(ids.length).toBeLessThan(total);
      // The token never covers more than stdout took (none at all is allowed: the lines may
      // all be unread in the pipe).
      const saved = (await loadToken(file))?._data;
      const at = saved === undefined ? -1 : tokens.indexOf(saved);
      if (saved !== undefined) expect(at).toBeGreaterThanOrEqual(0);
      console.log(
        `${signal}: stdout took ${ids.length} of ${total} events, the token covers ${at + 1}`,
      );
      expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
      // The next run continues right after the saved position (or from --since): nothing lost.
      const next = await runCli([...args, '--until', 'now']);
      expect(next.code).toBe(0);
      const rest = next.stdout
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { documentKey: { _id: number } }).documentKey._id);
      expect(rest[0]).toBe(at === -1 ? 0 : (ids[at] ?? -2) + 1);
      expect(new Set([...ids, ...rest]).size).toBe(total);
    },
    40_000,
  );
});
