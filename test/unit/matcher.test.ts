import { Binary, Double, EJSON, Int32, Long, ObjectId, Timestamp } from 'bson';
import { hasType, match, MISSING } from '../conformance/matcher.js';

/** Expected values as the runner sees them: canonical Extended JSON with BSON number types. */
const ej = (text: string): unknown => EJSON.parse(text, { relaxed: false });

describe('match: documents', () => {
  test('root documents may have extra keys', () => {
    expect(match({ x: 1 }, { x: 1, y: 2 })).toEqual([]);
  });

  test('nested documents may not', () => {
    const problems = match({ a: { x: 1 } }, { a: { x: 1, z: 3 } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('$.a.z: unexpected key');
  });

  test('root: false makes the top level strict too', () => {
    expect(match({ x: 1 }, { x: 1, y: 2 }, { root: false })).toHaveLength(1);
  });

  test('a missing expected key fails, key order does not matter', () => {
    expect(match({ x: 1, y: 2 }, { y: 2, x: 1 })).toEqual([]);
    expect(match({ x: 1, y: 2 }, { x: 1 })[0]).toContain('$.y: missing');
  });

  test('null must be present as null', () => {
    expect(match({ fullDocument: null }, { fullDocument: null })).toEqual([]);
    expect(match({ fullDocument: null }, {})[0]).toContain('missing');
    expect(match({ fullDocument: null }, { fullDocument: {} })).toHaveLength(1);
  });

  test('a document is not an array and not a scalar', () => {
    expect(match({ a: {} }, { a: [] })[0]).toContain('expected a document');
    expect(match({ a: {} }, { a: 'x' })[0]).toContain('expected a document');
  });

  test('extra keys whose value is undefined are not keys at all', () => {
    expect(match({ a: { x: 1 } }, { a: { x: 1, y: undefined } })).toEqual([]);
  });
});

describe('match: arrays', () => {
  test('same length, element by element, elements are nested (strict)', () => {
    expect(match({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
    expect(match({ a: [1] }, { a: [1, 2] })[0]).toContain('expected 1 elements, got 2');
    expect(match({ a: [{ b: 2 }] }, { a: [{ b: 2, c: 3 }] })[0]).toContain('$.a[0].c');
  });

  test('an array is required where one is expected', () => {
    expect(match({ a: [] }, { a: {} })[0]).toContain('expected an array');
  });
});

describe('match: numbers by value', () => {
  test('int, long and double compare equal when their values are', () => {
    expect(match(ej('{"n": 1}'), { n: new Long(1) })).toEqual([]);
    expect(match(ej('{"n": {"$numberLong": "1"}}'), { n: 1 })).toEqual([]);
    expect(match(ej('{"n": {"$numberDouble": "1.0"}}'), { n: new Int32(1) })).toEqual([]);
    expect(match({ n: new Int32(2) }, { n: new Double(2) })).toEqual([]);
    expect(match({ n: 1 }, { n: 1n })).toEqual([]);
  });

  test('different values do not match', () => {
    expect(match({ n: 1 }, { n: 1.5 })).toHaveLength(1);
    expect(match({ n: new Long(2) }, { n: new Int32(3) })).toHaveLength(1);
  });

  test('large longs compare exactly', () => {
    const big = Long.fromString('9007199254740993');
    expect(match({ n: big }, { n: Long.fromString('9007199254740993') })).toEqual([]);
    expect(match({ n: big }, { n: Long.fromString('9007199254740992') })).toHaveLength(1);
  });

  test('a number never equals a string', () => {
    expect(match({ n: 1 }, { n: '1' })).toHaveLength(1);
    expect(match({ n: '1' }, { n: 1 })).toHaveLength(1);
  });
});

describe('match: other scalars', () => {
  test('strings, booleans, dates, ObjectIds, timestamps, binaries', () => {
    const id = new ObjectId();
    expect(match({ s: 'a', b: true }, { s: 'a', b: true })).toEqual([]);
    expect(match({ s: 'a' }, { s: 'b' })).toHaveLength(1);
    expect(match({ b: true }, { b: false })).toHaveLength(1);
    expect(match({ d: new Date(5) }, { d: new Date(5) })).toEqual([]);
    expect(match({ d: new Date(5) }, { d: new Date(6) })).toHaveLength(1);
    expect(match({ id }, { id: new ObjectId(id.toHexString()) })).toEqual([]);
    expect(match({ id }, { id: new ObjectId() })).toHaveLength(1);
    const ts = new Timestamp({ t: 10, i: 2 });
    expect(match({ ts }, { ts: new Timestamp({ t: 10, i: 2 }) })).toEqual([]);
    expect(match({ ts }, { ts: new Timestamp({ t: 10, i: 3 }) })).toHaveLength(1);
    const bin = new Binary(Buffer.from('ab'), 0);
    expect(match({ bin }, { bin: new Binary(Buffer.from('ab'), 0) })).toEqual([]);
    expect(match({ bin }, { bin: new Binary(Buffer.from('ab'), 4) })).toHaveLength(1);
  });
});

describe('$$exists', () => {
  test('true: present with any value (null too); false: absent', () => {
    expect(match(ej('{"a": {"$$exists": true}}'), { a: null })).toEqual([]);
    expect(match(ej('{"a": {"$$exists": true}}'), {})[0]).toContain('to exist');
    expect(match(ej('{"a": {"$$exists": false}}'), {})).toEqual([]);
    expect(match(ej('{"a": {"$$exists": false}}'), { a: 1 })[0]).toContain('to be absent');
  });

  test('works inside nested documents and event commands', () => {
    const expected = ej('{"cmd": {"getMore": {"$$exists": true}, "collection": "c"}}');
    expect(match(expected, { cmd: { getMore: new Long(5), collection: 'c' } })).toEqual([]);
    expect(match(expected, { cmd: { collection: 'c' } })).toHaveLength(1);
  });
});

describe('$$unsetOrMatches', () => {
  const expected = ej('{"u": {"truncatedArrays": {"$$unsetOrMatches": {"$$exists": true}}}}');

  test('absent passes; present must match the inner value', () => {
    expect(match(expected, { u: {} })).toEqual([]);
    expect(match(expected, { u: { truncatedArrays: [] } })).toEqual([]);
    const strict = ej('{"u": {"n": {"$$unsetOrMatches": 2}}}');
    expect(match(strict, { u: {} })).toEqual([]);
    expect(match(strict, { u: { n: 2 } })).toEqual([]);
    expect(match(strict, { u: { n: 3 } })).toHaveLength(1);
  });

  test('inside a nested document it still forbids extra keys next to it', () => {
    const pipeline = ej(
      '{"pipeline": [{"$changeStream": {"resumeAfter": {"$$unsetOrMatches": {"$$exists": true}}}}]}',
    );
    expect(match(pipeline, { pipeline: [{ $changeStream: {} }] })).toEqual([]);
    expect(
      match(pipeline, { pipeline: [{ $changeStream: { resumeAfter: { _data: 'x' } } }] }),
    ).toEqual([]);
    const extra = { pipeline: [{ $changeStream: { startAtOperationTime: new Timestamp(1n) } }] };
    expect(match(pipeline, extra)[0]).toContain('startAtOperationTime: unexpected key');
  });

  test('keeps the root status of what it wraps', () => {
    const wrapped = ej('{"$$unsetOrMatches": {"x": 1}}');
    expect(match(wrapped, { x: 1, extra: true })).toEqual([]);
    expect(match(wrapped, { x: 1, extra: true }, { root: false })).toHaveLength(1);
  });
});

describe('$$type', () => {
  test('single names and lists', () => {
    expect(match(ej('{"g": {"$$type": ["int", "long"]}}'), { g: new Long(7) })).toEqual([]);
    expect(match(ej('{"g": {"$$type": ["int", "long"]}}'), { g: 'x' })).toHaveLength(1);
    expect(match(ej('{"u": {"$$type": "object"}}'), { u: { a: 1 } })).toEqual([]);
    expect(match(ej('{"u": {"$$type": "object"}}'), { u: [1] })).toHaveLength(1);
    expect(match(ej('{"u": {"$$type": "object"}}'), {})[0]).toContain('missing');
  });

  test('BSON number wrappers are typed exactly', () => {
    expect(hasType(new Int32(1), 'int')).toBe(true);
    expect(hasType(new Int32(1), 'double')).toBe(false);
    expect(hasType(new Double(1), 'int')).toBe(false);
    expect(hasType(new Double(1), 'double')).toBe(true);
    expect(hasType(new Long(1), 'long')).toBe(true);
    expect(hasType(new Long(1), 'int')).toBe(false);
  });

  test('plain JS numbers (promoted by the driver) are accepted as any fitting type', () => {
    expect(hasType(3, 'int')).toBe(true);
    expect(hasType(3, 'long')).toBe(true);
    expect(hasType(3.5, 'int')).toBe(false);
    expect(hasType(3.5, 'double')).toBe(true);
    expect(hasType(2 ** 40, 'int')).toBe(false);
    expect(hasType(2 ** 40, 'long')).toBe(true);
  });

  test('the other type names', () => {
    expect(hasType('s', 'string')).toBe(true);
    expect(hasType([], 'array')).toBe(true);
    expect(hasType([], 'object')).toBe(false);
    expect(hasType(new Date(), 'date')).toBe(true);
    expect(hasType(new Timestamp(1n), 'timestamp')).toBe(true);
    expect(hasType(new ObjectId(), 'objectId')).toBe(true);
    expect(hasType(new Binary(Buffer.from('x')), 'binData')).toBe(true);
    expect(hasType(true, 'bool')).toBe(true);
    expect(hasType(null, 'null')).toBe(true);
    expect(hasType(1, 'string')).toBe(false);
  });

  test('array elements: disambiguatedPaths with an int index', () => {
    const expected = ej('{"d": {"a.0.1": ["a", {"$$type": "int"}, "1"]}}');
    expect(match(expected, { d: { 'a.0.1': ['a', new Int32(0), '1'] } })).toEqual([]);
    expect(match(expected, { d: { 'a.0.1': ['a', new Double(0), '1'] } })).toHaveLength(1);
    expect(match(expected, { d: { 'a.0.1': ['a', '0', '1'] } })).toHaveLength(1);
  });
});

describe('other operators', () => {
  test('$$matchesEntity looks the entity up', () => {
    const entities = (name: string) => (name === 'id0' ? 42 : undefined);
    expect(match(ej('{"x": {"$$matchesEntity": "id0"}}'), { x: 42 }, { entities })).toEqual([]);
    expect(match(ej('{"x": {"$$matchesEntity": "id0"}}'), { x: 41 }, { entities })).toHaveLength(1);
  });

  test('$$lte and $$matchAsDocument', () => {
    expect(match(ej('{"x": {"$$lte": 5}}'), { x: 5 })).toEqual([]);
    expect(match(ej('{"x": {"$$lte": 5}}'), { x: 6 })).toHaveLength(1);
    expect(match(ej('{"x": {"$$matchAsDocument": {"a": 1}}}'), { x: '{"a": 1}' })).toEqual([]);
    expect(
      match(ej('{"x": {"$$matchAsDocument": {"a": 1}}}'), { x: '{"a": 1, "b": 2}' }),
    ).toHaveLength(1);
  });

  test('unknown operators are reported, not ignored', () => {
    expect(match(ej('{"x": {"$$nope": 1}}'), { x: 1 })[0]).toContain('unsupported operator');
  });

  test('MISSING is a value only the runner produces', () => {
    expect(match(1, MISSING)[0]).toContain('missing');
  });
});

describe('a real expectResult', () => {
  const expected = ej(`{
    "_id": {"$$exists": true},
    "operationType": "insert",
    "ns": {"db": "database0", "coll": "collection0"},
    "fullDocument": {"x": 1, "_id": {"$$exists": true}}
  }`);
  const event = {
    _id: { _data: '8264' },
    operationType: 'insert',
    clusterTime: new Timestamp(1n),
    wallTime: new Date(),
    fullDocument: { _id: new ObjectId(), x: new Int32(1) },
    ns: { db: 'database0', coll: 'collection0' },
    documentKey: { _id: new ObjectId() },
  };

  test('matches the event the server sends', () => {
    expect(match(expected, event)).toEqual([]);
  });

  test('reports every difference with its path', () => {
    const wrong = { ...event, ns: { db: 'database0', coll: 'other' }, fullDocument: { x: 2 } };
    const problems = match(expected, wrong);
    expect(problems).toEqual([
      expect.stringContaining('$.ns.coll: expected "collection0", got "other"'),
      expect.stringContaining('$.fullDocument.x: expected 1, got 2'),
      expect.stringContaining('$.fullDocument._id: expected to exist'),
    ]);
  });
});
