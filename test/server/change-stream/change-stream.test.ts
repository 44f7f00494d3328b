// $changeStream cursors driven directly (no socket): a real Oplog, a small in-memory catalogue,
// and oplog entries appended the way the storage layer appends them.
import { type Document, Int32, Long, Timestamp, UUID } from 'bson';
import { Cursors } from '../commands/cursors.js';
import { openChangeStream } from './change-stream.js';
import { ServerError } from '../errors.js';
import { Oplog, compareTimestamps } from '../oplog.js';
import { batchDocuments } from './raw-bson.js';
import { compareTokens, decodeResumeToken, type ResumeToken } from './tokens.js';
import type {
  CollectionApi,
  CommandContext,
  ConnectionInfo,
  OplogEntryInput,
  ServerState,
  StorageApi,
  TopologyKind,
} from '../types.js';
import { clone } from '../values.js';

class FakeCollection implements CollectionApi {
  readonly uuid = new UUID();
  readonly options = {};
  readonly indexes = [];
  readonly docs = new Map<string, Document>();
  constructor(
    readonly db: string,
    readonly name: string,
  ) {}
  all(): Document[] {
    return [...this.docs.values()].map((d) => clone(d));
  }
  findById(id: unknown): Document | undefined {
    const d = this.docs.get(JSON.stringify(id));
    return d ? clone(d) : undefined;
  }
  get size(): number {
    return this.docs.size;
  }
}

/** Just enough storage to produce oplog entries and answer updateLookup. */
class FakeStorage implements StorageApi {
  readonly colls = new Map<string, FakeCollection>();
  constructor(private readonly oplog: Oplog) {}
  getCollection(db: string, coll: string): FakeCollection | undefined {
    return this.colls.get(`${db}.${coll}`);
  }
  listDatabases(): string[] {
    return [...new Set([...this.colls.values()].map((c) => c.db))];
  }
  listCollections(db: string): CollectionApi[] {
    return [...this.colls.values()].filter((c) => c.db === db);
  }
  coll(db: string, name: string): FakeCollection {
    let c = this.getCollection(db, name);
    if (!c) {
      c = new FakeCollection(db, name);
      this.colls.set(`${db}.${name}`, c);
      this.append({ op: 'create', db, coll: name, uuid: c.uuid, operationDescription: {} });
    }
    return c;
  }
  append(e: OplogEntryInput): void {
    this.oplog.append(e);
  }
  insert(db: string, name: string, doc: Document, imagesEnabled = false): void {
    const c = this.coll(db, name);
    c.docs.set(JSON.stringify(doc._id), clone(doc));
    this.append({
      op: 'insert',
      db,
      coll: name,
      uuid: c.uuid,
      documentKey: { _id: doc._id },
      fullDocument: clone(doc),
      imagesEnabled,
    });
  }
  update(db: string, name: string, id: unknown, set: Document, imagesEnabled = false): void {
    const c = this.coll(db, name);
    const before = c.findById(id) as Document;
    const after = { ...before, ...set };
    c.docs.set(JSON.stringify(id), clone(after));
    this.append({
      op: 'update',
      db,
      coll: name,
      uuid: c.uuid,
      documentKey: { _id: id },
      fullDocument: clone(after),
      preImage: before,
      imagesEnabled,
      updateDescription: { updatedFields: clone(set), removedFields: [], truncatedArrays: [] },
    });
  }
  drop(db: string, name: string): void {
    const c = this.getCollection(db, name);
    if (!c) return;
    this.colls.delete(`${db}.${name}`);
    this.append({ op: 'drop', db, coll: name, uuid: c.uuid });
  }
  rename(db: string, from: string, to: string): void {
    const c = this.coll(db, from);
    const target = this.getCollection(db, to);
    this.colls.delete(`${db}.${from}`);
    this.colls.delete(`${db}.${to}`);
    this.colls.set(`${db}.${to}`, c);
    const e: OplogEntryInput = { op: 'rename', db, coll: from, uuid: c.uuid, to: { db, coll: to } };
    if (target) e.dropTarget = target.uuid;
    this.append(e);
  }
  dropDatabase(db: string): void {
    for (const c of this.listCollections(db)) this.drop(db, c.name);
    this.append({ op: 'dropDatabase', db });
  }
}

