import {
  BSONRegExp,
  Decimal128,
  type Document,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
} from 'bson';
import { ServerError } from '../errors.js';
import {
  compileFilter,
  compileProjection,
  compileSort,
  equalityFields,
  evalExpression,
  pathLeaves,
  runPipeline,
} from './index.js';
import { compareValues, formatValue, idKey, normalize, valuesEqual } from '../values.js';

/** Numbers as plain JS numbers, for comparisons where the BSON number type is not the point. */
const plain = (v: unknown): unknown => normalize(v);

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ServerError) return e.code;
    throw e;
  }
  return undefined;
}

const matches = (filter: Document, doc: Document): boolean => compileFilter(filter)(doc);

describe('values: BSON ordering and keys', () => {
  it('orders values across types the way MongoDB sorts them', () => {
    const ordered = [
      new MinKey(),
      null,
      new Int32(-5),
      new Double(1.5),
      Long.fromNumber(2),
      'a',
      'b',
      { a: 1 },
      [1],
      new ObjectId('000000000000000000000001'),
      false,
      true,
      new Date(0),
      new Timestamp({ t: 1, i: 1 }),
      new BSONRegExp('a', ''),
      new MaxKey(),
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect([i, j, Math.sign(compareValues(ordered[i], ordered[j]))]).toEqual([
          i,
          j,
          Math.sign(i - j),
        ]);
      }
    }
  });

  it('compares numbers by value across Int32, Double, Long and Decimal128', () => {
    expect(valuesEqual(new Int32(1), new Double(1))).toBe(true);
    expect(valuesEqual(Long.fromNumber(1), 1)).toBe(true);
    expect(valuesEqual(Decimal128.fromString('2.5'), new Double(2.5))).toBe(true);
    expect(
      compareValues(Long.fromString('9007199254740993'), Long.fromString('9007199254740992')),
    ).toBe(1);
    expect(compareValues(NaN, -Infinity)).toBe(-1);
  });

  it('treats documents as field-order sensitive', () => {
    expect(valuesEqual({ a: 1, b: 2 }, { a: 1, b: 2 })).toBe(true);
    expect(valuesEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
  });

  it('gives numerically equal ids the same key and different types different keys', () => {
    expect(idKey(new Int32(7))).toBe(idKey(Long.fromNumber(7)));
    expect(idKey(new Double(7))).toBe(idKey(7));
    expect(idKey('7')).not.toBe(idKey(7));
    expect(idKey({ a: new Int32(1) })).toBe(idKey({ a: new Double(1) }));
    const oid = new ObjectId();
    expect(idKey(oid)).toBe(idKey(new ObjectId(oid.toHexString())));
  });

  it('renders values like the server does in error messages', () => {
    expect(formatValue({ _id: 1, a: 'x', b: [true, null] })).toBe(
      '{ _id: 1, a: "x", b: [ true, null ] }',
    );
    expect(formatValue(new ObjectId('65f000000000000000000000'))).toBe(
      "ObjectId('65f000000000000000000000')",
    );
  });
});

