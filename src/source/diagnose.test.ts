import { Timestamp } from 'bson';
import { MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { ConnectError, ResumeError, TailError, UsageError } from '../errors.js';
import type { StartPosition } from '../options.js';
import { NoAnswerError, PrimaryChangedError } from './cursor.js';
import { causeOf, isHistoryLost, isTransient, oldestFromReply, toStreamError } from './diagnose.js';

function serverError(code: number, errmsg: string, labels: string[] = []): MongoServerError {
  return new MongoServerError({
    ok: 0,
    code,
    errmsg,
    codeName: `Code${code}`,
    errorLabels: labels,
  });
}

const TOKEN = { _data: '8266D3EF23000000012B042C0100296E5A1004' };
const SINCE: StartPosition = { kind: 'since', ts: new Timestamp({ t: 1714564800, i: 2 }) };
const AFTER: StartPosition = { kind: 'resumeAfter', token: TOKEN };
const OPTS = { uri: 'mongodb://alice:pw1234@db1/?replicaSet=rs0', timeZone: 'UTC' };

describe('isTransient', () => {
  test.each([
    ['network error', new MongoNetworkError('socket closed'), true],
    ['a getMore the server did not answer', new NoAnswerError('getMore', 11_000, 0), true],
    ['a command abandoned for a new primary', new PrimaryChangedError('a:1', 'b:1'), true],
    ['server selection', new MongoServerSelectionError('no primary', {} as never), true],
    ['labelled resumable', serverError(999, 'x', ['ResumableChangeStreamError']), true],
    ['91 without a label', serverError(91, 'shutting down'), true],
    ['43 cursor not found', serverError(43, 'cursor id 1 not found'), true],
    ['136 capped position lost', serverError(136, 'lost'), true],
    ['286 history lost', serverError(286, 'gone', ['NonResumableChangeStreamError']), false],
    [
      'transient code but non-resumable label',
      serverError(91, 'x', ['NonResumableChangeStreamError']),
      false,
    ],
    ['47 no matching document', serverError(47, 'no pre-image'), false],
    // Resume errors are never retried, whatever --retry-for says.
    ['286 history lost, unlabelled', serverError(286, 'gone'), false],
    ['280 fatal', serverError(280, 'cannot resume'), false],
    ['260 invalid resume token', serverError(260, 'bad token'), false],
    ['50811 bad KeyString', serverError(50811, 'unknown type'), false],
    ['40647 no _data', serverError(40647, 'no _data'), false],
    ['a plain error', new Error('bug'), false],
  ])('%s', (_name, error, expected) => {
    expect(isTransient(error)).toBe(expected);
  });
});

describe('toStreamError', () => {
  test('a token the server cannot parse → ResumeError (exit 4) naming the token file', () => {
    const error = toStreamError(serverError(9, 'resume token ends early'), AFTER, {
      ...OPTS,
      tokenFile: 'pos.json',
    });
    expect(error).toBeInstanceOf(ResumeError);
    expect((error as ResumeError).exitCode).toBe(4);
    expect((error as ResumeError).message).toMatch(
      /^cannot resume after the resume token at cluster time .*: the server cannot read the resume token in pos\.json \(resume token ends early\)$/,
    );
    expect((error as ResumeError).hint).toBe(
      'remove pos.json to start from now (or remove it and use --since)',
    );
  });

  test('286 → ResumeError naming the position, with what to do', () => {
    const error = toStreamError(
      serverError(286, 'Resume of change stream was not possible'),
      SINCE,
      {
        ...OPTS,
        tokenFile: 'pos.json',
      },
    );
    expect(error).toBeInstanceOf(ResumeError);
    expect((error as ResumeError).message).toBe(
      'cannot resume from cluster time 1714564800,2 (2024-05-01T12:00:00Z): that point is no longer ' +
        'in the oplog (ChangeStreamHistoryLost); the events since then cannot be read from this deployment any more',
    );
    expect((error as ResumeError).hint).toBe(
      'leave out --since to start from now, or use a later --since to read what the oplog still holds',
    );
    expect((error as ResumeError).exitCode).toBe(4);
  });

  test('times in messages follow the zone chosen for the run (local, or --utc)', () => {
    const oldest = { ts: new Timestamp({ t: 1714600000, i: 3 }) };
    const paris = { ...OPTS, timeZone: 'Europe/Paris' };
    const error = toStreamError(serverError(286, 'gone'), SINCE, paris, oldest) as ResumeError;
    expect(error.message).toContain('(2024-05-01T14:00:00+02:00)');
    expect(error.message).toContain('(2024-05-01T23:46:40+02:00)');
  });

  test('286 with the oldest time still held → the message names the lost window', () => {
    const oldest = {
      ts: new Timestamp({ t: 1714600000, i: 3 }),
      wall: new Date('2024-05-01T21:46:40.123Z'),
    };
    const fromSince = toStreamError(serverError(286, 'gone'), SINCE, OPTS, oldest) as ResumeError;
    expect(fromSince).toBeInstanceOf(ResumeError);
    expect(fromSince.message).toBe(
      'cannot resume from cluster time 1714564800,2 (2024-05-01T12:00:00Z): that point is no longer ' +
        'in the oplog (ChangeStreamHistoryLost); the oldest still held is 1714600000,3 ' +
        '(2024-05-01T21:46:40Z), so the events between 1714564800,2 and then are lost',
    );
    expect(fromSince.hint).toBe(
      'leave out --since to start from now, or use a later --since to read what the oplog still holds',
    );
    const fromToken = toStreamError(
      serverError(286, 'gone'),
      AFTER,
      { ...OPTS, tokenFile: 'pos.json' },
      { ts: oldest.ts },
    ) as ResumeError;
    // Without a wall time, the cluster time's own seconds stand for it.
    expect(fromToken.message).toBe(
      'cannot resume after the resume token at cluster time 1725165347,1 (2024-09-01T04:35:47Z): ' +
        'that point is no longer in the oplog (ChangeStreamHistoryLost); the oldest still held is ' +
        '1714600000,3 (2024-05-01T21:46:40Z), so the events between 1725165347,1 and then are lost',
    );
    expect(fromToken.hint).toBe(
      'remove pos.json and start again with --since at a time the oplog still holds (or from now)',
    );
    // A token whose time cannot be read still names the end of the window.
    const opaque = toStreamError(
      serverError(286, 'gone'),
      { kind: 'resumeAfter', token: { _data: 'zz' } },
      OPTS,
      oldest,
    ) as ResumeError;
    expect(opaque.message).toMatch(
      /after the given resume token: .*; the oldest still held is 1714600000,3 \(2024-05-01T21:46:40Z\), so the events before then are lost$/,
    );
  });

  test('isHistoryLost: only a server error 286', () => {
    expect(isHistoryLost(serverError(286, 'gone'))).toBe(true);
    expect(isHistoryLost(serverError(280, 'not found'))).toBe(false);
    expect(isHistoryLost(new Error('286'))).toBe(false);
  });

  test('280 and 260 → ResumeError with the token time', () => {
    const notFound = toStreamError(
      serverError(280, 'cannot resume stream; the resume token was not found'),
      AFTER,
      OPTS,
    );
    expect(notFound).toBeInstanceOf(ResumeError);
    expect((notFound as ResumeError).message).toBe(
      'cannot resume after the resume token at cluster time 1725165347,1 (2024-09-01T04:35:47Z): ' +
        'cannot resume stream; the resume token was not found (ChangeStreamFatalError)',
    );
    const lost = toStreamError(serverError(286, 'gone'), AFTER, { ...OPTS, tokenFile: 'pos.json' });
    expect((lost as ResumeError).hint).toBe(
      'remove pos.json and start again with --since at a time the oplog still holds (or from now)',
    );
    const invalid = toStreamError(serverError(260, 'not allowed from an invalidate'), AFTER, OPTS);
    expect(invalid).toBeInstanceOf(ResumeError);
    expect((invalid as ResumeError).hint).toContain('--start-after');
  });

  test('a pipeline that modified _id → UsageError', () => {
    const server = toStreamError(
      serverError(
        280,
        'Encountered an event whose _id field, which contains the resume token, was modified by the pipeline',
      ),
      AFTER,
      OPTS,
    );
    expect(server).toBeInstanceOf(UsageError);
  });

  test('40573 → ConnectError about replica sets, password redacted', () => {
    const error = toStreamError(serverError(40573, 'only supported on replica sets'), SINCE, OPTS);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).message).toBe(
      'change streams need a replica set or sharded cluster, and mongodb://alice:****@db1/?replicaSet=rs0 is a standalone server',
    );
    expect((error as ConnectError).hint).toContain('--replSet rs0');
  });

  test('13 → ConnectError; pipeline codes → UsageError; 47 → exit 1; others → exit 1', () => {
    expect(toStreamError(serverError(13, 'not authorized'), SINCE, OPTS)).toBeInstanceOf(
      ConnectError,
    );
    const illegal = toStreamError(
      serverError(20, '$lookup is not permitted in a $changeStream pipeline'),
      SINCE,
      OPTS,
    );
    expect(illegal).toBeInstanceOf(UsageError);
    expect((illegal as UsageError).message).toBe(
      'the server refused the change stream: $lookup is not permitted in a $changeStream pipeline (Code20)',
    );
    const image = toStreamError(serverError(47, 'no post-image'), SINCE, OPTS) as TailError;
    expect(image.exitCode).toBe(1);
    const other = toStreamError(serverError(8000, 'something else'), SINCE, OPTS) as TailError;
    expect(other).toBeInstanceOf(TailError);
    expect(other.exitCode).toBe(1);
    expect(other.message).toBe('server error Code8000 (8000): something else');
  });

  test('a network failure → ConnectError; anything else passes through', () => {
    expect(toStreamError(new MongoNetworkError('reset'), SINCE, OPTS)).toBeInstanceOf(ConnectError);
    const bug = new TypeError('oops');
    expect(toStreamError(bug, SINCE, OPTS)).toBe(bug);
  });
});

