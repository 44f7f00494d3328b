import { type Document, Long, UUID } from 'bson';
import type { MongoServerError } from 'mongodb';
import { MongoClient } from 'mongodb';
import { crudCommands } from './commands/crud.js';
import { cursorCommands } from './commands/cursors.js';
import { ddlCommands } from './commands/ddl.js';
import { dataFixture } from './data-fixtures.js';
import { type TestServer, startTestServer } from './index.js';
import { normalize } from './values.js';

const plain = (v: unknown): unknown => normalize(v);
const handlers = { ...crudCommands, ...cursorCommands, ...ddlCommands };

describe('DDL handlers (no socket)', () => {
  it('create: options, pre/post images, views, and 48 when the name is taken', async () => {
    const f = dataFixture();
    expect(
      await f.run(handlers, {
        create: 'c',
        changeStreamPreAndPostImages: { enabled: true },
        writeConcern: { w: 1 },
      }),
    ).toEqual({ ok: 1 });
    expect(f.storage.getCollection('test', 'c')?.options).toEqual({
      changeStreamPreAndPostImages: { enabled: true },
    });
    const [entry] = f.oplog.take();
    expect(plain(entry?.operationDescription)).toEqual({
      changeStreamPreAndPostImages: { enabled: true },
      idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
    });
    const taken = await f.runError(handlers, { create: 'c' });
    expect([taken.code, taken.codeName, taken.message]).toEqual([
      48,
      'NamespaceExists',
      'Collection test.c already exists.',
    ]);
    await f.run(handlers, { create: 'v', viewOn: 'c' });
    expect(f.oplog.take()[0]?.operationDescription).toEqual({ viewOn: 'c', pipeline: [] });
    expect((await f.runError(handlers, { create: 'x', pipeline: [] })).code).toBe(9);
    expect(
      (await f.runError(handlers, { create: 'x', changeStreamPreAndPostImages: {} })).code,
    ).toBe(40414);
    expect((await f.runError(handlers, { create: 'system.x' })).code).toBe(73);
    expect(await f.run(handlers, { create: 'capped', capped: true, size: 4096 })).toEqual({
      ok: 1,
    });
  });

  it('collMod: logs a modify entry, even with nothing to change, and edits index options', async () => {
    const f = dataFixture();
    await f.run(handlers, { create: 'c' });
    await f.run(handlers, { createIndexes: 'c', indexes: [{ key: { x: 1 }, name: 'x_1' }] });
    f.oplog.take();
    expect(await f.run(handlers, { collMod: 'c' })).toEqual({ ok: 1 });
    await f.run(handlers, { collMod: 'c', changeStreamPreAndPostImages: { enabled: true } });
    const hidden = await f.run(handlers, { collMod: 'c', index: { name: 'x_1', hidden: true } });
    expect(hidden).toEqual({ hidden_old: false, hidden_new: true, ok: 1 });
    const entries = f.oplog.take();
    expect(entries.map((e) => [e.op, e.operationDescription])).toEqual([
      ['modify', {}],
      ['modify', { changeStreamPreAndPostImages: { enabled: true } }],
      ['modify', { index: { name: 'x_1', hidden: true } }],
    ]);
    expect(f.storage.getCollection('test', 'c')?.imagesEnabled).toBe(true);
    expect((await f.runError(handlers, { collMod: 'missing' })).code).toBe(26);
    const noIndex = await f.runError(handlers, {
      collMod: 'c',
      index: { name: 'nope', hidden: true },
    });
    expect([noIndex.code, noIndex.codeName]).toEqual([27, 'IndexNotFound']);
    expect((await f.runError(handlers, { collMod: 'c', bogus: 1 })).code).toBe(40415);
  });

  it('collMod: records the options before the change (the oplog o2, stateBeforeChange)', async () => {
    // The shapes of jstests/change_streams/ddl_coll_mod_event.js.
    const f = dataFixture();
    await f.run(handlers, { create: 'c' });
    const uuid = f.storage.getCollection('test', 'c')?.uuid as UUID;
    await f.run(handlers, {
      createIndexes: 'c',
      indexes: [{ key: { c: 1 }, name: 'c_1', expireAfterSeconds: 100000 }],
    });
    f.oplog.take();
    const validator = { $jsonSchema: { bsonType: 'object' } };
    await f.run(handlers, { collMod: 'c', validator });
    await f.run(handlers, { collMod: 'c', validationLevel: 'off' });
    await f.run(handlers, { collMod: 'c', index: { name: 'c_1', hidden: true } });
    await f.run(handlers, { collMod: 'c', index: { name: 'c_1', expireAfterSeconds: 100000 } });
    await f.run(handlers, { create: 'v', viewOn: 'c' });
    await f.run(handlers, { collMod: 'v', pipeline: [] });
    const states = f.oplog.take().map((e) => e.stateBeforeChange);
    expect(states).toHaveLength(6);
    expect(states[0]).toEqual({ collectionOptions: { uuid } });
    expect(states[1]).toEqual({ collectionOptions: { uuid, validator } });
    expect(states[2]).toEqual({
      collectionOptions: { uuid, validator, validationLevel: 'off' },
      indexOptions: { hidden: false },
    });
    expect(states[3]).toEqual({
      collectionOptions: { uuid, validator, validationLevel: 'off' },
      indexOptions: { expireAfterSeconds: Long.fromNumber(100000) },
    });
    // A view's collMod is an update of system.views: no stateBeforeChange.
    expect(states.slice(4)).toEqual([undefined, undefined]);
  });

  it('drop: ok for a missing collection without an oplog entry; nIndexesWas otherwise', async () => {
    const f = dataFixture();
    expect(await f.run(handlers, { drop: 'nothing' })).toEqual({ ok: 1 });
    expect(f.oplog.entries).toHaveLength(0);
    await f.run(handlers, { insert: 'c', documents: [{}] });
    f.oplog.take();
    expect(await f.run(handlers, { drop: 'c' })).toEqual({ nIndexesWas: 1, ns: 'test.c', ok: 1 });
    expect(f.oplog.take().map((e) => e.op)).toEqual(['drop']);
  });

  it('dropDatabase: a drop per collection, then dropDatabase', async () => {
    const f = dataFixture();
    await f.run(handlers, { insert: 'a', documents: [{}] });
    await f.run(handlers, { insert: 'b', documents: [{}] });
    f.oplog.take();
    expect(await f.run(handlers, { dropDatabase: 1 })).toEqual({ dropped: 'test', ok: 1 });
    expect(f.oplog.take().map((e) => `${e.op}:${e.coll ?? ''}`)).toEqual([
      'drop:a',
      'drop:b',
      'dropDatabase:',
    ]);
    expect(await f.run(handlers, { dropDatabase: 1 })).toEqual({ ok: 1 });
    expect((await f.runError(handlers, { dropDatabase: 1 }, 'admin')).code).toBe(20);
  });

  it('dropDatabase: views go with system.views, no drop entry of their own', async () => {
    const f = dataFixture();
    await f.run(handlers, { insert: 'a', documents: [{}] });
    await f.run(handlers, { create: 'v', viewOn: 'a' });
    f.oplog.take();
    expect(await f.run(handlers, { dropDatabase: 1 })).toEqual({ dropped: 'test', ok: 1 });
    expect(f.oplog.take().map((e) => `${e.op}:${e.coll ?? ''}`)).toEqual([
      'drop:a',
      'dropDatabase:',
    ]);
    expect(f.storage.listCollections('test')).toEqual([]);
  });

  it('renameCollection: admin only, errors 26/48, dropTarget without a separate drop', async () => {
    const f = dataFixture();
    await f.run(handlers, { insert: 'a', documents: [{ _id: 1 }] });
    await f.run(handlers, { insert: 'b', documents: [{ _id: 2 }] });
    const a = f.storage.getCollection('test', 'a');
    const b = f.storage.getCollection('test', 'b');
    f.oplog.take();
    expect((await f.runError(handlers, { renameCollection: 'test.a', to: 'test.z' })).code).toBe(
      13,
    );
    expect(
      (await f.runError(handlers, { renameCollection: 'test.none', to: 'test.z' }, 'admin')).code,
    ).toBe(26);
    const exists = await f.runError(
      handlers,
      { renameCollection: 'test.a', to: 'test.b' },
      'admin',
    );
    expect([exists.code, exists.message]).toEqual([48, 'target namespace exists']);
    expect(
      await f.run(
        handlers,
        { renameCollection: 'test.a', to: 'test.b', dropTarget: true },
        'admin',
      ),
    ).toEqual({ ok: 1 });
    const entries = f.oplog.take();
    expect(entries.map((e) => e.op)).toEqual(['rename']);
    expect(entries[0]?.uuid?.equals(a?.uuid as UUID)).toBe(true);
    expect(entries[0]?.dropTarget?.equals(b?.uuid as UUID)).toBe(true);
    expect(plain(entries[0]?.operationDescription)).toMatchObject({
      to: { db: 'test', coll: 'b' },
    });
    expect(plain(f.storage.getCollection('test', 'b')?.all())).toEqual([{ _id: 1 }]);
  });

  it('createIndexes on a non-empty collection: one entry listing every index built', async () => {
    // jstests/change_streams/ddl_create_drop_index_events.js: an empty collection gets an event
    // per index (above), a non-empty one a single event for both.
    const f = dataFixture();
    await f.run(handlers, { insert: 'c', documents: [{ a: 1 }] });
    f.oplog.take();
    await f.run(handlers, {
      createIndexes: 'c',
      indexes: [
        { key: { b: 1, c: -1 }, name: 'b_1_c_-1', sparse: true },
        { key: { d: 'hashed' }, name: 'd_hashed', sparse: true },
      ],
    });
    expect(f.oplog.take().map((e) => [e.op, plain(e.operationDescription)])).toEqual([
      [
        'createIndexes',
        {
          indexes: [
            { v: 2, key: { b: 1, c: -1 }, name: 'b_1_c_-1', sparse: true },
            { v: 2, key: { d: 'hashed' }, name: 'd_hashed', sparse: true },
          ],
        },
      ],
    ]);
    await f.run(handlers, { dropIndexes: 'c', index: ['b_1_c_-1', 'd_hashed'] });
    expect(f.oplog.take().map((e) => e.op)).toEqual(['dropIndexes', 'dropIndexes']);
    // One build: a duplicate key in one index leaves none of them, and no entry.
    await f.run(handlers, { insert: 'c', documents: [{ a: 1 }] });
    f.oplog.take();
    const dup = await f.runError(handlers, {
      createIndexes: 'c',
      indexes: [
        { key: { z: 1 }, name: 'z_1', unique: true },
        { key: { a: 1 }, name: 'a_1', unique: true },
      ],
    });
    expect(dup.code).toBe(11000);
    expect(f.oplog.take()).toEqual([]);
    expect(f.storage.getCollection('test', 'c')?.indexes.map((i) => i.name)).toEqual(['_id_']);
    await f.run(handlers, { insert: 'c', documents: [{ z: 1 }] });
  });

  it('createIndexes: implicit creation, no-op note, conflicts, unique enforcement', async () => {
    const f = dataFixture();
    const r = await f.run(handlers, {
      createIndexes: 'c',
      indexes: [
        { key: { x: 1 }, name: 'x_1' },
        { key: { y: -1 }, name: 'y_-1', unique: true },
      ],
    });
    expect(r).toEqual({
      numIndexesBefore: 1,
      numIndexesAfter: 3,
      createdCollectionAutomatically: true,
      ok: 1,
    });
    expect(f.oplog.take().map((e) => [e.op, plain(e.operationDescription)])).toEqual([
      ['create', { idIndex: { v: 2, key: { _id: 1 }, name: '_id_' } }],
      ['createIndexes', { indexes: [{ v: 2, key: { x: 1 }, name: 'x_1' }] }],
      ['createIndexes', { indexes: [{ v: 2, key: { y: -1 }, name: 'y_-1', unique: true }] }],
    ]);
    const again = await f.run(handlers, {
      createIndexes: 'c',
      indexes: [{ key: { x: 1 }, name: 'x_1' }],
    });
    expect(again).toEqual({
      numIndexesBefore: 3,
      numIndexesAfter: 3,
      note: 'all indexes already exist',
      ok: 1,
    });
    expect(f.oplog.take()).toHaveLength(0);
    expect(
      (
        await f.runError(handlers, {
          createIndexes: 'c',
          indexes: [{ key: { z: 1 }, name: 'x_1' }],
        })
      ).code,
    ).toBe(86);
    expect(
      (
        await f.runError(handlers, {
          createIndexes: 'c',
          indexes: [{ key: { x: 1 }, name: 'other' }],
        })
      ).code,
    ).toBe(85);
    expect(
      (await f.runError(handlers, { createIndexes: 'c', indexes: [{ key: { x: 1 } }] })).code,
    ).toBe(9);
    const dup = await f.run(handlers, { insert: 'c', documents: [{ y: 1 }, { y: 1 }] });
    expect((dup.writeErrors as Document[])[0]?.errmsg).toBe(
      'E11000 duplicate key error collection: test.c index: y_-1 dup key: { y: 1 }',
    );
    await f.run(handlers, {
      insert: 'c',
      documents: [
        { w: 1, y: 2 },
        { w: 1, y: 3 },
      ],
    });
    expect(
      (
        await f.runError(handlers, {
          createIndexes: 'c',
          indexes: [{ key: { w: 1 }, name: 'w_1', unique: true }],
        })
      ).code,
    ).toBe(11000);
  });

  it('dropIndexes: by name, key pattern and "*"; 27 and 72 errors', async () => {
    const f = dataFixture();
    await f.run(handlers, {
      createIndexes: 'c',
      indexes: [
        { key: { a: 1 }, name: 'a_1' },
        { key: { b: 1 }, name: 'b_1' },
        { key: { c: 1 }, name: 'c_1' },
      ],
    });
    f.oplog.take();
    expect(await f.run(handlers, { dropIndexes: 'c', index: 'a_1' })).toEqual({
      nIndexesWas: 4,
      ok: 1,
    });
    expect(await f.run(handlers, { dropIndexes: 'c', index: { b: 1 } })).toEqual({
      nIndexesWas: 3,
      ok: 1,
    });
    const missing = await f.runError(handlers, { dropIndexes: 'c', index: 'a_1' });
    expect([missing.code, missing.codeName, missing.message]).toEqual([
      27,
      'IndexNotFound',
      'index not found with name [a_1]',
    ]);
    expect((await f.runError(handlers, { dropIndexes: 'c', index: '_id_' })).code).toBe(72);
    expect(await f.run(handlers, { dropIndexes: 'c', index: '*' })).toEqual({
      nIndexesWas: 2,
      ok: 1,
    });
    expect(
      f.oplog.take().map((e) => [e.op, (e.operationDescription?.indexes as Document[])[0]?.name]),
    ).toEqual([
      ['dropIndexes', 'a_1'],
      ['dropIndexes', 'b_1'],
      ['dropIndexes', 'c_1'],
    ]);
    expect((await f.runError(handlers, { dropIndexes: 'nothing', index: '*' })).code).toBe(26);
  });

  it('listCollections: entries, filter, nameOnly, views', async () => {
    const f = dataFixture();
    await f.run(handlers, { create: 'b', changeStreamPreAndPostImages: { enabled: true } });
    await f.run(handlers, { create: 'a' });
    await f.run(handlers, { create: 'v', viewOn: 'a', pipeline: [] });
    const r = await f.run(handlers, { listCollections: 1, cursor: {} });
    const batch = (r.cursor as Document).firstBatch as Document[];
    expect((r.cursor as Document).ns).toBe('test.$cmd.listCollections');
    expect(batch.map((c) => [c.name, c.type])).toEqual([
      ['a', 'collection'],
      ['b', 'collection'],
      ['v', 'view'],
    ]);
    expect(batch[1]).toMatchObject({
      options: { changeStreamPreAndPostImages: { enabled: true } },
      info: { readOnly: false },
      idIndex: { name: '_id_' },
    });
    expect((batch[1]?.info as Document).uuid).toBeInstanceOf(UUID);
    expect(batch[2]).toEqual({
      name: 'v',
      type: 'view',
      options: { viewOn: 'a', pipeline: [] },
      info: { readOnly: true },
    });
    const filtered = await f.run(handlers, {
      listCollections: 1,
      filter: { name: 'b' },
      nameOnly: true,
    });
    expect((filtered.cursor as Document).firstBatch).toEqual([{ name: 'b', type: 'collection' }]);
  });

  it('listDatabases and listIndexes', async () => {
    const f = dataFixture();
    await f.run(handlers, { insert: 'c', documents: [{ a: 1 }] });
    const dbs = await f.run(handlers, { listDatabases: 1 }, 'admin');
    expect((dbs.databases as Document[]).map((d) => d.name)).toEqual([
      'admin',
      'config',
      'local',
      'test',
    ]);
    expect((dbs.databases as Document[])[3]).toMatchObject({ name: 'test', empty: false });
    expect(typeof dbs.totalSize).toBe('number');
    const names = await f.run(
      handlers,
      { listDatabases: 1, nameOnly: true, filter: { name: 'test' } },
      'admin',
    );
    expect(names).toEqual({ databases: [{ name: 'test' }], ok: 1 });
    const idx = await f.run(handlers, { listIndexes: 'c', cursor: {} });
    expect(plain(idx.cursor)).toEqual({
      firstBatch: [{ v: 2, key: { _id: 1 }, name: '_id_' }],
      id: 0,
      ns: 'test.$cmd.listIndexes.c',
    });
    expect((await f.runError(handlers, { listIndexes: 'nothing' })).code).toBe(26);
  });

  it('listCollections batches continue with getMore on the $cmd namespace', async () => {
    const f = dataFixture();
    for (let i = 0; i < 5; i++) await f.run(handlers, { create: `c${i}` });
    const r = await f.run(handlers, { listCollections: 1, cursor: { batchSize: 2 } });
    const id = (r.cursor as Document).id as Long;
    expect(id.isZero()).toBe(false);
    const more = await f.run(handlers, { getMore: id, collection: '$cmd.listCollections' });
    expect(((more.cursor as Document).nextBatch as Document[]).map((c) => c.name)).toEqual([
      'c2',
      'c3',
      'c4',
    ]);
  });
});

