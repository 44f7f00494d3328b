// Values over several lines, the way mongosh prints a document: one field per line, nested
// documents and arrays indented two more spaces, and a nested value that fits on its line kept
// on one line (`items: [ 'tea', 'milk' ]`). Never cut: this is the view for reading one event.
import { bsonType, formatKey, inspectValue, MAX_DEPTH } from './inspect.js';
import type { Palette } from './style.js';
import { visibleWidth } from './width.js';

/** mongosh (node's util.inspect) keeps a nested value on one line up to 80 columns. */
const LINE = 80;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    bsonType(v) === undefined &&
    !(v instanceof Date) &&
    !(v instanceof RegExp) &&
    !(v instanceof Uint8Array)
  );
}

/**
 * A lower bound of the one-line length of `v`, giving up once it passes `budget`: deciding
 * whether a value fits on one line costs O(budget), not the size of the value, so a big document
 * is not rendered again at every level of nesting.
 */
function atLeast(v: unknown, budget: number, depth: number): number {
  if (typeof v === 'string') return v.length + 2;
  if (Array.isArray(v)) {
    if (depth >= MAX_DEPTH) return 3;
    let n = 4;
    for (const item of v) {
      n += 2 + atLeast(item, budget - n, depth + 1);
      if (n > budget) return n;
    }
    return n;
  }
  if (isPlainObject(v)) {
    if (depth >= MAX_DEPTH) return 3;
    let n = 4;
    for (const key in v) {
      n += key.length + 4 + atLeast(v[key], budget - n, depth + 1);
      if (n > budget) return n;
    }
    return n;
  }
  if (typeof v === 'object' && v !== null) {
    const bytes = (v as { buffer?: unknown }).buffer;
    return bytes instanceof Uint8Array ? bytes.length : 1;
  }
  return 1;
}

/** `{` or `[`, the entries one per line at `indent + 2`, and the closing bracket at `indent`. */
function expanded(open: string, items: string[], close: string, indent: number): string {
  const inner = ' '.repeat(indent + 2);
  return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${' '.repeat(indent)}${close}`;
}

/** Items joined into lines of at most `room` columns (an item longer than that gets its own). */
function fill(items: string[], room: number): string[] {
  const lines: string[] = [];
  let line = '';
  let used = 0;
  for (const item of items) {
    const w = visibleWidth(item);
    if (line && used + 2 + w + 1 > room) {
      lines.push(line);
      line = '';
      used = 0;
    }
    line = line ? `${line}, ${item}` : item;
    used += (used ? 2 : 0) + w;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * `v` as mongosh would print it, its first line starting after `used` columns of a line indented
 * by `indent`, continuation lines indented from `indent`. `expand` forces a document or array
 * onto several lines even when it would fit on one.
 */
export function inspectBlock(
  v: unknown,
  p: Palette,
  indent = 0,
  used = indent,
  expand = false,
  depth = 0,
): string {
  const isArray = Array.isArray(v);
  if ((!isArray && !isPlainObject(v)) || depth >= MAX_DEPTH) return inspectValue(v, p, depth);
  const entries = isArray ? (v as unknown[]) : Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return isArray ? '[]' : '{}';
  const room = LINE - used;
  if (!expand && atLeast(v, room, depth) <= room) {
    const line = inspectValue(v, p, depth);
    if (visibleWidth(line) <= room) return line;
  }
  const inner = indent + 2;
  if (isArray) {
    const items = (v as unknown[]).map((item) =>
      inspectBlock(item, p, inner, inner, false, depth + 1),
    );
    // Many short items (numbers, tags) fill their lines, as node's util.inspect groups them.
    if (items.length > 6 && items.every((item) => !item.includes('\n'))) {
      return expanded('[', fill(items, LINE - inner), ']', indent);
    }
    return expanded('[', items, ']', indent);
  }
  const items = (entries as [string, unknown][]).map(([key, value]) => {
    const label = `${formatKey(key)}: `;
    return label + inspectBlock(value, p, inner, inner + visibleWidth(label), false, depth + 1);
  });
  return expanded('{', items, '}', indent);
}
