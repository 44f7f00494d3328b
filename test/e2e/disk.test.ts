// Disk trouble around the token file: a directory that turns read-only, a full disk, a token
// path that is a directory or a symlink to some other file, a token file replaced by a
// directory mid-run. Each ends with one clear line naming the file and the documented exit
// code (2 at start: the token file is unusable; 1 mid-run: it worked at start), the previous
// token intact and no temp files left.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { loadToken } from '../../src/checkpoint.js';
import { testUri, uniqueDbName } from '../helpers/testenv.js';
import { runCli, startCli } from './harness.js';
import { clusterTime, connect, eventually, type AnyDoc, SUMMARY_ONLY } from './util.js';

let client: MongoClient;
let dir: string;
/** Mounted tmpfs directories (root only), or why there are none. */
const tmpfs: { readOnly?: string; full?: string; reason?: string } = {};

/** Mounts a tmpfs of `size` at `path`; undefined when mounted, else why not. */
function mountTmpfs(path: string, size: string): string | undefined {
  if (process.platform !== 'linux') return 'mounting a tmpfs needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', path]);
  if (result.status === 0) return undefined;
  return `mount -t tmpfs failed: ${String(result.stderr ?? result.error).trim()}`;
}

function unmount(path: string | undefined): void {
  if (path !== undefined) spawnSync('umount', ['-l', path]);
}

/** Remounts a tmpfs read-only or back; retried while a save holds a file open (EBUSY). */
async function remount(path: string, mode: 'ro' | 'rw'): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const result = spawnSync('mount', ['-o', `remount,${mode}`, path]);
    if (result.status === 0) return;
    last = String(result.stderr).trim();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`mount -o remount,${mode} ${path} failed: ${last}`);
}

beforeAll(async () => {
  client = await connect();
  dir = await mkdtemp(join(tmpdir(), 'mongo-tail-disk-'));
  for (const [name, size] of [
    ['readOnly', '1m'],
    ['full', '256k'],
  ] as const) {
    const path = join(dir, name);
    await mkdir(path);
    const reason = mountTmpfs(path, size);
    if (reason === undefined) tmpfs[name] = path;
    else tmpfs.reason = reason;
  }
});
afterAll(async () => {
  unmount(tmpfs.readOnly);
  unmount(tmpfs.full);
  await client.close();
  await rm(dir, { recursive: true, force: true });
});

/** The `_id._data` (resume token) of an output line. */
function tokenOf(line: string | undefined): string {
  return (JSON.parse(line ?? '{}') as { _id: { _data: string } })._id._data;
}

/**
 * A running tailer on a fresh collection with `file` as token file, saving after every batch,
 * once it has printed two events and saved the second one's position.
 */
async function tailerSaved(name: string, file: string) {
  const db = uniqueDbName(name);
  const coll = client.db(db).collection<AnyDoc>('c');
  const since = await clusterTime(client);
  await coll.insertMany([{ _id: 1 }, { _id: 2 }]);
  const run = startCli([
    '--uri',
    testUri(),
    '--since',
    since,
    '--token-file',
    file,
    '--checkpoint-interval',
    '0s',
    `${db}.c`,
  ]);
  const lines = await run.waitForLines(2);
  const second = tokenOf(lines[1]);
  await eventually(
    async () => ((await loadToken(file).catch(() => undefined))?._data ?? '') >= second,
    8000,
    'the second event saved',
  );
  return { coll, run };
}

/** The stderr of a failed save: one line naming the file and the cause, one hint line. */
function saveFailure(file: string, cause: string, hint: string): string {
  return `mongo-tail: cannot save token file ${file} (${cause})\nhint: ${hint}\n`;
}

const STILL_HOLDS = (file: string): string =>
  `${file} still holds the last saved position; the next run continues from there ` +
  '(the events printed after it come again)';

