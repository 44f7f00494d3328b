// Test helper (not a test): BSON documents described as plain data, encoded to bytes by hand (so
// the field order is exactly the one written, deprecated types can be made, and nothing passes
// through a JS object), and fast-check arbitraries that generate them.
import { Decimal128 } from 'bson';
import fc from 'fast-check';

/** One BSON value, with the type it has in the bytes. */
export type Value =
  | { type: 'double'; value: number }
  | { type: 'string'; value: string }
  | { type: 'document'; fields: Field[] }
  | { type: 'array'; items: Value[] }
  | { type: 'binary'; subType: number; data: Uint8Array }
  | { type: 'undefined' }
  | { type: 'objectId'; hex: string }
  | { type: 'bool'; value: boolean }
  | { type: 'date'; ms: bigint }
  | { type: 'null' }
  | { type: 'regex'; pattern: string; options: string }
  | { type: 'dbPointer'; ns: string; hex: string }
  | { type: 'code'; code: string }
  | { type: 'symbol'; value: string }
  | { type: 'codeWithScope'; code: string; scope: Field[] }
  | { type: 'int32'; value: number }
  | { type: 'timestamp'; t: number; i: number }
  | { type: 'int64'; value: bigint }
  | { type: 'decimal'; bytes: Uint8Array }
  | { type: 'minKey' }
  | { type: 'maxKey' };

/** A document field: key and value, in BSON order. */
export type Field = [key: string, value: Value];

const TYPE_BYTE: Record<Value['type'], number> = {
  double: 0x01,
  string: 0x02,
  document: 0x03,
  array: 0x04,
  binary: 0x05,
  undefined: 0x06,
  objectId: 0x07,
  bool: 0x08,
  date: 0x09,
  null: 0x0a,
  regex: 0x0b,
  dbPointer: 0x0c,
  code: 0x0d,
  symbol: 0x0e,
  codeWithScope: 0x0f,
  int32: 0x10,
  timestamp: 0x11,
  int64: 0x12,
  decimal: 0x13,
  minKey: 0xff,
  maxKey: 0x7f,
};

const NUL = Buffer.from([0]);

function int32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), NUL]);
}

function bsonString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([int32le(bytes.length + 1), bytes, NUL]);
}

function encodeValue(v: Value): Buffer {
  switch (v.type) {
    case 'double': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v.value);
      return b;
    }
    case 'string':
    case 'symbol':
      return bsonString(v.value);
    case 'code':
      return bsonString(v.code);
    case 'document':
      return encodeDocument(v.fields);
    case 'array':
      return encodeDocument(v.items.map((item, i) => [String(i), item]));
    case 'binary': {
      // The old binary subtype 0x02 carries the payload length a second time, inside.
      const payload =
        v.subType === 2 ? Buffer.concat([int32le(v.data.length), v.data]) : Buffer.from(v.data);
      return Buffer.concat([int32le(payload.length), Buffer.from([v.subType]), payload]);
    }
    case 'undefined':
    case 'null':
    case 'minKey':
    case 'maxKey':
      return Buffer.alloc(0);
    case 'objectId':
      return Buffer.from(v.hex, 'hex');
    case 'bool':
      return Buffer.from([v.value ? 1 : 0]);
    case 'date':
    case 'int64': {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(v.type === 'date' ? v.ms : v.value);
      return b;
    }
    case 'regex':
      return Buffer.concat([cstring(v.pattern), cstring(v.options)]);
    case 'dbPointer':
      return Buffer.concat([bsonString(v.ns), Buffer.from(v.hex, 'hex')]);
    case 'codeWithScope': {
      const body = Buffer.concat([bsonString(v.code), encodeDocument(v.scope)]);
      return Buffer.concat([int32le(body.length + 4), body]);
    }
    case 'int32':
      return int32le(v.value);
    case 'timestamp': {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(v.i, 0);
      b.writeUInt32LE(v.t, 4);
      return b;
    }
    case 'decimal':
      return Buffer.from(v.bytes);
  }
}

/** The BSON bytes of a document with these fields, in this order. */
export function encodeDocument(fields: Field[]): Buffer {
  const body = Buffer.concat(
    fields.map(([key, value]) =>
      Buffer.concat([Buffer.from([TYPE_BYTE[value.type]]), cstring(key), encodeValue(value)]),
    ),
  );
  return Buffer.concat([int32le(body.length + 5), body, NUL]);
}

/** A document nested `depth` levels deep under key "a" (arrays at odd levels when `mixed`). */
export function nestedDocument(depth: number, mixed = false): Buffer {
  // Built in one pass (each level is 7 bytes in front and its NUL behind) rather than by
  // re-encoding ever larger documents.
  const total = 8 * depth + 5;
  const bytes = Buffer.alloc(total);
  for (let level = 0; level < depth; level++) {
    const at = 7 * level;
    bytes.writeInt32LE(total - 8 * level, at);
    // In an array (odd level's parent), the key of the only element is "0".
    const inArray = mixed && level % 2 === 1;
    bytes[at + 4] = mixed && level % 2 === 0 ? 0x04 : 0x03;
    bytes[at + 5] = inArray ? 0x30 : 0x61;
  }
  bytes.writeInt32LE(5, 7 * depth);
  return bytes;
}

