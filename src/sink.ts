// The sink owns stdout. The tailer hands it chunks of whole lines (tens of KB, many events
// each): one `write` per chunk, never one per event. Backpressure is the stream's own: when a
// write reports the buffer full, the tailer waits for `drain` before it writes more, so memory
// stays bounded by the stream's high-water mark plus one chunk. Each chunk may carry an
// `accepted` callback that runs once the stream has taken the chunk (its write callback ran
// without an error): the earliest the checkpoint may cover the chunk's events (for a pipe or a
// socket the kernel has them then, not the reader: see readahead.ts). A closed reader (EPIPE,
// `| head -n 1`) is a quiet stop; so is one that left while nothing was written (`watchReader`).
import { fstatSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';

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

export interface SinkOptions {
  /**
   * Runs once when the reader went away while nothing was written (see `watchReader`); the
   * sink counts as closed from then on.
   */
  onReaderGone?: () => void;
  /** How often to look for the reader (default 500 ms). */
  probeMs?: number;
}

const QUIET_CODES = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** Wraps a writable stream (process.stdout, or a test double). */
export function createSink(stream: NodeJS.WritableStream, options: SinkOptions = {}): Sink {
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
  const { onReaderGone } = options;
  const unwatch =
    onReaderGone === undefined
      ? ignore
      : watchReader(
          stream,
          () => {
            if (closed) return;
            closed = true;
            wake();
            onReaderGone();
          },
          options.probeMs,
        );

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
      unwatch();
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

type Verdict = 'there' | 'gone' | 'unknown';

/**
 * Watches whether anybody still reads `stream` (when it is a pipe or a socket on a file
 * descriptor) and calls `gone` once nobody does, without writing a byte. Returns the stop
 * function. A writer otherwise learns it only from EPIPE at its next write: on a quiet
 * collection, never (`mongo-tail db.quiet | head -1` ran on; issue 9). GNU `tail -f` asks
 * poll(2) for POLLERR on stdout, which a pipe's write end gets once its readers are gone;
 * Node has no poll on a descriptor it only writes to (libuv watches one only while a write
 * waits, and refuses to read a write-only one: ENOTCONN), and a zero-length write(2) to a
 * pipe succeeds even then. So, measured on Linux:
 * - a socket (stdout of a process Node spawned): a zero-length write sends nothing and
 *   fails with EPIPE once the peer closed;
 * - a pipe: /proc shows which processes hold its read end (see `pipeProbe`).
 * Elsewhere (macOS, BSD, a file, a terminal), nothing is watched: EPIPE at the next write.
 */
export function watchReader(
  stream: NodeJS.WritableStream,
  gone: () => void,
  everyMs = 500,
): () => void {
  const fd = (stream as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return ignore;
  let probe: (() => Verdict) | undefined;
  try {
    const stat = fstatSync(fd);
    if (stat.isSocket()) probe = socketProbe(fd);
    else if (stat.isFIFO()) probe = pipeProbe(fd);
  } catch {
    return ignore;
  }
  if (probe === undefined) return ignore;
  const look = probe;
  const timer = setInterval(() => {
    let verdict: Verdict;
    try {
      verdict = look();
    } catch {
      verdict = 'unknown';
    }
    // 'unknown': someone in the way we cannot see; EPIPE at the next write, as before.
    if (verdict !== 'there') clearInterval(timer);
    if (verdict === 'gone') gone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

const NOTHING = Buffer.alloc(0);

function socketProbe(fd: number): () => Verdict {
  return () => {
    try {
      writeSync(fd, NOTHING);
      return 'there';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'EAGAIN') return 'there';
      return code === 'EPIPE' || code === 'ECONNRESET' ? 'gone' : 'unknown';
    }
  };
}

/** A process and one of its descriptors. */
interface Holder {
  pid: number;
  fd: string;
}

/**
 * Linux: a pipe's read end is gone once no process holds it. The first scan of /proc, before
 * anything is written, finds the holders of the read end (`/proc/PID/fd/N` → `pipe:[inode]`,
 * not write-only in fdinfo); then every look checks that one of them still holds it (one
 * readlink), and scans again when none does (the reader may have handed it to a child). A
 * scan takes about 10 ms for 100 processes, at the start and when a reader left. Nothing is
 * watched when the first scan sees no reader (hidepid, another PID namespace: an empty scan
 * proves nothing); a look gives up when a process in our session, or a former reader, hides
 * its descriptors (`| sudo less`).
 */
function pipeProbe(fd: number): (() => Verdict) | undefined {
  if (process.platform !== 'linux') return undefined;
  const link = attempt(() => readlinkSync(`/proc/self/fd/${fd}`));
  if (link?.startsWith('pipe:') !== true) return undefined;
  const first = attempt(() => scanReaders(link, []));
  if (first === undefined || first.blind || first.readers.length === 0) return undefined;
  let known = first.readers;
  return () => {
    if (
      known.some(({ pid, fd: n }) => attempt(() => readlinkSync(`/proc/${pid}/fd/${n}`)) === link)
    ) {
      return 'there';
    }
    const scan = scanReaders(link, known);
    if (scan.blind) return 'unknown';
    if (scan.readers.length === 0) return 'gone';
    known = scan.readers;
    return 'there';
  };
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** The session of a process (field 6 of /proc/PID/stat), or undefined when it is gone. */
function sessionOf(pid: string): string | undefined {
  const stat = attempt(() => readFileSync(`/proc/${pid}/stat`, 'latin1'));
  // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[3];
}

/**
 * Which processes hold `link`'s read end; `blind` when one that may hold it cannot be seen:
 * a process of our session whose descriptors are hidden, or a former reader still running.
 */
function scanReaders(link: string, former: Holder[]): { readers: Holder[]; blind: boolean } {
  const ours = sessionOf('self');
  const readers: Holder[] = [];
  let blind = false;
  const seen = new Set<number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    seen.add(Number(pid));
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') continue; // exited meanwhile
      if (sessionOf(pid) === ours) blind = true;
      if (former.some((holder) => String(holder.pid) === pid)) blind = true;
      continue;
    }
    for (const fd of fds) {
      if (attempt(() => readlinkSync(`/proc/${pid}/fd/${fd}`)) !== link) continue;
      const info = attempt(() => readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1')) ?? '';
      const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
      // O_ACCMODE: 1 is O_WRONLY (a writer, such as this process); 0 and 2 can read.
      if (flags !== undefined && (parseInt(flags, 8) & 3) !== 1) {
        readers.push({ pid: Number(pid), fd });
      }
    }
  }
  // A former reader /proc no longer lists but that still runs (hidepid, after an exec of a
  // setuid program) may still hold the pipe.
  for (const { pid } of former) {
    if (!seen.has(pid) && isRunning(pid)) blind = true;
  }
  return { readers, blind };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}
