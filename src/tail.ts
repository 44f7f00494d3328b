// The tail loop: source → formatter → sink → checkpoint, and the stop conditions.
// Stopping (limit, until, idle timeout, EPIPE, a signal) always goes the same way: stop
// reading, flush stdout, save the token, close the stream and the client.
import type { Timestamp } from 'bson';
import type { MongoClient } from 'mongodb';
import { Checkpoint } from './checkpoint.js';
import { ExitCode, InvalidatedError, type ExitCodeValue } from './errors.js';
import { createFormatter } from './format/index.js';
import type { ResumeToken, StartPosition, TailOptions } from './options.js';
import { buildWatch, type WatchSpec } from './pipeline.js';
import { redactUri } from './redact.js';
import { createSink, type Sink } from './sink.js';
import {
  ChangeSource,
  connectClient,
  createClient,
  readClusterTime,
  tokenTime,
  type RetryPolicy,
  type Step,
} from './source.js';
import { createStatus, type Status } from './status.js';
import { decodeToken } from './token.js';
import { compareTimestamps } from './when.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';
type StopReason = 'limit' | 'until' | 'idle' | 'epipe' | StopSignal;

/** What the loop needs from the outside world (all injectable for in-process tests). */
export interface TailIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stderrIsTTY: boolean;
  /** Colour for the spinner on stderr (decided for stderr, not stdout). */
  stderrColor?: boolean;
  /** Subscribes to SIGINT/SIGTERM; returns the unsubscribe function. */
  onSignal?: (handler: (signal: StopSignal) => void) => () => void;
  /** Redacts free text before it reaches stderr. */
  redact: (text: string) => string;
  retry?: RetryPolicy;
}

const STOPPED = Symbol('stopped');

/**
 * Collects the first stop request; `promise` settles when one arrives. A signal is also
 * remembered when it comes later (while the run is already stopping for another reason):
 * it cuts the wait for stdout short and decides the exit code.
 */
class Stopper {
  reason: StopReason | undefined;
  signal: StopSignal | undefined;
  readonly promise: Promise<typeof STOPPED>;
  readonly signalled: Promise<void>;
  private resolve: (value: typeof STOPPED) => void = () => undefined;
  private resolveSignal: () => void = () => undefined;

  constructor() {
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.signalled = new Promise((resolve) => {
      this.resolveSignal = resolve;
    });
  }

  request(reason: StopReason): void {
    if (reason === 'SIGINT' || reason === 'SIGTERM') {
      this.signal ??= reason;
      this.resolveSignal();
    }
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.resolve(STOPPED);
  }
}

/** How long a signalled stop still waits for stdout to take what was written. */
const SIGNAL_FLUSH_GRACE_MS = 500;

/** The resources of one run; each has one owner (this object) and an awaited close. */
interface Run {
  opts: TailOptions;
  io: TailIo;
  watch: WatchSpec;
  status: Status;
  say: (message: string) => void;
  stop: Stopper;
  sink: Sink;
  checkpoint?: Checkpoint;
  client?: MongoClient;
  source?: ChangeSource;
  idleTimer?: NodeJS.Timeout;
}