/** Keys that are JS array indices: a JS object lists them first, in numeric order. */
export function isIntegerKey(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}

// ---- arbitraries -------------------------------------------------------------------------

const HUGE = [
  'x'.repeat(100_000),
  'aé"\\\n😀\u0000\u2028'.repeat(10_000), // 100 KB and more of UTF-8 with escapes
];

const SPECIAL_TEXT = [
  '',
  '"',
  '\\',
  '\n\r\t\b\f\v',
  '\u0000\u0001\u001f',
  '\u007f\u0080\u009f\u00a0',
  '\u2028\u2029',
  '😀𝄞',
  'é',
  '</script>',
  '\ufeff\ufffd\uffff',
];

/** Strings of every kind: ASCII, all of Unicode (astral too), escapes, empty, and huge (rarely). */
export const text: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 12 }), weight: 6 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 6 },
  { arbitrary: fc.constantFrom(...SPECIAL_TEXT), weight: 3 },
  {
    arbitrary: fc.string({ unit: fc.constantFrom(...SPECIAL_TEXT.join('')), maxLength: 10 }),
    weight: 3,
  },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 24, maxLength: 300 }), weight: 1 },
  { arbitrary: fc.constantFrom(...HUGE), weight: 1 },
);

/** A C string (key, regex part): no NUL. */
const cstringText = text.map((s) => s.replaceAll('\u0000', '')).filter((s) => s.length < 1000);

const SPECIAL_KEYS = ['0', '1', '2', '10', '007', '-1', '1.5', '_id', 'a', 'b', 'a.b', '', ' '];

/** Keys: integer-like ones ("0", "2", "10"), `$`-prefixed ones, and any other text. */
export const key: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SPECIAL_KEYS),
  fc.constantFrom('$foo', '$set', '$ref', '$id', '$db'),
  fc.integer({ min: 0, max: 2 ** 32 }).map(String),
  cstringText.filter((k) => k !== '__proto__'),
);

/** Keys that survive a trip through a JS object in their place: no integer-like or `$` keys. */
export const plainKey: fc.Arbitrary<string> = cstringText.filter(
  (k) => !isIntegerKey(k) && !k.startsWith('$') && k !== '__proto__',
);

const hex12 = fc
  .uint8Array({ minLength: 12, maxLength: 12 })
  .map((b) => Buffer.from(b).toString('hex'));

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const double = fc.oneof(
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    1e21,
    1e20,
    -1e21,
    5e-324,
    -5e-324,
    2 ** 53 - 1,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53) - 2,
    0.1,
    1 / 3,
    2 ** 60,
    123456789012345680000,
    1.7976931348623157e308,
    1e-7,
    2.5,
  ),
);

const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n }),
  fc.constantFrom(0n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, INT64_MIN, INT64_MAX, 2n ** 31n),
);

const dateMs = fc.oneof(
  fc.bigInt({ min: 0n, max: 253402300800000n + 1000n }), // the relaxed ISO window and just past
  fc.bigInt({ min: -8640000000000000n, max: 8640000000000000n }), // what a JS Date holds
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(0n, -1n, 1000n, 253402300799999n, 253402300800000n, -62135596800000n),
);

const DECIMALS = [
  '0',
  '-0',
  '1.50',
  '27.35',
  'NaN',
  'Infinity',
  '-Infinity',
  '1E+6144',
  '1.234567890123456789012345678901234E+6000',
  '9.999999999999999999999999999999999E+6144',
  '1E-6176',
  '-0E-6176',
  '0E+6111',
  '0.000001',
  '0.0000001',
  '123456789012345678901234567890123.4',
  '1E+33',
  '1E+34',
];

/** Decimal128 bytes: common values, canonical encodings of any value, and raw bit patterns. */
export const decimalBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(...DECIMALS).map((s) => Decimal128.fromString(s).bytes),
  fc
    .tuple(fc.integer({ min: 0, max: 99999 }), fc.integer({ min: -10, max: 4 }), fc.boolean())
    .map(([c, e, neg]) => Decimal128.fromString(`${neg ? '-' : ''}${c}E${e}`).bytes),
  fc
    .tuple(
      fc.bigInt({ min: 0n, max: 10n ** 34n - 1n }),
      fc.integer({ min: -6176, max: 6111 }),
      fc.boolean(),
    )
    .map(([c, e, neg]) => Decimal128.fromString(`${neg ? '-' : ''}${c}E${e}`).bytes),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
);

const BINARY_SUBTYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0xff];

