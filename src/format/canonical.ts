// `--format canonical`: canonical Extended JSON, one event per line. Every value keeps its exact
// BSON type ({"$numberInt": "1"}, {"$numberDouble": "1.0"}, {"$numberLong": "…"}), so a line
// parsed with `EJSON.parse(line, {relaxed: false})` serializes to the same BSON bytes. bson's
// canonical writer follows the spec for every type, so it is used as is.
import { EJSON } from 'bson';
import type { Document } from 'bson';

/** One event as canonical Extended JSON on one line. */
export function canonicalJson(event: Document): string {
  return EJSON.stringify(event, { relaxed: false });
}
