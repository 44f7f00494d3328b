// The resume-token file. One line of Extended JSON, `{"_data":"82…"}\n`, so that
// `--resume-after "$(cat pos.json)"` works too.
//
// - Missing file: first run; the caller starts per its options and the file is created on
//   the first save. Unreadable or invalid: UsageError naming the file, which is left as is.
//   Only a regular file is read (opened non-blocking: a named pipe must not hang the run), and
//   it is checked before the lock is taken, so nothing is created beside a file that is not
//   a token file.
// - Saved atomically: a temporary file in the same directory, fsync, rename, fsync of the
//   directory; mode 0600 (a token reveals collection UUIDs and document keys).
// - Never ahead of the output: the caller only hands over tokens whose events stdout has
//   accepted; saves are coalesced to at most one per interval and flushed on close.
// - A lock file `<file>.mongo-tail.lock` (created exclusively, holding
//   `mongo-tail <pid> <host> <start time>`) keeps a second process off the same file; a lock
//   of ours left by a dead process on this host is taken over. A file of that name with any
//   other content is never removed nor overwritten: the run stops with exit 2 (issue 8: a
//   plain `<file>.lock` once removed an unrelated `Gemfile.lock`).
// - Symlinks are resolved first: the lock and the saves belong to the real file, so two names
//   for one file share one lock, and a symlinked token file stays a symlink.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import {
  link,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { EJSON } from 'bson';
import { describeFsError, ExitCode, TailError, UsageError } from './errors.js';
import { FileTooLargeError, MAX_ARG_FILE_BYTES } from './file-arg.js';
import type { ResumeToken } from './options.js';
import { parseToken } from './options.js';

/** Reads the token file: undefined when it does not exist; UsageError when it is unusable. */
export async function loadToken(path: string): Promise<ResumeToken | undefined> {
  let text: string;
  const hint = `remove ${path} to start from now (or remove it and use --since to pick a start time)`;
  try {
    // Capped: a huge file must not fill the memory.
    text = await readRegularFile(path, MAX_ARG_FILE_BYTES, true);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    if (error instanceof FileTooLargeError) {
      throw new UsageError(`token file ${path} is larger than ${error.limitText}`, hint);
    }
    if (error instanceof NotAFileError) {
      throw new UsageError(
        `cannot read token file ${path} (it is ${error.kind})`,
        '--token-file needs a regular file, or a path where one can be created',
      );
    }
    throw new UsageError(`cannot read token file ${path} (${describeFsError(error)})`);
  }
  if (text.trim() === '') throw new UsageError(`token file ${path} is empty`, hint);
  try {
    // `@name` would make parseToken read another file: a token file holds the token itself.
    if (text.trim().startsWith('@')) throw new UsageError('not a token');
    return parseToken(`token file ${path}`, text);
  } catch (error) {
    if (error instanceof UsageError) {
      throw new UsageError(`token file ${path} does not hold a resume token`, hint);
    }
    throw error;
  }
}

