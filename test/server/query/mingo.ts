// The bridge to mingo: one stage over normalised copies, other collections resolved through the
// pipeline env. Shared by expressions and aggregation, so neither imports the other for it.
import { type Document, Long } from 'bson';
import { Aggregator, Context } from 'mingo';
import { evalExpr } from 'mingo/core';
import { fail } from '../errors.js';
import { normalize } from '../values.js';
import { hashedIndexKey } from './hashed.js';

type ExpressionOp = (obj: unknown, expr: unknown, options: unknown) => unknown;

/**
 * Expression operators that replace mingo's: `$toHashedIndexKey` with MongoDB's hash (mingo has
 * its own), and `$mod` / `$abs` exact on the Long that hash returns (mingo's use JS numbers,
 * which would round a 64-bit hash and put events in the wrong partition: `--partition`).
 * mingo merges a custom context under its built-ins, so the lookup itself is wrapped; every
 * Query and Aggregator in the server, including the change stream's, sees these.
 */
const OVERRIDES: Readonly<Record<string, ExpressionOp>> = {
  $toHashedIndexKey: (obj, expr, options) => hashedIndexKey(evalExpr(obj, expr, options as never)),
  $mod: (obj, expr, options) => {
    const args = evalExpr(obj, expr, options as never);
    if (!Array.isArray(args) || !args.some((a) => a instanceof Long)) return undefined;
    const [a, b] = args.map(toBigInt);
    if (a === undefined || b === undefined || b === 0n) return undefined;
    return fromBigInt(a % b);
  },
  $abs: (obj, expr, options) => {
    const n = evalExpr(obj, expr, options as never);
    if (!(n instanceof Long)) return undefined;
    const v = n.toBigInt();
    return fromBigInt(v < 0n ? -v : v);
  },
};

// Only Long arguments take the exact path; anything else goes to mingo's own operator.
const original = Context.prototype.getOperator;
Context.prototype.getOperator = function getOperator(this: Context, type, name) {
  const mine = type === 'expression' ? OVERRIDES[name] : undefined;
  const theirs = original.call(this, type, name);
  if (mine === undefined) return theirs;
  if (name === '$toHashedIndexKey' || theirs === null) return mine as never;
  return ((obj: unknown, expr: unknown, options: unknown) =>
    mine(obj, expr, options) ?? (theirs as ExpressionOp)(obj, expr, options)) as never;
};

function toBigInt(v: unknown): bigint | undefined {
  if (v instanceof Long) return v.toBigInt();
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

/** A JS number when exact (what normalised documents hold), else a Long. */
function fromBigInt(v: bigint): number | Long {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : Long.fromBigInt(v);
}

/** What pipeline stages need from outside: other collections of the same database. */
export interface PipelineEnv {
  /** Owned copies of a collection's documents (for `$lookup`, `$unionWith`, `$graphLookup`). */
  collection?(name: string): Document[];
}

/** Runs one stage on mingo over normalised documents; a mingo error is a code-2 failure. */
export function runMingo(docs: Document[], stage: Document, env?: PipelineEnv): Document[] {
  const resolver = env?.collection;
  const agg = new Aggregator([stage], {
    collectionResolver: resolver
      ? (name) => resolver(name).map((d) => normalize(d) as Document)
      : undefined,
  });
  try {
    return agg.run(docs) as Document[];
  } catch (e) {
    return fail(2, `${Object.keys(stage)[0] ?? ''} failed: ${(e as Error).message}`);
  }
}
