// Stream-side behaviours checked against MongoDB 8.0's source and jstests (issue 7, points 3–10):
// damaged tokens, executor error context, cursor sessions, views, cross-database renames, v1
// tokens and starting before a young replica set's first oplog entry. Each test names its source.
// Token values come from the `bson` package the server itself uses (the driver bundles its own
// copy, whose classes the token encoder does not recognise).
import { Binary, Int32, type Long, Timestamp } from 'bson';
import { type ClientSession, type Db, type Document, MongoClient, MongoServerError } from 'mongodb';
import { Cursors, cursorCommands } from './commands/cursors.js';
import { startTestServer, type TestServer } from './index.js';
import { decodeResumeToken, encodeResumeToken, type ResumeToken } from './change-stream/tokens.js';
import type { CommandContext, ServerCursor } from './types.js';

let server: TestServer;
let client: MongoClient;
let counter = 0;

beforeAll(async () => {
  server = await startTestServer({ noopIntervalMs: 0 });
  client = new MongoClient(server.uri);
  await client.connect();
});

afterAll(async () => {
  await client.close();
  await server.stop();
});

function freshDb(): Db {
  counter++;
  return client.db(`fidelity${counter}`);
}

async function failure(p: Promise<unknown>): Promise<MongoServerError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MongoServerError) return err;
    throw err;
  }
  throw new Error('expected a server error');
}

/** Opens a raw change-stream cursor in `session`; returns its id and first batch. */
async function openRaw(
  db: Db,
  session: ClientSession,
  aggregate: string | number,
  spec: Document = {},
  cursor: Document = {},
): Promise<{ id: Long; batch: Document[]; pbrt: Document }> {
  const reply = await db.command(
    { aggregate, pipeline: [{ $changeStream: spec }], cursor },
    { session },
  );
  const c = reply.cursor as Document;
  return {
    id: c.id as Long,
    batch: c.firstBatch as Document[],
    pbrt: c.postBatchResumeToken as Document,
  };
}

async function getMore(
  db: Db,
  session: ClientSession,
  id: Long,
  collection: string,
): Promise<Document[]> {
  return (await getMoreReply(db, session, id, collection)).nextBatch as Document[];
}

async function getMoreReply(
  db: Db,
  session: ClientSession,
  id: Long,
  collection: string,
): Promise<Document> {
  const reply = await db.command({ getMore: id, collection, maxTimeMS: 50 }, { session });
  return reply.cursor as Document;
}

/** Every event until an empty batch or the cursor's end. */
async function drain(db: Db, session: ClientSession, id: Long, coll: string): Promise<Document[]> {
  const out: Document[] = [];
  for (;;) {
    const cursor = await getMoreReply(db, session, id, coll);
    const batch = cursor.nextBatch as Document[];
    out.push(...batch);
    if (batch.length === 0 || Number(cursor.id) === 0) return out;
  }
}