interface Harness {
  oplog: Oplog;
  storage: FakeStorage;
  server: ServerState;
  ctx(db: string): CommandContext;
  conn: ConnectionInfo & { closed: boolean };
}

const harnesses: Harness[] = [];

function harness(topology: TopologyKind = 'replset', maxEntries = 100_000): Harness {
  const oplog = new Oplog({ maxEntries, noopIntervalMs: 0 });
  const storage = new FakeStorage(oplog);
  const server: ServerState = {
    topology,
    ...(topology === 'replset' ? { setName: 'rs0' } : {}),
    me: '127.0.0.1:1',
    storage,
    oplog,
    cursors: new Cursors(),
  };
  const conn = { id: 1, closed: false };
  const h: Harness = {
    oplog,
    storage,
    server,
    conn,
    ctx: (db) => ({ db, server, connection: conn }),
  };
  harnesses.push(h);
  return h;
}

afterEach(() => {
  for (const h of harnesses.splice(0)) h.oplog.close();
});

interface Opened {
  reply: Document;
  id: Long;
  batch: Document[];
  pbrt: ResumeToken;
}

async function open(
  h: Harness,
  db: string,
  aggregate: string | number,
  spec: Document = {},
  stages: Document[] = [],
  cursor: Document = {},
): Promise<Opened> {
  const reply = await openChangeStream(
    { aggregate, pipeline: [{ $changeStream: spec }, ...stages], cursor },
    h.ctx(db),
  );
  const c = reply.cursor as Document;
  return {
    reply,
    id: c.id as Long,
    batch: batchDocuments(c.firstBatch),
    pbrt: c.postBatchResumeToken as ResumeToken,
  };
}

async function more(
  h: Harness,
  db: string,
  id: Long,
  extra: Document = {},
): Promise<{ batch: Document[]; id: Long; pbrt: ResumeToken; reply: Document }> {
  const cursor = h.server.cursors.get(id);
  if (!cursor) throw new Error('cursor not registered');
  const reply = await cursor.getMore(
    { getMore: id, collection: 'x', maxTimeMS: 0, ...extra },
    h.ctx(db),
  );
  const c = reply.cursor as Document;
  return {
    batch: batchDocuments(c.nextBatch),
    id: c.id as Long,
    pbrt: c.postBatchResumeToken as ResumeToken,
    reply,
  };
}

async function expectCode(
  p: Promise<unknown>,
  code: number,
  message?: RegExp,
): Promise<ServerError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).code).toBe(code);
    if (message) expect((err as ServerError).message).toMatch(message);
    return err as ServerError;
  }
  throw new Error(`expected error ${code}`);
}

const ops = (batch: Document[]): string[] => batch.map((e) => String(e.operationType));
/** The documentKey _ids of a batch, as plain values (stored numbers are Int32 objects). */
const keys = (batch: Document[]): unknown[] =>
  batch.map((e) => plain((e.documentKey as Document)._id));
const plain = (v: unknown): unknown => (v instanceof Int32 ? v.value : v);

