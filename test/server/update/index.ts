// Update documents: operator updates ($set, $inc, $push, ... with positional paths and array
// filters), replacement documents and pipeline updates; and the change description a real
// server's v2 delta oplog entry carries (dotted updatedFields, removedFields, truncatedArrays).
//
// Operator updates log what each operator touched, like MongoDB's update nodes (a $set logs its
// whole path; a $push that only appends logs `arr.N` per new element; $pop/$pull log the whole
// array). Pipeline updates are logged by diffing the pre- and post-images, like MongoDB's
// document_diff_calculator, which is the only place `truncatedArrays` comes from.
//
// The public face of update/: importers outside the folder use this file only. Inside, imports
// run one way: parse → (numbers) → operators → apply, and describe → diff → apply.
export { type ParsedUpdate, type UpdateNode, parseUpdate } from './parse.js';
export type { UpdateDescription } from './describe.js';
export { diffDocuments } from './diff.js';
export type { ApplyOptions } from './operators.js';
export { type UpdateOutcome, applyUpdate, upsertDocument } from './apply.js';
