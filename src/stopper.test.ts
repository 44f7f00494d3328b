import { STOPPED, Stopper } from './stopper.js';

test('race gives the work outcome, and a settled race leaves nothing behind', async () => {
  const stop = new Stopper();
  for (let k = 0; k < 1000; k += 1) {
    expect(await stop.race(Promise.resolve(k))).toBe(k);
  }
  await expect(stop.race(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(stop.waitingCount).toBe(0);
});

test('a stop ends every waiting race with STOPPED; later races end at once', async () => {
  const stop = new Stopper();
  const never = new Promise<number>(() => undefined);
  const first = stop.race(never);
  const second = stop.race(never);
  expect(stop.waitingCount).toBe(2);
  stop.request('limit');
  expect(await first).toBe(STOPPED);
  expect(await second).toBe(STOPPED);
  expect(stop.waitingCount).toBe(0);
  expect(await stop.race(Promise.reject(new Error('ignored')))).toBe(STOPPED);
  expect(stop.reason).toBe('limit');
});

test('the first reason wins; a later signal is still remembered and resolves signalled', async () => {
  const stop = new Stopper();
  stop.request('until');
  stop.request('SIGTERM');
  stop.request('SIGINT');
  expect(stop.reason).toBe('until');
  expect(stop.signal).toBe('SIGTERM');
  await stop.signalled;
});
