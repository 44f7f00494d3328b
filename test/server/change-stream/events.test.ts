import { type Document, Int32, Timestamp, UUID } from 'bson';
import {
  DEFAULT_EVENT_OPTIONS,
  buildEvent,
  buildInvalidate,
  eventToken,
  resolvePath,
  type EventLookups,
  type EventOptions,
} from './events.js';
import { ServerError } from '../errors.js';
import { compareTokens, decodeResumeToken } from './tokens.js';
import type { OplogEntry } from '../types.js';

const UUID_A = new UUID('00112233-4455-6677-8899-aabbccddeeff');
const TS = new Timestamp({ t: 1700000000, i: 7 });
const WALL = new Date(1700000000123);

function entry(e: Partial<OplogEntry> & Pick<OplogEntry, 'op'>): OplogEntry {
  return { db: 'db0', coll: 'c0', uuid: UUID_A, ts: TS, wall: WALL, ...e };
}

const noLookups: EventLookups = {
  currentDocument: () => {
    throw new Error('no lookup expected');
  },
};

function build(e: OplogEntry, opts: Partial<EventOptions> = {}, lookups = noLookups): Document {
  const ev = buildEvent(e, { ...DEFAULT_EVENT_OPTIONS, ...opts }, lookups);
  if (!ev) throw new Error('expected an event');
  return ev;
}

const insert = entry({
  op: 'insert',
  documentKey: { _id: new Int32(1) },
  fullDocument: { _id: new Int32(1), a: new Int32(1) },
});
const update = entry({
  op: 'update',
  documentKey: { _id: new Int32(1) },
  fullDocument: { _id: new Int32(1), a: new Int32(2) },
  preImage: { _id: new Int32(1), a: new Int32(1) },
  imagesEnabled: true,
  updateDescription: { updatedFields: { a: new Int32(2) }, removedFields: [], truncatedArrays: [] },
});
const replace = entry({
  op: 'replace',
  documentKey: { _id: new Int32(1) },
  fullDocument: { _id: new Int32(1), b: new Int32(1) },
  preImage: { _id: new Int32(1), a: new Int32(2) },
  imagesEnabled: true,
});
const del = entry({
  op: 'delete',
  documentKey: { _id: new Int32(1) },
  preImage: { _id: new Int32(1), b: new Int32(1) },
  imagesEnabled: true,
});

