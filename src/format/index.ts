// Formatters: functions from one change event to its output, one line (no trailing newline; the
// multi-line pretty view returns several). The sink adds the newline and owns stdout; colour and
// width are decided by the caller and passed in.
import { deserialize, type Document } from 'bson';
import { elementsOf } from '../source/batch.js';
import { transcodeDocument } from '../transcode/index.js';
import { canonicalJson } from './canonical.js';
import { relaxedJson } from './json.js';
import { createPrettyFormatter } from './pretty.js';

export type Format = 'pretty' | 'json' | 'canonical';

export const FORMATS: readonly Format[] = ['pretty', 'json', 'canonical'];

export interface FormatOptions {
  format: Format;
  /** Colour for `pretty` only; the JSON formats are never coloured. */
  color: boolean;
  /** IANA zone or 'UTC' for pretty times; default local */
  timeZone?: string;
  /**
   * Pretty only: the terminal's columns, to cut each line to (with '…', long strings and arrays
   * shortened first), or a function read at every event so a resized terminal is followed.
   * Leave it out for whole lines: a pipe, a file, `--wide`. 0 or less, or a function returning
   * undefined (a terminal that reports no size), also means whole lines. Ignored by multiline.
   */
  width?: number | (() => number | undefined);
  /** Pretty only: a header line, then the body indented like mongosh; never cut. */
  multiline?: boolean;
  /** Pretty only: the current time, which decides whether the date is shown (for tests). */
  now?: () => Date;
  /** JSON formats only (--key): prefix each line with `eventKey` and a tab. */
  key?: boolean;
}

/** Returns a function that renders one change event (no trailing newline; see FormatOptions). */
export function createFormatter(opts: FormatOptions): (event: Document) => string {
  switch (opts.format) {
    case 'json':
      return relaxedJson;
    case 'canonical':
      return canonicalJson;
    case 'pretty':
      return createPrettyFormatter(opts);
    default: {
      const unknown: never = opts.format;
      throw new RangeError(`unknown format '${String(unknown)}'`);
    }
  }
}

/** Renders the change event whose BSON document starts at `start` in `bytes` (no newline). */
export type EventFormatter = (bytes: Buffer, start: number) => string;

// Events keep their exact BSON types: pretty prints Int32 vs Double vs Long.
const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

/**
 * The formatter for events as bytes (the hot path): the JSON formats transcode the bytes
 * straight to text in the server's field order; pretty decodes the event and renders it.
 */
export function createEventFormatter(opts: FormatOptions): EventFormatter {
  switch (opts.format) {
    case 'json':
    case 'canonical': {
      const mode = opts.format === 'json' ? 'relaxed' : 'canonical';
      if (opts.key === true) {
        return (bytes, start) =>
          `${eventKey(bytes, start)}\t${transcodeDocument(bytes, start, mode)}`;
      }
      return (bytes, start) => transcodeDocument(bytes, start, mode);
    }
    case 'pretty': {
      const pretty = createFormatter(opts);
      return (bytes, start) =>
        pretty(deserialize(bytes.subarray(start, start + bytes.readInt32LE(start)), EXACT));
    }
    default: {
      const unknown: never = opts.format;
      throw new RangeError(`unknown format '${String(unknown)}'`);
    }
  }
}

/**
 * The key --key prints before an event: its `documentKey` as canonical Extended JSON (one line,
 * no spaces, types exact, so one document always has one key), else its `ns` (drop, rename,
 * dropDatabase, DDL), else `{}` (invalidate). A keyed consumer (kcat -K '\t' into Kafka) then
 * sends every event of a document to one partition, in order.
 */
export function eventKey(bytes: Buffer, start: number): string {
  let ns: number | undefined;
  for (const { name, type, at } of elementsOf(bytes, start)) {
    if (type !== 0x03) continue;
    if (name === 'documentKey') return transcodeDocument(bytes, at, 'canonical');
    if (name === 'ns') ns = at;
  }
  return ns === undefined ? '{}' : transcodeDocument(bytes, ns, 'canonical');
}

export { inspectValue, quote } from './inspect.js';
export { palette, PLAIN } from './style.js';
export type { Palette } from './style.js';
