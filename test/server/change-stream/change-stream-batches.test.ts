// The change-stream read path that serves catch-ups: `$match` compiled once (and reading only
// the fields it needs) decides as the aggregation did, and a cursor hands out cached event BSON
// in order across many batches, through an invalidate, with the batch limits unchanged.
import { type Document, Int32, Long, Timestamp, UUID, serialize } from 'bson';
import { Aggregator } from 'mingo';
import { Cursors } from '../commands/cursors.js';
import { compileStage, matchFields, openChangeStream } from './change-stream.js';
import { ServerError } from '../errors.js';
import { DEFAULT_EVENT_OPTIONS, buildEvent } from './events.js';
import { Oplog } from '../oplog.js';
import type { RawDocumentArray } from './raw-bson.js';
import { decodeResumeToken, type ResumeToken } from './tokens.js';
import type { CommandContext, OplogEntry, ServerState, StorageApi } from '../types.js';
import { cloneWithBson, isNumeric, toNumber } from '../values.js';

describe('matchFields', () => {
  it.each<[unknown, string[] | undefined]>([
    [{ operationType: 'insert' }, ['operationType']],
    [{ 'fullDocument.a.b': 1, 'ns.coll': { $in: ['a'] } }, ['fullDocument', 'ns']],
    [
      { $or: [{ operationType: 'drop' }, { $and: [{ 'documentKey._id': 1 }] }] },
      ['operationType', 'documentKey'],
    ],
    [{ $nor: [{ a: 1 }], $comment: 'why' }, ['a']],
    [{}, []],
    [{ $expr: { $eq: ['$a', 1] } }, undefined],
    [{ a: 1, $where: 'true' }, undefined],
    [{ $or: { a: 1 } }, undefined],
    [{ $and: [5] }, undefined],
    ['not a filter', undefined],
  ])('%j reads %j', (filter, fields) => {
    const got = matchFields(filter);
    expect(got === undefined ? undefined : [...got].sort()).toEqual(fields?.sort());
  });
});

