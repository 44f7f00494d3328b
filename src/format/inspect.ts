// BSON values rendered the way mongosh shows them: ObjectId('…'), ISODate('…'), Long('5'),
// strings single-quoted, keys bare when they are identifiers. Always one line: control
// characters inside strings are escaped, so a value can never break a line or smuggle a
// terminal escape sequence into the output.
import type { Palette } from './style.js';
import { PLAIN } from './style.js';
import type { BsonLike } from './bson-like.js';

/** The `_bsontype` tag every bson class carries (read as a tag, not with instanceof, so values
 * built by another copy of the bson package are still recognised). */
export function bsonType(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const tag = (v as { _bsontype?: unknown })._bsontype;
  return typeof tag === 'string' ? tag : undefined;
}

// C0 and C1 controls, DEL, the Unicode line separators and unpaired surrogates.
const NEEDS_ESCAPE =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\\'"`\x00-\x1f\x7f-\x9f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SHORT_ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\t': '\\t',
  '\r': '\\r',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
  '\\': '\\\\',
};

/** A JS string literal, quoted like node's util.inspect: '…' unless the text holds a quote. */
export function quote(s: string): string {
  let q = "'";
  if (s.includes("'")) {
    if (!s.includes('"')) q = '"';
    else if (!s.includes('`') && !s.includes('${')) q = '`';
  }
  const body = s.replace(NEEDS_ESCAPE, (ch) => {
    if (ch === q) return `\\${q}`;
    if (ch === "'" || ch === '"' || ch === '`') return ch;
    const short = SHORT_ESCAPES[ch];
    if (short) return short;
    const code = ch.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return q + body + q;
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/** Bare text (a namespace, a label) with control characters escaped, so it stays on one line. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (ch) => {
    const short = SHORT_ESCAPES[ch];
    if (short) return short;
    const code = ch.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * How deep documents and arrays are shown; deeper ones print as `{…}` / `[…]` (mongosh cuts
 * nesting short too). Rendering recurses, and a document nested thousands of levels deep must
 * not overflow the stack (issue 8); MongoDB itself stores at most 100 levels.
 */
export const MAX_DEPTH = 100;

/**
 * Shortening for a line that must fit a terminal: strings longer than `maxString` characters
 * show their start and their length, arrays longer than `maxItems` their first items and how
 * many more there are. Both unset (the default): every value prints whole.
 */
export interface InspectLimits {
  maxString?: number;
  maxItems?: number;
}

/** Print everything whole. */
export const WHOLE: InspectLimits = {};

/** `'The start of a long str'…(3000 chars)`: the quote closes the part shown. */
function stringText(s: string, p: Palette, limits: InspectLimits): string {
  const max = limits.maxString;
  if (max === undefined || s.length <= max) return p.string(quote(s));
  const chars = Array.from(s);
  if (chars.length <= max) return p.string(quote(s));
  // Cut between code points, so a surrogate pair is never split.
  const head = chars.slice(0, Math.max(1, Math.floor((max * 2) / 3))).join('');
  return p.string(quote(head)) + p.dim(`…(${chars.length} chars)`);
}

/** An object key as mongosh prints it: bare when it is an identifier, else quoted. */
export function formatKey(key: string): string {
  return IDENTIFIER.test(key) ? key : quote(key);
}

/** A JS number the way node prints it (-0 keeps its sign). */
function numberText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function binaryText(
  bytes: Uint8Array,
  subType: number,
  p: Palette,
  limits: InspectLimits = WHOLE,
): string {
  if (subType === 4 && bytes.length === 16) return `UUID(${p.string(`'${uuidText(bytes)}'`)})`;
  const max = limits.maxString;
  // Base64 takes 4 characters per 3 bytes: encode only the part that is shown.
  const shown = max !== undefined && bytes.length * 4 > max * 3 ? Math.floor(max / 2) : undefined;
  const base64 = Buffer.from(shown === undefined ? bytes : bytes.subarray(0, shown)).toString(
    'base64',
  );
  const more = shown === undefined ? '' : p.dim(`…(${bytes.length} bytes)`);
  return `Binary.createFromBase64(${p.string(`'${base64}'`)}${more}, ${p.number(String(subType))})`;
}

/** A regex literal; an unescaped `/` in the pattern is escaped so the literal stays readable. */
function regexText(pattern: string, flags: string): string {
  let out = '';
  let escaped = false;
  for (const ch of pattern) {
    if (escaped) {
      out += ch;
      escaped = false;
    } else if (ch === '\\') {
      out += ch;
      escaped = true;
    } else if (ch === '/') {
      out += '\\/';
    } else {
      out += ch;
    }
  }
  // Line breaks in a pattern would break the line: show them escaped like in a JS literal.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  out = out.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (ch) => {
    const short = SHORT_ESCAPES[ch];
    return short ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `/${out}/${flags}`;
}

function dateText(d: Date, p: Palette): string {
  if (Number.isNaN(d.getTime())) return p.date('Invalid Date');
  return p.date(`ISODate('${d.toISOString()}')`);
}

function bsonText(
  tag: string,
  v: BsonLike,
  p: Palette,
  depth: number,
  limits: InspectLimits,
): string | undefined {
  switch (tag) {
    case 'ObjectId':
      return `ObjectId(${p.string(`'${v.toHexString?.() ?? v.toString()}'`)})`;
    case 'Int32':
      return p.number(numberText(Number(v.value)));
    case 'Double':
      return p.number(numberText(Number(v.value)));
    case 'Long':
      return `Long(${p.string(`'${v.toString()}'`)})`;
    case 'Decimal128':
      return `Decimal128(${p.string(`'${v.toString()}'`)})`;
    case 'Timestamp':
      return `Timestamp({ t: ${p.number(String(v.t))}, i: ${p.number(String(v.i))} })`;
    case 'Binary': {
      const bytes = (v.buffer ?? new Uint8Array()).subarray(0, v.position);
      return binaryText(bytes, v.sub_type ?? 0, p, limits);
    }
    case 'BSONRegExp':
      return p.regexp(regexText(v.pattern ?? '', v.options ?? ''));
    case 'Code': {
      const code = stringText(v.code ?? '', p, limits);
      const scope = v.scope;
      return scope && typeof scope === 'object'
        ? `Code(${code}, ${inspectValue(scope, p, depth + 1, limits)})`
        : `Code(${code})`;
    }
    case 'MinKey':
      return 'MinKey()';
    case 'MaxKey':
      return 'MaxKey()';
    case 'BSONSymbol':
      return `BSONSymbol(${p.string(quote(String(v.value)))})`;
    case 'DBRef': {
      const args = [p.string(quote(v.collection ?? '')), inspectValue(v.oid, p, depth + 1, limits)];
      if (v.db) args.push(p.string(quote(v.db)));
      return `DBRef(${args.join(', ')})`;
    }
    default:
      return undefined;
  }
}

function objectText(
  entries: [string, unknown][],
  p: Palette,
  depth: number,
  limits: InspectLimits,
): string {
  if (entries.length === 0) return '{}';
  if (depth >= MAX_DEPTH) return '{…}';
  const items = entries.map(
    ([k, v]) => `${formatKey(k)}: ${inspectValue(v, p, depth + 1, limits)}`,
  );
  return `{ ${items.join(', ')} }`;
}

/**
 * One BSON value (or document) as mongosh would print it, on one line; `depth` is how deep
 * the value sits (documents and arrays below MAX_DEPTH levels print as `{…}` / `[…]`);
 * `limits` shortens long strings and arrays (for a line that must fit a terminal).
 */
export function inspectValue(
  v: unknown,
  p: Palette = PLAIN,
  depth = 0,
  limits: InspectLimits = WHOLE,
): string {
  if (v === null) return p.null('null');
  if (v === undefined) return p.undefined('undefined');
  switch (typeof v) {
    case 'string':
      return stringText(v, p, limits);
    case 'number':
      return p.number(numberText(v));
    case 'boolean':
      return p.number(String(v));
    case 'bigint':
      return `Long(${p.string(`'${v.toString()}'`)})`;
    case 'object':
      break;
    default:
      return String(v);
  }
  const tag = bsonType(v);
  if (tag) {
    const text = bsonText(tag, v as BsonLike, p, depth, limits);
    if (text !== undefined) return text;
  }
  if (v instanceof Date) return dateText(v, p);
  if (v instanceof RegExp) return p.regexp(regexText(v.source, v.flags));
  if (v instanceof Uint8Array) return binaryText(v, 0, p, limits);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (depth >= MAX_DEPTH) return '[…]';
    const max = limits.maxItems;
    const shown = max !== undefined && v.length > max ? v.slice(0, max) : v;
    const items = shown.map((item) => inspectValue(item, p, depth + 1, limits));
    if (shown.length < v.length) items.push(p.dim(`… ${v.length - shown.length} more`));
    return `[ ${items.join(', ')} ]`;
  }
  return objectText(Object.entries(v as Record<string, unknown>), p, depth, limits);
}

/** A document's fields as `{ a: 1, … }`, leaving out the named keys (e.g. `_id`). */
export function inspectDocument(
  doc: Record<string, unknown>,
  p: Palette = PLAIN,
  omit: readonly string[] = [],
  limits: InspectLimits = WHOLE,
): string {
  return objectText(
    Object.entries(doc).filter(([k]) => !omit.includes(k)),
    p,
    0,
    limits,
  );
}
