import { Reopen } from './reopen.js';

const POLICY = { retryForMs: 60_000, baseDelayMs: 100, maxDelayMs: 500 };

test('capped exponential backoff: half fixed, half jitter', () => {
  const low = new Reopen(POLICY, () => 0);
  expect([1, 2, 3, 4].map(() => low.failed()?.delayMs)).toEqual([50, 100, 200, 250]);
  const high = new Reopen(POLICY, () => 0.999999);
  expect([1, 2, 3, 4].map(() => high.failed()?.delayMs)).toEqual([100, 200, 400, 500]);
});

test('gives up once the failures in a row have lasted --retry-for, not after a count', () => {
  let clock = 1_000_000;
  const reopen = new Reopen(
    { ...POLICY, retryForMs: 2_000 },
    () => 0.5,
    () => clock,
  );
  const seen = [];
  for (;;) {
    const retry = reopen.failed();
    if (retry === undefined) break;
    seen.push(retry);
    clock += retry.delayMs + 50; // the wait, then a try that takes 50ms to fail
  }
  expect(seen.map((r) => r.attempt)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  expect(seen.map((r) => r.elapsedMs)).toEqual([0, 125, 325, 675, 1100, 1525, 1950]);
  // The last wait is cut to land on the deadline.
  expect(seen.at(-1)?.delayMs).toBe(50);
  expect(reopen.elapsedMs).toBe(2050);
  expect(reopen.tries).toBe(8);
});

test('0: fail at once; Infinity: never give up', () => {
  expect(new Reopen({ ...POLICY, retryForMs: 0 }).failed()).toBeUndefined();
  let clock = 0;
  const forever = new Reopen(
    { ...POLICY, retryForMs: Infinity },
    () => 0,
    () => clock,
  );
  for (let k = 0; k < 1000; k += 1) {
    const retry = forever.failed();
    expect(retry?.delayMs).toBe(k < 3 ? 50 * 2 ** k : 250);
    clock += 86_400_000;
  }
});

test('a success starts the count and the clock over', () => {
  let clock = 0;
  const reopen = new Reopen(
    POLICY,
    () => 0,
    () => clock,
  );
  reopen.failed();
  clock += 50_000;
  reopen.failed();
  reopen.succeeded();
  clock += 50_000;
  expect(reopen.failed()).toEqual({ delayMs: 50, attempt: 2, elapsedMs: 0 });
});

test('a failure that began earlier (an answer that never came) counts from then', () => {
  let clock = 10_000;
  const reopen = new Reopen(
    { ...POLICY, retryForMs: 5_000 },
    () => 0,
    () => clock,
  );
  expect(reopen.remainingMs).toBe(Infinity);
  // The answer was due 2 s ago: failing for 2 s already, 3 s of --retry-for left.
  expect(reopen.failed(8_000)?.elapsedMs).toBe(2_000);
  expect(reopen.remainingMs).toBe(3_000);
  clock += 4_000;
  expect(reopen.failed()).toBeUndefined();
  expect(reopen.remainingMs).toBe(0);
  // A start in the future is not believed.
  reopen.succeeded();
  expect(reopen.failed(clock + 1_000)?.elapsedMs).toBe(0);
});
