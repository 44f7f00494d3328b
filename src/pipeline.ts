// TailOptions → the stages after $changeStream and the watch options. The start position is
// not part of it: the source adds resumeAfter/startAfter/startAtOperationTime each time it
// opens the stream.
import type { Document } from 'bson';
import type { ChangeStreamOptions } from 'mongodb';
import type { Partition, TailOptions } from './options.js';

/** What to pass to `watch()` besides the start position. */
export interface WatchSpec {
  pipeline: Document[];
  options: ChangeStreamOptions;
  /**
   * Invalidate events always reach the tailer (it must see them to follow a dropped
   * collection); this says whether to print them.
   */
  printInvalidate: boolean;
  /** Notes for stderr about choices made for the user. */
  notes: string[];
}

const UNTIL_NOW_MAX_AWAIT_MS = 200;
/** The server's await time for a getMore when none is sent. */
const DEFAULT_AWAIT_MS = 1000;

/** Operation types that carry a document --filter can look at. */
const DOCUMENT_OPS = ['insert', 'update', 'replace'];

/** Builds the watch pipeline and options; pure. */
export function buildWatch(opts: TailOptions): WatchSpec {
  const pipeline: Document[] = [];
  const notes: string[] = [];
  const options: ChangeStreamOptions = {};

  if (opts.target.nsMatch !== undefined) pipeline.push(opts.target.nsMatch);

  let printInvalidate = true;
  if (opts.ops !== undefined) {
    printInvalidate = opts.ops.includes('invalidate');
    const wanted = printInvalidate ? opts.ops : [...opts.ops, 'invalidate'];
    pipeline.push({ $match: { operationType: { $in: wanted } } });
  }
  // Before --pipeline, which may reshape documentKey; invalidate reaches every tailer (each
  // must see its stream end) but is printed by partition 0 only, like other keyless events.
  if (opts.partition !== undefined) {
    pipeline.push(partitionStage(opts.partition));
    if (opts.partition.index !== 0) printInvalidate = false;
  }

  let fullDocument = opts.fullDocument;
  if (opts.filter !== undefined) {
    if (fullDocument === undefined) {
      fullDocument = 'updateLookup';
      notes.push(
        '--filter matches fullDocument, which update events only carry with a full-document ' +
          'mode: using --full-document updateLookup',
      );
    } else if (fullDocument === 'default') {
      notes.push(
        '--filter with --full-document default: update events carry no fullDocument and never match',
      );
    }
    const preImages =
      opts.fullDocumentBeforeChange === 'whenAvailable' ||
      opts.fullDocumentBeforeChange === 'required';
    pipeline.push(filterStage(opts.filter, preImages));
  }
  if (opts.match !== undefined) pipeline.push({ $match: opts.match });
  pipeline.push(...opts.pipeline);
  // Must be the last stage; mongo-tail puts the fragments back together before printing. A
  // --pipeline that already ends with it is not given a second one (the server refuses two).
  const last = opts.pipeline.at(-1);
  const userSplits = last !== undefined && '$changeStreamSplitLargeEvent' in last;
  if (opts.splitLargeEvents && !userSplits) pipeline.push({ $changeStreamSplitLargeEvent: {} });
  if (userSplits) {
    notes.push(
      '--pipeline ends with $changeStreamSplitLargeEvent: the fragments of large events are ' +
        'printed as one event (as with --split-large-events)',
    );
  }

  if (fullDocument !== undefined) options.fullDocument = fullDocument;
  if (opts.fullDocumentBeforeChange !== undefined) {
    options.fullDocumentBeforeChange = opts.fullDocumentBeforeChange;
  }
  if (opts.expanded) options.showExpandedEvents = true;
  if (opts.batchSize !== undefined) options.batchSize = opts.batchSize;
  if (opts.maxAwaitMs !== undefined) options.maxAwaitTimeMS = opts.maxAwaitMs;
  // "Catch up and exit" learns it is done from an empty batch: do not let the server hold
  // that batch for its default second.
  else if (opts.until?.kind === 'now') options.maxAwaitTimeMS = UNTIL_NOW_MAX_AWAIT_MS;
  // --idle-timeout counts only time the server answered for (an empty batch proves nothing
  // came): a shorter await than the server's default second keeps a short timeout timely.
  else if (opts.idleTimeoutMs !== undefined && opts.idleTimeoutMs < 2 * DEFAULT_AWAIT_MS) {
    options.maxAwaitTimeMS = Math.max(50, Math.floor(opts.idleTimeoutMs / 2));
  }
  return { pipeline, options, printInvalidate, notes };
}

/**
 * --partition i/N, decided by the server: the events whose `documentKey._id` hashes (MongoDB's
 * hashed-index hash, `$toHashedIndexKey`) to i modulo N, so every event of one document goes to
 * the same tailer, in order. The hash is a signed 64-bit number: `$mod` keeps its sign, `$abs`
 * folds it (the remainder is small, so no overflow). Events without a document key (drop,
 * rename, dropDatabase, DDL) go to partition 0; invalidate goes to all (see buildWatch).
 */
export function partitionStage({ index, count }: Partition): Document {
  const hashed = { $abs: { $mod: [{ $toHashedIndexKey: '$documentKey._id' }, count] } };
  return {
    $match: {
      $or: [
        { operationType: 'invalidate' },
        {
          $expr: {
            $cond: [
              { $eq: [{ $type: '$documentKey._id' }, 'missing'] },
              index === 0,
              { $eq: [hashed, index] },
            ],
          },
        },
      ],
    },
  };
}

/**
 * --filter semantics, per operation type:
 * - insert, replace, update: the filter is matched against `fullDocument` (for update, the
 *   document after the change: looked up now with updateLookup, the stored post-image with
 *   whenAvailable/required; an update whose document is gone has `fullDocument: null` and
 *   does not match);
 * - delete: matched against the pre-image `fullDocumentBeforeChange` when a pre-image mode is
 *   on, otherwise a delete never matches (it only carries the key);
 * - every other event (drop, rename, dropDatabase, invalidate, DDL) passes: it is not about a
 *   document. Use --ops to drop those.
 */
export function filterStage(filter: Document, preImages: boolean): Document {
  const or: Document[] = [
    { $and: [{ operationType: { $in: DOCUMENT_OPS } }, prefixFilter(filter, 'fullDocument')] },
  ];
  if (preImages) {
    or.push({
      $and: [{ operationType: 'delete' }, prefixFilter(filter, 'fullDocumentBeforeChange')],
    });
  }
  or.push({ operationType: { $nin: [...DOCUMENT_OPS, 'delete'] } });
  return { $match: { $or: or } };
}

/** Re-roots a query filter under `root`: `{a: 1}` → `{'root.a': 1}`, recursing into $and/$or/$nor. */
export function prefixFilter(filter: Document, root: string): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      out[key] = (value as Document[]).map((part) => prefixFilter(part, root));
    } else if (key.startsWith('$')) {
      // $comment and friends do not name fields.
      out[key] = value;
    } else {
      out[`${root}.${key}`] = value;
    }
  }
  return out;
}
