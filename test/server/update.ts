// Update documents: operator updates ($set, $inc, $push, ... with positional paths and array
// filters), replacement documents and pipeline updates; and the change description a real
// server's v2 delta oplog entry carries (dotted updatedFields, removedFields, truncatedArrays).
//
// Operator updates log what each operator touched, like MongoDB's update nodes (a $set logs its
// whole path; a $push that only appends logs `arr.N` per new element; $pop/$pull log the whole
// array). Pipeline updates are logged by diffing the pre- and post-images, like MongoDB's
// document_diff_calculator, which is the only place `truncatedArrays` comes from.
import {
  type Document,
  calculateObjectSize,
  Decimal128,
  Double,
  Int32,
  Long,
  ObjectId,
  Timestamp,
} from 'bson';
import { fail } from './errors.js';
import {
  type Matcher,
  compileFilter,
  compileSort,
  equalityFields,
  isIndex,
  runPipeline,
  splitPath,
  toRegExp,
} from './query.js';
import {
  binaryEqual,
  bsonType,
  clone,
  compareValues,
  formatValue,
  isDocument,
  isNumeric,
  toNumber,
  valuesEqual,
} from './values.js';

/** `updateDescription` as change events show it. */
export interface UpdateDescription {
  updatedFields: Document;
  removedFields: string[];
  truncatedArrays: { field: string; newSize: number }[];
}

/** A parsed `u` of an update statement. */
export type ParsedUpdate =
  | { kind: 'operators'; tree: UpdateNode; identifiers: Set<string>; spec: Document }
  | { kind: 'replacement'; doc: Document }
  | { kind: 'pipeline'; stages: Document[] };

export interface ApplyOptions {
  /** `arrayFilters` of the statement. */
  arrayFilters?: Document[];
  /** The document is being inserted by an upsert: `$setOnInsert` applies. */
  inserting?: boolean;
  /** Index the query matched in an array, for the positional `$`. */
  positional?: number;
}

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

// ---------------------------------------------------------------- parsing

interface Leaf {
  op: string;
  arg: unknown;
  /** For `$rename`: the other end's path. */
  renameFrom?: string[];
}

/** A node of the update tree: fields are applied in name order, like MongoDB 5.0+. */
export interface UpdateNode {
  children: Map<string, UpdateNode>;
  leaf?: Leaf;
}

const OPERATORS = new Set([
  '$set',
  '$unset',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$rename',
  '$setOnInsert',
  '$currentDate',
  '$push',
  '$addToSet',
  '$pop',
  '$pull',
  '$pullAll',
  '$bit',
]);

/** Operators that can create a missing field. */
const CREATORS = new Set([
  '$set',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$setOnInsert',
  '$currentDate',
  '$push',
  '$addToSet',
  '$bit',
  '$rename',
]);

function isPositional(part: string): boolean {
  return part === '$' || part === '$[]' || /^\$\[[^\]]*\]$/.test(part);
}

function validatePath(path: string, op: string): string[] {
  const parts = splitPath(path);
  if (parts.some((p) => p === '')) {
    fail(56, `The update path '${path}' contains an empty field name, which is not allowed.`);
  }
  if (parts.filter((p) => p === '$').length > 1) {
    fail(2, `Too many positional (i.e. '$') elements found in path '${path}'`);
  }
  for (const p of parts) {
    if (p.startsWith('$') && !isPositional(p)) {
      fail(52, `The dollar ($) prefixed field '${p}' in '${path}' is not valid for storage.`);
    }
  }
  if (op === '$rename' && parts.some(isPositional)) {
    fail(2, `The source field for $rename may not be dynamic: ${path}`);
  }
  return parts;
}

function insertPath(root: UpdateNode, parts: string[], leaf: Leaf, full: string): void {
  let node = root;
  for (let i = 0; i < parts.length; i++) {
    if (node.leaf) {
      fail(
        40,
        `Updating the path '${full}' would create a conflict at '${parts.slice(0, i).join('.')}'`,
      );
    }
    const part = parts[i] as string;
    let next = node.children.get(part);
    if (!next) {
      next = { children: new Map() };
      node.children.set(part, next);
    }
    node = next;
  }
  if (node.leaf || node.children.size > 0) {
    fail(40, `Updating the path '${full}' would create a conflict at '${full}'`);
  }
  node.leaf = leaf;
}

