import { type Document, Decimal128, Double, Int32, Long, ObjectId } from 'bson';
import { ServerError } from '../errors.js';
import {
  type ApplyOptions,
  type UpdateOutcome,
  applyUpdate,
  diffDocuments,
  parseUpdate,
  upsertDocument,
} from './index.js';
import { normalize } from '../values.js';

const plain = (v: unknown): unknown => normalize(v);

function apply(doc: Document, u: unknown, opts?: ApplyOptions): UpdateOutcome {
  return applyUpdate(doc, parseUpdate(u), opts);
}

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof ServerError) return e.code;
    throw e;
  }
  return undefined;
}

const desc = (o: UpdateOutcome): unknown => plain(o.description);

describe('operator updates: results and updateDescription', () => {
  it('$set of an existing field logs that field; nested paths are dotted', () => {
    const doc = { _id: 1, a: { b: 1, c: 1 }, x: 1 };
    expect(desc(apply(doc, { $set: { 'a.b': 2 } }))).toEqual({
      updatedFields: { 'a.b': 2 },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(desc(apply(doc, { $set: { a: { b: 5 } } }))).toEqual({
      updatedFields: { a: { b: 5 } },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(doc).toEqual({ _id: 1, a: { b: 1, c: 1 }, x: 1 });
  });

  it('creating a path logs its first new component with the whole new value', () => {
    const out = apply({ _id: 1 }, { $set: { 'p.q.r': 1, 'p.s': 2 } });
    expect(plain(out.doc)).toEqual({ _id: 1, p: { q: { r: 1 }, s: 2 } });
    expect(desc(out)).toEqual({
      updatedFields: { p: { q: { r: 1 }, s: 2 } },
      removedFields: [],
      truncatedArrays: [],
    });
  });

  it('applies fields in name order, like MongoDB 5.0+', () => {
    const out = apply({ _id: 1 }, { $set: { c: 1, a: 1, b: 1 } });
    expect(Object.keys(out.doc)).toEqual(['_id', 'a', 'b', 'c']);
    expect(Object.keys(desc(out) as Document)).toEqual([
      'updatedFields',
      'removedFields',
      'truncatedArrays',
    ]);
    expect(Object.keys(out.description?.updatedFields ?? {})).toEqual(['a', 'b', 'c']);
  });

  it('$unset logs removedFields and ignores missing fields', () => {
    const out = apply({ _id: 1, a: 1, b: { c: 1 } }, { $unset: { a: '', 'b.c': '', zz: '' } });
    expect(plain(out.doc)).toEqual({ _id: 1, b: {} });
    expect(desc(out)).toEqual({
      updatedFields: {},
      removedFields: ['a', 'b.c'],
      truncatedArrays: [],
    });
  });

  it('a no-op update reports modified false', () => {
    expect(apply({ _id: 1, a: new Int32(1) }, { $set: { a: new Int32(1) } }).modified).toBe(false);
    expect(apply({ _id: 1, a: 5 }, { $max: { a: 3 } }).modified).toBe(false);
    expect(apply({ _id: 1 }, { $unset: { a: '' } }).modified).toBe(false);
    // A different BSON type is a change even when the value is numerically equal.
    expect(apply({ _id: 1, a: new Int32(1) }, { $set: { a: new Double(1) } }).modified).toBe(true);
  });

  it('$inc keeps number types: int stays int, overflows to long, double wins', () => {
    const doc = {
      _id: 1,
      i: new Int32(2147483647),
      j: new Int32(1),
      l: Long.fromNumber(5),
      d: new Double(1.5),
    };
    const out = apply(doc, {
      $inc: { i: new Int32(1), j: new Int32(2), l: new Int32(1), d: new Int32(1), n: new Int32(4) },
    }).doc;
    expect(out.i).toEqual(Long.fromNumber(2147483648));
    expect(out.j).toEqual(new Int32(3));
    expect(out.l).toEqual(Long.fromNumber(6));
    expect(out.d).toEqual(new Double(2.5));
    expect(out.n).toEqual(new Int32(4));
    expect(apply({ _id: 1, j: new Int32(1) }, { $inc: { j: new Double(0.5) } }).doc.j).toEqual(
      new Double(1.5),
    );
    expect(
      apply({ _id: 1, j: new Int32(1) }, { $inc: { j: Decimal128.fromString('1') } }).doc.j,
    ).toBeInstanceOf(Decimal128);
    expect(codeOf(() => apply({ _id: 1, l: Long.MAX_VALUE }, { $inc: { l: new Int32(1) } }))).toBe(
      2,
    );
  });

  it('$mul, $min, $max, $currentDate and $rename', () => {
    expect(
      apply({ _id: 1, a: new Int32(3) }, { $mul: { a: new Int32(4), z: new Double(2) } }).doc,
    ).toEqual({
      _id: new Int32(1),
      a: new Int32(12),
      z: new Double(0),
    });
    expect(plain(apply({ _id: 1, a: 5 }, { $min: { a: 2, b: 7 } }).doc)).toEqual({
      _id: 1,
      a: 2,
      b: 7,
    });
    expect(
      apply({ _id: 1 }, { $currentDate: { t: true, ts: { $type: 'timestamp' } } }).doc.t,
    ).toBeInstanceOf(Date);
    const renamed = apply({ _id: 1, a: 1, b: 2 }, { $rename: { a: 'c' } });
    expect(plain(renamed.doc)).toEqual({ _id: 1, b: 2, c: 1 });
    expect(desc(renamed)).toEqual({
      updatedFields: { c: 1 },
      removedFields: ['a'],
      truncatedArrays: [],
    });
  });

  it('$push that only appends logs each new element as arr.N', () => {
    const doc = { _id: 1, arr: [1, 2] };
    expect(desc(apply(doc, { $push: { arr: 3 } }))).toEqual({
      updatedFields: { 'arr.2': 3 },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(desc(apply(doc, { $push: { arr: { $each: [3, 4] } } }))).toEqual({
      updatedFields: { 'arr.2': 3, 'arr.3': 4 },
      removedFields: [],
      truncatedArrays: [],
    });
    // Onto an empty or missing array, or with $position/$slice/$sort: the whole array.
    expect(desc(apply({ _id: 1, arr: [] }, { $push: { arr: 1 } }))).toEqual({
      updatedFields: { arr: [1] },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(desc(apply({ _id: 1 }, { $push: { arr: 1 } }))).toEqual({
      updatedFields: { arr: [1] },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(plain(apply(doc, { $push: { arr: { $each: [0], $position: 0 } } }).doc.arr)).toEqual([
      0, 1, 2,
    ]);
    const sorted = apply(
      { _id: 1, arr: [3, 1] },
      { $push: { arr: { $each: [2], $sort: -1, $slice: 2 } } },
    );
    expect(plain(sorted.doc.arr)).toEqual([3, 2]);
    expect(desc(sorted)).toEqual({
      updatedFields: { arr: [3, 2] },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(codeOf(() => apply({ _id: 1, arr: 1 }, { $push: { arr: 2 } }))).toBe(2);
  });

  it('$addToSet appends only missing values', () => {
    const doc = { _id: 1, s: [1, 'a'] };
    const out = apply(doc, { $addToSet: { s: { $each: [new Double(1), 'b', 'b'] } } });
    expect(plain(out.doc.s)).toEqual([1, 'a', 'b']);
    expect(desc(out)).toEqual({
      updatedFields: { 's.2': 'b' },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(apply(doc, { $addToSet: { s: 'a' } }).modified).toBe(false);
  });

  it('$pop, $pull and $pullAll log the whole array', () => {
    const doc = { _id: 1, arr: [1, 2, 3, 2], objs: [{ k: 1, v: 'x' }, { k: 2 }] };
    const popped = apply(doc, { $pop: { arr: 1 } });
    expect(desc(popped)).toEqual({
      updatedFields: { arr: [1, 2, 3] },
      removedFields: [],
      truncatedArrays: [],
    });
    expect(plain(apply(doc, { $pop: { arr: -1 } }).doc.arr)).toEqual([2, 3, 2]);
    expect(plain(apply(doc, { $pull: { arr: 2 } }).doc.arr)).toEqual([1, 3]);
    expect(plain(apply(doc, { $pull: { arr: { $gte: 2 } } }).doc.arr)).toEqual([1]);
    expect(plain(apply(doc, { $pull: { objs: { k: 1 } } }).doc.objs)).toEqual([{ k: 2 }]);
    expect(plain(apply(doc, { $pullAll: { arr: [1, 3] } }).doc.arr)).toEqual([2, 2]);
    expect(apply(doc, { $pull: { arr: 9 } }).modified).toBe(false);
    expect(codeOf(() => apply({ _id: 1, a: 1 }, { $pop: { a: 1 } }))).toBe(14);
  });

  it('positional $, $[] and $[id] with arrayFilters', () => {
    const doc = {
      _id: 1,
      items: [
        { k: 'a', n: 1 },
        { k: 'b', n: 2 },
        { k: 'c', n: 3 },
      ],
    };
    const one = apply(doc, { $set: { 'items.$.n': 20 } }, { positional: 1 });
    expect(plain(one.doc.items)).toEqual([
      { k: 'a', n: 1 },
      { k: 'b', n: 20 },
      { k: 'c', n: 3 },
    ]);
    expect(desc(one)).toEqual({
      updatedFields: { 'items.1.n': 20 },
      removedFields: [],
      truncatedArrays: [],
    });
    const all = apply(doc, { $inc: { 'items.$[].n': 10 } });
    expect(plain(all.doc.items)).toEqual([
      { k: 'a', n: 11 },
      { k: 'b', n: 12 },
      { k: 'c', n: 13 },
    ]);
    const some = apply(
      doc,
      { $set: { 'items.$[big].k': 'z' } },
      { arrayFilters: [{ 'big.n': { $gte: 2 } }] },
    );
    expect(plain(some.doc.items)).toEqual([
      { k: 'a', n: 1 },
      { k: 'z', n: 2 },
      { k: 'z', n: 3 },
    ]);
    expect(desc(some)).toEqual({
      updatedFields: { 'items.1.k': 'z', 'items.2.k': 'z' },
      removedFields: [],
      truncatedArrays: [],
    });
  });

  it('setting an array index past the end pads with nulls', () => {
    const out = apply({ _id: 1, a: [1] }, { $set: { 'a.3': 4 } });
    expect(plain(out.doc.a)).toEqual([1, null, null, 4]);
    expect(desc(out)).toEqual({
      updatedFields: { 'a.3': 4 },
      removedFields: [],
      truncatedArrays: [],
    });
  });
});

describe('operator updates: errors with MongoDB codes', () => {
  const doc = { _id: 1, a: 1, arr: [1] };
  it.each([
    ['modifying _id', { $set: { _id: 2 } }, 66],
    ['an unknown operator', { $foo: { a: 1 } }, 9],
    ['mixing operators and fields', { $set: { a: 1 }, b: 2 }, 9],
    ['an empty operator document', { $set: {} }, 9],
    ['conflicting paths', { $set: { a: 1 }, $inc: { a: 1 } }, 40],
    ['a parent and child path', { $set: { 'x.y': 1, x: 2 } }, 40],
    ['$inc with a string', { $inc: { a: 'x' } }, 14],
    ['$inc on a string field', { $set: { z: 1 } }, undefined],
    ['a path through a scalar', { $set: { 'a.b': 1 } }, 28],
    ['a $-prefixed field name', { $set: { $bad: 1 } }, 52],
    ['an empty path component', { $set: { 'a..b': 1 } }, 56],
    ['$pop with 2', { $pop: { arr: 2 } }, 9],
  ])('rejects %s', (_name, u, code) => {
    expect(codeOf(() => apply(doc, u))).toBe(code);
  });

  it('rejects a missing or unused array filter and a positional without a match', () => {
    expect(codeOf(() => apply(doc, { $set: { 'arr.$[x]': 1 } }))).toBe(2);
    expect(codeOf(() => apply(doc, { $set: { a: 2 } }, { arrayFilters: [{ x: 1 }] }))).toBe(9);
    expect(codeOf(() => apply(doc, { $set: { 'arr.$': 1 } }))).toBe(2);
    expect(codeOf(() => apply({ _id: 1, s: 'x' }, { $inc: { s: 1 } }))).toBe(14);
  });

  it('allows setting _id to its current value', () => {
    expect(apply({ _id: new Int32(1), a: 1 }, { $set: { _id: new Int32(1), a: 2 } }).modified).toBe(
      true,
    );
  });
});

describe('replacement updates', () => {
  it('keeps _id first and reports whether anything changed', () => {
    const out = apply({ _id: 1, a: 1 }, { b: 2 });
    expect(plain(out.doc)).toEqual({ _id: 1, b: 2 });
    expect(out.replace).toBe(true);
    expect(apply({ _id: 1, a: 1 }, { a: 1 }).modified).toBe(false);
    expect(Object.keys(apply({ _id: 1 }, { z: 1, _id: 1 }).doc)).toEqual(['_id', 'z']);
  });

  it('rejects a changed _id and $-prefixed fields', () => {
    expect(codeOf(() => apply({ _id: 1 }, { _id: 2 }))).toBe(66);
    expect(codeOf(() => apply({ _id: 1 }, { a: 1, $set: { b: 1 } }))).toBe(52);
  });
});

describe('pipeline updates: diff-based descriptions', () => {
  it('reports a shrunk array as truncatedArrays (the conformance "array truncation" case)', () => {
    const doc = { _id: 1, a: 1, array: ['foo', { a: 'bar' }, 1, 2, 3] };
    const out = apply(doc, [{ $set: { array: ['foo', { a: 'bar' }] } }]);
    expect(out.replace).toBe(false);
    expect(desc(out)).toEqual({
      updatedFields: {},
      removedFields: [],
      truncatedArrays: [{ field: 'array', newSize: 2 }],
    });
  });

  it('reports changed, added and removed fields', () => {
    const doc = {
      _id: 1,
      keep: 'x'.repeat(50),
      a: { b: 1, c: 'y'.repeat(40) },
      small: { b: 1 },
      gone: 1,
    };
    const out = apply(doc, [{ $set: { 'a.b': 5, 'small.b': 2, added: true } }, { $unset: 'gone' }]);
    // A sub-document whose diff would not be smaller than itself is logged whole, as MongoDB does.
    expect(desc(out)).toEqual({
      updatedFields: { small: { b: 2 }, added: true, 'a.b': 5 },
      removedFields: ['gone'],
      truncatedArrays: [],
    });
  });

  it('lists removed fields as the raw diff does: trailing ones first, then the rest by name', () => {
    // The $replaceRoot case of jstests/change_streams/show_raw_update_description.js, whose raw
    // diff is d: {c, arrayForReplacement, arrayForSubdiff, b}.
    const giant = '*'.repeat(1024);
    const doc = {
      _id: 100,
      b: 2,
      arrayForSubdiff: [giant, { a: '*'.repeat(128), b: 3 }],
      arrayForReplacement: [0],
      giantStr: giant,
      c: 3,
    };
    const out = apply(doc, [{ $replaceRoot: { newRoot: { _id: 100, giantStr: giant } } }]);
    expect(out.replace).toBe(false);
    expect(desc(out)).toEqual({
      updatedFields: {},
      removedFields: ['c', 'arrayForReplacement', 'arrayForSubdiff', 'b'],
      truncatedArrays: [],
    });
  });

  it('falls back to a replacement when the diff is not smaller than the document', () => {
    const out = apply({ _id: 1, a: 1 }, [{ $replaceWith: { x: 'completely different' } }]);
    expect(out.replace).toBe(true);
    expect(plain(out.doc)).toEqual({ _id: 1, x: 'completely different' });
  });

  it('diffDocuments finds nothing between equal documents and rejects disallowed stages', () => {
    expect(diffDocuments({ _id: 1, a: [1, 2] }, { _id: 1, a: [1, 2] })).toEqual({
      updatedFields: {},
      removedFields: [],
      truncatedArrays: [],
    });
    expect(codeOf(() => parseUpdate([{ $group: { _id: null } }]))).toBe(72);
  });
});

describe('upsertDocument', () => {
  it('starts from the filter equality fields and applies $setOnInsert', () => {
    const doc = upsertDocument(
      { _id: 7, a: 1, b: { $gt: 1 } },
      parseUpdate({ $set: { c: 1 }, $setOnInsert: { d: 1 } }),
    );
    expect(plain(doc)).toEqual({ _id: 7, a: 1, c: 1, d: 1 });
  });

  it('generates an ObjectId first when neither filter nor update has _id', () => {
    const doc = upsertDocument({ a: 1 }, parseUpdate({ b: 2 }));
    expect(Object.keys(doc)).toEqual(['_id', 'b']);
    expect(doc._id).toBeInstanceOf(ObjectId);
  });

  it('ignores $setOnInsert when updating an existing document', () => {
    expect(apply({ _id: 1 }, { $setOnInsert: { x: 1 } }).modified).toBe(false);
  });
});
