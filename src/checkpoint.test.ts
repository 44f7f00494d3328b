import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, Checkpoint, loadToken, saveToken, serializeToken } from './checkpoint.js';
import { UsageError } from './errors.js';

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
      expect((error as UsageError).hint).toBe(
        `remove ${path} to start from now, or use --since to pick a start time`,
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

  test('a failing save surfaces as a UsageError naming the file', async () => {
    const path = join(dir, 'sub', 'pos.json');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'sub')));
    const cp = await Checkpoint.open(path, 0);
    await rm(join(dir, 'sub'), { recursive: true });
    cp.advance(A);
    const error = await cp.close().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe(
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

/** Opens the checkpoint from another process; returns its stdout+stderr. */
function runChild(path: string): Promise<string> {
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
