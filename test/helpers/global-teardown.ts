// jest globalTeardown: stops the backend process global-setup.ts started, and waits for it, so
// nothing keeps jest alive.
import type { BackendHolder } from './global-setup.js';

const STOP_TIMEOUT_MS = 10_000;

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as BackendHolder;
  const pending = holder.__mongoTailTestBackend;
  if (!pending) return;
  delete holder.__mongoTailTestBackend;
  delete process.env['MONGO_TAIL_TEST_RESOLVED_URI'];
  delete process.env['MONGO_TAIL_TEST_RESOLVED_BACKEND'];
  const child = await pending.catch(() => undefined);
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
