// The status line on stderr: an ora spinner while connecting and while watching,
//   ⠋ watching shop.orders — 41.2 events/s · 1,204 events (insert 1,000 · update 204) · lag 0s
// Only when enabled: the caller passes whether stderr is a terminal that stdout shares, and
// not --quiet. With stdout a pipe or a file the reader (jq, less) may draw on the same
// terminal, and frames would land in the middle of its output (issue 9); on the shared
// terminal, each stdout write goes through `aside`, which clears the spinner line first.
// Disabled, the only output is `note`, as a plain `mongo-tail: …` line (warnings matter in
// scripts too). ora is loaded only when the spinner will really be shown.
import type { Ora, Options as OraOptions } from 'ora';

type OraFactory = (options: OraOptions) => Ora;

export interface Status {
  start(label: string): void;
  /** Redraws the text now (the counts changed). */
  refresh(): void;
  /** Runs `write` (a write to stdout) with the spinner line out of the way. */
  aside<T>(write: () => T): T;
  note(msg: string): void;
  stop(): void;
}

export interface StatusOptions {
  enabled: boolean;
  stream: NodeJS.WritableStream;
  label?: string;
  /** Colour the spinner glyph; decided by the caller for this stream. Default false. */
  color?: boolean;
  /** What follows the label (rate, counts, lag); read about once a second. */
  detail?: () => string | undefined;
}

/** The spinner text: the label, then the detail when there is one. */
export function statusText(label: string, detail?: string): string {
  return detail === undefined || detail === '' ? label : `${label} — ${detail}`;
}

const prefix = (msg: string): string => `mongo-tail: ${msg}\n`;

class Disabled implements Status {
  constructor(private readonly stream: NodeJS.WritableStream) {}
  start(): void {}
  refresh(): void {}
  aside<T>(write: () => T): T {
    return write();
  }
  note(msg: string): void {
    this.stream.write(prefix(msg));
  }
  stop(): void {}
}

class Spinner implements Status {
  private spinner: Ora | undefined;
  private timer: NodeJS.Timeout | undefined;
  private label: string;

  constructor(
    private readonly opts: StatusOptions,
    private readonly ora: OraFactory,
  ) {
    this.label = opts.label ?? '';
  }

  private text(): string {
    return statusText(this.label, this.opts.detail?.());
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
    // The rate and the lag move even when no event comes.
    this.timer ??= setInterval(() => this.refresh(), 1000);
    this.timer.unref();
  }

  refresh(): void {
    if (this.spinner?.isSpinning) this.spinner.text = this.text();
  }

  aside<T>(write: () => T): T {
    if (this.spinner?.isSpinning !== true) return write();
    // stdout and stderr are the same terminal here, and writes to a terminal are synchronous:
    // the line is clear while the events are written, then drawn again below them.
    this.spinner.clear();
    try {
      return write();
    } finally {
      this.spinner.render();
    }
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
