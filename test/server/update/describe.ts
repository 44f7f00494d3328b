// The change log → `updateDescription`: what operators (or a diff) touched, as a tree in the
// shape of a v2 delta oplog entry, flattened into dotted updatedFields/removedFields/truncatedArrays.
import type { Document } from 'bson';
import { clone } from '../values.js';

/** `updateDescription` as change events show it. */
export interface UpdateDescription {
  updatedFields: Document;
  removedFields: string[];
  truncatedArrays: { field: string; newSize: number }[];
}

/** A logged path component: a field name or an array index. */
export type PathPart = string | number;

/** A document node of the diff tree (v2 delta entry layout). */
export interface DiffDoc {
  kind: 'doc';
  updates: [string, unknown][];
  inserts: [string, unknown][];
  deletes: string[];
  children: Map<string, DiffDoc | DiffArray>;
}

/** An array node of the diff tree: new size and changed entries. */
export interface DiffArray {
  kind: 'array';
  resize?: number;
  entries: Map<number, { value: unknown } | DiffDoc | DiffArray>;
}

/** An empty document node. */
export function newDoc(): DiffDoc {
  return { kind: 'doc', updates: [], inserts: [], deletes: [], children: new Map() };
}

/** An empty array node. */
export function newArray(): DiffArray {
  return { kind: 'array', entries: new Map() };
}

/** Flattens a diff tree into `updateDescription`, in the order the server reads a v2 diff. */
export function describe(root: DiffDoc): UpdateDescription {
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
export function treeFromLog(
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