describe('damaged resume tokens (ResumeToken::getData, resume_token.cpp)', () => {
  const ts = new Timestamp({ t: 1, i: 1 });
  const cases: [string, Document, number, string][] = [
    ['text that is not hex', { _data: 'XYZ' }, 9, 'resume token string was not a valid hex string'],
    [
      'an odd number of hex digits',
      { _data: '826' },
      9,
      'resume token string was not a valid hex string',
    ],
    ['an empty _data', { _data: '' }, 40649, 'invalid empty resume token'],
    [
      'only a clusterTime',
      {
        _data: encodeResumeToken({
          clusterTime: ts,
          version: 2,
          tokenType: 0,
          txnOpIndex: 0,
          fromInvalidate: false,
        })._data.slice(0, 18),
      },
      50796,
      'Resume Token does not contain version',
    ],
    [
      'version 3',
      {
        _data: `${encodeResumeToken({ clusterTime: ts, version: 2, tokenType: 0, txnOpIndex: 0, fromInvalidate: false })._data.slice(0, 18)}2B0604`,
      },
      50795,
      'Invalid Resume Token: only supports version 0, 1 and 2',
    ],
    [
      'truncated after the version',
      {
        _data: `${encodeResumeToken({ clusterTime: ts, version: 2, tokenType: 0, txnOpIndex: 0, fromInvalidate: false })._data.slice(0, 22)}`,
      },
      51055,
      'Resume Token does not contain tokenType',
    ],
    [
      'a v2 token without its UUID slot',
      {
        _data: `${encodeResumeToken({ clusterTime: ts, version: 2, tokenType: 0, txnOpIndex: 0, fromInvalidate: false })._data.slice(0, -4)}04`,
      },
      6189500,
      'Expected UUID or null',
    ],
    [
      'an unknown KeyString type byte',
      { _data: 'DE04' },
      50811,
      'KeyString format error: Unknown type: 222',
    ],
    [
      '_typeBits that are not BinData',
      { _data: '8200000001000000012B0229296E1404', _typeBits: 1 },
      40648,
      'Bad resume token: _typeBits of wrong type {_data: "8200000001000000012B0229296E1404", _typeBits: 1}',
    ],
  ];
  it.each(cases)('%s', async (_what, token, code, message) => {
    const db = freshDb();
    const err = await failure(
      db.command({
        aggregate: 1,
        pipeline: [{ $changeStream: { resumeAfter: token } }],
        cursor: {},
      }),
    );
    expect([err.code, err.message]).toEqual([code, message]);
  });

  it('reads a well-formed token of every version it accepts', () => {
    for (const version of [0, 1, 2]) {
      const data = decodeResumeToken(
        encodeResumeToken({
          clusterTime: ts,
          version,
          tokenType: 128,
          txnOpIndex: 0,
          fromInvalidate: false,
          uuid: null,
          eventIdentifier: { operationType: 'drop' },
        }),
      );
      expect(data.version).toBe(version);
    }
  });
});

describe('executor context on errors raised while the pipeline runs', () => {
  it('aggregate: "PlanExecutor error during aggregation :: caused by :: …" (run_aggregate.cpp)', async () => {
    const db = freshDb();
    await db.collection<{ _id: number }>('c').insertOne({ _id: 1 });
    await db.collection<{ _id: number }>('c').insertOne({ _id: 2 });
    const session = client.startSession();
    try {
      const opened = await openRaw(db, session, 'c', {
        startAtOperationTime: new Timestamp({ t: 1, i: 1 }),
      });
      const events = [...opened.batch, ...(await drain(db, session, opened.id, 'c'))];
      const token = events.find((e) => e.operationType === 'insert')?._id as Document;
      const data = decodeResumeToken(token as ResumeToken);
      // Same time, another documentKey: the token is not in the stream.
      const fake = encodeResumeToken({
        ...data,
        eventIdentifier: { operationType: 'insert', documentKey: { _id: 99 } },
      });
      const err = await failure(openRaw(db, session, 'c', { resumeAfter: fake }));
      expect(err.code).toBe(280);
      expect(err.message).toMatch(
        /^PlanExecutor error during aggregation :: caused by :: cannot resume stream; the resume token was not found\. /,
      );
      // The same error on the first getMore (batchSize 0): getmore_cmd.cpp's context instead.
      const lazy = await openRaw(db, session, 'c', { resumeAfter: fake }, { batchSize: 0 });
      const err2 = await failure(getMore(db, session, lazy.id, 'c'));
      expect(err2.message).toMatch(
        /^Executor error during getMore :: caused by :: cannot resume stream; the resume token was not found\. /,
      );
      expect(err2.errorLabels).toEqual(['NonResumableChangeStreamError']);
    } finally {
      await session.endSession();
    }
  });

  it('errors of the command itself carry no context (40674, 50865)', async () => {
    const db = freshDb();
    const token = { _data: '8200000001000000012B0429296E1404' };
    const both = await failure(
      db.command({
        aggregate: 1,
        pipeline: [{ $changeStream: { resumeAfter: token, startAfter: token } }],
        cursor: {},
      }),
    );
    expect([both.code, both.message]).toEqual([
      50865,
      "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage",
    ]);
    const mixed = await failure(
      db.command({
        aggregate: 1,
        pipeline: [
          {
            $changeStream: {
              resumeAfter: token,
              startAtOperationTime: new Timestamp({ t: 1, i: 1 }),
            },
          },
        ],
        cursor: {},
      }),
    );
    expect([mixed.code, mixed.message]).toEqual([
      40674,
      'Only one type of resume option is allowed, but multiple were found',
    ]);
  });

  it('{$changeStream: 1} is 50808 (document_source_change_stream.cpp)', async () => {
    const err = await failure(
      freshDb().command({ aggregate: 1, pipeline: [{ $changeStream: 1 }], cursor: {} }),
    );
    expect([err.code, err.message]).toEqual([
      50808,
      '$changeStream stage expects a document as argument',
    ]);
  });
});

