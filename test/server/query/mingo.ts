// The bridge to mingo: one stage over normalised copies, other collections resolved through the
// pipeline env. Shared by expressions and aggregation, so neither imports the other for it.
import type { Document } from 'bson';
import { Aggregator } from 'mingo';
import { fail } from '../errors.js';
import { normalize } from '../values.js';

/** What pipeline stages need from outside: other collections of the same database. */
export interface PipelineEnv {
  /** Owned copies of a collection's documents (for `$lookup`, `$unionWith`, `$graphLookup`). */
  collection?(name: string): Document[];
}

/** Runs one stage on mingo over normalised documents; a mingo error is a code-2 failure. */
export function runMingo(docs: Document[], stage: Document, env?: PipelineEnv): Document[] {
  const resolver = env?.collection;
  const agg = new Aggregator([stage], {
    collectionResolver: resolver
      ? (name) => resolver(name).map((d) => normalize(d) as Document)
      : undefined,
  });
  try {
    return agg.run(docs) as Document[];
  } catch (e) {
    return fail(2, `${Object.keys(stage)[0] ?? ''} failed: ${(e as Error).message}`);
  }
}
