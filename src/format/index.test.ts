import { EJSON, Int32, Long, serialize, type Document } from 'bson';
import { createEventFormatter, createFormatter, eventKey, FORMATS } from './index.js';
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

describe('--key: <key>\t<event> (issue 10)', () => {
  const bytesOf = (e: Document): Buffer => {
    const doc = serialize(e);
    // Not at offset 0, as in a batch.
    return Buffer.concat([Buffer.from([1, 2, 3]), doc]);
  };
  const line = (format: 'json' | 'canonical', e: Document): string =>
    createEventFormatter({ format, color: false, key: true })(bytesOf(e), 3);

  test('the key is the canonical documentKey, on one line without spaces; then a tab', () => {
    const update = event('update', {
      documentKey: { _id: new Int32(7), region: 'eu' },
      updateDescription: { updatedFields: { n: new Int32(2) }, removedFields: [] },
    });
    const text = line('json', update);
    const tab = text.indexOf('\t');
    expect(text.slice(0, tab)).toBe('{"_id":{"$numberInt":"7"},"region":"eu"}');
    expect(text.slice(tab + 1)).toBe(
      createEventFormatter({ format: 'json', color: false })(bytesOf(update), 3),
    );
    expect(JSON.parse(text.slice(tab + 1)).documentKey).toEqual({ _id: 7, region: 'eu' });
    expect(text.split('\n')).toHaveLength(1);
    // The same key whatever the format: a document keeps its Kafka partition.
    expect(line('canonical', update).split('\t')[0]).toBe(text.slice(0, tab));
  });

  test('keys keep types and escape like JSON', () => {
    const e = event('delete', { documentKey: { _id: Long.fromNumber(7) } });
    expect(line('json', e).split('\t')[0]).toBe('{"_id":{"$numberLong":"7"}}');
    const tabbed = event('delete', { documentKey: { _id: 'a\tb' } });
    const text = line('json', tabbed);
    // A tab inside a key is escaped, so the first tab is always the separator.
    expect(text.split('\t')[0]).toBe('{"_id":"a\\tb"}');
    expect(EJSON.parse(text.slice(0, text.indexOf('\t')))).toEqual({ _id: 'a\tb' });
  });

  test('no documentKey: the ns; neither: {}', () => {
    expect(line('json', event('drop')).split('\t')[0]).toBe('{"db":"shop","coll":"orders"}');
    expect(line('json', event('dropDatabase', { ns: { db: 'shop' } })).split('\t')[0]).toBe(
      '{"db":"shop"}',
    );
    const invalidate = event('invalidate', { ns: null });
    expect(eventKey(bytesOf(invalidate), 3)).toBe('{}');
  });

  test('without --key the line is the event alone', () => {
    const text = createEventFormatter({ format: 'json', color: false })(bytesOf(ev), 3);
    expect(text.startsWith('{"_id":{"_data"')).toBe(true);
  });
});