describe('a cursor belongs to its session (validateLSID, getmore_cmd.cpp)', () => {
  it('refuses a getMore from another session (50738) or without one (50737); the cursor survives', async () => {
    const db = freshDb();
    const owner = client.startSession();
    const other = client.startSession();
    try {
      const { id } = await openRaw(db, owner, 1);
      const err = await failure(getMore(db, other, id, '$cmd.aggregate'));
      expect(err.code).toBe(50738);
      const ownerId = (owner.id?.id as Binary).toUUID().toHexString();
      const otherId = (other.id?.id as Binary).toUUID().toHexString();
      const uid = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';
      expect(err.message).toBe(
        `Cannot run getMore on cursor ${id.toString()}, which was created in session ${ownerId} - ${uid} -  - , in session ${otherId} - ${uid} -  - `,
      );
      // The check runs before anything else and leaves the cursor open.
      await db.collection<{ _id: number }>('c').insertOne({ _id: 1 });
      const events = await drain(db, owner, id, '$cmd.aggregate');
      expect(events.map((e) => e.operationType)).toContain('insert');
    } finally {
      await owner.endSession();
      await other.endSession();
    }
  });

  it('holds for query cursors too: find and aggregate (every ClientCursor keeps its session)', async () => {
    const db = freshDb();
    await db.collection<{ _id: number }>('q').insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
    const owner = client.startSession();
    const other = client.startSession();
    try {
      const opened = [
        await db.command({ find: 'q', batchSize: 1 }, { session: owner }),
        await db.command(
          { aggregate: 'q', pipeline: [], cursor: { batchSize: 1 } },
          { session: owner },
        ),
      ];
      for (const reply of opened) {
        const id = (reply.cursor as Document).id as Long;
        const err = await failure(
          db.command({ getMore: id, collection: 'q', batchSize: 1 }, { session: other }),
        );
        expect([err.code, err.message]).toEqual([
          50738,
          expect.stringMatching(
            `^Cannot run getMore on cursor ${id.toString()}, which was created in session `,
          ),
        ]);
        const next = await db.command(
          { getMore: id, collection: 'q', batchSize: 1 },
          { session: owner },
        );
        expect((next.cursor as Document).nextBatch).toEqual([{ _id: 2 }]);
      }
      // The driver's own cursors keep one session from find to getMore.
      const all = await db.collection('q').find({}, { batchSize: 1 }).toArray();
      expect(all).toHaveLength(3);
    } finally {
      await owner.endSession();
      await other.endSession();
    }
  });

  it('getMore arguments: IDL types, and maxTimeMS only for awaitData cursors', async () => {
    const db = freshDb();
    await db.collection<{ _id: number }>('q').insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
    const session = client.startSession();
    try {
      const reply = await db.command({ find: 'q', batchSize: 1 }, { session });
      const id = (reply.cursor as Document).id as Long;
      const run = (extra: Document): Promise<Document> =>
        db.command({ getMore: id, collection: 'q', ...extra }, { session });
      const wrong = await failure(run({ collection: 5 }));
      expect([wrong.code, wrong.message]).toEqual([
        14,
        "BSON field 'getMore.collection' is the wrong type 'int', expected type 'string'",
      ]);
      const batch = await failure(run({ batchSize: 'x' }));
      expect([batch.code, batch.message]).toEqual([
        14,
        "BSON field 'getMore.batchSize' is the wrong type 'string', expected types '[long, int, decimal, double]'",
      ]);
      // getmore_cmd.cpp validateMaxTimeMS: a find cursor is not awaitData; it stays open.
      const timed = await failure(run({ maxTimeMS: 10 }));
      expect([timed.code, timed.codeName, timed.message]).toEqual([
        2,
        'BadValue',
        'cannot set maxTimeMS on getMore command for a non-awaitData cursor',
      ]);
      const next = await run({ batchSize: 1 });
      expect((next.cursor as Document).nextBatch).toEqual([{ _id: 2 }]);
    } finally {
      await session.endSession();
    }
  });

  it('50737 without an lsid, 50736 for a cursor opened without one', async () => {
    const registry = new Cursors();
    const ctx = { db: 'd', server: { cursors: registry }, connection: { id: 1, closed: false } };
    const lsid = { id: new Binary(Buffer.alloc(16, 1), 4) };
    const make = (owner: Document | null): Long => {
      const id = registry.nextId();
      registry.add({
        id,
        ns: 'd.c',
        isChangeStream: true,
        lsid: owner,
        getMore: () => Promise.resolve({ cursor: { nextBatch: [], id, ns: 'd.c' }, ok: 1 }),
        kill: () => undefined,
      } as ServerCursor);
      return id;
    };
    const run = (cmd: Document): Promise<unknown> =>
      Promise.resolve(cursorCommands.getMore?.(cmd, ctx as unknown as CommandContext));
    const owned = make(lsid);
    await expect(run({ getMore: owned, collection: 'c' })).rejects.toMatchObject({ code: 50737 });
    const free = make(null);
    await expect(run({ getMore: free, collection: 'c', lsid })).rejects.toMatchObject({
      code: 50736,
      message: `Cannot run getMore on cursor ${free.toString()}, which was not created in a session, in session 01010101-0101-0101-0101-010101010101 - 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= -  - `,
    });
    await expect(run({ getMore: free, collection: 'c' })).resolves.toMatchObject({ ok: 1 });
  });
});

