import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Binary, Code, DBRef, Double, EJSON, Int32, Long, serialize } from 'bson';
import type { Document } from 'bson';
import { doubleText, relaxedJson } from './json.js';
import { asDelivered, everyType, OID } from './samples.test-util.js';

describe('relaxedJson writes every BSON type as the Extended JSON spec says', () => {
  const doc = everyType();
  test.each([
    ['_id', '{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}'],
    ['str', '"text"'],
    ['int32', '7'],
    ['intNeg', '-2147483648'],
    ['double', '1.5'],
    ['doubleWhole', '2.0'],
    ['doubleNegZero', '-0.0'],
    ['doubleBig', '100000000000000000000.0'],
    ['doubleTiny', '5e-324'],
    ['doubleInf', '{"$numberDouble":"Infinity"}'],
    ['doubleNaN', '{"$numberDouble":"NaN"}'],
    ['long', '9007199254740993'],
    ['longMin', '-9223372036854775808'],
    ['decimal', '{"$numberDecimal":"1.50"}'],
    ['decimalBig', '{"$numberDecimal":"1.234567890123456789012345678901234E+6000"}'],
    ['bool', 'true'],
    ['date', '{"$date":"2024-01-12T21:44:35.123Z"}'],
    ['dateOld', '{"$date":{"$numberLong":"-2208988800000"}}'],
    ['null', 'null'],
    ['regex', '{"$regularExpression":{"pattern":"^a/b","options":"im"}}'],
    ['binary', '{"$binary":{"base64":"AQID","subType":"00"}}'],
    ['binaryUser', '{"$binary":{"base64":"eHl6","subType":"80"}}'],
    ['uuid', '{"$binary":{"base64":"ASNFZ4mrze8BI0VniavN7w==","subType":"04"}}'],
    ['code', '{"$code":"function () { return 1; }"}'],
    ['codeScope', '{"$code":"x + y","$scope":{"x":1}}'],
    ['timestamp', '{"$timestamp":{"t":1705095875,"i":3}}'],
    ['minKey', '{"$minKey":1}'],
    ['maxKey', '{"$maxKey":1}'],
    ['symbol', '{"$symbol":"sym"}'],
    ['dbref', '{"$ref":"coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"$db":"db"}'],
    ['array', '[1,"two",[3.25]]'],
    ['nested', '{"a":{"b":5},"dotted.key":1,"has space":[]}'],
    ['empty', '{}'],
  ])('%s → %s', (field, expected) => {
    expect(relaxedJson(doc[field])).toBe(expected);
  });

  test('dates: whole seconds without ".000", the 1970–9999 window as ISO strings', () => {
    expect(relaxedJson(new Date('2024-01-12T21:44:35Z'))).toBe('{"$date":"2024-01-12T21:44:35Z"}');
    expect(relaxedJson(new Date(0))).toBe('{"$date":"1970-01-01T00:00:00Z"}');
    expect(relaxedJson(new Date(-1))).toBe('{"$date":{"$numberLong":"-1"}}');
    expect(relaxedJson(new Date(253402300800000))).toBe(
      '{"$date":{"$numberLong":"253402300800000"}}',
    );
  });

  test('doubles are always non-integers, so they read back as doubles', () => {
    for (const x of [0, 1, -7, 2 ** 53, 1e21, 1e-7, 123.456, -1e300]) {
      const text = doubleText(x);
      expect(text).toMatch(/[.eE]/);
      expect(JSON.parse(text)).toBe(x);
    }
  });

  test('plain JS numbers follow bson serialization: int32 range → integer, else a double', () => {
    expect(relaxedJson(5)).toBe('5');
    expect(relaxedJson(2 ** 31)).toBe('2147483648.0');
    expect(relaxedJson(0.5)).toBe('0.5');
    expect(relaxedJson(-0)).toBe('-0.0');
    expect(relaxedJson(12n)).toBe('12');
  });

  test('strings are JSON-escaped; a line stays one line', () => {
    const line = relaxedJson({ s: 'a\nb\u2028"\\\x1b' });
    expect(line).toBe('{"s":"a\\nb\u2028\\"\\\\\\u001b"}');
    expect(line.split('\n')).toHaveLength(1);
  });

  test('DBRef extra fields and a Code scope with typed values', () => {
    const ref = new DBRef('c', OID, undefined, { extra: new Int32(1) });
    expect(relaxedJson(ref)).toBe(
      '{"$ref":"c","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"extra":1}',
    );
    expect(relaxedJson(new Code('f', { d: new Double(1) }))).toBe(
      '{"$code":"f","$scope":{"d":1.0}}',
    );
  });

  test('a JS RegExp keeps only the BSON flags, sorted', () => {
    expect(relaxedJson(/a+/gim)).toBe('{"$regularExpression":{"pattern":"a+","options":"im"}}');
  });

  test('a Buffer is binary subtype 0', () => {
    expect(relaxedJson(Buffer.from('hi'))).toBe('{"$binary":{"base64":"aGk=","subType":"00"}}');
    expect(relaxedJson(new Binary(Buffer.from('hi'), 2))).toBe(
      '{"$binary":{"base64":"aGk=","subType":"02"}}',
    );
  });

  test('field order is the order the fields arrive in', () => {
    const line = relaxedJson(asDelivered({ z: 1, a: 2, m: { y: 1, b: 2 } }));
    expect(line).toBe('{"z":1,"a":2,"m":{"y":1,"b":2}}');
  });

  test('the line parses back (bson, relaxed) to the same values for JSON-safe types', () => {
    const doc = asDelivered({
      s: 'x',
      n: new Int32(3),
      f: new Double(2.5),
      l: Long.fromNumber(2 ** 40),
    });
    expect(EJSON.parse(relaxedJson(doc), { relaxed: false })).toEqual(
      EJSON.parse(EJSON.stringify(doc, { relaxed: false }), { relaxed: false }),
    );
  });
});

