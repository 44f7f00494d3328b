// main(argv, io) → exit code. Wires the steps and is the one place where errors become exit
// codes and messages: a TailError prints `mongo-tail: <message>` (and a `hint:` line), never a
// stack; anything else is a bug and says so (with the stack when MONGO_TAIL_DEBUG is set).
// Nothing below calls process.exit.
//
// Only what the command needs is loaded: `--help`, `--version` and usage errors load commander
// alone, `token` adds the decoder, and only a tail loads bson's users, the driver, ora and chalk.
import { existsSync, statSync } from 'node:fs';
import { helpWidth, parseArgs, passwordArgs } from './cli.js';
import { ExitCode, TailError, UsageError, describeFsError } from './errors.js';
import { FileTooLargeError, readFileCapped } from './file-arg.js';
import { redactText, secretForms, secretsOf } from './redact.js';
import type { RetryDelays } from './source/reopen.js';
import type { StopSignal, TailIo } from './tail.js';
import type { TokenInfo } from './token.js';

/** Everything main touches outside itself; tests pass fakes. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Readonly<Record<string, string | undefined>>;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** The terminal's width when stdout is one (lays out --help; else $COLUMNS, else 80). */
  columns?: number;
  /** Subscribes to SIGHUP/SIGINT/SIGTERM; returns the unsubscribe function. */
  onSignal?: (handler: (signal: StopSignal) => void) => () => void;
  /** The clock for --since/--until durations. */
  now?: () => Date;
  /** Waits between re-opens after transient failures (tests shorten them). */
  retry?: RetryDelays;
  /** Asks for a password with echo off; absent when stdin or stderr is not a terminal. */
  promptPassword?: (question: string) => Promise<string>;
}

