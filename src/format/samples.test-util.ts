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

const WALL = new Date('2024-01-12T21:44:35.123Z');
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
