// The fields the formatters read off a BSON value, whichever copy of the bson library built
// it (the driver's CommonJS build or this code's ES module build): values are recognised by
// their `_bsontype` tag, never with instanceof.

/** A BSON value seen through its public fields. */
export interface BsonLike {
  value?: unknown;
  toString(): string;
  toHexString?: () => string;
  buffer?: Uint8Array;
  position?: number;
  sub_type?: number;
  pattern?: string;
  options?: string;
  code?: string;
  scope?: Record<string, unknown> | null;
  collection?: string;
  oid?: unknown;
  db?: string;
  fields?: Record<string, unknown>;
  t?: number;
  i?: number;
}
