import { PassThrough, Writable } from 'node:stream';
import { createSink } from './sink.js';

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
    await sink.close();
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
    await sink.close();
    // A late error after close does not crash (a listener stays attached).
    stream.emit('error', Object.assign(new Error('late'), { code: 'EPIPE' }));
  });

  test('a destroyed stream is a quiet stop too', async () => {
    const out = new PassThrough();
    const sink = createSink(out);
    out.destroy();
    expect(sink.write('x\n')).toBe('closed');
    expect(sink.closed).toBe(true);
    await sink.close();
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
    await sink.close();
  });
});
