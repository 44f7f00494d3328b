// Points in time for --since and --until: an ISO date-time, a time of day today (`12:03`),
// epoch seconds or milliseconds, a `T,I` cluster timestamp, a duration ago (`15m`), or (for
// --until) `now`. Cluster times have one-second resolution plus an increment, so a wall-clock
// time names a whole second; where the user wrote a fraction of a second, `ms` keeps it, and the
// tail loop compares it with the events' `wallTime` inside that second (issue 9).
import { Timestamp } from 'bson';
import { DurationError, parseDuration, quoted } from './duration.js';

const MAX_UINT32 = 0xffff_ffff;
/** The latest time a JavaScript Date can hold, in epoch milliseconds. */
const MAX_DATE_MS = 8.64e15;

/**
 * The instant a user gave to the millisecond (or finer), as epoch milliseconds, the resolution
 * of an event's `wallTime`: `since` rounds a finer fraction up (the first wallTime at or after
 * it), `until` rounds it down (the last wallTime at or before it).
 */
export interface WallBounds {
  since: number;
  until: number;
}

/** A point in time as the user gave it, resolved against the clock. */
export type When =
  | { kind: 'now' }
  /** An exact cluster time (`T,I`). */
  | { kind: 'timestamp'; ts: Timestamp }
  /**
   * A wall-clock time; `seconds` is its epoch second. `ms`: a fraction of a second was given.
   * `form` says how it was written when the caller has something to say about it.
   */
  | {
      kind: 'date';
      date: Date;
      seconds: number;
      ms?: WallBounds;
      form?: 'time-of-day' | 'epoch-ms';
    };

/** Why a time could not be parsed; the caller names the flag. */
export class WhenError extends Error {}

const TIME_OF_DAY = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** Parses one --since/--until value; `now` is the current wall-clock time. */
export function parseWhen(text: string, now: Date): When {
  const input = text.trim();
  if (input === '') throw new WhenError('empty time');
  if (input.toLowerCase() === 'now') return { kind: 'now' };

  const pair = /^(\d+),(\d+)$/.exec(input);
  if (pair) {
    const t = Number(pair[1]);
    const i = Number(pair[2]);
    if (t > MAX_UINT32 || i > MAX_UINT32) {
      throw new WhenError(`${quoted(text)}: both parts of T,I must be below 2^32`);
    }
    return { kind: 'timestamp', ts: new Timestamp({ t, i }) };
  }

  // 13 digits cannot be epoch seconds (those end in 2106 with 10 digits) but are what
  // Date.now() and most logs print: epoch milliseconds from 2001 to 2286.
  if (/^\d{13}$/.test(input)) {
    const ms = Number(input);
    return { ...fromDate(new Date(ms), text, { since: ms, until: ms }), form: 'epoch-ms' };
  }
  const epoch = /^(\d+)(?:\.(\d+))?$/.exec(input);
  if (epoch) {
    const [, whole = '0', fraction] = epoch;
    const base = Number(whole) * 1000;
    // Past what a Date holds, `new Date` would be invalid (and read as "before 1970").
    if (base > MAX_DATE_MS) throw tooLate(text);
    const ms = fraction === undefined ? undefined : fractionBounds(base, fraction);
    return fromDate(new Date(ms?.until ?? base), text, ms);
  }

  const clock = TIME_OF_DAY.exec(input);
  if (clock) {
    const [, hour = '0', minute = '0', second = '0', fraction] = clock;
    if (+hour >= 24 || +minute >= 60 || +second >= 60) {
      throw new WhenError(`${quoted(text)} is not a valid time of day`);
    }
    // Today in the local zone ($TZ), like a zone-less ISO date-time.
    const date = new Date(now.getTime());
    date.setHours(+hour, +minute, +second, 0);
    const ms = fraction === undefined ? undefined : fractionBounds(date.getTime(), fraction);
    return { ...fromDate(new Date(ms?.until ?? date.getTime()), text, ms), form: 'time-of-day' };
  }

  const iso = ISO.exec(input);
  if (iso) {
    // Without a zone the time is local, as `date` would read it (JS alone would read a bare
    // date as UTC but a bare date-time as local).
    const [, year, month, day, hour = '00', minute = '00', second = '00', fraction, zone] = iso;
    if (!validParts(Number(year), Number(month), Number(day), +hour, +minute, +second)) {
      throw new WhenError(`${quoted(text)} is not a valid date`);
    }
    let normalised = `${year}-${month}-${day}T${hour}:${minute}:${second}`;
    if (zone !== undefined) normalised += zone.toUpperCase() === 'Z' ? 'Z' : normaliseZone(zone);
    const date = new Date(normalised);
    if (Number.isNaN(date.getTime())) throw new WhenError(`${quoted(text)} is not a valid date`);
    const ms = fraction === undefined ? undefined : fractionBounds(date.getTime(), fraction);
    return fromDate(new Date(ms?.until ?? date.getTime()), text, ms);
  }

  try {
    const ms = parseDuration(input);
    return fromDate(new Date(now.getTime() - ms), text);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
  }
  throw new WhenError(
    `${quoted(text)} is not a time (use an ISO date-time like 2024-05-01T12:00:00Z, a time ` +
      `today like 12:03, epoch seconds, T,I like 1714564800,1, or a duration ago like 15m)`,
  );
}

function validParts(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth && h < 24 && mi < 60 && s < 60;
}

