import { Timestamp } from 'bson';
import {
  compareTimestamps,
  formatTimestamp,
  parseWhen,
  sinceTimestamp,
  untilTimestamp,
  WhenError,
  type When,
} from './when.js';

const NOW = new Date('2024-05-01T12:00:00.000Z');

function timeOf(when: When): Timestamp {
  if (when.kind === 'now') throw new Error('unexpected now');
  return sinceTimestamp(when);
}

describe('parseWhen', () => {
  test('now', () => {
    expect(parseWhen('now', NOW)).toEqual({ kind: 'now' });
    expect(parseWhen('NOW', NOW)).toEqual({ kind: 'now' });
  });

  test('T,I is an exact cluster time', () => {
    const when = parseWhen('1714564800,7', NOW);
    expect(when.kind).toBe('timestamp');
    expect(formatTimestamp(timeOf(when))).toBe('1714564800,7');
    expect(formatTimestamp(untilTimestamp(when as Exclude<When, { kind: 'now' }>))).toBe(
      '1714564800,7',
    );
  });

  test.each([
    ['1714564800', 1714564800],
    ['1714564800.9', 1714564800],
    ['2024-05-01T12:00:00Z', 1714564800],
    ['2024-05-01T12:00:00.999Z', 1714564800],
    ['2024-05-01t12:00:00z', 1714564800],
    ['2024-05-01T14:00:00+02:00', 1714564800],
    ['2024-05-01T14:00:00+0200', 1714564800],
    ['2024-05-01T14:00:00+02', 1714564800],
    ['2024-05-01T12:00:00.123456789Z', 1714564800],
    ['15m', 1714564800 - 900],
    ['1d', 1714564800 - 86_400],
  ])('%s → second %i', (text, seconds) => {
    const when = parseWhen(text, NOW);
    expect(when.kind).toBe('date');
    expect(timeOf(when)).toEqual(new Timestamp({ t: seconds, i: 0 }));
  });

  test('a zone-less date-time and a bare date are local time', () => {
    const when = parseWhen('2024-05-01T12:00', NOW);
    expect(when.kind === 'date' && when.date.getTime()).toBe(new Date(2024, 4, 1, 12, 0).getTime());
    const day = parseWhen('2024-05-01', NOW);
    expect(day.kind === 'date' && day.date.getTime()).toBe(new Date(2024, 4, 1).getTime());
  });

  test('until covers the whole second of a wall-clock time', () => {
    const when = parseWhen('2024-05-01T12:00:00Z', NOW) as Exclude<When, { kind: 'now' }>;
    expect(untilTimestamp(when)).toEqual(new Timestamp({ t: 1714564800, i: 0xffffffff }));
  });

  test.each([
    ['', 'empty time'],
    ['yesterday', '"yesterday" is not a time'],
    ['2024-02-30T00:00:00Z', '"2024-02-30T00:00:00Z" is not a valid date'],
    ['2024-13-01', '"2024-13-01" is not a valid date'],
    ['2024-05-01T25:00:00Z', '"2024-05-01T25:00:00Z" is not a valid date'],
    ['4294967296,1', '"4294967296,1": both parts of T,I must be below 2^32'],
    ['99999999999', '"99999999999" is too far in the future'],
    ['1969-12-31T23:59:59Z', '"1969-12-31T23:59:59Z" is before 1970'],
    // Past 2^32 - 1 seconds a cluster time cannot hold the date (once an unexpected error, exit 1).
    ['2106-02-07T06:28:16Z', '"2106-02-07T06:28:16Z" is too far in the future'],
    ['9999-12-31', '"9999-12-31" is too far in the future'],
    ['4294967296', '"4294967296" is too far in the future'],
    ['99999999999999999999999d', '"99999999999999999999999d" is before 1970'],
    ['200000y', '"200000y" is not a time'],
    ['1h\nago', '"1h\\nago" is not a time'],
  ])('%j is refused', (text, start) => {
    expect(() => parseWhen(text, NOW)).toThrow(WhenError);
    expect(() => parseWhen(text, NOW)).toThrow(start);
  });
});

test('the last second a cluster time can hold is accepted', () => {
  expect(timeOf(parseWhen('2106-02-07T06:28:15Z', NOW))).toEqual(
    new Timestamp({ t: 0xffffffff, i: 0 }),
  );
  expect(timeOf(parseWhen('4294967295', NOW))).toEqual(new Timestamp({ t: 0xffffffff, i: 0 }));
});

test('compareTimestamps orders by seconds then increment', () => {
  const a = new Timestamp({ t: 10, i: 5 });
  const b = new Timestamp({ t: 10, i: 6 });
  const c = new Timestamp({ t: 11, i: 0 });
  expect(compareTimestamps(a, b)).toBeLessThan(0);
  expect(compareTimestamps(c, b)).toBeGreaterThan(0);
  expect(compareTimestamps(a, new Timestamp({ t: 10, i: 5 }))).toBe(0);
  expect(compareTimestamps(new Timestamp({ t: 10, i: 0xffffffff }), c)).toBeLessThan(0);
});
