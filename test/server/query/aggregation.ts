// Aggregation pipelines over owned documents: the simple stages run here (BSON types kept),
// the heavier ones ($group, $lookup, ...) on mingo, unsupported ones rejected with MongoDB's codes.
import { type Document, Long } from 'bson';
import { fail } from '../errors.js';
import { bsonType, clone, isDocument, normalize, toNumber } from '../values.js';
import { evalExpression } from './expressions.js';
import { compileFilter } from './filters.js';
import { type PipelineEnv, runMingo } from './mingo.js';
import { getPath, splitPath } from './paths.js';
import { compileProjection, copy } from './projection.js';
import { compileSort } from './sort.js';

/** Stages mingo runs for us (on normalised copies). */
const MINGO_STAGES = new Set([
  '$bucket',
  '$bucketAuto',
  '$densify',
  '$fill',
  '$graphLookup',
  '$group',
  '$lookup',
  '$redact',
  '$sample',
  '$setWindowFields',
  '$sortByCount',
  '$unionWith',
]);

/** Real MongoDB stages the test server does not run. */
const UNSUPPORTED_STAGES = new Set([
  '$collStats',
  '$geoNear',
  '$indexStats',
  '$listSessions',
  '$listLocalSessions',
  '$planCacheStats',
  '$search',
  '$searchMeta',
  '$vectorSearch',
  '$merge',
  '$out',
  '$listSearchIndexes',
  '$changeStreamSplitLargeEvent',
]);

function stageName(stage: unknown): string {
  if (!isDocument(stage))
    fail(40323, 'A pipeline stage specification object must contain exactly one field.');
  const keys = Object.keys(stage);
  if (keys.length !== 1)
    fail(40323, 'A pipeline stage specification object must contain exactly one field.');
  return keys[0] as string;
}

function setPathBroadcast(doc: Document, parts: string[], value: unknown): void {
  const [head, ...rest] = parts as [string, ...string[]];
  if (rest.length === 0) {
    if (value === undefined) delete doc[head];
    else doc[head] = value;
    return;
  }
  const cur = doc[head];
  if (Array.isArray(cur)) {
    for (const el of cur) if (isDocument(el)) setPathBroadcast(el, rest, value);
    return;
  }
  if (!isDocument(cur)) {
    if (value === undefined) return;
    doc[head] = {};
  }
  setPathBroadcast(doc[head] as Document, rest, value);
}

function addFields(doc: Document, spec: Document): Document {
  const out = clone(doc);
  const visit = (prefix: string[], s: Document): void => {
    for (const [k, v] of Object.entries(s)) {
      const parts = [...prefix, ...splitPath(k)];
      if (
        isDocument(v) &&
        Object.keys(v).length > 0 &&
        !Object.keys(v).some((x) => x.startsWith('$'))
      ) {
        const existing = getPath(out, parts);
        if (isDocument(existing) || Array.isArray(existing)) {
          visit(parts, v);
          continue;
        }
      }
      setPathBroadcast(out, parts, evalExpression(doc, v));
    }
  };
  visit([], spec);
  return out;
}

function unsetFields(doc: Document, spec: unknown): Document {
  const paths = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) {
    fail(31002, '$unset specification must be a string or an array containing only string values');
  }
  const out = clone(doc);
  for (const p of paths as string[]) setPathBroadcast(out, splitPath(p), undefined);
  return out;
}

function unwind(docs: Document[], spec: unknown): Document[] {
  const opts: Document = typeof spec === 'string' ? { path: spec } : isDocument(spec) ? spec : {};
  const path = opts.path;
  if (typeof path !== 'string' || !path.startsWith('$')) {
    fail(28818, "path option to $unwind stage should be prefixed with a '$'");
  }
  const parts = splitPath(path.slice(1));
  const preserve = opts.preserveNullAndEmptyArrays === true;
  const indexField =
    typeof opts.includeArrayIndex === 'string' ? opts.includeArrayIndex : undefined;
  const out: Document[] = [];
  for (const doc of docs) {
    const v = getPath(doc, parts);
    if (Array.isArray(v) && v.length > 0) {
      v.forEach((el, i) => {
        const d = clone(doc);
        setPathBroadcast(d, parts, copy(el));
        if (indexField) setPathBroadcast(d, splitPath(indexField), Long.fromNumber(i));
        out.push(d);
      });
    } else if (v !== undefined && v !== null && !Array.isArray(v)) {
      const d = clone(doc);
      if (indexField) setPathBroadcast(d, splitPath(indexField), null);
      out.push(d);
    } else if (preserve) {
      const d = clone(doc);
      if (Array.isArray(v)) setPathBroadcast(d, parts, undefined);
      if (indexField) setPathBroadcast(d, splitPath(indexField), null);
      out.push(d);
    }
  }
  return out;
}

