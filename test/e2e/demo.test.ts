// The README's first command, `npm run demo`, as a user runs it: it must start its own replica
// set, show every kind of change of its story, and exit 0 by itself.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EJSON, type Document } from 'bson';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'demo', '--', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb', TZ: 'UTC', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run demo: tails its own replica set and exits 0 after the story', async () => {
  const { code, stdout, stderr } = await runDemo(['-f', 'json']);
  expect(code).toBe(0);
  expect(stderr).toMatch(/^demo: a test replica set is running at mongodb:\/\/127\.0\.0\.1:\d+\//);
  const events = stdout
    .trimEnd()
    .split('\n')
    .map((line) => EJSON.parse(line) as Document);
  expect(events.map((e) => `${e.operationType} ${e.ns.coll}`)).toEqual([
    'insert users',
    'insert orders',
    'insert orders',
    'update orders',
    'update orders',
    'replace orders',
    'delete orders',
    'update users',
  ]);
  // Pre-images are on for orders: the first update shows the document before it.
  expect(events[3]?.fullDocumentBeforeChange).toMatchObject({ _id: 1001, status: 'new' });
}, 30_000);

test('npm run demo in pretty format: one readable line per change', async () => {
  const { code, stdout } = await runDemo(['-f', 'pretty']);
  expect(code).toBe(0);
  const lines = stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(8);
  expect(lines[3]).toMatch(
    /^\d\d:\d\d:\d\d\.\d{3} update +shop\.orders 1001 \$set \{ status: 'new' → 'paid'/,
  );
  expect(stdout).not.toContain('\u001b[');
}, 30_000);
