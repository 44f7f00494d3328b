// Points in time for --since and --until: an ISO date-time, epoch seconds, a `T,I` cluster
// timestamp, a duration ago (`15m`), or (for --until) `now`. Cluster times have one-second
// resolution plus an increment, so a wall-clock time names a whole second.
import { Timestamp } from 'bson';
import { DurationError, parseDuration, quoted } from './duration.js';

const MAX_UINT32 = 0xffff_ffff;

/** A point in time as the user gave it, resolved against the clock. */
export type When =
  | { kind: 'now' }
  /** An exact cluster time (`T,I`). */
  | { kind: 'timestamp'; ts: Timestamp }
  /** A wall-clock time; `seconds` is its epoch second. */
  | { kind: 'date'; date: Date; seconds: number };

/** Why a time could not be parsed; the caller names the flag. */
export class WhenError extends Error {}

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

  if (/^\d+(\.\d+)?$/.test(input)) return fromDate(new Date(Number(input) * 1000), text);

  const iso = ISO.exec(input);
  if (iso) {
    // Without a zone the time is local, as `date` would read it (JS alone would read a bare
    // date as UTC but a bare date-time as local).
    const [, year, month, day, hour = '00', minute = '00', second = '00', fraction, zone] = iso;
    if (!validParts(Number(year), Number(month), Number(day), +hour, +minute, +second)) {
      throw new WhenError(`${quoted(text)} is not a valid date`);
    }
    let normalised = `${year}-${month}-${day}T${hour}:${minute}:${second}`;
    if (fraction !== undefined) normalised += `.${fraction.slice(0, 3)}`;
    if (zone !== undefined) normalised += zone.toUpperCase() === 'Z' ? 'Z' : normaliseZone(zone);
    const date = new Date(normalised);
    if (Number.isNaN(date.getTime())) throw new WhenError(`${quoted(text)} is not a valid date`);
    return fromDate(date, text);
  }

  try {
    const ms = parseDuration(input);
    return fromDate(new Date(now.getTime() - ms), text);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
  }
  throw new WhenError(
    `${quoted(text)} is not a time (use an ISO date-time like 2024-05-01T12:00:00Z, epoch seconds, ` +
      `T,I like 1714564800,1, or a duration ago like 15m)`,
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

/** A wall-clock time must fit a cluster time: 1970 up to 2106-02-07T06:28:15Z (2^32 - 1 s). */
function fromDate(date: Date, text: string): When {
  const ms = date.getTime();
  // NaN: a duration ago so long that Date cannot hold the result (far before 1970).
  if (Number.isNaN(ms) || ms < 0) throw new WhenError(`${quoted(text)} is before 1970`);
  const seconds = Math.floor(ms / 1000);
  if (seconds > MAX_UINT32) {
    throw new WhenError(`${quoted(text)} is too far in the future (cluster times end in 2106)`);
  }
  return { kind: 'date', date, seconds };
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