const uuid = fc.record({
  subType: fc.constant(4),
  data: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

/** Any subtype with any payload, or (`faithful`) UUIDs only 16 bytes long (bson's EJSON.parse
 * rejects others). */
const binary = (faithful: boolean): fc.Arbitrary<{ subType: number; data: Uint8Array }> =>
  fc.oneof(
    fc.record({
      subType: fc.constantFrom(...BINARY_SUBTYPES.filter((t) => !faithful || t !== 4)),
      data: fc.uint8Array({ maxLength: 40 }),
    }),
    uuid,
  );

/** Regex options bson accepts; `sorted` as BSON requires, or in any order (bson sorts them). */
const regexOptions = (sorted: boolean): fc.Arbitrary<string> =>
  sorted
    ? fc.subarray(['i', 'l', 'm', 's', 'u', 'x']).map((o) => o.join(''))
    : fc.shuffledSubarray(['i', 'l', 'm', 's', 'u', 'x']).map((o) => o.join(''));

/** What the generated documents may hold. */
export interface DocumentOptions {
  /** Integer-like and `$` keys, DBRef-shaped documents, deprecated types, non-canonical bytes. */
  everything: boolean;
  /** Nesting depth. */
  maxDepth: number;
}

/** Random documents with every BSON type, nested, as field lists. */
export function documents(options: DocumentOptions): fc.Arbitrary<Field[]> {
  const { everything, maxDepth } = options;
  const anyKey = everything ? key : plainKey;
  const scalars: fc.Arbitrary<Value>[] = [
    double.map((value) => ({ type: 'double', value })),
    text.map((value) => ({ type: 'string', value })),
    binary(!everything).map(({ subType, data }) => ({ type: 'binary', subType, data })),
    hex12.map((hex) => ({ type: 'objectId', hex })),
    fc.boolean().map((value) => ({ type: 'bool', value })),
    (everything
      ? dateMs
      : dateMs.filter((ms) => ms >= -8640000000000000n && ms <= 8640000000000000n)
    ).map((ms) => ({ type: 'date', ms })),
    fc.constant({ type: 'null' }),
    fc
      .record({ pattern: cstringText, options: regexOptions(!everything) })
      .map(({ pattern, options }) => ({ type: 'regex', pattern, options })),
    text.map((code) => ({ type: 'code', code })),
    text.map((value) => ({ type: 'symbol', value })),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ type: 'int32', value })),
    fc
      .record({
        t: fc.oneof(fc.nat({ max: 2 ** 32 - 1 }), fc.constant(2 ** 32 - 1)),
        i: fc.oneof(fc.nat({ max: 2 ** 32 - 1 }), fc.constant(2 ** 32 - 1)),
      })
      .map(({ t, i }) => ({ type: 'timestamp', t, i })),
    int64.map((value) => ({ type: 'int64', value })),
    (everything ? decimalBytes : decimalBytes.filter(isCanonicalDecimal)).map((bytes) => ({
      type: 'decimal',
      bytes,
    })),
    fc.constant({ type: 'minKey' }),
    fc.constant({ type: 'maxKey' }),
  ];
  if (everything) {
    scalars.push(
      fc.constant({ type: 'undefined' }),
      fc.record({ ns: text, hex: hex12 }).map(({ ns, hex }) => ({ type: 'dbPointer', ns, hex })),
    );
  }

  const { document } = fc.letrec<{ value: Value; document: Field[] }>((tie) => {
    const fieldList = fc.uniqueArray(fc.tuple(anyKey, tie('value')), {
      maxLength: 6,
      selector: ([k]) => k,
    });
    const nested: fc.Arbitrary<Value>[] = [
      tie('document').map((fields) => ({ type: 'document', fields })),
      fc.array(tie('value'), { maxLength: 5 }).map((items) => ({ type: 'array', items })),
      fc
        .tuple(text, tie('document'))
        .map(([code, scope]) => ({ type: 'codeWithScope', code, scope })),
    ];
    if (everything) {
      // DBRef-shaped: $ref, $id and maybe $db in any order, among other fields.
      nested.push(
        fc
          .tuple(text, tie('value'), fc.option(text), fieldList)
          .chain(([ref, id, db, rest]) => {
            const refFields: Field[] = [
              ['$ref', { type: 'string', value: ref }],
              ['$id', id],
            ];
            if (db !== null) refFields.push(['$db', { type: 'string', value: db }]);
            const others = rest.filter(([k]) => !['$ref', '$id', '$db'].includes(k));
            return fc.shuffledSubarray([...refFields, ...others], {
              minLength: refFields.length + others.length,
            });
          })
          .map((fields) => ({ type: 'document', fields })),
      );
    }
    return {
      value: fc.oneof(
        { maxDepth, depthIdentifier: 'bson' },
        ...scalars,
        ...nested.map((arbitrary) => ({ arbitrary, weight: 3 })),
      ),
      document: fieldList,
    };
  });
  return document;
}

/** Whether bson reads these Decimal128 bytes back from its own text unchanged. */
export function isCanonicalDecimal(bytes: Uint8Array): boolean {
  const text = new Decimal128(Buffer.from(bytes)).toString();
  if (text === 'NaN') return false; // NaN payloads and signs are not kept
  try {
    return Buffer.from(Decimal128.fromString(text).bytes).equals(Buffer.from(bytes));
  } catch {
    // bson writes some non-canonical coefficients (≥ 10^34) out in full, then refuses to read them.
    return false;
  }
}
