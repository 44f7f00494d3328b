// Colours for the human formats. The caller decides whether colour is on (per stream, NO_COLOR,
// FORCE_COLOR, --no-color) and passes the answer in; nothing here looks at the environment.
// The coloured palette lives in ./color.ts (it loads chalk); importing that module registers it.

export type Paint = (text: string) => string;

/** The colours used by the pretty line, the value renderer and the token description. */
export interface Palette {
  /** String literals, as node/mongosh colour them. */
  string: Paint;
  /** Numbers, booleans and the digits inside Long('…') and friends. */
  number: Paint;
  null: Paint;
  undefined: Paint;
  date: Paint;
  regexp: Paint;
  /** Quiet text: clock, separators, labels. */
  dim: Paint;
  /** Namespaces. */
  strong: Paint;
  /** The operation name, coloured per operation type. */
  op: (operationType: string) => Paint;
}

const plain: Paint = (text) => text;

/** A palette without colour: every function returns its input unchanged. */
export const PLAIN: Palette = {
  string: plain,
  number: plain,
  null: plain,
  undefined: plain,
  date: plain,
  regexp: plain,
  dim: plain,
  strong: plain,
  op: () => plain,
};

let makeColorPalette: (() => Palette) | undefined;
let colorPalette: Palette | undefined;

/** Called by ./color.ts when it loads. */
export function registerColorPalette(make: () => Palette): void {
  makeColorPalette = make;
}

/** The palette for `color`: PLAIN when false, basic 16-colour ANSI when true. */
export function palette(color: boolean): Palette {
  if (!color) return PLAIN;
  if (makeColorPalette === undefined) {
    throw new Error('the colour palette is not loaded: import ./format/color.js first');
  }
  colorPalette ??= makeColorPalette();
  return colorPalette;
}
