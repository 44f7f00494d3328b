import { Query } from 'mingo';
import type { Document } from 'bson';
import { resolveOptions, type RawFlags } from './options.js';
import { buildWatch, filterStage, prefixFilter } from './pipeline.js';

function watchFor(flags: RawFlags, namespaces: string[] = []) {
  return buildWatch(
    resolveOptions(flags, namespaces, { env: {}, stdoutIsTTY: false, now: new Date(0) }),
  );
}

/** Runs a `$match` stage (plain JSON values) over events with mingo, as the server would. */
function passes(stage: Document, events: Document[]): string[] {
  const query = new Query(JSON.parse(JSON.stringify(stage.$match)) as Record<string, unknown>);
  return events.filter((e) => query.test(e)).map((e) => String(e.name));
}

const ns = { db: 'shop', coll: 'orders' };
const EVENTS: Document[] = [
  { name: 'insert paid', operationType: 'insert', ns, fullDocument: { _id: 1, status: 'paid' } },
  { name: 'insert open', operationType: 'insert', ns, fullDocument: { _id: 2, status: 'open' } },
  { name: 'update paid', operationType: 'update', ns, fullDocument: { _id: 1, status: 'paid' } },
  { name: 'update no doc', operationType: 'update', ns, updateDescription: {} },
  { name: 'update gone', operationType: 'update', ns, fullDocument: null },
  { name: 'replace paid', operationType: 'replace', ns, fullDocument: { _id: 3, status: 'paid' } },
  { name: 'delete key', operationType: 'delete', ns, documentKey: { _id: 1 } },
  {
    name: 'delete paid pre',
    operationType: 'delete',
    ns,
    fullDocumentBeforeChange: { _id: 1, status: 'paid' },
  },
  { name: 'drop', operationType: 'drop', ns },
  { name: 'invalidate', operationType: 'invalidate' },
];

describe('buildWatch', () => {
  test('no flags: no stages, no options, invalidate printed', () => {
    expect(watchFor({})).toEqual({ pipeline: [], options: {}, printInvalidate: true, notes: [] });
  });

  test('--ops: $in, with invalidate always let through but not printed unless asked', () => {
    const watch = watchFor({ ops: ['insert,delete'] });
    expect(watch.pipeline).toEqual([
      { $match: { operationType: { $in: ['insert', 'delete', 'invalidate'] } } },
    ]);
    expect(watch.printInvalidate).toBe(false);
    expect(watchFor({ ops: ['invalidate,drop'] }).printInvalidate).toBe(true);
  });

  test('stage order: ns, ops, filter, match, pipeline', () => {
    const watch = watchFor(
      {
        ops: ['insert'],
        filter: '{"a": 1}',
        match: '{"x": 1}',
        pipeline: '[{"$project": {"y": 0}}]',
      },
      ['shop.orders', 'shop.users'],
    );
    const names = watch.pipeline.map((stage) => Object.keys(stage)[0]);
    expect(names).toEqual(['$match', '$match', '$match', '$match', '$project']);
    expect(watch.pipeline[0]?.$match.$or).toHaveLength(6); // the ns filter
    expect(watch.pipeline[1]).toEqual({
      $match: { operationType: { $in: ['insert', 'invalidate'] } },
    });
    expect(JSON.stringify(watch.pipeline[3])).toBe('{"$match":{"x":1}}');
  });

  test('--filter turns updateLookup on and says so; an explicit mode is kept', () => {
    const auto = watchFor({ filter: '{"a": 1}' });
    expect(auto.options.fullDocument).toBe('updateLookup');
    expect(auto.notes).toEqual([
      '--filter matches fullDocument, which update events only carry with a full-document mode: using --full-document updateLookup',
    ]);
    const chosen = watchFor({ filter: '{"a": 1}', fullDocument: 'whenAvailable' });
    expect(chosen.options.fullDocument).toBe('whenAvailable');
    expect(chosen.notes).toEqual([]);
    expect(watchFor({ filter: '{"a": 1}', fullDocument: 'default' }).notes).toEqual([
      '--filter with --full-document default: update events carry no fullDocument and never match',
    ]);
  });

  test('watch options', () => {
    const watch = watchFor({
      fullDocument: 'required',
      fullDocumentBeforeChange: 'whenAvailable',
      expanded: true,
      batchSize: '5',
      maxAwait: '300',
    });
    expect(watch.options).toEqual({
      fullDocument: 'required',
      fullDocumentBeforeChange: 'whenAvailable',
      showExpandedEvents: true,
      batchSize: 5,
      maxAwaitTimeMS: 300,
    });
    expect(watchFor({ until: 'now' }).options).toEqual({ maxAwaitTimeMS: 200 });
    expect(watchFor({ until: 'now', maxAwait: '900' }).options).toEqual({ maxAwaitTimeMS: 900 });
    // A short --idle-timeout is proven by empty batches: they come at half of it.
    expect(watchFor({ idleTimeout: '400ms' }).options).toEqual({ maxAwaitTimeMS: 200 });
    expect(watchFor({ idleTimeout: '30s' }).options).toEqual({});
    expect(watchFor({ idleTimeout: '400ms', maxAwait: '900' }).options).toEqual({
      maxAwaitTimeMS: 900,
    });
  });

  test('--split-large-events adds the split stage last, once even if --pipeline ends with it', () => {
    const split = { $changeStreamSplitLargeEvent: {} };
    expect(watchFor({ splitLargeEvents: true, pipeline: '{"$set": {"x": "a"}}' }).pipeline).toEqual(
      [{ $set: { x: 'a' } }, split],
    );
    // Both given once made the server refuse the stream (code 7182802), an exit 1.
    expect(
      watchFor({
        splitLargeEvents: true,
        pipeline: '[{"$set": {"x": "a"}}, {"$changeStreamSplitLargeEvent": {}}]',
      }).pipeline,
    ).toEqual([{ $set: { x: 'a' } }, split]);
  });

  test('a --pipeline that ends with the split stage says its fragments are put together', () => {
    const notes = watchFor({ pipeline: '[{"$changeStreamSplitLargeEvent": {}}]' }).notes;
    expect(notes).toEqual([expect.stringMatching(/printed as one event/)]);
    expect(watchFor({ splitLargeEvents: true }).notes).toEqual([]);
  });
});

