// `--format pretty`: one readable line per event, for a person at a terminal:
//   14:03:07.412 insert        shop.orders ObjectId('65a1…') { item: 'pen', qty: 2 }
//   14:03:08.001 update        shop.orders ObjectId('65a1…') $set { qty: 3 } $unset [note]
//   14:03:09.120 rename        shop.orders → shop.archive
// clock (wallTime, else clusterTime; with the date when not today) · operation (fixed width,
// coloured per type) · namespace (padded) · key · body. With a `width` (a terminal) each line is
// cut to it with '…', long strings and arrays shortened first; without one (a pipe, a file,
// --wide) lines print whole. `multiline` prints a header line and the body indented like mongosh.
import type { Document } from 'bson';
import { inspectBlock } from './block.js';
import {
  bsonType,
  escapeControl,
  inspectDocument,
  inspectValue,
  WHOLE,
  type InspectLimits,
} from './inspect.js';
import './color.js';
import { palette } from './style.js';
import type { Palette } from './style.js';
import { createClock } from './time.js';
import {
  changeText,
  formatUpdate,
  removalText,
  truncationText,
  updateChanges,
  type ShowValue,
} from './update.js';
import { fitWidth, visibleWidth } from './width.js';

/**
 * Width of the operation column: every classic type ('dropDatabase') and createIndexes, the
 * DDL event people meet most. Rarer, longer names (refineCollectionShardKey, …) print whole and
 * push their own line to the right: cutting them would hide which event it was.
 */
const OP_WIDTH = 13;

/**
 * The namespace column grows to the longest namespace seen so far, up to this: a few long
 * names must not eat an 80-column line (a longer one prints whole, unpadded).
 */
const NS_MAX_PAD = 24;

/** When a line must fit a terminal: long strings and arrays give way to the fields after them. */
const FIT_LIMITS: InspectLimits = { maxString: 60, maxItems: 10 };

export interface PrettyOptions {
  color: boolean;
  /** 'UTC' or an IANA zone for the clock; the local zone when absent. */
  timeZone?: string;
  /**
   * Terminal columns to fit each line into, or a function read at every event (so a resized
   * terminal is followed); absent, 0 or less: print whole (pipes, files, --wide).
   */
  width?: number | (() => number | undefined);
  /** A header line, then the body over several lines; a blank line between events. */
  multiline?: boolean;
  /** The current time, which decides whether the date is shown (tests inject it). */
  now?: () => Date;
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

/** A section of the body: a label (may be '') and its value, on one line or as a block. */
interface Section {
  label: string;
  /** A document: one line, or a block with one field per line. */
  doc?: Record<string, unknown>;
  /** Anything else, already rendered for the line and for the block. */
  line?: string;
  block?: string;
}

/** The parts of an event's body, shared by the one-line and the multi-line view. */
function bodySections(
  e: Document,
  op: string,
  p: Palette,
  limits: InspectLimits,
  block: boolean,
): Section[] {
  const pre = isRecord(e.fullDocumentBeforeChange) ? e.fullDocumentBeforeChange : undefined;
  const was: Section[] = pre ? [{ label: 'was', doc: pre }] : [];
  switch (op) {
    case 'insert':
    case 'replace': {
      const doc: Section[] = isRecord(e.fullDocument) ? [{ label: '', doc: e.fullDocument }] : [];
      return [...doc, ...was];
    }
    case 'update': {
      const sections = block ? updateSections(e, pre, p) : [];
      if (!block) {
        const line = formatUpdate(e.updateDescription, pre, p, limits);
        if (line) sections.push({ label: '', line });
      }
      // A post-image or updateLookup: the whole document after the change (null when there is
      // none: the document is gone, or no post-image was stored).
      if (isRecord(e.fullDocument)) sections.push({ label: 'now', doc: e.fullDocument });
      else if (e.fullDocument === null) sections.push({ label: 'now', line: p.dim('(none)') });
      return sections;
    }
    case 'delete':
      return was;
    case 'rename': {
      const desc = isRecord(e.operationDescription) ? e.operationDescription : {};
      const to = namespaceText(e.to ?? desc.to);
      return to ? [{ label: block ? 'to' : '→', line: p.strong(to) }] : [];
    }
    case 'drop':
    case 'dropDatabase':
      return [];
    case 'invalidate':
      return [{ label: '', line: p.op(op)('── stream invalidated ──') }];
    default: {
      // DDL events (create, createIndexes, modify, …) describe themselves.
      const desc = e.operationDescription;
      if (desc === undefined) return [];
      if (isRecord(desc)) return [{ label: '', doc: desc }];
      return [
        { label: '', line: inspectValue(desc, p, 0, limits), block: inspectBlock(desc, p, 2) },
      ];
    }
  }
}

/** An update over several lines: `$set: {` one change per line `}`, `$unset: [ … ]`. */
function updateSections(
  e: Document,
  pre: Record<string, unknown> | undefined,
  p: Palette,
): Section[] {
  const changes = updateChanges(e.updateDescription, pre);
  if (!changes) return [];
  // A value continues at the change's indentation (4, under `$set: {`); its first line starts
  // after `key: before → `, about 24 columns in.
  const show: ShowValue = (v) => inspectBlock(v, p, 4, 4 + 24);
  const inner = (items: string[], open: string, close: string): string =>
    `${open}\n    ${items.join(',\n    ')}\n  ${close}`;
  const sections: Section[] = [];
  if (changes.set.length > 0) {
    const items = changes.set.map((c) => changeText(c, show, p));
    sections.push({ label: '$set', block: inner(items, '{', '}') });
  }
  if (changes.unset.length > 0) {
    const items = changes.unset.map((r) => removalText(r, show, p));
    const line = `[ ${items.join(', ')} ]`;
    sections.push({
      label: '$unset',
      block: visibleWidth(line) <= 70 && !line.includes('\n') ? line : inner(items, '[', ']'),
    });
  }
  if (changes.truncated.length > 0) {
    const items = changes.truncated.map((t) => truncationText(t, show, p));
    sections.push({ label: 'truncated', block: `[ ${items.join(', ')} ]` });
  }
  return sections;
}

/** Renders events for one run: palette, clock and the namespace column's width live here. */
class PrettyPrinter {
  private readonly p: Palette;
  private readonly clock: (d: Date) => string;
  private readonly width: () => number | undefined;
  private nsWidth = 0;
  private printed = 0;