describe('starting before the oldest oplog entry', () => {
  it('is fine while that entry is the "initiating set" no-op (collection_scan.cpp isNewRS)', async () => {
    const own = await startTestServer({ noopIntervalMs: 0 });
    const c = new MongoClient(own.uri);
    try {
      const db = c.db('young');
      const stream = db.watch([], {
        startAtOperationTime: new Timestamp({ t: 1, i: 1 }),
        maxAwaitTimeMS: 50,
      });
      await db.collection<{ _id: number }>('c').insertOne({ _id: 1 });
      const ev = await stream.next();
      expect(ev.operationType).toBe('insert');
      await stream.close();
      // Once history has fallen off, the same start point is lost: 286.
      own.truncateOplog();
      const err = await failure(
        db.command({
          aggregate: 1,
          pipeline: [{ $changeStream: { startAtOperationTime: new Timestamp({ t: 1, i: 1 }) } }],
          cursor: {},
        }),
      );
      expect(err.code).toBe(286);
    } finally {
      await c.close();
      await own.stop();
    }
  });
});

describe('v1 resume tokens (a token file written against a 6.0 server)', () => {
  it('resumes after the event, comparing in the token version (makeResumeToken)', async () => {
    const db = freshDb();
    const session = client.startSession();
    try {
      const { id } = await openRaw(db, session, 'c');
      await db.collection<{ _id: number }>('c').insertOne({ _id: 1 });
      await db.collection<{ _id: number }>('c').insertOne({ _id: 2 });
      const events = await drain(db, session, id, 'c');
      const first = decodeResumeToken(events[0]?._id as ResumeToken);
      // The same event's token as a 6.0 server wrote it: version 1, eventIdentifier = documentKey.
      const v1 = encodeResumeToken({
        clusterTime: first.clusterTime,
        version: 1,
        tokenType: 128,
        txnOpIndex: 0,
        fromInvalidate: false,
        uuid: first.uuid ?? null,
        eventIdentifier: { _id: new Int32(1) },
      });
      const resumed = await openRaw(db, session, 'c', { resumeAfter: v1 });
      const after = [...resumed.batch, ...(await drain(db, session, resumed.id, 'c'))];
      expect(after.map((e) => (e.documentKey as Document)._id)).toEqual([2]);
      // Events past the token carry the server's own version.
      expect(decodeResumeToken(after[0]?._id as ResumeToken).version).toBe(2);
    } finally {
      await session.endSession();
    }
  });
});

