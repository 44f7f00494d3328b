// How a run learns that it must stop (--limit, --until, idle, a closed stdout, a signal), and
// how it waits for something "or a stop" without leaking.

export type StopSignal = 'SIGHUP' | 'SIGINT' | 'SIGTERM';
export type StopReason = 'limit' | 'until' | 'idle' | 'epipe' | StopSignal;

/** What `race` gives when a stop came first. */
export const STOPPED = Symbol('stopped');

/**
 * Collects the first stop request. A signal is also remembered when it comes later (while the
 * run is already stopping for another reason): it cuts the wait for stdout short and decides
 * the exit code.
 *
 * Waiting "for X or a stop" goes through `race`, which leaves nothing behind once X settles.
 * (A `Promise.race` against one long-lived promise adds a reaction to it on every call, and
 * each reaction keeps its result alive: a leak of every event ever read.)
 */
export class Stopper {
  reason: StopReason | undefined;
  signal: StopSignal | undefined;
  readonly signalled: Promise<void>;
  private resolveSignal: () => void = () => undefined;
  private readonly waiting = new Set<() => void>();

  constructor() {
    this.signalled = new Promise((resolve) => {
      this.resolveSignal = resolve;
    });
  }

  /** How many `race`s are waiting now (a settled race leaves none behind). */
  get waitingCount(): number {
    return this.waiting.size;
  }

  request(reason: StopReason): void {
    if (reason === 'SIGHUP' || reason === 'SIGINT' || reason === 'SIGTERM') {
      this.signal ??= reason;
      this.resolveSignal();
    }
    if (this.reason !== undefined) return;
    this.reason = reason;
    for (const wake of this.waiting) wake();
    this.waiting.clear();
  }

  /** `work`'s outcome, or STOPPED as soon as a stop is requested (work's outcome is then dropped). */
  race<T>(work: Promise<T>): Promise<T | typeof STOPPED> {
    if (this.reason !== undefined) {
      work.catch(() => undefined);
      return Promise.resolve(STOPPED);
    }
    return new Promise<T | typeof STOPPED>((resolve, reject) => {
      const wake = (): void => resolve(STOPPED);
      this.waiting.add(wake);
      work.then(
        (value) => {
          this.waiting.delete(wake);
          resolve(value);
        },
        (error: unknown) => {
          this.waiting.delete(wake);
          reject(error);
        },
      );
    });
  }
}
