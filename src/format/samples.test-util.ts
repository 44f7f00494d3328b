// Test helper (not a test): one value of every BSON type, and change events as the driver hands
// them to us (deserialized with exact types: promoteValues false, promoteLongs false, bsonRegExp).
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  deserialize,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  serialize,
  Timestamp,
  UUID,
} from 'bson';
import type { Document } from 'bson';

export const OID = new ObjectId('65a1b2c3d4e5f6a7b8c9d0e1');

/** What the driver returns for a document: exact BSON types, server field order. */
export function asDelivered<T extends Document>(doc: T): Document {
  return deserialize(serialize(doc), {
    promoteValues: false,
    promoteLongs: false,
    bsonRegExp: true,
  });
}

/** Every BSON type a change event can carry, one field each. */
export function everyType(): Document {
  return asDelivered({
    _id: OID,
    str: 'text',
    int32: new Int32(7),
    intNeg: new Int32(-2147483648),
    double: new Double(1.5),
    doubleWhole: new Double(2),
    doubleNegZero: new Double(-0),
    doubleBig: new Double(1e20),
    doubleTiny: new Double(5e-324),
    doubleInf: new Double(Infinity),
    doubleNaN: new Double(NaN),
    long: Long.fromString('9007199254740993'),
    longMin: Long.fromString('-9223372036854775808'),
    decimal: Decimal128.fromString('1.50'),
    decimalBig: Decimal128.fromString('1.234567890123456789012345678901234E+6000'),
    oid: OID,
    bool: true,
    date: new Date('2024-01-12T21:44:35.123Z'),
    dateOld: new Date('1900-01-01T00:00:00Z'),
    null: null,
    regex: new BSONRegExp('^a/b', 'im'),
    binary: new Binary(Buffer.from([1, 2, 3]), 0),
    binaryUser: new Binary(Buffer.from('xyz'), 0x80),
    uuid: new UUID('0123456789abcdef0123456789abcdef'),
    code: new Code('function () { return 1; }'),
    codeScope: new Code('x + y', { x: new Int32(1) }),
    timestamp: new Timestamp({ t: 1705095875, i: 3 }),
    minKey: new MinKey(),
    maxKey: new MaxKey(),
    symbol: new BSONSymbol('sym'),
    dbref: new DBRef('coll', OID, 'db'),
    array: [new Int32(1), 'two', [new Double(3.25)]],
    nested: { a: { b: new Long(5) }, 'dotted.key': 1, 'has space': [] },
    empty: {},
  });
}

/** The wallTime of every sample event (a Friday evening, UTC). */
export const WALL = new Date('2024-01-12T21:44:35.123Z');
const CLUSTER = new Timestamp({ t: 1705095875, i: 1 });

/** A change event with the server's field order for `operationType` (classic fields only). */
export function event(operationType: string, fields: Document = {}): Document {
  const { ns = { db: 'shop', coll: 'orders' }, ...rest } = fields;
  const base: Document = {
    _id: { _data: '8265A1B2C3000000012B042C0100296E5A1004' },
    operationType,
    clusterTime: CLUSTER,
    wallTime: WALL,
  };
  if (ns !== null) base.ns = ns;
  return asDelivered({ ...base, ...rest });
}

/**
 * The eight events of `npm run demo` (pre-images on shop.orders), a second apart on WALL's day,
 * then the kinds of line that used to overflow a terminal: createIndexes, a 3,000-character
 * string, a 200-element array, CJK text and emoji, a long namespace, a date from another day.
 */
export function demoEvents(): Document[] {
  const at = (s: number): Date => new Date(WALL.getTime() + s * 1000);
  const orders = { db: 'shop', coll: 'orders' };
  const users = { db: 'shop', coll: 'users' };
  const o1001 = { _id: new Int32(1001), user: 'ada', items: ['tea'], total: new Double(4.5) };
  const paid = { ...o1001, status: 'paid', items: ['tea', 'milk'] };
  const o1002 = { _id: new Int32(1002), user: 'ada', items: ['cake'], total: new Int32(3) };
  const cancelled = { _id: new Int32(1002), user: 'ada', items: [], status: 'cancelled' };
  const noChanges = { removedFields: [], truncatedArrays: [] };
  return [
    event('insert', {
      ns: users,
      wallTime: at(0),
      documentKey: { _id: 'ada' },
      fullDocument: { _id: 'ada', name: 'Ada Lovelace', since: WALL },
    }),
    event('insert', {
      ns: orders,
      wallTime: at(1),
      documentKey: { _id: new Int32(1001) },
      fullDocument: { ...o1001, status: 'new' },
    }),
    event('insert', {
      ns: orders,
      wallTime: at(2),
      documentKey: { _id: new Int32(1002) },
      fullDocument: { ...o1002, status: 'new' },
    }),
    event('update', {
      ns: orders,
      wallTime: at(3),
      documentKey: { _id: new Int32(1001) },
      updateDescription: { updatedFields: { status: 'paid', 'items.1': 'milk' }, ...noChanges },
      fullDocumentBeforeChange: { ...o1001, status: 'new' },
      fullDocument: paid,
    }),
    event('update', {
      ns: orders,
      wallTime: at(4),
      documentKey: { _id: new Int32(1001) },
      updateDescription: {
        updatedFields: { total: new Double(5.75) },
        removedFields: ['user'],
        truncatedArrays: [],
      },
      fullDocumentBeforeChange: paid,
    }),
    event('replace', {
      ns: orders,
      wallTime: at(5),
      documentKey: { _id: new Int32(1002) },
      fullDocument: cancelled,
      fullDocumentBeforeChange: { ...o1002, status: 'new' },
    }),
    event('delete', {
      ns: orders,
      wallTime: at(6),
      documentKey: { _id: new Int32(1002) },
      fullDocumentBeforeChange: cancelled,
    }),
    event('update', {
      ns: users,
      wallTime: at(7),
      documentKey: { _id: 'ada' },
      updateDescription: { updatedFields: { address: { city: 'London' } }, ...noChanges },
    }),
    event('createIndexes', {
      ns: orders,
      wallTime: at(8),
      operationDescription: {
        indexes: [{ v: new Int32(2), key: { user: new Int32(1), total: new Int32(-1) } }],
      },
    }),
    event('insert', {
      ns: orders,
      wallTime: at(9),
      documentKey: { _id: OID },
      fullDocument: {
        _id: OID,
        note: 'lorem ipsum '.repeat(250),
        tags: Array.from({ length: 200 }, (_, i) => new Int32(i)),
        status: 'new',
      },
    }),
    event('insert', {
      ns: { db: 'inventory', coll: '倉庫_在庫一覧_東京' },
      wallTime: at(10),
      documentKey: { _id: new Int32(1) },
      fullDocument: {
        _id: new Int32(1),
        name: '日本語のテキスト 🎉👨‍👩‍👧 cafe\u0301',
        qty: new Int32(3),
      },
    }),
    event('drop', { ns: orders, wallTime: new Date('2023-12-31T23:59:59.999Z') }),
  ];
}
