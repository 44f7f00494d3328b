// `npm run conformance`: MongoDB's unified change-stream tests against the test backend.
// Data: MONGO_TAIL_CONFORMANCE_DIR, else ../shared/conformance/change-streams beside the repo
// (never copied into it: its licence forbids that). Backend: as for jest (test/helpers/backend.ts);
// MONGO_TAIL_CONFORMANCE_TOPOLOGY=standalone starts the built-in server as a standalone, =sharded
// as a mongos in front of two shards (unless MONGO_TAIL_TEST_SHARDED_URI names a real sharded
// cluster: then that; MONGO_TAIL_TEST_URI, a replica set, does not serve for this run).
// The runner reads the topology from hello, so each test's runOnRequirements apply as they would.
// MONGO_TAIL_CONFORMANCE_FILTER=<substring> runs only matching `file: description` tests.
// One line per test on stderr; exactly one summary line on stdout; exit 1 on any failure.
// Against MONGO_TAIL_TEST_URI the tests drop and rewrite the databases they name (database0,
// database1, change-stream-tests): never point it at data you care about.
import { existsSync, statSync } from 'node:fs';
import { describeBackend, startBackend } from '../helpers/backend.js';
import { startTestServer } from '../server/index.js';
import type { Backend } from '../helpers/backend.js';
import { dataDir, resultLine, summaryLine } from './report.js';
import { listTestFiles, runDirectory } from './runner.js';
import type { TestResult } from './runner.js';

/** The built-in server as a sharded cluster (backend.ts starts only replica sets and standalones). */
async function shardedBackend(): Promise<Backend> {
  const server = await startTestServer({ topology: 'sharded', shards: 2, noopIntervalMs: 100 });
  return { kind: 'test-server', uri: server.uri, stop: () => server.stop() };
}

async function main(): Promise<number> {
  const err = (line: string) => process.stderr.write(`${line}\n`);
  const dir = dataDir();
  if (!existsSync(dir) || !statSync(dir).isDirectory() || listTestFiles(dir).length === 0) {
    err(`conformance: skipped — no data at ${dir}`);
    process.stdout.write(`${summaryLine(0, 0, 0)}\n`);
    return 0;
  }
  let backend: Backend | undefined;
  try {
    const topology = process.env['MONGO_TAIL_CONFORMANCE_TOPOLOGY'];
    const shardedUri = process.env['MONGO_TAIL_TEST_SHARDED_URI'];
    backend =
      topology === 'sharded'
        ? shardedUri
          ? { kind: 'uri', uri: shardedUri, stop: () => Promise.resolve() }
          : await shardedBackend()
        : await startBackend({
            topology: topology === 'standalone' ? 'standalone' : 'replset',
            warn: (line) => err(`conformance: ${line}`),
          });
    err(`conformance: ${dir} on ${describeBackend(backend)}`);
    const filter = process.env['MONGO_TAIL_CONFORMANCE_FILTER'] || undefined;
    if (filter) err(`conformance: only tests matching "${filter}"`);
    const results = await runDirectory(dir, {
      uri: backend.uri,
      filter,
      serverless: process.env['MONGO_TAIL_CONFORMANCE_SERVERLESS'] === '1',
      onResult: (r) => err(resultLine(r)),
    });
    const count = (s: TestResult['status']) => results.filter((r) => r.status === s).length;
    const failed = count('fail');
    process.stdout.write(`${summaryLine(count('pass'), failed, count('skip'))}\n`);
    return failed > 0 ? 1 : 0;
  } catch (error) {
    err(`conformance: could not run — ${error instanceof Error ? error.message : String(error)}`);
    // Counted as a failure so a reader of the summary line alone is not misled.
    process.stdout.write(`${summaryLine(0, 1, 0)}\n`);
    return 1;
  } finally {
    await backend?.stop().catch((e: unknown) => err(`conformance: stopping backend: ${String(e)}`));
  }
}

const code = await main();
process.exitCode = code;
// The run must never hang: if a leaked handle keeps the loop alive, leave anyway.
setTimeout(() => {
  process.stderr.write('conformance: open handles remained after the run; exiting\n');
  process.exit(code);
}, 5_000).unref();
