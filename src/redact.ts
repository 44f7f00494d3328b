// Passwords in connection strings never reach any output: errors, notes and the spinner all
// show a URI through `redactUri`, and any text that might echo it goes through `redactText`.

const MASK = '****';

// scheme://user:password@host… — the password ends at the last '@' before the host list.
const CREDENTIALS = /(mongodb(?:\+srv)?:\/\/)([^:/?#@\s]*):([^/?#\s]*)@/gi;
// Secrets that can also travel in the query string.
const SECRET_OPTIONS =
  /([?&](?:tlsCertificateKeyFilePassword|sslPEMKeyPassword|password)=)([^&#\s]*)/gi;
const AWS_TOKEN = /(AWS_SESSION_TOKEN(?::|%3A))([^,&#\s]*)/gi;

/** The URI with any password (and secret query options) replaced by `****`. */
export function redactUri(uri: string): string {
  return uri
    .replace(CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
    .replace(SECRET_OPTIONS, (_m, key: string) => `${key}${MASK}`)
    .replace(AWS_TOKEN, (_m, key: string) => `${key}${MASK}`);
}

/** Scrubs free text (an error message) of URIs with passwords and of the known secrets. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = redactUri(text);
  for (const secret of secrets) {
    // Very short secrets would mask ordinary words; a one-letter password is still hidden
    // inside the URI by redactUri.
    if (secret.length >= 3) out = out.split(secret).join(MASK);
  }
  return out;
}

/** The secrets found in a URI (raw and percent-decoded), for `redactText`. */
export function secretsOf(uri: string): string[] {
  const found = new Set<string>();
  const add = (raw: string | undefined): void => {
    if (raw === undefined || raw === '') return;
    found.add(raw);
    try {
      found.add(decodeURIComponent(raw));
    } catch {
      // a malformed escape: the raw form is enough
    }
  };
  for (const m of uri.matchAll(CREDENTIALS)) add(m[3]);
  for (const m of uri.matchAll(SECRET_OPTIONS)) add(m[2]);
  for (const m of uri.matchAll(AWS_TOKEN)) add(m[2]);
  return [...found];
}