/** A path that exists but is no regular file: a directory, a named pipe, a device, … */
class NotAFileError extends Error {
  constructor(readonly kind: string) {
    super(`it is ${kind}`);
    this.name = 'NotAFileError';
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Reads a regular file as UTF-8, at most `limit` bytes (FileTooLargeError past that). Anything
 * else is refused with NotAFileError, checked on the open descriptor (no race with a rename).
 * Opened non-blocking: a plain open of a named pipe waits for a writer, and no signal ends
 * that wait. `follow` false: a symlink is refused too (ELOOP).
 */
async function readRegularFile(path: string, limit: number, follow: boolean): Promise<string> {
  const flags =
    fsConstants.O_RDONLY |
    fsConstants.O_NONBLOCK |
    fsConstants.O_NOCTTY |
    (follow ? 0 : fsConstants.O_NOFOLLOW);
  const handle = await open(path, flags);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotAFileError(kindOf(stats));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read({
        buffer: Buffer.allocUnsafe(Math.min(64 * 1024, limit + 1 - total)),
      });
      if (bytesRead === 0) break;
      total += bytesRead;
      chunks.push(buffer.subarray(0, bytesRead));
      if (total > limit) throw new FileTooLargeError(limit);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** The one line the token file holds (canonical Extended JSON: `_typeBits` stays binary). */
export function serializeToken(token: ResumeToken): string {
  const doc = token._typeBits === undefined ? { _data: token._data } : { ...token };
  return `${EJSON.stringify(doc, { relaxed: false })}\n`;
}

/**
 * Writes the token file atomically (temp file, fsync, rename, fsync dir), mode 0600. A symlink
 * is written through: the rename replaces the file it points to.
 */
export async function saveToken(path: string, token: ResumeToken): Promise<void> {
  await writeTokenFile(await realFile(path), token);
}

async function writeTokenFile(path: string, token: ResumeToken): Promise<void> {
  const dir = dirname(path);
  // Random, not the time: two saves within a millisecond must not collide (O_EXCL refuses).
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(serializeToken(token), 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    // A full disk or a lost permission must not leave the temp file behind (issue 8).
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dir);
}

/**
 * The temp files of `path` that died with their writer: `.<name>.<pid>.<base36 time>.tmp`
 * (a save) and `.<name>.mongo-tail.lock….<pid>.<hex>.tmp` (a lock being created). Only names
 * of exactly that shape, next to the file, whose pid is not running are removed.
 */
async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const name = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(
    `^\\.${name}(?:\\.mongo-tail\\.lock(?:\\.\\d+\\.takeover)?)?\\.([1-9]\\d{0,9})\\.[0-9a-z]{1,16}\\.tmp$`,
  );
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return; // Best effort: the saves report a real problem with the directory.
  }
  for (const entry of entries) {
    const pid = pattern.exec(entry)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    await unlink(join(dir, entry)).catch(() => undefined);
  }
}

/**
 * The real path of a file that may not exist yet: symlinks (also dangling ones) are followed,
 * then the directory is resolved. Falls back to the absolute path when that fails; the caller's
 * next file operation reports why.
 */
async function realFile(path: string): Promise<string> {
  let current = resolve(path);
  for (let hop = 0; hop < 40; hop += 1) {
    try {
      return await realpath(current);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) return current;
    }
    let target: string;
    try {
      target = await readlink(current);
    } catch {
      // Not a symlink: a file still to be created.
      try {
        return join(await realpath(dirname(current)), basename(current));
      } catch {
        return current;
      }
    }
    current = resolve(dirname(current), target);
  }
  return current;
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable. Some platforms/filesystems refuse fsync on a directory;
  // the rename has still happened then.
  let handle;
  try {
    handle = await open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch (error) {
    if (!isCode(error, 'EINVAL') && !isCode(error, 'EISDIR') && !isCode(error, 'EPERM'))
      throw error;
  } finally {
    await handle?.close();
  }
}

/** A held `<file>.mongo-tail.lock`. */
export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

/** The suffix of a token file's lock: distinctive, so it never names someone else's file. */
export const LOCK_SUFFIX = '.mongo-tail.lock';

/** Who holds a lock: what its one line says. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** The holder's start time (ISO); with the pid it tells a reused pid from the holder. */
  readonly started: string;
}

const SELF: LockOwner = {
  pid: process.pid,
  host: hostname().replace(/\s/g, '_') || 'localhost',
  started: new Date(performance.timeOrigin).toISOString(),
};

/** The one line a lock holds. */
export function lockContent(owner: LockOwner): string {
  return `mongo-tail ${owner.pid} ${owner.host} ${owner.started}\n`;
}

/** The owner a lock's text names, or undefined when it is not a mongo-tail lock. */
export function parseLock(text: string): LockOwner | undefined {
  const match = /^mongo-tail ([1-9]\d{0,9}) (\S+) (\S+)\n$/.exec(text);
  if (match === null) return undefined;
  return { pid: Number(match[1]), host: match[2] ?? '', started: match[3] ?? '' };
}

/**
 * Takes the lock of a token file: `<real path of the file>.mongo-tail.lock`. A second process
 * gets a UsageError naming the holder; a file of that name that is not a mongo-tail lock gets
 * a UsageError and is left alone.
 */
export async function acquireLock(tokenFile: string): Promise<Lock> {
  return lockFile(tokenFile, await realFile(tokenFile));
}

async function lockFile(tokenFile: string, real: string): Promise<Lock> {
  const path = `${real}${LOCK_SUFFIX}`;
  // Messages use the name as given unless a symlink made the lock live elsewhere.
  const shown = real === resolve(tokenFile) ? `${tokenFile}${LOCK_SUFFIX}` : path;
  let holder: Claimed;
  try {
    holder = await claim(path, 0);
  } catch (error) {
    if (error instanceof TailError) throw error;
    throw new UsageError(
      `cannot create lock file ${shown} (${describeFsError(error)})`,
      `is the directory of --token-file ${tokenFile} there and writable?`,
    );
  }
  if (holder === 'foreign') throw foreignLock(shown, tokenFile);
  if (holder !== undefined) {
    const who =
      holder.host === SELF.host ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
    throw new UsageError(
      `token file ${tokenFile} is in use by another mongo-tail (${who})`,
      `two processes cannot share one token file; if ${who} is not mongo-tail, remove ${shown}`,
    );
  }
  return { path, release: () => releaseLock(path) };
}

