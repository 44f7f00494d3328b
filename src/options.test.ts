import { Decimal128, Int32, Long, ObjectId, Timestamp } from 'bson';
import { UsageError } from './errors.js';
import {
  connectTimeouts,
  DEFAULT_URI,
  parseToken,
  resolveOptions,
  type OptionContext,
  type RawFlags,
} from './options.js';

const NOW = new Date('2024-05-01T12:00:00.000Z');
const TOKEN = '8266A1B2C3000000012B022C0100296E5A1004ABCDEF';
const FILES: Record<string, string> = {
  'stages.json': '[{"$match": {"operationType": "insert"}}, {"$project": {"fullDocument": 1}}]',
  'token.json': `{"_data":"${TOKEN}"}\n`,
};

function ctx(over: Partial<OptionContext> = {}): OptionContext {
  return {
    env: {},
    stdoutIsTTY: false,
    now: NOW,
    readText: (path) => {
      const text = FILES[path];
      if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return text;
    },
    ...over,
  };
}

function resolve(flags: RawFlags, namespaces: string[] = [], over: Partial<OptionContext> = {}) {
  return resolveOptions(flags, namespaces, ctx(over));
}

describe('defaults and precedence', () => {
  test('defaults', () => {
    const opts = resolve({});
    expect(opts).toEqual({
      uri: DEFAULT_URI,
      target: { scope: { kind: 'cluster' }, label: 'the whole deployment' },
      pipeline: [],
      expanded: false,
      start: { kind: 'now' },
      exitOnInvalidate: false,
      splitLargeEvents: false,
      checkpointIntervalMs: 1000,
      retryForMs: 60_000,
      format: 'json',
      color: false,
      quiet: false,
    });
  });

  test('timeouts: --connect-timeout > the URI options > 10s', () => {
    expect(resolve({}).connectTimeoutMs).toBeUndefined();
    expect(connectTimeouts('mongodb://h/', undefined)).toEqual({
      serverSelectionTimeoutMS: 10_000,
      connectTimeoutMS: 10_000,
    });
    // The driver reads what the URI names: those are left out of the options object.
    expect(connectTimeouts('mongodb://h/?serverSelectionTimeoutMS=300', undefined)).toEqual({
      connectTimeoutMS: 10_000,
    });
    expect(
      connectTimeouts(
        'mongodb://h/?replicaSet=rs&connecttimeoutms=5&serverSelectionTimeoutMS=1',
        undefined,
      ),
    ).toEqual({});
    const flag = resolve({ connectTimeout: '2s' }).connectTimeoutMs;
    expect(connectTimeouts('mongodb://h/?serverSelectionTimeoutMS=300', flag)).toEqual({
      serverSelectionTimeoutMS: 2000,
      connectTimeoutMS: 2000,
    });
  });

  test('--retry-for: a duration, 0 or forever; anything else is a usage error naming the flag', () => {
    expect(resolve({ retryFor: '90s' }).retryForMs).toBe(90_000);
    expect(resolve({ retryFor: '0' }).retryForMs).toBe(0);
    expect(resolve({ retryFor: '0s' }).retryForMs).toBe(0);
    expect(resolve({ retryFor: 'forever' }).retryForMs).toBe(Infinity);
    for (const bad of ['10', 'soon', '-5s', '']) {
      const error = (() => {
        try {
          return resolve({ retryFor: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).message).toMatch(/^--retry-for/);
      expect((error as UsageError).hint).toBe(
        '--retry-for takes a duration (30s, 5m, 2h), 0 or forever',
      );
    }
  });

  test('uri: flag > MONGODB_URI > default', () => {
    const env = { MONGODB_URI: 'mongodb://env:1/' };
    expect(resolve({}, [], { env }).uri).toBe('mongodb://env:1/');
    expect(resolve({ uri: 'mongodb://flag:1/' }, [], { env }).uri).toBe('mongodb://flag:1/');
    expect(resolve({}, [], { env: { MONGODB_URI: '' } }).uri).toBe(DEFAULT_URI);
  });

  test('format: pretty on a terminal, json otherwise, flag wins', () => {
    expect(resolve({}, [], { stdoutIsTTY: true }).format).toBe('pretty');
    expect(resolve({}).format).toBe('json');
    expect(resolve({ format: 'canonical' }, [], { stdoutIsTTY: true }).format).toBe('canonical');
    expect(resolve({ format: 'pretty' }).format).toBe('pretty');
  });

  test.each([
    // flags, env, stdout is a TTY, expected colour
    [{}, {}, true, true],
    [{}, {}, false, false],
    [{}, { NO_COLOR: '1' }, true, false],
    [{}, { NO_COLOR: '' }, true, true],
    [{}, { FORCE_COLOR: '1' }, false, true],
    [{}, { FORCE_COLOR: '0' }, true, false],
    [{}, { FORCE_COLOR: 'false' }, true, false],
    [{}, { FORCE_COLOR: '1', NO_COLOR: '1' }, false, true],
    [{ color: false }, { FORCE_COLOR: '1' }, true, false],
    [{ color: true }, { NO_COLOR: '1' }, false, true],
  ])('colour %j env %j tty=%s → %s', (flags, env, tty, expected) => {
    expect(resolve({ format: 'pretty', ...flags }, [], { env, stdoutIsTTY: tty }).color).toBe(
      expected,
    );
  });

  test('machine formats are never coloured', () => {
    expect(resolve({ format: 'json' }, [], { stdoutIsTTY: true }).color).toBe(false);
    expect(resolve({ format: 'canonical' }, [], { env: { FORCE_COLOR: '1' } }).color).toBe(false);
  });

  test('--color without a format means coloured pretty lines, even into a pipe', () => {
    const opts = resolve({ color: true }, [], { stdoutIsTTY: false });
    expect(opts.format).toBe('pretty');
    expect(opts.color).toBe(true);
  });
});

describe('values', () => {
  test('Extended JSON keeps exact types in --filter and --match', () => {
    const opts = resolve({
      filter: '{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "n": 1, "big": {"$numberLong": "5"}}',
      match: '{"fullDocument.price": {"$numberDecimal": "1.5"}}',
    });
    expect(opts.filter?._id).toEqual(new ObjectId('65a1b2c3d4e5f60718293a4b'));
    expect(opts.filter?.n).toEqual(new Int32(1));
    expect(opts.filter?.big).toEqual(Long.fromNumber(5));
    expect(opts.match?.['fullDocument.price']).toEqual(Decimal128.fromString('1.5'));
  });

  test('--pipeline: inline array, single stage, @file', () => {
    expect(resolve({ pipeline: '{"$project": {"a": 1}}' }).pipeline).toEqual([
      { $project: { a: new Int32(1) } },
    ]);
    expect(resolve({ pipeline: '@stages.json' }).pipeline).toHaveLength(2);
    expect(
      resolve({ pipeline: '[{"$set": {"x": 1}}, {"$changeStreamSplitLargeEvent": {}}]' }).pipeline,
    ).toHaveLength(2);
  });

  test('--ops: comma-separated and repeatable, duplicates dropped', () => {
    expect(resolve({ ops: ['insert,update', 'delete', 'insert'] }).ops).toEqual([
      'insert',
      'update',
      'delete',
    ]);
    expect(resolve({ ops: ['create,insert'], expanded: true }).ops).toEqual(['create', 'insert']);
  });

  test('positions', () => {
    expect(resolve({ since: '1714564800,3' }).start).toEqual({
      kind: 'since',
      ts: new Timestamp({ t: 1714564800, i: 3 }),
    });
    expect(resolve({ since: '15m' }).start).toEqual({
      kind: 'since',
      ts: new Timestamp({ t: 1714564800 - 900, i: 0 }),
    });
    expect(resolve({ resumeAfter: `{"_data": "${TOKEN}"}` }).start).toEqual({
      kind: 'resumeAfter',
      token: { _data: TOKEN },
    });
    expect(resolve({ startAfter: TOKEN }).start).toEqual({
      kind: 'startAfter',
      token: { _data: TOKEN },
    });
    expect(resolve({ resumeAfter: '@token.json' }).start).toEqual({
      kind: 'resumeAfter',
      token: { _data: TOKEN },
    });
    expect(resolve({ until: 'now' }).until).toEqual({ kind: 'now' });
    expect(resolve({ until: '1714564800,3' }).until).toEqual({
      kind: 'at',
      ts: new Timestamp({ t: 1714564800, i: 3 }),
    });
  });

  test('numbers and durations', () => {
    const opts = resolve({
      limit: '3',
      idleTimeout: '1500ms',
      batchSize: '10',
      maxAwait: '250',
      connectTimeout: '2s',
      tokenFile: 'pos.json',
      checkpointInterval: '0s',
    });
    expect(opts).toMatchObject({
      limit: 3,
      idleTimeoutMs: 1500,
      batchSize: 10,
      maxAwaitMs: 250,
      connectTimeoutMs: 2000,
      tokenFile: 'pos.json',
      checkpointIntervalMs: 0,
    });
    expect(resolve({ maxAwait: '2s' }).maxAwaitMs).toBe(2000);
  });
});

// flags, namespaces, env, the exact message, the hint (or undefined)
const BAD: Array<[string, RawFlags, string[], Record<string, string>, string, string | undefined]> =
  [
    [
      'uri scheme',
      { uri: 'http://x' },
      [],
      {},
      '--uri must start with mongodb:// or mongodb+srv://',
      'e.g. --uri mongodb://localhost:27017/?replicaSet=rs0',
    ],
    [
      'env uri scheme',
      {},
      [],
      { MONGODB_URI: 'localhost:27017' },
      'MONGODB_URI must start with mongodb:// or mongodb+srv://',
      'e.g. --uri mongodb://localhost:27017/?replicaSet=rs0',
    ],
    [
      'namespace',
      {},
      ['admin'],
      {},
      'invalid namespace "admin": MongoDB does not allow change streams on the admin database',
      'give no namespace to watch the whole deployment',
    ],
    [
      'limit 0',
      { limit: '0' },
      [],
      {},
      '--limit must be a whole number of at least 1, got "0"',
      undefined,
    ],
    [
      'limit negative',
      { limit: '-1' },
      [],
      {},
      '--limit must be a whole number of at least 1, got "-1"',
      undefined,
    ],
    [
      'limit fraction',
      { limit: '1.5' },
      [],
      {},
      '--limit must be a whole number of at least 1, got "1.5"',
      undefined,
    ],
    [
      'limit word',
      { limit: 'ten' },
      [],
      {},
      '--limit must be a whole number of at least 1, got "ten"',
      undefined,
    ],
    [
      'batch size',
      { batchSize: '0' },
      [],
      {},
      '--batch-size must be a whole number of at least 1, got "0"',
      undefined,
    ],
    [
      'max await',
      { maxAwait: '0' },
      [],
      {},
      '--max-await must be between 1 and 2147483647 milliseconds, got "0"',
      undefined,
    ],
    [
      'max await unit',
      { maxAwait: '5x' },
      [],
      {},
      '--max-await: "5x" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)',
      undefined,
    ],
    [
      'idle timeout unit',
      { idleTimeout: '10' },
      [],
      {},
      '--idle-timeout: "10" has no unit (use ms, s, m, h or d, e.g. 10s)',
      undefined,
    ],
    [
      'idle timeout 0',
      { idleTimeout: '0s' },
      [],
      {},
      '--idle-timeout must be longer than 0, got "0s"',
      undefined,
    ],
    [
      'connect timeout',
      { connectTimeout: 'soon' },
      [],
      {},
      '--connect-timeout: "soon" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)',
      undefined,
    ],
    [
      'checkpoint without file',
      { checkpointInterval: '5s' },
      [],
      {},
      '--checkpoint-interval only applies with --token-file',
      undefined,
    ],
    ['empty token file', { tokenFile: ' ' }, [], {}, '--token-file needs a file path', undefined],
    [
      'format',
      { format: 'xml' },
      [],
      {},
      '--format: unknown value "xml"',
      'use one of: pretty, json, canonical',
    ],
    [
      'full document',
      { fullDocument: 'always' },
      [],
      {},
      '--full-document: unknown value "always"',
      'use one of: default, updateLookup, whenAvailable, required',
    ],
    [
      'before change',
      { fullDocumentBeforeChange: 'updateLookup' },
      [],
      {},
      '--full-document-before-change: unknown value "updateLookup"',
      'use one of: off, whenAvailable, required',
    ],
    [
      'ops unknown',
      { ops: ['insert,upsert'] },
      [],
      {},
      '--ops: unknown operation type "upsert"',
      'valid: insert, update, replace, delete, drop, rename, dropDatabase, invalidate; with --expanded also create, createIndexes, dropIndexes, modify, shardCollection, refineCollectionShardKey, reshardCollection',
    ],
    [
      'ops case',
      { ops: ['dropdatabase'] },
      [],
      {},
      '--ops: unknown operation type "dropdatabase" (did you mean dropDatabase?)',
      'valid: insert, update, replace, delete, drop, rename, dropDatabase, invalidate; with --expanded also create, createIndexes, dropIndexes, modify, shardCollection, refineCollectionShardKey, reshardCollection',
    ],
    [
      'ops expanded',
      { ops: ['createIndexes'] },
      [],
      {},
      '--ops createIndexes needs --expanded',
      'createIndexes events are only sent with showExpandedEvents; add --expanded',
    ],
    ['ops empty', { ops: [','] }, [], {}, '--ops needs at least one operation type', undefined],
    [
      'filter json',
      { filter: '{status: 1}' },
      [],
      {},
      "--filter: invalid JSON: Expected property name or '}' in JSON at position 1",
      'e.g. --filter \'{"status": "paid"}\'',
    ],
    [
      'filter array',
      { filter: '[1]' },
      [],
      {},
      '--filter must be a JSON object, got [1]',
      undefined,
    ],
    [
      'filter oid',
      { filter: '{"_id": {"$oid": "nope"}}' },
      [],
      {},
      '--filter: invalid JSON: input must be a 24 character hex string, 12 byte Uint8Array, or an integer',
      'e.g. --filter \'{"status": "paid"}\'',
    ],
    [
      'filter $expr',
      { filter: '{"$expr": {"$gt": ["$a", 1]}}' },
      [],
      {},
      '--filter cannot use $expr',
      '--filter rewrites field names to fullDocument.<field>; write the $match yourself with --match',
    ],
    [
      'filter nested $where',
      { filter: '{"$or": [{"a": 1}, {"$where": "1"}]}' },
      [],
      {},
      '--filter cannot use $where',
      '--filter rewrites field names to fullDocument.<field>; write the $match yourself with --match',
    ],
    [
      'filter $or empty',
      { filter: '{"$or": []}' },
      [],
      {},
      '--filter: $or needs a non-empty array of filters',
      undefined,
    ],
    [
      'match json',
      { match: 'nope' },
      [],
      {},
      '--match: invalid JSON: Unexpected token \'o\', "nope" is not valid JSON',
      'e.g. --match \'{"status": "paid"}\'',
    ],
    [
      'pipeline stage',
      { pipeline: '[{"$lookup": {}}]' },
      [],
      {},
      '--pipeline: $lookup is not allowed in a change stream pipeline',
      'allowed: $match, $project, $addFields, $set, $unset, $replaceRoot, $replaceWith, $redact, $changeStreamSplitLargeEvent',
    ],
    [
      'pipeline two keys',
      { pipeline: '[{"$match": {}, "$project": {}}]' },
      [],
      {},
      '--pipeline: stage 1 must be an object with one stage name',
      undefined,
    ],
    [
      'pipeline split not last',
      { pipeline: '[{"$changeStreamSplitLargeEvent": {}}, {"$match": {}}]' },
      [],
      {},
      '--pipeline: $changeStreamSplitLargeEvent must be the last stage',
      undefined,
    ],
    [
      'pipeline file',
      { pipeline: '@missing.json' },
      [],
      {},
      'cannot read missing.json (no such file or directory)',
      'for --pipeline @file',
    ],
    [
      'resume + start',
      { resumeAfter: TOKEN, startAfter: TOKEN },
      [],
      {},
      '--resume-after and --start-after cannot be used together',
      'choose one start position',
    ],
    [
      'resume + since',
      { resumeAfter: TOKEN, since: '1h' },
      [],
      {},
      '--resume-after and --since cannot be used together',
      'choose one start position',
    ],
    [
      'start + since',
      { startAfter: TOKEN, since: '1h' },
      [],
      {},
      '--start-after and --since cannot be used together',
      'choose one start position',
    ],
    [
      'token not hex',
      { resumeAfter: '{"_data": "xyz"}' },
      [],
      {},
      "--resume-after: the token's _data is not hex: xyz",
      '--resume-after takes a resume token: {"_data":"8266…"} or its hex',
    ],
    [
      'token odd hex',
      { resumeAfter: 'ABC' },
      [],
      {},
      "--resume-after: the token's _data is not hex: ABC",
      '--resume-after takes a resume token: {"_data":"8266…"} or its hex',
    ],
    [
      'token shape',
      { startAfter: '{"token": "82"}' },
      [],
      {},
      '--start-after: not a resume token (no "_data" string): {"token": "82"}',
      '--start-after takes a resume token: {"_data":"8266…"} or its hex',
    ],
    [
      'token garbage',
      { startAfter: 'hello world' },
      [],
      {},
      '--start-after: not a resume token: hello world',
      '--start-after takes a resume token: {"_data":"8266…"} or its hex',
    ],
    [
      'since now',
      { since: 'now' },
      [],
      {},
      '--since now is the default; leave --since out to start from now',
      undefined,
    ],
    [
      'since garbage',
      { since: 'tuesday' },
      [],
      {},
      '--since: "tuesday" is not a time (use an ISO date-time like 2024-05-01T12:00:00Z, epoch seconds, T,I like 1714564800,1, or a duration ago like 15m)',
      undefined,
    ],
    [
      'until garbage',
      { until: '2024-02-30' },
      [],
      {},
      '--until: "2024-02-30" is not a valid date',
      undefined,
    ],
    [
      'until before since',
      { since: '1714564800,5', until: '1714564800,4' },
      [],
      {},
      '--until 1714564800,4 is before --since 1714564800,5',
      'nothing could be printed; check the two times',
    ],
    [
      'colour with a machine format',
      { color: true, format: 'json' },
      [],
      {},
      '--color applies to pretty output; json is never coloured',
      'leave out --color, or use -f pretty',
    ],
    [
      'until in the past, starting now',
      { until: '2000-01-01T00:00:00Z' },
      [],
      {},
      '--until 2000-01-01T00:00:00Z is in the past, and the stream starts now',
      'nothing could be printed; add --since to read from an earlier time',
    ],
    [
      'until a duration ago, starting now',
      { until: '1h' },
      [],
      {},
      '--until 1h is in the past, and the stream starts now',
      'nothing could be printed; add --since to read from an earlier time',
    ],
  ];

describe('bad input → UsageError (exit 2) with the exact message', () => {
  test.each(BAD)('%s', (_name, flags, namespaces, env, message, hint) => {
    let caught: unknown;
    try {
      resolve(flags, namespaces, { env });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const error = caught as UsageError;
    expect(error.message).toBe(message);
    expect(error.hint).toBe(hint);
    expect(error.exitCode).toBe(2);
  });
});

describe('parseToken', () => {
  test('accepts the token file line, bare hex and surrounding space', () => {
    expect(parseToken('--x', `  {"_data":"${TOKEN}"}\n`)).toEqual({ _data: TOKEN });
    expect(parseToken('--x', TOKEN.toLowerCase())).toEqual({ _data: TOKEN.toLowerCase() });
  });
});
