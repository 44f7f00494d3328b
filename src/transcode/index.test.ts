import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  Decimal128,
  deserialize,
  Double,
  EJSON,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  serialize,
  Timestamp,
  UUID,
} from 'bson';
import type { Document } from 'bson';
import { relaxedJson } from '../format/json.js';
import { everyType } from '../format/samples.test-util.js';
import { transcodeDocument, TranscodeError } from './index.js';
import { encodeDocument, nestedDocument } from './bson-samples.test-util.js';
import type { Field, Value } from './bson-samples.test-util.js';

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;
const OID = new ObjectId('65a1b2c3d4e5f6a7b8c9d0e1');

/** `{"v": value}` through the transcoder, with the `{"v":` and `}` around it taken off. */
function one(value: unknown, mode: 'relaxed' | 'canonical'): string {
  const line = transcodeDocument(serialize({ v: value }), 0, mode);
  expect(line.startsWith('{"v":') && line.endsWith('}')).toBe(true);
  return line.slice(5, -1);
}

/** The same for a value only the hand encoder can write. */
function oneRaw(value: Value, mode: 'relaxed' | 'canonical'): string {
  return transcodeDocument(encodeDocument([['v', value]]), 0, mode).slice(5, -1);
}

describe('every BSON type, relaxed and canonical', () => {
  test.each<[string, unknown, string, string]>([
    ['ObjectId', OID, '{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}', '{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}'],
    ['string', 'text', '"text"', '"text"'],
    ['empty string', '', '""', '""'],
    ['Int32', new Int32(7), '7', '{"$numberInt":"7"}'],
    ['Int32 min', new Int32(-2147483648), '-2147483648', '{"$numberInt":"-2147483648"}'],
    ['Double', new Double(1.5), '1.5', '{"$numberDouble":"1.5"}'],
    ['Double whole', new Double(2), '2.0', '{"$numberDouble":"2.0"}'],
    ['Double 0', new Double(0), '0.0', '{"$numberDouble":"0.0"}'],
    ['Double -0', new Double(-0), '-0.0', '{"$numberDouble":"-0.0"}'],
    [
      'Double 1e20',
      new Double(1e20),
      '100000000000000000000.0',
      '{"$numberDouble":"100000000000000000000.0"}',
    ],
    ['Double 1e21', new Double(1e21), '1e+21', '{"$numberDouble":"1e+21"}'],
    ['Double 5e-324', new Double(5e-324), '5e-324', '{"$numberDouble":"5e-324"}'],
    ['Double 0.1', new Double(0.1), '0.1', '{"$numberDouble":"0.1"}'],
    // Relaxed: String()'s shortest digits (doubleText); canonical: toFixed's exact ones (bson).
    [
      'Double 2^60',
      new Double(2 ** 60),
      '1152921504606847000.0',
      '{"$numberDouble":"1152921504606846976.0"}',
    ],
    [
      'Double 2^53+2',
      new Double(2 ** 53 + 2),
      '9007199254740994.0',
      '{"$numberDouble":"9007199254740994.0"}',
    ],
    ['Double NaN', new Double(NaN), '{"$numberDouble":"NaN"}', '{"$numberDouble":"NaN"}'],
    [
      'Double Infinity',
      new Double(Infinity),
      '{"$numberDouble":"Infinity"}',
      '{"$numberDouble":"Infinity"}',
    ],
    [
      'Double -Infinity',
      new Double(-Infinity),
      '{"$numberDouble":"-Infinity"}',
      '{"$numberDouble":"-Infinity"}',
    ],
    ['Long', Long.fromInt(5), '5', '{"$numberLong":"5"}'],
    [
      'Long 2^53+1',
      Long.fromString('9007199254740993'),
      '9007199254740993',
      '{"$numberLong":"9007199254740993"}',
    ],
    [
      'Long -2^53-1',
      Long.fromString('-9007199254740993'),
      '-9007199254740993',
      '{"$numberLong":"-9007199254740993"}',
    ],
    ['Long min', Long.MIN_VALUE, '-9223372036854775808', '{"$numberLong":"-9223372036854775808"}'],
    ['Long max', Long.MAX_VALUE, '9223372036854775807', '{"$numberLong":"9223372036854775807"}'],
    [
      'Decimal128',
      Decimal128.fromString('1.50'),
      '{"$numberDecimal":"1.50"}',
      '{"$numberDecimal":"1.50"}',
    ],
    [
      'Decimal128 big',
      Decimal128.fromString('1.234567890123456789012345678901234E+6000'),
      '{"$numberDecimal":"1.234567890123456789012345678901234E+6000"}',
      '{"$numberDecimal":"1.234567890123456789012345678901234E+6000"}',
    ],
    [
      'Decimal128 small',
      Decimal128.fromString('0.0000001'),
      '{"$numberDecimal":"1E-7"}',
      '{"$numberDecimal":"1E-7"}',
    ],
    [
      'Decimal128 -0.00',
      Decimal128.fromString('-0.00'),
      '{"$numberDecimal":"-0.00"}',
      '{"$numberDecimal":"-0.00"}',
    ],
    [
      'Decimal128 NaN',
      Decimal128.fromString('NaN'),
      '{"$numberDecimal":"NaN"}',
      '{"$numberDecimal":"NaN"}',
    ],
    [
      'Decimal128 -Infinity',
      Decimal128.fromString('-Infinity'),
      '{"$numberDecimal":"-Infinity"}',
      '{"$numberDecimal":"-Infinity"}',
    ],
    ['true', true, 'true', 'true'],
    ['false', false, 'false', 'false'],
    [
      'Date',
      new Date('2024-01-12T21:44:35.123Z'),
      '{"$date":"2024-01-12T21:44:35.123Z"}',
      '{"$date":{"$numberLong":"1705095875123"}}',
    ],
    [
      'Date, whole second',
      new Date('2024-01-12T21:44:35Z'),
      '{"$date":"2024-01-12T21:44:35Z"}',
      '{"$date":{"$numberLong":"1705095875000"}}',
    ],
    ['Date 0', new Date(0), '{"$date":"1970-01-01T00:00:00Z"}', '{"$date":{"$numberLong":"0"}}'],
    [
      'Date, last ms of 9999',
      new Date('9999-12-31T23:59:59.999Z'),
      '{"$date":"9999-12-31T23:59:59.999Z"}',
      '{"$date":{"$numberLong":"253402300799999"}}',
    ],
    [
      'Date, year 10000',
      new Date(253402300800000),
      '{"$date":{"$numberLong":"253402300800000"}}',
      '{"$date":{"$numberLong":"253402300800000"}}',
    ],
    [
      'Date -1 ms',
      new Date(-1),
      '{"$date":{"$numberLong":"-1"}}',
      '{"$date":{"$numberLong":"-1"}}',
    ],
    [
      'Date 1900',
      new Date('1900-01-01T00:00:00Z'),
      '{"$date":{"$numberLong":"-2208988800000"}}',
      '{"$date":{"$numberLong":"-2208988800000"}}',
    ],
    ['null', null, 'null', 'null'],
    [
      'regex',
      new BSONRegExp('^a/b', 'mi'),
      '{"$regularExpression":{"pattern":"^a/b","options":"im"}}',
      '{"$regularExpression":{"pattern":"^a/b","options":"im"}}',
    ],
    [
      'Binary',
      new Binary(Buffer.from([1, 2, 3]), 0),
      '{"$binary":{"base64":"AQID","subType":"00"}}',
      '{"$binary":{"base64":"AQID","subType":"00"}}',
    ],
    [
      'Binary empty',
      new Binary(Buffer.alloc(0), 0),
      '{"$binary":{"base64":"","subType":"00"}}',
      '{"$binary":{"base64":"","subType":"00"}}',
    ],
    [
      'Binary user subtype',
      new Binary(Buffer.from('xyz'), 0x80),
      '{"$binary":{"base64":"eHl6","subType":"80"}}',
      '{"$binary":{"base64":"eHl6","subType":"80"}}',
    ],
    [
      // The old binary subtype's inner length is not part of the payload (spec, bson).
      'Binary old subtype 2',
      new Binary(Buffer.from('hi'), 2),
      '{"$binary":{"base64":"aGk=","subType":"02"}}',
      '{"$binary":{"base64":"aGk=","subType":"02"}}',
    ],
    [
      'UUID',
      new UUID('0123456789abcdef0123456789abcdef'),
      '{"$binary":{"base64":"ASNFZ4mrze8BI0VniavN7w==","subType":"04"}}',
      '{"$binary":{"base64":"ASNFZ4mrze8BI0VniavN7w==","subType":"04"}}',
    ],
    ['Code', new Code('f()'), '{"$code":"f()"}', '{"$code":"f()"}'],
    [
      'Code with scope',
      new Code('x + y', { x: new Int32(1) }),
      '{"$code":"x + y","$scope":{"x":1}}',
      '{"$code":"x + y","$scope":{"x":{"$numberInt":"1"}}}',
    ],
    [
      'Timestamp',
      new Timestamp({ t: 4294967295, i: 4294967294 }),
      '{"$timestamp":{"t":4294967295,"i":4294967294}}',
      '{"$timestamp":{"t":4294967295,"i":4294967294}}',
    ],
    ['MinKey', new MinKey(), '{"$minKey":1}', '{"$minKey":1}'],
    ['MaxKey', new MaxKey(), '{"$maxKey":1}', '{"$maxKey":1}'],
    ['Symbol', new BSONSymbol('sym'), '{"$symbol":"sym"}', '{"$symbol":"sym"}'],
    [
      'array',
      [new Int32(1), 'two', [new Double(3.25)], {}],
      '[1,"two",[3.25],{}]',
      '[{"$numberInt":"1"},"two",[{"$numberDouble":"3.25"}],{}]',
    ],
    ['empty array', [], '[]', '[]'],
    [
      'document',
      { a: { b: new Long(5) }, 'dotted.key': 1.5, 'has space': [] },
      '{"a":{"b":5},"dotted.key":1.5,"has space":[]}',
      '{"a":{"b":{"$numberLong":"5"}},"dotted.key":{"$numberDouble":"1.5"},"has space":[]}',
    ],
  ])('%s', (_name, value, relaxed, canonical) => {
    expect(one(value, 'relaxed')).toBe(relaxed);
    expect(one(value, 'canonical')).toBe(canonical);
  });

  test('undefined (0x06) is {"$undefined":true}, the spec form', () => {
    expect(oneRaw({ type: 'undefined' }, 'relaxed')).toBe('{"$undefined":true}');
    expect(oneRaw({ type: 'undefined' }, 'canonical')).toBe('{"$undefined":true}');
  });

  test('DBPointer (0x0C) is {"$dbPointer":…}, namespace as stored', () => {
    const pointer: Value = { type: 'dbPointer', ns: 'db.coll', hex: OID.toHexString() };
    const expected = '{"$dbPointer":{"$ref":"db.coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}}}';
    expect(oneRaw(pointer, 'relaxed')).toBe(expected);
    expect(oneRaw(pointer, 'canonical')).toBe(expected);
  });

  test('dates out of the JS Date range keep their exact int64 milliseconds', () => {
    for (const ms of [2n ** 63n - 1n, -(2n ** 63n), 8640000000000001n]) {
      const expected = `{"$date":{"$numberLong":"${ms}"}}`;
      expect(oneRaw({ type: 'date', ms }, 'relaxed')).toBe(expected);
      expect(oneRaw({ type: 'date', ms }, 'canonical')).toBe(expected);
    }
  });

  test('regex options are written sorted, as bson and the spec store them', () => {
    const regex: Value = { type: 'regex', pattern: 'a', options: 'xmi' };
    expect(oneRaw(regex, 'relaxed')).toBe('{"$regularExpression":{"pattern":"a","options":"imx"}}');
  });

  test('strings and keys are escaped exactly as JSON.stringify escapes them', () => {
    const s = 'a\nb\u2028"\\\x1b\u007f\t\b\f\r é 😀 \ufeff';
    const value = `${s}\u0000`; // a key cannot hold a NUL, a string can
    const line = transcodeDocument(serialize({ [s]: value }), 0, 'relaxed');
    expect(line).toBe(`{${JSON.stringify(s)}:${JSON.stringify(value)}}`);
    expect(line.split('\n')).toHaveLength(1);
  });
});