/** BSON numbers as JS numbers, as the old $match path handed events to mingo. */
function normalize(v: unknown): unknown {
  if (v instanceof Timestamp) return v;
  if (isNumeric(v)) return toNumber(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

describe('a compiled $match', () => {
  const UUID_A = new UUID('00112233-4455-6677-8899-aabbccddeeff');
  const events = ['insert', 'update', 'delete', 'drop'].map((op, i) => {
    const e: OplogEntry = {
      op: op as OplogEntry['op'],
      db: 'db0',
      coll: 'c0',
      uuid: UUID_A,
      ts: new Timestamp({ t: 1_700_000_000, i: i + 1 }),
      wall: new Date(1_700_000_000_000),
      ...(op === 'drop'
        ? {}
        : {
            documentKey: { _id: new Int32(i) },
            fullDocument: {
              _id: new Int32(i),
              a: new Int32(i),
              tags: ['x', `t${i}`],
              n: new Long(i),
            },
          }),
      ...(op === 'update'
        ? {
            updateDescription: {
              updatedFields: { a: new Int32(i) },
              removedFields: [],
              truncatedArrays: [],
            },
          }
        : {}),
    };
    return buildEvent(e, DEFAULT_EVENT_OPTIONS, { currentDocument: () => null }) as Document;
  });
  const filters: Document[] = [
    { operationType: 'insert' },
    { operationType: { $in: ['insert', 'update'] } },
    { 'fullDocument.a': { $gte: 1 } },
    { 'fullDocument.n': 2 },
    { 'fullDocument.tags': 't0' },
    { 'documentKey._id': { $exists: true } },
    { $or: [{ operationType: 'drop' }, { 'fullDocument.a': 0 }] },
    { $nor: [{ operationType: 'insert' }] },
    { $expr: { $eq: ['$operationType', 'delete'] } },
    { 'ns.coll': 'c0', operationType: { $ne: 'drop' } },
    { 'updateDescription.updatedFields.a': 1 },
    { clusterTime: { $gt: new Timestamp({ t: 1_700_000_000, i: 2 }) } },
  ];

  it.each(filters.map((f) => [JSON.stringify(f), f]))(
    'keeps the events the aggregation kept: %s',
    (_label, filter) => {
      const stage = compileStage({ $match: filter });
      const aggregator = new Aggregator([normalize({ $match: filter }) as Document], {});
      for (const event of events) {
        const kept = aggregator.run([normalize(event) as Document]).length > 0;
        const out = stage.run(event);
        expect(out).toEqual(kept ? [event] : []);
        if (kept) expect(out[0]).toBe(event); // the event itself: its cached BSON serves
      }
    },
  );

  it('fails the read, not the open, on a filter mingo rejects (code 2)', () => {
    const stage = compileStage({ $match: { $unknownOperator: 1 } });
    expect(() => stage.run(events[0] as Document)).toThrow(ServerError);
    try {
      stage.run(events[0] as Document);
    } catch (err) {
      expect((err as ServerError).code).toBe(2);
    }
  });
});

describe('a cursor over cached event BSON', () => {
  const UUID_A = new UUID('00112233-4455-6677-8899-aabbccddeeff');
  const oplogs: Oplog[] = [];
  afterEach(() => {
    for (const o of oplogs.splice(0)) o.close();
  });

  function setup(): { oplog: Oplog; ctx: CommandContext; server: ServerState } {
    const oplog = new Oplog({ noopIntervalMs: 0 });
    oplogs.push(oplog);
    const storage: StorageApi = {
      getCollection: () => undefined,
      listDatabases: () => [],
      listCollections: () => [],
    };
    const server: ServerState = {
      topology: 'replset',
      setName: 'rs0',
      me: '127.0.0.1:1',
      storage,
      oplog,
      cursors: new Cursors(),
    };
    return { oplog, server, ctx: { db: 'db0', server, connection: { id: 1, closed: false } } };
  }

  function insert(oplog: Oplog, i: number, padding = 0): OplogEntry {
    const { copy, bson } = cloneWithBson({ _id: new Int32(i), pad: 'p'.repeat(padding) });
    return oplog.append({
      op: 'insert',
      db: 'db0',
      coll: 'c0',
      uuid: UUID_A,
      documentKey: { _id: new Int32(i) },
      fullDocument: copy,
      fullDocumentBson: bson,
    });
  }

  async function readAll(
    ctx: CommandContext,
    server: ServerState,
    spec: Document,
    batchSize: number | undefined,
  ): Promise<{ batches: RawDocumentArray[]; pbrts: ResumeToken[]; closed: boolean }> {
    const opened = await openChangeStream(
      { aggregate: 'c0', pipeline: [{ $changeStream: spec }], cursor: { batchSize: 0 } },
      ctx,
    );
    const id = (opened.cursor as Document).id as Long;
    const batches: RawDocumentArray[] = [];
    const pbrts: ResumeToken[] = [];
    for (;;) {
      const cursor = server.cursors.get(id);
      if (!cursor) return { batches, pbrts, closed: true };
      const cmd: Document = { getMore: id, collection: 'c0', maxTimeMS: 0 };
      if (batchSize !== undefined) cmd.batchSize = batchSize;
      const reply = (await cursor.getMore(cmd, ctx)).cursor as Document;
      const batch = reply.nextBatch as RawDocumentArray;
      if (batch.length === 0) return { batches, pbrts, closed: false };
      batches.push(batch);
      pbrts.push(reply.postBatchResumeToken as ResumeToken);
      if ((reply.id as Long).isZero()) return { batches, pbrts, closed: true };
    }
  }

  it('hands out every event in order over many small batches, then the invalidate', async () => {
    const { oplog, ctx, server } = setup();
    const start = oplog.lastTimestamp;
    const entries: OplogEntry[] = [];
    for (let i = 0; i < 3000; i++) entries.push(insert(oplog, i));
    const drop = oplog.append({ op: 'drop', db: 'db0', coll: 'c0', uuid: UUID_A });
    const { batches, pbrts, closed } = await readAll(
      ctx,
      server,
      { startAtOperationTime: start },
      7,
    );
    expect(closed).toBe(true);
    const docs = batches.flatMap((b) => b.docs);
    expect(docs).toHaveLength(3002); // the inserts, the drop, the invalidate
    for (let i = 0; i < 3000; i++) {
      const want = serialize(
        buildEvent(entries[i] as OplogEntry, DEFAULT_EVENT_OPTIONS, {
          currentDocument: () => null,
        }) as Document,
      );
      expect(Buffer.from(docs[i] as Uint8Array).equals(Buffer.from(want))).toBe(true);
    }
    expect(batches.slice(0, -1).every((b) => b.length === 7)).toBe(true);
    const last = batches.at(-1)?.documents() ?? [];
    expect(last.map((e) => e.operationType)).toEqual([
      'insert',
      'insert',
      'insert',
      'insert',
      'drop',
      'invalidate',
    ]);
    // Each batch's PBRT is its last event's token.
    expect(decodeResumeToken(pbrts.at(-1) as ResumeToken).fromInvalidate).toBe(true);
    expect(decodeResumeToken(pbrts[0] as ResumeToken).clusterTime.i).toBe(entries[6]?.ts.i);
    expect(decodeResumeToken(pbrts.at(-1) as ResumeToken).clusterTime.i).toBe(drop.ts.i);
  });

  it('still caps a batch at 16 MiB of events, and reuses the cached BSON on a second read', async () => {
    const { oplog, ctx, server } = setup();
    const start = oplog.lastTimestamp;
    // Events just under 1 MiB: 16 fit in a batch, 17 do not.
    for (let i = 0; i < 40; i++) insert(oplog, i, 1024 * 1024 - 1000);
    const first = await readAll(ctx, server, { startAtOperationTime: start }, undefined);
    const sizes = first.batches.map((b) => b.docs.reduce((n, d) => n + d.length, 0));
    expect(first.batches.map((b) => b.length)).toEqual([16, 16, 8]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * 1024 * 1024);
    const again = await readAll(ctx, server, { startAtOperationTime: start }, undefined);
    const a = first.batches.flatMap((b) => b.docs);
    const b = again.batches.flatMap((x) => x.docs);
    expect(b).toHaveLength(40);
    b.forEach((bytes, i) => expect(bytes).toBe(a[i])); // the same cached bytes, not a copy
  });
});
