// Owns every child process and temporary file the bench creates, and lets go of all of them on
// the way out: normal end, failure, Ctrl-C or SIGTERM. Children are spawned `detached`, each in
// its own process group, so a whole group (e.g. `/usr/bin/time` and the program it runs) is
// killed at once and a Ctrl-C in the terminal reaches only the bench, which then cleans up.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const groups = new Set<number>();
let temp: string | undefined;
let stopSignal: { signal: NodeJS.Signals; code: number } | undefined;

/** The signal that stopped the bench, if one did (its runs then fail: not worth reporting). */
export function interruption(): { signal: NodeJS.Signals; code: number } | undefined {
  return stopSignal;
}

/** Spawns a child in a process group of its own and keeps it until it exits. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: true });
  const pid = child.pid;
  if (pid !== undefined) {
    groups.add(pid);
    child.once('exit', () => groups.delete(pid));
  }
  return child;
}

/** Runs a command to its end (tracked like any child); rejects with its stderr unless it exits 0. */
export function execTracked(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const timer = setTimeout(() => killGroup(child), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          Object.assign(new Error(`${cmd} failed (${signal ?? `exit code ${code}`})`), { stderr }),
        );
    });
  });
}

/** Signals a child's whole process group (ignores one that is gone already). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A private temporary directory for this run (removed by `cleanup`). */
export function tempDir(): string {
  temp ??= mkdtempSync(path.join(tmpdir(), 'mongo-tail-bench-'));
  return temp;
}

/**
 * Stops every child still running (SIGTERM, then SIGKILL after `graceMs`) and removes the
 * temporary directory. Safe to call more than once.
 */
export async function cleanup(graceMs = 1000): Promise<void> {
  const pending = [...groups];
  for (const pgid of pending) signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groups.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  cleanupSync();
}

/** The synchronous last resort (for `process.on('exit')`): SIGKILL and remove. */
export function cleanupSync(): void {
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
  groups.clear();
  if (temp !== undefined) rmSync(temp, { recursive: true, force: true });
  temp = undefined;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/**
 * Installs the exit paths: a signal cleans up and exits with 128+n; a plain exit (also after
 * an uncaught failure) kills what is left synchronously.
 */
export function installCleanupHandlers(log: (line: string) => void): void {
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    stopSignal = { signal, code };
    log(`bench: ${signal}: stopping the children and removing temporary files`);
    // The section that is running may wait on a server that is going away (a driver waits up
    // to its server-selection timeout): exit here rather than wait for it to notice.
    void cleanup(500).finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('exit', cleanupSync);
}
