// The status line on stderr: an ora spinner while connecting and while watching,
//   ⠋ watching shop.orders — 1,204 events, last 3 s ago
// Only when enabled (the caller passes: stderr is a terminal and not --quiet). Disabled, the
// only output is `note`, as a plain `mongo-tail: …` line, because warnings matter in scripts too.
// ora is loaded only when the spinner will really be shown (a terminal on stderr).
import type { Ora, Options as OraOptions } from 'ora';

type OraFactory = (options: OraOptions) => Ora;

export interface Status {
  start(label: string): void;
  event(count: number, lastAt: Date): void;
  note(msg: string): void;
  stop(): void;
}

export interface StatusOptions {
  enabled: boolean;
  stream: NodeJS.WritableStream;
  label?: string;
  /** Colour the spinner glyph; decided by the caller for this stream. Default false. */
  color?: boolean;
  /** Clock for "last 3 s ago" (tests pin it). */
  now?: () => number;
}

const COUNT = new Intl.NumberFormat('en-US');

/** "3 s", "2 min", "1 h", "2 d": how long ago, coarse enough to read at a glance. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** The spinner text for a label and, once events came, their count and age. */
export function statusText(label: string, count?: number, lastAgoMs?: number): string {
  if (count === undefined || lastAgoMs === undefined) return label;
  const events = `${COUNT.format(count)} ${count === 1 ? 'event' : 'events'}`;
  return `${label} — ${events}, last ${ago(lastAgoMs)} ago`;
}

const prefix = (msg: string): string => `mongo-tail: ${msg}\n`;

class Disabled implements Status {
  constructor(private readonly stream: NodeJS.WritableStream) {}
  start(): void {}
  event(): void {}
  note(msg: string): void {
    this.stream.write(prefix(msg));
  }
  stop(): void {}
}

class Spinner implements Status {
  private spinner: Ora | undefined;
  private timer: NodeJS.Timeout | undefined;
  private label: string;
  private count: number | undefined;
  private lastAt: Date | undefined;
  private readonly now: () => number;

  constructor(
    private readonly opts: StatusOptions,
    private readonly ora: OraFactory,
  ) {
    this.label = opts.label ?? '';
    this.now = opts.now ?? Date.now;
  }

  private text(): string {
    const age = this.lastAt ? this.now() - this.lastAt.getTime() : undefined;
    return statusText(this.label, this.count, age);
  }

  start(label: string): void {
    this.label = label;
    this.spinner ??= this.ora({
      stream: this.opts.stream,
      isEnabled: true,
      // Leave stdin alone: the tailer never reads it, and a discarded stdin breaks pipes.
      discardStdin: false,
      color: this.opts.color ? 'cyan' : false,
    });
    this.spinner.text = this.text();
    if (!this.spinner.isSpinning) this.spinner.start();
    // The relative time ("last 3 s ago") moves even when no event comes.
    this.timer ??= setInterval(() => {
      if (this.spinner?.isSpinning) this.spinner.text = this.text();
    }, 1000);
    this.timer.unref();
  }

  event(count: number, lastAt: Date): void {
    this.count = count;
    this.lastAt = lastAt;
    if (this.spinner?.isSpinning) this.spinner.text = this.text();
  }

  note(msg: string): void {
    const spinning = this.spinner?.isSpinning === true;
    // Above the spinner: clear its line, print, draw it again below.
    if (spinning) this.spinner?.clear();
    this.opts.stream.write(prefix(msg));
    if (spinning) this.spinner?.render();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.spinner?.stop();
  }
}

/** The status line for one run; every method is safe to call in any order. */
export async function createStatus(opts: StatusOptions): Promise<Status> {
  // A terminal that reports 0 columns (a pty nobody sized, e.g. under `script`) would make ora
  // count every frame as endless lines and flood it with cursor-up codes: no spinner there.
  const columns = (opts.stream as { columns?: number }).columns;
  const usable = columns === undefined || columns > 0;
  if (!opts.enabled || !usable) return new Disabled(opts.stream);
  const { default: ora } = await import('ora');
  return new Spinner(opts, ora);
}
