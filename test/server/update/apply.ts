// The entry point: applies a parsed update (operators, replacement or pipeline) to a document,
// guards the immutable `_id`, and builds an upsert's inserted document.
import { type Document, ObjectId } from 'bson';
import { fail } from '../errors.js';
import { equalityFields, runPipeline } from '../query/index.js';
import { binaryEqual, clone, formatValue } from '../values.js';
import { type UpdateDescription, describe, treeFromLog } from './describe.js';
import { diffDocuments } from './diff.js';
import { type ApplyOptions, OperatorApplier } from './operators.js';
import type { ParsedUpdate } from './parse.js';

/** The result of applying an update to one document. */
export interface UpdateOutcome {
  /** The new document (an owned copy; `_id` first). */
  doc: Document;
  /** False when the update changed nothing: no write, no oplog entry, nModified 0. */
  modified: boolean;
  /** True when the change is logged as a whole-document replacement (op `replace`). */
  replace: boolean;
  /** For `replace: false`: what changed. */
  description?: UpdateDescription;
}

function idFirst(doc: Document): Document {
  if (!('_id' in doc)) return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

function assertIdUnchanged(pre: Document, post: Document, replacement: boolean): void {
  if (pre._id === undefined) return;
  if (post._id === undefined) {
    fail(
      66,
      "After applying the update, the (immutable) field '_id' was found to have been removed.",
    );
  }
  if (!binaryEqual(pre._id, post._id)) {
    if (replacement) {
      fail(
        66,
        `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${formatValue(post._id)}`,
      );
    }
    fail(66, "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
}

/**
 * Applies a parsed update to a document (not modified). For an upsert's insert pass the seed
 * document from `upsertSeed` and `inserting: true`.
 */
export function applyUpdate(
  doc: Document,
  update: ParsedUpdate,
  opts: ApplyOptions = {},
): UpdateOutcome {
  const pre = doc;
  if (update.kind === 'replacement') {
    const body = clone(update.doc);
    const post = idFirst(
      pre._id !== undefined && body._id === undefined
        ? { _id: clone({ v: pre._id }).v, ...body }
        : body,
    );
    if (!opts.inserting) assertIdUnchanged(pre, post, true);
    return { doc: post, modified: !binaryEqual(pre, post), replace: true };
  }
  if (update.kind === 'pipeline') {
    const [result] = runPipeline([clone(pre)], update.stages);
    if (!result) fail(2, 'the update pipeline produced no document');
    let post = result;
    if (post._id === undefined && pre._id !== undefined)
      post = { _id: clone({ v: pre._id }).v, ...post };
    post = idFirst(post);
    if (!opts.inserting) assertIdUnchanged(pre, post, false);
    if (binaryEqual(pre, post)) return { doc: post, modified: false, replace: false };
    const description = diffDocuments(pre, post);
    return description
      ? { doc: post, modified: true, replace: false, description }
      : { doc: post, modified: true, replace: true };
  }
  const post = clone(pre);
  const applier = new OperatorApplier(pre, post, opts, update.identifiers, update.spec);
  applier.applyChildren(post, update.tree, [], false);
  if (!opts.inserting) assertIdUnchanged(pre, post, false);
  const out = idFirst(post);
  if (applier.log.length === 0) return { doc: out, modified: false, replace: false };
  return {
    doc: out,
    modified: true,
    replace: false,
    description: describe(treeFromLog(applier.log, out)),
  };
}

/**
 * The document an upsert inserts when nothing matched: the filter's equality fields, then the
 * update (operators with `$setOnInsert`, a replacement keeping the filter's `_id`, or a pipeline).
 */
export function upsertDocument(
  filter: Document | undefined,
  update: ParsedUpdate,
  opts: ApplyOptions = {},
): Document {
  const seed = equalityFields(filter);
  // A replacement keeps only the filter's `_id`; operators and pipelines start from every
  // equality field. The positional `$` has no match to use on an insert.
  const start =
    update.kind === 'replacement' ? (seed._id !== undefined ? { _id: seed._id } : {}) : seed;
  let doc = applyUpdate(start, update, { ...opts, inserting: true, positional: undefined }).doc;
  if (doc._id === undefined) doc = { _id: new ObjectId(), ...doc };
  return idFirst(doc);
}
