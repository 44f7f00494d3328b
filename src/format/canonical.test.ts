import { Binary, Decimal128, Double, EJSON, Int32, Long, serialize, Timestamp } from 'bson';
import { canonicalJson } from './canonical.js';
import { asDelivered, event, everyType, OID } from './samples.test-util.js';

const hex = (doc: object): string => Buffer.from(serialize(doc)).toString('hex');

describe('canonicalJson', () => {
  test('one line that parses back to the same BSON bytes, every type included', () => {
    const doc = event('insert', { fullDocument: everyType(), documentKey: { _id: OID } });
    const line = canonicalJson(doc);
    expect(line.split('\n')).toHaveLength(1);
    expect(hex(EJSON.parse(line, { relaxed: false }))).toBe(hex(doc));
  });

  test.each([
    ['Int32', new Int32(1), '{"$numberInt":"1"}'],
    ['Double 1.0', new Double(1), '{"$numberDouble":"1.0"}'],
    ['Double -0.0', new Double(-0), '{"$numberDouble":"-0.0"}'],
    ['Long', Long.fromString('9223372036854775807'), '{"$numberLong":"9223372036854775807"}'],
    ['Decimal128', Decimal128.fromString('-0.00'), '{"$numberDecimal":"-0.00"}'],
    ['Date', new Date('2024-01-12T21:44:35.123Z'), '{"$date":{"$numberLong":"1705095875123"}}'],
    [
      'Timestamp',
      new Timestamp({ t: 4294967295, i: 4294967295 }),
      '{"$timestamp":{"t":4294967295,"i":4294967295}}',
    ],
    ['ObjectId', OID, '{"$oid":"65a1b2c3d4e5f6a7b8c9d0e1"}'],
    ['Binary', new Binary(Buffer.from([0xff]), 5), '{"$binary":{"base64":"/w==","subType":"05"}}'],
  ])('%s keeps its type: %s', (_name, value, expected) => {
    const doc = asDelivered({ v: value });
    const line = canonicalJson(doc);
    expect(line).toBe(`{"v":${expected}}`);
    expect(hex(EJSON.parse(line, { relaxed: false }))).toBe(hex(doc));
  });

  test('field order is the server order', () => {
    const line = canonicalJson(event('delete', { documentKey: { _id: new Int32(1) } }));
    expect(Object.keys(JSON.parse(line))).toEqual([
      '_id',
      'operationType',
      'clusterTime',
      'wallTime',
      'ns',
      'documentKey',
    ]);
  });
});
