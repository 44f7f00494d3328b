// The re-open policy after transient failures: capped exponential backoff with jitter and a
// bounded number of tries. Pure arithmetic; the source does the waiting and the talking.

/** How hard to try re-opening after transient failures. */
export interface RetryPolicy {
  maxTries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxTries: 6, baseDelayMs: 250, maxDelayMs: 10_000 };

/** One planned retry: how long to wait and which try comes next. */
export interface Retry {
  delayMs: number;
  /** The try that follows the wait (the first open was try 1). */
  attempt: number;
}

/** Counts failures in a row and says how long to wait before the next try. */
export class Reopen {
  private failures = 0;

  constructor(
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    /** A number in [0, 1); tests pin it. */
    private readonly random: () => number = Math.random,
  ) {}

  /** The stream delivered again: the next failure starts a new count. */
  succeeded(): void {
    this.failures = 0;
  }

  /** A transient failure: the retry to make, or undefined when the tries are used up. */
  failed(): Retry | undefined {
    this.failures += 1;
    if (this.failures >= this.policy.maxTries) return undefined;
    const ceiling = Math.min(
      this.policy.maxDelayMs,
      this.policy.baseDelayMs * 2 ** (this.failures - 1),
    );
    // "Equal jitter": half the delay fixed, half random, so many tailers that lost the same
    // primary do not come back in one wave, and no wait is much shorter than planned.
    const delayMs = Math.round(ceiling / 2 + (ceiling / 2) * this.random());
    return { delayMs, attempt: this.failures + 1 };
  }
}