describe('compileFilter', () => {
  const doc = {
    _id: 1,
    n: new Int32(5),
    d: new Double(2.5),
    l: Long.fromNumber(10),
    s: 'hello',
    tags: ['a', 'b'],
    nested: { x: 1, y: { z: 'deep' } },
    items: [
      { k: 'p', v: 1 },
      { k: 'q', v: 2 },
    ],
    nil: null,
  };

  it('matches equality across numeric types', () => {
    expect(matches({ n: 5 }, doc)).toBe(true);
    expect(matches({ n: new Double(5) }, doc)).toBe(true);
    expect(matches({ l: new Int32(10) }, doc)).toBe(true);
    expect(matches({ n: 6 }, doc)).toBe(false);
  });

  it('matches array elements, whole arrays and paths through arrays', () => {
    expect(matches({ tags: 'a' }, doc)).toBe(true);
    expect(matches({ tags: ['a', 'b'] }, doc)).toBe(true);
    expect(matches({ tags: ['b', 'a'] }, doc)).toBe(false);
    expect(matches({ 'items.k': 'q' }, doc)).toBe(true);
    expect(matches({ 'items.1.v': 2 }, doc)).toBe(true);
    expect(matches({ 'items.0.v': 2 }, doc)).toBe(false);
    expect(matches({ 'nested.y.z': 'deep' }, doc)).toBe(true);
  });

  it('lets null match null and missing fields', () => {
    expect(matches({ nil: null }, doc)).toBe(true);
    expect(matches({ absent: null }, doc)).toBe(true);
    expect(matches({ s: null }, doc)).toBe(false);
    expect(matches({ absent: { $exists: false } }, doc)).toBe(true);
    expect(matches({ nil: { $exists: true } }, doc)).toBe(true);
  });

  it('brackets comparisons by type', () => {
    expect(matches({ n: { $gt: 4, $lte: 5 } }, doc)).toBe(true);
    expect(matches({ s: { $gt: 1 } }, doc)).toBe(false);
    expect(matches({ n: { $lt: 'zzz' } }, doc)).toBe(false);
    expect(matches({ s: { $gte: 'hello' } }, doc)).toBe(true);
    expect(matches({ tags: { $gt: 'a' } }, doc)).toBe(true);
    expect(matches({ n: { $gt: new MinKey() } }, doc)).toBe(true);
  });

  it('supports $ne, $in and $nin with array semantics', () => {
    expect(matches({ tags: { $ne: 'a' } }, doc)).toBe(false);
    expect(matches({ tags: { $ne: 'z' } }, doc)).toBe(true);
    expect(matches({ s: { $in: [1, /^hel/] } }, doc)).toBe(true);
    expect(matches({ tags: { $nin: ['b'] } }, doc)).toBe(false);
    expect(matches({ absent: { $in: [null] } }, doc)).toBe(true);
  });

  it('checks $type against the real BSON type', () => {
    expect(matches({ n: { $type: 'int' } }, doc)).toBe(true);
    expect(matches({ n: { $type: 'double' } }, doc)).toBe(false);
    expect(matches({ l: { $type: 'long' } }, doc)).toBe(true);
    expect(matches({ d: { $type: 1 } }, doc)).toBe(true);
    expect(matches({ l: { $type: 'number' } }, doc)).toBe(true);
    expect(matches({ tags: { $type: 'array' } }, doc)).toBe(true);
    expect(matches({ tags: { $type: 'string' } }, doc)).toBe(true);
    expect(matches({ nil: { $type: ['null', 'string'] } }, doc)).toBe(true);
    expect(codeOf(() => compileFilter({ n: { $type: 'integer' } }))).toBe(2);
  });

  it('supports $size, $all and $elemMatch', () => {
    expect(matches({ tags: { $size: 2 } }, doc)).toBe(true);
    expect(matches({ tags: { $all: ['b', 'a'] } }, doc)).toBe(true);
    expect(matches({ tags: { $all: ['a', 'c'] } }, doc)).toBe(false);
    expect(matches({ items: { $elemMatch: { k: 'q', v: { $gt: 1 } } } }, doc)).toBe(true);
    expect(matches({ items: { $elemMatch: { k: 'p', v: { $gt: 1 } } } }, doc)).toBe(false);
    expect(matches({ tags: { $elemMatch: { $gte: 'b' } } }, doc)).toBe(true);
  });

  it('supports $regex, $not, $mod and logical operators', () => {
    expect(matches({ s: { $regex: 'HEL', $options: 'i' } }, doc)).toBe(true);
    expect(matches({ s: new BSONRegExp('^h.*o$') }, doc)).toBe(true);
    expect(matches({ s: { $not: /^x/ } }, doc)).toBe(true);
    expect(matches({ n: { $not: { $gt: 3 } } }, doc)).toBe(false);
    expect(matches({ n: { $mod: [2, 1] } }, doc)).toBe(true);
    expect(matches({ $or: [{ s: 'no' }, { n: 5 }] }, doc)).toBe(true);
    expect(matches({ $and: [{ s: 'hello' }, { n: 4 }] }, doc)).toBe(false);
    expect(matches({ $nor: [{ s: 'no' }] }, doc)).toBe(true);
  });

  it('evaluates $expr on normalised numbers', () => {
    expect(matches({ $expr: { $gt: ['$l', '$n'] } }, doc)).toBe(true);
    expect(matches({ $expr: { $eq: [{ $add: ['$n', '$l'] }, 15] } }, doc)).toBe(true);
  });

  it('rejects unknown operators and malformed logical clauses with code 2', () => {
    expect(codeOf(() => compileFilter({ a: { $foo: 1 } }))).toBe(2);
    expect(codeOf(() => compileFilter({ $foo: [] }))).toBe(2);
    expect(codeOf(() => compileFilter({ $and: [] }))).toBe(2);
    expect(codeOf(() => compileFilter({ a: { $in: 5 } }))).toBe(2);
  });

  it('records the matched array position for the positional operator', () => {
    const details: { arrayIndex?: number } = {};
    expect(compileFilter({ 'items.k': 'q' })(doc, details)).toBe(true);
    expect(details.arrayIndex).toBe(1);
    const d2: { arrayIndex?: number } = {};
    compileFilter({ tags: 'b' })(doc, d2);
    expect(d2.arrayIndex).toBe(1);
  });

  it('lists the values a path reaches through arrays', () => {
    expect(pathLeaves(doc, 'items.v')).toEqual([1, 2]);
    expect(pathLeaves(doc, 'tags')).toEqual([['a', 'b']]);
  });
});

