// Diffing pre- and post-images for pipeline updates, like MongoDB's document_diff_calculator:
// the only source of `truncatedArrays`, and a replacement when the diff would be larger.
import { type Document, calculateObjectSize } from 'bson';
import { binaryEqual, isDocument } from '../values.js';
import {
  type DiffArray,
  type DiffDoc,
  type UpdateDescription,
  describe,
  newArray,
  newDoc,
} from './describe.js';

function diffSize(node: DiffDoc | DiffArray): number {
  return calculateObjectSize(serializeDiff(node));
}

/** The diff in MongoDB's v2 oplog layout, used only to weigh it against the post-image. */
function serializeDiff(node: DiffDoc | DiffArray): Document {
  if (node.kind === 'array') {
    const out: Document = { a: true };
    if (node.resize !== undefined) out.l = node.resize;
    for (const [i, e] of node.entries)
      out[('kind' in e ? 's' : 'u') + String(i)] = 'kind' in e ? serializeDiff(e) : e.value;
    return out;
  }
  const out: Document = {};
  if (node.deletes.length) out.d = Object.fromEntries(node.deletes.map((f) => [f, false]));
  if (node.updates.length) out.u = Object.fromEntries(node.updates);
  if (node.inserts.length) out.i = Object.fromEntries(node.inserts);
  for (const [f, c] of node.children) out[`s${f}`] = serializeDiff(c);
  return out;
}

function objSize(v: Document | unknown[]): number {
  return calculateObjectSize(
    Array.isArray(v) ? Object.fromEntries(v.map((x, i) => [String(i), x])) : v,
  );
}

function subDiff(pre: unknown, post: unknown): DiffDoc | DiffArray | undefined {
  return Array.isArray(pre)
    ? diffArrays(pre, post as unknown[])
    : diffDocs(pre as Document, post as Document);
}

function sameContainerType(a: unknown, b: unknown): boolean {
  return (isDocument(a) && isDocument(b)) || (Array.isArray(a) && Array.isArray(b));
}

function diffArrays(pre: unknown[], post: unknown[]): DiffArray | undefined {
  const node = newArray();
  const n = Math.min(pre.length, post.length);
  for (let i = 0; i < n; i++) {
    if (binaryEqual(pre[i], post[i])) continue;
    const sub = sameContainerType(pre[i], post[i]) ? subDiff(pre[i], post[i]) : undefined;
    node.entries.set(i, sub ?? { value: post[i] });
  }
  for (let i = n; i < post.length; i++) node.entries.set(i, { value: post[i] });
  if (pre.length > post.length) node.resize = post.length;
  return objSize(post) > diffSize(node) ? node : undefined;
}

function diffDocs(pre: Document, post: Document): DiffDoc | undefined {
  const node = newDoc();
  const preKeys = Object.keys(pre).filter((k) => pre[k] !== undefined);
  const postKeys = Object.keys(post).filter((k) => post[k] !== undefined);
  const deletes = new Set<string>();
  let i = 0;
  let j = 0;
  while (i < preKeys.length && j < postKeys.length) {
    const pk = preKeys[i] as string;
    const qk = postKeys[j] as string;
    if (pk === qk) {
      if (!binaryEqual(pre[pk], post[qk])) {
        const sub = sameContainerType(pre[pk], post[qk]) ? subDiff(pre[pk], post[qk]) : undefined;
        if (sub) node.children.set(pk, sub);
        else node.updates.push([pk, post[qk]]);
      }
      i++;
      j++;
    } else {
      // A field that moved or vanished: removed here, re-inserted below if it is still there.
      deletes.add(pk);
      i++;
    }
  }
  for (; i < preKeys.length; i++) node.deletes.push(preKeys[i] as string);
  for (; j < postKeys.length; j++) {
    const k = postKeys[j] as string;
    node.inserts.push([k, post[k]]);
    deletes.delete(k);
  }
  // The deferred deletes come last, in byte order of their names: computeDocDiff keeps them in a
  // std::set<StringData> (src/mongo/db/update/document_diff_calculator.cpp), so a $replaceRoot
  // that drops b, arrayForSubdiff, arrayForReplacement, c logs d: {c, arrayForReplacement,
  // arrayForSubdiff, b} (jstests/change_streams/show_raw_update_description.js).
  node.deletes.push(...[...deletes].sort(compareUtf8));
  return objSize(post) > diffSize(node) ? node : undefined;
}

/** Byte-wise comparison of UTF-8 names, as StringData's operator< orders them. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The change between two versions of a document as a delta entry, or undefined when a
 * replacement is smaller (MongoDB then logs the pipeline update as a replacement). */
export function diffDocuments(pre: Document, post: Document): UpdateDescription | undefined {
  const node = diffDocs(pre, post);
  if (!node || diffSize(node) >= objSize(post)) return undefined;
  return describe(node);
}