describe('opening a stream', () => {
  it('replies like the server: empty first batch, HWM token, Int64 id, ns', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1 });
    const { reply, id, batch, pbrt } = await open(h, 'db0', 'c0');
    expect(Object.keys(reply.cursor as Document)).toEqual([
      'firstBatch',
      'postBatchResumeToken',
      'id',
      'ns',
    ]);
    expect(batch).toEqual([]);
    expect(id).toBeInstanceOf(Long);
    expect(id.isZero()).toBe(false);
    expect((reply.cursor as Document).ns).toBe('db0.c0');
    const data = decodeResumeToken(pbrt);
    expect(data.tokenType).toBe(0);
    // One tick after the newest entry.
    expect(compareTimestamps(data.clusterTime, h.oplog.lastTimestamp)).toBe(1);
    expect(h.server.cursors.get(id)).toBeDefined();
  });

  it('names database and cluster cursors <db>.$cmd.aggregate', async () => {
    const h = harness();
    expect(((await open(h, 'db0', 1)).reply.cursor as Document).ns).toBe('db0.$cmd.aggregate');
    const cluster = await open(h, 'admin', 1, { allChangesForCluster: true });
    expect((cluster.reply.cursor as Document).ns).toBe('admin.$cmd.aggregate');
  });

  it.each([
    ['standalone', { topology: 'standalone' }, 40573, /only supported on replica sets/],
    [
      'unknown stage',
      { stages: [{ $unsupported: 'foo' }] },
      40324,
      /Unrecognized pipeline stage name: '\$unsupported'/,
    ],
    [
      'stage not allowed',
      { stages: [{ $group: { _id: null } }] },
      20,
      /^\$group is not permitted in a \$changeStream pipeline$/,
    ],
    ['$changeStream later', { stages: [{ $changeStream: {} }] }, 40602, /first stage/],
    [
      'split not last',
      { stages: [{ $changeStreamSplitLargeEvent: {} }, { $match: {} }] },
      7182802,
      /last stage/,
    ],
    [
      'cluster flag on a collection',
      { spec: { allChangesForCluster: true } },
      72,
      /found db0\.c0$/,
    ],
    ['admin without the flag', { db: 'admin', agg: 1 }, 73, /internal admin database/],
    ['local', { db: 'local', agg: 1 }, 73, /internal local database/],
    ['config', { db: 'config' }, 73, /internal config database/],
    ['system collection', { agg: 'system.views' }, 73, /internal db0\.system\.views collection/],
    ['bad enum', { spec: { fullDocument: 'sometimes' } }, 2, /Enumeration value 'sometimes'/],
    [
      'unknown option',
      { spec: { bogus: 1 } },
      40415,
      /'\$changeStream\.bogus' is an unknown field/,
    ],
    [
      'token and time',
      { spec: { resumeAfter: 'TOKEN', startAtOperationTime: new Timestamp({ t: 1, i: 1 }) } },
      40674,
      /Only one type/,
    ],
    [
      'both tokens',
      { spec: { resumeAfter: 'TOKEN', startAfter: 'TOKEN' } },
      50865,
      /both 'resumeAfter' and 'startAfter'/,
    ],
    ['bad token', { spec: { resumeAfter: { _data: 1 } } }, 40647, /Bad resume token/],
  ] as const)('rejects %s', async (_name, c, code, message) => {
    const h = harness(('topology' in c ? c.topology : 'replset') as TopologyKind);
    h.storage.insert('db0', 'c0', { _id: 1 });
    const token = (await open(harness(), 'db0', 'c0')).pbrt;
    const spec: Document = { ...('spec' in c ? c.spec : {}) };
    for (const k of ['resumeAfter', 'startAfter']) if (spec[k] === 'TOKEN') spec[k] = token;
    await expectCode(
      open(
        h,
        'db' in c ? c.db : 'db0',
        'agg' in c ? c.agg : 'c0',
        spec,
        'stages' in c ? [...c.stages] : [],
      ),
      code,
      message,
    );
  });

  it('requires the cursor option', async () => {
    const h = harness();
    await expectCode(
      openChangeStream({ aggregate: 'c0', pipeline: [{ $changeStream: {} }] }, h.ctx('db0')),
      9,
    );
  });
});

