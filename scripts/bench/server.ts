// The test server as a separate child process (its CPU is not the contenders'), or a real
// deployment given with --uri.
import { createInterface } from 'node:readline';
import { killGroup, spawnTracked } from './procs.js';

export interface Backend {
  uri: string;
  /** The server's pid, when it is our child (its CPU is then reported per run). */
  pid?: number;
  /** Oplog capacity in entries, when we chose it. */
  oplogSize?: number;
  stop(): Promise<void>;
}

/** Starts `test/server/main.ts --port 0` and resolves with the URI it prints. */
export function startServer(root: string, oplogSize: number): Promise<Backend> {
  const child = spawnTracked(
    process.execPath,
    [
      '--import',
      './test/register.mjs',
      'test/server/main.ts',
      '--port',
      '0',
      '--oplog-size',
      String(oplogSize),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error('the test server did not print its URI within 30 s'));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test server exited before it was ready (code ${code})`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (uri) => {
      clearTimeout(timer);
      lines.close();
      child.stdout!.resume();
      resolve({
        uri,
        pid: child.pid!,
        oplogSize,
        stop: async () => {
          killGroup(child, 'SIGTERM');
          const timeout = new Promise<void>((done) => setTimeout(done, 3000).unref());
          await Promise.race([exited, timeout]);
          killGroup(child, 'SIGKILL');
        },
      });
    });
  });
}

/** A deployment we do not own (--uri): nothing to start or stop. */
export function externalServer(uri: string): Backend {
  return { uri, stop: () => Promise.resolve() };
}