describe('views', () => {
  it('a view drop is invisible to plain streams; expanded database streams see it with the system.views UUID', async () => {
    const db = freshDb();
    await db.collection<{ _id: number }>('c').insertOne({ _id: 1 });
    const session = client.startSession();
    try {
      const plain = await openRaw(db, session, 1);
      const expanded = await openRaw(db, session, 1, { showExpandedEvents: true });
      await db.command({ create: 'v', viewOn: 'c', pipeline: [] });
      await db.command({ drop: 'v' });
      await db.collection<{ _id: number }>('c').insertOne({ _id: 2 });
      const a = await drain(db, session, plain.id, '$cmd.aggregate');
      expect(a.map((e) => e.operationType)).toEqual(['insert']);
      const b = await drain(db, session, expanded.id, '$cmd.aggregate');
      expect(b.map((e) => e.operationType)).toEqual(['create', 'drop', 'insert']);
      const create = decodeResumeToken(b[0]?._id as ResumeToken);
      const drop = decodeResumeToken(b[1]?._id as ResumeToken);
      expect(create.uuid).toBeTruthy();
      expect(drop.uuid?.toHexString()).toBe(create.uuid?.toHexString());
      expect(b[1]).not.toHaveProperty('collectionUUID');
      expect(b[1]).not.toHaveProperty('operationDescription');
      // Resuming from a view event finds it again.
      const resumed = await openRaw(db, session, 1, {
        showExpandedEvents: true,
        resumeAfter: b[1]?._id,
      });
      const rest = [...resumed.batch, ...(await drain(db, session, resumed.id, '$cmd.aggregate'))];
      expect(rest.map((e) => e.operationType)).toEqual(['insert']);
    } finally {
      await session.endSession();
    }
  });

  it('a stream on a view fails with 166 (ban_from_views.js)', async () => {
    const db = freshDb();
    await db.command({ create: 'v', viewOn: 'c', pipeline: [] });
    const err = await failure(
      db.command({ aggregate: 'v', pipeline: [{ $changeStream: {} }], cursor: {} }),
    );
    expect([err.code, err.codeName, err.message]).toEqual([
      166,
      'CommandNotSupportedOnView',
      `Namespace ${db.databaseName}.v is a view, not a collection`,
    ]);
  });
});

describe('renameCollection across databases (ddl_rename_cross_db.js)', () => {
  it.each([false, true])(
    'dropTarget %s: drop on the source side, staging events then rename on the target',
    async (dropTarget) => {
      const src = freshDb();
      const dst = freshDb();
      await dst.collection('unused').insertOne({ a: 1 });
      if (dropTarget) await dst.collection('target').insertOne({ b: 1 });
      await src.collection('source').insertMany([{ Key0: 'Val0' }, { Key2: 'Val1' }]);
      await src.collection('source').createIndex({ Key0: 1 });
      const session = client.startSession();
      try {
        const spec = { showExpandedEvents: true };
        const srcDbStream = await openRaw(src, session, 1, spec);
        const srcColl = await openRaw(src, session, 'source', spec);
        const dstDbStream = await openRaw(dst, session, 1, spec);
        const dstColl = await openRaw(dst, session, 'target', spec);
        await client.db('admin').command({
          renameCollection: `${src.databaseName}.source`,
          to: `${dst.databaseName}.target`,
          dropTarget,
        });
        const s1 = await drain(src, session, srcDbStream.id, '$cmd.aggregate');
        expect(s1.map((e) => e.operationType)).toEqual(['drop']);
        const s2 = await drain(src, session, srcColl.id, 'source');
        expect(s2.map((e) => e.operationType)).toEqual(['drop', 'invalidate']);
        const d1 = await drain(dst, session, dstDbStream.id, '$cmd.aggregate');
        expect(d1.map((e) => e.operationType)).toEqual([
          'create',
          'createIndexes',
          'insert',
          'insert',
          'rename',
        ]);
        const tmp = /^tmp[a-zA-Z0-9]{5}\.renameCollection$/;
        for (const e of d1) expect((e.ns as Document).coll).toMatch(tmp);
        const rename = d1[4] as Document;
        expect(rename.to).toEqual({ db: dst.databaseName, coll: 'target' });
        expect(Object.keys(rename.operationDescription as Document)).toEqual(
          dropTarget ? ['to', 'dropTarget'] : ['to'],
        );
        const d2 = await drain(dst, session, dstColl.id, 'target');
        expect(d2.map((e) => e.operationType)).toEqual(['rename', 'invalidate']);
        expect(await dst.collection('target').countDocuments()).toBe(2);
        expect(await src.listCollections({ name: 'source' }).toArray()).toEqual([]);
      } finally {
        await session.endSession();
      }
    },
  );
});
