// Oplog entry → change event, with the fields a real server (6.0–8.0) writes, in its order.
// Pure: the only outside knowledge is `lookups.currentDocument` for `fullDocument: updateLookup`.
// (event-bytes.ts turns the same event into BSON once per entry and options.)
// Order and contents follow the server's ChangeStreamDefaultEventTransformation
// (src/mongo/db/pipeline/change_stream_event_transform.cpp) and the image stages after it:
// `fullDocument` keeps its slot after `wallTime` when an image fills it in later, while
// `fullDocumentBeforeChange` is appended at the end.
import { type Document, Int32, type Timestamp, type UUID } from 'bson';
import { fail } from '../errors.js';
import { entryCache } from './entry-cache.js';
import { EVENT_TOKEN, TOKEN_VERSION, encodeResumeToken, type ResumeToken } from './tokens.js';
import type { OplogEntry } from '../types.js';
import { clone } from '../values.js';

export type FullDocumentMode = 'default' | 'updateLookup' | 'whenAvailable' | 'required';
export type FullDocumentBeforeChangeMode = 'off' | 'whenAvailable' | 'required';

/** The `$changeStream` options that shape events. */
export interface EventOptions {
  fullDocument: FullDocumentMode;
  fullDocumentBeforeChange: FullDocumentBeforeChangeMode;
  showExpandedEvents: boolean;
}

export const DEFAULT_EVENT_OPTIONS: Readonly<EventOptions> = {
  fullDocument: 'default',
  fullDocumentBeforeChange: 'off',
  showExpandedEvents: false,
};

/** What the event builder may ask the rest of the server. */
export interface EventLookups {
  /**
   * The document as it is now, for `updateLookup`: an owned copy, or null when it is gone or
   * the namespace now holds a different collection (another UUID).
   */
  currentDocument(
    db: string,
    coll: string,
    uuid: UUID | undefined,
    documentKey: Document,
  ): Document | null;
}

/** Operation types every stream shows; the rest need `showExpandedEvents`. */
const CLASSIC_TYPES: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'replace',
  'delete',
  'drop',
  'rename',
  'dropDatabase',
  'invalidate',
]);

/** True when the entry creates or drops a view rather than a collection (no collectionUUID). */
function isViewEvent(entry: OplogEntry): boolean {
  return entry.op === 'create' && typeof entry.operationDescription?.viewOn === 'string';
}

/** The change event's operationType for an oplog op (the names match). */
export function operationTypeOf(entry: OplogEntry): string {
  return entry.op;
}

/** rename's `{to, dropTarget?}`: the oplog's rename command minus its source namespace. */
function renameDescription(entry: OplogEntry): Document {
  const desc: Document = { to: { db: entry.to?.db ?? entry.db, coll: entry.to?.coll ?? '' } };
  if (entry.dropTarget) desc.dropTarget = entry.dropTarget;
  return desc;
}

/** The eventIdentifier of a v2 token: `{operationType, documentKey}` or the DDL's description. */
function eventIdentifier(entry: OplogEntry): Document {
  const operationType = operationTypeOf(entry);
  if (entry.documentKey) return { operationType, documentKey: entry.documentKey };
  if (entry.op === 'rename')
    return { operationType, operationDescription: renameDescription(entry) };
  if (entry.operationDescription && entry.op !== 'drop' && entry.op !== 'dropDatabase') {
    return { operationType, operationDescription: entry.operationDescription };
  }
  return { operationType };
}

/**
 * The resume token of the event this entry produces (or of its invalidate). The event's token is
 * encoded once per entry and shared: callers must not modify it.
 */
export function eventToken(entry: OplogEntry, fromInvalidate = false): ResumeToken {
  if (fromInvalidate) return encodeToken(entry, true);
  const cache = entryCache(entry);
  return (cache.token ??= encodeToken(entry, false));
}

function encodeToken(entry: OplogEntry, fromInvalidate: boolean): ResumeToken {
  return encodeResumeToken({
    clusterTime: entry.ts,
    version: TOKEN_VERSION,
    tokenType: EVENT_TOKEN,
    // The operation's place in its applyOps (makeResumeToken, change_stream_event_transform.cpp).
    txnOpIndex: entry.txnOpIndex ?? 0,
    fromInvalidate,
    uuid: entry.uuid ?? null,
    eventIdentifier: eventIdentifier(entry),
  });
}

/** The event's `ns`: `{db, coll}`, or `{db}` for dropDatabase. */
function nsOf(entry: OplogEntry): Document {
  return entry.coll === undefined ? { db: entry.db } : { db: entry.db, coll: entry.coll };
}

