import { EJSON, Int32 } from 'bson';
import { createFormatter, FORMATS } from './index.js';
import type { Format } from './index.js';
import { event, OID, WALL } from './samples.test-util.js';

const ev = event('insert', {
  fullDocument: { _id: OID, n: new Int32(1) },
  documentKey: { _id: OID },
});

describe('createFormatter', () => {
  test('json is relaxed Extended JSON', () => {
    const line = createFormatter({ format: 'json', color: false })(ev);
    expect(JSON.parse(line).fullDocument).toEqual({ _id: { $oid: OID.toHexString() }, n: 1 });
  });

  test('canonical is canonical Extended JSON', () => {
    const line = createFormatter({ format: 'canonical', color: false })(ev);
    expect(JSON.parse(line).fullDocument.n).toEqual({ $numberInt: '1' });
    expect(EJSON.parse(line, { relaxed: false }).fullDocument.n).toBeInstanceOf(Int32);
  });

  test('pretty honours the time zone', () => {
    const line = createFormatter({
      format: 'pretty',
      color: false,
      timeZone: 'UTC',
      now: () => WALL,
    })(ev);
    expect(line).toBe(
      `21:44:35.123 insert        shop.orders ObjectId('${OID.toHexString()}') { n: 1 }`,
    );
  });

  test.each(FORMATS)('%s: exactly one line, no trailing newline', (format) => {
    const line = createFormatter({ format, color: format === 'pretty' })(ev);
    expect(line).not.toContain('\n');
    expect(line.length).toBeGreaterThan(0);
  });

  test.each(['json', 'canonical'] as const)(
    '%s is never coloured, even when colour is on',
    (format) => {
      expect(createFormatter({ format, color: true })(ev)).not.toContain('\x1b');
    },
  );

  test('an unknown format is refused', () => {
    expect(() => createFormatter({ format: 'xml' as Format, color: false })).toThrow(
      "unknown format 'xml'",
    );
  });
});
