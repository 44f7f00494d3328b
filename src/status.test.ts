/* eslint-disable no-control-regex -- these tests look for raw control characters and ANSI escapes */
import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { createStatus, statusText } from './status.js';

/** A terminal-like stderr that records what is written to it. */
class FakeTerminal extends Writable {
  chunks: string[] = [];
  isTTY = true;
  columns = 120;
  rows = 40;

  override _write(
    chunk: Buffer | string,
    _enc: BufferEncoding,
    done: (err?: Error | null) => void,
  ): void {
    this.chunks.push(chunk.toString());
    done();
  }

  cursorTo(x: number): boolean {
    this.write(`\x1b[${x + 1}G`);
    return true;
  }

  moveCursor(dx: number, dy: number): boolean {
    this.write(`\x1b[${dx};${dy}m`);
    return true;
  }

  clearLine(): boolean {
    this.write('\x1b[2K');
    return true;
  }

  get text(): string {
    return this.chunks.join('');
  }
}

describe('statusText', () => {
  test('the label alone until there is a detail', () => {
    expect(statusText('watching shop.orders')).toBe('watching shop.orders');
    expect(statusText('watching shop.orders', '')).toBe('watching shop.orders');
    expect(
      statusText('watching shop.orders', '2.0 events/s · 10 events (insert 10) · lag 0s'),
    ).toBe('watching shop.orders — 2.0 events/s · 10 events (insert 10) · lag 0s');
  });
});

describe('createStatus, disabled', () => {
  test('start, refresh, aside and stop write nothing; note writes a plain prefixed line', async () => {
    const term = new FakeTerminal();
    const status = await createStatus({ enabled: false, stream: term });
    status.start('connecting to mongodb://localhost');
    status.refresh();
    expect(status.aside(() => 42)).toBe(42);
    status.note('updateLookup turned on for --filter');
    status.stop();
    status.stop();
    expect(term.text).toBe('mongo-tail: updateLookup turned on for --filter\n');
  });
});

describe('createStatus, enabled', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('shows the label, then the detail; stop clears the line and every timer', async () => {
    jest.useFakeTimers();
    const term = new FakeTerminal();
    const shown: { detail?: string } = {};
    const status = await createStatus({ enabled: true, stream: term, detail: () => shown.detail });
    status.start('connecting to mongodb://db.example');
    expect(term.text).toContain('connecting to mongodb://db.example');
    status.start('watching shop.orders');
    jest.advanceTimersByTime(100);
    expect(term.text).toContain('watching shop.orders');

    shown.detail = '1,204 events (insert 1,204) · lag 3s';
    jest.advanceTimersByTime(1_100); // the refresh timer reads the detail again
    expect(term.text).toContain('watching shop.orders — 1,204 events (insert 1,204) · lag 3s');

    status.stop();
    expect(jest.getTimerCount()).toBe(0);
    const after = term.chunks.length;
    jest.advanceTimersByTime(5_000);
    expect(term.chunks.length).toBe(after); // nothing drawn once stopped
    // The last thing written: the spinner line cleared, the cursor shown again.
    expect(term.text.endsWith('\x1b[2K\x1b[?25h')).toBe(true);
  });

  test('aside clears the spinner line before a write to stdout and draws it after', async () => {
    jest.useFakeTimers();
    const term = new FakeTerminal();
    const status = await createStatus({ enabled: true, stream: term });
    status.start('watching shop.orders');
    term.chunks = [];
    const result = status.aside(() => {
      // What the terminal holds when the events are written: the spinner line was cleared.
      expect(term.text).toContain('\x1b[2K');
      expect(term.text).not.toContain('watching');
      term.chunks.push('<events>');
      return 'ok';
    });
    expect(result).toBe('ok');
    const text = term.text;
    expect(text.slice(text.indexOf('<events>'))).toContain('watching shop.orders');
    status.stop();
  });

  test('note prints a prefixed line above the spinner and keeps spinning', async () => {
    jest.useFakeTimers();
    const term = new FakeTerminal();
    const status = await createStatus({ enabled: true, stream: term });
    status.start('watching shop.orders');
    term.chunks = [];
    status.note('the token file is ahead of the oplog');
    const text = term.text;
    const noteAt = text.indexOf('mongo-tail: the token file is ahead of the oplog\n');
    expect(noteAt).toBeGreaterThanOrEqual(0);
    // The spinner line was cleared before the note and drawn again after it.
    expect(text.slice(0, noteAt)).toContain('\x1b[2K');
    expect(text.slice(noteAt)).toContain('watching shop.orders');
    status.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  test('note before start and after stop is a plain line', async () => {
    const term = new FakeTerminal();
    const status = await createStatus({ enabled: true, stream: term });
    status.note('early');
    status.start('x');
    status.stop();
    term.chunks = [];
    status.note('late');
    expect(term.text).toBe('mongo-tail: late\n');
  });

  test('the spinner glyph is uncoloured unless asked', async () => {
    jest.useFakeTimers();
    const term = new FakeTerminal();
    const status = await createStatus({ enabled: true, stream: term, label: 'x' });
    status.start('watching');
    status.stop();
    expect(term.text).not.toMatch(/\x1b\[3\dm/);
  });

  test('stop is safe twice and before start', async () => {
    const status = await createStatus({ enabled: true, stream: new FakeTerminal() });
    status.stop();
    status.start('a');
    status.stop();
    status.stop();
  });
});

describe('a terminal without a size', () => {
  test('0 columns: no spinner frames, notes still print', async () => {
    const term = new FakeTerminal();
    term.columns = 0;
    const status = await createStatus({ enabled: true, stream: term });
    status.start('watching shop.orders');
    status.note('hello');
    status.stop();
    expect(term.text).toBe('mongo-tail: hello\n');
  });
});
