// What a run did, for people: events by operation, the rate, and how far behind the cluster
// the output is (issue 9). Read by the spinner, by `--stats` every few seconds and by the
// one-line summary at exit. Bookkeeping only: one Map update per event.
//
// Lag is now minus the newest cluster time the run has reached: the last printed event's, or
// the latest post-batch resume token's when that is newer (an idle stream is current, not
// behind). Cluster times have whole seconds, so lag is in whole seconds too.
import { formatDuration, formatElapsed } from './duration.js';
import { peopleTime } from './format/time.js';
import type { StopReason } from './stopper.js';

/** How far back the rate looks (events/s over about this long). */
const RATE_WINDOW_MS = 5000;

const COUNT = new Intl.NumberFormat('en-US');

/** Counts and positions of one run. */
export class Stats {
  readonly startedAt: number;
  /** Events printed. */
  total = 0;
  private readonly ops = new Map<string, number>();
  /** The newest cluster time reached (seconds), by an event or a post-batch token. */
  private reachedSeconds: number | undefined;
  private samples: Array<{ at: number; total: number }>;
  /** Operation names met so far, with their bytes (most events reuse one of a few). */
  private readonly names: Array<[string, Buffer]> = [];

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
    this.samples = [{ at: this.startedAt, total: 0 }];
  }

  /** One event printed: its `operationType` and cluster time (seconds), when known. */
  event(operationType: string | undefined, seconds: number | undefined): void {
    this.total += 1;
    const op = operationType ?? 'unknown';
    this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
    this.position(seconds);
  }

  /**
   * One event printed, read from its BSON document: only `operationType` and `clusterTime`,
   * and only as far as they are (both lead a change event). A quarter of the cost of
   * formatting went to the full header (token, Timestamp object); this is a few percent.
   */
  eventAt(bytes: Buffer, start: number): void {
    let op: string | undefined;
    let seconds: number | undefined;
    const end = start + bytes.readInt32LE(start) - 1;
    let at = start + 4;
    while (at < end && (op === undefined || seconds === undefined)) {
      const type = bytes[at] as number;
      const nameAt = at + 1;
      let nameEnd = nameAt;
      while (bytes[nameEnd] !== 0 && nameEnd < end) nameEnd += 1;
      const valueAt = nameEnd + 1;
      if (type === 0x02 && nameIs(bytes, nameAt, nameEnd, OPERATION_TYPE)) {
        op = this.opName(bytes, valueAt + 4, valueAt + 4 + bytes.readInt32LE(valueAt) - 1);
      } else if (type === 0x11 && nameIs(bytes, nameAt, nameEnd, CLUSTER_TIME)) {
        // A BSON timestamp: the increment (low word), then the seconds (high word).
        seconds = bytes.readUInt32LE(valueAt + 4);
      }
      const size = valueSize(bytes, type, valueAt);
      if (size === undefined) break;
      at = valueAt + size;
    }
    this.event(op, seconds);
  }

  /** The operation named by bytes `from`–`to`, as a string seen before when it was. */
  private opName(bytes: Buffer, from: number, to: number): string {
    for (const [name, raw] of this.names) {
      if (nameIs(bytes, from, to, raw)) return name;
    }
    const name = bytes.toString('utf8', from, to);
    // A --pipeline can make up operation names: remember a few, not all.
    if (this.names.length < 32) this.names.push([name, Buffer.from(name)]);
    return name;
  }

  /** A position reached without output (a post-batch token, a batch's end). */
  position(seconds: number | undefined): void {
    if (seconds === undefined) return;
    if (this.reachedSeconds === undefined || seconds > this.reachedSeconds) {
      this.reachedSeconds = seconds;
    }
  }

  /** The newest cluster time reached, in seconds since the epoch. */
  get reached(): number | undefined {
    return this.reachedSeconds;
  }

  /** Whole seconds between now and the newest cluster time reached. */
  lagSeconds(): number | undefined {
    if (this.reachedSeconds === undefined) return undefined;
    return Math.max(0, Math.floor(this.now() / 1000) - this.reachedSeconds);
  }

  /** Counts by operation, in the order each operation first came. */
  byOperation(): Array<[string, number]> {
    return [...this.ops];
  }

  /** Events per second over the last few seconds (each call also takes a sample). */
  rate(): number {
    const at = this.now();
    this.samples.push({ at, total: this.total });
    // Keep one sample at least a window old: the rate spans a whole window once it can.
    while (
      this.samples.length > 2 &&
      at - (this.samples[1] as { at: number }).at >= RATE_WINDOW_MS
    ) {
      this.samples.shift();
    }
    const first = this.samples[0] as { at: number; total: number };
    const span = at - first.at;
    return span > 0 ? ((this.total - first.total) * 1000) / span : 0;
  }

  /** Milliseconds since the run started. */
  elapsedMs(): number {
    return this.now() - this.startedAt;
  }
}

