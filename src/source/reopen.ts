// The re-open policy after transient failures: capped exponential backoff with jitter, for as
// long as --retry-for allows since the first failure in a row (a count of tries said nothing
// about time: six quick failures gave up in seconds). Pure arithmetic on an injected clock;
// the source does the waiting and the talking.

/** How long to wait between tries (tests shorten them). */
export interface RetryDelays {
  baseDelayMs: number;
  maxDelayMs: number;
  /** How long past its await time a command may go unanswered (ANSWER_MARGIN_MS; tests shorten it). */
  answerMarginMs?: number;
}

/** How hard to try re-opening after transient failures. */
export interface RetryPolicy extends RetryDelays {
  /** Give up once the failures in a row have lasted this long; 0: at once; Infinity: never. */
  retryForMs: number;
}

export const DEFAULT_RETRY_FOR_MS = 60_000;

export const DEFAULT_RETRY: RetryPolicy = {
  retryForMs: DEFAULT_RETRY_FOR_MS,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
};

/** One planned retry: how long to wait, which try comes next, how long it has been failing. */
export interface Retry {
  delayMs: number;
  /** The try that follows the wait (the first open was try 1). */
  attempt: number;
  /** Since the first failure in a row, measured. */
  elapsedMs: number;
}

/** Times the failures in a row and says how long to wait before the next try. */
export class Reopen {
  private failures = 0;
  private firstFailureAt = 0;

  constructor(
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    /** A number in [0, 1); tests pin it. */
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  /** Failures in a row so far. */
  get tries(): number {
    return this.failures;
  }

  /** Since the first failure in a row (0 when nothing failed). */
  get elapsedMs(): number {
    return this.failures === 0 ? 0 : this.now() - this.firstFailureAt;
  }

  /** What is left of --retry-for in the current failures in a row (Infinity when none). */
  get remainingMs(): number {
    return this.failures === 0 ? Infinity : Math.max(0, this.policy.retryForMs - this.elapsedMs);
  }

  /** The stream delivered again: the next failure starts a new count. */
  succeeded(): void {
    this.failures = 0;
  }

  /**
   * A transient failure: the retry to make, or undefined once --retry-for has passed. `since`:
   * when the failure began, if before now (a server that stopped answering failed when its
   * answer was due, not when we stopped waiting).
   */
  failed(since?: number): Retry | undefined {
    if (this.failures === 0) this.firstFailureAt = Math.min(since ?? Infinity, this.now());
    this.failures += 1;
    const elapsedMs = this.now() - this.firstFailureAt;
    const left = this.policy.retryForMs - elapsedMs;
    if (left <= 0) return undefined;
    const ceiling = Math.min(
      this.policy.maxDelayMs,
      this.policy.baseDelayMs * 2 ** Math.min(this.failures - 1, 30),
    );
    // "Equal jitter": half the delay fixed, half random, so many tailers that lost the same
    // primary do not come back in one wave, and no wait is much shorter than planned. The
    // last try lands at the deadline, not past it.
    const delayMs = Math.min(left, Math.round(ceiling / 2 + (ceiling / 2) * this.random()));
    return { delayMs, attempt: this.failures + 1, elapsedMs };
  }
}
