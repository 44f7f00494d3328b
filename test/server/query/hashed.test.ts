// The hashed-index hash against the values MongoDB's own tests pin (src/mongo/db/hasher_test.cpp,
// jstests/core/hash.js) and the manual's $toHashedIndexKey example, so a partition computed by
// the test server is the one a real server computes.
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  serialize,
} from 'bson';
import { compileFilter, evalExpression, runPipeline } from './index.js';
import { hashElement, hashedIndexKey } from './hashed.js';

const hash = (v: unknown, seed = 0): string => hashedIndexKey(v, seed).toString();

/** A document holding one element of a type js-bson cannot write: `{c: <type> <value>}`. */
function rawElement(type: number, value: Buffer): Uint8Array {
  const body = Buffer.concat([Buffer.from([type, 0x63, 0]), value, Buffer.from([0])]);
  const len = Buffer.alloc(4);
  len.writeInt32LE(body.length + 4);
  return Buffer.concat([len, body]);
}

function bsonString(s: string): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32LE(Buffer.byteLength(s) + 1);
  return Buffer.concat([len, Buffer.from(s), Buffer.from([0])]);
}

describe('hashedIndexKey: MongoDB test vectors', () => {
  it("the manual's $toHashedIndexKey example", () => {
    expect(hash('string to hash')).toBe('763543691661428748');
  });

  it('numbers hash as the int64 they truncate to (int, long, double alike)', () => {
    for (const v of [42, new Int32(42), Long.fromNumber(42), new Double(42.123)]) {
      expect(hash(v)).toBe('-944302157085130861');
    }
    for (const v of [new Int32(1), Long.fromNumber(1), new Double(1), 1.987]) {
      expect(hash(v)).toBe('5902408780260971510');
    }
    expect(hash(-1.789)).toBe('1140205862565771219');
    expect(hash(0)).toBe('4854801880128277513');
    expect(hash(NaN)).toBe('4854801880128277513');
    expect(hash(new Int32(-2147483648))).toBe('6165898260261354870');
    expect(hash(2147483647)).toBe('1143184177162245883');
    expect(hash(Number.MAX_VALUE)).toBe('921523596458303250');
    expect(hash(Long.MAX_VALUE)).toBe('921523596458303250');
    expect(hash(-Number.MAX_VALUE)).toBe('4532067210535695462');
    expect(hash(Long.MIN_VALUE)).toBe('4532067210535695462');
    expect(hash(Decimal128.fromString('42.5'))).toBe('-944302157085130861');
    expect(hash(Decimal128.fromString('1E+0'))).toBe('5902408780260971510');
  });

  it('double edge cases with seed 1 (jstests/core/hash.js): 2^63 wraps, larger clamps', () => {
    expect(hash(2 ** 63, 1)).toBe('5744114172487291558');
    expect(hash(-(2 ** 63), 1)).toBe('5744114172487291558');
    expect(hash(-Infinity, 1)).toBe('5744114172487291558');
    expect(hash(2 ** 63 + 2 ** 11, 1)).toBe('1136124329541638701');
    expect(hash(Infinity, 1)).toBe('1136124329541638701');
    expect(hash(2 ** 63 - 2 ** 10, 1)).toBe('-3954856262017896439');
    expect(hash(-(2 ** 63 - 2 ** 10), 1)).toBe('-1762411739488908479');
    expect(hash(0, 1)).toBe('5574369198691456941');
    expect(hash('hashthis', 1)).toBe('6271151123721111923');
    expect(hash({ a: 1, b: 2 }, 1)).toBe('-7076810813311352857');
    expect(hash({ a: 2 ** 63, b: NaN }, 1)).toBe('1223292051903137684');
  });

  it('strings, symbols, documents and arrays', () => {
    expect(hash('abc')).toBe('8478485326885698097');
    expect(hash(new BSONSymbol('abc'))).toBe('8478485326885698097');
    expect(hash('')).toBe('2049396243249673340');
    expect(hash({ a: 'abc', b: Long.fromNumber(123) })).toBe('4771603801758380216');
    expect(hash({})).toBe('7980500913326740417');
    expect(hash(['bar', 'baz', 'qux'])).toBe('-2938911267422831539');
    expect(hash([])).toBe('8849948234993459283');
    expect(hash(['sunflower', 'sesame', 'mustard'], 40513)).toBe('-9222615859251096151');
    expect(hash(42, 40513)).toBe('4302929669663179197');
  });

  it('ObjectId, binary, bool, null, min/max key', () => {
    expect(hash(new ObjectId('010203040506070809101112'))).toBe('-5588663249627035708');
    expect(hash(new ObjectId('000000000000000000000000'))).toBe('-4293118519463489418');
    const bytes = Buffer.from([0, 1, 2, 3, 4, 6]);
    expect(hash(new Binary(bytes, 0))).toBe('7252465090394235301');
    expect(hash(new Binary(bytes, 0x80))).toBe('5736670452907618262');
    const uuid = Buffer.from([...Array(16).keys()]);
    expect(hash(new Binary(uuid, 4))).toBe('6084661258071355978');
    expect(hash(true)).toBe('6405873908747105701');
    expect(hash(false)).toBe('6289544573401934092');
    expect(hash(null)).toBe('2338878944348059895');
    expect(hash(undefined)).toBe('2338878944348059895');
    expect(hash(new MinKey())).toBe('7961148599568647290');
    expect(hash(new MaxKey())).toBe('5504842513779440750');
  });

  it('dates, timestamps (a type of their own since 2.6), regexes, code', () => {
    expect(hash(new Date(0))).toBe('-1178696894582842035');
    expect(hash(new Date('2013-02-12T22:12:57.211Z'))).toBe('-4185544074338741873');
    expect(hash(new Timestamp({ t: 0x55667788, i: 0x11223344 }))).toBe('4873046866288452390');
    expect(hash(new Timestamp({ t: 0, i: 0 }))).toBe('-7867208682377458672');
    expect(hash(new BSONRegExp('mongodb', ''))).toBe('-7275792090268217043');
    expect(hash(new BSONRegExp('.*', 'i'))).toBe('7095855029187981886');
    expect(hash(new Code('func f() { return 1; }'))).toBe('6861638109178014270');
    expect(hash(new Code('func f() { return 1; }', { c: true }))).toBe('501342939894575968');
  });

  it('element bytes js-bson does not write: a date past JS range, DBPointer', () => {
    const date = Buffer.alloc(8);
    date.writeBigInt64LE(0x5566778811223344n);
    expect(hashElement(rawElement(0x09, date), 4).toString()).toBe('4476222765095560467');
    const oid = Buffer.from('010203040506070809101112', 'hex');
    const dbPointer = (ns: string): Uint8Array =>
      rawElement(0x0c, Buffer.concat([bsonString(ns), oid]));
    expect(hashElement(dbPointer('c'), 4).toString()).toBe('940175826736461384');
    expect(hashElement(dbPointer('db.c'), 4).toString()).toBe('2426768198104018194');
    // The same element inside a larger document: the offset is honoured.
    const outer = serialize({ pad: 'xyz', c: 'abc' });
    expect(hashElement(outer, 17).toString()).toBe('8478485326885698097');
  });
});

