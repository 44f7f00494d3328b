// Property tests: on random documents with every BSON type, the transcoder writes exactly what
// the old path (bson deserialize, then relaxedJson / EJSON.stringify) writes in BSON field order,
// its canonical output reads back to the same bytes, and malformed bytes only ever end in a
// TranscodeError.
import { deserialize, EJSON, serialize } from 'bson';
import type { Document } from 'bson';
import fc from 'fast-check';
import { transcodeDocument, TranscodeError } from './index.js';
import type { JsonMode } from './index.js';
import { documents, encodeDocument, isCanonicalDecimal } from './bson-samples.test-util.js';
import type { Field, Value } from './bson-samples.test-util.js';
import { referenceJson } from './reference.test-util.js';

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;
// TRANSCODE_RUNS=20000 for a longer search (the default keeps the file at a few seconds).
const RUNS = Number(process.env.TRANSCODE_RUNS ?? 600);

const anything = documents({ everything: true, maxDepth: 4 });
const faithful = documents({ everything: false, maxDepth: 4 });

describe.each<JsonMode>(['relaxed', 'canonical'])('%s', (mode) => {
  test('equals the old formatter applied value by value in BSON field order', () => {
    fc.assert(
      fc.property(anything, (fields) => {
        const bytes = encodeDocument(fields);
        const line = transcodeDocument(bytes, 0, mode);
        expect(line).toBe(referenceJson(bytes, mode));
        expect(() => JSON.parse(line) as unknown).not.toThrow();
        expect(line).not.toContain('\n');
      }),
      { numRuns: RUNS },
    );
  });

  test('reads the document where it starts in a larger buffer, and nothing outside it', () => {
    fc.assert(
      fc.property(
        faithful,
        fc.uint8Array({ maxLength: 9 }),
        fc.uint8Array({ maxLength: 9 }),
        (fields, before, after) => {
          const doc = encodeDocument(fields);
          // A plain Uint8Array view, 3 bytes into its ArrayBuffer: random bytes, the
          // document, random bytes.
          const length = before.length + doc.length + after.length;
          const view = new Uint8Array(new ArrayBuffer(3 + length), 3, length);
          view.set(before, 0);
          view.set(doc, before.length);
          view.set(after, before.length + doc.length);
          expect(transcodeDocument(view, before.length, mode)).toBe(
            transcodeDocument(doc, 0, mode),
          );
        },
      ),
      { numRuns: RUNS / 3 },
    );
  });
});

