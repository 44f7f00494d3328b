// Colours for the human formats. The caller decides whether colour is on (per stream, NO_COLOR,
// FORCE_COLOR, --no-color) and passes the answer in; nothing here looks at the environment.
import { Chalk } from 'chalk';

type Paint = (text: string) => string;

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

/** The palette for `color`: PLAIN when false, basic 16-colour ANSI when true. */
export function palette(color: boolean): Palette {
  if (!color) return PLAIN;
  // An explicit instance: the level is our decision, not chalk's guess about process.stdout.
  const c = new Chalk({ level: 1 });
  const ops: Record<string, Paint> = {
    insert: (t) => c.green(t),
    update: (t) => c.yellow(t),
    replace: (t) => c.cyan(t),
    delete: (t) => c.red(t),
    invalidate: (t) => c.gray(t),
  };
  const ddl: Paint = (t) => c.magenta(t);
  return {
    string: (t) => c.green(t),
    number: (t) => c.yellow(t),
    null: (t) => c.bold(t),
    undefined: (t) => c.gray(t),
    date: (t) => c.magenta(t),
    regexp: (t) => c.red(t),
    dim: (t) => c.gray(t),
    strong: (t) => c.bold(t),
    // DDL events (drop, rename, create, createIndexes, …) and any operation type a future server
    // adds share one colour: they are rare and worth noticing.
    op: (operationType) => ops[operationType] ?? ddl,
  };
}
