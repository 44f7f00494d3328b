import { Binary, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'bson';
import {
  EVENT_TOKEN,
  HIGH_WATER_MARK_TOKEN,
  compareTokens,
  decodeResumeToken,
  encodeResumeToken,
  highWaterMarkToken,
  tokenClusterTime,
  type ResumeTokenData,
} from './tokens.js';

const UUID_A = new UUID('5c1be206-4810-4131-a527-b9ead80e9f75');
const UUID_B = new UUID('ffffffff-4810-4131-a527-b9ead80e9f75');

function event(
  t: number,
  i: number,
  documentKey: Record<string, unknown>,
  extra: Partial<ResumeTokenData> = {},
): ResumeTokenData {
  return {
    clusterTime: new Timestamp({ t, i }),
    version: 2,
    tokenType: EVENT_TOKEN,
    txnOpIndex: 0,
    fromInvalidate: false,
    uuid: UUID_A,
    eventIdentifier: { operationType: 'insert', documentKey },
    ...extra,
  };
}

describe('resume tokens from real servers', () => {
  // Printed by a MongoDB 7.x replica set for an insert (a v2 token), quoted in a public pymongo
  // example: clusterTime Timestamp(1725165347, 1), _id ObjectId('66d3ef237469c95edc2c0b49').
  const V2_INSERT =
    '8266D3EF23000000012B042C0100296E5A10045C1BE20648104131A527B9EAD80E9F75463C6F7065726174696F6E' +
    '54797065003C696E736572740046646F63756D656E744B65790046645F6964006466D3EF237469C95EDC2C0B49000004';
  // Printed by MongoDB 4.4 (v1 tokens, documentKey {_id: 2.0}) in Alex Bevilacqua's post
  // "MongoDB 4.4 Change Streams and Pre-Image 'Support'" (2020-07-15), with _typeBits 0x40.
  const V1_DOUBLE_ID =
    '825F103409000000042B022C0100296E5A10044912D5BB665545B48DDAD38FCD774270461E5F6964002B040004';

  it('encodes a v2 insert token byte for byte', () => {
    const token = encodeResumeToken(
      event(1725165347, 1, { _id: new ObjectId('66d3ef237469c95edc2c0b49') }),
    );
    expect(token._data).toBe(V2_INSERT);
    expect(token._typeBits).toBeUndefined();
  });

  it('decodes a v2 insert token', () => {
    const data = decodeResumeToken({ _data: V2_INSERT });
    expect(data.clusterTime.equals(new Timestamp({ t: 1725165347, i: 1 }))).toBe(true);
    expect(data.version).toBe(2);
    expect(data.tokenType).toBe(EVENT_TOKEN);
    expect(data.txnOpIndex).toBe(0);
    expect(data.fromInvalidate).toBe(false);
    expect(data.uuid?.toHexString()).toBe('5c1be206-4810-4131-a527-b9ead80e9f75');
    expect(Object.keys(data.eventIdentifier ?? {})).toEqual(['operationType', 'documentKey']);
    expect(data.eventIdentifier?.operationType).toBe('insert');
    const id: unknown = (data.eventIdentifier?.documentKey as { _id: unknown })._id;
    expect(id).toBeInstanceOf(ObjectId);
    expect((id as ObjectId).toHexString()).toBe('66d3ef237469c95edc2c0b49');
  });

  it('round-trips a v1 token with type bits (a double _id)', () => {
    const real = { _data: V1_DOUBLE_ID, _typeBits: new Binary(Buffer.from([0x40]), 0) };
    const data = decodeResumeToken(real);
    expect(data.version).toBe(1);
    expect(data.clusterTime.equals(new Timestamp({ t: 1594897417, i: 4 }))).toBe(true);
    const id: unknown = (data.eventIdentifier as { _id: unknown })._id;
    expect(id).toBeInstanceOf(Double);
    expect((id as Double).value).toBe(2);
    const again = encodeResumeToken(data);
    expect(again._data).toBe(V1_DOUBLE_ID);
    expect(Buffer.from(again._typeBits?.buffer ?? []).toString('hex')).toBe('40');
  });
});

describe('encoding', () => {
  it('starts with 82 and the clusterTime, readable without decoding', () => {
    const token = encodeResumeToken(event(0x66d3ef23, 0x12345, { _id: new Int32(1) }));
    expect(token._data.startsWith('8266D3EF2300012345')).toBe(true);
    const ts = tokenClusterTime(token._data);
    expect(ts.t).toBe(0x66d3ef23);
    expect(ts.i).toBe(0x12345);
  });

  it('writes uppercase hex and no _typeBits for int32 and string keys', () => {
    for (const key of [new Int32(7), 'abc', new ObjectId()]) {
      const token = encodeResumeToken(event(10, 1, { _id: key }));
      expect(token._data).toMatch(/^[0-9A-F]+$/);
      expect(token._typeBits).toBeUndefined();
    }
  });

  it('writes _typeBits for long and double keys, and round-trips their types', () => {
    const long = encodeResumeToken(event(10, 1, { _id: Long.fromNumber(5) }));
    const dbl = encodeResumeToken(event(10, 1, { _id: new Double(5) }));
    const int = encodeResumeToken(event(10, 1, { _id: new Int32(5) }));
    // The bytes are the same: 5, 5L and 5.0 are equal keys; only the type bits differ.
    expect(long._data).toBe(int._data);
    expect(dbl._data).toBe(int._data);
    expect(long._typeBits).toBeDefined();
    expect(dbl._typeBits).toBeDefined();
    const key = (t: typeof long): unknown =>
      (decodeResumeToken(t).eventIdentifier?.documentKey as { _id: unknown })._id;
    expect(key(long)).toBeInstanceOf(Long);
    expect(key(dbl)).toBeInstanceOf(Double);
    expect(key(int)).toBeInstanceOf(Int32);
  });

  it('round-trips documentKeys of many BSON types', () => {
    const keys: unknown[] = [
      new Int32(0),
      new Int32(-5),
      new Int32(2147483647),
      Long.fromString('-9223372036854775808'),
      Long.fromString('9223372036854775807'),
      new Double(0.5),
      new Double(-1e-300),
      new Double(1e300),
      new Double(123456.789),
      'with\u0000nul',
      'ünïcødé',
      new ObjectId('66d3ef237469c95edc2c0b49'),
      new Date(1700000000123),
      new Date(-5),
      true,
      false,
      null,
      { a: new Int32(1), b: ['x', new Int32(2)] },
      [new Int32(1), 'two', { three: new Int32(3) }],
      new UUID('00112233-4455-6677-8899-aabbccddeeff'),
      new Binary(Buffer.from('hello'), 0),
      new Timestamp({ t: 5, i: 6 }),
      Decimal128.fromString('1.5'),
    ];
    for (const key of keys) {
      const token = encodeResumeToken(event(10, 1, { _id: key }));
      const back = (decodeResumeToken(token).eventIdentifier?.documentKey as { _id: unknown })._id;
      expect(encodeResumeToken(event(10, 1, { _id: back }))._data).toBe(token._data);
    }
  });

  it('decodes the high-water mark and invalidate flags', () => {
    const hwm = decodeResumeToken(highWaterMarkToken(new Timestamp({ t: 9, i: 3 })));
    expect(hwm.tokenType).toBe(HIGH_WATER_MARK_TOKEN);
    expect(hwm.uuid).toBeNull();
    expect(hwm.eventIdentifier).toBeUndefined();
    const inv = decodeResumeToken(
      encodeResumeToken(event(9, 3, { _id: 1 }, { fromInvalidate: true, fragmentNum: 2 })),
    );
    expect(inv.fromInvalidate).toBe(true);
    expect(inv.fragmentNum).toBe(2);
  });

  it('rejects what is not a token', () => {
    expect(() => decodeResumeToken('XYZ')).toThrow(/hex/);
    expect(() => decodeResumeToken('0A04')).toThrow();
  });
});

describe('ordering', () => {
  const hex = (d: ResumeTokenData): string => encodeResumeToken(d)._data;

  it('orders by clusterTime first, seconds then increment', () => {
    const a = hex(event(100, 5, { _id: 9 }));
    const b = hex(event(100, 6, { _id: 1 }));
    const c = hex(event(101, 1, { _id: 1 }));
    expect(compareTokens(a, b)).toBe(-1);
    expect(compareTokens(b, c)).toBe(-1);
    expect([c, a, b].sort()).toEqual([a, b, c]);
  });

  it('puts a high-water mark before every event at the same time, after earlier events', () => {
    const ts = new Timestamp({ t: 100, i: 5 });
    const hwm = highWaterMarkToken(ts)._data;
    expect(compareTokens(hwm, hex(event(100, 5, { _id: -1000 })))).toBe(-1);
    expect(compareTokens(hwm, hex(event(100, 4, { _id: 1 })))).toBe(1);
    expect(compareTokens(hwm, highWaterMarkToken(new Timestamp({ t: 100, i: 6 })))).toBe(-1);
  });

  it('puts an invalidate after the event that caused it', () => {
    const drop: ResumeTokenData = {
      ...event(100, 5, {}),
      eventIdentifier: { operationType: 'drop' },
    };
    const dropToken = hex(drop);
    const invalidate = hex({ ...drop, fromInvalidate: true });
    expect(compareTokens(dropToken, invalidate)).toBe(-1);
    expect(compareTokens(invalidate, hex(event(100, 6, { _id: 1 })))).toBe(-1);
  });

  it('orders events at one time by txnOpIndex, then uuid, then documentKey', () => {
    const first = hex(event(100, 5, { _id: new Int32(99) }));
    const secondOp = hex(event(100, 5, { _id: new Int32(1) }, { txnOpIndex: 1 }));
    const otherColl = hex(event(100, 5, { _id: new Int32(1) }, { uuid: UUID_B }));
    expect(compareTokens(first, secondOp)).toBe(-1);
    expect(compareTokens(first, otherColl)).toBe(-1);
    expect(
      compareTokens(
        hex(event(1, 1, { _id: new Int32(1) })),
        hex(event(1, 1, { _id: new Int32(2) })),
      ),
    ).toBe(-1);
  });

  it('sorts numeric keys of mixed types by value', () => {
    const values = [
      new Double(-1e20),
      new Int32(-300),
      new Double(-2.5),
      new Double(-0.001),
      new Int32(0),
      new Double(1e-10),
      new Double(0.75),
      Long.fromNumber(1),
      new Double(1.5),
      new Int32(255),
      new Int32(256),
      Long.fromString('4294967296'),
      new Double(1e19),
    ];
    const tokens = values.map((v) => hex(event(1, 1, { _id: v })));
    expect([...tokens].sort()).toEqual(tokens);
  });

  it('compares with either case and with token objects', () => {
    const t = encodeResumeToken(event(1, 1, { _id: 1 }));
    expect(compareTokens(t, t._data.toLowerCase())).toBe(0);
  });
});
