// Durations as people type them: `500ms`, `15s`, `15m`, `2h`, `1d`, or combined (`1h30m`).
// A bare number is refused: "10" could mean seconds or milliseconds, and guessing is how a
// timeout ends up 1000 times too short.

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * A user's value in double quotes for a one-line message: control characters (a newline, ESC)
 * are shown escaped, so a pasted value cannot break the line or drive the terminal.
 */
export function quoted(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is escaped
  const escaped = text.replace(/[\u0000-\u001f\u007f]/g, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\t') return '\\t';
    if (ch === '\r') return '\\r';
    return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `"${escaped}"`;
}

/** Why a duration could not be parsed; the caller names the flag. */
export class DurationError extends Error {}

/** Parses `500ms`, `15s`, `1h30m`… into milliseconds (a whole number). */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '') throw new DurationError('empty duration');
  if (/^\d+(\.\d+)?$/.test(input)) {
    throw new DurationError(`${quoted(text)} has no unit (use ms, s, m, h or d, e.g. ${input}s)`);
  }
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (match === null || match.index !== start) {
      throw new DurationError(
        `${quoted(text)} is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)`,
      );
    }
    const [, amount = '0', unit = 'ms'] = match;
    total += Number(amount) * (UNIT_MS[unit] ?? 1);
  }
  if (!Number.isFinite(total)) throw new DurationError(`${quoted(text)} is too long`);
  return Math.round(total);
}

/** A measured time for messages: "0.3s", "9.7s", then whole seconds ("14s", "125s"). */
export function formatElapsed(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** Renders milliseconds compactly for messages: 1500 → "1.5s", 900000 → "15m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Number((ms / 1000).toFixed(3))}s`;
}
