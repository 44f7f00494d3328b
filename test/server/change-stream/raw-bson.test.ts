// A batch of ready-made BSON documents frames and encodes byte for byte like the documents
// themselves would: as a BSON array, inside a reply body, inside an OP_MSG.
import {
  type Document,
  Double,
  Int32,
  Long,
  ObjectId,
  Timestamp,
  deserialize,
  serialize,
} from 'bson';
import { RawDocumentArray, batchDocuments, holdsRawBson, serializeWithRaw } from './raw-bson.js';
import { EXACT } from '../values.js';
import { encodeOpMsg, encodeOpReply, parseMessage, type OpMsg } from '../wire.js';

function docs(n: number): Document[] {
  return Array.from({ length: n }, (_, i) => ({
    _id: { _data: `82${i.toString(16).padStart(8, '0')}` },
    operationType: 'insert',
    n: new Int32(i),
    big: i % 7 === 0 ? 'z'.repeat(i * 13) : 'ü',
  }));
}

/** What the old path wrote: the reply with its batch as plain documents. */
function reply(batch: unknown, extra: Document = {}): Document {
  return {
    cursor: {
      nextBatch: batch,
      postBatchResumeToken: { _data: '8200000001' },
      id: Long.fromString('1234567890123'),
      ns: 'db.c',
    },
    ok: new Double(1),
    skipped: undefined,
    $clusterTime: { clusterTime: new Timestamp({ t: 1, i: 2 }) },
    ...extra,
  };
}

const raw = (ds: Document[]): RawDocumentArray => new RawDocumentArray(ds.map((d) => serialize(d)));

describe('RawDocumentArray', () => {
  it.each([0, 1, 9, 10, 11, 100, 101, 1234])(
    'frames %i documents as serialize writes the array',
    (n) => {
      const ds = docs(n);
      const array = raw(ds);
      const whole = serialize({ a: ds });
      // The array's value: after the 4-byte length, type 0x04 and the key "a\0".
      const value = whole.subarray(4 + 1 + 2, whole.length - 1);
      expect(array.length).toBe(n);
      expect(array.byteLength).toBe(value.length);
      expect(array.toBytes().equals(Buffer.from(value))).toBe(true);
      expect(array.documents()).toEqual(ds.map((d) => deserialize(serialize(d), EXACT)));
    },
  );

  it('writes at an offset and reports where it ended', () => {
    const array = raw(docs(3));
    const out = Buffer.alloc(array.byteLength + 10, 0xee);
    expect(array.writeTo(out, 7)).toBe(7 + array.byteLength);
    expect(out.subarray(7, 7 + array.byteLength).equals(array.toBytes())).toBe(true);
    expect(out[6]).toBe(0xee);
    expect(out[7 + array.byteLength]).toBe(0xee);
  });

  it('decodes for tests whether a batch is raw or plain', () => {
    const ds = docs(2);
    expect(batchDocuments(raw(ds))).toEqual(ds.map((d) => deserialize(serialize(d), EXACT)));
    expect(batchDocuments(ds)).toBe(ds);
  });
});

describe('serializeWithRaw', () => {
  it('is serialize() of the same reply with the documents in place', () => {
    for (const n of [0, 1, 30]) {
      const ds = docs(n);
      expect(serializeWithRaw(reply(raw(ds))).equals(Buffer.from(serialize(reply(ds))))).toBe(true);
    }
  });

  it('finds raw arrays at any depth of plain documents, and only there', () => {
    expect(holdsRawBson(reply(raw([])))).toBe(true);
    expect(holdsRawBson({ a: { b: { c: raw([]) } } })).toBe(true);
    expect(holdsRawBson(reply([]))).toBe(false);
    expect(holdsRawBson({ list: [raw([])] })).toBe(false); // arrays are not searched
    const nested = { a: { b: { c: raw(docs(2)), d: new ObjectId('65a1b2c3d4e5f60718293a4b') } } };
    const plain = { a: { b: { c: docs(2), d: new ObjectId('65a1b2c3d4e5f60718293a4b') } } };
    expect(serializeWithRaw(nested).equals(Buffer.from(serialize(plain)))).toBe(true);
  });
});

describe('the wire encoders with a raw batch', () => {
  it.each([false, true])(
    'writes the same OP_MSG as for plain documents (checksum %s)',
    (checksum) => {
      const ds = docs(50);
      const fast = encodeOpMsg({ requestID: 5, responseTo: 4, body: reply(raw(ds)), checksum });
      const slow = encodeOpMsg({ requestID: 5, responseTo: 4, body: reply(ds), checksum });
      expect(fast.equals(slow)).toBe(true);
      const parsed = parseMessage(fast) as OpMsg;
      expect(((parsed.body.cursor as Document).nextBatch as Document[]).length).toBe(50);
    },
  );

  it('writes the same OP_REPLY as for plain documents', () => {
    const ds = docs(3);
    const fast = encodeOpReply({ requestID: 1, responseTo: 2, documents: [reply(raw(ds))] });
    const slow = encodeOpReply({ requestID: 1, responseTo: 2, documents: [reply(ds)] });
    expect(fast.equals(slow)).toBe(true);
  });
});
