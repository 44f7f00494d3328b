// The conformance runner end to end, on the built-in test server, with small unified-format
// files written here (our own, not MongoDB's data): passes, failures and skips must each be
// reported for the right reason, and a fail point must not outlive its test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBackend } from '../helpers/backend.js';
import type { Backend } from '../helpers/backend.js';
import { runDirectory } from '../conformance/runner.js';
import type { TestResult } from '../conformance/runner.js';

const entities = [
  {
    client: {
      id: 'client0',
      observeEvents: ['commandStartedEvent'],
      ignoreCommandMonitoringEvents: ['killCursors'],
    },
  },
  { database: { id: 'db0', client: 'client0', databaseName: 'h4_runner' } },
  { collection: { id: 'coll0', database: 'db0', collectionName: 'c0' } },
];

const watch = {
  name: 'createChangeStream',
  object: 'coll0',
  arguments: { pipeline: [] },
  saveResultAsEntity: 'cs0',
};
const insert = (doc: object) => ({
  name: 'insertOne',
  object: 'coll0',
  arguments: { document: doc },
});

const main = {
  description: 'runner self-test',
  schemaVersion: '1.7',
  runOnRequirements: [{ minServerVersion: '6.0', topologies: ['replicaset'] }],
  createEntities: entities,
  initialData: [{ databaseName: 'h4_runner', collectionName: 'c0', documents: [{ _id: 1 }] }],
  tests: [
    {
      description: 'sees an insert',
      operations: [
        watch,
        insert({ _id: 2, n: 1 }),
        {
          name: 'iterateUntilDocumentOrError',
          object: 'cs0',
          expectResult: {
            _id: { $$exists: true },
            operationType: 'insert',
            ns: { db: 'h4_runner', coll: 'c0' },
            fullDocument: { _id: 2, n: { $$type: 'int' } },
            documentKey: { _id: 2 },
          },
        },
      ],
      expectEvents: [
        {
          client: 'client0',
          ignoreExtraEvents: true,
          events: [
            {
              commandStartedEvent: {
                command: { aggregate: 'c0', pipeline: [{ $changeStream: {} }] },
              },
            },
            { commandStartedEvent: { commandName: 'insert', databaseName: 'h4_runner' } },
          ],
        },
      ],
    },
    {
      description: 'initialData is fresh for every test',
      operations: [insert({ _id: 2 })],
    },
    {
      description: 'a wrong expectation fails',
      operations: [
        watch,
        insert({ _id: 3 }),
        {
          name: 'iterateUntilDocumentOrError',
          object: 'cs0',
          expectResult: { operationType: 'delete' },
        },
      ],
    },
    {
      description: 'a server error is asserted',
      operations: [
        {
          name: 'createChangeStream',
          object: 'coll0',
          arguments: { pipeline: [{ $unknownStage: {} }] },
          expectError: { errorCode: 40324, isClientError: false },
        },
      ],
    },
    {
      description: 'a fail point fails one insert and is off afterwards',
      operations: [
        {
          name: 'failPoint',
          object: 'testRunner',
          arguments: {
            client: 'client0',
            failPoint: {
              configureFailPoint: 'failCommand',
              mode: { times: 2 },
              data: { failCommands: ['insert'], errorCode: 2 },
            },
          },
        },
        { ...insert({ _id: 4 }), expectError: { errorCode: 2 } },
      ],
    },
    {
      description: 'the fail point left nothing behind',
      operations: [insert({ _id: 5 })],
    },
    {
      description: 'an iteration that never gets a document times out',
      operations: [watch, { name: 'iterateUntilDocumentOrError', object: 'cs0' }],
    },
    {
      description: 'too old for this server',
      runOnRequirements: [{ maxServerVersion: '4.0.99' }],
      operations: [insert({ _id: 6 })],
    },
    {
      description: 'skipped by the file',
      skipReason: 'not today',
      operations: [],
    },
  ],
};

let dir: string;
let backend: Backend;
let results: TestResult[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'mongo-tail-conformance-'));
  writeFileSync(path.join(dir, 'main.json'), JSON.stringify(main));
  writeFileSync(path.join(dir, 'future.json'), JSON.stringify({ ...main, schemaVersion: '1.99' }));
  writeFileSync(path.join(dir, 'broken.json'), '{"tests": [');
  writeFileSync(path.join(dir, 'README.md'), 'not a test file');
  backend = await startBackend({ env: {}, probe: async () => undefined });
  results = await runDirectory(dir, { uri: backend.uri, iterateTimeoutMs: 1500 });
}, 60_000);

afterAll(async () => {
  await backend?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const of = (file: string, description: string) =>
  results.find((r) => r.file === file && r.description === description);

test('passing tests pass', () => {
  for (const d of [
    'sees an insert',
    'initialData is fresh for every test',
    'a server error is asserted',
    'a fail point fails one insert and is off afterwards',
    'the fail point left nothing behind',
  ]) {
    expect(of('main', d)).toEqual({ file: 'main', description: d, status: 'pass' });
  }
});

test('failures say what differed', () => {
  expect(of('main', 'a wrong expectation fails')).toMatchObject({
    status: 'fail',
    reason: expect.stringContaining('$.operationType: expected "delete", got "insert"'),
  });
  expect(of('main', 'an iteration that never gets a document times out')).toMatchObject({
    status: 'fail',
    reason: expect.stringContaining('iterating cs0: no answer within 1500 ms'),
  });
});

test('skips say why', () => {
  expect(of('main', 'too old for this server')).toMatchObject({
    status: 'skip',
    reason: expect.stringMatching(/^needs server <= 4\.0\.99 \(server is 8\.0\.\d+\)$/),
  });
  expect(of('main', 'skipped by the file')).toMatchObject({ status: 'skip', reason: 'not today' });
});

test('unreadable and too-new files fail, other files are ignored', () => {
  expect(of('broken', '(file)')).toMatchObject({ status: 'fail' });
  const future = results.filter((r) => r.file === 'future');
  expect(future).toHaveLength(main.tests.length);
  expect(future.every((r) => r.status === 'fail' && /schemaVersion 1\.99/.test(r.reason!))).toBe(
    true,
  );
  expect(results.some((r) => r.file === 'README')).toBe(false);
});

test('the filter selects by "file: description"', async () => {
  const some = await runDirectory(dir, { uri: backend.uri, filter: 'MAIN: sees an' });
  expect(some).toEqual([{ file: 'main', description: 'sees an insert', status: 'pass' }]);
});
