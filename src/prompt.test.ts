import { PassThrough } from 'node:stream';
import { ExitCode, TailError, UsageError } from './errors.js';
import { readPassword, type PromptTty } from './prompt.js';

/** A fake terminal: keys are written to `input`, what the prompt prints is collected. */
function fakeTty(): { tty: PromptTty; keys: PassThrough; printed: () => string; raw: boolean[] } {
  const keys = new PassThrough();
  const output = new PassThrough();
  let printed = '';
  output.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  const raw: boolean[] = [];
  const input = Object.assign(keys, {
    isRaw: false,
    setRawMode(mode: boolean) {
      raw.push(mode);
      input.isRaw = mode;
      return input;
    },
  });
  return { tty: { input, output }, keys, printed: () => printed, raw };
}

describe('readPassword', () => {
  test('prints the question, echoes nothing, restores the terminal', async () => {
    const { tty, keys, printed, raw } = fakeTty();
    const answer = readPassword('Enter password for alice: ', tty);
    keys.write('s3cr');
    keys.write('et wörd☃\r');
    await expect(answer).resolves.toBe('s3cret wörd☃');
    expect(printed()).toBe('Enter password for alice: \n');
    expect(raw).toEqual([true, false]);
    expect(keys.listenerCount('data')).toBe(0);
    expect(keys.isPaused()).toBe(true);
  });

  test('a character split across chunks arrives whole', async () => {
    const { tty, keys } = fakeTty();
    const answer = readPassword('? ', tty);
    const snowman = Buffer.from('☃');
    keys.write(snowman.subarray(0, 1));
    keys.write(Buffer.concat([snowman.subarray(1), Buffer.from('\n')]));
    await expect(answer).resolves.toBe('☃');
  });

  test('backspace, Ctrl-U and escape sequences edit the line', async () => {
    const { tty, keys } = fakeTty();
    const answer = readPassword('? ', tty);
    // "wrong", Ctrl-U, "pa", an arrow key, "sx", backspace, "s☃", backspace, a paste of "wd"
    keys.write('wrong\u0015pa\u001b[Dsx\u007fs☃\b\u001b[200~wd\u001b[201~\r');
    await expect(answer).resolves.toBe('passwd');
  });

  test('Ctrl-C: exit 130, the terminal restored', async () => {
    const { tty, keys, raw } = fakeTty();
    const answer = readPassword('? ', tty);
    keys.write('abc\u0003');
    const error = await answer.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TailError);
    expect((error as TailError).exitCode).toBe(ExitCode.Sigint);
    expect(raw).toEqual([true, false]);
  });

  test.each([
    ['Enter on an empty line', '\r'],
    ['Ctrl-D on an empty line', '\u0004'],
  ])('%s: a usage error', async (_, key) => {
    const { tty, keys } = fakeTty();
    const answer = readPassword('? ', tty);
    keys.write(key);
    await expect(answer).rejects.toThrow(new UsageError('no password entered'));
  });

  test('the input ending before Enter: a usage error', async () => {
    const { tty, keys } = fakeTty();
    const answer = readPassword('? ', tty);
    keys.end('abc');
    await expect(answer).rejects.toBeInstanceOf(UsageError);
  });

  test('Ctrl-D after some characters is ignored', async () => {
    const { tty, keys } = fakeTty();
    const answer = readPassword('? ', tty);
    keys.write('ab\u0004c\n');
    await expect(answer).resolves.toBe('abc');
  });
});