describe('event field order (Object.keys)', () => {
  it('insert', () => {
    expect(Object.keys(build(insert))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    expect(Object.keys(build(insert, { showExpandedEvents: true }))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'collectionUUID',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
  });

  it('update, default and with both images', () => {
    const plain = build(update);
    expect(Object.keys(plain)).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
      'updateDescription',
    ]);
    expect(Object.keys(plain.updateDescription as Document)).toEqual([
      'updatedFields',
      'removedFields',
      'truncatedArrays',
    ]);
    const images = build(update, {
      fullDocument: 'whenAvailable',
      fullDocumentBeforeChange: 'whenAvailable',
      showExpandedEvents: true,
    });
    expect(Object.keys(images)).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'collectionUUID',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
      'updateDescription',
      'fullDocumentBeforeChange',
    ]);
    expect(Object.keys(images.updateDescription as Document)).toEqual([
      'updatedFields',
      'removedFields',
      'truncatedArrays',
      'disambiguatedPaths',
    ]);
    expect(images.fullDocument).toEqual(update.fullDocument);
    expect(images.fullDocumentBeforeChange).toEqual(update.preImage);
  });

  it('replace and delete, with and without the pre-image', () => {
    expect(Object.keys(build(replace))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
    ]);
    expect(Object.keys(build(replace, { fullDocumentBeforeChange: 'required' }))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'fullDocument',
      'ns',
      'documentKey',
      'fullDocumentBeforeChange',
    ]);
    expect(Object.keys(build(del))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
    ]);
    const withPre = build(del, {
      fullDocumentBeforeChange: 'whenAvailable',
      fullDocument: 'updateLookup',
    });
    expect(Object.keys(withPre)).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
      'fullDocumentBeforeChange',
    ]);
  });

  it('drop, rename, dropDatabase and invalidate', () => {
    const drop = entry({ op: 'drop' });
    expect(Object.keys(build(drop))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
    ]);
    expect(build(drop).ns).toEqual({ db: 'db0', coll: 'c0' });
    const rename = entry({ op: 'rename', to: { db: 'db0', coll: 'c1' }, dropTarget: new UUID() });
    // The server writes rename's top-level `to` before `_id` (change_stream_event_transform.cpp).
    expect(Object.keys(build(rename))).toEqual([
      'to',
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
    ]);
    const expanded = build(rename, { showExpandedEvents: true });
    expect(Object.keys(expanded)).toEqual([
      'to',
      '_id',
      'operationType',
      'clusterTime',
      'collectionUUID',
      'wallTime',
      'ns',
      'operationDescription',
    ]);
    expect(Object.keys(expanded.operationDescription as Document)).toEqual(['to', 'dropTarget']);
    const dropDb = entry({ op: 'dropDatabase', coll: undefined, uuid: undefined });
    expect(Object.keys(build(dropDb, { showExpandedEvents: true }))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
    ]);
    expect(build(dropDb).ns).toEqual({ db: 'db0' });
    expect(Object.keys(buildInvalidate(drop))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
    ]);
  });

  it('expanded DDL events, and none of them without showExpandedEvents', () => {
    const spec = { v: new Int32(2), key: { x: new Int32(1) }, name: 'x_1' };
    for (const op of ['create', 'createIndexes', 'dropIndexes', 'modify'] as const) {
      const e = entry({
        op,
        operationDescription: op.endsWith('Indexes') ? { indexes: [spec] } : {},
      });
      expect(buildEvent(e, DEFAULT_EVENT_OPTIONS, noLookups)).toBeNull();
      expect(Object.keys(build(e, { showExpandedEvents: true }))).toEqual([
        '_id',
        'operationType',
        'clusterTime',
        'collectionUUID',
        'wallTime',
        'ns',
        'operationDescription',
      ]);
    }
    // A collMod's o2 comes last, as stateBeforeChange (ddl_coll_mod_event.js).
    const before = { collectionOptions: { uuid: UUID_A }, indexOptions: { hidden: false } };
    const modify = build(
      entry({
        op: 'modify',
        operationDescription: { index: { name: 'x_1', hidden: true } },
        stateBeforeChange: before,
      }),
      { showExpandedEvents: true },
    );
    expect(Object.keys(modify).slice(-2)).toEqual(['operationDescription', 'stateBeforeChange']);
    expect(modify.stateBeforeChange).toEqual(before);
    const view = entry({
      op: 'create',
      coll: 'v',
      uuid: undefined,
      operationDescription: { viewOn: 'c0', pipeline: [] },
    });
    expect(Object.keys(build(view, { showExpandedEvents: true }))).not.toContain('collectionUUID');
    expect(buildEvent(entry({ op: 'noop' }), DEFAULT_EVENT_OPTIONS, noLookups)).toBeNull();
  });
});