function requireNumeric(op: string, field: string, arg: unknown): void {
  if (!isNumeric(arg)) {
    const verb = op === '$inc' ? 'increment' : 'multiply';
    fail(14, `Cannot ${verb} with non-numeric argument: {${field}: ${formatValue(arg)}}`);
  }
}

function validateLeaf(op: string, field: string, arg: unknown): void {
  switch (op) {
    case '$inc':
    case '$mul':
      requireNumeric(op, field, arg);
      break;
    case '$pop': {
      const n = toNumber(arg);
      if (n !== 1 && n !== -1) fail(9, `$pop expects 1 or -1, found: ${formatValue(arg)}`);
      break;
    }
    case '$pullAll':
      if (!Array.isArray(arg))
        fail(2, `$pullAll requires an array argument but was given a ${bsonType(arg)}`);
      break;
    case '$currentDate': {
      const ok =
        typeof arg === 'boolean' ||
        (isDocument(arg) &&
          (arg.$type === 'date' || arg.$type === 'timestamp') &&
          Object.keys(arg).length === 1);
      if (!ok) {
        fail(
          2,
          `The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}`,
        );
      }
      break;
    }
    case '$push':
      if (isDocument(arg) && '$each' in arg) {
        for (const k of Object.keys(arg)) {
          if (!['$each', '$slice', '$sort', '$position'].includes(k))
            fail(2, `Unrecognized clause in $push: ${k}`);
        }
        if (!Array.isArray(arg.$each)) {
          fail(
            2,
            `The argument to $each in $push must be an array but it was of type: ${bsonType(arg.$each)}`,
          );
        }
        if (arg.$slice !== undefined && !Number.isInteger(toNumber(arg.$slice))) {
          fail(
            2,
            `The value for $slice must be an integral value but was given type: ${bsonType(arg.$slice)}`,
          );
        }
        if (arg.$position !== undefined && !Number.isInteger(toNumber(arg.$position))) {
          fail(
            2,
            `The value for $position must be an integer value, not of type: ${bsonType(arg.$position)}`,
          );
        }
        if (arg.$sort !== undefined && !isNumeric(arg.$sort) && !isDocument(arg.$sort)) {
          fail(
            2,
            'The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields',
          );
        }
      }
      break;
    case '$addToSet':
      if (isDocument(arg) && '$each' in arg && !Array.isArray(arg.$each)) {
        fail(
          2,
          `The argument to $each in $addToSet must be an array but it was of type ${bsonType(arg.$each)}`,
        );
      }
      break;
    case '$bit':
      if (!isDocument(arg) || Object.keys(arg).length === 0) {
        fail(
          2,
          `The $bit modifier is not compatible with a ${bsonType(arg)}. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}`,
        );
      }
      for (const [k, v] of Object.entries(arg)) {
        if (!['and', 'or', 'xor'].includes(k)) {
          fail(
            2,
            `The $bit modifier only supports 'and', 'or', and 'xor', not '${k}' which is an unknown operator: {${k}: ${formatValue(v)}}`,
          );
        }
        const t = bsonType(v);
        if (t !== 'int' && t !== 'long') {
          fail(
            2,
            `The $bit modifier field must be an Integer(32/64 bit); a '${t}' is not supported here: {${k}: ${formatValue(v)}}`,
          );
        }
      }
      break;
    default:
      break;
  }
}

