// `--format pretty`: one readable line per event, for a person at a terminal:
//   14:03:07.412 insert       shop.orders ObjectId('65a1…') { item: 'pen', qty: 2 }
//   14:03:08.001 update       shop.orders ObjectId('65a1…') $set { qty: 3 } $unset [note]
//   14:03:09.120 rename       shop.orders → shop.archive
// clock (wallTime, else clusterTime) · operation (fixed width, coloured per type) · namespace ·
// key · body. Always exactly one line; a long document is left to the terminal to wrap.
import type { Document } from 'bson';
import { bsonType, escapeControl, inspectDocument, inspectValue } from './inspect.js';
import './color.js';
import { palette } from './style.js';
import type { Palette } from './style.js';
import { createClock } from './time.js';
import { formatUpdate } from './update.js';

/** Width of the operation column: fits every classic type ('dropDatabase', 'invalidate'). */
const OP_WIDTH = 12;

export interface PrettyOptions {
  color: boolean;
  /** 'UTC' or an IANA zone for the clock; the local zone when absent. */
  timeZone?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && bsonType(v) === undefined;
}

/** When the event happened: wallTime (ms precision) if present, else the clusterTime second. */
function eventTime(e: Document): Date {
  if (e.wallTime instanceof Date) return e.wallTime;
  if (bsonType(e.clusterTime) === 'Timestamp') {
    return new Date(Number((e.clusterTime as { t: number }).t) * 1000);
  }
  return new Date(NaN);
}

/** `db.coll`, or `db` for database-level events; '' when there is no namespace. */
function namespaceText(ns: unknown): string {
  if (!isRecord(ns) || ns.db === undefined) return '';
  const db = String(ns.db);
  return escapeControl(ns.coll === undefined ? db : `${db}.${String(ns.coll)}`);
}

/** The `_id` alone when it is the whole key, else the full documentKey (sharded collections). */
function keyText(documentKey: unknown, p: Palette): string {
  if (!isRecord(documentKey)) return '';
  const keys = Object.keys(documentKey);
  if (keys.length === 1 && keys[0] === '_id') return inspectValue(documentKey._id, p);
  return inspectValue(documentKey, p);
}

function bodyText(e: Document, op: string, p: Palette): string {
  const pre = isRecord(e.fullDocumentBeforeChange) ? e.fullDocumentBeforeChange : undefined;
  const was = pre ? `${p.dim('was')} ${inspectDocument(pre, p, ['_id'])}` : '';
  switch (op) {
    case 'insert':
    case 'replace': {
      const doc = isRecord(e.fullDocument) ? inspectDocument(e.fullDocument, p, ['_id']) : '';
      return [doc, was].filter(Boolean).join(' ');
    }
    case 'update':
      return formatUpdate(e.updateDescription, pre, p);
    case 'delete':
      return was;
    case 'rename': {
      const desc = isRecord(e.operationDescription) ? e.operationDescription : {};
      const to = namespaceText(e.to ?? desc.to);
      return to ? `${p.dim('→')} ${p.strong(to)}` : '';
    }
    case 'drop':
    case 'dropDatabase':
      return '';
    case 'invalidate':
      return p.op(op)('── stream invalidated ──');
    default:
      // DDL events (create, createIndexes, modify, …) describe themselves.
      return e.operationDescription === undefined ? '' : inspectValue(e.operationDescription, p);
  }
}

/**
 * `[txn 7·a1b2c3]` for an event written by a transaction or a retryable write (MongoDB 8.0
 * batches an insertMany that way too): its `txnNumber` and the start of its session id, so a
 * person sees which events were written together.
 */
function transactionTag(e: Document): string {
  if (e.txnNumber === undefined || !isRecord(e.lsid)) return '';
  const id = e.lsid.id as { buffer?: Uint8Array } | undefined;
  const session =
    id?.buffer instanceof Uint8Array ? Buffer.from(id.buffer).toString('hex').slice(0, 6) : '';
  const number = String(e.txnNumber as { toString(): string });
  return session ? `[txn ${number}·${session}]` : `[txn ${number}]`;
}

/** Renders one event; `clock` prints the time column. */
export function prettyLine(e: Document, p: Palette, clock: (d: Date) => string): string {
  const op = typeof e.operationType === 'string' ? e.operationType : '?';
  const parts = [
    p.dim(clock(eventTime(e))),
    p.op(op)(escapeControl(op)) + ' '.repeat(Math.max(0, OP_WIDTH - op.length)),
  ];
  const ns = namespaceText(e.ns);
  if (ns) parts.push(p.strong(ns));
  const key = keyText(e.documentKey, p);
  if (key) parts.push(key);
  const txn = transactionTag(e);
  if (txn) parts.push(p.dim(txn));
  if (isRecord(e.splitEvent)) {
    const { fragment, of } = e.splitEvent;
    parts.push(p.dim(`[fragment ${inspectValue(fragment)}/${inspectValue(of)}]`));
  }
  const body = bodyText(e, op, p);
  if (body) parts.push(body);
  // Padding after the operation is trailing whitespace when nothing follows it.
  return parts.join(' ').trimEnd();
}

/** The pretty formatter for one run: palette and clock are built once. */
export function createPrettyFormatter(opts: PrettyOptions): (event: Document) => string {
  const p = palette(opts.color);
  const clock = createClock(opts.timeZone);
  return (event) => prettyLine(event, p, clock);
}