describe('field order is the BSON field order', () => {
  const doc: Field[] = [
    ['b', { type: 'int32', value: 1 }],
    ['2', { type: 'int32', value: 2 }],
    ['a', { type: 'int32', value: 3 }],
    ['10', { type: 'int32', value: 4 }],
  ];

  test('integer-like keys stay where they are (a JS object would list them first)', () => {
    const bytes = encodeDocument(doc);
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe('{"b":1,"2":2,"a":3,"10":4}');
    expect(transcodeDocument(bytes, 0, 'canonical')).toBe(
      '{"b":{"$numberInt":"1"},"2":{"$numberInt":"2"},"a":{"$numberInt":"3"},"10":{"$numberInt":"4"}}',
    );
    // What the old path writes:
    expect(relaxedJson(deserialize(bytes, EXACT))).toBe('{"2":2,"10":4,"b":1,"a":3}');
  });

  test('also inside nested documents, arrays of documents and Code scopes', () => {
    const bytes = encodeDocument([
      ['x', { type: 'array', items: [{ type: 'document', fields: doc }] }],
      ['y', { type: 'codeWithScope', code: 'f', scope: doc }],
    ]);
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe(
      '{"x":[{"b":1,"2":2,"a":3,"10":4}],"y":{"$code":"f","$scope":{"b":1,"2":2,"a":3,"10":4}}}',
    );
  });

  test('a DBRef-shaped document keeps its fields in order, like any document', () => {
    const bytes = encodeDocument([
      [
        'ref',
        {
          type: 'document',
          fields: [
            ['$id', { type: 'objectId', hex: OID.toHexString() }],
            ['extra', { type: 'int32', value: 1 }],
            ['$db', { type: 'string', value: 'db' }],
            ['$ref', { type: 'string', value: 'coll' }],
          ],
        },
      ],
    ]);
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe(
      '{"ref":{"$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"extra":1,"$db":"db","$ref":"coll"}}',
    );
    // The old path makes a DBRef of it and writes $ref, $id, $db first.
    expect(relaxedJson(deserialize(bytes, EXACT))).toBe(
      '{"ref":{"$ref":"coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"$db":"db","extra":1}}',
    );
  });

  test('duplicate keys are all written, in order', () => {
    const bytes = encodeDocument([
      ['a', { type: 'int32', value: 1 }],
      ['a', { type: 'int32', value: 2 }],
    ]);
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe('{"a":1,"a":2}');
  });
});