describe('damaged tokens: every code a server uses for them is exit 4', () => {
  test.each([
    9, 15, 40646, 40647, 40648, 40649, 50795, 50796, 50811, 50854, 51055, 51056, 51057, 6189500,
    7182501,
  ])('code %i with a token given → ResumeError naming the token file', (code) => {
    const error = toStreamError(serverError(code, 'bad token'), AFTER, {
      ...OPTS,
      tokenFile: 'pos.json',
    });
    expect(error).toBeInstanceOf(ResumeError);
    expect((error as ResumeError).exitCode).toBe(4);
    expect((error as ResumeError).message).toMatch(
      /the server cannot read the resume token in pos\.json \(bad token\)$/,
    );
  });

  test('40649 without a token (e.g. --since) is not called a damaged token', () => {
    const error = toStreamError(serverError(40649, 'x'), SINCE, OPTS);
    expect(error).not.toBeInstanceOf(ResumeError);
  });
});

describe('executor context in server messages', () => {
  test.each([
    [
      'PlanExecutor error during aggregation :: caused by :: cannot resume stream',
      'cannot resume stream',
    ],
    ['Executor error during getMore :: caused by :: cannot resume stream', 'cannot resume stream'],
    ['plain message', 'plain message'],
    // Only a prefix is context: the same words inside a message stay.
    ['a :: caused by :: b', 'a :: caused by :: b'],
  ])('%s', (raw, cause) => {
    expect(causeOf(raw)).toBe(cause);
  });

  test('a 280 from a getMore reads as its cause', () => {
    const error = toStreamError(
      serverError(
        280,
        'Executor error during getMore :: caused by :: cannot resume stream; the resume token was not found. {_data: "82"}',
      ),
      AFTER,
      OPTS,
    );
    expect((error as ResumeError).message).toMatch(
      /: cannot resume stream; the resume token was not found\. \{_data: "82"\} \(ChangeStreamFatalError\)$/,
    );
    expect((error as ResumeError).message).not.toContain('Executor');
  });
});

