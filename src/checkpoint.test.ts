import { spawn } from 'node:child_process';
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
import { join } from 'node:path';
import { acquireLock, Checkpoint, loadToken, saveToken, serializeToken } from './checkpoint.js';
import { ExitCode, TailError, UsageError } from './errors.js';

const A = { _data: '8266A1B2C3000000012B022C0100296E5A1004AA' };
const B = { _data: '8266A1B2C3000000022B022C0100296E5A1004BB' };
const C = { _data: '8266A1B2C3000000032B022C0100296E5A1004CC' };

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

describe('lock', () => {
  test('a second holder is refused while the first holds it; release frees it', async () => {
    const path = join(dir, 'pos.json');
    const lock = await acquireLock(path);
    expect((await readFile(`${path}.lock`, 'utf8')).trim()).toBe(String(process.pid));
    // Same pid counts as "ours" for take-over; simulate another live process: pid 1 exists.
    await writeFile(`${path}.lock`, '1\n');
    const error = await acquireLock(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      `token file ${path} is in use by another mongo-tail (pid 1)`,
    );
    // Our release leaves someone else's lock alone.
    await lock.release();
    expect(await readFile(`${path}.lock`, 'utf8')).toBe('1\n');
    await rm(`${path}.lock`);
    const again = await acquireLock(path);
    await again.release();
    expect(await readdir(dir)).toEqual([]);
  });

  test('a stale lock (dead pid) is taken over', async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    await writeFile(`${path}.lock`, `${dead}\n`);
    const lock = await acquireLock(path);
    expect((await readFile(`${path}.lock`, 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
  });

  test('a starter that saw a dead pid but was overtaken leaves the new holder alone', async () => {
    // The interleaving of a stale-lock race, made deterministic: the child reads the lock
    // (dead pid), then pauses; meanwhile a faster starter (this process, alive) replaces the
    // stale lock with its own. The child must not remove that lock nor run.
    const path = join(dir, 'pos.json');
    await writeFile(`${path}.lock`, `${await deadPid()}\n`);
    const pause = join(dir, 'pause.mjs');
    await writeFile(pause, pauseAfterFirstLockRead(join(dir, 'paused'), join(dir, 'go')));
    const child = runChild(path, [pause]);
    await waitFor(async () => (await readdir(dir)).includes('paused'));
    await unlink(`${path}.lock`);
    await writeFile(`${path}.lock`, `${process.pid}\n`);
    await writeFile(join(dir, 'go'), '');
    expect(await child).toContain(
      `token file ${path} is in use by another mongo-tail (pid ${process.pid})`,
    );
    expect(await readFile(`${path}.lock`, 'utf8')).toBe(`${process.pid}\n`);
  });

  test('a takeover guard left by a starter killed mid-takeover is taken over too', async () => {
    const path = join(dir, 'pos.json');
    const dead = await deadPid();
    await writeFile(`${path}.lock`, `${dead}\n`);
    await writeFile(`${path}.lock.${dead}.takeover`, `${await deadPid()}\n`);
    const lock = await acquireLock(path);
    expect(await readFile(`${path}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    expect(await readdir(dir)).toEqual(['pos.json.lock']);
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
    await writeFile(`${real}.lock`, '1\n'); // held by another live process
    const error = await acquireLock(alias).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
      `token file ${alias} is in use by another mongo-tail (pid 1)`,
    );
    expect((error as UsageError).hint).toBe(
      `two processes cannot share one token file; if pid 1 is not mongo-tail, remove ${real}.lock`,
    );
    await lock.release();
    await rm(`${real}.lock`);
  });

  test('a file reached through a symlinked directory shares the lock too', async () => {
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const lock = await acquireLock(join(dir, 'link', 'pos.json'));
    expect(lock.path).toBe(join(dir, 'real', 'pos.json.lock'));
    expect(await readdir(join(dir, 'real'))).toEqual(['pos.json.lock']);
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
    expect(await readdir(dir)).toEqual(['pos.json.lock']);
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
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
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
 * file: it creates `paused`, then waits for `go` to exist.
 */
function pauseAfterFirstLockRead(paused: string, go: string): string {
  return `
    import { createRequire, syncBuiltinESMExports } from 'node:module';
    import { existsSync, writeFileSync } from 'node:fs';
    const fs = createRequire(import.meta.url)('node:fs/promises');
    const readFile = fs.readFile;
    let done = false;
    fs.readFile = async (file, ...rest) => {
      const result = await readFile(file, ...rest);
      if (!done && String(file).endsWith('.lock')) {
        done = true;
        writeFileSync(${JSON.stringify(paused)}, '');
        while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 10));
      }
      return result;
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
