import { codePointWidth, fitWidth, visibleWidth } from './width.js';

const GREEN = (s: string): string => `\x1b[32m${s}\x1b[39m`;

describe('visibleWidth', () => {
  test.each([
    ['', 0],
    ['hello', 5],
    [GREEN('hello'), 5],
    ['日本語', 6],
    ['ｈｉ', 4], // fullwidth Latin
    ['한국어', 6],
    ['😀', 2],
    ['a😀b', 4],
    ['cafe\u0301', 4], // combining acute accent
    ['👨‍👩‍👧', 2], // a ZWJ family is one emoji
    ['❤️', 2], // heart + VS16: emoji presentation
    ['→…', 2],
    [`x${GREEN('日本')}y`, 6],
  ])('%j is %i columns', (text, width) => {
    expect(visibleWidth(text)).toBe(width);
  });

  test('code points', () => {
    expect(codePointWidth(0x41)).toBe(1);
    expect(codePointWidth(0x4e00)).toBe(2);
    expect(codePointWidth(0x1f600)).toBe(2);
    expect(codePointWidth(0x0301)).toBe(0);
    expect(codePointWidth(0x200b)).toBe(0);
    expect(codePointWidth(0x20000)).toBe(2);
    expect(codePointWidth(0xe9)).toBe(1);
  });
});

describe('fitWidth', () => {
  test('a line that fits is returned as it is', () => {
    expect(fitWidth('hello', 5)).toBe('hello');
    expect(fitWidth(GREEN('hello'), 5)).toBe(GREEN('hello'));
  });

  test('a longer line is cut to the width, the last column an ellipsis', () => {
    expect(fitWidth('hello world', 8)).toBe('hello w…');
    expect(fitWidth('hello', 1)).toBe('…');
    expect(fitWidth('hello', 0)).toBe('');
  });

  test('colour sequences take no room, are never cut, and a cut resets the colour', () => {
    const line = `${GREEN('abc')}def${GREEN('ghi')}`;
    expect(fitWidth(line, 9)).toBe(line);
    expect(fitWidth(line, 5)).toBe('\x1b[32mabc\x1b[39md\x1b[0m…');
    expect(fitWidth(line, 8)).toBe('\x1b[32mabc\x1b[39mdef\x1b[32mg\x1b[0m…');
    // Cut right where a sequence starts: no half sequence, no dangling ESC.
    expect(fitWidth(line, 7)).toBe('\x1b[32mabc\x1b[39mdef\x1b[0m…');
  });

  test('a wide character that does not fit is left out whole', () => {
    expect(fitWidth('ab日本語', 5)).toBe('ab日…');
    expect(fitWidth('ab日本語', 4)).toBe('ab…');
    expect(visibleWidth(fitWidth('ab日本語', 4))).toBeLessThanOrEqual(4);
  });

  test('surrogate pairs, combining marks and joined emoji stay whole', () => {
    expect(fitWidth('😀😀😀', 4)).toBe('😀…');
    expect(fitWidth('😀😀😀', 5)).toBe('😀😀…');
    expect(fitWidth('cafe\u0301 au lait', 5)).toBe('cafe\u0301…');
    expect(fitWidth('👨‍👩‍👧👨‍👩‍👧', 3)).toBe('👨‍👩‍👧…');
  });
});