function foreignLock(shown: string, tokenFile: string): UsageError {
  return new UsageError(
    `${shown} exists and is not a mongo-tail lock; it is left alone`,
    `move that file away or choose another --token-file than ${tokenFile}`,
  );
}

/** undefined: the lock is ours; an owner: a live holder; 'foreign': not a mongo-tail lock. */
type Claimed = LockOwner | 'foreign' | undefined;

/**
 * Creates `path` holding our lock line. Returns undefined once it is ours, the live holder,
 * or 'foreign' when the file there is not a mongo-tail lock (never removed).
 *
 * A lock only ever appears complete (written to a temp file, then link()ed, which fails if
 * the name exists). A stale lock (a dead pid on this host, or an earlier holder with our pid)
 * must be removed by name, and removal is where starters race: A and B both read dead pid D;
 * A removes the lock and links its own; B, acting on what it read, would now remove A's lock.
 * So removal happens only under the guard `<path>.<D>.takeover`, itself taken with this same
 * function, and only if the lock still holds what was read:
 * - A holds the guard, B waits and retries: by then the lock is A's, live: B is refused.
 * - A already released it: B takes the guard, sees the lock no longer holds D, removes
 *   nothing, and is refused on its next link().
 * - C, who never saw D, links right after A's removal: A's own link() fails, A is refused.
 * Only a holder of guard D removes a lock holding D, so the check-then-unlink is safe. A
 * starter killed inside the guard leaves a stale guard, taken over the same way (`depth`).
 * A holder on another host cannot be checked: it counts as live.
 */
async function claim(path: string, depth: number): Promise<Claimed> {
  for (let round = 0; round < 50; round += 1) {
    if (await createExclusive(path, lockContent(SELF))) return undefined;
    const text = await readText(path);
    if (text === undefined) continue; // Removed meanwhile: try again.
    const holder = parseLock(text);
    if (holder === undefined) {
      // Empty: a lock being created in place (no hard links) may be caught mid-write.
      if (text === '') {
        await sleep(50);
        if ((await readText(path)) !== text) continue;
      }
      if (depth > 0) throw foreignLock(path, path.replace(/\.[^.]+\.takeover$/, ''));
      return 'foreign';
    }
    const stale =
      holder.host === SELF.host &&
      (holder.pid === SELF.pid
        ? holder.started !== SELF.started || depth === 0
        : !isAlive(holder.pid));
    if (!stale) return holder;
    if (depth >= 3) {
      throw new UsageError(`cannot take over the stale lock ${path}`, `remove ${path}`);
    }
    const guard = `${path}.${holder.pid}.takeover`;
    if ((await claim(guard, depth + 1)) !== undefined) {
      await sleep(20); // Another starter is taking it over right now.
      continue;
    }
    try {
      if ((await readText(path)) === text) {
        await unlink(path).catch((error: unknown) => {
          if (!isCode(error, 'ENOENT')) throw error;
        });
      }
    } finally {
      await releaseLock(guard);
    }
  }
  throw new UsageError(`cannot take the lock ${path}: another process keeps creating it`);
}

/** Creates `path` with `content`, all at once; false if it exists. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    // A file system without hard links: create in place (briefly empty; see `claim`).
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].some((code) => isCode(error, code))) {
      throw error;
    }
    return createInPlace(path, content);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function createInPlace(path: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
  return true;
}

async function releaseLock(path: string): Promise<void> {
  // Only remove our own lock: never one a successor took over, never a foreign file.
  if ((await readText(path)) === lockContent(SELF)) {
    await unlink(path).catch(() => undefined);
  }
}

/** Stands for a lock path holding something we cannot read as a lock: never ours. */
const UNREADABLE_LOCK = 'not a readable lock file';

/**
 * The lock's content, or undefined when it is gone. A symlink, a named pipe (opening one would
 * wait for a writer), a directory, an unreadable or an oversized file is someone else's.
 */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readRegularFile(path, 4096, false);
  } catch (error) {
    return isCode(error, 'ENOENT') ? undefined : UNREADABLE_LOCK;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return isCode(error, 'EPERM');
  }
}

/**
 * The running checkpoint: holds the latest token whose output was accepted and writes it at
 * most once per interval (and always on flush/close).
 */
