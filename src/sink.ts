// The sink owns stdout. The tailer hands it chunks of whole lines (tens of KB, many events
// each): one `write` per chunk, never one per event. Backpressure is the stream's own: when a
// write reports the buffer full, the tailer waits for `drain` before it writes more, so memory
// stays bounded by the stream's high-water mark plus one chunk. Each chunk may carry an
// `accepted` callback that runs once the stream has taken the chunk (its write callback ran
// without an error): that is when the checkpoint may cover the chunk's events, never before.
// A closed reader (EPIPE, `| head -n 1`) is a quiet stop.

/** What a write did: taken (`ok`), taken but the buffer is full (`full`), or refused (`closed`). */
export type WriteResult = 'ok' | 'full' | 'closed';

/** stdout as the tailer sees it. */
export interface Sink {
  /**
   * Writes `text` (whole lines, newlines included). `accepted` runs once the stream has taken
   * it; it never runs for text that was lost (EPIPE, a destroyed stream).
   */
  write(text: string, accepted?: () => void): WriteResult;
  /** Resolves once the stream wants more (`drain`), or once it closed or failed. */
  drained(): Promise<void>;
  /** True once the reader went away (EPIPE) or the stream was destroyed. */
  readonly closed: boolean;
  /** Waits until everything written so far has been flushed; detaches from the stream. */
  close(): Promise<void>;
}

const QUIET_CODES = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Wraps a writable stream (process.stdout, or a test double). */
export function createSink(stream: NodeJS.WritableStream): Sink {
  let closed = false;
  let failure: unknown;
  let waiters: Array<() => void> = [];

  const wake = (): void => {
    const current = waiters;
    waiters = [];
    for (const resolve of current) resolve();
  };
  const onError = (error: unknown): void => {
    if (isQuiet(error)) closed = true;
    else failure ??= error;
    wake();
  };
  // Without a listener an EPIPE would be thrown as an uncaught exception.
  stream.on('error', onError);
  // A stream that closed takes nothing more (a destroyed stdout, a reader that left).
  const onClose = (): void => {
    closed = true;
    wake();
  };
  stream.on('drain', wake);
  stream.on('close', onClose);

  const write = (text: string, accepted?: () => void): WriteResult => {
    // A real failure wins over the close that follows it (an error destroys the stream).
    if (failure !== undefined) throw failure;
    if (closed || (stream as { destroyed?: boolean }).destroyed === true) {
      closed = true;
      return 'closed';
    }
    let wantsMore: boolean;
    try {
      wantsMore = stream.write(text, (error?: Error | null) => {
        if (error == null) {
          if (!closed) accepted?.();
          return;
        }
        onError(error);
      });
    } catch (error) {
      if (!isQuiet(error)) throw error;
      closed = true;
      return 'closed';
    }
    if (closed) return 'closed';
    return wantsMore ? 'ok' : 'full';
  };

  return {
    write,
    drained() {
      if (closed || failure !== undefined) return Promise.resolve();
      const writable = stream as NodeJS.WritableStream & { writableNeedDrain?: boolean };
      if (writable.writableNeedDrain === false) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    get closed() {
      return closed;
    },
    async close() {
      // An empty write calls back after every earlier chunk has been flushed.
      if (!closed && failure === undefined) {
        await new Promise<void>((resolve) => {
          try {
            stream.write('', () => resolve());
          } catch {
            resolve();
          }
        });
      }
      stream.off('error', onError);
      stream.off('drain', wake);
      stream.off('close', onClose);
      wake();
      // Late EPIPEs after we detach must not crash the process.
      stream.on('error', ignore);
    },
  };
}

function ignore(): void {}

function isQuiet(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    QUIET_CODES.has(String((error as { code: unknown }).code))
  );
}
