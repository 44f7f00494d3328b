/* eslint-disable no-control-regex -- these tests look for raw control characters and ANSI escapes */
import './color.js';
import { Binary, Code, DBRef, Double, Int32 } from 'bson';
import { escapeControl, formatKey, inspectDocument, inspectValue, quote } from './inspect.js';
import { everyType, OID } from './samples.test-util.js';
import { palette } from './style.js';

describe('inspectValue renders every BSON type like mongosh', () => {
  const doc = everyType();
  test.each([
    ['_id', "ObjectId('65a1b2c3d4e5f6a7b8c9d0e1')"],
    ['str', "'text'"],
    ['int32', '7'],
    ['intNeg', '-2147483648'],
    ['double', '1.5'],
    ['doubleWhole', '2'],
    ['doubleNegZero', '-0'],
    ['doubleBig', '100000000000000000000'],
    ['doubleTiny', '5e-324'],
    ['doubleInf', 'Infinity'],
    ['doubleNaN', 'NaN'],
    ['long', "Long('9007199254740993')"],
    ['longMin', "Long('-9223372036854775808')"],
    ['decimal', "Decimal128('1.50')"],
    ['decimalBig', "Decimal128('1.234567890123456789012345678901234E+6000')"],
    ['bool', 'true'],
    ['date', "ISODate('2024-01-12T21:44:35.123Z')"],
    ['dateOld', "ISODate('1900-01-01T00:00:00.000Z')"],
    ['null', 'null'],
    ['regex', '/^a\\/b/im'],
    ['binary', "Binary.createFromBase64('AQID', 0)"],
    ['binaryUser', "Binary.createFromBase64('eHl6', 128)"],
    ['uuid', "UUID('01234567-89ab-cdef-0123-456789abcdef')"],
    ['code', "Code('function () { return 1; }')"],
    ['codeScope', "Code('x + y', { x: 1 })"],
    ['timestamp', 'Timestamp({ t: 1705095875, i: 3 })'],
    ['minKey', 'MinKey()'],
    ['maxKey', 'MaxKey()'],
    ['symbol', "BSONSymbol('sym')"],
    ['dbref', "DBRef('coll', ObjectId('65a1b2c3d4e5f6a7b8c9d0e1'), 'db')"],
    ['array', "[ 1, 'two', [ 3.25 ] ]"],
    ['nested', "{ a: { b: Long('5') }, 'dotted.key': 1, 'has space': [] }"],
    ['empty', '{}'],
  ])('%s → %s', (field, expected) => {
    expect(inspectValue(doc[field])).toBe(expected);
  });

  test('plain JS values (promoted by someone else) render too', () => {
    expect(inspectValue(3)).toBe('3');
    expect(inspectValue(-0)).toBe('-0');
    expect(inspectValue(10n)).toBe("Long('10')");
    expect(inspectValue(undefined)).toBe('undefined');
    expect(inspectValue(/x\/y/g)).toBe('/x\\/y/g');
    expect(inspectValue(Buffer.from([255]))).toBe("Binary.createFromBase64('/w==', 0)");
    expect(inspectValue(new Date(NaN))).toBe('Invalid Date');
    expect(inspectValue([])).toBe('[]');
  });

  test('a UUID-sized binary of another subtype is not called a UUID', () => {
    expect(inspectValue(new Binary(Buffer.alloc(16), 3))).toBe(
      "Binary.createFromBase64('AAAAAAAAAAAAAAAAAAAAAA==', 3)",
    );
  });

  test('DBRef without a database, and Int32/Double objects built directly', () => {
    expect(inspectValue(new DBRef('c', OID))).toBe(
      "DBRef('c', ObjectId('65a1b2c3d4e5f6a7b8c9d0e1'))",
    );
    expect(inspectValue(new Int32(-5))).toBe('-5');
    expect(inspectValue(new Double(0.1))).toBe('0.1');
    expect(inspectValue(new Code("it's"))).toBe('Code("it\'s")');
  });
});

