import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createSink, watchReader } from './sink.js';

/** A writable that holds every chunk until `release()` is called (a stalled reader). */
function stalled(highWaterMark = 16) {
  const pending: Array<() => void> = [];
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, callback) {
      chunks.push(chunk.toString());
      pending.push(() => callback());
    },
  });
  return {
    stream,
    chunks,
    release: () => pending.splice(0).forEach((done) => done()),
  };
}

function epipe(): Writable {
  return new Writable({
    write(_chunk, _enc, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('sink', () => {
  test('writes chunks as given and reports each as accepted, in order', async () => {
    const out = new PassThrough();
    const sink = createSink(out);
    const accepted: number[] = [];
    expect(sink.write('{"a":1}\n', () => accepted.push(1))).toBe('ok');
    expect(sink.write('{"b":2}\n{"c":3}\n', () => accepted.push(2))).toBe('ok');
    expect(await sink.close()).toBe(true);
    expect(accepted).toEqual([1, 2]);
    expect(out.read()?.toString()).toBe('{"a":1}\n{"b":2}\n{"c":3}\n');
  });

  test('a chunk is not accepted while stdout has not taken it; full until drain', async () => {
    const { stream, chunks, release } = stalled();
    const sink = createSink(stream);
    let accepted = false;
    expect(sink.write('x'.repeat(64), () => (accepted = true))).toBe('full');
    let drained = false;
    const waiting = sink.drained().then(() => (drained = true));
    await tick();
    expect(chunks).toHaveLength(1);
    expect(accepted).toBe(false);
    expect(drained).toBe(false);
    release();
    await waiting;
    expect(accepted).toBe(true);
    expect(drained).toBe(true);
    const closing = sink.close();
    await tick();
    release();
    await closing;
  });

  test('drained() resolves at once when stdout wants more', async () => {
    const sink = createSink(new PassThrough());
    expect(sink.write('a\n')).toBe('ok');
    await sink.drained();
    await sink.close();
  });

  test('EPIPE is a quiet stop: closed, never accepted, no throw, later writes refused', async () => {
    const stream = epipe();
    const sink = createSink(stream);
    let accepted = false;
    sink.write('one\n', () => (accepted = true));
    await sink.drained();
    await tick();
    expect(sink.closed).toBe(true);
    expect(accepted).toBe(false);
    expect(sink.write('two\n')).toBe('closed');
    // Not flushed: the position must not cover what the reader may not have read.
    expect(await sink.close()).toBe(false);
    // A late error after close does not crash (a listener stays attached).
    stream.emit('error', Object.assign(new Error('late'), { code: 'EPIPE' }));
  });

  test('a destroyed stream is a quiet stop too', async () => {
    const out = new PassThrough();
    const sink = createSink(out);
    out.destroy();
    expect(sink.write('x\n')).toBe('closed');
    expect(sink.closed).toBe(true);
    expect(await sink.close()).toBe(false);
  });

  test('a reader that leaves while the run waits for drain ends the wait', async () => {
    const { stream } = stalled();
    const sink = createSink(stream);
    expect(sink.write('y'.repeat(64))).toBe('full');
    const waiting = sink.drained();
    stream.destroy();
    await waiting;
    expect(sink.write('z\n')).toBe('closed');
    await sink.close();
  });

  test('other write errors are raised', async () => {
    const stream = new Writable({
      write(_chunk, _enc, callback) {
        callback(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
      },
    });
    stream.on('error', () => undefined);
    const sink = createSink(stream);
    let accepted = false;
    sink.write('x\n', () => (accepted = true));
    await sink.drained();
    await tick();
    expect(accepted).toBe(false);
    expect(() => sink.write('y\n')).toThrow('disk full');
    expect(await sink.close()).toBe(false);
  });

  test('close() is true only once a stalled stream took everything', async () => {
    const { stream, release } = stalled();
    const sink = createSink(stream);
    const accepted: number[] = [];
    sink.write('a\n', () => accepted.push(1));
    sink.write('b\n', () => accepted.push(2));
    let flushed: boolean | undefined;
    const closing = sink.close().then((value) => (flushed = value));
    await tick();
    expect(flushed).toBeUndefined();
    release();
    await tick();
    release();
    await tick();
    release();
    await closing;
    expect(flushed).toBe(true);
    expect(accepted).toEqual([1, 2]);
  });

  test('close() is false when the stream fails while flushing', async () => {
    let calls = 0;
    const stream = new Writable({
      write(_chunk, _enc, callback) {
        calls += 1;
        if (calls === 1) callback();
        else callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = createSink(stream);
    sink.write('a\n');
    sink.write('b\n');
    expect(await sink.close()).toBe(false);
  });

  test('whenAccepted runs at once when nothing waits, else after the newest write', async () => {
    const { stream, release } = stalled(1024);
    const sink = createSink(stream);
    const order: string[] = [];
    sink.whenAccepted(() => order.push('idle'));
    expect(order).toEqual(['idle']);
    sink.write('a\n', () => order.push('a'));
    sink.whenAccepted(() => order.push('after a'));
    sink.write('b\n', () => order.push('b'));
    sink.whenAccepted(() => order.push('after b'));
    await tick();
    expect(order).toEqual(['idle']);
    release();
    await tick();
    release();
    await tick();
    expect(order).toEqual(['idle', 'a', 'after a', 'b', 'after b']);
    sink.whenAccepted(() => order.push('now'));
    expect(order.at(-1)).toBe('now');
  });

  test('whenAccepted never runs for output that was lost', async () => {
    const sink = createSink(epipe());
    let ran = false;
    sink.write('a\n');
    sink.whenAccepted(() => (ran = true));
    await sink.drained();
    await tick();
    sink.whenAccepted(() => (ran = true));
    expect(sink.closed).toBe(true);
    expect(ran).toBe(false);
    expect(await sink.close()).toBe(false);
  });
});

/** Something with a file descriptor, as process.stdout has. */
const onFd = (fd: number): NodeJS.WritableStream => ({ fd }) as unknown as NodeJS.WritableStream;

/** Resolves true once `check` holds, false after `ms`. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe('watchReader: a reader that left while nothing was written', () => {
  test('nothing to watch on a stream without a descriptor', () => {
    let gone = false;
    const stop = watchReader(new PassThrough(), () => (gone = true), 10);
    stop();
    expect(gone).toBe(false);
  });

  test('a socket (what Node gives a child): noticed once the peer closed it', async () => {
    // The child closes its stdin and stays: Node destroys a child's stdin once the child exits.
    const child = spawn('sh', ['-c', 'read line; exec 0<&-; echo closed; exec sleep 30'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    let gone = false;
    const stop = watchReader(onFd(fd), () => (gone = true), 50);
    try {
      expect(await within(400, () => gone)).toBe(false); // the reader is there
      const closed = new Promise((resolve) => child.stdout.once('data', resolve));
      child.stdin.write('go\n');
      await closed;
      expect(await within(5000, () => gone)).toBe(true);
    } finally {
      stop();
      child.kill('SIGKILL');
    }
  }, 10_000);

  test('an anonymous pipe (`| head -1`): noticed once its reader exited, no byte written', async () => {
    if (process.platform !== 'linux') {
      console.log('skipping: pipe readers are only watched through /proc on Linux');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'mongo-tail-sink-'));
    const out = join(dir, 'read.txt');
    // `sleep | cat > out` in its own process group; the writer prints its pid, and the reader
    // says it is there (watchReader gives up on a pipe with no reader in sight at the start).
    const shell = spawn(
      'sh',
      [
        '-c',
        `sh -c 'echo pid $$ >&2; exec sleep 60' | sh -c 'echo reader >&2; exec cat > "${out}"'`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    let stop = (): void => undefined;
    let fd: number | undefined;
    try {
      let said = '';
      const pid = await new Promise<number>((resolve) => {
        shell.stderr.on('data', (chunk: Buffer) => {
          said += chunk.toString();
          const writer = /pid (\d+)/.exec(said);
          if (writer && said.includes('reader')) resolve(Number(writer[1]));
        });
      });
      // `exec cat` keeps the pid of the shell that said "reader": give the exec a moment.
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Opening the writer's end through /proc gives this process a write end of that pipe.
      fd = openSync(`/proc/${pid}/fd/1`, 'w');
      let gone = false;
      stop = watchReader(onFd(fd), () => (gone = true), 50);
      expect(await within(600, () => gone)).toBe(false); // the reader is there
      const exited = new Promise((resolve) => shell.on('close', resolve));
      process.kill(-(shell.pid as number), 'SIGKILL');
      await exited;
      expect(await within(5000, () => gone)).toBe(true);
      expect(readFileSync(out, 'utf8')).toBe('');
    } finally {
      stop();
      if (fd !== undefined) closeSync(fd);
      try {
        process.kill(-(shell.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 10_000);

  test('the sink counts as closed and tells its owner once', async () => {
    const child = spawn('sh', ['-c', 'exec 0<&-; echo closed; exec sleep 30'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const stdin = child.stdin as unknown as { _handle: { fd: number } };
    const stream = Object.assign(new PassThrough(), { fd: stdin._handle.fd });
    let told = 0;
    const sink = createSink(stream, { onReaderGone: () => (told += 1), probeMs: 50 });
    try {
      await new Promise((resolve) => child.stdout.once('data', resolve));
      expect(await within(5000, () => sink.closed)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(told).toBe(1);
      expect(sink.write('late\n')).toBe('closed');
      expect(await sink.close()).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  }, 10_000);
});
