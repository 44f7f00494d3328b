import { execFileSync, spawn } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hostname } from 'node:os';
import {
  acquireLock,
  Checkpoint,
  LOCK_SUFFIX,
  loadToken,
  lockContent,
  parseLock,
  saveToken,
  serializeToken,
} from './checkpoint.js';
import { ExitCode, TailError, UsageError } from './errors.js';

const A = { _data: '8266A1B2C3000000012B022C0100296E5A1004AA' };
const B = { _data: '8266A1B2C3000000022B022C0100296E5A1004BB' };
const C = { _data: '8266A1B2C3000000032B022C0100296E5A1004CC' };

/** A lock line as mongo-tail pid `pid` on this host would write it. */
function held(pid: number): string {
  return lockContent({ pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-ckpt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('token file format', () => {
  test('one line of Extended JSON, mode 0600, no temp files left', async () => {
    const path = join(dir, 'pos.json');
    await saveToken(path, A);
    expect(await readFile(path, 'utf8')).toBe(`{"_data":"${A._data}"}\n`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['pos.json']);
    expect(await loadToken(path)).toEqual(A);
    expect(serializeToken(B)).toBe(`{"_data":"${B._data}"}\n`);
  });

  test('a save replaces the file (rename), even one with wider permissions', async () => {
    const path = join(dir, 'pos.json');
    await writeFile(path, serializeToken(A), { mode: 0o644 });
    await saveToken(path, B);
    expect(await loadToken(path)).toEqual(B);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  test('missing file → undefined (first run)', async () => {
    expect(await loadToken(join(dir, 'nope.json'))).toBeUndefined();
  });

  test.each([
    ['', 'token file {F} is empty'],
    ['garbage', 'token file {F} does not hold a resume token'],
    ['{"_data": 5}', 'token file {F} does not hold a resume token'],
    ['{"_data": "zz"}', 'token file {F} does not hold a resume token'],
    ['@/etc/passwd', 'token file {F} does not hold a resume token'],
  ])(
    'invalid content %j → UsageError naming the file, file untouched',
    async (content, message) => {
      const path = join(dir, 'pos.json');
      await writeFile(path, content);
      const error = await loadToken(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).message).toBe(message.replace('{F}', path));
      // --since is ignored while the file exists: the hint must not suggest it alone.
      expect((error as UsageError).hint).toBe(
        `remove ${path} to start from now (or remove it and use --since to pick a start time)`,
      );
      expect(await readFile(path, 'utf8')).toBe(content);
    },
  );

  test('unreadable file → UsageError naming the file', async () => {
    const error = await loadToken(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`cannot read token file ${dir} (it is a directory)`);
  });
});

describe('paths that are no token file (a stop must never wait on them)', () => {
  test.each([
    ['a named pipe', 'fifo'],
    ['a device', 'device'],
  ])('token file that is %s: UsageError at once, nothing created beside it', async (kind, what) => {
    const path = join(dir, 'pos.json');
    // A plain open of a named pipe would wait for a writer forever.
    if (what === 'fifo') mkfifo(path);
    else await symlink('/dev/null', path);
    const started = Date.now();
    const error = await Checkpoint.open(path, 0).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`cannot read token file ${path} (it is ${kind})`);
    expect((error as UsageError).hint).toBe(
      '--token-file needs a regular file, or a path where one can be created',
    );
    expect(await readdir(dir)).toEqual(['pos.json']);
  });

  test('a symlink to a file that is no token: refused, target unchanged, no lock beside it', async () => {
    const other = join(dir, 'other', 'hostname');
    await mkdir(join(dir, 'other'));
    await writeFile(other, 'build-host\n');
    const path = join(dir, 'pos.json');
    await symlink(other, path);
    const error = await Checkpoint.open(path, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(`token file ${path} does not hold a resume token`);
    expect(await readFile(other, 'utf8')).toBe('build-host\n');
    expect(await readdir(join(dir, 'other'))).toEqual(['hostname']);
  });

  test.each([
    ['a named pipe', (lock: string) => Promise.resolve(mkfifo(lock))],
    [
      'a symlink to our own lock line',
      async (lock: string) => {
        await writeFile(`${lock}.real`, held(process.pid));
        await symlink(`${lock}.real`, lock);
      },
    ],
    ['a directory', (lock: string) => mkdir(lock)],
  ])("a lock path that is %s is someone else's: exit 2, left alone", async (_kind, make) => {
    const path = join(dir, 'pos.json');
    const lock = `${path}${LOCK_SUFFIX}`;
    await make(lock);
    const before = (await readdir(dir)).sort();
    const error = await Checkpoint.open(path, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      `${lock} exists and is not a mongo-tail lock; it is left alone`,
    );
    expect((await readdir(dir)).sort()).toEqual(before);
  });

  test("a named pipe named like a dead save's temp file is removed without opening it", async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    mkfifo(join(dir, `.pos.json.${dead}.0a1b2c3d.tmp`));
    const cp = await Checkpoint.open(path, 0);
    cp.advance(A);
    await cp.close();
    expect(await readdir(dir)).toEqual(['pos.json']);
    expect(await loadToken(path)).toEqual(A);
  });

  test('two saves within one millisecond use different temp files', async () => {
    const path = join(dir, 'pos.json');
    await Promise.all([saveToken(path, A), saveToken(path, B)]);
    expect([A, B]).toContainEqual(await loadToken(path));
    expect(await readdir(dir)).toEqual(['pos.json']);
  });
});

describe('lock', () => {
  test('the lock is <file>.mongo-tail.lock holding "mongo-tail <pid> <host> <start>"', async () => {
    const path = join(dir, 'pos.json');
    const lock = await acquireLock(path);
    expect(lock.path).toBe(`${path}${LOCK_SUFFIX}`);
    const text = await readFile(`${path}.mongo-tail.lock`, 'utf8');
    expect(text).toMatch(/^mongo-tail \d+ \S+ \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
    expect(parseLock(text)).toMatchObject({ pid: process.pid, host: hostname() });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  test('a second holder is refused while the first holds it; release frees it', async () => {
    const path = join(dir, 'pos.json');
    const lockPath = `${path}${LOCK_SUFFIX}`;
    const lock = await acquireLock(path);
    // Simulate another live process: pid 1 exists.
    await writeFile(lockPath, held(1));
    const error = await acquireLock(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      `token file ${path} is in use by another mongo-tail (pid 1)`,
    );
    // Our release leaves someone else's lock alone.
    await lock.release();
    expect(await readFile(lockPath, 'utf8')).toBe(held(1));
    await rm(lockPath);
    const again = await acquireLock(path);
    await again.release();
    expect(await readdir(dir)).toEqual([]);
  });

  test('a holder on another host counts as live (its pid cannot be checked)', async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    const other = lockContent({ pid: dead, host: 'elsewhere', started: '2026-01-01T00:00:00Z' });
    await writeFile(`${path}${LOCK_SUFFIX}`, other);
    const error = await acquireLock(path).catch((e: unknown) => e);
    expect((error as UsageError).message).toBe(
      `token file ${path} is in use by another mongo-tail (pid ${dead} on host elsewhere)`,
    );
    expect(await readFile(`${path}${LOCK_SUFFIX}`, 'utf8')).toBe(other);
  });

  test('a stale lock (dead pid) is taken over', async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    await writeFile(`${path}${LOCK_SUFFIX}`, held(dead));
    const lock = await acquireLock(path);
    expect(parseLock(await readFile(`${path}${LOCK_SUFFIX}`, 'utf8'))?.pid).toBe(process.pid);
    await lock.release();
  });

  test('an unrelated <file>.lock is never touched (issue 8: Gemfile.lock)', async () => {
    const path = join(dir, 'Gemfile');
    await writeFile(`${path}.lock`, 'GEM\n  specs:\n');
    const lock = await acquireLock(path);
    expect(await readFile(`${path}.lock`, 'utf8')).toBe('GEM\n  specs:\n');
    await lock.release();
    expect(await readdir(dir)).toEqual(['Gemfile.lock']);
  });

  test.each([
    ['a Gemfile.lock-like text', 'GEM\n  specs:\n'],
    ['an empty file', ''],
    ['a bare pid (an older lock format)', `${process.pid}\n`],
    ['our line with junk after it', `${held(1).trim()} extra\n`],
  ])(
    'a file at the lock name that is not ours (%s): exit 2, left as it was',
    async (_, content) => {
      const path = join(dir, 'pos.json');
      const lockPath = `${path}${LOCK_SUFFIX}`;
      await writeFile(lockPath, content);
      const error = await acquireLock(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(ExitCode.Usage);
      expect((error as UsageError).message).toBe(
        `${lockPath} exists and is not a mongo-tail lock; it is left alone`,
      );
      expect(await readFile(lockPath, 'utf8')).toBe(content);
      expect(await readdir(dir)).toEqual([basename(lockPath)]);
    },
  );

  test('a starter that saw a dead pid but was overtaken leaves the new holder alone', async () => {
    // The interleaving of a stale-lock race, made deterministic: the child reads the lock
    // (dead pid), then pauses; meanwhile a faster starter (this process, alive) replaces the
    // stale lock with its own. The child must not remove that lock nor run.
    const path = join(dir, 'pos.json');
    const lockPath = `${path}${LOCK_SUFFIX}`;
    await writeFile(lockPath, held(await deadPid()));
    const pause = join(dir, 'pause.mjs');
    await writeFile(pause, pauseAfterFirstLockRead(join(dir, 'paused'), join(dir, 'go')));
    const child = runChild(path, [pause]);
    await waitFor(async () => (await readdir(dir)).includes('paused'));
    await unlink(lockPath);
    await writeFile(lockPath, held(process.pid));
    await writeFile(join(dir, 'go'), '');
    expect(await child).toContain(
      `token file ${path} is in use by another mongo-tail (pid ${process.pid})`,
    );
    expect(await readFile(lockPath, 'utf8')).toBe(held(process.pid));
  });

  test('a takeover guard left by a starter killed mid-takeover is taken over too', async () => {
    const path = join(dir, 'pos.json');
    const lockPath = `${path}${LOCK_SUFFIX}`;
    const dead = await deadPid();
    await writeFile(lockPath, held(dead));
    await writeFile(`${lockPath}.${dead}.takeover`, held(await deadPid()));
    const lock = await acquireLock(path);
    expect(parseLock(await readFile(lockPath, 'utf8'))?.pid).toBe(process.pid);
    expect(await readdir(dir)).toEqual(['pos.json.mongo-tail.lock']);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  test.each([
    ['an existing file', true],
    ['a file still to be created', false],
  ])('a symlink to %s shares the lock of its target', async (_, exists) => {
    const real = join(dir, 'a.pos');
    const alias = join(dir, 'b.pos');
    if (exists) await saveToken(real, A);
    await symlink('a.pos', alias);
    const lock = await acquireLock(real);
    await writeFile(`${real}${LOCK_SUFFIX}`, held(1)); // held by another live process
    const error = await acquireLock(alias).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      `token file ${alias} is in use by another mongo-tail (pid 1)`,
    );
    expect((error as UsageError).hint).toBe(
      `two processes cannot share one token file; if pid 1 is not mongo-tail, remove ${real}.mongo-tail.lock`,
    );
    await lock.release();
    await rm(`${real}${LOCK_SUFFIX}`);
  });

  test('a file reached through a symlinked directory shares the lock too', async () => {
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const lock = await acquireLock(join(dir, 'link', 'pos.json'));
    expect(lock.path).toBe(join(dir, 'real', 'pos.json.mongo-tail.lock'));
    expect(await readdir(join(dir, 'real'))).toEqual(['pos.json.mongo-tail.lock']);
    await lock.release();
    expect(await readdir(join(dir, 'real'))).toEqual([]);
  });

  test('a lock in a missing directory is a usage error', async () => {
    const error = await acquireLock(join(dir, 'no', 'pos.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toContain('cannot create lock file');
  });

  test('an unwritable directory is a usage error', async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; the missing-directory test covers the path.
      console.log('skipping the read-only directory check: running as root');
      return;
    }
    await chmod(dir, 0o500);
    const error = await acquireLock(join(dir, 'pos.json')).catch((e: unknown) => e);
    await chmod(dir, 0o700);
    expect((error as UsageError).message).toContain('permission denied');
  });
});

describe('Checkpoint', () => {
  test('first run: nothing saved until a token is handed over; close saves and unlocks', async () => {
    const path = join(dir, 'pos.json');
    const cp = await Checkpoint.open(path, 1000);
    expect(cp.initial).toBeUndefined();
    await cp.flush();
    expect(await readdir(dir)).toEqual(['pos.json.mongo-tail.lock']);
    cp.advance(A);
    await cp.close();
    expect(await loadToken(path)).toEqual(A);
    expect(await readdir(dir)).toEqual(['pos.json']);
  });

  test('reads the existing token and refuses a second open of the same file', async () => {
    const path = join(dir, 'pos.json');
    await saveToken(path, A);
    const first = await Checkpoint.open(path, 1000);
    expect(first.initial).toEqual(A);
    // The lock holds our own pid: a second open in this process would take it over, so
    // check the cross-process refusal with a child process.
    const out = await runChild(path);
    expect(out).toContain(
      `token file ${path} is in use by another mongo-tail (pid ${process.pid})`,
    );
    await first.close();
  });

  test('saves are coalesced to the interval and always flushed on close', async () => {
    const path = join(dir, 'pos.json');
    let clock = 10_000;
    const cp = await Checkpoint.open(path, 1000, () => clock);
    cp.advance(A);
    cp.batchDone(); // first save: immediately
    await cp.flush();
    expect(await loadToken(path)).toEqual(A);

    clock += 100;
    cp.advance(B);
    cp.batchDone(); // within the interval: scheduled, not written yet
    await new Promise((r) => setImmediate(r));
    expect(await loadToken(path)).toEqual(A);

    cp.advance(C);
    await cp.close(); // close writes the newest
    expect(await loadToken(path)).toEqual(C);
  });

  test('positions only move forward: an older token is ignored, with one warning', async () => {
    const path = join(dir, 'pos.json');
    const warnings: string[] = [];
    const cp = await Checkpoint.open(path, 1000, Date.now, (m) => warnings.push(m));
    cp.advance(B);
    cp.advance(A); // sorts before B
    cp.advance({ _data: A._data.toLowerCase() }); // case does not matter
    expect(cp.current).toEqual(B);
    cp.advance(C);
    expect(cp.current).toEqual(C);
    await cp.close();
    expect(await loadToken(path)).toEqual(C);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`ignored a resume token that sorts before the last position`);
  });

  test('a token older than the one in the file is not saved either', async () => {
    const path = join(dir, 'pos.json');
    await saveToken(path, B);
    const cp = await Checkpoint.open(path, 1000);
    cp.advance(A);
    await cp.close();
    expect(await loadToken(path)).toEqual(B);
  });

  test('a scheduled save happens after the interval without further calls', async () => {
    const path = join(dir, 'pos.json');
    const cp = await Checkpoint.open(path, 50);
    cp.advance(A);
    cp.batchDone();
    await cp.flush();
    cp.advance(B);
    cp.batchDone();
    await waitFor(async () => (await loadToken(path))?._data === B._data);
    await cp.close();
  });

  test('saves through a symlink go to its target; the symlink stays', async () => {
    const real = join(dir, 'a.pos');
    const alias = join(dir, 'b.pos');
    await saveToken(real, A);
    await symlink('a.pos', alias);
    const cp = await Checkpoint.open(alias, 1000);
    expect(cp.initial).toEqual(A);
    cp.advance(B);
    await cp.close();
    expect((await lstat(alias)).isSymbolicLink()).toBe(true);
    expect(await loadToken(real)).toEqual(B);
    expect((await readdir(dir)).sort()).toEqual(['a.pos', 'b.pos']);
    // saveToken on its own writes through as well.
    await saveToken(alias, C);
    expect((await lstat(alias)).isSymbolicLink()).toBe(true);
    expect(await loadToken(real)).toEqual(C);
  });

  test('a failing save is an unexpected error (exit 1) naming the file, not a usage error', async () => {
    const path = join(dir, 'sub', 'pos.json');
    await mkdir(join(dir, 'sub'));
    const cp = await Checkpoint.open(path, 0);
    await rm(join(dir, 'sub'), { recursive: true });
    cp.advance(A);
    const error = await cp.close().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TailError);
    expect(error).not.toBeInstanceOf(UsageError);
    expect((error as TailError).exitCode).toBe(ExitCode.Unexpected);
    expect((error as TailError).message).toBe(
      `cannot save token file ${path} (no such file or directory)`,
    );
    expect((error as TailError).hint).toBe(
      `no position was saved to ${path} yet; the next run starts as this one did`,
    );
  });
});

describe('temp files (issue 8)', () => {
  test('at start, temp files of this token file left by dead processes are removed, nothing else', async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    const stale = [
      `.pos.json.${dead}.mi1x2y3z.tmp`, // a save killed with -9
      `.pos.json.mongo-tail.lock.${dead}.0a1b2c3d.tmp`, // a lock being created
      `.pos.json.mongo-tail.lock.${dead}.takeover.${dead}.0a1b2c3d.tmp`,
    ];
    const kept = [
      '.pos.json.1.mi1x2y3z.tmp', // pid 1 is alive: maybe saving right now
      `.other.json.${dead}.mi1x2y3z.tmp`, // another token file's
      `pos.json.${dead}.mi1x2y3z.tmp`, // not our name shape
      `.pos.json.${dead}.mi1x2y3z.tmp.bak`,
      `.pos.json.${dead}.MI1X.tmp`,
      '.pos.json.tmp',
    ];
    for (const name of [...stale, ...kept]) await writeFile(join(dir, name), 'x');
    const cp = await Checkpoint.open(path, 1000);
    expect((await readdir(dir)).sort()).toEqual([...kept, 'pos.json.mongo-tail.lock'].sort());
    await cp.close();
  });

  test('a save that fails while writing (disk full): temp file removed, the file intact, the hint says so', async () => {
    const path = join(dir, 'pos.json');
    // ulimit -f 1: writes to regular files past 512 or 1024 bytes fail with EFBIG (SIGXFSZ is
    // ignored): the lock (one short line) is written, a 1.2 KB token is not.
    const big = { _data: `82${'AB'.repeat(600)}` };
    const script = `
      import { Checkpoint } from ${JSON.stringify(new URL('./checkpoint.ts', import.meta.url).pathname)};
      process.on('SIGXFSZ', () => undefined);
      const cp = await Checkpoint.open(${JSON.stringify(path)}, 0);
      cp.advance(${JSON.stringify(A)});
      await cp.flush();
      cp.advance(${JSON.stringify(big)});
      try { await cp.close(); console.log('saved'); } catch (e) { console.log(e.message + '|' + e.hint); }
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        'sh',
        [
          '-c',
          'ulimit -f 1; exec "$0" --import "$1" --input-type=module -e "$2"',
          process.execPath,
          new URL('../test/register.mjs', import.meta.url).pathname,
          script,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('exit', () => resolve(text));
    });
    // The file still holds A, and the hint says so instead of suggesting --since (issue 8).
    expect(out).toContain(
      `cannot save token file ${path} (file too large)|${path} still holds the last saved position; ` +
        'the next run continues from there (the events printed after it come again)',
    );
    expect(out).not.toContain('--since');
    expect(await loadToken(path)).toEqual(A);
    expect(await readdir(dir)).toEqual(['pos.json']);
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid ?? 999_999));
  });
}

/**
 * A module for `--import` that pauses the process right after its first read of a `.lock`
 * file (when it closes the file it read): it creates `paused`, then waits for `go` to exist.
 */
function pauseAfterFirstLockRead(paused: string, go: string): string {
  return `
    import { createRequire, syncBuiltinESMExports } from 'node:module';
    import { existsSync, writeFileSync } from 'node:fs';
    const fs = createRequire(import.meta.url)('node:fs/promises');
    const open = fs.open;
    let done = false;
    fs.open = async (file, ...rest) => {
      const handle = await open(file, ...rest);
      if (!done && String(file).endsWith('.mongo-tail.lock')) {
        done = true;
        const close = handle.close.bind(handle);
        handle.close = async () => {
          await close();
          writeFileSync(${JSON.stringify(paused)}, '');
          while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 10));
        };
      }
      return handle;
    };
    syncBuiltinESMExports();
  `;
}

/** Opens the checkpoint from another process; returns its stdout+stderr. */
function runChild(path: string, imports: string[] = []): Promise<string> {
  const script = `
    import { Checkpoint } from ${JSON.stringify(new URL('./checkpoint.ts', import.meta.url).pathname)};
    try { await Checkpoint.open(${JSON.stringify(path)}, 1000); console.log('opened'); }
    catch (e) { console.log(e.message); }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        new URL('../test/register.mjs', import.meta.url).pathname,
        ...imports.flatMap((file) => ['--import', file]),
        '--input-type=module',
        '-e',
        script,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out));
  });
}

test('_typeBits is kept through save and load', async () => {
  const { Binary } = await import('bson');
  const path = join(dir, 'pos.json');
  const token = { _data: A._data, _typeBits: new Binary(Buffer.from([0x40]), 0) };
  await saveToken(path, token);
  expect(await readFile(path, 'utf8')).toBe(
    `{"_data":"${A._data}","_typeBits":{"$binary":{"base64":"QA==","subType":"00"}}}\n`,
  );
  const back = await loadToken(path);
  expect(back?._data).toBe(A._data);
  expect(Buffer.from(back?._typeBits?.buffer ?? []).toString('hex')).toBe('40');
});
