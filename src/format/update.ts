// The body of an update event on the pretty line, built from `updateDescription`:
//   $set { qty: 3, 'b.c': 2 } $unset [x, 'y.z'] truncated [tags→2]
// With a pre-image (`fullDocumentBeforeChange`) each changed field shows before → after:
//   $set { qty: 2 → 3, 'b.c': (absent) → 2 } $unset [x (was 5)] truncated [tags→2]
import { formatKey, inspectValue } from './inspect.js';
import type { Palette } from './style.js';

/** A value that is not there (as opposed to null). */
export const ABSENT = Symbol('absent');

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The value at a dotted path of `doc`. `components`, from `disambiguatedPaths`, spells the path
 * exactly when a field name contains a dot or is numeric; otherwise the path is split on dots and
 * a numeric component indexes an array.
 */
export function valueAtPath(doc: unknown, path: string, components?: readonly unknown[]): unknown {
  const parts = components ?? path.split('.');
  let cur: unknown = doc;
  for (const part of parts) {
    if (Array.isArray(cur)) {
      const index = typeof part === 'number' ? part : Number(part);
      if (!Number.isInteger(index) || index < 0 || index >= cur.length) return ABSENT;
      cur = cur[index];
    } else if (isRecord(cur)) {
      const key = typeof part === 'string' ? part : String(part);
      if (!Object.hasOwn(cur, key)) return ABSENT;
      cur = cur[key];
    } else {
      return ABSENT;
    }
  }
  return cur;
}

/** A numeric path component in disambiguatedPaths may arrive as Int32/Long: make it a number. */
function toComponent(c: unknown): unknown {
  if (typeof c === 'object' && c !== null && 'valueOf' in c) {
    const n = (c as { valueOf(): unknown }).valueOf();
    if (typeof n === 'number') return n;
  }
  return c;
}

function componentsFor(
  disambiguated: Record<string, unknown> | undefined,
  path: string,
): unknown[] | undefined {
  const comps = disambiguated?.[path];
  return Array.isArray(comps) ? comps.map(toComponent) : undefined;
}

/** The update body for one event, or '' when there is nothing to show. */
export function formatUpdate(updateDescription: unknown, preImage: unknown, p: Palette): string {
  if (!isRecord(updateDescription)) return '';
  const pre = isRecord(preImage) ? preImage : undefined;
  const disambiguated = isRecord(updateDescription.disambiguatedPaths)
    ? updateDescription.disambiguatedPaths
    : undefined;
  const show = (v: unknown): string => (v === ABSENT ? p.dim('(absent)') : inspectValue(v, p));
  const arrow = p.dim('→');
  const parts: string[] = [];

  const updated = isRecord(updateDescription.updatedFields) ? updateDescription.updatedFields : {};
  const setEntries = Object.entries(updated).map(([path, after]) => {
    if (!pre) return `${formatKey(path)}: ${show(after)}`;
    const before = valueAtPath(pre, path, componentsFor(disambiguated, path));
    return `${formatKey(path)}: ${show(before)} ${arrow} ${show(after)}`;
  });
  if (setEntries.length > 0) parts.push(`${p.dim('$set')} { ${setEntries.join(', ')} }`);

  const removed = Array.isArray(updateDescription.removedFields)
    ? updateDescription.removedFields.map(String)
    : [];
  if (removed.length > 0) {
    const items = removed.map((path) => {
      if (!pre) return formatKey(path);
      const before = valueAtPath(pre, path, componentsFor(disambiguated, path));
      return before === ABSENT
        ? formatKey(path)
        : `${formatKey(path)} ${p.dim('(was')} ${show(before)}${p.dim(')')}`;
    });
    parts.push(`${p.dim('$unset')} [${items.join(', ')}]`);
  }

  const truncated = Array.isArray(updateDescription.truncatedArrays)
    ? updateDescription.truncatedArrays
    : [];
  if (truncated.length > 0) {
    const items = truncated.filter(isRecord).map((t) => {
      const size = inspectValue(t.newSize, p);
      return `${formatKey(String(t.field))}${arrow}${size}`;
    });
    parts.push(`${p.dim('truncated')} [${items.join(', ')}]`);
  }
  return parts.join(' ');
}