describe('--filter semantics', () => {
  const filter = { status: 'paid' };

  test('without pre-images: documents by fullDocument, deletes never, other events pass', () => {
    expect(passes(filterStage(filter, false), EVENTS)).toEqual([
      'insert paid',
      'update paid',
      'replace paid',
      'drop',
      'invalidate',
    ]);
  });

  test('with pre-images: deletes match their pre-image', () => {
    expect(passes(filterStage(filter, true), EVENTS)).toEqual([
      'insert paid',
      'update paid',
      'replace paid',
      'delete paid pre',
      'drop',
      'invalidate',
    ]);
  });

  test('$or / $and / $nor are rewritten recursively', () => {
    const stage = filterStage({ $or: [{ status: 'open' }, { _id: { $in: [3] } }] }, false);
    expect(passes(stage, EVENTS)).toEqual(['insert open', 'replace paid', 'drop', 'invalidate']);
  });
});

test('prefixFilter', () => {
  expect(
    prefixFilter(
      {
        a: 1,
        'b.c': { $gt: 2 },
        $and: [{ d: 1 }, { $nor: [{ e: 2 }] }],
        $comment: 'why',
      },
      'fullDocument',
    ),
  ).toEqual({
    'fullDocument.a': 1,
    'fullDocument.b.c': { $gt: 2 },
    $and: [{ 'fullDocument.d': 1 }, { $nor: [{ 'fullDocument.e': 2 }] }],
    $comment: 'why',
  });
});

describe('--partition i/N', () => {
  const keyed: Document[] = [1, 2, 3, 'a', 'b', { k: 1 }, 7.5, 40, 41, 42].map((_id, n) => ({
    name: `doc ${n}`,
    operationType: n % 2 === 0 ? 'insert' : 'delete',
    ns,
    documentKey: { _id },
  }));
  const keyless: Document[] = [
    { name: 'drop', operationType: 'drop', ns },
    { name: 'rename', operationType: 'rename', ns, to: { db: 'shop', coll: 'old' } },
    { name: 'invalidate', operationType: 'invalidate' },
  ];

  test('the stage: $toHashedIndexKey of documentKey._id, folded to 0..N-1 with $abs', () => {
    const watch = watchFor({ partition: '2/3' });
    expect(watch.pipeline).toEqual([
      {
        $match: {
          $or: [
            { operationType: 'invalidate' },
            {
              $expr: {
                $cond: [
                  { $eq: [{ $type: '$documentKey._id' }, 'missing'] },
                  false,
                  {
                    $eq: [{ $abs: { $mod: [{ $toHashedIndexKey: '$documentKey._id' }, 3] } }, 2],
                  },
                ],
              },
            },
          ],
        },
      },
    ]);
    expect(watch.printInvalidate).toBe(false);
    expect(watchFor({ partition: '0/3' }).printInvalidate).toBe(true);
  });

  test('1/1 adds nothing (and needs no $toHashedIndexKey on the server)', () => {
    expect(watchFor({ partition: '0/1' }).pipeline).toEqual([]);
  });

  test.each([2, 3, 7])('N = %i: each keyed event in one partition, keyless ones in 0', (n) => {
    const owners = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const [stage] = watchFor({ partition: `${i}/${n}` }).pipeline;
      for (const name of passes(stage as Document, [...keyed, ...keyless])) {
        owners.set(name, [...(owners.get(name) ?? []), i]);
      }
    }
    for (const e of keyed) expect(owners.get(String(e.name))).toHaveLength(1);
    expect(owners.get('drop')).toEqual([0]);
    expect(owners.get('rename')).toEqual([0]);
    // Every tailer receives the invalidate (its stream ends); only partition 0 prints it.
    expect(owners.get('invalidate')).toEqual([...Array(n).keys()]);
  });

  test('composes with --ops and --filter; before --pipeline', () => {
    const watch = watchFor({
      ops: ['insert'],
      filter: '{"a": 1}',
      partition: '1/2',
      pipeline: '[{"$project": {"documentKey": 0}}]',
    });
    const text = watch.pipeline.map((s) => JSON.stringify(s));
    expect(text).toHaveLength(4);
    expect(text[0]).toContain('"$in":["insert","invalidate"]');
    expect(text[1]).toContain('$toHashedIndexKey');
    expect(text[2]).toContain('fullDocument.a');
    expect(text[3]).toContain('$project');
  });
});