describe('event contents', () => {
  it('carries the clusterTime, the wallTime and an owned copy of every document', () => {
    const ev = build(insert);
    expect((ev.clusterTime as Timestamp).equals(TS)).toBe(true);
    expect(ev.wallTime).toEqual(WALL);
    expect(ev.fullDocument).toEqual(insert.fullDocument);
    expect(ev.fullDocument).not.toBe(insert.fullDocument);
    (ev.fullDocument as Document).a = 99;
    expect(insert.fullDocument?.a).toEqual(new Int32(1));
  });

  it('uses the event token as _id: v2, with operationType and documentKey', () => {
    const ev = build(insert);
    expect(ev._id).toEqual(eventToken(insert));
    const data = decodeResumeToken(ev._id as { _data: string });
    expect(data.version).toBe(2);
    expect(data.uuid?.equals(UUID_A)).toBe(true);
    expect(data.eventIdentifier).toEqual({
      operationType: 'insert',
      documentKey: { _id: new Int32(1) },
    });
    const inv = buildInvalidate(entry({ op: 'drop' }));
    expect(compareTokens(inv._id as { _data: string }, eventToken(entry({ op: 'drop' })))).toBe(1);
  });

  it('fills fullDocument per mode: updateLookup reads the current document', () => {
    const current = { _id: new Int32(1), a: new Int32(3) };
    const lookups: EventLookups = { currentDocument: () => current };
    expect(build(update, { fullDocument: 'updateLookup' }, lookups).fullDocument).toBe(current);
    expect(
      build(update, { fullDocument: 'updateLookup' }, { currentDocument: () => null }).fullDocument,
    ).toBeNull();
  });

  it('gives null or code 47 when images were not enabled at write time', () => {
    const noImages = { ...update, imagesEnabled: false };
    expect(build(noImages, { fullDocument: 'whenAvailable' }).fullDocument).toBeNull();
    expect(
      build(noImages, { fullDocumentBeforeChange: 'whenAvailable' }).fullDocumentBeforeChange,
    ).toBeNull();
    expect(() => build(noImages, { fullDocument: 'required' })).toThrow(ServerError);
    try {
      build({ ...del, imagesEnabled: false }, { fullDocumentBeforeChange: 'required' });
      throw new Error('expected a failure');
    } catch (err) {
      expect(err).toBeInstanceOf(ServerError);
      expect((err as ServerError).code).toBe(47);
      expect((err as ServerError).message).toMatch(/require a pre-image.*operationType: "delete"/);
    }
  });

  it('writes disambiguatedPaths only for expanded events, numeric indexes as ints', () => {
    const e = entry({
      op: 'update',
      documentKey: { _id: 1 },
      fullDocument: { _id: 1, a: [{ '1': 2 }], b: { 'x.y': 1, '0': { c: 1 } }, plain: { p: 1 } },
      preImage: { _id: 1, a: [{ '1': 1 }], b: { 'x.y': 0, '0': { c: 0 } }, gone: { '5': 1 } },
      updateDescription: {
        updatedFields: { 'a.0.1': 2, 'b.x.y': 1, 'b.0.c': 1, 'plain.p': 1 },
        removedFields: ['gone.5'],
        truncatedArrays: [],
      },
    });
    expect((build(e).updateDescription as Document).disambiguatedPaths).toBeUndefined();
    const paths = (build(e, { showExpandedEvents: true }).updateDescription as Document)
      .disambiguatedPaths as Document;
    expect(Object.keys(paths)).toEqual(['a.0.1', 'b.x.y', 'b.0.c', 'gone.5']);
    expect(paths['a.0.1']).toEqual(['a', new Int32(0), '1']);
    expect(paths['b.x.y']).toEqual(['b', 'x.y']);
    expect(paths['b.0.c']).toEqual(['b', '0', 'c']);
    expect(paths['gone.5']).toEqual(['gone', '5']);
    const empty = entry({
      ...update,
      updateDescription: { updatedFields: { 'arr.1': 1 }, removedFields: [], truncatedArrays: [] },
      fullDocument: { _id: 1, arr: [0, 1] },
    });
    expect(
      (build(empty, { showExpandedEvents: true }).updateDescription as Document).disambiguatedPaths,
    ).toEqual({});
  });

  it('resolves paths against the document', () => {
    expect(resolvePath('a.0.b', { a: [{ b: 1 }] })).toEqual(['a', 0, 'b']);
    expect(resolvePath('a.0.b', { a: { '0': { b: 1 } } })).toEqual(['a', '0', 'b']);
    expect(resolvePath('x.y.z', { 'x.y': { z: 1 } })).toEqual(['x.y', 'z']);
    expect(resolvePath('missing.1', {})).toEqual(['missing', '1']);
  });
});