test('the token directory turns read-only mid-run: exit 1 naming the file, token intact', async () => {
  // chmod does not stop root: then a read-only remount of a tmpfs does it.
  const root = process.getuid?.() === 0;
  if (root && tmpfs.readOnly === undefined) {
    console.log(`skipping: running as root, chmod is ignored and ${tmpfs.reason}`);
    return;
  }
  const home = root ? (tmpfs.readOnly as string) : join(dir, 'ro');
  if (!root) await mkdir(home);
  const file = join(home, 'pos.json');
  const { coll, run } = await tailerSaved('readonly', file);
  const before = await readFile(file);
  if (root) await remount(home, 'ro');
  else await chmod(home, 0o500);
  try {
    await coll.insertMany([{ _id: 3 }, { _id: 4 }]);
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      saveFailure(file, root ? 'read-only file system' : 'permission denied', STILL_HOLDS(file)),
    );
    expect(await readFile(file)).toEqual(before);
    // The lock could not be removed from a read-only directory; nothing else was left.
    expect((await readdir(home)).filter((name) => !name.endsWith('.mongo-tail.lock'))).toEqual([
      'pos.json',
    ]);
  } finally {
    if (root) await remount(home, 'rw');
    else await chmod(home, 0o700);
  }
  // Writable again: the next run takes over the lock left behind and continues after event 2.
  const next = await runCli([
    '--uri',
    testUri(),
    '--token-file',
    file,
    '--until',
    'now',
    coll.dbName + '.c',
  ]);
  expect(next.stderr).toMatch(SUMMARY_ONLY);
  expect(next.code).toBe(0);
  expect(
    next.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).documentKey._id),
  ).toEqual([3, 4]);
  expect(await readdir(home)).toEqual(['pos.json']);
}, 30_000);

test('a read-only token directory at start: exit 2 naming the lock file, nothing written', async () => {
  const root = process.getuid?.() === 0;
  if (root && tmpfs.readOnly === undefined) {
    console.log(`skipping: running as root, chmod is ignored and ${tmpfs.reason}`);
    return;
  }
  const home = root ? join(tmpfs.readOnly as string, 'start') : join(dir, 'ro-start');
  await mkdir(home);
  const file = join(home, 'pos.json');
  if (root) await remount(tmpfs.readOnly as string, 'ro');
  else await chmod(home, 0o500);
  try {
    const result = await runCli(['--uri', testUri(), '--token-file', file, 'a.b']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `mongo-tail: cannot create lock file ${file}.mongo-tail.lock ` +
        `(${root ? 'read-only file system' : 'permission denied'})\n` +
        `hint: is the directory of --token-file ${file} there and writable?\n`,
    });
  } finally {
    if (root) await remount(tmpfs.readOnly as string, 'rw');
    else await chmod(home, 0o700);
  }
  expect(await readdir(home)).toEqual([]);
}, 20_000);

test('no space left on device: exit 1 naming the file, the previous token intact, no temp files', async () => {
  if (tmpfs.full === undefined) {
    console.log(`skipping: ${tmpfs.reason}`);
    return;
  }
  const home = tmpfs.full;
  const file = join(home, 'pos.json');
  const { coll, run } = await tailerSaved('enospc', file);
  // Fill the tmpfs: the next save cannot write its temp file.
  const filler = join(home, 'filler');
  let filled = false;
  for (let i = 0; i < 4096 && !filled; i += 1) {
    try {
      await writeFile(filler, Buffer.alloc(4096, 1), { flag: 'a' });
    } catch (error) {
      filled = (error as { code?: string }).code === 'ENOSPC';
      if (!filled) throw error;
    }
  }
  expect(filled).toBe(true);
  const saved = await readFile(file);
  await coll.insertMany([{ _id: 3 }, { _id: 4 }]);
  const result = await run.done;
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(saveFailure(file, 'no space left on device', STILL_HOLDS(file)));
  // The failed saves changed nothing: the file holds what it held when the disk filled up.
  expect(await readFile(file)).toEqual(saved);
  expect(await loadToken(file)).toBeDefined();
  expect((await readdir(home)).sort()).toEqual(['filler', 'pos.json']);
  await rm(filler);
}, 30_000);

