// jest globalSetup for the projects that need "a replica set" (server, e2e). It runs in jest's
// main process, where jest loads it as CommonJS and cannot resolve the project's ESM `.js`
// imports; so the backend runs in a child process (backend-main.ts) and this file only talks
// to it. Workers start after this returns and inherit the URI through process.env.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

/** Shared with global-teardown.ts: jest loads both in its main process, same globalThis. */
export interface BackendHolder {
  __mongoTailTestBackend?: Promise<ChildProcess>;
}

interface Started {
  kind: string;
  uri: string;
}

/** A memory-server start may include a forced download; anything else takes well under 1 s. */
const START_TIMEOUT_MS = 120_000;

export default async function globalSetup(
  _globalConfig?: unknown,
  projectConfig?: { rootDir?: string },
): Promise<void> {
  const holder = globalThis as BackendHolder;
  // Two projects listing this file (or jest re-running hooks) must not start two backends.
  if (holder.__mongoTailTestBackend) {
    await holder.__mongoTailTestBackend;
    return;
  }
  const root = projectConfig?.rootDir ?? process.cwd();
  holder.__mongoTailTestBackend = startChild(root);
  await holder.__mongoTailTestBackend;
}

function startChild(root: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', './test/register.mjs', path.join('test', 'helpers', 'backend-main.ts')],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'], env: process.env },
  );
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`test backend did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`test backend exited before it was ready (code ${code})`));
    };
    child.once('exit', onExit);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      let started: Started;
      try {
        started = JSON.parse(buffered.slice(0, newline)) as Started;
      } catch {
        child.kill('SIGKILL');
        reject(new Error(`test backend printed an unexpected line: ${buffered.slice(0, newline)}`));
        return;
      }
      process.env['MONGO_TAIL_TEST_RESOLVED_URI'] = started.uri;
      process.env['MONGO_TAIL_TEST_RESOLVED_BACKEND'] = started.kind;
      process.stderr.write(`\ntest backend: ${started.kind} (${redact(started.uri)})\n`);
      resolve(child);
    });
  });
}

/** Same rule as backend.ts's redactUri (not imported: see the header). */
function redact(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/[^:@/]*):[^@/]*@/i, '$1:****@');
}