describe('canonical output reads back (EJSON.parse, relaxed: false) to the same BSON', () => {
  test('byte for byte, for documents a JS object can carry unchanged', () => {
    // No integer-like keys (a JS object lists them first), no `$` keys (EJSON.parse takes some
    // for type wrappers, DBRefs move $db last), no deprecated undefined/DBPointer (bson parses
    // them as null and a DBRef), no non-canonical Decimal128 bytes, dates a JS Date can hold.
    fc.assert(
      fc.property(faithful, (fields) => {
        const bytes = encodeDocument(fields);
        const parsed = EJSON.parse(transcodeDocument(bytes, 0, 'canonical'), {
          relaxed: false,
        }) as Document;
        expect(Buffer.from(serialize(parsed)).equals(bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test('as bson itself reads the bytes, for everything else', () => {
    // With integer-like keys, DBRef shapes and DBPointer, both sides go through a JS object (and
    // bson's mapping of DBPointer to DBRef), so they must meet there. Left out: undefined (bson
    // serializes undefined by leaving the field out, EJSON.parse reads {"$undefined":true} as
    // null), a DBPointer or DBRef-shaped document with an empty namespace or $ref (EJSON.parse
    // throws a TypeError on them: extended_json.ts reads `value.$ref ? value : value.$dbPointer`),
    // a UUID (binary subtype 4) that is not 16 bytes long (EJSON.parse rejects it),
    // non-canonical Decimal128 bytes, which bson prints as the value they stand for, and dates a
    // JS Date cannot hold (bson reads them as Invalid Date). The document is put in a field of
    // its own: bson reads a DBRef-shaped top level as a DBRef, which it then cannot serialize.
    fc.assert(
      fc.property(anything.filter(comparableFields), (fields) => {
        const bytes = encodeDocument([['d', { type: 'document', fields }]]);
        const parsed = EJSON.parse(transcodeDocument(bytes, 0, 'canonical'), {
          relaxed: false,
        }) as Document;
        const expected = serialize(deserialize(bytes, EXACT));
        expect(Buffer.from(serialize(parsed)).toString('hex')).toBe(
          Buffer.from(expected).toString('hex'),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

const MAX_JS_DATE = 8640000000000000n;

/** Whether bson can read the canonical line of `value` back as it reads the bytes themselves. */
function comparable(value: Value): boolean {
  switch (value.type) {
    case 'undefined':
      return false;
    case 'binary':
      return value.subType !== 4 || value.data.length === 16;
    case 'dbPointer':
      return value.ns !== '';
    case 'decimal':
      return isCanonicalDecimal(value.bytes);
    case 'date':
      return value.ms <= MAX_JS_DATE && value.ms >= -MAX_JS_DATE;
    case 'document':
      return comparableFields(value.fields);
    case 'array':
      return value.items.every(comparable);
    case 'codeWithScope':
      // A DBRef-shaped scope: bson's deserialize leaves it a document, EJSON.parse makes a DBRef
      // of it, and serialize then writes the DBRef object's own properties as the scope.
      return (
        comparableFields(value.scope) &&
        !(value.scope.some(([k]) => k === '$ref') && value.scope.some(([k]) => k === '$id'))
      );
    default:
      return true;
  }
}

function comparableFields(fields: Field[]): boolean {
  return fields.every(
    ([k, v]) => comparable(v) && !(k === '$ref' && v.type === 'string' && v.value === ''),
  );
}

describe('malformed bytes', () => {
  /** The line for `bytes`, or undefined for a TranscodeError (any other exception fails). */
  function attempt(bytes: Uint8Array, mode: JsonMode): string | undefined {
    let line: string;
    try {
      line = transcodeDocument(bytes, 0, mode);
    } catch (error) {
      if (error instanceof TranscodeError) return undefined;
      throw error;
    }
    expect(() => JSON.parse(line) as unknown).not.toThrow();
    return line;
  }

  /** What bson reads of `bytes` (as the reference writes it), or undefined when bson refuses. */
  function oldLine(bytes: Uint8Array, mode: JsonMode): string | undefined {
    try {
      return referenceJson(bytes, mode);
    } catch {
      return undefined;
    }
  }

  test('mutated documents: a TranscodeError, or the line bson would read from them', () => {
    // bson is laxer than the transcoder in places (regex patterns and code strings are not
    // checked for UTF-8 or their NUL, nested lengths below 5), so only one way is checked:
    // whatever the transcoder accepts, and bson accepts too, reads the same.
    fc.assert(
      fc.property(
        documents({ everything: true, maxDepth: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        fc.constantFrom<JsonMode>('relaxed', 'canonical'),
        (fields, flips, cut, mode) => {
          const bytes = Buffer.from(encodeDocument(fields));
          for (const [at, b] of flips) bytes[at % bytes.length] = b;
          const line = attempt(bytes, mode);
          const old = line === undefined ? undefined : oldLine(bytes, mode);
          if (old !== undefined) expect(line).toBe(old);
          // Also cut short, keeping (or not) the length prefix's promise.
          attempt(bytes.subarray(0, cut % (bytes.length + 1)), mode);
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });

  test('random bytes give a JSON line or a TranscodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, fixLength) => {
        const b = Buffer.from(bytes);
        // Random bytes almost never start with a fitting length; often give them one.
        if (fixLength && b.length >= 5) {
          b.writeInt32LE(b.length, 0);
          b[b.length - 1] = 0;
        }
        attempt(b, 'relaxed');
        attempt(b, 'canonical');
      }),
      { numRuns: RUNS * 5 },
    );
  });
});
