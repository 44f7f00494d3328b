import { jest } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import {
  BackendError,
  chooseBackend,
  describeBackend,
  forcedBackend,
  probeMongod,
  redactUri,
  MEMORY_SERVER_OPTIONS,
  startBackend,
} from '../helpers/backend.js';
import globalSetup, { type BackendHolder } from '../helpers/global-setup.js';
import globalTeardown from '../helpers/global-teardown.js';
import { backendKind, testUri, uniqueDbName } from '../helpers/testenv.js';

const found = async () => '/opt/mongod';
const none = async () => undefined;

describe('chooseBackend: selection order', () => {
  test('MONGO_TAIL_TEST_URI wins over a present mongod', async () => {
    const env = { MONGO_TAIL_TEST_URI: 'mongodb://db.example:27017/?replicaSet=rs' };
    expect(await chooseBackend({ env, probe: found })).toBe('uri');
  });

  test('then mongodb-memory-server when a mongod is already present', async () => {
    expect(await chooseBackend({ env: {}, probe: found })).toBe('memory-server');
  });

  test('then the built-in test server', async () => {
    expect(await chooseBackend({ env: {}, probe: none })).toBe('test-server');
  });

  test('MONGO_TAIL_TEST_BACKEND forces one, ignoring the others', async () => {
    const env = { MONGO_TAIL_TEST_URI: 'mongodb://x/', MONGO_TAIL_TEST_BACKEND: 'test-server' };
    expect(await chooseBackend({ env, probe: found })).toBe('test-server');
    const mms = { MONGO_TAIL_TEST_BACKEND: 'Memory-Server' };
    expect(await chooseBackend({ env: mms, probe: none })).toBe('memory-server');
  });

  test('forcing uri without a URI, or an unknown name, fails clearly', async () => {
    await expect(chooseBackend({ env: { MONGO_TAIL_TEST_BACKEND: 'uri' } })).rejects.toThrow(
      'MONGO_TAIL_TEST_BACKEND=uri needs MONGO_TAIL_TEST_URI',
    );
    expect(() => forcedBackend({ MONGO_TAIL_TEST_BACKEND: 'mongod' })).toThrow(BackendError);
    expect(() => forcedBackend({ MONGO_TAIL_TEST_BACKEND: 'mongod' })).toThrow(
      'must be one of uri, memory-server, test-server (got "mongod")',
    );
    expect(forcedBackend({ MONGO_TAIL_TEST_BACKEND: ' ' })).toBeUndefined();
  });
});

describe('probeMongod on this machine', () => {
  test('finds no mongod (none is installable here) and answers at once', async () => {
    const env = { HOME: process.env['HOME'] };
    const started = performance.now();
    expect(await probeMongod(env)).toBeUndefined();
    // Not a strict timing assertion: only that no download (seconds) was attempted.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await chooseBackend({ env })).toBe('test-server');
  });
});

test('mongodb-memory-server starts mongod as the drivers test suites do', () => {
  // Fail points need test commands; a real mongod refuses configureFailPoint without them.
  const { args, count } = MEMORY_SERVER_OPTIONS.replSet;
  expect(count).toBe(1);
  const parameters = args.filter((_arg, i) => args[i - 1] === '--setParameter');
  expect(parameters).toEqual(['enableTestCommands=1', 'periodicNoopIntervalSecs=1']);
});

describe('startBackend', () => {
  test('uri: adopts the URI and stops nothing', async () => {
    const env = { MONGO_TAIL_TEST_URI: 'mongodb://u:secret@db.example:27017/?replicaSet=rs' };
    const backend = await startBackend({ env, probe: none });
    expect(backend.kind).toBe('uri');
    expect(backend.uri).toBe(env.MONGO_TAIL_TEST_URI);
    await backend.stop();
    expect(describeBackend(backend)).toBe(
      'test backend: uri (mongodb://u:****@db.example:27017/?replicaSet=rs)',
    );
  });

  test('test-server: a replica set the driver can use', async () => {
    const backend = await startBackend({ env: {}, probe: none });
    const client = new MongoClient(backend.uri, { serverSelectionTimeoutMS: 5000 });
    try {
      expect(backend.kind).toBe('test-server');
      expect(backend.uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs0$/);
      const hello = await client.db('admin').command({ hello: 1 });
      expect(hello['setName']).toBe('rs0');
    } finally {
      await client.close();
      await backend.stop();
    }
  });

  test('forced memory-server fails clearly when it cannot start', async () => {
    // A system binary that does not exist makes mongodb-memory-server fail without any download.
    const env = { MONGO_TAIL_TEST_BACKEND: 'memory-server' };
    const saved = process.env['MONGOMS_SYSTEM_BINARY'];
    process.env['MONGOMS_SYSTEM_BINARY'] = '/nonexistent/mongod';
    // mongodb-memory-server reports its failure on console.warn as well; keep the run quiet.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await expect(startBackend({ env })).rejects.toThrow(
        /^mongodb-memory-server could not start a replica set: /,
      );
    } finally {
      warn.mockRestore();
      if (saved === undefined) delete process.env['MONGOMS_SYSTEM_BINARY'];
      else process.env['MONGOMS_SYSTEM_BINARY'] = saved;
    }
  });
});

