// In-process runs of `main` with injected streams, environment and signals: what the bin does,
// minus the process. Used by the CLI and end-to-end tests.
import { PassThrough } from 'node:stream';
import { main, type Io } from '../../src/main.js';
import type { StopSignal } from '../../src/tail.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
  /** The terminal's width, when stdout is one. */
  columns?: number;
  retry?: Io['retry'];
  promptPassword?: Io['promptPassword'];
}

/** A running in-process mongo-tail. */
export interface RunningCli {
  /** Lines printed on stdout so far. */
  readonly lines: string[];
  stderr(): string;
  /** Resolves once stdout holds at least `count` lines (rejects after `ms`). */
  waitForLines(count: number, ms?: number): Promise<string[]>;
  /** Resolves once stderr contains `text`. */
  waitForStderr(text: string, ms?: number): Promise<void>;
  /** Delivers SIGINT/SIGTERM as the bin would. */
  signal(signal: StopSignal): void;
  readonly done: Promise<CliResult>;
}

const BASE_ENV = { TZ: 'UTC' };

/** Starts `main(argv)`; stdout/stderr are captured. */
export function startCli(argv: string[], opts: CliOptions = {}): RunningCli {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  const lines: string[] = [];
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    lines.push(...parts);
    wake();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    wake();
  });
  let waiters: Array<() => void> = [];
  const wake = (): void => {
    const current = waiters;
    waiters = [];
    for (const w of current) w();
  };
  const handlers = new Set<(signal: StopSignal) => void>();
  const io: Io = {
    stdout,
    stderr,
    env: { ...BASE_ENV, ...opts.env },
    stdoutIsTTY: opts.stdoutIsTTY ?? false,
    stderrIsTTY: opts.stderrIsTTY ?? false,
    onSignal: (handler) => {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
  if (opts.retry !== undefined) io.retry = opts.retry;
  if (opts.columns !== undefined) io.columns = opts.columns;
  if (opts.promptPassword !== undefined) io.promptPassword = opts.promptPassword;

  let finished = false;
  const done = main(argv, io).then((code) => {
    finished = true;
    wake();
    return { code, stdout: lines.join('\n') + (lines.length > 0 ? '\n' : '') + out, stderr: err };
  });

  const waitUntil = async (check: () => boolean, what: string, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (finished) throw new Error(`mongo-tail exited before ${what}; stderr: ${err}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${err}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  return {
    lines,
    stderr: () => err,
    async waitForLines(count, ms = 8000) {
      await waitUntil(() => lines.length >= count, `${count} lines (have ${lines.length})`, ms);
      return lines.slice(0, count);
    },
    waitForStderr(text, ms = 8000) {
      return waitUntil(() => err.includes(text), `stderr "${text}"`, ms);
    },
    signal(signal) {
      for (const handler of handlers) handler(signal);
    },
    done,
  };
}

/** Runs `main(argv)` to completion. */
export function runCli(argv: string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(argv, opts).done;
}
