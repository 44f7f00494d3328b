// How far the token may go when stdout is a pipe or a socket. Node writes to those
// asynchronously on POSIX (https://nodejs.org/api/process.html#a-note-on-process-io): a
// write's callback runs once the kernel took the bytes, not once a reader read them. A
// reader that dies (`| head -n 3`, Ctrl-C in `a | b`) leaves up to the buffer's capacity
// unread, so a token taken at the write callback can cover lines nobody will ever see (the
// issue: 7 of 10 `| head -3` runs skipped up to 98 events on the next run).
//
// The kernel's buffer never holds more than its capacity, so once `capacity` more bytes were
// accepted after a line, the reader has read that line. The token a run may save trails the
// output by that much; a clean stop whose reader is still there saves everything instead.
// Files and terminals keep or show what they accepted: no lag.
import { fstatSync, readFileSync } from 'node:fs';
import type { ResumeToken } from './options.js';

/** A token and the span of output bytes it was merged over (`from` ≤ `end`). */
interface Mark {
  from: number;
  end: number;
  token: ResumeToken;
}

/**
 * Tracks the tokens of the output stdout accepted and tells which one a reader has certainly
 * read past: the newest whose output ends at least `bound` bytes before everything accepted.
 */
export class ReadAhead {
  private total = 0;
  private latest: ResumeToken | undefined;
  /** Oldest first; marks start at least `spacing` bytes apart. */
  private readonly marks: Mark[] = [];
  private readonly spacing: number;

  /**
   * `bound`: the most bytes that can sit unread between us and the reader (0: none).
   * Marks closer than `bound / 16` are merged: at most ~18 are kept, and a token waits at
   * most that much longer than it must.
   */
  constructor(readonly bound: number) {
    this.spacing = Math.max(1, Math.floor(bound / 16));
  }

  /** Bytes accepted so far. */
  get accepted(): number {
    return this.total;
  }

  /** The token of everything accepted (what a reader that stays can read). */
  get newest(): ResumeToken | undefined {
    return this.latest;
  }

  /** How many marks wait to be read past (a bounded number). */
  get pending(): number {
    return this.marks.length;
  }

  /**
   * Stdout accepted `bytes` more bytes (0 for a position without output), which `token`
   * covers. Returns the token a reader has now certainly read past, when there is a newer one.
   */
  took(bytes: number, token: ResumeToken): ResumeToken | undefined {
    this.total += bytes;
    this.latest = token;
    if (this.bound === 0) return token;
    const last = this.marks.at(-1);
    if (last !== undefined && this.total - last.from < this.spacing) {
      last.end = this.total;
      last.token = token;
    } else {
      this.marks.push({ from: this.total, end: this.total, token });
    }
    // The reader has read at least `total - bound` bytes (and at least none: a position
    // before any output, such as an idle stream's first, is read at once).
    const readUpTo = Math.max(0, this.total - this.bound);
    let read: ResumeToken | undefined;
    while (this.marks.length > 0 && (this.marks[0] as Mark).end <= readUpTo) {
      read = (this.marks.shift() as Mark).token;
    }
    return read;
  }
}

/** Pipe capacity when /proc is not there to say: Linux's default pipe-max-size. */
const PIPE_FALLBACK = 1024 * 1024;
/** The least a socket is taken to hold; also covers macOS (kern.ipc.maxsockbuf, 8 MiB each). */
const SOCKET_FLOOR = 16 * 1024 * 1024;

/**
 * The most bytes that can sit unread in what file descriptor `fd` writes to: 0 for files,
 * terminals and anything that is not a pipe or a socket.
 */
export function unreadBound(fd: number, proc = readProc): number {
  let stat;
  try {
    stat = fstatSync(fd);
  } catch {
    return 0;
  }
  if (stat.isFIFO()) return pipeBound(proc);
  if (stat.isSocket()) return socketBound(proc);
  return 0;
}

/**
 * A pipe holds 64 KiB by default, but its reader (unprivileged) can enlarge it with
 * F_SETPIPE_SZ up to pipe-max-size, and Node cannot ask which (no fcntl): bound by the
 * maximum. (Only CAP_SYS_RESOURCE goes beyond it.) Other systems: macOS pipes grow to 64 KiB;
 * the fallback covers that with room.
 */
export function pipeBound(proc = readProc): number {
  return sysctl(proc, '/proc/sys/fs/pipe-max-size') || PIPE_FALLBACK;
}

/**
 * What a socket can hold unread: our send buffer plus the reader's receive buffer. TCP
 * autotunes them up to tcp_wmem/tcp_rmem's maxima; SO_SNDBUF/SO_RCVBUF may ask up to twice
 * wmem_max/rmem_max. A Unix socket (what Node's spawn gives a child) queues within the send
 * buffer alone, so the sum bounds both kinds (fstat cannot tell them apart). A privileged
 * parent may force more (SO_SNDBUFFORCE: systemd gives journald streams 8 MiB, doubled by
 * the kernel): never less than that.
 */
export function socketBound(proc = readProc): number {
  const send = Math.max(
    sysctl(proc, '/proc/sys/net/ipv4/tcp_wmem'),
    2 * sysctl(proc, '/proc/sys/net/core/wmem_max'),
  );
  const receive = Math.max(
    sysctl(proc, '/proc/sys/net/ipv4/tcp_rmem'),
    2 * sysctl(proc, '/proc/sys/net/core/rmem_max'),
  );
  return Math.max(send + receive, SOCKET_FLOOR);
}

/** A sysctl's value (the last number: tcp_wmem is `min default max`); 0 when unknown. */
function sysctl(proc: (path: string) => string | undefined, path: string): number {
  const value = Number(proc(path)?.trim().split(/\s+/).at(-1) ?? Number.NaN);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** unreadBound for a stream: process.stdout has a file descriptor; a test double has none. */
export function streamBound(stream: NodeJS.WritableStream): number {
  const fd = (stream as { fd?: unknown }).fd;
  return typeof fd === 'number' ? unreadBound(fd) : 0;
}
