import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import type { ResumeToken } from './options.js';
import { pipeBound, ReadAhead, socketBound, streamBound, unreadBound } from './readahead.js';

const token = (n: number): ResumeToken => ({ _data: n.toString(16).padStart(8, '0') });
const n = (t: ResumeToken | undefined): number | undefined =>
  t === undefined ? undefined : parseInt(t._data, 16);

describe('ReadAhead', () => {
  test('no bound (a file, a terminal): every token at once', () => {
    const ahead = new ReadAhead(0);
    expect(n(ahead.took(100, token(1)))).toBe(1);
    expect(n(ahead.took(0, token(2)))).toBe(2);
    expect(ahead.pending).toBe(0);
  });

  test('a token is released once `bound` more bytes were accepted after it', () => {
    const ahead = new ReadAhead(1000);
    expect(ahead.took(400, token(1))).toBeUndefined(); // ends at 400
    expect(ahead.took(400, token(2))).toBeUndefined(); // ends at 800
    expect(ahead.took(599, token(3))).toBeUndefined(); // 1399: 400 is still within 1000
    expect(n(ahead.took(1, token(4)))).toBe(1); // 1400: all of event 1 was read
    expect(n(ahead.took(1000, token(5)))).toBe(4); // 2400: up to 1400 read: 2, 3, 4 at once
    expect(n(ahead.newest)).toBe(5);
    expect(ahead.accepted).toBe(2400);
  });

  test('a position without output waits behind the output before it', () => {
    const ahead = new ReadAhead(1000);
    ahead.took(500, token(1));
    expect(ahead.took(0, token(2))).toBeUndefined(); // idle at 500
    expect(ahead.took(0, token(3))).toBeUndefined();
    expect(n(ahead.took(1000, token(4)))).toBe(3); // 1500: the idle position at 500 read
  });

  test('a position before any output is read at once (a first run that only idled)', () => {
    const ahead = new ReadAhead(1000);
    expect(n(ahead.took(0, token(1)))).toBe(1);
    expect(ahead.took(10, token(2))).toBeUndefined();
    expect(ahead.took(0, token(3))).toBeUndefined();
  });

  test('small chunks are merged: the marks kept stay few whatever the chunk size', () => {
    const bound = 1024 * 1024;
    const ahead = new ReadAhead(bound);
    let most = 0;
    for (let i = 1; i <= 100_000; i += 1) {
      ahead.took(100, token(i));
      most = Math.max(most, ahead.pending);
    }
    expect(most).toBeLessThanOrEqual(18);
  });

  // The guarantee, for any chunk sizes: the released token's output ends at least `bound`
  // bytes before everything accepted; and it trails by at most bound + bound/16 + one chunk.
  test('property: never ahead of total − bound, never far behind it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 300 }),
        (bound, sizes) => {
          const ahead = new ReadAhead(bound);
          const ends: number[] = [];
          let total = 0;
          let released: number | undefined;
          sizes.forEach((size, i) => {
            total += size;
            ends.push(total);
            const read = n(ahead.took(size, token(i)));
            if (read !== undefined) {
              expect(released === undefined || read > released).toBe(true);
              released = read;
            }
            const end = released === undefined ? 0 : (ends[released] as number);
            expect(end).toBeLessThanOrEqual(total - bound > 0 ? total - bound : 0);
            // The newest token whose output ends by total − bound − bound/16 is released.
            const due = ends.findLastIndex((e) => e <= total - bound - Math.floor(bound / 16));
            if (due >= 0) expect(released).toBeGreaterThanOrEqual(due);
          });
        },
      ),
    );
  });
});

describe('bounds', () => {
  const proc =
    (values: Record<string, string>) =>
    (path: string): string | undefined =>
      values[path];

  test('a pipe: pipe-max-size, or 1 MiB when /proc cannot say', () => {
    expect(pipeBound(proc({ '/proc/sys/fs/pipe-max-size': '4194304\n' }))).toBe(4194304);
    expect(pipeBound(proc({}))).toBe(1024 * 1024);
    expect(pipeBound(proc({ '/proc/sys/fs/pipe-max-size': 'x' }))).toBe(1024 * 1024);
  });

  test('a socket: the larger send plus the larger receive limit, at least 16 MiB', () => {
    const linux = proc({
      '/proc/sys/net/ipv4/tcp_wmem': '4096\t16384\t4194304\n',
      '/proc/sys/net/ipv4/tcp_rmem': '4096\t131072\t33554432\n',
      '/proc/sys/net/core/wmem_max': '4194304\n',
      '/proc/sys/net/core/rmem_max': '212992\n',
    });
    expect(socketBound(linux)).toBe(8388608 + 33554432);
    const defaults = proc({
      '/proc/sys/net/ipv4/tcp_wmem': '4096\t16384\t4194304\n',
      '/proc/sys/net/ipv4/tcp_rmem': '4096\t131072\t6291456\n',
    });
    expect(socketBound(defaults)).toBe(16 * 1024 * 1024);
    expect(socketBound(proc({}))).toBe(16 * 1024 * 1024);
  });

  test('a FIFO is bounded by pipe-max-size; files, /dev/null and test doubles by nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'readahead-'));
    try {
      const file = openSync(join(dir, 'out'), 'w');
      expect(unreadBound(file)).toBe(0);
      closeSync(file);
      const devNull = openSync('/dev/null', 'w');
      expect(unreadBound(devNull)).toBe(0);
      closeSync(devNull);
      const fifo = join(dir, 'fifo');
      if (spawnSync('mkfifo', [fifo]).status !== 0) {
        console.log('skipping the FIFO check: mkfifo is not available');
        return;
      }
      // Read and write: opening a FIFO this way does not wait for a reader.
      const both = openSync(fifo, 'r+');
      expect(unreadBound(both)).toBe(pipeBound());
      closeSync(both);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(unreadBound(987_654)).toBe(0); // not open
    expect(streamBound(new PassThrough())).toBe(0);
  });
});