/** Runs mongo-tail with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  // Whatever the user passed that may hold a password is masked in every message.
  const secrets = [...argv, io.env.MONGODB_URI ?? ''].flatMap(secretsOf);
  secrets.push(...passwordArgs(argv).flatMap(secretForms));
  const redact = (text: string): string => redactText(text, secrets);
  try {
    const width = helpWidth(io.stdoutIsTTY ? io.columns : undefined, io.env);
    const invocation = parseArgs(argv, { width });
    switch (invocation.command) {
      case 'print':
        await write(io.stdout, invocation.text);
        return ExitCode.Ok;
      case 'token': {
        if (invocation.json === true) {
          // A machine format is never coloured (STYLE 7).
          if (invocation.color === true) {
            throw new UsageError(
              '--color and --json cannot be used together',
              'JSON is never coloured',
            );
          }
          const { tokenJson } = await import('./token.js');
          const info = await readTokenArg(invocation.input);
          await write(io.stdout, `${tokenJson(info)}\n`);
          return ExitCode.Ok;
        }
        const { resolveColor, resolveTimeZone } = await import('./options.js');
        const color = resolveColor(invocation.color, io);
        if (color) await import('./format/color.js');
        const { describeToken } = await import('./token.js');
        const info = await readTokenArg(invocation.input);
        // The same zone as a tail's pretty lines and notes (--utc, else $TZ, else local).
        const timeZone = resolveTimeZone(invocation.utc === true, io.env);
        await write(io.stdout, `${describeToken(info, { color, timeZone })}\n`);
        return ExitCode.Ok;
      }
      case 'completion': {
        const { completionScript } = await import('./completion.js');
        await write(io.stdout, completionScript(invocation.shell));
        return ExitCode.Ok;
      }
      case 'tail': {
        const { resolveColor, resolveOptions } = await import('./options.js');
        const options = resolveOptions(invocation.flags, invocation.namespaces, {
          env: io.env,
          stdoutIsTTY: io.stdoutIsTTY,
          now: io.now?.() ?? new Date(),
          canPrompt: io.promptPassword !== undefined,
        });
        const { password } = invocation.flags;
        if (typeof password === 'string') secrets.push(...secretForms(password));
        if (options.auth?.askPassword === true && io.promptPassword !== undefined) {
          const { askPassword: _, ...auth } = options.auth;
          const typed = await io.promptPassword(
            `Enter password for ${auth.username ?? 'the user'}: `,
          );
          // Masked from here on, like a password given on the command line.
          secrets.push(...secretForms(typed));
          options.auth = { ...auth, password: typed };
        }
        const tailIo: TailIo = {
          stdout: io.stdout,
          stderr: io.stderr,
          stderrIsTTY: io.stderrIsTTY,
          stderrColor: resolveColor(invocation.flags.color, {
            env: io.env,
            stdoutIsTTY: io.stderrIsTTY,
          }),
          redact,
        };
        if (io.onSignal !== undefined) tailIo.onSignal = io.onSignal;
        if (io.retry !== undefined) tailIo.retry = io.retry;
        if (io.stdoutIsTTY) tailIo.stdoutColumns = () => io.columns;
        // Only a valid invocation loads the tail (and with it the driver).
        const { runTail } = await import('./tail.js');
        return await runTail(options, tailIo);
      }
    }
  } catch (error) {
    return report(error, io, redact);
  }
}

/** `mongo-tail token X`: X is a token file when such a file exists, else the token itself. */
async function readTokenArg(input: string): Promise<TokenInfo> {
  const { decodeToken, TokenError } = await import('./token.js');
  if (input.trim() === '') {
    throw new UsageError(
      `token: give a token file or a resume token (got ${input === '' ? 'an empty argument' : 'only blanks'})`,
      'e.g. mongo-tail token pos.json, or mongo-tail token \'{"_data":"82…"}\'',
    );
  }
  let text = input;
  if (existsSync(input) && statSync(input).isFile()) {
    try {
      text = readFileCapped(input).trim();
    } catch (error) {
      if (error instanceof FileTooLargeError) {
        throw new UsageError(`${input}: the file is larger than ${error.limitText}`);
      }
      throw new UsageError(`cannot read ${input} (${describeFsError(error)})`);
    }
  }
  try {
    return decodeToken(text);
  } catch (error) {
    if (error instanceof TokenError && text === input && existsSync(input)) {
      throw new UsageError(`${input} is not a file, and not a resume token`);
    }
    if (error instanceof TokenError && text === input && !/^\s*(\{|[0-9a-f]+\s*$)/i.test(input)) {
      throw new UsageError(
        `${input}: no such file, and not a resume token`,
        'give a token file, {"_data":"82…"} or the hex',
      );
    }
    if (error instanceof TokenError) {
      throw new UsageError(
        `${text === input ? 'not a resume token' : `${input} does not hold a resume token`}: ${error.message}`,
        'give a token file, {"_data":"82…"} or the hex',
      );
    }
    throw error;
  }
}

function report(error: unknown, io: Io, redact: (text: string) => string): number {
  const { code, text } = failureReport(error, (io.env.MONGO_TAIL_DEBUG ?? '') !== '', redact);
  io.stderr.write(text);
  return code;
}

/**
 * The exit code and stderr text for a failure (pure; `debug` = MONGO_TAIL_DEBUG is set). Each
 * line is redacted, then its control characters escaped: a message that quotes input stays
 * one line and cannot drive the terminal.
 */
export function failureReport(
  error: unknown,
  debug: boolean,
  redact: (text: string) => string = (text) => text,
): { code: number; text: string } {
  const lines: string[] = [];
  let code: number;
  const stack = (): string[] =>
    error instanceof Error && error.stack !== undefined
      ? stackLines(error.stack, error.message)
      : [];
  if (error instanceof TailError) {
    code = error.exitCode;
    lines.push(`mongo-tail: ${error.message}`);
    if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
    if (debug) lines.push(...stack());
  } else {
    code = ExitCode.Unexpected;
    const message = error instanceof Error ? error.message : String(error);
    if (debug) {
      lines.push(`mongo-tail: unexpected error: ${message}`);
      lines.push(...stack());
      lines.push('mongo-tail: this is a bug; please report it with the lines above');
    } else {
      lines.push(`mongo-tail: unexpected error: ${message} (set MONGO_TAIL_DEBUG=1 for details)`);
    }
  }
  // Redacted before escaping: a password holding a tab or ESC is found as it was typed.
  return { code, text: `${lines.map((line) => escapeControls(redact(line))).join('\n')}\n` };
}

/** A stack's lines, its first holding the whole message even when that has line breaks. */
function stackLines(stack: string, message: string): string[] {
  const at = message === '' ? -1 : stack.indexOf(message);
  const headEnd = at === -1 ? 0 : at + message.length;
  const [rest = '', ...frames] = stack.slice(headEnd).split('\n');
  return [stack.slice(0, headEnd) + rest, ...frames];
}

const ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with C0 and C1 controls and DEL written as escapes (`\n`, `\x1b`). */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (ch) => {
    return ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}

/** The real process: stdio, environment, and SIGHUP/SIGINT/SIGTERM. */
export function processIo(): Io {
  // A closed stderr (`2>&1 | head`, a dead log pipe) must not crash the run: messages are
  // best effort, events and the token file are what matter.
  process.stderr.on('error', () => undefined);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
    // Read when asked: a resized terminal reports its new width.
    get columns() {
      return process.stdout.isTTY ? process.stdout.columns : undefined;
    },
    // A terminal that reports no width (a bare pty, e.g. under `script`) cannot host a
    // spinner: ora would compute an endless number of lines to clear. Nor can one that stdout
    // does not share: a reader of a piped stdout (jq, less) may draw on that terminal, and the
    // frames would land inside its output (issue 9). On the shared one, the spinner clears its
    // line around each write of events.
    stderrIsTTY:
      process.stderr.isTTY === true &&
      (process.stderr.columns ?? 0) > 0 &&
      process.stdout.isTTY === true,
    // Only a terminal can be asked for a password; the prompt module loads when it asks.
    ...(process.stdin.isTTY && process.stderr.isTTY
      ? {
          promptPassword: async (question: string) => {
            const { readPassword } = await import('./prompt.js');
            return readPassword(question, { input: process.stdin, output: process.stderr });
          },
        }
      : {}),
    onSignal: (handler) => {
      let stopping = false;
      // SIGHUP (a closed terminal, `kill -HUP`) stops like SIGTERM: its default action would
      // end the process without saving the token (issue 8).
      const signals = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;
      const listener = (signal: StopSignal): void => {
        if (stopping) {
          // A second signal: no more waiting for a clean stop. Without our listeners the
          // signal's default action ends the process.
          unsubscribe();
          process.kill(process.pid, signal);
          return;
        }
        // Stay subscribed: other listeners (ora's signal-exit) re-raise the signal when they
        // believe they are alone, which would kill the process before the token is saved.
        stopping = true;
        handler(signal);
      };
      const unsubscribe = (): void => {
        for (const signal of signals) process.off(signal, listener);
      };
      for (const signal of signals) process.on(signal, listener);
      return unsubscribe;
    },
  };
}
