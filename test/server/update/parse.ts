// Parsing an update's `u`: operator documents validated (paths, arguments, conflicts) into a
// tree applied in field-name order; replacement documents and pipelines recognised as such.
import type { Document } from 'bson';
import { fail } from '../errors.js';
import { splitPath } from '../query/index.js';
import { bsonType, formatValue, isDocument, isNumeric, toNumber } from '../values.js';

/** A parsed `u` of an update statement. */
export type ParsedUpdate =
  | { kind: 'operators'; tree: UpdateNode; identifiers: Set<string>; spec: Document }
  | { kind: 'replacement'; doc: Document }
  | { kind: 'pipeline'; stages: Document[] };

/** One operator at the end of an update path. */
export interface Leaf {
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
export const CREATORS = new Set([
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

/** True for `$`, `$[]` and `$[id]` path components. */
export function isPositional(part: string): boolean {
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