describe('the same lines as the formatters of today, where those follow the spec', () => {
  test('relaxed: relaxedJson on one value of every type', () => {
    const doc = everyType();
    expect(transcodeDocument(serialize(doc), 0, 'relaxed')).toBe(relaxedJson(doc));
  });

  test('canonical: EJSON.stringify on one value of every type, and it reads back', () => {
    const doc = everyType();
    const bytes = serialize(doc);
    const line = transcodeDocument(bytes, 0, 'canonical');
    expect(line).toBe(EJSON.stringify(doc, { relaxed: false }));
    const back = serialize(EJSON.parse(line, { relaxed: false }) as Document);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
  });

  test('where today departs from the spec, the line follows the spec', () => {
    const bytes = encodeDocument([
      ['u', { type: 'undefined' }],
      ['p', { type: 'dbPointer', ns: 'db.coll', hex: OID.toHexString() }],
      ['big', { type: 'date', ms: 2n ** 62n }],
    ]);
    const old = deserialize(bytes, EXACT);
    expect(relaxedJson(old)).toBe(
      '{"u":null,"p":{"$ref":"coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"$db":"db"},' +
        '"big":{"$date":{"$numberLong":"0"}}}',
    );
    expect(EJSON.stringify(old, { relaxed: false })).toBe(
      '{"u":null,"p":{"$ref":"coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"},"$db":"db"},' +
        '"big":{"$date":{"$numberLong":"NaN"}}}',
    );
    const spec =
      '{"u":{"$undefined":true},"p":{"$dbPointer":{"$ref":"db.coll","$id":{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}}},' +
      '"big":{"$date":{"$numberLong":"4611686018427387904"}}}';
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe(spec);
    expect(transcodeDocument(bytes, 0, 'canonical')).toBe(spec);
  });
});

