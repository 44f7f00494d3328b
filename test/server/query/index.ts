// Queries over stored documents: filter matching, projection, sort and the aggregation stages a
// plain `aggregate` needs. Matching, sorting and the simple stages are done here so BSON types
// keep their meaning (Int32 vs Long vs Double, `$type`, cross-type ordering); expressions and
// the heavier stages ($group, $lookup, ...) go to mingo on normalised copies (see
// wire-protocol.md "Pitfalls": mingo cannot compare BSON number objects).
//
// The public face of query/: importers outside the folder use this file only. Inside, imports
// run one way: paths.ts is the base; filters, sort and expressions (over mingo.ts) build on it;
// projection uses filters and expressions; aggregation uses them all.
export { getPath, isIndex, pathLeaves, splitPath } from './paths.js';
export {
  type MatchDetails,
  type Matcher,
  compileFilter,
  equalityFields,
  toRegExp,
} from './filters.js';
export { compileSort } from './sort.js';
export { evalExpression } from './expressions.js';
export { type Projector, compileProjection } from './projection.js';
export type { PipelineEnv } from './mingo.js';
export { isKnownStage, runPipeline } from './aggregation.js';
export { hashedIndexKey } from './hashed.js';

/** The `$type` name list, for callers validating type arguments. */
export type { BsonTypeName } from '../values.js';