// A second, independent implementation of the spec: pymongo's json_util must read our relaxed
// line back into exactly the BSON bytes we started from (for the types relaxed mode preserves:
// not small Longs, which the spec turns into Int32, nor symbols, which Python 3 drops).
const PYTHON = '/usr/bin/python3';
const pymongoReason = ((): string | undefined => {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import bson.json_util'], { encoding: 'utf8' });
  return probe.status === 0
    ? undefined
    : 'pymongo is not installed (apt-get install python3-pymongo)';
})();
if (pymongoReason) console.warn(`skipping the pymongo cross-check: ${pymongoReason}`);
const withPymongo = pymongoReason ? test.skip : test;

const PY_ROUNDTRIP = `
import sys, binascii
from bson import BSON
from bson.codec_options import CodecOptions
from bson.binary import UuidRepresentation
from bson.json_util import loads, JSONOptions
opts = JSONOptions(uuid_representation=UuidRepresentation.STANDARD)
for line in sys.stdin:
    doc = loads(line, json_options=opts)
    enc = BSON.encode(doc, codec_options=CodecOptions(uuid_representation=UuidRepresentation.STANDARD))
    print(binascii.hexlify(enc).decode())
`;

withPymongo('pymongo reads our relaxed JSON back to identical BSON', () => {
  const { symbol: _symbol, nested: _nested, ...faithful } = everyType();
  const docs: Document[] = [
    faithful,
    asDelivered({ big: Long.fromString('-9007199254740993'), d: new Double(-0), z: new Double(0) }),
  ];
  const input = docs.map((d) => relaxedJson(d)).join('\n') + '\n';
  const py = spawnSync(PYTHON, ['-c', PY_ROUNDTRIP], { input, encoding: 'utf8' });
  expect(py.stderr).toBe('');
  const lines = py.stdout.trim().split('\n');
  expect(lines).toEqual(docs.map((d) => Buffer.from(serialize(d)).toString('hex')));
});
