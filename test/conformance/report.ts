// What the conformance run reads and prints, kept apart from run.ts (which runs on import).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestResult } from './runner.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The data directory the run reads. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['MONGO_TAIL_CONFORMANCE_DIR'];
  return configured
    ? path.resolve(configured)
    : path.resolve(REPO_ROOT, '../shared/conformance/change-streams');
}

/** `conformance: P passed, F failed, S skipped` */
export function summaryLine(passed: number, failed: number, skipped: number): string {
  return `conformance: ${passed} passed, ${failed} failed, ${skipped} skipped`;
}

/** The stderr line for one test. */
export function resultLine(r: TestResult): string {
  const head = `${r.status.toUpperCase()} ${r.file}: ${r.description}`;
  return r.reason ? `${head} — ${r.reason.replace(/\s*\n\s*/g, ' ')}` : head;
}
