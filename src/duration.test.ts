import { DurationError, formatDuration, parseDuration, quoted } from './duration.js';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['15s', 15_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    [' 10s ', 10_000],
    ['0s', 0],
  ])('%s → %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each([
    ['', 'empty duration'],
    ['10', '"10" has no unit (use ms, s, m, h or d, e.g. 10s)'],
    ['10x', '"10x" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
    ['s', '"s" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
    ['-5s', '"-5s" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
    ['5s 3m', '"5s 3m" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
    // Control characters are escaped: the message is one line and drives no terminal.
    ['5s\n3m', '"5s\\n3m" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
    ['\u001b[31m5s', '"\\x1b[31m5s" is not a duration (examples: 500ms, 15s, 15m, 2h, 1d)'],
  ])('%j is refused', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new DurationError(message));
  });
});

test('quoted: double quotes, control characters escaped, everything else as given', () => {
  expect(quoted('15m')).toBe('"15m"');
  expect(quoted('a\tb\r\n\u0000\u007f é"\\')).toBe('"a\\tb\\r\\n\\x00\\x7f é"\\"');
});

describe('formatDuration', () => {
  test.each([
    [250, '250ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [900_000, '15m'],
    [7_200_000, '2h'],
    [86_400_000, '1d'],
  ])('%i → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