describe('events and scopes', () => {
  it('returns writes in order, honouring batchSize', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    for (let i = 0; i < 5; i++) h.storage.insert('db0', 'c0', { _id: i });
    const first = await more(h, 'db0', id, { batchSize: 2 });
    expect(keys(first.batch)).toEqual([0, 1]);
    expect(first.pbrt).toEqual(first.batch[1]?._id);
    const rest = await more(h, 'db0', id);
    expect(keys(rest.batch)).toEqual([2, 3, 4]);
    for (const e of rest.batch) expect(e._id).toEqual(e._id);
    expect(compareTokens(first.pbrt, rest.pbrt)).toBe(-1);
  });

  it('collection streams see one namespace; database streams one database; cluster all but internal ones', async () => {
    const h = harness();
    const coll = await open(h, 'db0', 'c0');
    const db = await open(h, 'db0', 1);
    const cluster = await open(h, 'admin', 1, { allChangesForCluster: true });
    h.storage.insert('db0', 'c1', { _id: 'x' });
    h.storage.insert('db1', 'c0', { _id: 'y' });
    h.storage.insert('db0', 'c0', { _id: 'z' });
    h.storage.insert('db0', 'system.js', { _id: 's' });
    h.storage.insert('admin', 'c0', { _id: 'a' });
    h.storage.insert('config', 'c0', { _id: 'c' });
    h.storage.insert('local', 'c0', { _id: 'l' });
    const ids = async (id: Long, dbName: string): Promise<unknown[]> =>
      (await more(h, dbName, id)).batch
        .filter((e) => e.operationType === 'insert')
        .map((e) => plain((e.documentKey as Document)._id));
    expect(await ids(coll.id, 'db0')).toEqual(['z']);
    expect(await ids(db.id, 'db0')).toEqual(['x', 'z']);
    expect(await ids(cluster.id, 'admin')).toEqual(['x', 'y', 'z']);
  });

  it('shows DDL events only with showExpandedEvents', async () => {
    const h = harness();
    const plain = await open(h, 'db0', 1);
    const expanded = await open(h, 'db0', 1, { showExpandedEvents: true });
    h.storage.insert('db0', 'fresh', { _id: 1 });
    expect(ops((await more(h, 'db0', plain.id)).batch)).toEqual(['insert']);
    const ev = (await more(h, 'db0', expanded.id)).batch;
    expect(ops(ev)).toEqual(['create', 'insert']);
    expect(ev[1]?.collectionUUID).toBeInstanceOf(UUID);
  });
});

describe('invalidation', () => {
  it('drop: the drop then invalidate in one batch, id 0, PBRT = invalidate token, cursor gone', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1 });
    const { id } = await open(h, 'db0', 'c0');
    h.storage.drop('db0', 'c0');
    const r = await more(h, 'db0', id);
    expect(ops(r.batch)).toEqual(['drop', 'invalidate']);
    expect(r.id.isZero()).toBe(true);
    expect(r.pbrt).toEqual(r.batch[1]?._id);
    expect(decodeResumeToken(r.pbrt).fromInvalidate).toBe(true);
    expect(h.server.cursors.get(id)).toBeUndefined();
  });

  it('the invalidate waits for the next batch when batchSize is full', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1 });
    const { id } = await open(h, 'db0', 'c0');
    h.storage.drop('db0', 'c0');
    const a = await more(h, 'db0', id, { batchSize: 1 });
    expect(ops(a.batch)).toEqual(['drop']);
    expect(a.id.isZero()).toBe(false);
    const b = await more(h, 'db0', id);
    expect(ops(b.batch)).toEqual(['invalidate']);
    expect(b.id.isZero()).toBe(true);
  });

  it('rename from or over the collection invalidates it; the invalidate skips user stages', async () => {
    const h = harness();
    h.storage.insert('db0', 'a', { _id: 1 });
    h.storage.insert('db0', 'b', { _id: 1 });
    const from = await open(h, 'db0', 'a', {}, [{ $match: { operationType: 'insert' } }]);
    const over = await open(h, 'db0', 'b');
    h.storage.rename('db0', 'a', 'b');
    const r1 = await more(h, 'db0', from.id);
    expect(ops(r1.batch)).toEqual(['invalidate']);
    const r2 = await more(h, 'db0', over.id);
    expect(ops(r2.batch)).toEqual(['rename', 'invalidate']);
    expect(r2.batch[0]?.to).toEqual({ db: 'db0', coll: 'b' });
    expect(r2.batch[0]?.ns).toEqual({ db: 'db0', coll: 'a' });
  });

  it('dropDatabase ends a database stream; a cluster stream carries on', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1 });
    const db = await open(h, 'db0', 1);
    const cluster = await open(h, 'admin', 1, { allChangesForCluster: true });
    const coll = await open(h, 'db0', 'c0');
    h.storage.dropDatabase('db0');
    const r = await more(h, 'db0', db.id);
    expect(ops(r.batch)).toEqual(['drop', 'dropDatabase', 'invalidate']);
    expect(r.batch[1]?.ns).toEqual({ db: 'db0' });
    const c = await more(h, 'admin', cluster.id);
    expect(ops(c.batch)).toEqual(['drop', 'dropDatabase']);
    expect(c.id.isZero()).toBe(false);
    expect(ops((await more(h, 'db0', coll.id)).batch)).toEqual(['drop', 'invalidate']);
  });
});

