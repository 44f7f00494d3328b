// The tail loop: source → formatter → sink → checkpoint, and the stop conditions.
// Stopping (limit, until, idle timeout, EPIPE, a signal) always goes the same way: stop
// reading, flush stdout, save the token, close the stream and the client.
import type { Timestamp } from 'bson';
import type { MongoClient } from 'mongodb';
import { Checkpoint } from './checkpoint.js';
import { connectClient, createClient, readClusterTime } from './client.js';
import { noteMissingNamespace } from './preflight.js';
import { ExitCode, InvalidatedError, TailError, type ExitCodeValue } from './errors.js';
import { createEventFormatter, type EventFormatter } from './format/index.js';
import type { ResumeToken, StartRequest, TailOptions } from './options.js';
import { buildWatch, type WatchSpec } from './pipeline.js';
import { ReadAhead, streamBound } from './readahead.js';
import { redactUri } from './redact.js';
import { createSink, type Sink } from './sink.js';
import { readHeader, readWallTime } from './source/batch.js';
import { Reassembler } from './source/fragments.js';
import {
  ChangeSource,
  DEFAULT_RETRY,
  eventToken,
  tokenTime,
  type EventBatch,
  type RetryDelays,
  type Step,
} from './source/index.js';
import { Stats, statsLine, summaryLine } from './stats.js';
import { createStatus, type Status } from './status.js';
import { STOPPED, Stopper, type StopReason, type StopSignal } from './stopper.js';
import { decodeToken } from './token.js';
import { TranscodeError } from './transcode/index.js';
import { compareTimestamps, WallClip } from './when.js';

export type { StopSignal } from './stopper.js';

/** What the loop needs from the outside world (all injectable for in-process tests). */
export interface TailIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /**
   * stderr can host the spinner: a sized terminal that stdout shares (processIo decides). With
   * stdout a pipe or a file there is no animation: its reader may draw on the same terminal.
   */
  stderrIsTTY: boolean;
  /**
   * stdout's columns, read at every event (a resized terminal is followed): pretty lines are
   * cut to fit. Only for a terminal; absent for pipes and files (whole lines).
   */
  stdoutColumns?: () => number | undefined;
  /** Colour for the spinner on stderr (decided for stderr, not stdout). */
  stderrColor?: boolean;
  /** Subscribes to SIGHUP/SIGINT/SIGTERM; returns the unsubscribe function. */
  onSignal?: (handler: (signal: StopSignal) => void) => () => void;
  /** Redacts free text before it reaches stderr. */
  redact: (text: string) => string;
  retry?: RetryDelays;
  /** The most bytes stdout can hold unread (default: asked of stdout's pipe or socket). */
  unreadBound?: number;
}

/** How often `--stats` prints a line. */
const STATS_EVERY_MS = 5000;
/** How long a signalled stop still waits for stdout to take what was written. */
const SIGNAL_FLUSH_GRACE_MS = 500;
/**
 * How long closing the client may take. Against a hung server the driver's `endSessions`
 * opens a new connection and waits out the connect timeout (30 s measured with the default
 * 10 s): the exit and its message must not wait for that. Nothing is lost by leaving early:
 * stdout is flushed and the token saved before this step.
 */
const CLIENT_CLOSE_GRACE_MS = 1000;

/** The resources of one run; each has one owner (this object) and an awaited close. */
interface Run {
  opts: TailOptions;
  io: TailIo;
  watch: WatchSpec;
  status: Status;
  say: (message: string) => void;
  stop: Stopper;
  sink: Sink;
  /** Which accepted output a reader has certainly read: what the checkpoint may cover. */
  readAhead: ReadAhead;
  checkpoint?: Checkpoint;
  client?: MongoClient;
  source?: ChangeSource;
  idleTimer?: NodeJS.Timeout;
  /** Events printed so far. */
  printed: number;
  /** Fragments of a split event waiting for the rest (--split-large-events). */
  fragments: Reassembler;
  /** True while the loop waits for stdout to drain (time that does not count as idle). */
  waitingForStdout: boolean;
  /** Counts for the spinner, --stats and the summary; absent with -q and no --stats. */
  stats?: Stats;
  /** A --limit stop left events of its batch unprinted. */
  moreWaiting?: boolean;
  /** --since/--until given to the millisecond: wallTime decides inside their boundary seconds. */
  clip?: WallClip;
}

