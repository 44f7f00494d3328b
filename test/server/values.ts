// BSON values as the server holds them. The wire layer deserializes every request with
// `promoteValues: false`, so numbers arrive as Int32 / Double / Long / Decimal128 objects and
// are stored with their exact type (a Double 1.0 stays a double; a Long stays a Long).
// Handlers read numeric arguments through `toNumber` and copy documents through `clone`.
import { type Document, deserialize, serialize, Decimal128, Double, Int32, Long } from 'bson';

/** Options every BSON decode in the server uses, so values keep their exact BSON type. */
export const EXACT: Readonly<{ promoteValues: false; bsonRegExp: true }> = {
  promoteValues: false,
  bsonRegExp: true,
};

/** True for any BSON number (plain JS number included). */
export function isNumeric(v: unknown): v is number | Int32 | Double | Long | Decimal128 {
  return (
    typeof v === 'number' ||
    v instanceof Int32 ||
    v instanceof Double ||
    v instanceof Long ||
    v instanceof Decimal128
  );
}

/** A BSON number as a JS number (Long beyond 2^53 loses precision; Decimal128 via its string). */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number(v.toString());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** An owned deep copy of a document with every BSON type preserved. */
export function clone<T extends Document>(doc: T): T {
  return deserialize(serialize(doc), EXACT) as T;
}
