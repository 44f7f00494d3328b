// The coloured palette, built on chalk. Importing this module makes `palette(true)` available:
// a run that never colours (JSON output, `mongo-tail token` into a pipe, --help) never loads
// chalk at all.
import { Chalk } from 'chalk';
import { registerColorPalette, type Palette, type Paint } from './style.js';

function chalkPalette(): Palette {
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

registerColorPalette(chalkPalette);
