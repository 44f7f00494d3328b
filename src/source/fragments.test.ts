import { Int32, deserialize, serialize } from 'bson';
import { TailError } from '../errors.js';
import { Reassembler } from './fragments.js';

function fragment(n: number, of: number, fields: Record<string, unknown>): Buffer {
  return Buffer.from(
    serialize({
      _id: { _data: `82AA${n}` },
      splitEvent: { fragment: new Int32(n), of: new Int32(of) },
      ...fields,
    }),
  );
}

test('three fragments become one event: every field once, the last fragment _id', () => {
  const r = new Reassembler();
  expect(r.pending).toBe(false);
  expect(
    r.add(fragment(1, 3, { operationType: 'update', ns: { db: 'a' } }), 0, { fragment: 1, of: 3 }),
  ).toBeUndefined();
  expect(r.pending).toBe(true);
  expect(
    r.add(fragment(2, 3, { fullDocument: { x: 1 } }), 0, { fragment: 2, of: 3 }),
  ).toBeUndefined();
  const whole = r.add(fragment(3, 3, { fullDocumentBeforeChange: { x: 0 } }), 0, {
    fragment: 3,
    of: 3,
  });
  expect(r.pending).toBe(false);
  expect(whole).toBeDefined();
  const doc = deserialize(whole ?? Buffer.alloc(0));
  expect(Object.keys(doc)).toEqual([
    '_id',
    'operationType',
    'ns',
    'fullDocument',
    'fullDocumentBeforeChange',
  ]);
  expect(doc._id).toEqual({ _data: '82AA3' });
  expect(doc.fullDocument).toEqual({ x: 1 });
});

test('a fragment at an offset inside a larger buffer', () => {
  const r = new Reassembler();
  const bytes = Buffer.concat([Buffer.from([9, 9, 9]), fragment(1, 1, { a: 1 })]);
  const whole = r.add(bytes, 3, { fragment: 1, of: 1 });
  expect(deserialize(whole ?? Buffer.alloc(0))).toEqual({ _id: { _data: '82AA1' }, a: 1 });
});

test('fragments out of order are an error, not a wrong event', () => {
  const r = new Reassembler();
  expect(() => r.add(fragment(2, 3, { a: 1 }), 0, { fragment: 2, of: 3 })).toThrow(TailError);
  const s = new Reassembler();
  s.add(fragment(1, 3, { a: 1 }), 0, { fragment: 1, of: 3 });
  expect(() => s.add(fragment(2, 4, { b: 1 }), 0, { fragment: 2, of: 4 })).toThrow(
    /fragment 2 of 4 of a split event came after fragment 1 of 3/,
  );
});