describe('compileSort', () => {
  it('sorts mixed types in BSON order and numbers by value', () => {
    const docs = [
      { v: 'b' },
      { v: new Int32(3) },
      { v: null },
      { v: new Double(2.5) },
      {},
      { v: Long.fromNumber(1) },
      { v: { a: 1 } },
    ];
    const sorted = [...docs].sort(compileSort({ v: 1 }));
    expect(sorted.map((d) => formatValue(d.v))).toEqual([
      'null',
      'undefined',
      '1',
      '2.5',
      '3',
      '"b"',
      '{ a: 1 }',
    ]);
  });

  it('uses the smallest array element ascending and the largest descending', () => {
    const a = { v: [1, 10] };
    const b = { v: [5] };
    expect([b, a].sort(compileSort({ v: 1 }))[0]).toBe(a);
    expect([b, a].sort(compileSort({ v: -1 }))[0]).toBe(a);
  });

  it('breaks ties on later keys', () => {
    const docs = [
      { a: 1, b: 2 },
      { a: 1, b: 1 },
      { a: 0, b: 9 },
    ];
    expect(docs.sort(compileSort({ a: 1, b: -1 })).map((d) => d.b)).toEqual([9, 2, 1]);
    expect(codeOf(() => compileSort({ a: 2 }))).toBe(15975);
  });
});

describe('compileProjection', () => {
  const doc = {
    _id: 1,
    a: 1,
    b: { c: 2, d: 3 },
    arr: [
      { x: 1, y: 1 },
      { x: 2, y: 2 },
    ],
    list: [1, 2, 3, 4],
  };

  it('includes fields in document order with _id by default', () => {
    expect(Object.keys(compileProjection({ b: 1, a: 1 })?.(doc) ?? {})).toEqual(['_id', 'a', 'b']);
    expect(plain(compileProjection({ 'b.c': 1, _id: 0 })?.(doc))).toEqual({ b: { c: 2 } });
    expect(plain(compileProjection({ 'arr.x': 1 })?.(doc))).toEqual({
      _id: 1,
      arr: [{ x: 1 }, { x: 2 }],
    });
    expect(plain(compileProjection({ _id: 1 })?.(doc))).toEqual({ _id: 1 });
  });

  it('excludes fields', () => {
    expect(plain(compileProjection({ b: 0, arr: 0, list: 0 })?.(doc))).toEqual({ _id: 1, a: 1 });
    expect(plain(compileProjection({ 'b.c': 0, _id: 0, arr: 0, list: 0 })?.(doc))).toEqual({
      a: 1,
      b: { d: 3 },
    });
  });

  it('rejects mixing inclusion and exclusion', () => {
    expect(codeOf(() => compileProjection({ a: 1, b: 0 }))).toBe(31254);
    expect(codeOf(() => compileProjection({ a: 0, b: 1 }))).toBe(31253);
  });

  it('supports $slice, $elemMatch, positional and expressions', () => {
    expect(plain(compileProjection({ list: { $slice: 2 } })?.(doc).list)).toEqual([1, 2]);
    expect(plain(compileProjection({ list: { $slice: -1 } })?.(doc).list)).toEqual([4]);
    expect(plain(compileProjection({ list: { $slice: [1, 2] } })?.(doc).list)).toEqual([2, 3]);
    expect(plain(compileProjection({ arr: { $elemMatch: { x: 2 } } })?.(doc))).toEqual({
      _id: 1,
      arr: [{ x: 2, y: 2 }],
    });
    expect(plain(compileProjection({ 'list.$': 1 })?.(doc, { arrayIndex: 2 }))).toEqual({
      _id: 1,
      list: [3],
    });
    expect(
      plain(compileProjection({ total: { $add: ['$a', '$b.c'] }, copy: '$b.d' })?.(doc)),
    ).toEqual({ _id: 1, total: 3, copy: 3 });
  });

  it('returns copies that share nothing with the input', () => {
    const out = compileProjection({ b: 1 })?.(doc) as Document;
    (out.b as Document).c = 99;
    expect(doc.b.c).toBe(2);
  });
});

