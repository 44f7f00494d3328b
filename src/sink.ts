// The sink owns stdout. Each line resolves once the stream has taken it (its write callback
// ran: handed to the OS, or buffered below the high-water mark and then flushed), so the
// tailer does not read the next event while stdout is full, and a token is only checkpointed
// for lines that really left. A closed reader (EPIPE, `| head -n 1`) is a quiet stop.

/** stdout as the tailer sees it. */
export interface Sink {
  /** Writes one line (a newline is added). Resolves true when accepted, false once closed. */
  write(line: string): Promise<boolean>;
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

  const onError = (error: unknown): void => {
    if (isQuiet(error)) closed = true;
    else failure ??= error;
  };
  // Without a listener an EPIPE would be thrown as an uncaught exception.
  stream.on('error', onError);

  const write = (line: string): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    if (failure !== undefined) return Promise.reject(failure);
    return new Promise<boolean>((resolve, reject) => {
      try {
        stream.write(`${line}\n`, (error?: Error | null) => {
          if (error == null) return resolve(!closed);
          if (isQuiet(error)) {
            closed = true;
            return resolve(false);
          }
          reject(error);
        });
      } catch (error) {
        if (isQuiet(error)) {
          closed = true;
          resolve(false);
        } else {
          reject(error);
        }
      }
    });
  };

  return {
    write,
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
