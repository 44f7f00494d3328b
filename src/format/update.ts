// The body of an update event on the pretty line, built from `updateDescription`:
//   $set { qty: 3, 'b.c': 2 } $unset [x, 'y.z'] truncated [tags→2]
// With a pre-image (`fullDocumentBeforeChange`) each changed field shows before → after:
//   $set { qty: 2 → 3, 'b.c': (absent) → 2 } $unset [x (was 5)] truncated [tags→2]
import { formatKey, inspectValue, WHOLE, type InspectLimits } from './inspect.js';
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

/** One changed field; `before` is set only when a pre-image was given. */
export interface FieldChange {
  path: string;
  before?: unknown;
  after: unknown;
}

/** One removed field; `before` is set only when the pre-image holds it. */
export interface FieldRemoval {
  path: string;
  before?: unknown;
}

/** What an update changed, read off `updateDescription` and the pre-image (if any). */
export interface UpdateChanges {
  set: FieldChange[];
  unset: FieldRemoval[];
  truncated: { field: string; newSize: unknown }[];
}

/** The changes of one update event; undefined when `updateDescription` is not a document. */
export function updateChanges(
  updateDescription: unknown,
  preImage: unknown,
): UpdateChanges | undefined {
  if (!isRecord(updateDescription)) return undefined;
  const pre = isRecord(preImage) ? preImage : undefined;
  const disambiguated = isRecord(updateDescription.disambiguatedPaths)
    ? updateDescription.disambiguatedPaths
    : undefined;
  const before = (path: string): unknown =>
    valueAtPath(pre, path, componentsFor(disambiguated, path));

  const updated = isRecord(updateDescription.updatedFields) ? updateDescription.updatedFields : {};
  const set = Object.entries(updated).map(([path, after]): FieldChange =>
    pre ? { path, before: before(path), after } : { path, after },
  );
  const removed = Array.isArray(updateDescription.removedFields)
    ? updateDescription.removedFields.map(String)
    : [];
  const unset = removed.map((path): FieldRemoval => {
    const was = pre ? before(path) : ABSENT;
    return was === ABSENT ? { path } : { path, before: was };
  });
  const truncated = (
    Array.isArray(updateDescription.truncatedArrays) ? updateDescription.truncatedArrays : []
  )
    .filter(isRecord)
    .map((t) => ({ field: String(t.field), newSize: t.newSize }));
  return { set, unset, truncated };
}

/** Renders values of an update (one line, or a block in the multi-line view). */
export type ShowValue = (v: unknown) => string;

/** `qty: 2 → 3` (with a pre-image) or `qty: 3`. */
export function changeText(c: FieldChange, show: ShowValue, p: Palette): string {
  const after = show(c.after);
  if (!('before' in c)) return `${formatKey(c.path)}: ${after}`;
  const before = c.before === ABSENT ? p.dim('(absent)') : show(c.before);
  return `${formatKey(c.path)}: ${before} ${p.dim('→')} ${after}`;
}

/** `note (was 'n')` (the pre-image held it) or `note`. */
export function removalText(r: FieldRemoval, show: ShowValue, p: Palette): string {
  if (!('before' in r)) return formatKey(r.path);
  return `${formatKey(r.path)} ${p.dim('(was')} ${show(r.before)}${p.dim(')')}`;
}

/** `tags→2`. */
export function truncationText(
  t: { field: string; newSize: unknown },
  show: ShowValue,
  p: Palette,
): string {
  return `${formatKey(t.field)}${p.dim('→')}${show(t.newSize)}`;
}

/** The update body for one event on one line, or '' when there is nothing to show. */
export function formatUpdate(
  updateDescription: unknown,
  preImage: unknown,
  p: Palette,
  limits: InspectLimits = WHOLE,
): string {
  const changes = updateChanges(updateDescription, preImage);
  if (!changes) return '';
  const show: ShowValue = (v) => inspectValue(v, p, 0, limits);
  const parts: string[] = [];
  if (changes.set.length > 0) {
    const items = changes.set.map((c) => changeText(c, show, p));
    parts.push(`${p.dim('$set')} { ${items.join(', ')} }`);
  }
  if (changes.unset.length > 0) {
    const items = changes.unset.map((r) => removalText(r, show, p));
    parts.push(`${p.dim('$unset')} [${items.join(', ')}]`);
  }
  if (changes.truncated.length > 0) {
    const items = changes.truncated.map((t) => truncationText(t, show, p));
    parts.push(`${p.dim('truncated')} [${items.join(', ')}]`);
  }
  return parts.join(' ');
}
