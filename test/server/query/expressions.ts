// Aggregation expressions: constants and field paths are evaluated here (BSON types kept);
// everything else goes to mingo on a normalised copy.
import type { Document } from 'bson';
import { clone, isDocument, normalize } from '../values.js';
import { runMingo } from './mingo.js';
import { splitPath } from './paths.js';

/** Aggregation expressions with no `$` operator or field path: used as they are (types kept). */
function isConstant(expr: unknown): boolean {
  if (typeof expr === 'string') return !expr.startsWith('$');
  if (Array.isArray(expr)) return expr.every(isConstant);
  if (isDocument(expr))
    return Object.entries(expr).every(([k, v]) => !k.startsWith('$') && isConstant(v));
  return true;
}

/** Field path `$a.b` over a document: arrays of documents yield arrays of values (MongoDB). */
function fieldPathValue(doc: unknown, parts: string[]): unknown {
  let cur: unknown = doc;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (Array.isArray(cur)) {
      const rest = parts.slice(i);
      return cur
        .filter((el) => isDocument(el) || Array.isArray(el))
        .map((el) => fieldPathValue(el, rest))
        .filter((v) => v !== undefined);
    }
    if (!isDocument(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Evaluates an aggregation expression against a document; constants and field paths keep BSON types. */
export function evalExpression(doc: Document, expr: unknown): unknown {
  if (typeof expr === 'string' && expr.startsWith('$') && !expr.startsWith('$$')) {
    const v = fieldPathValue(doc, splitPath(expr.slice(1)));
    return v === undefined ? undefined : clone({ v }).v;
  }
  if (expr === '$$ROOT' || expr === '$$CURRENT') return clone(doc);
  if (isDocument(expr) && Object.keys(expr).length === 1 && '$literal' in expr)
    return expr.$literal;
  if (isConstant(expr))
    return isDocument(expr) || Array.isArray(expr) ? clone({ v: expr }).v : expr;
  if (isDocument(expr) && !Object.keys(expr).some((k) => k.startsWith('$'))) {
    const out: Document = {};
    for (const [k, v] of Object.entries(expr)) {
      const r = evalExpression(doc, v);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  if (Array.isArray(expr)) return expr.map((e) => evalExpression(doc, e) ?? null);
  const [out] = runMingo([normalize(doc) as Document], {
    $project: { _id: 0, v: normalize(expr) },
  });
  return out?.v;
}