describe('runPipeline', () => {
  const docs = (): Document[] => [
    { _id: 1, k: 'a', n: new Int32(1), tags: ['x', 'y'] },
    { _id: 2, k: 'b', n: new Int32(2), tags: [] },
    { _id: 3, k: 'a', n: new Double(3.5) },
  ];

  it('runs $match, $sort, $skip, $limit and $project natively', () => {
    const out = runPipeline(docs(), [
      { $match: { k: 'a' } },
      { $sort: { n: -1 } },
      { $project: { n: 1, _id: 0 } },
      { $limit: 1 },
    ]);
    expect(out).toEqual([{ n: new Double(3.5) }]);
    expect(runPipeline(docs(), [{ $skip: 2 }]).map((d) => d._id)).toEqual([3]);
  });

  it('groups and counts through mingo', () => {
    const out = runPipeline(docs(), [
      { $group: { _id: '$k', total: { $sum: '$n' } } },
      { $sort: { _id: 1 } },
    ]);
    expect(out).toEqual([
      { _id: 'a', total: 4.5 },
      { _id: 'b', total: 2 },
    ]);
    expect(runPipeline(docs(), [{ $count: 'c' }])).toEqual([{ c: 3 }]);
    expect(runPipeline([], [{ $count: 'c' }])).toEqual([]);
  });

  it('unwinds with Long array indexes and preserves empty arrays on request', () => {
    const out = runPipeline(docs(), [{ $unwind: { path: '$tags', includeArrayIndex: 'i' } }]);
    expect(out.map((d) => [plain(d._id), d.tags, plain(d.i)])).toEqual([
      [1, 'x', 0],
      [1, 'y', 1],
    ]);
    expect(out[0]?.i).toBeInstanceOf(Long);
    expect(
      runPipeline(docs(), [{ $unwind: { path: '$tags', preserveNullAndEmptyArrays: true } }]),
    ).toHaveLength(4);
  });

  it('keeps BSON types in $addFields/$set constants and field paths', () => {
    const [out] = runPipeline(docs(), [
      { $set: { copy: '$n', c: new Int32(7), 'sub.x': 1 } },
      { $unset: 'tags' },
    ]);
    expect(out?.copy).toBeInstanceOf(Int32);
    expect(out?.c).toBeInstanceOf(Int32);
    expect(plain(out)).toEqual({ _id: 1, k: 'a', n: 1, copy: 1, c: 7, sub: { x: 1 } });
  });

  it('supports $replaceRoot, $facet and $lookup', () => {
    expect(
      plain(runPipeline([{ _id: 1, inner: { a: 1 } }], [{ $replaceRoot: { newRoot: '$inner' } }])),
    ).toEqual([{ a: 1 }]);
    const [facets] = runPipeline(docs(), [
      { $facet: { first: [{ $limit: 1 }, { $project: { _id: 1 } }], n: [{ $count: 'n' }] } },
    ]);
    expect(plain(facets)).toEqual({ first: [{ _id: 1 }], n: [{ n: 3 }] });
    const out = runPipeline(
      docs(),
      [
        { $match: { _id: 1 } },
        { $lookup: { from: 'other', localField: 'k', foreignField: 'key', as: 'joined' } },
      ],
      {
        collection: (name) => (name === 'other' ? [{ _id: 9, key: 'a' }] : []),
      },
    );
    expect(plain(out[0]?.joined)).toEqual([{ _id: 9, key: 'a' }]);
  });

  it('does not modify its input documents', () => {
    const input = docs();
    runPipeline(input, [
      { $set: { n: 0 } },
      { $unwind: '$tags' },
      { $group: { _id: null, s: { $sum: '$n' } } },
    ]);
    expect(input).toEqual(docs());
  });

  it('rejects unknown stages and a late $changeStream with real codes', () => {
    expect(codeOf(() => runPipeline([], [{ $bogus: {} }]))).toBe(40324);
    expect(codeOf(() => runPipeline([], [{ $match: {} }, { $changeStream: {} }]))).toBe(40602);
    expect(codeOf(() => runPipeline([], [{ $match: {}, $limit: 1 }]))).toBe(40323);
  });

  it('evaluates expressions with operators through mingo', () => {
    expect(evalExpression({ a: new Int32(2) }, { $multiply: ['$a', 3] })).toBe(6);
    expect(evalExpression({ a: { b: 1 } }, { $literal: '$a' })).toBe('$a');
  });
});

describe('equalityFields', () => {
  it('builds an upsert seed from equality conditions', () => {
    expect(
      plain(
        equalityFields({ a: 1, 'b.c': 2, d: { $eq: 3 }, e: { $gt: 1 }, $and: [{ f: 4 }], g: /x/ }),
      ),
    ).toEqual({
      a: 1,
      b: { c: 2 },
      d: 3,
      f: 4,
    });
  });
});
