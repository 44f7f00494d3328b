// `npm run bench -- --quick` as a smoke test: it starts its own server, runs every section,
// prints the closing line and writes one row per contender that read exactly N events.
// Speeds are never asserted (this machine is shared and noisy); only that figures exist.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Row {
  key: string;
  events: number;
  median: Record<string, number>;
}

function runBench(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.MONGODB_URI;
    const child = spawn(
      process.execPath,
      ['--import', './test/register.mjs', 'scripts/bench.ts', ...args],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bench-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('bench --quick: every contender reads N events, figures in the JSON, closing line', async () => {
  const json = path.join(dir, 'bench.json');
  const { code, stdout, stderr } = await runBench(['--quick', '--no-mongosh', '--json', json]);
  if (code !== 0) throw new Error(`bench exited ${code}:\n${stderr}`);

  const last = stdout.trimEnd().split('\n').at(-1);
  expect(last).toMatch(
    /^bench: json [\d.]+× less CPU per event than the driver loop, ([\d.]+×|n\/a) pymongo; wall [\d.]+×; p50 [\d.,]+ ms p99 [\d.,]+ ms; peak RSS [\d,]+ MB$/,
  );

  const results = JSON.parse(readFileSync(json, 'utf8')) as {
    throughput: { events: number; rows: Row[]; skipped: { key: string; reason: string }[] };
    scaling: { events: number; median: { eventsPerSec: number } }[];
    latency: { measured: number; p50Ms: number; p99Ms: number };
    memory: { peakRssMb: number; events: number };
    stall: { complete: boolean; inOrder: boolean };
    startup: { firstEvent: unknown[]; commands: unknown[] };
  };
  const { events, rows, skipped } = results.throughput;
  expect(events).toBe(5000);
  const keys = rows.map((r) => r.key);
  expect(keys).toEqual(expect.arrayContaining(['json', 'canonical', 'pretty', 'driver', 'raw']));
  // pymongo runs when it is importable; otherwise it is skipped with a printed reason.
  if (!keys.includes('pymongo')) {
    const reason = skipped.find((s) => s.key === 'pymongo')?.reason;
    expect(reason).toBeTruthy();
    expect(stdout).toContain(`pymongo loop: ${reason}`);
  }
  expect(skipped.find((s) => s.key === 'mongosh')?.reason).toBe('--no-mongosh');
  for (const row of rows) {
    expect(row.events).toBe(events);
    for (const figure of ['cpuUsPerEvent', 'wallMs', 'eventsPerSec', 'maxRssMb']) {
      expect(row.median[figure]).toBeGreaterThan(0);
    }
  }

  expect(results.scaling).toHaveLength(4);
  for (const size of results.scaling) expect(size.median.eventsPerSec).toBeGreaterThan(0);
  expect(results.latency.measured).toBeGreaterThan(0);
  expect(results.latency.p99Ms).toBeGreaterThanOrEqual(results.latency.p50Ms);
  expect(results.memory.events).toBe(100_000);
  expect(results.memory.peakRssMb).toBeGreaterThan(0);
  expect(results.stall).toMatchObject({ complete: true, inOrder: true });
  expect(results.startup.firstEvent.length).toBeGreaterThan(0);
  expect(results.startup.commands).toHaveLength(3);
}, 180_000);
