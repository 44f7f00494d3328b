import { PassThrough, Writable } from 'node:stream';
import { createSink } from './sink.js';

/** A writable that holds every chunk until `release()` is called (a stalled reader). */
function stalled() {
  const pending: Array<() => void> = [];
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark: 16,
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

describe('sink', () => {
  test('adds newlines and resolves true once written', async () => {
    const out = new PassThrough();
    const sink = createSink(out);
    expect(await sink.write('{"a":1}')).toBe(true);
    expect(await sink.write('{"b":2}')).toBe(true);
    await sink.close();
    expect(out.read()?.toString()).toBe('{"a":1}\n{"b":2}\n');
  });

  test('a write does not resolve while stdout has not taken the line (backpressure)', async () => {
    const { stream, chunks, release } = stalled();
    const sink = createSink(stream);
    let accepted = false;
    const write = sink.write('x'.repeat(64)).then((ok) => {
      accepted = ok;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(chunks).toHaveLength(1);
    expect(accepted).toBe(false);
    release();
    await write;
    expect(accepted).toBe(true);
    const closing = sink.close();
    await new Promise((r) => setImmediate(r));
    release();
    await closing;
  });

  test('EPIPE is a quiet stop: false, closed, no throw, later writes are refused', async () => {
    const stream = epipe();
    const sink = createSink(stream);
    expect(await sink.write('one')).toBe(false);
    expect(sink.closed).toBe(true);
    expect(await sink.write('two')).toBe(false);
    await sink.close();
    // A late error after close does not crash (a listener stays attached).
    stream.emit('error', Object.assign(new Error('late'), { code: 'EPIPE' }));
  });

  test('a destroyed stream is a quiet stop too', async () => {
    const out = new PassThrough();
    const sink = createSink(out);
    out.destroy();
    expect(await sink.write('x')).toBe(false);
    expect(sink.closed).toBe(true);
    await sink.close();
  });

  test('other write errors are raised', async () => {
    const stream = new Writable({
      write(_chunk, _enc, callback) {
        callback(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
      },
    });
    const sink = createSink(stream);
    await expect(sink.write('x')).rejects.toThrow('disk full');
    await sink.close();
  });
});