function toCount(v: unknown, what: string): number {
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n) || n < 0)
    fail(15958, `the ${what} must be a non-negative integer`);
  return n;
}

/** The names of the stages `runPipeline` accepts (besides `$changeStream`, handled elsewhere). */
export function isKnownStage(name: string): boolean {
  return (
    MINGO_STAGES.has(name) ||
    UNSUPPORTED_STAGES.has(name) ||
    [
      '$match',
      '$sort',
      '$skip',
      '$limit',
      '$count',
      '$unwind',
      '$project',
      '$unset',
      '$addFields',
      '$set',
      '$replaceRoot',
      '$replaceWith',
      '$facet',
      '$documents',
      '$changeStream',
      '$currentOp',
    ].includes(name)
  );
}

/** Runs an aggregation pipeline over owned documents; returns new documents. */
export function runPipeline(input: Document[], pipeline: unknown[], env?: PipelineEnv): Document[] {
  let docs = input;
  for (const stage of pipeline) {
    const name = stageName(stage);
    const arg = (stage as Document)[name];
    switch (name) {
      case '$match': {
        if (!isDocument(arg)) fail(15959, 'the match filter must be an expression in an object');
        const m = compileFilter(arg);
        docs = docs.filter((d) => m(d));
        break;
      }
      case '$sort': {
        if (!isDocument(arg) || Object.keys(arg).length === 0)
          fail(15976, '$sort stage must have at least one sort key');
        const cmp = compileSort(arg);
        docs = docs
          .map((d, i) => [d, i] as const)
          .sort((a, b) => cmp(a[0], b[0]) || a[1] - b[1])
          .map(([d]) => d);
        break;
      }
      case '$skip':
        docs = docs.slice(toCount(arg, 'skip'));
        break;
      case '$limit': {
        const n = toCount(arg, 'limit');
        if (n === 0) fail(15958, 'the limit must be positive');
        docs = docs.slice(0, n);
        break;
      }
      case '$count': {
        if (typeof arg !== 'string' || arg === '' || arg.startsWith('$') || arg.includes('.')) {
          fail(40156, 'the count field must be a non-empty string');
        }
        docs = docs.length === 0 ? [] : [{ [arg]: docs.length }];
        break;
      }
      case '$unwind':
        docs = unwind(docs, arg);
        break;
      case '$project': {
        const p = compileProjection(arg as Document, false);
        if (p) docs = docs.map((d) => p(d));
        break;
      }
      case '$unset':
        docs = docs.map((d) => unsetFields(d, arg));
        break;
      case '$addFields':
      case '$set':
        if (!isDocument(arg)) fail(40272, `${name} specification stage must be an object`);
        docs = docs.map((d) => addFields(d, arg));
        break;
      case '$replaceRoot':
      case '$replaceWith': {
        const expr = name === '$replaceRoot' ? (isDocument(arg) ? arg.newRoot : undefined) : arg;
        if (name === '$replaceRoot' && expr === undefined)
          fail(40231, 'no newRoot specified for the $replaceRoot stage');
        docs = docs.map((d) => {
          const r = evalExpression(d, expr);
          if (!isDocument(r)) {
            fail(
              40228,
              `'replacement document' must evaluate to an object, but resulting value was: ${r === undefined ? 'MISSING' : String(r)}. Type of resulting value: '${bsonType(r)}'.`,
            );
          }
          return r;
        });
        break;
      }
      case '$facet': {
        if (!isDocument(arg)) fail(15955, 'the $facet specification must be a non-empty object');
        const out: Document = {};
        for (const [k, sub] of Object.entries(arg)) {
          if (!Array.isArray(sub))
            fail(40170, `arguments to $facet must be arrays, ${k} is type ${bsonType(sub)}`);
          out[k] = runPipeline(
            docs.map((d) => clone(d)),
            sub,
            env,
          );
        }
        docs = [out];
        break;
      }
      case '$changeStream':
        fail(40602, '$changeStream is only valid as the first stage in a pipeline');
        break;
      default:
        if (MINGO_STAGES.has(name)) {
          docs = runMingo(
            docs.map((d) => normalize(d) as Document),
            { [name]: normalize(arg) },
            env,
          );
          break;
        }
        if (UNSUPPORTED_STAGES.has(name) || name === '$documents' || name === '$currentOp') {
          fail(2, `${name} is not supported by the test server`);
        }
        fail(40324, `Unrecognized pipeline stage name: '${name}'`);
    }
  }
  return docs;
}
