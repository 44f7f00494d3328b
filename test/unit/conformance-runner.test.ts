import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EJSON, Long } from 'bson';
import type { Document } from 'bson';
import { MongoNetworkError, MongoServerError } from 'mongodb';
import type { CommandStartedEvent } from 'mongodb';
import { EntityMap, ignoredCommand, withUriOptions } from '../conformance/entities.js';
import type { ObservedEvent } from '../conformance/entities.js';
import { nativeOptions } from '../conformance/format.js';
import { RunnerError, runOperation, withTimeout } from '../conformance/operations.js';
import { dataDir, resultLine, summaryLine } from '../conformance/report.js';
import { checkError, matchEvents } from '../conformance/runner.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ej = (text: string) => EJSON.parse(text, { relaxed: false }) as Document;

function serverError(fields: Document): MongoServerError {
  return new MongoServerError({ ok: 0, errmsg: 'boom', ...fields });
}

describe('checkError', () => {
  const fatal = serverError({
    code: 280,
    codeName: 'ChangeStreamFatalError',
    errorLabels: ['NonResumableChangeStreamError'],
  });

  test('code, codeName (any case) and labels that hold', () => {
    const expected = ej(`{"errorCode": 280, "errorCodeName": "changestreamfatalerror",
      "errorLabelsContain": ["NonResumableChangeStreamError"],
      "errorLabelsOmit": ["ResumableChangeStreamError"], "isClientError": false}`);
    expect(checkError(expected, fatal)).toEqual([]);
  });

  test('each assertion that does not hold is reported', () => {
    const expected = ej(`{"errorCode": 40324, "errorCodeName": "Location40324",
      "errorLabelsContain": ["ResumableChangeStreamError"],
      "errorLabelsOmit": ["NonResumableChangeStreamError"], "errorContains": "nope"}`);
    expect(checkError(expected, fatal)).toEqual([
      'message does not contain "nope"',
      'expected code 40324, got 280',
      'expected codeName Location40324, got ChangeStreamFatalError',
      'expected label ResumableChangeStreamError (labels: NonResumableChangeStreamError)',
      'unexpected label NonResumableChangeStreamError',
    ]);
  });

  test('client versus server errors', () => {
    const network = new MongoNetworkError('socket closed');
    expect(checkError({ isClientError: true }, network)).toEqual([]);
    expect(checkError({ isClientError: false }, network)).toEqual(['expected a server error']);
    expect(checkError({ isClientError: true }, fatal)).toEqual(['expected a client error']);
    expect(checkError(ej('{"errorCode": 280}'), network)).toEqual([
      'expected code 280, got no server error',
    ]);
  });

  test('errorResponse matches the raw reply as a root document', () => {
    expect(checkError({ errorResponse: { code: 280 } }, fatal)).toEqual([]);
    expect(checkError({ errorResponse: { code: 281 } }, fatal)).toHaveLength(1);
  });

  test('assertions the runner does not know are failures, not silently passed', () => {
    expect(checkError({ writeErrors: {} }, fatal)).toEqual([
      'expectError.writeErrors is not supported by this runner',
    ]);
  });
});

function started(commandName: string, databaseName: string, command: Document): ObservedEvent {
  const event = { commandName, databaseName, command } as unknown as CommandStartedEvent;
  return { type: 'commandStartedEvent', event };
}

describe('matchEvents', () => {
  const aggregate = started('aggregate', 'database0', {
    aggregate: 'collection0',
    pipeline: [{ $changeStream: {} }],
    cursor: {},
    lsid: { id: 'x' },
    $db: 'database0',
  });
  const getMore = started('getMore', 'database0', {
    getMore: new Long(5),
    collection: 'collection0',
    $db: 'database0',
  });
  const expectedAggregate = ej(`{"commandStartedEvent": {"command": {"aggregate": "collection0",
    "cursor": {}, "pipeline": [{"$changeStream": {}}]}, "commandName": "aggregate",
    "databaseName": "database0"}}`);

  test('in order, root command documents, names and databases', () => {
    const expectedGetMore = ej(`{"commandStartedEvent": {"command": {"getMore": {"$$type":
      ["int", "long"]}, "collection": "collection0"}, "commandName": "getMore"}}`);
    expect(matchEvents([expectedAggregate, expectedGetMore], [aggregate, getMore], false)).toEqual(
      [],
    );
    expect(
      matchEvents([expectedGetMore, expectedAggregate], [aggregate, getMore], false),
    ).not.toEqual([]);
  });

  test('extra events fail unless ignoreExtraEvents', () => {
    expect(matchEvents([expectedAggregate], [aggregate, getMore], false)).toEqual([
      'expected 1 events, got 2',
    ]);
    expect(matchEvents([expectedAggregate], [aggregate, getMore], true)).toEqual([]);
    expect(matchEvents([expectedAggregate], [], true)).toEqual([
      'expected at least 1 events, got 0',
    ]);
  });

  test('an empty list asserts that nothing was observed', () => {
    expect(matchEvents([], [], false)).toEqual([]);
    expect(matchEvents([], [aggregate], false)).toEqual(['expected 0 events, got 1']);
  });

  test('differences inside the command are named by path', () => {
    const other = started('aggregate', 'database1', {
      aggregate: 1,
      pipeline: [{ $changeStream: { fullDocument: 'updateLookup' } }],
      cursor: {},
    });
    const problems = matchEvents([expectedAggregate], [other], false);
    expect(problems).toEqual([
      expect.stringContaining('command.aggregate: expected "collection0", got 1'),
      expect.stringContaining('command.pipeline[0].$changeStream.fullDocument: unexpected key'),
      expect.stringContaining('databaseName: expected database0, got database1'),
    ]);
  });
});

