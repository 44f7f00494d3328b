// One place that gives every integration test a replica set to talk to. In order:
//   1. MONGO_TAIL_TEST_URI            — a real deployment the user points at;
//   2. mongodb-memory-server          — only when a mongod binary is already on this machine;
//   3. the built-in test server       — in this process, on 127.0.0.1 and a free port.
// MONGO_TAIL_TEST_BACKEND=uri|memory-server|test-server forces one and fails when it cannot.
// The automatic path never downloads a mongod (that takes seconds, or fails offline after ~7 s):
// to let mongodb-memory-server download one, force MONGO_TAIL_TEST_BACKEND=memory-server.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type BackendKind = 'uri' | 'memory-server' | 'test-server';
export const BACKEND_KINDS: readonly BackendKind[] = ['uri', 'memory-server', 'test-server'];

/** A running deployment tests can connect to; `stop()` releases whatever was started. */
export interface Backend {
  readonly kind: BackendKind;
  readonly uri: string;
  stop(): Promise<void>;
}

export type Env = Record<string, string | undefined>;

export interface BackendOptions {
  env?: Env;
  /** Finds an already-present mongod binary without downloading; injectable for tests. */
  probe?: (env: Env) => Promise<string | undefined>;
  /** Topology for the built-in test server (default replset). */
  topology?: 'replset' | 'standalone';
  /** Receives one-line notes (e.g. a fallback); default: ignored. */
  warn?: (line: string) => void;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Thrown when a backend was asked for (or chosen) and cannot be provided. */
export class BackendError extends Error {
  override name = 'BackendError';
}

/** Reads MONGO_TAIL_TEST_BACKEND; undefined when unset, BackendError when invalid. */
export function forcedBackend(env: Env): BackendKind | undefined {
  const raw = env['MONGO_TAIL_TEST_BACKEND']?.trim();
  if (!raw) return undefined;
  const kind = raw.toLowerCase();
  if (!(BACKEND_KINDS as readonly string[]).includes(kind)) {
    throw new BackendError(
      `MONGO_TAIL_TEST_BACKEND must be one of ${BACKEND_KINDS.join(', ')} (got "${raw}")`,
    );
  }
  return kind as BackendKind;
}

/**
 * Finds a mongod that mongodb-memory-server could start without downloading anything.
 * Importing mongodb-memory-server costs ~0.5 s, so it is imported only when one of the places
 * it keeps binaries exists at all; on a machine without any, this answers in microseconds.
 */
export async function probeMongod(env: Env = process.env): Promise<string | undefined> {
  const candidates = [
    env['MONGOMS_SYSTEM_BINARY'],
    env['MONGOMS_DOWNLOAD_DIR'],
    path.join(homedir(), '.cache', 'mongodb-binaries'),
    path.join(REPO_ROOT, 'node_modules', '.cache', 'mongodb-memory-server'),
    path.join(process.cwd(), 'node_modules', '.cache', 'mongodb-memory-server'),
    path.join(process.cwd(), 'mongodb-binaries'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  if (!candidates.some((p) => existsSync(p)) && !hasPackageConfig()) return undefined;
  const { DryMongoBinary } = await import('mongodb-memory-server');
  try {
    // locateBinary only looks (system binary, caches); it never downloads.
    return await DryMongoBinary.locateBinary(await DryMongoBinary.generateOptions());
  } catch {
    return undefined;
  }
}

/** mongodb-memory-server also reads `config.mongodbMemoryServer` from package.json. */
function hasPackageConfig(): boolean {
  try {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      config?: { mongodbMemoryServer?: unknown };
    };
    return pkg.config?.mongodbMemoryServer !== undefined;
  } catch {
    return false;
  }
}

/** Which backend to start, following the order above (no side effects besides the probe). */
export async function chooseBackend(options: BackendOptions = {}): Promise<BackendKind> {
  const env = options.env ?? process.env;
  const forced = forcedBackend(env);
  if (forced === 'uri' && !env['MONGO_TAIL_TEST_URI']) {
    throw new BackendError('MONGO_TAIL_TEST_BACKEND=uri needs MONGO_TAIL_TEST_URI');
  }
  if (forced) return forced;
  if (env['MONGO_TAIL_TEST_URI']) return 'uri';
  const probe = options.probe ?? probeMongod;
  return (await probe(env)) ? 'memory-server' : 'test-server';
}

/** Starts (or adopts) the backend `chooseBackend` picks. */
export async function startBackend(options: BackendOptions = {}): Promise<Backend> {
  const env = options.env ?? process.env;
  const kind = await chooseBackend(options);
  switch (kind) {
    case 'uri':
      return { kind, uri: env['MONGO_TAIL_TEST_URI']!, stop: async () => {} };
    case 'memory-server':
      try {
        return await startMemoryServer();
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        if (forcedBackend(env)) {
          throw new BackendError(`mongodb-memory-server could not start a replica set: ${why}`);
        }
        options.warn?.(`mongodb-memory-server failed (${why}); using the test server`);
        return startBuiltInServer(options.topology);
      }
    case 'test-server':
      return startBuiltInServer(options.topology);
  }
}

/**
 * How mongodb-memory-server starts its replica set: as MongoDB's own driver test suites start
 * mongod. `enableTestCommands` allows `configureFailPoint` (several e2e tests and the
 * conformance resume tests set fail points); a one-second periodic no-op moves the post-batch
 * resume token on an idle stream, so `--until now` and idle tests end quickly.
 */
export const MEMORY_SERVER_OPTIONS = {
  replSet: {
    count: 1,
    args: [
      '--setParameter',
      'enableTestCommands=1',
      '--setParameter',
      'periodicNoopIntervalSecs=1',
    ],
  },
} as const;

async function startMemoryServer(): Promise<Backend> {
  const { MongoMemoryReplSet } = await import('mongodb-memory-server');
  const replSet = await MongoMemoryReplSet.create({
    replSet: { ...MEMORY_SERVER_OPTIONS.replSet, args: [...MEMORY_SERVER_OPTIONS.replSet.args] },
  });
  await replSet.waitUntilRunning();
  return {
    kind: 'memory-server',
    uri: replSet.getUri(),
    stop: async () => {
      await replSet.stop();
    },
  };
}

async function startBuiltInServer(
  topology: 'replset' | 'standalone' = 'replset',
): Promise<Backend> {
  const { startTestServer } = await import('../server/index.js');
  const server = await startTestServer({ host: '127.0.0.1', port: 0, topology });
  return { kind: 'test-server', uri: server.uri, stop: () => server.stop() };
}

/** The URI with any password replaced by `****`, for printing. */
export function redactUri(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/[^:@/]*):[^@/]*@/i, '$1:****@');
}

/** The one line the test run prints about its backend. */
export function describeBackend(backend: Pick<Backend, 'kind' | 'uri'>): string {
  return `test backend: ${backend.kind} (${redactUri(backend.uri)})`;
}
