import { createClock, peopleTime } from './time.js';

describe('createClock', () => {
  const d = new Date('2024-07-01T23:05:09.007Z');
  /** "Now" is the same instant: the event is from today in every zone. */
  const today = (): Date => d;

  test('UTC (any case)', () => {
    expect(createClock('UTC', today)(d)).toBe('23:05:09.007');
    expect(createClock('utc', today)(d)).toBe('23:05:09.007');
  });

  test.each([
    ['Europe/Paris', '01:05:09.007'],
    ['America/New_York', '19:05:09.007'],
    ['Asia/Kolkata', '04:35:09.007'],
    ['Etc/GMT+12', '11:05:09.007'],
  ])('%s', (zone, expected) => {
    expect(createClock(zone, today)(d)).toBe(expected);
  });

  test('midnight is 00, not 24', () => {
    const midnight = new Date('2024-07-01T22:00:00.000Z');
    expect(createClock('Europe/Paris', () => midnight)(midnight)).toBe('00:00:00.000');
  });

  test('the local zone by default (whatever TZ is, the shape holds and minutes/ms agree)', () => {
    expect(createClock(undefined, today)(d)).toMatch(/^\d\d:\d\d:09\.007$/);
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

describe('createClock: the date, when the event is not from today', () => {
  const event = new Date('2024-07-01T23:05:09.007Z');

  test('an event from an earlier day shows its date, in the zone', () => {
    const later = (): Date => new Date('2024-07-03T12:00:00Z');
    expect(createClock('UTC', later)(event)).toBe('2024-07-01 23:05:09.007');
    expect(createClock('Europe/Paris', later)(event)).toBe('2024-07-02 01:05:09.007');
  });

  test('"today" is the zone\'s day, not the UTC day', () => {
    // At 00:30 UTC on 2 July it is 2 July in Paris and still 1 July in New York: the event
    // (23:05 UTC on 1 July) is from yesterday in UTC only.
    const now = (): Date => new Date('2024-07-02T00:30:00Z');
    expect(createClock('UTC', now)(event)).toBe('2024-07-01 23:05:09.007');
    expect(createClock('Europe/Paris', now)(event)).toBe('01:05:09.007');
    expect(createClock('America/New_York', now)(event)).toBe('19:05:09.007');
  });

  test('the day is followed as the clock moves past midnight', () => {
    let now = new Date('2024-07-01T23:59:59Z');
    const clock = createClock('UTC', () => now);
    expect(clock(event)).toBe('23:05:09.007');
    now = new Date('2024-07-02T00:00:01Z');
    expect(clock(event)).toBe('2024-07-01 23:05:09.007');
    expect(clock(new Date('2024-07-02T00:00:00.500Z'))).toBe('00:00:00.500');
  });

  test('a future day shows its date too; the local zone follows the same rule', () => {
    const before = (): Date => new Date('2024-06-01T12:00:00Z');
    expect(createClock('UTC', before)(event)).toBe('2024-07-01 23:05:09.007');
    expect(createClock(undefined, before)(event)).toMatch(/^2024-07-0[12] \d\d:\d\d:09\.007$/);
  });
});

describe('peopleTime: ISO 8601 in the zone, with its offset', () => {
  const d = new Date('2026-11-29T16:53:36Z');

  test.each([
    ['UTC', '2026-11-29T16:53:36Z'],
    ['utc', '2026-11-29T16:53:36Z'],
    ['Europe/Paris', '2026-11-29T17:53:36+01:00'],
    ['America/New_York', '2026-11-29T11:53:36-05:00'],
    ['Asia/Kolkata', '2026-11-29T22:23:36+05:30'],
    ['America/St_Johns', '2026-11-29T13:23:36-03:30'],
    ['Pacific/Kiritimati', '2026-11-30T06:53:36+14:00'],
  ])('%s', (zone, expected) => {
    expect(peopleTime(d, zone)).toBe(expected);
    // It names the same moment.
    expect(Date.parse(peopleTime(d, zone))).toBe(d.getTime());
  });

  test('summer time moves the offset', () => {
    expect(peopleTime(new Date('2026-07-01T12:00:00Z'), 'Europe/Paris')).toBe(
      '2026-07-01T14:00:00+02:00',
    );
  });

  test('milliseconds only when there are some', () => {
    expect(peopleTime(new Date(1_700_000_000_123), 'Europe/Paris')).toBe(
      '2023-11-14T23:13:20.123+01:00',
    );
    expect(peopleTime(new Date(1_700_000_000_000), 'UTC')).toBe('2023-11-14T22:13:20Z');
    expect(peopleTime(new Date(-1), 'UTC')).toBe('1969-12-31T23:59:59.999Z');
  });

  test('a zero offset is Z, in any zone that has it', () => {
    expect(peopleTime(d, 'Europe/London')).toBe('2026-11-29T16:53:36Z');
  });

  test('an old local mean time keeps its seconds', () => {
    expect(peopleTime(new Date('1900-01-01T00:00:00Z'), 'Europe/Paris')).toBe(
      '1900-01-01T00:09:21+00:09:21',
    );
  });

  test('the local zone by default: the same moment, with an offset', () => {
    const text = peopleTime(d);
    expect(text).toMatch(/^2026-11-(29|30)T\d\d:\d\d:36(Z|[+-]\d\d:\d\d)$/);
    expect(Date.parse(text)).toBe(d.getTime());
  });

  test('an invalid date says so; an unknown zone throws a RangeError', () => {
    expect(peopleTime(new Date(NaN), 'UTC')).toBe('invalid date');
    expect(() => peopleTime(d, 'Nowhere/Land')).toThrow(RangeError);
  });
});
