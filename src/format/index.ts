// Formatters: pure functions from one change event to one line of output (no trailing newline).
// The sink adds the newline and owns stdout; colour is decided by the caller and passed in.
import type { Document } from 'bson';
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

export { inspectValue, quote } from './inspect.js';
export { palette, PLAIN } from './style.js';
export type { Palette } from './style.js';
