// The shared test backend as a process of its own (jest's globalSetup starts it): picks and
// starts the backend (backend.ts), prints one JSON line `{"kind","uri"}` on stdout, and stops
// it on SIGTERM/SIGINT or when its parent goes away (stdin closes).
import { startBackend } from './backend.js';
import type { Backend } from './backend.js';

let backend: Backend;
try {
  backend = await startBackend({
    warn: (line) => process.stderr.write(`test backend: ${line}\n`),
  });
} catch (error) {
  // One clear line (jest's globalSetup then reports that the backend did not start).
  process.stderr.write(`test backend: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ kind: backend.kind, uri: backend.uri })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await backend.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('error', () => void stop());
process.stdin.resume();
