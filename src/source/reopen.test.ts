import { Reopen } from './reopen.js';

const POLICY = { maxTries: 5, baseDelayMs: 100, maxDelayMs: 500 };

test('capped exponential backoff: half fixed, half jitter', () => {
  const low = new Reopen(POLICY, () => 0);
  expect([1, 2, 3, 4].map(() => low.failed()?.delayMs)).toEqual([50, 100, 200, 250]);
  const high = new Reopen(POLICY, () => 0.999999);
  expect([1, 2, 3, 4].map(() => high.failed()?.delayMs)).toEqual([100, 200, 400, 500]);
});

test('numbers the tries and gives up after maxTries', () => {
  const reopen = new Reopen(POLICY, () => 0.5);
  expect([1, 2, 3, 4].map(() => reopen.failed()?.attempt)).toEqual([2, 3, 4, 5]);
  expect(reopen.failed()).toBeUndefined();
});

test('a success starts the count over', () => {
  const reopen = new Reopen(POLICY, () => 0);
  reopen.failed();
  reopen.failed();
  reopen.succeeded();
  expect(reopen.failed()).toEqual({ delayMs: 50, attempt: 2 });
});