const OPERATION_TYPE = Buffer.from('operationType');
const CLUSTER_TIME = Buffer.from('clusterTime');

/** Whether bytes `from`–`to` spell `name` (compared byte by byte: short, and nothing built). */
function nameIs(bytes: Buffer, from: number, to: number, name: Buffer): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i += 1) {
    if (bytes[from + i] !== name[i]) return false;
  }
  return true;
}

/** The size of a BSON value of `type` at `at`; undefined for a type this does not know. */
function valueSize(bytes: Buffer, type: number, at: number): number | undefined {
  switch (type) {
    case 0x01: // double
    case 0x09: // date
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // JavaScript code
    case 0x0e: // symbol
      return 4 + bytes.readInt32LE(at);
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      return bytes.readInt32LE(at);
    case 0x05: // binary: length, subtype, bytes
      return 5 + bytes.readInt32LE(at);
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // max key
    case 0xff: // min key
      return 0;
    case 0x07: // ObjectId
      return 12;
    case 0x08: // bool
      return 1;
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      return undefined; // a regex, a DBPointer: never before the fields looked for
  }
}

/** "1,204 events (insert 1,000 · update 200 · delete 4)"; "0 events". */
export function countsText(stats: Stats): string {
  const total = `${COUNT.format(stats.total)} ${stats.total === 1 ? 'event' : 'events'}`;
  const ops = stats.byOperation();
  if (ops.length === 0) return total;
  return `${total} (${ops.map(([op, n]) => `${printable(op)} ${COUNT.format(n)}`).join(' · ')})`;
}

/** "0s", "59s", "2m05s", "3h07m": a lag or an age in whole seconds. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** "41.2 events/s", "1,530 events/s". */
export function rateText(perSecond: number): string {
  const shown = perSecond < 100 ? perSecond.toFixed(1) : COUNT.format(Math.round(perSecond));
  return `${shown} events/s`;
}

function lagText(stats: Stats): string {
  const lag = stats.lagSeconds();
  return lag === undefined ? 'lag unknown' : `lag ${formatSeconds(lag)}`;
}

/** The `--stats` line (without the `mongo-tail: ` prefix) and the spinner's detail. */
export function statsLine(stats: Stats): string {
  return `${rateText(stats.rate())} · ${countsText(stats)} · ${lagText(stats)}`;
}

/** Why a run stopped, and what is known about what comes after. */
export interface StopStory {
  reason: StopReason;
  /** A limit stop left events of the same batch unprinted (undefined: not known). */
  moreWaiting?: boolean;
  /** The --idle-timeout, for "idle 30s". */
  idleMs?: number;
}

/** "limit reached, more waiting", "caught up (--until)", "idle 30s", "stdout closed", "SIGINT". */
export function stopText(story: StopStory): string {
  switch (story.reason) {
    case 'limit':
      return story.moreWaiting === true ? 'limit reached, more waiting' : 'limit reached';
    case 'until':
      return 'caught up (--until)';
    case 'idle':
      return story.idleMs === undefined ? 'idle' : `idle ${formatDuration(story.idleMs)}`;
    case 'epipe':
      return 'stdout closed';
    default:
      return story.reason;
  }
}

/**
 * The summary at exit (without the `mongo-tail: ` prefix), e.g. `1,204 events (insert 1,000
 * · update 204) in 12.3s; reached 2026-11-29T17:02:11+01:00 (lag 0s); stopped: caught up
 * (--until)`; the time in `timeZone` (undefined: the local zone).
 */
export function summaryLine(stats: Stats, stopped: StopStory, timeZone?: string): string {
  const parts = [`${countsText(stats)} in ${formatElapsed(stats.elapsedMs())}`];
  if (stats.reached !== undefined) {
    const at = peopleTime(new Date(stats.reached * 1000), timeZone);
    parts.push(`reached ${at} (${lagText(stats)})`);
  }
  parts.push(`stopped: ${stopText(stopped)}`);
  return parts.join('; ');
}

/** An operation name as the server sent it, with control characters made visible. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- a $set in --pipeline can put anything here
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}
