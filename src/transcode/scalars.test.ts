// The hand-written number and date formatting, checked against what it replaces on many values.
import { Decimal128 } from 'bson';
import fc from 'fast-check';
import { decimal128String } from './decimal.js';
import { transcodeDocument } from './index.js';
import { decimalBytes, encodeDocument } from './bson-samples.test-util.js';

test('Decimal128: the same text as bson for any 16 bytes', () => {
  fc.assert(
    fc.property(decimalBytes, fc.nat({ max: 7 }), (bytes, offset) => {
      const text = new Decimal128(Buffer.from(bytes)).toString();
      const buf = new Uint8Array(offset + 16);
      buf.set(bytes, offset);
      expect(decimal128String(buf, offset)).toBe(text);
      // The transcoder writes the usual ones digit by digit instead: the same text.
      const doc = encodeDocument([['d', { type: 'decimal', bytes }]]);
      expect(transcodeDocument(doc, 0, 'relaxed')).toBe(`{"d":{"$numberDecimal":"${text}"}}`);
    }),
    { numRuns: 3000 },
  );
});

/** The date field of a one-field document, relaxed. */
const relaxedDate = (ms: bigint): string =>
  transcodeDocument(encodeDocument([['d', { type: 'date', ms }]]), 0, 'relaxed');

test('dates in 1970–9999: the text of Date#toISOString, without ".000"', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 253402300799999 }), (ms) => {
      const iso = new Date(ms).toISOString().replace('.000Z', 'Z');
      expect(relaxedDate(BigInt(ms))).toBe(`{"d":{"$date":"${iso}"}}`);
    }),
    { numRuns: 3000 },
  );
});

test('dates: every day boundary and leap day of a few centuries', () => {
  const day = 86400000;
  for (let ms = 0; ms < 253402300800000; ms += day * 3671 - 1) {
    for (const at of [ms, ms + day - 1]) {
      const iso = new Date(at).toISOString().replace('.000Z', 'Z');
      expect(relaxedDate(BigInt(at))).toBe(`{"d":{"$date":"${iso}"}}`);
    }
  }
  for (const leap of ['2000-02-29', '2024-02-29', '2100-03-01', '9996-02-29', '1972-12-31']) {
    const ms = Date.parse(`${leap}T23:59:59.999Z`);
    expect(relaxedDate(BigInt(ms))).toBe(`{"d":{"$date":"${leap}T23:59:59.999Z"}}`);
  }
});
