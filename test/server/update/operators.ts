// Applying an operator update tree to a document, logging what each operator touched the way
// MongoDB's update nodes do (a $set logs its whole path; an append-only $push logs `arr.N`).
import { type Document, Int32, Long, Timestamp } from 'bson';
import { fail } from '../errors.js';
import {
  type Matcher,
  compileFilter,
  compileSort,
  isIndex,
  splitPath,
  toRegExp,
} from '../query/index.js';
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
} from '../values.js';
import type { PathPart } from './describe.js';
import { type NumKind, arith, numKind, toBig, zeroLike } from './numbers.js';
import { CREATORS, type Leaf, type UpdateNode, isPositional } from './parse.js';

/** Options for applying an update to one document. */
export interface ApplyOptions {
  /** `arrayFilters` of the statement. */
  arrayFilters?: Document[];
  /** The document is being inserted by an upsert: `$setOnInsert` applies. */
  inserting?: boolean;
  /** Index the query matched in an array, for the positional `$`. */
  positional?: number;
}

type Container = Document | unknown[];

/** Applies an update tree to an owned copy of a document, recording the change log as it goes. */
export class OperatorApplier {
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