/** Runs one tail until a stop condition; returns the exit code or throws a TailError. */
export async function runTail(opts: TailOptions, io: TailIo): Promise<ExitCodeValue> {
  const status = createStatus({
    enabled: io.stderrIsTTY && !opts.quiet,
    stream: io.stderr,
    color: io.stderrColor ?? false,
  });
  const run: Run = {
    opts,
    io,
    watch: buildWatch(opts),
    status,
    say: (message) => {
      if (!opts.quiet) status.note(io.redact(message));
    },
    stop: new Stopper(),
    sink: createSink(io.stdout),
  };
  const unsubscribe = io.onSignal?.((signal) => run.stop.request(signal));

  let failure: unknown;
  let code: ExitCodeValue = ExitCode.Ok;
  try {
    code = await tail(run);
  } catch (error) {
    failure = error;
  }
  if (run.idleTimer !== undefined) clearTimeout(run.idleTimer);
  unsubscribe?.();
  status.stop();
  // Flush stdout first, then record the position it covers, then let go of the server.
  // A failure while closing only surfaces when nothing failed before it.
  const closing = await closeAll([
    // stdout may be stuck (a reader that stopped reading): a signal ends the wait. The token
    // only covers lines stdout took already, so saving it without the flush is still exact.
    () =>
      Promise.race([run.sink.close(), run.stop.signalled.then(() => delay(SIGNAL_FLUSH_GRACE_MS))]),
    () => run.checkpoint?.close(),
    () => run.source?.close(),
    () => run.client?.close(),
  ]);
  failure ??= closing;
  if (failure !== undefined) throw failure;
  return run.stop.signal === undefined ? code : exitFor(run.stop.signal);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function tail(run: Run): Promise<ExitCodeValue> {
  const { opts, stop, say } = run;
  for (const note of run.watch.notes) say(note);
  if (opts.tokenFile !== undefined) {
    run.checkpoint = await Checkpoint.open(opts.tokenFile, opts.checkpointIntervalMs);
  }
  const start = startPosition(opts, run.checkpoint, say);

  run.status.start(`connecting to ${redactUri(opts.uri)}`);
  // The client is ours from the start, so a stop while connecting closes it at once.
  const connected = createClient(opts);
  run.client = connected;
  const connecting = connectClient(connected, opts);
  connecting.catch(() => undefined); // if the race is lost, its outcome no longer matters
  if ((await Promise.race([connecting, stop.promise])) === STOPPED) return exitFor(stop.reason);

  let until: Timestamp | undefined;
  if (opts.until?.kind === 'at') until = opts.until.ts;
  if (opts.until?.kind === 'now') until = await readClusterTime(connected, opts);

  const source = new ChangeSource(
    connected,
    opts.target,
    run.watch,
    start,
    opts,
    say,
    run.io.retry,
  );
  run.source = source;
  const format = createFormatter(
    opts.timeZone === undefined
      ? { format: opts.format, color: opts.color }
      : { format: opts.format, color: opts.color, timeZone: opts.timeZone },
  );
  run.status.start(`watching ${opts.target.label}`);

  const armIdle = (): void => {
    if (opts.idleTimeoutMs === undefined) return;
    if (run.idleTimer !== undefined) clearTimeout(run.idleTimer);
    run.idleTimer = setTimeout(() => {
      // A stream being re-opened after a failure is not idle: an outage must end as a
      // connection failure (exit 3), never as "done as asked".
      if (run.source?.recovering === true) armIdle();
      else stop.request('idle');
    }, opts.idleTimeoutMs);
  };
  armIdle();

  let printed = 0;
  while (stop.reason === undefined) {
    const pending = source.next();
    pending.catch(() => undefined); // if the race is lost, its outcome no longer matters
    const step: Step | typeof STOPPED = await Promise.race([pending, stop.promise]);
    if (step === STOPPED) break;

    if (step.kind === 'idle') {
      if (step.token === undefined) continue;
      run.checkpoint?.advance(step.token);
      run.checkpoint?.batchDone();
      if (until !== undefined && passed(step.token, until, true)) stop.request('until');
      continue;
    }

    if (step.kind === 'invalidated') {
      run.checkpoint?.advance(step.token);
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

    const event = step.event;
    const clusterTime: unknown = event.clusterTime;
    if (
      until !== undefined &&
      isTimestamp(clusterTime) &&
      compareTimestamps(clusterTime, until) > 0
    ) {
      stop.request('until');
      break;
    }
    if (event.operationType !== 'invalidate' || run.watch.printInvalidate) {
      // A stop (a signal) must not wait for a stdout that nobody reads any more; a line that
      // stdout takes within the grace period still counts, so its token is saved.
      const writing = run.sink.write(format(event));
      let written = await Promise.race([writing, stop.promise]);
      if (written === STOPPED) {
        const graceOver = delay(SIGNAL_FLUSH_GRACE_MS).then((): typeof STOPPED => STOPPED);
        written = await Promise.race([writing, graceOver]);
        if (written === STOPPED) break;
      }
      if (!written) {
        stop.request('epipe');
        break;
      }
      printed += 1;
      run.status.event(printed, new Date());
      armIdle();
    }
    // Only now is the event on its way out: the checkpoint may cover it.
    run.checkpoint?.advance(step.token);
    if (step.batchEnd) {
      run.checkpoint?.batchDone();
      // The batch's resume token may already say the stream is past --until: no need to wait
      // for another (empty) batch to learn it.
      if (until !== undefined && passed(step.token, until, false)) stop.request('until');
    }
    if (opts.limit !== undefined && printed >= opts.limit) stop.request('limit');
  }
  return exitFor(stop.reason);
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
): StartPosition {
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
  if (reason === 'SIGINT') return ExitCode.Sigint;
  if (reason === 'SIGTERM') return ExitCode.Sigterm;
  return ExitCode.Ok;
}

function isTimestamp(value: unknown): value is Timestamp {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { _bsontype?: unknown })._bsontype === 'Timestamp'
  );
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