/** `{operationType, ns, clusterTime}` as the server quotes an event in image errors. */
function describeForError(operationType: string, ns: Document, clusterTime: Timestamp): string {
  const coll = ns.coll === undefined ? '' : `, coll: "${String(ns.coll)}"`;
  return `{operationType: "${operationType}", ns: {db: "${String(ns.db)}"${coll}}, clusterTime: Timestamp(${clusterTime.t}, ${clusterTime.i})}`;
}

/**
 * Builds the event for one oplog entry, or null when the entry never yields an event with these
 * options (no-ops; DDL events without `showExpandedEvents`). Throws 47 when a `required` image
 * is missing. Scope filtering is the caller's job. The event is an owned copy.
 */
export function buildEvent(
  entry: OplogEntry,
  opts: EventOptions,
  lookups: EventLookups,
): Document | null {
  return assembleEvent(entry, opts, lookups, clone);
}

const share = <T>(v: T): T => v;

/**
 * `buildEvent` without the copies: the event's documents are the entry's own (`fullDocument`
 * is `entry.fullDocument`, `_id` the shared token…). For reading at once, never for keeping or
 * modifying: what the BSON encoder and the user stages' evaluation use.
 */
export function buildEventView(
  entry: OplogEntry,
  opts: EventOptions,
  lookups: EventLookups,
): Document | null {
  return assembleEvent(entry, opts, lookups, share);
}

function assembleEvent(
  entry: OplogEntry,
  opts: EventOptions,
  lookups: EventLookups,
  own: <T extends Document>(doc: T) => T,
): Document | null {
  // An applyOps yields no event of its own: the stream unwinds it into its inner operations.
  if (entry.op === 'noop' || entry.op === 'applyOps') return null;
  const operationType = operationTypeOf(entry);
  if (!opts.showExpandedEvents && !CLASSIC_TYPES.has(operationType)) return null;

  const ev: Document = {};
  // The server adds rename's top-level `to` before it sets `_id` (kept for pre-5.3 clients).
  if (entry.op === 'rename') ev.to = own(renameDescription(entry)).to;
  // An operation unwound from an applyOps (txnOpIndex set) carries `txnNumber` then `lsid` when
  // the entry has them (a transaction, a retryable vectored insert; a batched delete has none).
  // The server adds them before it sets `_id`: addTransactionIdFieldsIfPresent, called ahead of
  // setResumeTokenForEvent in ChangeStreamDefaultEventTransformation::applyTransformation
  // (src/mongo/db/pipeline/change_stream_event_transform.cpp).
  if (entry.txnOpIndex !== undefined) {
    if (entry.txnNumber !== undefined) ev.txnNumber = entry.txnNumber;
    if (entry.lsid !== undefined) ev.lsid = own(entry.lsid);
  }
  ev._id = own(eventToken(entry) as Document);
  ev.operationType = operationType;
  ev.clusterTime = entry.ts;
  if (opts.showExpandedEvents && entry.uuid && !isViewEvent(entry)) ev.collectionUUID = entry.uuid;
  ev.wallTime = own === share ? entry.wall : new Date(entry.wall.getTime());

  const ns = nsOf(entry);
  const wantsPreImage =
    opts.fullDocumentBeforeChange !== 'off' &&
    (entry.op === 'update' || entry.op === 'replace' || entry.op === 'delete');
  const imagesAvailable = entry.imagesEnabled === true;

  switch (entry.op) {
    case 'insert':
    case 'replace':
      ev.fullDocument = entry.fullDocument ? own(entry.fullDocument) : null;
      break;
    case 'update':
      if (opts.fullDocument !== 'default') ev.fullDocument = null; // keeps its slot; filled below
      break;
    default:
      break;
  }
  ev.ns = ns;
  if (entry.documentKey) ev.documentKey = own(entry.documentKey);

  if (entry.op === 'rename') {
    if (opts.showExpandedEvents) ev.operationDescription = own(renameDescription(entry));
  } else if (!CLASSIC_TYPES.has(operationType)) {
    ev.operationDescription = own(entry.operationDescription ?? {});
  }

  if (entry.op === 'update') {
    ev.updateDescription = updateDescriptionOf(entry, opts.showExpandedEvents, own);
    if (opts.fullDocument === 'updateLookup') {
      ev.fullDocument = lookups.currentDocument(
        entry.db,
        entry.coll ?? '',
        entry.uuid,
        entry.documentKey ?? {},
      );
    } else if (opts.fullDocument !== 'default') {
      // whenAvailable / required: the post-image stored with the write, if images were on.
      if (imagesAvailable && entry.fullDocument) ev.fullDocument = own(entry.fullDocument);
      else if (opts.fullDocument === 'required') {
        fail(
          47,
          'Change stream was configured to require a post-image for all update events, but the ' +
            `post-image was not found for event: ${describeForError(operationType, ns, entry.ts)}`,
        );
      }
    }
  }

  // Last for a modify (after where updateDescription goes): the options before the collMod,
  // from its o2 (`doc.addField(kStateBeforeChangeField, …)`, change_stream_event_transform.cpp).
  if (entry.op === 'modify' && entry.stateBeforeChange) {
    ev.stateBeforeChange = own(entry.stateBeforeChange);
  }

  if (wantsPreImage) {
    if (imagesAvailable && entry.preImage) ev.fullDocumentBeforeChange = own(entry.preImage);
    else if (opts.fullDocumentBeforeChange === 'required') {
      fail(
        47,
        'Change stream was configured to require a pre-image for all update, delete and replace ' +
          `events, but the pre-image was not found for event: ${describeForError(operationType, ns, entry.ts)}`,
      );
    } else ev.fullDocumentBeforeChange = null;
  }
  return ev;
}

