// The resume-token file. One line of Extended JSON, `{"_data":"82…"}\n`, so that
// `--resume-after "$(cat pos.json)"` works too.
//
// - Missing file: first run; the caller starts per its options and the file is created on
//   the first save. Unreadable or invalid: UsageError naming the file, which is left as is.
// - Saved atomically: a temporary file in the same directory, fsync, rename, fsync of the
//   directory; mode 0600 (a token reveals collection UUIDs and document keys).
// - Never ahead of the output: the caller only hands over tokens whose events stdout has
//   accepted; saves are coalesced to at most one per interval and flushed on close.
// - A lock file `<file>.lock` (created exclusively, holding the pid) keeps a second process
//   off the same file; a lock left by a dead process is taken over.
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EJSON } from 'bson';
import { describeFsError, UsageError } from './errors.js';
import type { ResumeToken } from './options.js';
import { parseToken } from './options.js';

/** Reads the token file: undefined when it does not exist; UsageError when it is unusable. */
export async function loadToken(path: string): Promise<ResumeToken | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw new UsageError(`cannot read token file ${path} (${describeFsError(error)})`);
  }
  const hint = `remove ${path} to start from now, or use --since to pick a start time`;
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

/** The one line the token file holds (canonical Extended JSON: `_typeBits` stays binary). */
export function serializeToken(token: ResumeToken): string {
  const doc = token._typeBits === undefined ? { _data: token._data } : { ...token };
  return `${EJSON.stringify(doc, { relaxed: false })}\n`;
}

/** Writes the token file atomically (temp file, fsync, rename, fsync dir), mode 0600. */
export async function saveToken(path: string, token: ResumeToken): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(serializeToken(token), 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dir);
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

/** A held `<file>.lock`. */
export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

/** Takes `<tokenFile>.lock`; a second process gets a UsageError naming the holder. */
export async function acquireLock(tokenFile: string): Promise<Lock> {
  const path = `${tokenFile}.lock`;
  // Two rounds: the second one runs after a stale lock was removed.
  for (let round = 0; round < 2; round += 1) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`, 'utf8');
      } finally {
        await handle.close();
      }
      return { path, release: () => releaseLock(path) };
    } catch (error) {
      if (!isCode(error, 'EEXIST')) {
        throw new UsageError(
          `cannot create lock file ${path} (${describeFsError(error)})`,
          `is the directory of --token-file ${tokenFile} there and writable?`,
        );
      }
    }
    const holder = await readLockPid(path);
    if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
      throw new UsageError(
        `token file ${tokenFile} is in use by another mongo-tail (pid ${holder})`,
        `two processes cannot share one token file; if pid ${holder} is not mongo-tail, remove ${path}`,
      );
    }
    if (holder === undefined && round === 0) {
      // Possibly a lock being written this very moment: look once more before taking it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const again = await readLockPid(path);
      if (again !== undefined && isAlive(again)) {
        throw new UsageError(
          `token file ${tokenFile} is in use by another mongo-tail (pid ${again})`,
        );
      }
    }
    await unlink(path).catch((error: unknown) => {
      if (!isCode(error, 'ENOENT')) throw error;
    });
  }
  throw new UsageError(`cannot take the lock ${path}: another process keeps creating it`);
}

async function releaseLock(path: string): Promise<void> {
  // Only remove our own lock: never one a successor took over.
  if ((await readLockPid(path)) === process.pid) {
    await unlink(path).catch(() => undefined);
  }
}

async function readLockPid(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
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

  private constructor(
    readonly path: string,
    private readonly intervalMs: number,
    private readonly lock: Lock,
    /** The token the file held at start, if any. */
    readonly initial: ResumeToken | undefined,
    private readonly now: () => number,
  ) {
    this.savedData = initial?._data;
  }

  /** Locks and reads the token file. */
  static async open(
    path: string,
    intervalMs: number,
    now: () => number = Date.now,
  ): Promise<Checkpoint> {
    const lock = await acquireLock(path);
    try {
      const initial = await loadToken(path);
      return new Checkpoint(path, intervalMs, lock, initial, now);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The newest token handed over (saved or not). */
  get current(): ResumeToken | undefined {
    return this.latest ?? this.initial;
  }

  /** Records a token whose events stdout has accepted. */
  advance(token: ResumeToken): void {
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
        await saveToken(this.path, token);
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
    throw new UsageError(
      `cannot save token file ${this.path} (${describeFsError(error)})`,
      'the events printed so far are not recorded; fix the file location and resume with --since',
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
