// How many terminal columns a rendered line takes, and cutting it to a width with '…'.
// The line may hold ANSI colour (SGR) sequences, which take no room and must never be cut; data
// never brings its own escapes (inspect.ts escapes control characters), so SGR is all we meet.
// Widths follow the East Asian Width property closely enough for terminals: CJK and emoji take
// two columns, combining marks and joiners none. We cut between code points, so a surrogate pair
// is never split, and marks or joined emoji stay with the character they belong to.

// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const SGR = /\x1b\[[0-9;]*m/y;
// eslint-disable-next-line no-control-regex -- printable ASCII plus ESC: the fast path
const ASCII = /^[\x1b\x20-\x7e]*$/;
// eslint-disable-next-line no-control-regex -- ANSI escapes start with ESC
const SGR_ALL = /\x1b\[[0-9;]*m/g;
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
const EMOJI = /^\p{Emoji_Presentation}$/u;

const ZWJ = 0x200d;
const VS16 = 0xfe0f;

// Ranges of East Asian Wide (W) and Fullwidth (F) code points, from Unicode's EastAsianWidth.txt,
// merged; emoji are found by their Emoji_Presentation property instead.
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f200, 0x1f2ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

/** Columns taken by one code point: 0, 1 or 2. */
export function codePointWidth(cp: number): number {
  if (cp < 0x300) return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 0 : 1;
  if ((cp >= 0x1160 && cp <= 0x11ff) || cp === 0x200b) return 0; // Hangul medial vowels, ZWSP
  const ch = String.fromCodePoint(cp);
  if (ZERO_WIDTH.test(ch)) return 0;
  if (EMOJI.test(ch)) return 2;
  for (const [lo, hi] of WIDE) {
    if (cp < lo) return 1;
    if (cp <= hi) return 2;
  }
  return 1;
}

/**
 * Walks the visible characters of `text`, calling `take(width, end)` for each (with `end` the
 * index after it) until `take` returns false. A character after a zero-width joiner joins the
 * emoji before it (width 0); VS16 turns the character before it into a two-column emoji.
 */
function walk(text: string, take: (width: number, end: number) => boolean): void {
  let i = 0;
  let joined = false;
  let lastWidth = 0;
  while (i < text.length) {
    if (text.charCodeAt(i) === 0x1b) {
      SGR.lastIndex = i;
      if (SGR.exec(text)) {
        i = SGR.lastIndex;
        continue;
      }
    }
    const cp = text.codePointAt(i) as number;
    const end = i + (cp > 0xffff ? 2 : 1);
    let w = joined ? 0 : codePointWidth(cp);
    if (cp === VS16 && lastWidth === 1) w = 1;
    joined = cp === ZWJ;
    if (w > 0) lastWidth = w;
    if (!take(w, end)) return;
    i = end;
  }
}

/** The number of terminal columns `text` takes (ANSI colour sequences take none). */
export function visibleWidth(text: string): number {
  if (ASCII.test(text))
    return text.includes('\x1b') ? text.replace(SGR_ALL, '').length : text.length;
  let total = 0;
  walk(text, (w) => {
    total += w;
    return true;
  });
  return total;
}

/**
 * `text` cut to at most `columns` visible columns, ending in '…' when something was cut. A cut
 * inside coloured text resets the colour, so it never leaks into the next line.
 */
export function fitWidth(text: string, columns: number): string {
  if (visibleWidth(text) <= columns) return text;
  if (columns <= 0) return '';
  const budget = columns - 1;
  let used = 0;
  let cut = 0;
  walk(text, (w, end) => {
    if (used + w > budget) return false;
    used += w;
    cut = end;
    return true;
  });
  const kept = text.slice(0, cut);
  return kept.includes('\x1b') ? `${kept}\x1b[0m…` : `${kept}…`;
}