describe('redactUri', () => {
  test('hides passwords only', () => {
    expect(redactUri('mongodb://u:p%40ss@h:1/db')).toBe('mongodb://u:****@h:1/db');
    expect(redactUri('mongodb+srv://u:p@cluster.example/x')).toBe(
      'mongodb+srv://u:****@cluster.example/x',
    );
    expect(redactUri('mongodb://u@h:1/')).toBe('mongodb://u@h:1/');
    expect(redactUri('mongodb://h:1,h:2/?replicaSet=rs0')).toBe(
      'mongodb://h:1,h:2/?replicaSet=rs0',
    );
  });
});

describe('global setup and teardown', () => {
  const saved = { ...process.env };
  const holder = globalThis as BackendHolder;
  // When jest runs in band, this test shares its global with the run's own globalSetup:
  // set the run's backend aside (and its environment) so this test starts and stops its own.
  const running = holder.__mongoTailTestBackend;
  let stderr: ReturnType<typeof spyOnStderr>;
  const spyOnStderr = () => jest.spyOn(process.stderr, 'write').mockImplementation(() => true);

  beforeEach(() => {
    delete process.env['MONGO_TAIL_TEST_URI'];
    delete process.env['MONGO_TAIL_TEST_BACKEND'];
    delete process.env['MONGO_TAIL_TEST_RESOLVED_URI'];
    delete process.env['MONGO_TAIL_TEST_RESOLVED_BACKEND'];
    delete holder.__mongoTailTestBackend;
    stderr = spyOnStderr();
  });

  afterEach(() => {
    stderr.mockRestore();
    process.env = { ...saved };
    if (running) holder.__mongoTailTestBackend = running;
  });

  test('start once, expose the URI, print one line, stop on teardown', async () => {
    const rootDir = fileURLToPath(new URL('../..', import.meta.url));
    await globalSetup(undefined, { rootDir });
    await globalSetup(undefined, { rootDir }); // a second project listing the same hook
    const uri = process.env['MONGO_TAIL_TEST_RESOLVED_URI'];
    expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\//);
    expect(process.env['MONGO_TAIL_TEST_RESOLVED_BACKEND']).toBe('test-server');
    expect(testUri()).toBe(uri);
    expect(backendKind()).toBe('test-server');
    const printed = stderr.mock.calls.map((c) => String(c[0])).join('');
    expect(printed.match(/test backend: /g)).toHaveLength(1);
    expect(printed).toContain(`test backend: test-server (${uri})`);

    const client = new MongoClient(uri!, { serverSelectionTimeoutMS: 500 });
    try {
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
    await globalTeardown();
    expect(process.env['MONGO_TAIL_TEST_RESOLVED_URI']).toBeUndefined();
    const after = new MongoClient(uri!, { serverSelectionTimeoutMS: 300 });
    try {
      await expect(after.db('admin').command({ ping: 1 })).rejects.toThrow();
    } finally {
      await after.close();
    }
  });
});

describe('testenv', () => {
  test('testUri explains what to do when no backend is known', () => {
    const saved = { ...process.env };
    delete process.env['MONGO_TAIL_TEST_RESOLVED_URI'];
    delete process.env['MONGO_TAIL_TEST_URI'];
    try {
      expect(() => testUri()).toThrow(/no test backend/);
    } finally {
      process.env = saved;
    }
  });

  test('uniqueDbName: distinct, legal, short', () => {
    const a = uniqueDbName('my.tests/with bad$chars');
    const b = uniqueDbName('my.tests/with bad$chars');
    expect(a).not.toBe(b);
    expect(a).not.toMatch(/[/\\. "$*<>:|?]/);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(uniqueDbName('x'.repeat(100)).length).toBeLessThanOrEqual(63);
  });
});