describe('start points and resuming', () => {
  it('resumeAfter an event returns what followed it', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    for (let i = 0; i < 4; i++) h.storage.insert('db0', 'c0', { _id: i });
    const all = (await more(h, 'db0', id)).batch;
    const resumed = await open(h, 'db0', 'c0', { resumeAfter: all[1]?._id });
    expect(keys(resumed.batch)).toEqual([2, 3]);
    expect(resumed.batch[0]?._id).toEqual(all[2]?._id);
  });

  it('startAtOperationTime is inclusive', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.storage.insert('db0', 'c0', { _id: i });
    const second = h.oplog.at(h.oplog.size - 2)?.ts as Timestamp;
    const r = await open(h, 'db0', 'c0', { startAtOperationTime: second });
    expect(keys(r.batch)).toEqual([1, 2]);
  });

  it('resumeAfter a high-water mark returns every event after it', async () => {
    const h = harness();
    const { pbrt } = await open(h, 'db0', 'c0');
    h.storage.insert('db0', 'c0', { _id: 1 });
    const r = await open(h, 'db0', 'c0', { resumeAfter: pbrt });
    expect(keys(r.batch)).toEqual([1]);
  });

  it('rejects resumeAfter an invalidate (260) but startAfter it continues past the drop', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1 });
    const { id } = await open(h, 'db0', 'c0');
    h.storage.drop('db0', 'c0');
    h.storage.insert('db0', 'c0', { _id: 2 });
    const inv = (await more(h, 'db0', id)).batch[1]?._id;
    await expectCode(
      open(h, 'db0', 'c0', { resumeAfter: inv }),
      260,
      /not allowed from an invalidate/,
    );
    const after = await open(h, 'db0', 'c0', { startAfter: inv });
    expect(ops(after.batch)).toEqual(['insert']);
    expect(after.id.isZero()).toBe(false);
  });

  it('fails with 280 when the token is not in the stream, naming the event that passed it', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    h.storage.insert('db0', 'c0', { _id: 1 });
    h.storage.insert('db0', 'c0', { _id: 2 });
    const evs = (await more(h, 'db0', id)).batch;
    // A token for the first insert's time but another document: it sorts before the first event.
    const other = await open(h, 'db0', 'other', {}, []);
    void other;
    const data = decodeResumeToken(evs[0]?._id as ResumeToken);
    const { encodeResumeToken } = await import('./tokens.js');
    const fake = encodeResumeToken({
      ...data,
      eventIdentifier: { operationType: 'insert', documentKey: { _id: new Int32(0) } },
    });
    const err = await expectCode(open(h, 'db0', 'c0', { resumeAfter: fake }), 280);
    expect(err.message).toBe(
      `PlanExecutor error during aggregation :: caused by :: cannot resume stream; the resume token was not found. {_data: "${(evs[0]?._id as ResumeToken)._data}"}`,
    );
    expect(err.errorLabels).toEqual(['NonResumableChangeStreamError']);
  });

  it('fails with 286 when the start point fell off the oplog', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    h.storage.insert('db0', 'c0', { _id: 1 });
    const token = (await more(h, 'db0', id)).batch[0]?._id;
    h.storage.insert('db0', 'c0', { _id: 2 });
    h.storage.insert('db0', 'c0', { _id: 3 });
    h.oplog.truncate();
    const err = await expectCode(
      open(h, 'db0', 'c0', { resumeAfter: token }),
      286,
      /^PlanExecutor error during aggregation :: caused by :: Resume of change stream was not possible, as the resume point may no longer be in the oplog\.$/,
    );
    expect(err.errorLabels).toEqual(['NonResumableChangeStreamError']);
  });

  it('fails a lagging cursor with 136 when unread entries fell off', async () => {
    const h = harness('replset', 5);
    const { id } = await open(h, 'db0', 'c0');
    for (let i = 0; i < 10; i++) h.storage.insert('db0', 'c0', { _id: i });
    await expectCode(more(h, 'db0', id), 136, /CappedPositionLost|capped collection/);
    expect(h.server.cursors.get(id)).toBeUndefined();
  });
});