  constructor(opts: PrettyOptions) {
    this.p = palette(opts.color);
    this.clock = createClock(opts.timeZone, opts.now);
    const { width } = opts;
    this.width = typeof width === 'function' ? width : () => width;
  }

  /** time · op · namespace · key · tags, the columns padded; ends in a space when padded. */
  private header(e: Document, op: string): string[] {
    const { p } = this;
    const parts = [
      p.dim(this.clock(eventTime(e))),
      p.op(op)(escapeControl(op)) + ' '.repeat(Math.max(0, OP_WIDTH - op.length)),
    ];
    const ns = namespaceText(e.ns);
    if (ns) {
      const w = visibleWidth(ns);
      if (w <= NS_MAX_PAD) this.nsWidth = Math.max(this.nsWidth, w);
      parts.push(p.strong(ns) + ' '.repeat(Math.max(0, this.nsWidth - w)));
    }
    const key = keyText(e.documentKey, p);
    if (key) parts.push(key);
    const txn = transactionTag(e);
    if (txn) parts.push(p.dim(txn));
    if (isRecord(e.splitEvent)) {
      const { fragment, of } = e.splitEvent;
      parts.push(p.dim(`[fragment ${inspectValue(fragment)}/${inspectValue(of)}]`));
    }
    return parts;
  }

  /** One event as one line (cut to the width, if any). */
  line(e: Document): string {
    const op = typeof e.operationType === 'string' ? e.operationType : '?';
    const { p } = this;
    const w = this.width();
    // A terminal that reports no size (0) gets whole lines rather than empty ones.
    const width = w !== undefined && Number.isFinite(w) && w >= 1 ? w : undefined;
    const limits = width === undefined ? WHOLE : FIT_LIMITS;
    const parts = this.header(e, op);
    for (const s of bodySections(e, op, p, limits, false)) {
      const value = s.doc ? inspectDocument(s.doc, p, ['_id'], limits) : (s.line ?? '');
      parts.push(s.label ? `${p.dim(s.label)} ${value}` : value);
    }
    // Padding after a column is trailing whitespace when nothing follows it.
    const line = parts.join(' ').trimEnd();
    return width === undefined ? line : fitWidth(line, width);
  }

  /** One event as a header line and its body indented two spaces, one field per line. */
  block(e: Document): string {
    const op = typeof e.operationType === 'string' ? e.operationType : '?';
    const { p } = this;
    const lines = [this.header(e, op).join(' ').trimEnd()];
    for (const s of bodySections(e, op, p, WHOLE, true)) {
      const label = s.label ? `${p.dim(`${s.label}:`)} ` : '';
      let value: string;
      if (s.doc) {
        const fields = Object.fromEntries(Object.entries(s.doc).filter(([k]) => k !== '_id'));
        value = inspectBlock(fields, p, 2, 2, true);
      } else {
        value = s.block ?? s.line ?? '';
      }
      lines.push(`  ${label}${value}`);
    }
    // A blank line before every event but the first separates them (the sink ends each one).
    return (this.printed++ === 0 ? '' : '\n') + lines.join('\n');
  }
}

/** The pretty formatter for one run: palette, clock and column widths are kept across events. */
export function createPrettyFormatter(opts: PrettyOptions): (event: Document) => string {
  const printer = new PrettyPrinter(opts);
  return opts.multiline === true ? (e) => printer.block(e) : (e) => printer.line(e);
}