/** The invalidate event that follows `trigger` (a drop, rename or dropDatabase). */
export function buildInvalidate(trigger: OplogEntry): Document {
  return {
    _id: eventToken(trigger, true),
    operationType: 'invalidate',
    clusterTime: trigger.ts,
    wallTime: new Date(trigger.wall.getTime()),
  };
}

function updateDescriptionOf(
  entry: OplogEntry,
  expanded: boolean,
  own: <T extends Document>(doc: T) => T,
): Document {
  const desc = entry.updateDescription ?? {
    updatedFields: {},
    removedFields: [],
    truncatedArrays: [],
  };
  const out: Document = {
    updatedFields: own(desc.updatedFields),
    removedFields: [...desc.removedFields],
    truncatedArrays: desc.truncatedArrays.map((t) => ({
      field: t.field,
      newSize: new Int32(t.newSize),
    })),
  };
  // 6.1+ writes disambiguatedPaths (possibly empty) only for expanded-event streams.
  if (expanded) out.disambiguatedPaths = disambiguatedPaths(entry, desc);
  return out;
}

type PathPart = string | number;

/**
 * Splits a dotted update path into its real components by walking `root`: numeric components
 * inside arrays are indices; a field name that itself contains dots is matched whole.
 */
export function resolvePath(path: string, root: unknown): PathPart[] {
  const parts = path.split('.');
  const out: PathPart[] = [];
  let node: unknown = root;
  let i = 0;
  while (i < parts.length) {
    const part = parts[i] as string;
    if (Array.isArray(node) && /^(0|[1-9]\d*)$/.test(part)) {
      out.push(Number(part));
      node = node[Number(part)];
      i++;
      continue;
    }
    let key = part;
    let next = i + 1;
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const obj = node as Document;
      // Prefer the longest run of components that names an existing (dotted) field.
      for (let j = parts.length; j > i + 1; j--) {
        const candidate = parts.slice(i, j).join('.');
        if (Object.prototype.hasOwnProperty.call(obj, candidate)) {
          key = candidate;
          next = j;
          break;
        }
      }
      node = obj[key];
    } else {
      node = undefined;
    }
    out.push(key);
    i = next;
  }
  return out;
}

/** A path needs disambiguation when a field name (not the first) is numeric, or has a dot. */
function isAmbiguous(parts: PathPart[]): boolean {
  return parts.some(
    (p, idx) => typeof p === 'string' && ((idx > 0 && /^(0|[1-9]\d*)$/.test(p)) || p.includes('.')),
  );
}

function disambiguatedPaths(
  entry: OplogEntry,
  desc: NonNullable<OplogEntry['updateDescription']>,
): Document {
  const out: Document = {};
  const add = (path: string, root: unknown): void => {
    const parts = resolvePath(path, root);
    if (isAmbiguous(parts))
      out[path] = parts.map((p) => (typeof p === 'number' ? new Int32(p) : p));
  };
  for (const path of Object.keys(desc.updatedFields)) add(path, entry.fullDocument);
  for (const path of desc.removedFields) add(path, entry.preImage);
  for (const t of desc.truncatedArrays) add(t.field, entry.fullDocument);
  return out;
}