describe('postBatchResumeToken', () => {
  it('moves as a high-water mark while idle or filtered, and never goes back', async () => {
    const h = harness();
    const { id, pbrt } = await open(h, 'db0', 'c0', {}, [{ $match: { operationType: 'delete' } }]);
    const a = await more(h, 'db0', id);
    expect(a.pbrt).toEqual(pbrt); // nothing happened: the same token
    h.oplog.append({ op: 'noop', db: '' });
    h.oplog.append({ op: 'noop', db: '' });
    const b = await more(h, 'db0', id);
    expect(compareTokens(b.pbrt, a.pbrt)).toBe(1);
    expect(decodeResumeToken(b.pbrt).clusterTime.equals(h.oplog.lastTimestamp)).toBe(true);
    h.storage.insert('db0', 'c0', { _id: 1 }); // filtered out by $match
    const c = await more(h, 'db0', id);
    expect(c.batch).toEqual([]);
    expect(decodeResumeToken(c.pbrt).clusterTime.equals(h.oplog.lastTimestamp)).toBe(true);
    expect(decodeResumeToken(c.pbrt).tokenType).toBe(0);
  });
});

describe('waiting for events (awaitData)', () => {
  it('returns soon after a write', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    const start = Date.now();
    setTimeout(() => h.storage.insert('db0', 'c0', { _id: 1 }), 50);
    const r = await more(h, 'db0', id, { maxTimeMS: 5000 });
    expect(ops(r.batch)).toEqual(['insert']);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('waits about maxTimeMS when nothing happens, ignoring other namespaces', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    const start = Date.now();
    const timer = setInterval(() => h.storage.insert('db0', 'other', { _id: Math.random() }), 30);
    const r = await more(h, 'db0', id, { maxTimeMS: 300 });
    clearInterval(timer);
    const took = Date.now() - start;
    expect(r.batch).toEqual([]);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
  });

  it('defaults to 1000 ms', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    const cursor = h.server.cursors.get(id);
    const start = Date.now();
    await cursor?.getMore({ getMore: id, collection: 'c0' }, h.ctx('db0'));
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
  });

  it('stops waiting when the cursor is killed', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    const cursor = h.server.cursors.get(id);
    const start = Date.now();
    setTimeout(() => cursor?.kill(), 50);
    await expectCode(more(h, 'db0', id, { maxTimeMS: 5000 }), 237);
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

describe('user stages', () => {
  it('keeps BSON number types through $project and $replaceRoot', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0', {}, [
      { $replaceRoot: { newRoot: { $mergeObjects: ['$$ROOT', {}] } } },
    ]);
    h.storage.insert('db0', 'c0', { _id: 1, i: new Int32(1), l: Long.fromNumber(2), d: 1.5 });
    const [ev] = (await more(h, 'db0', id)).batch;
    expect((ev?.fullDocument as Document).l).toBeInstanceOf(Long);
    expect((ev?.fullDocument as Document).i).toBeInstanceOf(Int32);
  });

  it('orders $project output like the server: _id, included fields in input order, then computed', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0', {}, [
      { $project: { optype: '$operationType', ns: new Int32(1), newField: 'value' } },
    ]);
    h.storage.insert('db0', 'c0', { _id: 1 });
    const [ev] = (await more(h, 'db0', id)).batch;
    expect(Object.keys(ev ?? {})).toEqual(['_id', 'ns', 'optype', 'newField']);
    expect(ev?.optype).toBe('insert');
  });

  it('keeps input order for $addFields, $unset and exclusion projections', async () => {
    const h = harness();
    const add = await open(h, 'db0', 'c0', {}, [
      { $addFields: { z: 1, operationType: 'changed' } },
    ]);
    const unset = await open(h, 'db0', 'c0', {}, [{ $unset: ['wallTime', 'fullDocument'] }]);
    const excl = await open(h, 'db0', 'c0', {}, [{ $project: { clusterTime: new Int32(0) } }]);
    h.storage.insert('db0', 'c0', { _id: 1 });
    const [a] = (await more(h, 'db0', add.id)).batch;
    expect(Object.keys(a ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
      'z',
    ]);
    expect(a?.operationType).toBe('changed');
    const [u] = (await more(h, 'db0', unset.id)).batch;
    expect(Object.keys(u ?? {})).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'ns',
      'documentKey',
    ]);
    const [e] = (await more(h, 'db0', excl.id)).batch;
    expect(Object.keys(e ?? {})).toEqual([
      '_id',
      'operationType',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
  });

  it('fails with 280 when a stage changes _id', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0', {}, [{ $project: { _id: 0 } }]);
    h.storage.insert('db0', 'c0', { _id: 1 });
    const err = await expectCode(
      more(h, 'db0', id),
      280,
      /_id field, which contains the resume token, was modified/,
    );
    expect(err.errorLabels).toEqual(['NonResumableChangeStreamError']);
    expect(h.server.cursors.get(id)).toBeUndefined();
  });

  it('drops events $redact prunes at the top level and $match filters', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0', {}, [
      {
        $redact: {
          $cond: { if: { $eq: ['$documentKey._id', 1] }, then: '$$PRUNE', else: '$$KEEP' },
        },
      },
      { $match: { 'fullDocument.keep': true } },
    ]);
    h.storage.insert('db0', 'c0', { _id: 1, keep: true });
    h.storage.insert('db0', 'c0', { _id: 2, keep: false });
    h.storage.insert('db0', 'c0', { _id: 3, keep: true });
    const r = await more(h, 'db0', id);
    expect(keys(r.batch)).toEqual([3]);
  });
});

