// Asks for a password on the terminal with echo off, as mongosh and ssh do: the prompt goes to
// stderr (stdout carries events only), the keys are read from stdin in raw mode, and nothing
// typed is ever written back. Loaded only when a password is to be asked for.
import { ExitCode, TailError, UsageError } from './errors.js';

/** The terminal the prompt talks to: process.stdin and process.stderr, or fakes in tests. */
export interface PromptTty {
  input: NodeJS.ReadableStream & { isRaw?: boolean; setRawMode?: (mode: boolean) => unknown };
  output: NodeJS.WritableStream;
}

// Escape sequences (arrow keys, bracketed paste markers) are not part of a password.
// eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
const ESCAPE_SEQUENCE = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b./g;

/** Writes `question` and resolves to the line typed after it, not echoed. */
export function readPassword(question: string, tty: PromptTty): Promise<string> {
  const { input, output } = tty;
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw === true;
    let typed = '';
    const finish = (error?: Error): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.setRawMode?.(wasRaw);
      // Paused, stdin no longer keeps the process alive.
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(typed);
      else reject(error);
    };
    const onData = (chunk: string | Buffer): void => {
      for (const ch of String(chunk).replace(ESCAPE_SEQUENCE, '')) {
        switch (ch) {
          case '\r':
          case '\n':
            finish(typed === '' ? noPassword() : undefined);
            return;
          case '\u0003': // Ctrl-C: raw mode turns it into a key instead of SIGINT
            finish(new TailError('interrupted while asking for the password', ExitCode.Sigint));
            return;
          case '\u0004': // Ctrl-D: end of input on an empty line, ignored otherwise (as ssh)
            if (typed === '') {
              finish(noPassword());
              return;
            }
            break;
          case '\u007f':
          case '\b':
            typed = [...typed].slice(0, -1).join('');
            break;
          case '\u0015': // Ctrl-U: start over
            typed = '';
            break;
          default:
            if (ch >= ' ') typed += ch;
        }
      }
    };
    const onEnd = (): void => finish(noPassword());
    const onError = (error: Error): void => finish(error);

    input.setRawMode?.(true);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    output.write(question);
    input.resume();
  });
}

function noPassword(): UsageError {
  return new UsageError('no password entered', 'type the password and press Enter');
}