describe('where the document is', () => {
  test('at an offset inside a larger buffer (a getMore batch), read from there only', () => {
    const a = serialize({ a: 1 });
    const b = serialize({ b: 'two' });
    const batch = Buffer.concat([a, b, Buffer.from([0xff, 0xff])]);
    expect(transcodeDocument(batch, 0, 'relaxed')).toBe('{"a":1}');
    expect(transcodeDocument(batch, a.length, 'relaxed')).toBe('{"b":"two"}');
  });

  test('in a plain Uint8Array view that starts inside its ArrayBuffer', () => {
    const doc = serialize({ s: 'é' });
    const backing = new Uint8Array(doc.length + 10);
    backing.set(doc, 7);
    const view = new Uint8Array(backing.buffer, 3, doc.length + 4);
    expect(transcodeDocument(view, 4, 'relaxed')).toBe('{"s":"é"}');
  });

  test('lines longer than the scratch buffer, then short ones again', () => {
    const big = 'x'.repeat(3_000_000);
    expect(transcodeDocument(serialize({ big }), 0, 'relaxed')).toBe(`{"big":"${big}"}`);
    // Every byte an escape: the line is six times the string.
    const escapes = '\u0001"é'.repeat(300_000);
    expect(transcodeDocument(serialize({ escapes }), 0, 'relaxed')).toBe(
      `{"escapes":${JSON.stringify(escapes)}}`,
    );
    expect(transcodeDocument(serialize({ a: 'é' }), 0, 'relaxed')).toBe('{"a":"é"}');
  });

  test('a failed document leaves nothing behind for the next one', () => {
    const bad = Buffer.from(encodeDocument([['a', { type: 'string', value: 'é' }]]));
    bad[bad.length - 3] = 0xff; // break the é
    expect(() => transcodeDocument(bad, 0, 'relaxed')).toThrow(TranscodeError);
    expect(transcodeDocument(serialize({ b: 1 }), 0, 'relaxed')).toBe('{"b":1}');
  });
});

