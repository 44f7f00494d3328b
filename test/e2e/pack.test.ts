// Packaging from a clone: `npm pack` (its prepack builds dist/) → `npm install -g` of the
// tarball → `mongo-tail --version`; and the bin's one-line hint when dist/ was never built.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HINT =
  'mongo-tail: dist/ is missing: run npm run build (or install the package from npm pack)';

// `npm run jest` hands its children npm_config_local_prefix=<repo> and friends: an npm started
// with them would pack (and clean) the real repo instead of the copy.
const ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)),
);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started at all (e.g. no npm on PATH). */
  spawnError?: NodeJS.ErrnoException;
}

function run(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (spawnError: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, spawnError });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A package dir with the real bin/ and package.json and, optionally, a stand-in dist/main.js. */
async function binOnly(dir: string, distMain?: string): Promise<string> {
  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
  if (distMain !== undefined) {
    await mkdir(join(dir, 'dist'));
    await writeFile(join(dir, 'dist', 'main.js'), distMain);
  }
  return join(dir, 'bin', 'mongo-tail.js');
}

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mongo-tail-pack-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('npm pack from a clone without dist/ → npm install -g → mongo-tail --version', async () => {
  // A clone: the sources and configs the build needs, no dist/; node_modules is linked so the
  // prepack build runs tsc without installing anything.
  const repo = join(tmp, 'repo');
  await mkdir(repo);
  for (const name of [
    'bin',
    'src',
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'README.md',
    'LICENSE',
  ]) {
    await cp(join(ROOT, name), join(repo, name), { recursive: true });
  }
  await symlink(join(ROOT, 'node_modules'), join(repo, 'node_modules'), 'dir');

  const packed = await run('npm', ['pack', '--pack-destination', tmp], repo);
  if (packed.spawnError) {
    console.log(`skipping: npm could not be started (${packed.spawnError.code})`);
    return;
  }
  expect({ code: packed.code, stderr: packed.stderr }).toEqual({
    code: 0,
    stderr: expect.any(String),
  });
  const tarballs = (await readdir(tmp)).filter((name) => name.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);
  const tarball = join(tmp, tarballs[0]!);

  // What the package holds: the bin, the build (no source maps), the license and readme.
  const listed = await run('tar', ['-tzf', tarball], tmp);
  expect(listed.code).toBe(0);
  const files = listed.stdout.split('\n').filter((line) => line !== '');
  expect(files).toEqual(
    expect.arrayContaining([
      'package/LICENSE',
      'package/README.md',
      'package/package.json',
      'package/bin/mongo-tail.js',
      'package/dist/main.js',
    ]),
  );
  expect(files.filter((f) => !/^package\/(bin|dist)\//.test(f)).sort()).toEqual([
    'package/LICENSE',
    'package/README.md',
    'package/package.json',
  ]);
  expect(files.filter((f) => /\.map$|\.test\.|\.ts$/.test(f))).toEqual([]);
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };

  // The dependencies come from the npm cache that `npm ci` filled, the registry for the rest.
  const prefix = join(tmp, 'global');
  const installed = await run(
    'npm',
    ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
    tmp,
  );
  if (
    installed.code !== 0 &&
    /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENOTCACHED|ECONNRESET/.test(installed.stderr)
  ) {
    console.log(`skipping the install: the registry cannot be reached\n${installed.stderr}`);
    return;
  }
  expect({ code: installed.code, stderr: installed.stderr }).toEqual({
    code: 0,
    stderr: expect.any(String),
  });

  const version = await run(join(prefix, 'bin', 'mongo-tail'), ['--version'], tmp);
  expect(version).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: '' });
}, 90_000);

test('the bin without dist/ says to build, in one line, exit 1', async () => {
  const bin = await binOnly(tmp);
  const ran = await run(process.execPath, [bin, '--version'], tmp, 20_000);
  expect(ran).toEqual({ code: 1, stdout: '', stderr: `${HINT}\n` });
}, 30_000);

test('the bin with dist/ but a missing dependency still shows that error', async () => {
  const bin = await binOnly(tmp, "import 'mongo-tail-no-such-package';\n");
  const ran = await run(process.execPath, [bin, '--version'], tmp, 20_000);
  expect(ran.code).toBe(1);
  expect(ran.stderr).toContain("Cannot find package 'mongo-tail-no-such-package'");
  expect(ran.stderr).not.toContain(HINT);
}, 30_000);