describe('$toHashedIndexKey in the test server (mingo)', () => {
  it('evaluates to a Long with the real hash, missing hashing as null', () => {
    const out = evalExpression({ v: 'string to hash' }, { $toHashedIndexKey: '$v' });
    expect(out).toBeInstanceOf(Long);
    expect(String(out)).toBe('763543691661428748');
    expect(String(evalExpression({}, { $toHashedIndexKey: '$nope' }))).toBe('2338878944348059895');
  });

  it('$mod and $abs are exact on the 64-bit hash; plain numbers keep mingo behaviour', () => {
    const h = -5588663249627035708n; // ObjectId('010203040506070809101112')
    const doc = { _id: new ObjectId('010203040506070809101112') };
    for (const n of [2, 3, 7, 10]) {
      const got = evalExpression(doc, { $abs: { $mod: [{ $toHashedIndexKey: '$_id' }, n] } });
      expect(got).toBe(Number(-(h % BigInt(n))));
    }
    expect(evalExpression({ a: 7 }, { $mod: ['$a', 3] })).toBe(1);
    expect(evalExpression({ a: -7 }, { $abs: '$a' })).toBe(7);
  });

  it('a $match $expr partitions documents by hash, each in exactly one partition', () => {
    const ids = [1, 2, 'abc', new ObjectId(), { k: 1 }, Long.fromNumber(5), 2.5];
    const docs = ids.map((_id, n) => ({ _id, n }));
    const part = (i: number, n: number) => ({
      $expr: { $eq: [{ $abs: { $mod: [{ $toHashedIndexKey: '$_id' }, n] } }, i] },
    });
    for (const n of [1, 2, 3, 7]) {
      const seen = new Map<unknown, number>();
      for (let i = 0; i < n; i++) {
        for (const d of runPipeline(docs, [{ $match: part(i, n) }])) {
          expect(seen.has(d.n)).toBe(false);
          seen.set(d.n, i);
        }
      }
      expect(seen.size).toBe(docs.length);
    }
    expect(compileFilter(part(0, 2))({ _id: 1 })).toBe(compileFilter(part(0, 2))({ _id: 1.5 }));
  });
});