test('the token path is a directory: exit 2 naming it, nothing created beside it', async () => {
  const home = join(dir, 'isdir');
  const file = join(home, 'pos.json');
  await mkdir(file, { recursive: true });
  const result = await runCli(['--uri', testUri(), '--token-file', file, 'a.b']);
  expect(result).toEqual({
    code: 2,
    stdout: '',
    stderr:
      `mongo-tail: cannot read token file ${file} (it is a directory)\n` +
      'hint: --token-file needs a regular file, or a path where one can be created\n',
  });
  expect(await readdir(home)).toEqual(['pos.json']);
}, 20_000);

test('a symlink to a file that is no token file: exit 2, the file unchanged, no lock beside it', async () => {
  const other = join(dir, 'etc');
  await mkdir(other);
  const hostname = join(other, 'hostname');
  const content = existsSync('/etc/hostname') ? readFileSync('/etc/hostname') : 'some-host\n';
  await writeFile(hostname, content);
  const file = join(dir, 'linked-other.json');
  await symlink(hostname, file);
  const result = await runCli(['--uri', testUri(), '--token-file', file, 'a.b']);
  expect(result.code).toBe(2);
  expect(result.stderr.split('\n')[0]).toBe(
    `mongo-tail: token file ${file} does not hold a resume token`,
  );
  expect(await readFile(hostname)).toEqual(Buffer.from(content));
  expect(await readdir(other)).toEqual(['hostname']);
  expect((await lstat(file)).isSymbolicLink()).toBe(true);
}, 20_000);

test('a symlink to a token file is followed: saves go to the target, the symlink stays', async () => {
  const db = uniqueDbName('symlink');
  const coll = client.db(db).collection<AnyDoc>('c');
  const since = await clusterTime(client);
  await coll.insertMany([{ _id: 1 }, { _id: 2 }]);
  const targets = join(dir, 'targets');
  await mkdir(targets);
  const target = join(targets, 'real.json');
  const file = join(dir, `${db}.json`);
  await symlink(target, file);
  const args = ['--uri', testUri(), '--since', since, '--token-file', file, `${db}.c`];
  const first = await runCli([...args, '-n', '1']);
  expect(first.code).toBe(0);
  const firstToken = (await loadToken(target))?._data;
  expect(firstToken).toBe(tokenOf(first.stdout));
  await coll.insertOne({ _id: 3 });
  const second = await runCli([...args, '--until', 'now']);
  expect(second.code).toBe(0);
  expect(
    second.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).documentKey._id),
  ).toEqual([2, 3]);
  expect((await lstat(file)).isSymbolicLink()).toBe(true);
  expect(((await loadToken(target))?._data ?? '') > (firstToken ?? '')).toBe(true);
  expect(await readdir(targets)).toEqual(['real.json']);
}, 20_000);

test('the token file replaced by a directory mid-run: exit 1 naming it, the moved file intact', async () => {
  const home = join(dir, 'replaced');
  await mkdir(home);
  const file = join(home, 'pos.json');
  const { coll, run } = await tailerSaved('replaced', file);
  await rename(file, `${file}.moved`);
  const moved = await readFile(`${file}.moved`);
  await mkdir(file);
  await coll.insertMany([{ _id: 3 }, { _id: 4 }]);
  const result = await run.done;
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(
    saveFailure(
      file,
      'it is a directory',
      `something replaced ${file} with a directory; move it away and put the token file ` +
        'back, or the next run starts as this one did',
    ),
  );
  expect(await readFile(`${file}.moved`)).toEqual(moved);
  expect(await loadToken(`${file}.moved`)).toBeDefined();
  expect((await readdir(home)).sort()).toEqual(['pos.json', 'pos.json.moved']);
  expect(await readdir(file)).toEqual([]);
}, 20_000);