describe('images', () => {
  it('updateLookup reads the document as it is now', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1, a: 1 });
    const { id } = await open(h, 'db0', 'c0', { fullDocument: 'updateLookup' });
    h.storage.update('db0', 'c0', 1, { a: 2 });
    h.storage.update('db0', 'c0', 1, { a: 3 });
    const r = await more(h, 'db0', id);
    expect(r.batch.map((e) => plain((e.fullDocument as Document).a))).toEqual([3, 3]);
  });

  it('whenAvailable gives the stored images; required fails with 47 when absent', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1, a: 1 });
    const avail = await open(h, 'db0', 'c0', {
      fullDocument: 'whenAvailable',
      fullDocumentBeforeChange: 'whenAvailable',
    });
    const req = await open(h, 'db0', 'c0', { fullDocument: 'required' });
    h.storage.update('db0', 'c0', 1, { a: 2 }, true);
    h.storage.update('db0', 'c0', 1, { a: 3 }, false);
    const r = await more(h, 'db0', avail.id);
    expect(
      r.batch.map((e) => [
        plain((e.fullDocumentBeforeChange as Document | null)?.a ?? null),
        plain((e.fullDocument as Document | null)?.a ?? null),
      ]),
    ).toEqual([
      [1, 2],
      [null, null],
    ]);
    const first = await more(h, 'db0', req.id, { batchSize: 1 });
    expect(plain((first.batch[0]?.fullDocument as Document).a)).toBe(2);
    await expectCode(more(h, 'db0', req.id), 47, /require a post-image/);
  });
});