describe('entity helpers', () => {
  test('ignored commands: the list, configureFailPoint, sensitive ones, redacted hellos', () => {
    const ignore = new Set(['killCursors']);
    expect(ignoredCommand('killCursors', {}, ignore, false)).toBe(true);
    expect(ignoredCommand('configureFailPoint', { configureFailPoint: 'x' }, ignore, false)).toBe(
      true,
    );
    expect(ignoredCommand('saslStart', {}, ignore, false)).toBe(true);
    expect(ignoredCommand('saslStart', {}, ignore, true)).toBe(false);
    expect(ignoredCommand('hello', {}, ignore, false)).toBe(true);
    expect(ignoredCommand('hello', { hello: 1 }, ignore, false)).toBe(false);
    expect(ignoredCommand('getMore', { getMore: 1 }, ignore, false)).toBe(false);
  });

  test('uriOptions override the connection string', () => {
    const uri = 'mongodb://127.0.0.1:1/?replicaSet=rs0&RetryReads=true';
    expect(withUriOptions(uri, undefined)).toBe(uri);
    expect(withUriOptions(uri, ej('{"retryReads": false, "heartbeatFrequencyMS": 500}'))).toBe(
      'mongodb://127.0.0.1:1/?replicaSet=rs0&retryReads=false&heartbeatFrequencyMS=500',
    );
    expect(withUriOptions('mongodb://h:1', { appname: 'a' })).toBe('mongodb://h:1/?appname=a');
    expect(withUriOptions('mongodb://h:1/', { readPreferenceTags: ['a:1', 'b:2'] })).toBe(
      'mongodb://h:1/?readPreferenceTags=a%3A1&readPreferenceTags=b%3A2',
    );
  });

  test('options get native numbers; documents keep their BSON types', () => {
    const parsed = ej('{"batchSize": 1, "comment": {"n": 1}, "fullDocument": "required"}');
    const options = nativeOptions(parsed);
    expect(options['batchSize']).toBe(1);
    expect(options['fullDocument']).toBe('required');
    expect((options['comment'] as Document)['n']).toHaveProperty('_bsontype', 'Int32');
  });
});

describe('runOperation validation', () => {
  const ctx = { entities: new EntityMap('mongodb://unused/'), failPoints: [], iterateTimeoutMs: 1 };

  test('unknown operations and arguments are runner errors', async () => {
    const unknownOp = runOperation({ name: 'listSearchIndexes', object: 'collection0' }, ctx);
    await expect(unknownOp).rejects.toThrow(RunnerError);
    await expect(unknownOp).rejects.toThrow('operation "listSearchIndexes" is not supported');
    const badArg = runOperation(
      { name: 'insertOne', object: 'collection0', arguments: { document: {}, session: 's0' } },
      ctx,
    );
    await expect(badArg).rejects.toThrow('insertOne: unsupported argument(s) session');
    const missing = runOperation(
      { name: 'updateOne', object: 'c', arguments: { filter: {} } },
      ctx,
    );
    await expect(missing).rejects.toThrow('updateOne: missing argument(s) update');
    const noEntity = runOperation({ name: 'iterateUntilDocumentOrError', object: 'cs0' }, ctx);
    await expect(noEntity).rejects.toThrow('no entity "cs0"');
  });

  test('withTimeout rejects with a RunnerError and does not hold the process', async () => {
    const never = new Promise<never>(() => {});
    await expect(withTimeout(never, 20, 'iterating cs0')).rejects.toThrow(
      'iterating cs0: no answer within 20 ms',
    );
    await expect(withTimeout(Promise.resolve(7), 20, 'x')).resolves.toBe(7);
  });
});

describe('report lines', () => {
  test('per test and summary', () => {
    expect(resultLine({ file: 'f', description: 'd', status: 'pass' })).toBe('PASS f: d');
    expect(resultLine({ file: 'f', description: 'd', status: 'fail', reason: 'a\n  b' })).toBe(
      'FAIL f: d — a b',
    );
    expect(resultLine({ file: 'f', description: 'd', status: 'skip', reason: 'old' })).toBe(
      'SKIP f: d — old',
    );
    expect(summaryLine(3, 1, 2)).toBe('conformance: 3 passed, 1 failed, 2 skipped');
  });

  test('data directory: the environment, else ../shared beside the repository', () => {
    expect(dataDir({ MONGO_TAIL_CONFORMANCE_DIR: '/data/cs' })).toBe('/data/cs');
    expect(dataDir({})).toMatch(/\/shared\/conformance\/change-streams$/);
  });
});

describe('npm run conformance without data', () => {
  test('says why on stderr, prints a zero summary on stdout, exits 0', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', './test/register.mjs', 'test/conformance/run.ts'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, MONGO_TAIL_CONFORMANCE_DIR: '/nonexistent/conformance' },
        timeout: 20_000,
      },
    );
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('conformance: 0 passed, 0 failed, 0 skipped\n');
    expect(run.stderr).toContain('conformance: skipped — no data at /nonexistent/conformance');
  });
});
