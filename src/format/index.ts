// Formatters: pure functions from one change event to one line of output (no trailing newline).
// The sink adds the newline and owns stdout; colour is decided by the caller and passed in.
import { deserialize, type Document } from 'bson';
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
}

/** Returns a function that renders one change event as ONE line (no trailing newline). */
export function createFormatter(opts: FormatOptions): (event: Document) => string {
  switch (opts.format) {
    case 'json':
      return relaxedJson;
    case 'canonical':
      return canonicalJson;
    case 'pretty':
      return createPrettyFormatter({ color: opts.color, timeZone: opts.timeZone });
    default: {
      const unknown: never = opts.format;
      throw new RangeError(`unknown format '${String(unknown)}'`);
    }
  }
}

/** Renders the change event whose BSON document starts at `start` in `bytes` as ONE line. */
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
      return (bytes, start) => transcodeDocument(bytes, start, 'relaxed');
    case 'canonical':
      return (bytes, start) => transcodeDocument(bytes, start, 'canonical');
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

export { inspectValue, quote } from './inspect.js';
export { palette, PLAIN } from './style.js';
export type { Palette } from './style.js';
