import { Binary, Double, Int32, Long, Timestamp, serialize } from 'bson';
import { TailError } from '../errors.js';
import { readCursor, readHeader, readWallTime } from './batch.js';

const TOKEN = '8266D3EF23000000012B042C0100296E5A1004';

function event(n: number, extra: Record<string, unknown> = {}) {
  return {
    _id: { _data: `${TOKEN}${n.toString(16).padStart(4, '0')}` },
    operationType: 'insert',
    clusterTime: new Timestamp({ t: 1725165347 + n, i: 7 }),
    fullDocument: {
      _id: new Int32(n),
      x: new Double(1.5),
      big: Long.fromString('9007199254740993'),
    },
    ...extra,
  };
}

function reply(batch: unknown[], more: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    serialize({
      id: Long.fromNumber(42),
      ns: 'shop.orders',
      nextBatch: batch,
      postBatchResumeToken: { _data: `${TOKEN}FFFF` },
      ...more,
    }),
  );
}

describe('readCursor', () => {
  test('finds the id, ns, every event and the post-batch resume token', () => {
    const cursor = readCursor(reply([event(1), event(2), event(3)]));
    expect(cursor.id.toString()).toBe('42');
    expect(cursor.ns).toBe('shop.orders');
    expect(cursor.starts).toHaveLength(3);
    expect(cursor.pbrt).toEqual({ _data: `${TOKEN}FFFF` });
    const tokens = cursor.starts.map((s) => readHeader(cursor.bytes, s).token?._data);
    expect(tokens).toEqual([1, 2, 3].map((n) => `${TOKEN}000${n}`));
  });

  test('reads firstBatch too, and an empty batch', () => {
    const bytes = Buffer.from(
      serialize({ firstBatch: [], id: Long.fromNumber(0), ns: 'a.$cmd.aggregate' }),
    );
    const cursor = readCursor(bytes);
    expect(cursor.starts).toEqual([]);
    expect(cursor.id.isZero()).toBe(true);
    expect(cursor.pbrt).toBeUndefined();
  });

  test('works on a view into a larger buffer (as the driver hands it over)', () => {
    const inner = reply([event(9)]);
    const outer = Buffer.concat([Buffer.from([1, 2, 3]), inner, Buffer.from([4])]);
    const view = new Uint8Array(outer.buffer, outer.byteOffset + 3, inner.length);
    const cursor = readCursor(view);
    expect(readHeader(cursor.bytes, cursor.starts[0] as number).token?._data).toBe(`${TOKEN}0009`);
  });

  test.each([
    ['a truncated reply', (b: Buffer) => b.subarray(0, b.length - 9)],
    ['a length past the end', (b: Buffer) => (b.writeInt32LE(b.length + 10, 0), b)],
    ['no batch', () => Buffer.from(serialize({ id: Long.fromNumber(1) }))],
    [
      'a batch element that is not a document',
      () => Buffer.from(serialize({ id: Long.fromNumber(1), nextBatch: [1] })),
    ],
  ])('%s → a TailError, not a crash', (_name, damage) => {
    expect(() => readCursor(damage(reply([event(1)])))).toThrow(TailError);
  });
});

describe('readHeader', () => {
  test('reads _id, operationType and clusterTime wherever they stand', () => {
    const doc = {
      wallTime: new Date(0),
      clusterTime: new Timestamp({ t: 1700000000, i: 3 }),
      fullDocument: { operationType: 'not me', _id: { _data: 'nested' } },
      operationType: 'update',
      _id: { _data: 'AB12' },
    };
    const bytes = Buffer.from(serialize(doc));
    const header = readHeader(bytes, 0);
    expect(header.operationType).toBe('update');
    expect(header.clusterTime?.t).toBe(1700000000);
    expect(header.clusterTime?.i).toBe(3);
    expect(header.token).toEqual({ _data: 'AB12' });
  });

  test('keeps _typeBits as binary', () => {
    const bits = new Binary(Buffer.from([0x40]), 0);
    const bytes = Buffer.from(serialize({ _id: { _data: 'AB', _typeBits: bits } }));
    const token = readHeader(bytes, 0).token;
    expect(token?._data).toBe('AB');
    expect(Buffer.from(token?._typeBits?.buffer ?? []).toString('hex')).toBe('40');
  });

  test('an event without _id has no token', () => {
    expect(
      readHeader(Buffer.from(serialize({ operationType: 'insert' })), 0).token,
    ).toBeUndefined();
  });

  test('skips values of every BSON type on the way', () => {
    const bytes = Buffer.from(
      serialize({
        a: 1.5,
        b: 'x',
        c: { d: [1, 2] },
        e: new Binary(Buffer.from('hi')),
        f: /re/i,
        g: null,
        h: true,
        i: new Date(5),
        j: Long.fromNumber(5),
        operationType: 'delete',
      }),
    );
    expect(readHeader(bytes, 0).operationType).toBe('delete');
  });
});

describe('readWallTime', () => {
  test("the event's wallTime in epoch milliseconds; undefined without one", () => {
    const wall = new Date('2024-11-29T12:08:07.201Z');
    const cursor = readCursor(
      reply([
        event(1, { wallTime: wall }),
        event(2),
        // A field named wallTime of another type is not the event's wall time.
        event(3, { wallTime: 'yesterday' }),
        event(4, { fullDocument: { wallTime: wall } }),
        event(5, { wallTime: new Date(-1) }),
      ]),
    );
    expect(cursor.starts.map((s) => readWallTime(cursor.bytes, s))).toEqual([
      wall.getTime(),
      undefined,
      undefined,
      undefined,
      -1,
    ]);
  });
});