describe('deep nesting', () => {
  function expected(depth: number, mixed: boolean): string {
    let open = '';
    let close = '';
    for (let level = 0; level <= depth; level++) {
      const isArray = mixed && level % 2 === 1;
      if (level === depth) {
        open += isArray ? '[]' : '{}';
      } else {
        open += isArray ? '[' : '{"a":';
        close = (isArray ? ']' : '}') + close;
      }
    }
    return open + close;
  }

  test.each([
    [5_000, false],
    [5_000, true],
    [100_000, true],
  ])('%i levels (arrays too: %s) without a stack overflow', (depth, mixed) => {
    const bytes = nestedDocument(depth, mixed);
    expect(transcodeDocument(bytes, 0, 'relaxed')).toBe(expected(depth, mixed));
    expect(transcodeDocument(bytes, 0, 'canonical')).toBe(expected(depth, mixed));
  });
});

describe('malformed bytes throw a TranscodeError that says what and where', () => {
  /** The message of the TranscodeError that transcoding `bytes` throws. */
  function failure(bytes: Uint8Array, start = 0): string {
    try {
      transcodeDocument(bytes, start, 'relaxed');
    } catch (error) {
      expect(error).toBeInstanceOf(TranscodeError);
      expect((error as Error).name).toBe('TranscodeError');
      return (error as Error).message;
    }
    throw new Error('no error');
  }

  /** {"s": "abc"}: 4 length, 0x02 at 4, "s\0" at 5, string length at 7, bytes at 11, NUL at 14. */
  const withString = (): Buffer =>
    Buffer.from(encodeDocument([['s', { type: 'string', value: 'abc' }]]));

  test('truncated input', () => {
    expect(failure(Buffer.from([5, 0, 0]))).toBe(
      'truncated document at byte 0: 3 bytes, a document needs at least 5',
    );
    const doc = withString();
    expect(failure(doc.subarray(0, doc.length - 1))).toBe(
      'truncated document at byte 0: its length is 16 but only 15 bytes are left',
    );
  });

  test('a length prefix that runs past the buffer, or is too small, or a missing final NUL', () => {
    const doc = withString();
    doc.writeInt32LE(1000, 0);
    expect(failure(doc)).toBe(
      'truncated document at byte 0: its length is 1000 but only 16 bytes are left',
    );
    doc.writeInt32LE(-1, 0);
    expect(failure(doc)).toBe('document at byte 0 has length -1, below 5');
    const noNul = withString();
    noNul[15] = 1;
    expect(failure(noNul)).toBe('document at byte 0 ends with 0x01 instead of 0x00');
  });

  test('a start outside the input', () => {
    expect(failure(withString(), 17)).toBe('document start 17 is outside the input (16 bytes)');
    expect(failure(withString(), -1)).toBe('document start -1 is outside the input (16 bytes)');
  });

  test('a nested document whose length runs past its parent', () => {
    const doc = Buffer.from(
      encodeDocument([['d', { type: 'document', fields: [['x', { type: 'null' }]] }]]),
    );
    doc.writeInt32LE(9, 7); // the inner document's length: one byte too many
    expect(failure(doc)).toBe(
      'document at byte 7 has length 9, past the end of its container (8 bytes left)',
    );
  });

  test('an unknown element type byte', () => {
    const doc = withString();
    doc[4] = 0x14;
    expect(failure(doc)).toBe('unknown BSON type 0x14 at byte 4');
  });

  test('a 0x00 type byte before the end of the document', () => {
    const doc = Buffer.from(
      encodeDocument([
        ['a', { type: 'null' }],
        ['b', { type: 'null' }],
      ]),
    );
    doc[7] = 0;
    expect(failure(doc)).toBe("0x00 type byte at byte 7, before the document's end at byte 10");
  });

  test('a key without its NUL inside the document', () => {
    const doc = Buffer.from(encodeDocument([['a', { type: 'null' }]]));
    doc[6] = 0x62; // the key's NUL
    expect(failure(doc)).toBe('element name at byte 5 runs past the end of its document');
  });

  test('a string whose length field is wrong or lacks its NUL', () => {
    const long = withString();
    long.writeInt32LE(5, 7);
    expect(failure(long)).toBe('string at byte 7 has a wrong length 5');
    const zero = withString();
    zero.writeInt32LE(0, 7);
    expect(failure(zero)).toBe('string at byte 7 has a wrong length 0');
    const short = withString();
    short.writeInt32LE(3, 7);
    expect(failure(short)).toBe('string at byte 7 lacks its terminating NUL');
  });

  test('invalid UTF-8 in a key and in a value', () => {
    const key = withString();
    key[5] = 0xc3; // a lead byte with no continuation
    expect(failure(key)).toBe('invalid UTF-8 in key at byte 5');
    const value = withString();
    value[12] = 0xff;
    expect(failure(value)).toBe('invalid UTF-8 in string at byte 11');
    // An encoded surrogate (ED A0 80) is not UTF-8 either.
    const surrogate = withString();
    surrogate.set([0xed, 0xa0, 0x80], 11);
    expect(failure(surrogate)).toBe('invalid UTF-8 in string at byte 11');
  });

  test('values cut short by the end of their document', () => {
    const doc = Buffer.from(encodeDocument([['i', { type: 'int32', value: 1 }]]));
    doc[4] = 0x12; // now an int64: 8 bytes where only 4 are
    expect(failure(doc)).toBe('int64 at byte 7 runs past the end of its document');
  });

  test('a boolean that is neither 0 nor 1', () => {
    const doc = Buffer.from(encodeDocument([['b', { type: 'bool', value: true }]]));
    doc[7] = 2;
    expect(failure(doc)).toBe('boolean at byte 7 is 0x02, not 0x00 or 0x01');
  });

  test('binary lengths that do not add up', () => {
    const doc = Buffer.from(
      encodeDocument([['b', { type: 'binary', subType: 2, data: Buffer.from('hi') }]]),
    );
    doc.writeInt32LE(3, 12); // the old subtype's inner length
    expect(failure(doc)).toBe('binary subtype 0x02 at byte 7 has a wrong inner length');
    doc.writeInt32LE(-1, 7);
    expect(failure(doc)).toBe('binary at byte 7 has a wrong length -1');
  });

  test('a code with scope whose total length disagrees with its parts', () => {
    const doc = Buffer.from(
      encodeDocument([['c', { type: 'codeWithScope', code: 'f', scope: [] }]]),
    );
    doc.writeInt32LE(doc.readInt32LE(7) + 1, 7);
    expect(failure(doc)).toMatch(/^code with scope at byte 7 has a wrong length \d+$/);
  });
});