describe('DDL through the official driver', () => {
  let server: TestServer;
  let client: MongoClient;

  beforeAll(async () => {
    server = await startTestServer();
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  it('creates, lists, modifies and drops collections and indexes', async () => {
    const db = client.db('ddl');
    await db.createCollection('images', { changeStreamPreAndPostImages: { enabled: true } });
    const [info] = await db.listCollections({ name: 'images' }).toArray();
    expect(info).toMatchObject({
      name: 'images',
      type: 'collection',
      options: { changeStreamPreAndPostImages: { enabled: true } },
    });
    const name = await db.collection('images').createIndex({ x: 1 }, { unique: true });
    expect(name).toBe('x_1');
    expect((await db.collection('images').indexes()).map((i) => i.name)).toEqual(['_id_', 'x_1']);
    await db.command({ collMod: 'images', index: { name: 'x_1', hidden: true } });
    expect((await db.collection('images').indexes()).find((i) => i.name === 'x_1')?.hidden).toBe(
      true,
    );
    await db.collection('images').dropIndex('x_1');
    expect(await db.collection('images').indexExists('x_1')).toBe(false);
    expect(await db.collection('images').drop()).toBe(true);
    expect(await db.listCollections({ name: 'images' }).toArray()).toEqual([]);
  });

  it('renames with dropTarget and reports real errors', async () => {
    const db = client.db('ddl');
    await db.collection('from').insertOne({ v: 'from' });
    await db.collection('to').insertOne({ v: 'to' });
    const clash = await db
      .collection('from')
      .rename('to')
      .catch((e: unknown) => e);
    expect((clash as MongoServerError).code).toBe(48);
    await db.collection('from').rename('to', { dropTarget: true });
    expect(
      await db
        .collection('to')
        .find({}, { projection: { _id: 0 } })
        .toArray(),
    ).toEqual([{ v: 'from' }]);
    const missing = await db
      .collection('ghost')
      .rename('x')
      .catch((e: unknown) => e);
    expect((missing as MongoServerError).code).toBe(26);
    const exists = await db.createCollection('to').catch((e: unknown) => e);
    expect((exists as MongoServerError).codeName).toBe('NamespaceExists');
  });

  it('lists databases and drops one', async () => {
    const db = client.db('ddl_drop');
    await db.collection('x').insertOne({});
    const { databases } = await client.db('admin').admin().listDatabases();
    expect(databases.map((d) => d.name)).toContain('ddl_drop');
    expect(await db.dropDatabase()).toBe(true);
    const after = await client.db('admin').admin().listDatabases({ nameOnly: true });
    expect(after.databases.map((d) => d.name)).not.toContain('ddl_drop');
  });
});
