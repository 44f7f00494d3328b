// Fault injection the way mongod does it (`configureFailPoint`, enabled by test commands):
// `failCommand` fails, blocks or drops named commands before they run; `failGetMoreAfterCursorCheckout`
// fails a getMore once its cursor is found. Modes and counting follow mongo/util/fail_point.h:
// a mode is consumed only when the fail point's predicate matches.
import { type Document, Double, Long } from 'bson';
import { fail } from '../errors.js';
import type { CommandContext, CommandHandler, ConnectionInfo, ServerState } from '../types.js';
import { toNumber } from '../values.js';

export type FailPointMode =
  | { kind: 'off' }
  | { kind: 'alwaysOn' }
  | { kind: 'times'; remaining: number }
  | { kind: 'skip'; remaining: number }
  | { kind: 'probability'; p: number };

/** One named fail point: its mode, its data and how often it fired since it was last set. */
export class FailPoint {
  mode: FailPointMode = { kind: 'off' };
  data: Document = {};
  timesEntered = 0;

  /** Sets mode and data; returns how often the fail point fired under its previous setting. */
  configure(mode: FailPointMode, data: Document): number {
    const previous = this.timesEntered;
    this.mode = mode.kind === 'times' && mode.remaining <= 0 ? { kind: 'off' } : mode;
    this.data = data;
    this.timesEntered = 0;
    return previous;
  }

  /**
   * If the fail point is on and `matches(data)` holds, consumes one activation and returns the
   * data; otherwise `undefined`. `skip` lets the first n matches through.
   */
  fire(matches: (data: Document) => boolean): Document | undefined {
    const mode = this.mode;
    if (mode.kind === 'off' || !matches(this.data)) return undefined;
    switch (mode.kind) {
      case 'skip':
        if (mode.remaining > 0) {
          mode.remaining--;
          return undefined;
        }
        break;
      case 'times':
        mode.remaining--;
        if (mode.remaining <= 0) this.mode = { kind: 'off' };
        break;
      case 'probability':
        if (Math.random() >= mode.p) return undefined;
        break;
      case 'alwaysOn':
        break;
    }
    this.timesEntered++;
    return this.data;
  }
}

/** The fail points one server supports. */
export class FailPoints {
  readonly failCommand = new FailPoint();
  readonly failGetMoreAfterCursorCheckout = new FailPoint();

  get(name: string): FailPoint | undefined {
    if (name === 'failCommand') return this.failCommand;
    if (name === 'failGetMoreAfterCursorCheckout') return this.failGetMoreAfterCursorCheckout;
    return undefined;
  }
}

const registry = new WeakMap<ServerState, FailPoints>();

/** The fail points of a server, created on first use. */
export function failPointsOf(state: ServerState): FailPoints {
  let fps = registry.get(state);
  if (!fps) {
    fps = new FailPoints();
    registry.set(state, fps);
  }
  return fps;
}

// ---------------------------------------------------------------- configureFailPoint

function parseMode(mode: unknown): FailPointMode {
  if (mode === 'off') return { kind: 'off' };
  if (mode === 'alwaysOn') return { kind: 'alwaysOn' };
  if (typeof mode === 'object' && mode !== null) {
    const m = mode as Document;
    const [key] = Object.keys(m);
    const n = toNumber(key === undefined ? undefined : m[key]);
    if (n !== undefined && Number.isFinite(n)) {
      if (key === 'times' && n >= 0 && Number.isInteger(n)) return { kind: 'times', remaining: n };
      if (key === 'skip' && n >= 0 && Number.isInteger(n)) return { kind: 'skip', remaining: n };
      if (key === 'activationProbability' && n >= 0 && n <= 1) return { kind: 'probability', p: n };
    }
  }
  return fail(2, `Unrecognized mode object or value: ${JSON.stringify(mode)}`);
}

