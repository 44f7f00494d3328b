// Small helpers for integration tests that share the one backend global-setup.ts started.
import { randomBytes } from 'node:crypto';
import type { BackendKind } from './backend.js';

/** The connection string of the shared test backend (set by jest's globalSetup). */
export function testUri(): string {
  const uri = process.env['MONGO_TAIL_TEST_RESOLVED_URI'] ?? process.env['MONGO_TAIL_TEST_URI'];
  if (!uri) {
    throw new Error(
      'no test backend: run this test in the jest "server" or "e2e" project (its globalSetup ' +
        'starts one) or set MONGO_TAIL_TEST_URI',
    );
  }
  return uri;
}

/** Which backend the shared URI belongs to (`uri` when only MONGO_TAIL_TEST_URI is known). */
export function backendKind(): BackendKind {
  const kind = process.env['MONGO_TAIL_TEST_RESOLVED_BACKEND'];
  if (kind === 'uri' || kind === 'memory-server' || kind === 'test-server') return kind;
  if (process.env['MONGO_TAIL_TEST_URI']) return 'uri';
  throw new Error('no test backend resolved (see testUri())');
}

let counter = 0;

/**
 * A database name no other test (in this or another worker) uses: tests share one backend.
 * Stays within MongoDB's 63-byte limit and its forbidden characters (`/\. "$*<>:|?`).
 */
export function uniqueDbName(prefix = 'test'): string {
  const clean = prefix.replace(/[/\\. "$*<>:|?]/g, '_').slice(0, 30) || 'test';
  counter += 1;
  return `${clean}_${process.pid}_${counter}_${randomBytes(3).toString('hex')}`;
}
