// What the tests that spawn the real bin (bin/mongo-tail.js → dist/) share: where it is, the
// pinned environment it runs in, and a dist/ that holds the current build of src/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'mongo-tail.js');
/** No colour, no terminal, UTC: output that compares exactly. */
export const ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  TERM: 'dumb',
  TZ: 'UTC',
  NO_COLOR: '1',
};

/** dist/ must hold the current build of src/ (`npm test` builds first; this catches a stale one). */
export function ensureBuilt(): void {
  const newest = (dirPath: string): number =>
    Math.max(
      0,
      ...readdirSync(dirPath, { withFileTypes: true }).map((entry) => {
        const path = join(dirPath, entry.name);
        if (entry.isDirectory()) return newest(path);
        return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')
          ? statSync(path).mtimeMs
          : 0;
      }),
    );
  const main = join(ROOT, 'dist', 'main.js');
  if (existsSync(main) && statSync(main).mtimeMs >= newest(join(ROOT, 'src'))) return;
  // tsc emits even when another module has a type error; the check below is what matters.
  spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, stdio: 'ignore' },
  );
  if (!existsSync(main)) throw new Error('dist/main.js is missing: run npm run build');
}