describe('size limits', () => {
  it('caps a batch at 16 MiB and returns the rest next time', async () => {
    const h = harness();
    const { id } = await open(h, 'db0', 'c0');
    const big = 'x'.repeat(6 * 1024 * 1024);
    for (let i = 0; i < 4; i++) h.storage.insert('db0', 'c0', { _id: i, big });
    const a = await more(h, 'db0', id);
    const b = await more(h, 'db0', id);
    expect(a.batch.length).toBe(2);
    expect(b.batch.length).toBe(2);
    expect(a.pbrt).toEqual(a.batch[1]?._id);
  });

  it('fails an event over 16 MiB with BSONObjectTooLarge unless it is split', async () => {
    const h = harness();
    h.storage.insert('db0', 'c0', { _id: 1, big: 'a' });
    const plain = await open(h, 'db0', 'c0', {
      fullDocument: 'whenAvailable',
      fullDocumentBeforeChange: 'whenAvailable',
    });
    const split = await open(
      h,
      'db0',
      'c0',
      { fullDocument: 'whenAvailable', fullDocumentBeforeChange: 'whenAvailable' },
      [{ $changeStreamSplitLargeEvent: {} }],
    );
    h.storage.update('db0', 'c0', 1, { big: 'y'.repeat(9 * 1024 * 1024) }, true);
    h.storage.update('db0', 'c0', 1, { big: 'z'.repeat(9 * 1024 * 1024) }, true);
    await expectCode(
      more(h, 'db0', plain.id),
      10334,
      /BSONObj size: \d+ \(0x[0-9A-F]+\) is invalid/,
    );
    // Each fragment is close to 16 MiB: one per batch.
    const r1 = await more(h, 'db0', split.id);
    const r2 = await more(h, 'db0', split.id, { batchSize: 1 });
    const r = { batch: [...r1.batch, ...r2.batch] };
    expect(r1.batch.length).toBe(1);
    expect(r.batch.map((f) => f.splitEvent)).toEqual([
      { fragment: new Int32(1), of: new Int32(2) },
      { fragment: new Int32(2), of: new Int32(2) },
    ]);
    expect(decodeResumeToken(r.batch[1]?._id as ResumeToken).fragmentNum).toBe(1);
    expect(r1.pbrt).toEqual(r.batch[0]?._id);
    // Resuming from the first fragment yields the second one next.
    const resumed = await open(
      h,
      'db0',
      'c0',
      {
        fullDocument: 'whenAvailable',
        fullDocumentBeforeChange: 'whenAvailable',
        resumeAfter: r.batch[0]?._id,
      },
      [{ $changeStreamSplitLargeEvent: {} }],
      { batchSize: 1 },
    );
    expect(resumed.batch[0]?.splitEvent).toEqual({ fragment: new Int32(2), of: new Int32(2) });
  });

  it('280 when resuming from a fragment that a changed pipeline no longer produces', async () => {
    const h = harness();
    const mb = 1024 * 1024;
    h.storage.insert('db0', 'c0', { _id: 1, big1: 'a'.repeat(6 * mb), big2: 'b'.repeat(6 * mb) });
    const images = { fullDocument: 'whenAvailable', fullDocumentBeforeChange: 'whenAvailable' };
    const split = { $changeStreamSplitLargeEvent: {} };
    const { id } = await open(h, 'db0', 'c0', images, [split]);
    h.storage.update('db0', 'c0', 1, { big2: 'c'.repeat(6 * mb) }, true);
    const fragments: Document[] = [];
    for (let i = 0; i < 3; i++) {
      const batch = (await more(h, 'db0', id, { batchSize: 1 })).batch;
      fragments.push(...batch.filter((e) => e.splitEvent !== undefined));
    }
    // updateDescription (6 MiB) | fullDocument (12 MiB) | fullDocumentBeforeChange (12 MiB).
    expect(fragments.map((f) => (f.splitEvent as Document).of)).toEqual([
      new Int32(3),
      new Int32(3),
      new Int32(3),
    ]);
    // Without updateDescription the event splits in two: fragment 3 can no longer be found
    // (DocumentSourceChangeStreamSplitLargeEvent::doGetNext).
    await expectCode(
      open(h, 'db0', 'c0', { ...images, resumeAfter: fragments[2]?._id }, [
        { $project: { updateDescription: 0 } },
        split,
      ]),
      280,
      /caused by :: Attempted to resume from a split event, but the resumed stream produced a different split\. Ensure/,
    );
    // The same pipeline as before resumes after the last fragment.
    const same = await open(h, 'db0', 'c0', { ...images, resumeAfter: fragments[1]?._id }, [split]);
    expect(same.batch.map((e) => e.splitEvent)).toEqual([
      { fragment: new Int32(3), of: new Int32(3) },
    ]);
  });
});