test('an event over 16 MB (10334) names --split-large-events', () => {
  const error = toStreamError(
    serverError(
      10334,
      'Executor error during getMore :: caused by :: BSONObj size: 17000000 is invalid',
    ),
    AFTER,
    OPTS,
  ) as TailError;
  expect(error).toBeInstanceOf(TailError);
  expect(error.exitCode).toBe(1);
  expect(error.message).toContain('BSONObj size: 17000000 is invalid (BSONObjectTooLarge)');
  expect(error.hint).toContain('--split-large-events');
});

describe('oldestFromReply', () => {
  test('the first entry of a find on local.oplog.rs: ts and wall', () => {
    const ts = new Timestamp({ t: 1714600000, i: 3 });
    const wall = new Date('2024-05-01T21:46:40.123Z');
    expect(oldestFromReply({ cursor: { firstBatch: [{ ts, wall }], id: 0 }, ok: 1 })).toEqual({
      ts,
      wall,
    });
    // An entry without a usable wall time still gives its cluster time.
    expect(oldestFromReply({ cursor: { firstBatch: [{ ts, wall: 'x' }] } })).toEqual({ ts });
  });

  test('nothing usable → undefined (the message then leaves the oldest time out)', () => {
    expect(oldestFromReply({ cursor: { firstBatch: [] }, ok: 1 })).toBeUndefined();
    expect(oldestFromReply({ ok: 1 })).toBeUndefined();
    expect(oldestFromReply({ cursor: { firstBatch: [{ ts: 5 }] } })).toBeUndefined();
    expect(oldestFromReply({ cursor: { firstBatch: [null] } })).toBeUndefined();
  });
});