/** `+02` → `+02:00`, `+0530` → `+05:30` (the forms Date accepts). */
function normaliseZone(zone: string): string {
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`;
}

function tooLate(text: string): WhenError {
  // A long number is most likely epoch milliseconds or microseconds.
  const hint = /^\s*\d{11,}\s*$/.test(text) ? '; epoch milliseconds have 13 digits' : '';
  return new WhenError(
    `${quoted(text)} is too far in the future (cluster times end in 2106${hint})`,
  );
}

/** The bounds of `base` (whole epoch second, in ms) plus a written fraction of a second. */
function fractionBounds(base: number, fraction: string): WallBounds {
  const nanos = Number(fraction.slice(0, 9).padEnd(9, '0'));
  const ms = Math.floor(nanos / 1e6);
  return { since: base + ms + (nanos % 1e6 === 0 ? 0 : 1), until: base + ms };
}

/** A wall-clock time must fit a cluster time: 1970 up to 2106-02-07T06:28:15Z (2^32 - 1 s). */
function fromDate(date: Date, text: string, ms?: WallBounds): Extract<When, { kind: 'date' }> {
  const epochMs = date.getTime();
  // NaN: a duration ago so long that Date cannot hold the result (far before 1970).
  if (Number.isNaN(epochMs) || epochMs < 0) throw new WhenError(`${quoted(text)} is before 1970`);
  const seconds = Math.floor(epochMs / 1000);
  if (seconds > MAX_UINT32) throw tooLate(text);
  return ms === undefined ? { kind: 'date', date, seconds } : { kind: 'date', date, seconds, ms };
}

/** The startAtOperationTime for --since: a wall-clock time includes its whole second. */
export function sinceTimestamp(when: Exclude<When, { kind: 'now' }>): Timestamp {
  return when.kind === 'timestamp' ? when.ts : new Timestamp({ t: when.seconds, i: 0 });
}

/** The last cluster time --until still prints (inclusive): a wall-clock time covers its second. */
export function untilTimestamp(when: Exclude<When, { kind: 'now' }>): Timestamp {
  return when.kind === 'timestamp' ? when.ts : new Timestamp({ t: when.seconds, i: MAX_UINT32 });
}

/** Orders two cluster times (negative, zero, positive). */
export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  return a.t !== b.t ? a.t - b.t : a.i - b.i;
}

/** `Timestamp({ t: 1, i: 2 })` → "1,2", the form --since accepts back. */
export function formatTimestamp(ts: Timestamp): string {
  return `${ts.t},${ts.i}`;
}

/** What the millisecond bounds of --since/--until say about one event. */
export type WallVerdict = 'print' | 'skip' | 'stop';

/**
 * Applies a --since/--until given to the millisecond inside its boundary second: a cluster time
 * only names the second, so there the event's wallTime decides (issue 9). wallTime is read only
 * for events in a boundary second. An event there without one (MongoDB before 6.0, or a
 * --pipeline that removed it) falls back to the whole second, and `onMissing` is called once.
 */
export class WallClip {
  private sinceSecond = 0;
  private wallFrom: number | undefined;
  private untilSecond = 0;
  private wallTo: number | undefined;
  private last: WallVerdict = 'print';
  private missingSaid = false;

  /** Undefined when neither bound was given to the millisecond. */
  static of(
    since: { ts: Timestamp; wallFrom?: number } | undefined,
    until: { ts: Timestamp; wallTo?: number } | undefined,
    onMissing: () => void,
  ): WallClip | undefined {
    if (since?.wallFrom === undefined && until?.wallTo === undefined) return undefined;
    const clip = new WallClip(onMissing);
    if (since?.wallFrom !== undefined) {
      clip.sinceSecond = since.ts.t;
      clip.wallFrom = since.wallFrom;
    }
    if (until?.wallTo !== undefined) {
      clip.untilSecond = until.ts.t;
      clip.wallTo = until.wallTo;
    }
    return clip;
  }

  private constructor(private readonly onMissing: () => void) {}

  /** Nothing more to decide: past --since's second and no --until milliseconds. */
  get done(): boolean {
    return this.wallFrom === undefined && this.wallTo === undefined;
  }

  /**
   * The verdict for an event of cluster second `second`; `fragment`: its splitEvent number. A
   * later fragment of a split event carries no clusterTime: it shares its first fragment's fate.
   */
  check(
    second: number | undefined,
    fragment: number | undefined,
    wallTime: () => number | undefined,
  ): WallVerdict {
    if (fragment !== undefined && fragment > 1) return this.last;
    this.last = this.decide(second, wallTime);
    return this.last;
  }

  private decide(second: number | undefined, wallTime: () => number | undefined): WallVerdict {
    if (second === undefined) return 'print';
    let wall: number | undefined | null = null; // null: not read yet
    const read = (): number | undefined => {
      if (wall === null) wall = wallTime();
      if (wall === undefined && !this.missingSaid) {
        this.missingSaid = true;
        this.onMissing();
      }
      return wall;
    };
    if (this.wallFrom !== undefined) {
      // Past the first second nothing more can be early: stop looking.
      if (second > this.sinceSecond) this.wallFrom = undefined;
      else if (second === this.sinceSecond) {
        const at = read();
        if (at !== undefined && at < this.wallFrom) return 'skip';
      }
    }
    if (this.wallTo !== undefined && second === this.untilSecond) {
      const at = read();
      if (at !== undefined && at > this.wallTo) return 'stop';
    }
    return 'print';
  }
}