/** Runs one tail until a stop condition; returns the exit code or throws a TailError. */
export async function runTail(opts: TailOptions, io: TailIo): Promise<ExitCodeValue> {
  const wantStats = opts.stats;
  // Without -q a run ends with a summary; without it and --stats, nothing counts (no cost).
  const stats = opts.quiet && !wantStats ? undefined : new Stats();
  const status = await createStatus({
    enabled: io.stderrIsTTY && !opts.quiet,
    stream: io.stderr,
    color: io.stderrColor ?? false,
    // Counts and lag once there are some (not while connecting).
    ...(stats === undefined
      ? {}
      : {
          detail: () =>
            stats.total === 0 && stats.reached === undefined ? undefined : statsLine(stats),
        }),
  });
  const stop = new Stopper();
  const run: Run = {
    opts,
    io,
    watch: buildWatch(opts),
    status,
    say: (message) => {
      if (!opts.quiet) status.note(io.redact(message));
    },
    stop,
    // A reader that left is noticed while the stream is quiet too: a stop as on EPIPE.
    sink: createSink(io.stdout, { onReaderGone: () => stop.request('epipe') }),
    // Without a token file nothing is saved: no need to count bytes.
    readAhead: new ReadAhead(
      opts.tokenFile === undefined ? 0 : (io.unreadBound ?? streamBound(io.stdout)),
    ),
    printed: 0,
    fragments: new Reassembler(),
    waitingForStdout: false,
  };
  if (stats !== undefined) run.stats = stats;
  const unsubscribe = io.onSignal?.((signal) => run.stop.request(signal));
  const statsTimer = wantStats
    ? setInterval(() => stats && status.note(statsLine(stats)), STATS_EVERY_MS)
    : undefined;
  statsTimer?.unref();

  let failure: unknown;
  let code: ExitCodeValue = ExitCode.Ok;
  try {
    code = await tail(run);
  } catch (error) {
    failure = error;
  }
  if (run.idleTimer !== undefined) clearTimeout(run.idleTimer);
  if (statsTimer !== undefined) clearInterval(statsTimer);
  unsubscribe?.();
  status.stop();
  // Flush stdout first, then record the position it covers, then let go of the server.
  // A failure while closing only surfaces when nothing failed before it.
  const closing = await closeAll([
    // stdout may be stuck (a reader that stopped reading): a signal ends the wait. The token
    // only covers lines a reader has read, so saving it without the flush is still safe.
    async () => {
      const flushed = await Promise.race([
        run.sink.close(),
        run.stop.signalled.then(() => delay(SIGNAL_FLUSH_GRACE_MS)).then(() => false),
      ]);
      // A reader still there as we leave can read all we wrote: the token covers all of it.
      // After EPIPE or a signal (Ctrl-C in `a | b` ends the reader too) it stays behind by
      // what the pipe may hold unread.
      const all = run.readAhead.newest;
      if (flushed && run.stop.signal === undefined && all !== undefined) {
        run.checkpoint?.advance(all);
      }
    },
    () => run.checkpoint?.close(),
    () => run.source?.close(),
    () => run.client && Promise.race([run.client.close(), delay(CLIENT_CLOSE_GRACE_MS)]),
  ]);
  failure ??= closing;
  if (failure !== undefined) throw failure;
  const reason = run.stop.signal ?? run.stop.reason;
  // A failure speaks for itself (its message); a stop says what the run did.
  if (stats !== undefined && reason !== undefined) {
    if (wantStats) status.note(statsLine(stats));
    if (!opts.quiet) {
      const story = { reason, moreWaiting: run.moreWaiting === true };
      status.note(
        summaryLine(
          stats,
          opts.idleTimeoutMs === undefined ? story : { ...story, idleMs: opts.idleTimeoutMs },
          opts.timeZone,
        ),
      );
    }
  }
  return run.stop.signal === undefined ? code : exitFor(run.stop.signal);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function tail(run: Run): Promise<ExitCodeValue> {
  const { opts, stop, say } = run;
  for (const note of run.watch.notes) say(note);
  for (const note of opts.notes ?? []) say(note);
  if (opts.tokenFile !== undefined) {
    run.checkpoint = await Checkpoint.open(
      opts.tokenFile,
      opts.checkpointIntervalMs,
      Date.now,
      say,
    );
  }
  const start = startPosition(opts, run.checkpoint, say);
  // A start from the token file is exact: no --since milliseconds apply to it.
  run.clip = WallClip.of(
    start.kind === 'since' ? start : undefined,
    opts.until?.kind === 'at' ? opts.until : undefined,
    () =>
      say(
        'events carry no wallTime (MongoDB before 6.0, or --pipeline removed it): ' +
          'the milliseconds of --since/--until are dropped, the whole second applies',
      ),
  );

  run.status.start(`connecting to ${redactUri(opts.uri)}`);
  // The client is ours from the start, so a stop while connecting closes it at once.
  const connected = createClient(opts);
  run.client = connected;
  if ((await stop.race(connectClient(connected, opts))) === STOPPED) return exitFor(stop.reason);
  await noteMissingNamespace(connected, opts, say);

  let until: Timestamp | undefined;
  if (opts.until?.kind === 'at') until = opts.until.ts;
  if (opts.until?.kind === 'now') until = await readClusterTime(connected, opts);

  const source = new ChangeSource(connected, opts.target, run.watch, start, opts, say, {
    ...DEFAULT_RETRY,
    ...run.io.retry,
    retryForMs: opts.retryForMs,
  });
  run.source = source;
  const columns = run.io.stdoutColumns;
  const format = createEventFormatter({
    format: opts.format,
    color: opts.color,
    ...(opts.timeZone === undefined ? {} : { timeZone: opts.timeZone }),
    // A terminal gets lines that fit it, unless --wide; pipes and files get them whole.
    ...(columns === undefined || opts.wide ? {} : { width: columns }),
    ...(opts.multiline ? { multiline: true } : {}),
    key: opts.key === true,
  });
  run.status.start(`watching ${opts.target.label}`);

  const armIdle = (): void => {
    const idleMs = opts.idleTimeoutMs;
    if (idleMs === undefined) return;
    const armedAt = Date.now();
    const check = (waitMs: number): void => {
      if (run.idleTimer !== undefined) clearTimeout(run.idleTimer);
      run.idleTimer = setTimeout(() => {
        // A run waiting for stdout is not idle.
        if (run.waitingForStdout) return armIdle();
        // Idle time is time in which the server answered and had nothing. A stream being
        // re-opened, or a getMore unanswered past its await time (a hung server), is not idle:
        // an outage ends in all events or exit 3, never in "done as asked". Look again soon,
        // and count from when the server answered on time again.
        const window = source.idleWindow();
        if (window === undefined) return check(Math.min(idleMs, 250));
        // Idle is proven only up to the server's latest answer: a getMore still within its
        // await time may yet bring events, or never come back (a server that just hung).
        const start = Math.max(armedAt, window.since);
        if (window.until - start >= idleMs) return stop.request('idle');
        check(Math.max(start + idleMs - Date.now(), Math.min(idleMs, 100)));
      }, waitMs);
    };
    check(idleMs);
  };
  armIdle();

  while (stop.reason === undefined) {
    const step: Step | typeof STOPPED = await stop.race(source.next());
    if (step === STOPPED) break;

    if (step.kind === 'idle') {
      // Never a position inside a split event's fragments.
      if (step.token === undefined || run.fragments.pending) continue;
      reached(run, step.token);
      run.checkpoint?.batchDone();
      if (until !== undefined && passed(step.token, until, true)) stop.request('until');
      continue;
    }

    if (step.kind === 'invalidated') {
      reached(run, step.token);
      if (opts.exitOnInvalidate) {
        throw new InvalidatedError(
          `the change stream on ${opts.target.label} was invalidated (dropped or renamed)`,
          opts.tokenFile === undefined
            ? 'without --exit-on-invalidate mongo-tail keeps following the namespace'
            : `a next run with --token-file ${opts.tokenFile} continues after the invalidate`,
        );
      }
      say(`${opts.target.label} was dropped or renamed; following it (startAfter the invalidate)`);
      source.followInvalidate(step.token);
      continue;
    }

    const before = run.printed;
    const whole = await writeBatch(run, step.batch, format, until);
    if (run.printed > before) armIdle();
    if (!whole) break;
    run.checkpoint?.batchDone();
    // The batch's end position may already say the stream is past --until: no need to wait
    // for another (empty) batch to learn it (unless a split event is still coming together).
    if (until !== undefined && !run.fragments.pending && passed(step.batch.end, until, false)) {
      stop.request('until');
    }
  }
  return exitFor(stop.reason);
}

/** Lines are handed to stdout in chunks of about this many characters (one write each). */
const CHUNK_CHARS = 64 * 1024;

/**
 * Formats a batch into chunks of lines and writes them. Each chunk carries the resume token of
 * its last event, which the checkpoint takes once a reader has read the chunk: when stdout
 * accepted it, or for a pipe, once the pipe's capacity more was accepted (readahead.ts).
 * Returns true when every event of the batch was consumed, false when the run stops inside it
 * (--limit, --until, a signal, a closed stdout).
 */
async function writeBatch(
  run: Run,
  batch: EventBatch,
  format: EventFormatter,
  until: Timestamp | undefined,
): Promise<boolean> {
  const { bytes, starts } = batch;
  const { limit, splitLargeEvents } = run.opts;
  const count = starts.length;
  let chunk = '';
  let consumed = -1;
  // The last event whose output is complete: the chunk's position. A fragment of a split event
  // does not move it until the event's last fragment came.
  let complete = -1;
  for (let index = 0; index < count; index += 1) {
    if (run.stop.reason !== undefined) break;
    const start = starts[index] as number;
    const header =
      until !== undefined || splitLargeEvents || run.clip !== undefined
        ? readHeader(bytes, start)
        : undefined;
    const at = header?.clusterTime;
    if (until !== undefined && at !== undefined && compareTimestamps(at, until) > 0) {
      run.stop.request('until');
      break;
    }
    const verdict = run.clip?.check(at?.t, header?.split?.fragment, () =>
      readWallTime(bytes, start),
    );
    if (run.clip?.done === true) run.clip = undefined;
    if (verdict === 'stop') {
      run.stop.request('until');
      break;
    }
    if (verdict === 'skip') {
      // Before --since's millisecond: read past, like an event a filter left out (a position
      // inside a split event's fragments is never one).
      consumed = index;
      if (header?.split === undefined || header.split.fragment === header.split.of) {
        complete = index;
      }
      continue;
    }
    let event = bytes;
    let eventStart = start;
    if (header?.split !== undefined) {
      consumed = index;
      const whole = run.fragments.add(bytes, start, header.split);
      if (whole === undefined) continue;
      event = whole;
      eventStart = 0;
    }
    // Only an invalidate ends a stream from the server's side, so only the last event of a
    // closing batch can be one.
    const silent =
      batch.closing &&
      index === count - 1 &&
      !run.watch.printInvalidate &&
      readHeader(bytes, start).operationType === 'invalidate';
    if (!silent) {
      chunk += formatOne(format, event, eventStart);
      chunk += '\n';
      run.printed += 1;
      run.stats?.eventAt(event, eventStart);
    }
    consumed = index;
    complete = index;
    if (limit !== undefined && run.printed >= limit) {
      run.stop.request('limit');
      // Known only when this batch holds more; after its last event nobody knows.
      run.moreWaiting = index < count - 1;
      break;
    }
    if (chunk.length >= CHUNK_CHARS && index < count - 1) {
      if (!(await emit(run, chunk, eventToken(batch, index)))) return false;
      chunk = '';
    }
  }
  if (complete >= 0 && !(await emit(run, chunk, eventToken(batch, complete)))) return false;
  const whole = consumed === count - 1 && run.stop.reason === undefined;
  // The batch's end may stand past its last event (events the pipeline filtered out).
  if (whole && run.stats !== undefined) run.stats.position(tokenTime(batch.end)?.t);
  return whole;
}

function formatOne(format: EventFormatter, bytes: Buffer, start: number): string {
  try {
    return format(bytes, start);
  } catch (error) {
    if (!(error instanceof TranscodeError)) throw error;
    throw new TailError(
      `cannot print an event the server sent: ${error.message}`,
      ExitCode.Unexpected,
    );
  }
}

/**
 * Hands one chunk to stdout; the checkpoint covers `token` once a reader has read it. Waits for
 * `drain` when stdout is full. False when the run must stop (stdout closed, a stop came while
 * waiting for it).
 */
async function emit(run: Run, text: string, token: ResumeToken): Promise<boolean> {
  // Bytes only count where something can hold them unread (a pipe, a socket).
  const bytes = run.readAhead.bound === 0 ? 0 : Buffer.byteLength(text);
  const result = run.status.aside(() => run.sink.write(text, () => took(run, bytes, token)));
  if (result === 'closed') {
    run.stop.request('epipe');
    return false;
  }
  if (result === 'full') {
    run.waitingForStdout = true;
    const waited = await run.stop.race(run.sink.drained());
    run.waitingForStdout = false;
    // Stopped while stdout was full: what it takes during the close still counts (its
    // callbacks advance the checkpoint before the final save).
    if (waited === STOPPED) return false;
    if (run.sink.closed) {
      run.stop.request('epipe');
      return false;
    }
  }
  return true;
}

/** Stdout accepted `bytes` that `token` covers: the checkpoint gets what a reader has read. */
function took(run: Run, bytes: number, token: ResumeToken): void {
  const read = run.readAhead.took(bytes, token);
  if (read !== undefined) run.checkpoint?.advance(read);
}

/** A position without output (an idle stream, an invalidate): after the output before it. */
function reached(run: Run, token: ResumeToken): void {
  run.stats?.position(tokenTime(token)?.t);
  run.sink.whenAccepted(() => took(run, 0, token));
}

/**
 * Whether a position proves the stream has read everything up to `until` (inclusive): a
 * resume token later than it does; one at the same time only when nothing more can come at
 * that time: an empty batch, or a high-water mark (it sorts before events of its time, so it
 * is only reported once the events at that time were returned).
 */
function passed(token: ResumeToken, until: Timestamp, emptyBatch: boolean): boolean {
  const at = tokenTime(token);
  if (at === undefined) return false;
  const order = compareTimestamps(at, until);
  if (order !== 0) return order > 0;
  if (emptyBatch) return true;
  try {
    return decodeToken(token).kind === 'high-water mark';
  } catch {
    return false;
  }
}

/** Where to start: the token file wins once it exists; otherwise the flags. */
function startPosition(
  opts: TailOptions,
  checkpoint: Checkpoint | undefined,
  say: (message: string) => void,
): StartRequest {
  const saved = checkpoint?.initial;
  if (saved === undefined) return opts.start;
  if (opts.start.kind !== 'now') {
    say(`resuming from ${opts.tokenFile}; the start position given only applies to a first run`);
  }
  return fromInvalidate(saved)
    ? { kind: 'startAfter', token: saved }
    : { kind: 'resumeAfter', token: saved };
}

/** A token saved right after an invalidate must be resumed with startAfter. */
function fromInvalidate(token: ResumeToken): boolean {
  try {
    return decodeToken(token).fromInvalidate;
  } catch {
    return false; // undecodable: resumeAfter, and the server's answer will say if it is wrong
  }
}

function exitFor(reason: StopReason | undefined): ExitCodeValue {
  if (reason === 'SIGHUP') return ExitCode.Sighup;
  if (reason === 'SIGINT') return ExitCode.Sigint;
  if (reason === 'SIGTERM') return ExitCode.Sigterm;
  return ExitCode.Ok;
}

/** Runs every closing step even when one fails; returns the first failure. */
async function closeAll(steps: Array<() => Promise<unknown> | undefined>): Promise<unknown> {
  let failure: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failure ??= error;
    }
  }
  return failure;
}
