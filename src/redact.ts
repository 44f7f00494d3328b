// Passwords in connection strings never reach any output: errors, notes and the spinner all
// show a URI through `redactUri`, and any text that might echo it goes through `redactText`.
//
// A password may hold any character when the user did not percent-encode it: a space, a tab,
// a newline, `@`, `:`, `/` (issue 8). So the userinfo is not matched by a character class: it
// runs from the scheme to the LAST `@` of the URI (of the line, in free text), and everything
// after the user name's `:` is masked. An `@` in the query string can only make more hidden.

const MASK = '****';

const SCHEME = /mongodb(?:\+srv)?:\/\//gi;
// Secrets that can also travel in the query string.
const SECRET_OPTIONS =
  /([?&](?:tlsCertificateKeyFilePassword|sslPEMKeyPassword|password)=)([^&#\s]*)/gi;
const AWS_TOKEN = /(AWS_SESSION_TOKEN(?::|%3A))([^,&#\s]*)/gi;

/** Where one URI's userinfo sits in a text: from `start` (after the scheme) to `at` (its `@`). */
interface Userinfo {
  start: number;
  at: number;
  user: string;
  /** Undefined when there is no `:` (a user name only). */
  password: string | undefined;
}

/**
 * The userinfo of every URI in `text`. A URI's part ends at the next scheme, or also at a line
 * break when `lineBound` (free text, where anything may follow the URI).
 */
function userinfos(text: string, lineBound: boolean): Userinfo[] {
  const starts = [...text.matchAll(SCHEME)].map((m) => (m.index ?? 0) + m[0].length);
  const found: Userinfo[] = [];
  starts.forEach((start, i) => {
    const next = starts[i + 1];
    let end = next === undefined ? text.length : next - 'mongodb://'.length;
    if (lineBound) {
      const newline = text.indexOf('\n', start);
      if (newline !== -1 && newline < end) end = newline;
    }
    const at = text.lastIndexOf('@', end - 1);
    if (at < start) return;
    const info = text.slice(start, at);
    const colon = info.indexOf(':');
    found.push({
      start,
      at,
      user: colon === -1 ? info : info.slice(0, colon),
      password: colon === -1 ? undefined : info.slice(colon + 1),
    });
  });
  return found;
}

function maskPasswords(text: string, lineBound: boolean): string {
  let out = '';
  let from = 0;
  for (const info of userinfos(text, lineBound)) {
    if (info.password === undefined) continue;
    out += `${text.slice(from, info.start)}${info.user}:${MASK}`;
    from = info.at;
  }
  return out + text.slice(from);
}

function maskOptions(text: string): string {
  return text
    .replace(SECRET_OPTIONS, (_m, key: string) => `${key}${MASK}`)
    .replace(AWS_TOKEN, (_m, key: string) => `${key}${MASK}`);
}

/** The URI with any password (and secret query options) replaced by `****`. */
export function redactUri(uri: string): string {
  return maskOptions(maskPasswords(uri, false));
}

/** Scrubs free text (an error message) of URIs with passwords and of the known secrets. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Longest first: a secret that contains another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    // Very short secrets would mask ordinary words; a one-letter password is still hidden
    // inside the URI by the URI rule below.
    if (secret.length >= 3) out = out.split(secret).join(MASK);
  }
  return maskOptions(maskPasswords(out, true));
}

/**
 * Masks the words of `text` that are pieces of the password in `uri` (3+ characters): a parser
 * that rejects a URI may quote a fragment of it ("Unable to parse r:t with URL").
 */
export function redactFragments(text: string, uri: string): string {
  const passwords = userinfos(uri, false).flatMap((info) =>
    info.password === undefined ? [] : [info.password, decoded(info.password) ?? ''],
  );
  if (passwords.length === 0) return text;
  return text
    .split(/(\s+)/)
    .map((word) =>
      word.length >= 3 && passwords.some((password) => password.includes(word)) ? MASK : word,
    )
    .join('');
}

/** A password in every form a message may show it: raw, percent-decoded and -encoded, escaped. */
export function secretForms(raw: string): string[] {
  if (raw === '') return [];
  const found = new Set<string>();
  for (const form of [raw, decoded(raw) ?? raw]) {
    found.add(form);
    found.add(encodeURIComponent(form));
    found.add(JSON.stringify(form).slice(1, -1)); // as quoted in JSON or by util.inspect
  }
  return [...found];
}

/** The user name and password in a URI's userinfo, percent-decoded (undefined: absent). */
export function uriCredentials(uri: string): { user?: string; password?: string } {
  const [info] = userinfos(uri, false);
  if (info === undefined) return {};
  const user = decoded(info.user) ?? info.user;
  if (info.password === undefined) return { user };
  return { user, password: decoded(info.password) ?? info.password };
}

/** The secrets found in a URI (raw, percent-decoded and -encoded, escaped), for `redactText`. */
export function secretsOf(uri: string): string[] {
  const found = new Set<string>();
  const add = (raw: string | undefined): void => {
    if (raw === undefined) return;
    for (const form of secretForms(raw)) found.add(form);
  };
  for (const info of userinfos(uri, false)) add(info.password);
  // One argument is one URI: a query secret ends at `&` or `#` only.
  for (const m of uri.matchAll(
    /[?&](?:tlsCertificateKeyFilePassword|sslPEMKeyPassword|password)=([^&#]*)/gi,
  ))
    add(m[1]);
  for (const m of uri.matchAll(/AWS_SESSION_TOKEN(?::|%3A)([^,&#]*)/gi)) add(m[1]);
  return [...found];
}

function decoded(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined; // a malformed escape: the raw form is enough
  }
}