/** Validates and parses an update's `u` (operators, replacement document or pipeline). */
export function parseUpdate(u: unknown): ParsedUpdate {
  if (Array.isArray(u)) {
    const allowed = ['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith'];
    for (const stage of u) {
      if (!isDocument(stage) || Object.keys(stage).length !== 1) {
        fail(40323, 'A pipeline stage specification object must contain exactly one field.');
      }
      const name = Object.keys(stage)[0] as string;
      if (!allowed.includes(name)) fail(72, `${name} is not allowed to be used within an update`);
    }
    return { kind: 'pipeline', stages: u as Document[] };
  }
  if (!isDocument(u)) fail(9, 'Update argument must be either an object or an array');
  const keys = Object.keys(u);
  if (keys.length === 0 || !(keys[0] as string).startsWith('$')) {
    for (const k of keys) {
      if (k.startsWith('$')) {
        fail(
          52,
          `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
        );
      }
    }
    return { kind: 'replacement', doc: u };
  }
  const tree: UpdateNode = { children: new Map() };
  const identifiers = new Set<string>();
  for (const op of keys) {
    if (!op.startsWith('$') || !OPERATORS.has(op)) {
      fail(
        9,
        `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    }
    const fields = u[op];
    if (!isDocument(fields)) {
      fail(
        9,
        `Modifiers operate on fields but we found type ${bsonType(fields)} instead. For example: {$mod: {<field>: ...}} not {${op}: ${formatValue(fields)}}`,
      );
    }
    if (Object.keys(fields).length === 0) {
      fail(9, `'${op}' is empty. You must specify a field like so: {${op}: {<field_name>: ...}}`);
    }
    for (const [field, arg] of Object.entries(fields)) {
      const parts = validatePath(field, op);
      for (const p of parts) {
        const m = /^\$\[([^\]]*)\]$/.exec(p);
        if (m?.[1]) identifiers.add(m[1]);
      }
      validateLeaf(op, field, arg);
      if (op === '$rename') {
        if (typeof arg !== 'string')
          fail(2, `The 'to' field for $rename must be a string: ${field}: ${formatValue(arg)}`);
        const to = validatePath(arg, op);
        if (arg === field)
          fail(2, `The source and target field for $rename must differ: ${field}: "${arg}"`);
        if (arg.startsWith(`${field}.`) || field.startsWith(`${arg}.`)) {
          fail(
            2,
            `The source and target field for $rename must not be on the same path: ${field}: "${arg}"`,
          );
        }
        insertPath(tree, parts, { op: '$unset-rename', arg: '' }, field);
        insertPath(tree, to, { op: '$rename', arg: undefined, renameFrom: parts }, arg);
        continue;
      }
      insertPath(tree, parts, { op, arg }, field);
    }
  }
  return { kind: 'operators', tree, identifiers, spec: u };
}

// ---------------------------------------------------------------- change log → description

type PathPart = string | number;

interface DiffDoc {
  kind: 'doc';
  updates: [string, unknown][];
  inserts: [string, unknown][];
  deletes: string[];
  children: Map<string, DiffDoc | DiffArray>;
}

interface DiffArray {
  kind: 'array';
  resize?: number;
  entries: Map<number, { value: unknown } | DiffDoc | DiffArray>;
}

function newDoc(): DiffDoc {
  return { kind: 'doc', updates: [], inserts: [], deletes: [], children: new Map() };
}

function newArray(): DiffArray {
  return { kind: 'array', entries: new Map() };
}

/** Flattens a diff tree into `updateDescription`, in the order the server reads a v2 diff. */
function describe(root: DiffDoc): UpdateDescription {
  const out: UpdateDescription = { updatedFields: {}, removedFields: [], truncatedArrays: [] };
  const walk = (node: DiffDoc | DiffArray, prefix: string): void => {
    if (node.kind === 'doc') {
      for (const [f, v] of [...node.updates, ...node.inserts]) out.updatedFields[prefix + f] = v;
      for (const f of node.deletes) out.removedFields.push(prefix + f);
      for (const [f, child] of node.children) walk(child, `${prefix}${f}.`);
      return;
    }
    if (node.resize !== undefined)
      out.truncatedArrays.push({ field: prefix.slice(0, -1), newSize: node.resize });
    for (const [i, e] of [...node.entries].sort((a, b) => a[0] - b[0])) {
      if ('kind' in e) walk(e, `${prefix}${i}.`);
      else out.updatedFields[prefix + String(i)] = e.value;
    }
  };
  walk(root, '');
  return out;
}

/** Builds the diff tree from what operators logged; values are read from the final document. */
function treeFromLog(
  log: { kind: 'update' | 'insert' | 'delete'; path: PathPart[] }[],
  post: Document,
): DiffDoc {
  const root = newDoc();
  for (const { kind, path } of log) {
    let node: DiffDoc | DiffArray = root;
    let value: unknown = post;
    let covered = false;
    for (let i = 0; i < path.length - 1; i++) {
      const part = path[i] as PathPart;
      value = (value as Document)[part as string];
      const nextIsIndex = typeof path[i + 1] === 'number';
      if (node.kind === 'doc') {
        const name = part as string;
        if (node.updates.some(([f]) => f === name) || node.inserts.some(([f]) => f === name)) {
          covered = true;
          break;
        }
        let child = node.children.get(name);
        if (!child) {
          child = nextIsIndex ? newArray() : newDoc();
          node.children.set(name, child);
        }
        node = child;
      } else {
        const idx = part as number;
        let child = node.entries.get(idx);
        if (child && !('kind' in child)) {
          covered = true;
          break;
        }
        if (!child) {
          child = nextIsIndex ? newArray() : newDoc();
          node.entries.set(idx, child);
        }
        node = child as DiffDoc | DiffArray;
      }
    }
    if (covered) continue;
    const last = path[path.length - 1] as PathPart;
    const v = kind === 'delete' ? undefined : clone({ v: (value as Document)[last as string] }).v;
    if (node.kind === 'doc') {
      const name = last as string;
      node.children.delete(name);
      if (kind === 'delete') node.deletes.push(name);
      else if (kind === 'insert') node.inserts.push([name, v]);
      else node.updates.push([name, v]);
    } else {
      node.entries.set(last as number, { value: v });
    }
  }
  return root;
}

// ---------------------------------------------------------------- diffing (pipeline updates)

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

// ---------------------------------------------------------------- numbers

type NumKind = 0 | 1 | 2 | 3; // int, long, double, decimal

function numKind(v: unknown): NumKind {
  switch (bsonType(v)) {
    case 'int':
      return 0;
    case 'long':
      return 1;
    case 'double':
      return 2;
    default:
      return 3;
  }
}

function toBig(v: unknown): bigint {
  if (v instanceof Long) return v.toBigInt();
  return BigInt(Math.trunc(toNumber(v) ?? 0));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function arith(op: '$inc' | '$mul', a: unknown, b: unknown, onOverflow: () => never): unknown {
  const kind = Math.max(numKind(a), numKind(b)) as NumKind;
  if (kind <= 1) {
    const r = op === '$inc' ? toBig(a) + toBig(b) : toBig(a) * toBig(b);
    if (kind === 0 && r >= -(2n ** 31n) && r < 2n ** 31n) return new Int32(Number(r));
    if (r < INT64_MIN || r > INT64_MAX) onOverflow();
    return Long.fromBigInt(r);
  }
  const x = toNumber(a) ?? 0;
  const y = toNumber(b) ?? 0;
  const r = op === '$inc' ? x + y : x * y;
  return kind === 2 ? new Double(r) : Decimal128.fromString(String(r));
}

function zeroLike(v: unknown): unknown {
  switch (numKind(v)) {
    case 0:
      return new Int32(0);
    case 1:
      return Long.ZERO;
    case 2:
      return new Double(0);
    default:
      return Decimal128.fromString('0');
  }
}

// ---------------------------------------------------------------- applying operators

type Container = Document | unknown[];

class OperatorApplier {
  readonly log: { kind: 'update' | 'insert' | 'delete'; path: PathPart[] }[] = [];
  private readonly filters = new Map<string, Matcher>();

  constructor(
    private readonly pre: Document,
    private readonly doc: Document,
    private readonly opts: ApplyOptions,
    identifiers: Set<string>,
    private readonly spec: Document,
  ) {
    for (const f of opts.arrayFilters ?? []) {
      if (!isDocument(f))
        fail(9, 'Error parsing array filter :: caused by :: array filters must be objects');
      const ids = new Set(Object.keys(f).map((k) => splitPath(k)[0] as string));
      if (ids.size === 0)
        fail(
          9,
          'Error parsing array filter :: caused by :: Cannot use an expression without a top-level field name in arrayFilters',
        );
      if (ids.size > 1) {
        const [a, b] = [...ids];
        fail(
          9,
          `Error parsing array filter :: caused by :: Expected a single top-level field name, found '${a}' and '${b}'`,
        );
      }
      const id = [...ids][0] as string;
      if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) {
        fail(
          2,
          `Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '${id}'`,
        );
      }
      if (this.filters.has(id))
        fail(9, `Found multiple array filters with the same top-level field name ${id}`);
      this.filters.set(id, compileFilter(f));
    }
    for (const id of identifiers) {
      if (!this.filters.has(id))
        fail(2, `No array filter found for identifier '${id}' in path '${this.findPath(id)}'`);
    }
    for (const id of this.filters.keys()) {
      if (!identifiers.has(id)) {
        fail(
          9,
          `The array filter for identifier '${id}' was not used in the update ${formatValue(this.spec)}`,
        );
      }
    }
  }

  private findPath(id: string): string {
    for (const fields of Object.values(this.spec)) {
      if (!isDocument(fields)) continue;
      for (const k of Object.keys(fields)) if (k.includes(`$[${id}]`)) return k;
    }
    return id;
  }

  /** Applies the tree's children to a document or array, in field-name order. */
  applyChildren(container: Container, node: UpdateNode, path: PathPart[], creating: boolean): void {
    const names = [...node.children.keys()].sort(compareFieldNames);
    for (const name of names) {
      const child = node.children.get(name) as UpdateNode;
      if (Array.isArray(container)) {
        if (name === '$[]') {
          for (let i = 0; i < container.length; i++)
            this.applyAt(container, i, child, path, creating);
        } else if (name.startsWith('$[')) {
          const id = name.slice(2, -1);
          const filter = this.filters.get(id) as Matcher;
          for (let i = 0; i < container.length; i++) {
            if (filter({ [id]: container[i] })) this.applyAt(container, i, child, path, creating);
          }
        } else if (name === '$') {
          if (this.opts.positional === undefined) {
            fail(2, 'The positional operator did not find the match needed from the query.');
          }
          this.applyAt(container, this.opts.positional, child, path, creating);
        } else if (isIndex(name)) {
          this.applyAt(container, Number(name), child, path, creating);
        } else if (this.creates(child)) {
          fail(
            28,
            `Cannot create field '${name}' in element {${String(path[path.length - 1])}: ${formatValue(container)}}`,
          );
        }
      } else {
        if (isPositional(name)) {
          if (name === '$')
            fail(2, 'The positional operator did not find the match needed from the query.');
          if (this.creates(child) || path.length > 0) {
            fail(
              2,
              `The path '${path.join('.')}' must exist in the document in order to apply array updates.`,
            );
          }
          continue;
        }
        this.applyAt(container, name, child, path, creating);
      }
    }
  }

  /** Whether any operator below can create fields (otherwise a missing path is a no-op). */
  private creates(node: UpdateNode): boolean {
    if (node.leaf) {
      if (node.leaf.op === '$setOnInsert') return this.opts.inserting === true;
      if (node.leaf.op === '$rename') return this.renameSource(node.leaf) !== undefined;
      return CREATORS.has(node.leaf.op);
    }
    for (const c of node.children.values()) if (this.creates(c)) return true;
    return false;
  }

  private applyAt(
    container: Container,
    key: string | number,
    node: UpdateNode,
    path: PathPart[],
    creating: boolean,
  ): void {
    const here = [...path, key];
    if (node.leaf) {
      this.applyLeaf(container, key, node.leaf, here, creating);
      return;
    }
    const cur = get(container, key);
    if (
      cur === undefined ||
      (Array.isArray(container) && cur === null && !exists(container, key))
    ) {
      if (!this.creates(node)) return;
      if ([...node.children.keys()].some(isPositional)) {
        fail(
          2,
          `The path '${here.join('.')}' must exist in the document in order to apply array updates.`,
        );
      }
      const created: Document = {};
      put(container, key, created);
      if (!creating) this.log.push({ kind: logKindForNew(container), path: here });
      this.applyChildren(created, node, here, true);
      return;
    }
    if (isDocument(cur) || Array.isArray(cur)) {
      this.applyChildren(cur, node, here, creating);
      return;
    }
    if (this.creates(node)) {
      const first = [...node.children.keys()].sort(compareFieldNames)[0] ?? '';
      fail(28, `Cannot create field '${first}' in element {${String(key)}: ${formatValue(cur)}}`);
    }
  }

  private record(
    container: Container,
    key: string | number,
    path: PathPart[],
    existed: boolean,
    creating: boolean,
  ): void {
    if (creating) return;
    this.log.push({ kind: existed ? 'update' : logKindForNew(container), path });
  }

  private setValue(
    container: Container,
    key: string | number,
    value: unknown,
    path: PathPart[],
    creating: boolean,
  ): void {
    const existed = exists(container, key);
    const cur = get(container, key);
    if (existed && binaryEqual(cur, value)) return;
    put(container, key, value);
    this.record(container, key, path, existed, creating);
  }

  private renameSource(leaf: Leaf): unknown {
    const parts = leaf.renameFrom as string[];
    let cur: unknown = this.pre;
    for (let i = 0; i < parts.length; i++) {
      if (Array.isArray(cur)) {
        fail(
          2,
          `The source field cannot be an array element, '${parts.slice(0, i).join('.')}' in doc with ${formatValue(this.pre)} has an array field called '${parts[i - 1] ?? ''}'`,
        );
      }
      if (!isDocument(cur)) return undefined;
      cur = cur[parts[i] as string];
    }
    return cur;
  }

  private applyLeaf(
    container: Container,
    key: string | number,
    leaf: Leaf,
    path: PathPart[],
    creating: boolean,
  ): void {
    const cur = get(container, key);
    const present = exists(container, key);
    const field = path.join('.');
    switch (leaf.op) {
      case '$setOnInsert':
        if (!this.opts.inserting) return;
        this.setValue(container, key, clone({ v: leaf.arg }).v, path, creating);
        return;
      case '$set':
        this.setValue(container, key, clone({ v: leaf.arg }).v, path, creating);
        return;
      case '$rename': {
        const v = this.renameSource(leaf);
        if (v === undefined) return;
        if (Array.isArray(container))
          fail(2, `The destination field cannot be an array element, '${field}'`);
        this.setValue(container, key, clone({ v }).v, path, creating);
        return;
      }
      case '$unset':
      case '$unset-rename':
        if (!present) return;
        if (leaf.op === '$unset-rename' && Array.isArray(container)) {
          fail(2, `The source field cannot be an array element, '${field}'`);
        }
        if (Array.isArray(container)) {
          if (cur === null) return;
          container[key as number] = null;
          this.record(container, key, path, true, creating);
          return;
        }
        delete container[key as string];
        if (!creating) this.log.push({ kind: 'delete', path });
        return;
      case '$inc':
      case '$mul': {
        if (!present) {
          this.setValue(
            container,
            key,
            leaf.op === '$inc' ? clone({ v: leaf.arg }).v : zeroLike(leaf.arg),
            path,
            creating,
          );
          return;
        }
        if (!isNumeric(cur)) {
          fail(
            14,
            `Cannot apply ${leaf.op} to a value of non-numeric type. {_id: ${formatValue(this.pre._id)}} has the field '${String(key)}' of non-numeric type ${bsonType(cur)}`,
          );
        }
        const r = arith(leaf.op, cur, leaf.arg, () =>
          fail(
            2,
            `Failed to apply ${leaf.op} operations to current value (${formatValue(cur)}) for document {_id: ${formatValue(this.pre._id)}}`,
          ),
        );
        this.setValue(container, key, r, path, creating);
        return;
      }
      case '$min':
      case '$max': {
        if (present) {
          const c = compareValues(leaf.arg, cur);
          if (leaf.op === '$min' ? c >= 0 : c <= 0) return;
        }
        this.setValue(container, key, clone({ v: leaf.arg }).v, path, creating);
        return;
      }
      case '$currentDate': {
        const wantTs = isDocument(leaf.arg) && leaf.arg.$type === 'timestamp';
        const now = Date.now();
        const v = wantTs ? new Timestamp({ t: Math.floor(now / 1000), i: 1 }) : new Date(now);
        this.setValue(container, key, v, path, creating);
        return;
      }
      case '$bit': {
        if (present && bsonType(cur) !== 'int' && bsonType(cur) !== 'long') {
          fail(
            2,
            `Cannot apply $bit to a value of non-integral type.{_id: ${formatValue(this.pre._id)}} has the field ${String(key)} of non-integer type ${bsonType(cur)}`,
          );
        }
        let acc = present ? toBig(cur) : 0n;
        let kind = present ? numKind(cur) : 0;
        for (const [op, v] of Object.entries(leaf.arg as Document)) {
          const b = toBig(v);
          kind = Math.max(kind, numKind(v)) as NumKind;
          acc = op === 'and' ? acc & b : op === 'or' ? acc | b : acc ^ b;
        }
        const r =
          kind === 0
            ? new Int32(Number(BigInt.asIntN(32, acc)))
            : Long.fromBigInt(BigInt.asIntN(64, acc));
        this.setValue(container, key, r, path, creating);
        return;
      }
      case '$push':
        this.push(container, key, leaf.arg, path, creating);
        return;
      case '$addToSet':
        this.addToSet(container, key, leaf.arg, path, creating);
        return;
      case '$pop':
      case '$pull':
      case '$pullAll': {
        if (!present || cur === null) {
          if (present && leaf.op !== '$pop') fail(2, 'Cannot apply $pull to a non-array value');
          return;
        }
        if (!Array.isArray(cur)) {
          if (leaf.op === '$pop')
            fail(14, `Path '${field}' contains an element of non-array type '${bsonType(cur)}'`);
          fail(2, 'Cannot apply $pull to a non-array value');
        }
        let next: unknown[];
        if (leaf.op === '$pop') {
          if (cur.length === 0) return;
          next = toNumber(leaf.arg) === 1 ? cur.slice(0, -1) : cur.slice(1);
        } else if (leaf.op === '$pullAll') {
          const values = leaf.arg as unknown[];
          next = cur.filter((el) => !values.some((v) => valuesEqual(el, v)));
        } else {
          const matches = pullMatcher(leaf.arg);
          next = cur.filter((el) => !matches(el));
        }
        if (next.length === cur.length) return;
        put(container, key, next);
        this.record(container, key, path, true, creating);
        return;
      }
      default:
        fail(9, `Unknown modifier: ${leaf.op}`);
    }
  }

  private push(
    container: Container,
    key: string | number,
    arg: unknown,
    path: PathPart[],
    creating: boolean,
  ): void {
    const present = exists(container, key);
    const cur = get(container, key);
    const mods = isDocument(arg) && '$each' in arg ? arg : { $each: [arg] };
    const values = (mods.$each as unknown[]).map((v) => clone({ v }).v);
    if (present && !Array.isArray(cur)) {
      fail(
        2,
        `The field '${String(key)}' must be an array but is of type ${bsonType(cur)} in document {_id: ${formatValue(this.pre._id)}}`,
      );
    }
    const before = present ? (cur as unknown[]) : [];
    let next = [...before];
    const pos = mods.$position === undefined ? undefined : (toNumber(mods.$position) as number);
    const at =
      pos === undefined
        ? next.length
        : pos < 0
          ? Math.max(next.length + pos, 0)
          : Math.min(pos, next.length);
    next.splice(at, 0, ...values);
    if (mods.$sort !== undefined) {
      const s = mods.$sort;
      if (isDocument(s)) {
        const cmp = compileSort(s);
        next.sort((a, b) => cmp(isDocument(a) ? a : {}, isDocument(b) ? b : {}));
      } else {
        const dir = toNumber(s) === -1 ? -1 : 1;
        next.sort((a, b) => compareValues(a, b) * dir);
      }
    }
    if (mods.$slice !== undefined) {
      const n = toNumber(mods.$slice) as number;
      next = n >= 0 ? next.slice(0, n) : next.slice(Math.max(next.length + n, 0));
    }
    if (!present) {
      put(container, key, next);
      this.record(container, key, path, false, creating);
      return;
    }
    if (binaryEqual(before, next)) return;
    put(container, key, next);
    const appendOnly =
      before.length > 0 &&
      mods.$sort === undefined &&
      mods.$slice === undefined &&
      at === before.length;
    if (appendOnly && !creating) {
      for (let i = before.length; i < next.length; i++)
        this.log.push({ kind: 'update', path: [...path, i] });
      return;
    }
    this.record(container, key, path, true, creating);
  }

  private addToSet(
    container: Container,
    key: string | number,
    arg: unknown,
    path: PathPart[],
    creating: boolean,
  ): void {
    const present = exists(container, key);
    const cur = get(container, key);
    const candidates = (isDocument(arg) && '$each' in arg ? (arg.$each as unknown[]) : [arg]).map(
      (v) => clone({ v }).v,
    );
    const unique: unknown[] = [];
    for (const v of candidates) if (!unique.some((u) => valuesEqual(u, v))) unique.push(v);
    if (!present) {
      put(container, key, unique);
      this.record(container, key, path, false, creating);
      return;
    }
    if (!Array.isArray(cur)) {
      fail(
        2,
        `Cannot apply $addToSet to non-array field. Field named '${String(key)}' has non-array type ${bsonType(cur)}`,
      );
    }
    const added = unique.filter((v) => !cur.some((el) => valuesEqual(el, v)));
    if (added.length === 0) return;
    const start = cur.length;
    cur.push(...added);
    if (!creating)
      for (let i = start; i < cur.length; i++)
        this.log.push({ kind: 'update', path: [...path, i] });
  }
}

function pullMatcher(arg: unknown): (el: unknown) => boolean {
  if (bsonType(arg) === 'regex') {
    const re = toRegExp(arg);
    return (el) => typeof el === 'string' && re.test(el);
  }
  if (isDocument(arg)) {
    const first = Object.keys(arg)[0];
    if (first?.startsWith('$') && !['$and', '$or', '$nor'].includes(first)) {
      const m = compileFilter({ v: arg });
      return (el) => m({ v: el });
    }
    const m = compileFilter(arg);
    return (el) => isDocument(el) && m(el);
  }
  return (el) => valuesEqual(el, arg);
}

function compareFieldNames(a: string, b: string): number {
  // MongoDB 5.0+: numeric names in numeric order, others lexicographically.
  if (isIndex(a) && isIndex(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function get(container: Container, key: string | number): unknown {
  if (Array.isArray(container)) return container[key as number];
  return Object.prototype.hasOwnProperty.call(container, key)
    ? container[key as string]
    : undefined;
}

function exists(container: Container, key: string | number): boolean {
  if (Array.isArray(container)) return (key as number) < container.length;
  return (
    Object.prototype.hasOwnProperty.call(container, key) && container[key as string] !== undefined
  );
}

function put(container: Container, key: string | number, value: unknown): void {
  if (Array.isArray(container)) {
    const i = key as number;
    while (container.length < i) container.push(null);
    container[i] = value;
  } else {
    container[key as string] = value;
  }
}

function logKindForNew(container: Container): 'insert' | 'update' {
  // A new array slot is an array-diff update; a new field is an insert.
  return Array.isArray(container) ? 'update' : 'insert';
}

// ---------------------------------------------------------------- entry point

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