export class Checkpoint {
  private latest: ResumeToken | undefined;
  private savedData: string | undefined;
  private lastSaveAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;
  private warnedBackwards = false;

  private constructor(
    readonly path: string,
    /** Where saves go: the real file behind `path` (the one the lock is for). */
    private readonly target: string,
    private readonly intervalMs: number,
    private readonly lock: Lock,
    /** The token the file held at start, if any. */
    readonly initial: ResumeToken | undefined,
    private readonly now: () => number,
    private readonly warn: (message: string) => void,
  ) {
    this.savedData = initial?._data;
  }

  /** Locks and reads the token file. */
  static async open(
    path: string,
    intervalMs: number,
    now: () => number = Date.now,
    warn: (message: string) => void = () => undefined,
  ): Promise<Checkpoint> {
    const target = await realFile(path);
    // Checked before locking too: a path that is no token file (a symlink to some other file,
    // a named pipe, a directory) is refused without creating anything beside it.
    await loadToken(path);
    const lock = await lockFile(path, target);
    try {
      // Read again under the lock: another run may have saved meanwhile.
      const initial = await loadToken(path);
      // Holding the lock: no live mongo-tail saves this file, so its temp files are leftovers.
      await removeStaleTemps(target);
      return new Checkpoint(path, target, intervalMs, lock, initial, now, warn);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The newest token handed over (saved or not). */
  get current(): ResumeToken | undefined {
    return this.latest ?? this.initial;
  }

  /**
   * Records a token whose events stdout has accepted. Positions only move forward: a token that
   * sorts before the newest one is never recorded (warned about once). Resume tokens are
   * KeyStrings, which compare byte by byte; so do their hex texts. A driver bug once moved
   * tokens back by hours (NODE-7042): saving such a token would replay hours of events.
   */
  advance(token: ResumeToken): void {
    const newest = this.latest ?? this.initial;
    if (newest !== undefined && token._data.toUpperCase() < newest._data.toUpperCase()) {
      if (!this.warnedBackwards) {
        this.warnedBackwards = true;
        this.warn(
          `ignored a resume token that sorts before the last position (${token._data} < ` +
            `${newest._data}); ${this.path} keeps the later one`,
        );
      }
      return;
    }
    this.latest = token;
  }

  /** Called at a batch boundary: saves now, or schedules a save, within the interval. */
  batchDone(): void {
    this.rethrow();
    if (!this.dirty() || this.closed || this.timer !== undefined) return;
    const wait = this.lastSaveAt + this.intervalMs - this.now();
    if (wait <= 0) {
      void this.enqueueSave();
    } else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.enqueueSave();
      }, wait);
    }
  }

  /** Saves the newest token now if it is not on disk yet. */
  async flush(): Promise<void> {
    this.clearTimer();
    await this.enqueueSave();
    this.rethrow();
  }

  /** Final save and lock release. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.clearTimer();
    try {
      await this.enqueueSave();
      this.rethrow();
    } finally {
      this.closed = true;
      await this.lock.release();
    }
  }

  private dirty(): boolean {
    return this.latest !== undefined && this.latest._data !== this.savedData;
  }

  private enqueueSave(): Promise<void> {
    this.chain = this.chain.then(async () => {
      const token = this.latest;
      if (token === undefined || token._data === this.savedData) return;
      try {
        await writeTokenFile(this.target, token);
        this.savedData = token._data;
        this.lastSaveAt = this.now();
      } catch (error) {
        this.failure ??= error;
      }
    });
    return this.chain;
  }

  private rethrow(): void {
    if (this.failure === undefined) return;
    const error = this.failure;
    this.failure = undefined;
    // Not a usage mistake: the file worked at start (disk full, permission lost, …). Saves are
    // atomic, so the file still holds the last position saved: rerunning is the fix, not
    // --since (which the file would override anyway).
    throw new TailError(
      `cannot save token file ${this.path} (${describeFsError(error)})`,
      ExitCode.Unexpected,
      this.savedData === undefined
        ? `no position was saved to ${this.path} yet; the next run starts as this one did`
        : isCode(error, 'EISDIR')
          ? // The file was moved away or removed: it holds nothing here any more.
            `something replaced ${this.path} with a directory; move it away and put the ` +
            'token file back, or the next run starts as this one did'
          : `${this.path} still holds the last saved position; the next run continues from ` +
            'there (the events printed after it come again)',
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function isCode(error: unknown, code: string): boolean {
  // Duck-typed: errors from Node's core may come from another realm (e.g. under jest).
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