describe('quote', () => {
  test.each([
    ['plain', "'plain'"],
    ["it's", '"it\'s"'],
    ['it\'s "x"', '`it\'s "x"`'],
    ['it\'s "x" `y`', "'it\\'s \"x\" `y`'"],
    ['${a} \'b\' "c"', "'${a} \\'b\\' \"c\"'"],
    ['a\nb\tc\\d', "'a\\nb\\tc\\\\d'"],
    ['esc\x1b[31mred', "'esc\\x1b[31mred'"],
    ['nul\x00del\x7fc1\x85', "'nul\\x00del\\x7fc1\\x85'"],
    ['ls\u2028ps\u2029', "'ls\\u2028ps\\u2029'"],
    ['lone \ud800 surrogate', "'lone \\ud800 surrogate'"],
    ['pair 😀 ok', "'pair 😀 ok'"],
    ['', "''"],
  ])('%j → %s', (input, expected) => {
    expect(quote(input)).toBe(expected);
  });

  test('the result never contains a raw control character', () => {
    let all = '';
    for (let c = 0; c < 0x100; c++) all += String.fromCharCode(c);
    expect(quote(all)).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });
});

describe('formatKey', () => {
  test.each([
    ['name', 'name'],
    ['_id', '_id'],
    ['$set', '$set'],
    ['a1', 'a1'],
    ['1a', "'1a'"],
    ['b.c', "'b.c'"],
    ['has space', "'has space'"],
    ['', "''"],
    ['ünï', "'ünï'"],
  ])('%j → %s', (key, expected) => {
    expect(formatKey(key)).toBe(expected);
  });
});

test('escapeControl keeps text on one line without quoting it', () => {
  expect(escapeControl('shop.or\nders\x1b')).toBe('shop.or\\nders\\x1b');
  expect(escapeControl('plain.ns')).toBe('plain.ns');
});

test('inspectDocument leaves out the named keys', () => {
  expect(inspectDocument({ _id: 1, a: 'x', b: null }, undefined, ['_id'])).toBe(
    "{ a: 'x', b: null }",
  );
  expect(inspectDocument({ _id: 1 }, undefined, ['_id'])).toBe('{}');
});

test('colours come only from the palette', () => {
  const doc = everyType();
  const plain = inspectValue(doc);
  expect(plain).not.toContain('\x1b[');
  const coloured = inspectValue(doc, palette(true));
  expect(coloured).toContain('\x1b[32m'); // strings green
  expect(coloured).toContain('\x1b[33m'); // numbers yellow
  expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(plain);
});

describe('inspectValue with limits (a line that must fit a terminal)', () => {
  const limits = { maxString: 60, maxItems: 10 };

  test('a string over the limit shows its start and its length in characters', () => {
    expect(inspectValue('a'.repeat(60), undefined, 0, limits)).toBe(`'${'a'.repeat(60)}'`);
    expect(inspectValue('a'.repeat(61), undefined, 0, limits)).toBe(
      `'${'a'.repeat(40)}'…(61 chars)`,
    );
    // Counted and cut in code points: 61 emoji are 122 UTF-16 units.
    expect(inspectValue('😀'.repeat(61), undefined, 0, limits)).toBe(
      `'${'😀'.repeat(40)}'…(61 chars)`,
    );
    expect(inspectValue('😀'.repeat(60), undefined, 0, limits)).toBe(`'${'😀'.repeat(60)}'`);
  });

  test('an array over the limit shows its first items and how many more', () => {
    const items = Array.from({ length: 12 }, (_, i) => i);
    expect(inspectValue(items, undefined, 0, limits)).toBe(
      '[ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … 2 more ]',
    );
    expect(inspectValue(items.slice(0, 10), undefined, 0, limits)).toBe(
      '[ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ]',
    );
  });

  test('limits reach nested values, binaries and code', () => {
    const long = 'x'.repeat(100);
    expect(inspectValue({ a: [{ s: long }] }, undefined, 0, limits)).toBe(
      `{ a: [ { s: '${'x'.repeat(40)}'…(100 chars) } ] }`,
    );
    expect(inspectValue(new Binary(Buffer.alloc(300), 0), undefined, 0, limits)).toBe(
      `Binary.createFromBase64('${'A'.repeat(40)}'…(300 bytes), 0)`,
    );
    expect(inspectValue(new Code(long), undefined, 0, limits)).toBe(
      `Code('${'x'.repeat(40)}'…(100 chars))`,
    );
  });

  test('without limits everything prints whole', () => {
    expect(inspectValue('a'.repeat(3000))).toBe(`'${'a'.repeat(3000)}'`);
    expect(inspectValue(new Binary(Buffer.alloc(300), 0))).toContain('A'.repeat(400));
  });
});
