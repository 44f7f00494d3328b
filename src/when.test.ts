import { Timestamp } from 'bson';
import {
  compareTimestamps,
  formatTimestamp,
  parseWhen,
  sinceTimestamp,
  untilTimestamp,
  WallClip,
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

describe('milliseconds, times of day and epoch milliseconds (issue 9)', () => {
  const SECOND = 1714564800_000;
  const date = (text: string) => {
    const when = parseWhen(text, NOW);
    if (when.kind !== 'date') throw new Error(`not a date: ${text}`);
    return when;
  };

  test.each([
    ['2024-05-01T12:00:00.250Z', 250, 250],
    ['2024-05-01T12:00:00.2Z', 200, 200],
    ['2024-05-01T12:00:00.000Z', 0, 0],
    // Finer than wallTime's milliseconds: --since rounds up, --until down.
    ['2024-05-01T12:00:00.2501Z', 251, 250],
    ['2024-05-01T12:00:00.250000000Z', 250, 250],
    ['1714564800.25', 250, 250],
    ['1714564800250', 250, 250],
  ])('%s keeps its milliseconds', (text, since, until) => {
    const when = date(text);
    expect(when.seconds).toBe(1714564800);
    expect(when.ms).toEqual({ since: SECOND + since, until: SECOND + until });
    expect(when.date.getTime()).toBe(SECOND + until);
  });

  test.each(['2024-05-01T12:00:00Z', '1714564800', '15m', '2024-05-01'])(
    '%s names whole seconds (no ms)',
    (text) => {
      expect(date(text).ms).toBeUndefined();
    },
  );

  test('13 digits are epoch milliseconds, said so by `form`', () => {
    const when = date('1714564800999');
    expect(when.form).toBe('epoch-ms');
    expect(when.seconds).toBe(1714564800);
    expect(date('1714564800').form).toBeUndefined();
  });

  test('other long numbers get a hint about milliseconds', () => {
    expect(() => parseWhen('171456480025', NOW)).toThrow(
      '"171456480025" is too far in the future (cluster times end in 2106; epoch milliseconds have 13 digits)',
    );
    expect(() => parseWhen('1714564800250000', NOW)).toThrow('epoch milliseconds have 13 digits');
    expect(() => parseWhen('99999999999999999999999', NOW)).toThrow('is too far in the future');
  });

  test.each([
    ['12:03', 12, 3, 0, undefined],
    ['9:05:30', 9, 5, 30, undefined],
    ['07:35:19.617', 7, 35, 19, 617],
  ])('%s is today at that local time', (text, h, m, s, ms) => {
    const when = date(text);
    const expected = new Date(NOW.getTime());
    expected.setHours(h, m, s, ms ?? 0);
    expect(when.form).toBe('time-of-day');
    expect(when.date.getTime()).toBe(expected.getTime());
    expect(when.ms).toEqual(
      ms === undefined ? undefined : { since: expected.getTime(), until: expected.getTime() },
    );
  });

  test.each(['24:00', '12:60', '12:00:60'])('%s is not a valid time of day', (text) => {
    expect(() => parseWhen(text, NOW)).toThrow(`"${text}" is not a valid time of day`);
  });
});

describe('WallClip', () => {
  const T = 1714564800;
  const ts = (t: number) => new Timestamp({ t, i: 0 });
  const wall = (ms: number | undefined) => () => ms;

  test('no millisecond bound: no clip', () => {
    expect(WallClip.of({ ts: ts(T) }, { ts: ts(T) }, () => undefined)).toBeUndefined();
  });

  test('--since skips events of its first second before the instant, then stops looking', () => {
    const clip = WallClip.of({ ts: ts(T), wallFrom: T * 1000 + 200 }, undefined, () => {
      throw new Error('no note expected');
    });
    if (clip === undefined) throw new Error('no clip');
    expect(clip.check(T, undefined, wall(T * 1000 + 199))).toBe('skip');
    expect(clip.check(T, undefined, wall(T * 1000 + 200))).toBe('print');
    expect(clip.done).toBe(false);
    let read = false;
    expect(
      clip.check(T + 1, undefined, () => {
        read = true;
        return T * 1000;
      }),
    ).toBe('print');
    expect(read).toBe(false); // past the second wallTime is not read
    expect(clip.done).toBe(true);
  });

  test('--until stops at the first event of its second after the instant', () => {
    const clip = WallClip.of(undefined, { ts: ts(T), wallTo: T * 1000 + 200 }, () => undefined);
    if (clip === undefined) throw new Error('no clip');
    let reads = 0;
    const counted = (ms: number) => () => {
      reads += 1;
      return ms;
    };
    expect(clip.check(T - 1, undefined, counted(T * 1000 + 999))).toBe('print');
    expect(reads).toBe(0);
    expect(clip.check(T, undefined, counted(T * 1000 + 200))).toBe('print');
    expect(clip.check(T, undefined, counted(T * 1000 + 201))).toBe('stop');
    expect(reads).toBe(2);
  });

  test('later fragments of a split event share the first fragment’s verdict', () => {
    const clip = WallClip.of({ ts: ts(T), wallFrom: T * 1000 + 500 }, undefined, () => undefined);
    if (clip === undefined) throw new Error('no clip');
    expect(clip.check(T, 1, wall(T * 1000 + 100))).toBe('skip');
    expect(clip.check(undefined, 2, wall(undefined))).toBe('skip');
    expect(clip.check(T, 1, wall(T * 1000 + 600))).toBe('print');
    expect(clip.check(undefined, 2, wall(undefined))).toBe('print');
  });

  test('no wallTime: the whole second applies, and the note comes once', () => {
    const notes: string[] = [];
    const clip = WallClip.of(
      { ts: ts(T), wallFrom: T * 1000 + 500 },
      { ts: ts(T), wallTo: T * 1000 + 600 },
      () => notes.push('no wallTime'),
    );
    if (clip === undefined) throw new Error('no clip');
    expect(clip.check(T, undefined, wall(undefined))).toBe('print');
    expect(clip.check(T, undefined, wall(undefined))).toBe('print');
    expect(notes).toEqual(['no wallTime']);
  });
});