const configureFailPoint: CommandHandler = (cmd: Document, ctx: CommandContext) => {
  const name: unknown = cmd.configureFailPoint;
  if (typeof name !== 'string') fail(14, "'configureFailPoint' must be a string");
  const fp = failPointsOf(ctx.server).get(name);
  if (!fp) fail(266, `Cannot find failpoint: ${name}`);
  if (cmd.mode === undefined) fail(266, "When setting a failpoint, you must supply a 'mode'");
  const mode = parseMode(cmd.mode);
  const data: unknown = cmd.data ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    fail(2, "the 'data' field must be an object");
  }
  const count = fp.configure(mode, data as Document);
  return { count: Long.fromNumber(count), ok: new Double(1) };
};

export const failPointCommands: Record<string, CommandHandler> = { configureFailPoint };

// ---------------------------------------------------------------- evaluation (used by dispatch)

/** What an active `failCommand` does to one command. */
export interface FailCommandAction {
  /** Drop the connection without replying. */
  closeConnection: boolean;
  /** Delay before anything else happens. */
  blockTimeMS: number;
  /** Fail with this code (after the delay). */
  errorCode?: number;
  /** Replaces every computed label (an empty array means none) when the fail point gives it. */
  errorLabels?: string[];
}

function names(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** failCommand's filters shared by both fail points: command name and `appName`. */
function matchesCommand(data: Document, aliases: readonly string[], conn: ConnectionInfo): boolean {
  if (typeof data.appName === 'string' && data.appName !== conn.appName) return false;
  if (data.failAllCommands === true) return true;
  return names(data.failCommands).some((n) => aliases.includes(n));
}

function intField(data: Document, key: string): number | undefined {
  const n = toNumber(data[key]);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

/**
 * Evaluates `failCommand` for a command about to run (`aliases` = its name and its aliases).
 * Fires only when the data asks for something that happens before the command (close, block,
 * error), like `CommandHelpers::evaluateFailCommandFailPoint`.
 */
export function evaluateFailCommand(
  fps: FailPoints,
  aliases: readonly string[],
  conn: ConnectionInfo,
): FailCommandAction | undefined {
  const data = fps.failCommand.fire(
    (d) =>
      matchesCommand(d, aliases, conn) &&
      (d.closeConnection === true ||
        d.blockConnection === true ||
        intField(d, 'errorCode') !== undefined),
  );
  if (!data) return undefined;
  const action: FailCommandAction = {
    closeConnection: data.closeConnection === true,
    blockTimeMS:
      data.blockConnection === true ? Math.max(0, intField(data, 'blockTimeMS') ?? 0) : 0,
  };
  const code = intField(data, 'errorCode');
  if (code !== undefined) action.errorCode = code;
  if (Array.isArray(data.errorLabels)) action.errorLabels = names(data.errorLabels);
  return action;
}

/**
 * After a command succeeded: the `writeConcernError` an active failCommand asks to attach, with
 * the fail point's `errorLabels` when it gives them.
 */
export function evaluateWriteConcernError(
  fps: FailPoints,
  aliases: readonly string[],
  conn: ConnectionInfo,
): { writeConcernError: Document; errorLabels?: string[] } | undefined {
  const data = fps.failCommand.fire(
    (d) =>
      matchesCommand(d, aliases, conn) &&
      typeof d.writeConcernError === 'object' &&
      d.writeConcernError !== null,
  );
  if (!data) return undefined;
  const result: { writeConcernError: Document; errorLabels?: string[] } = {
    writeConcernError: data.writeConcernError as Document,
  };
  if (Array.isArray(data.errorLabels)) result.errorLabels = names(data.errorLabels);
  return result;
}

/**
 * `failGetMoreAfterCursorCheckout`: the error code to fail a getMore with once its cursor was
 * found (InternalError when the data names none), or `undefined`.
 */
export function evaluateFailGetMore(fps: FailPoints, conn: ConnectionInfo): number | undefined {
  const data = fps.failGetMoreAfterCursorCheckout.fire((d) =>
    matchesCommand({ ...d, failCommands: ['getMore'] }, ['getMore'], conn),
  );
  if (!data) return undefined;
  return intField(data, 'errorCode') ?? 1;
}
