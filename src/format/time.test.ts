import { createClock } from './time.js';

describe('createClock', () => {
  const d = new Date('2024-07-01T23:05:09.007Z');

  test('UTC (any case)', () => {
    expect(createClock('UTC')(d)).toBe('23:05:09.007');
    expect(createClock('utc')(d)).toBe('23:05:09.007');
  });

  test.each([
    ['Europe/Paris', '01:05:09.007'],
    ['America/New_York', '19:05:09.007'],
    ['Asia/Kolkata', '04:35:09.007'],
    ['Etc/GMT+12', '11:05:09.007'],
  ])('%s', (zone, expected) => {
    expect(createClock(zone)(d)).toBe(expected);
  });

  test('midnight is 00, not 24', () => {
    expect(createClock('Europe/Paris')(new Date('2024-07-01T22:00:00.000Z'))).toBe('00:00:00.000');
  });

  test('the local zone by default (whatever TZ is, the shape holds and minutes/ms agree)', () => {
    const text = createClock()(d);
    expect(text).toMatch(/^\d\d:\d\d:09\.007$/);
  });

  test('an invalid date prints a placeholder', () => {
    expect(createClock('UTC')(new Date(NaN))).toBe('--:--:--.---');
    expect(createClock()(new Date(NaN))).toBe('--:--:--.---');
  });

  test('an unknown zone throws a RangeError naming it', () => {
    expect(() => createClock('Nowhere/Land')).toThrow(RangeError);
    expect(() => createClock('Nowhere/Land')).toThrow("unknown time zone 'Nowhere/Land'");
  });
});
