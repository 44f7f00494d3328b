// The sink owns stdout. The tailer hands it chunks of whole lines (tens of KB, many events
// each): one `write` per chunk, never one per event. Backpressure is the stream's own: when a
// write reports the buffer full, the tailer waits for `drain` before it writes more, so memory
// stays bounded by the stream's high-water mark plus one chunk. Each chunk may carry an
// `accepted` callback that runs once the stream has taken the chunk (its write callback ran
// without an error): the earliest the checkpoint may cover the chunk's events (for a pipe or a
// socket the kernel has them then, not the reader: see readahead.ts). A closed reader (EPIPE,
// `| head -n 1`) is a quiet stop.

/** What a write did: taken (`ok`), taken but the buffer is full (`full`), or refused (`closed`). */
export type WriteResult = 'ok' | 'full' | 'closed';

/** stdout as the tailer sees it. */
export interface Sink {
  /**
   * Writes `text` (whole lines, newlines included). `accepted` runs once the stream has taken
   * it; it never runs for text that was lost (EPIPE, a destroyed stream).
   */
  write(text: string, accepted?: () => void): WriteResult;
  /**
   * Runs `then` once everything written so far was taken (at once when nothing waits); never
   * when some of it was lost. For positions that come without output (an idle stream).
   */
  whenAccepted(then: () => void): void;
  /** Resolves once the stream wants more (`drain`), or once it closed or failed. */
  drained(): Promise<void>;
  /** True once the reader went away (EPIPE) or the stream was destroyed. */
  readonly closed: boolean;
  /**
   * Waits until everything written so far has been flushed; detaches from the stream. True when
   * the stream took all of it (no EPIPE, no failure): a reader still there can read it all.
   */
  close(): Promise<boolean>;
}

const QUIET_CODES = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Wraps a writable stream (process.stdout, or a test double). */
export function createSink(stream: NodeJS.WritableStream): Sink {
  let closed = false;
  let failure: unknown;
  let waiters: Array<() => void> = [];
  // Writes not taken yet, and what waits for the newest of them (callbacks come in order).
  let inFlight = 0;
  let followers: Array<() => void> = [];

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
    const after: Array<() => void> = [];
    followers = after;
    inFlight += 1;
    try {
      wantsMore = stream.write(text, (error?: Error | null) => {
        inFlight -= 1;
        if (error == null) {
          if (closed) return;
          accepted?.();
          for (const then of after) then();
          return;
        }
        onError(error);
      });
    } catch (error) {
      inFlight -= 1;
      if (!isQuiet(error)) throw error;
      closed = true;
      return 'closed';
    }
    if (closed) return 'closed';
    return wantsMore ? 'ok' : 'full';
  };

  return {
    write,
    whenAccepted(then) {
      if (closed || failure !== undefined) return;
      if (inFlight === 0) then();
      else followers.push(then);
    },
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
      let flushed = false;
      if (!closed && failure === undefined) {
        flushed = await new Promise<boolean>((resolve) => {
          try {
            stream.write('', (error?: Error | null) => resolve(error == null));
          } catch {
            resolve(false);
          }
        });
      }
      flushed &&= !closed && failure === undefined;
      stream.off('error', onError);
      stream.off('drain', wake);
      stream.off('close', onClose);
      wake();
      // Late EPIPEs after we detach must not crash the process.
      stream.on('error', ignore);
      return flushed;
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
