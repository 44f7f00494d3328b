// A look at the deployment after connecting, for a note on stderr: a collection or database
// that does not exist (yet) is not an error (a stream waits for it to appear), but a typo
// (`shop.ordrs`) would otherwise wait in silence.
import type { MongoClient } from 'mongodb';
import type { WatchTarget } from './namespace.js';

/** How long the look may delay the stream; past it, no note. */
export const PREFLIGHT_TIMEOUT_MS = 1000;
/** The most collection names a note lists. */
const MAX_LISTED = 10;

/**
 * Says (through `say`) when the watched collection or database holds nothing yet. Best effort:
 * silent with -q, on any error (a user without listCollections) and after PREFLIGHT_TIMEOUT_MS.
 */
export async function noteMissingNamespace(
  client: MongoClient,
  opts: { target: WatchTarget; quiet: boolean },
  say: (message: string) => void,
  timeoutMs = PREFLIGHT_TIMEOUT_MS,
): Promise<void> {
  const { scope, nsMatch } = opts.target;
  // Several namespaces (an ns filter) or the whole deployment: nothing to name.
  if (opts.quiet || nsMatch !== undefined || scope.kind === 'cluster') return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const listing = namesIfStreamable(client, scope.db).catch(() => undefined);
  const names = await Promise.race([listing, late]);
  clearTimeout(timer);
  if (names === undefined) return;
  const note = missingNote(scope.db, scope.kind === 'collection' ? scope.coll : undefined, names);
  if (note !== undefined) say(note);
}

/** The collection names, or undefined from a standalone (whose error comes next instead). */
async function namesIfStreamable(client: MongoClient, db: string): Promise<string[] | undefined> {
  const [hello, names] = await Promise.all([
    client.db('admin').command({ hello: 1 }),
    listNames(client, db),
  ]);
  const standalone = hello.setName === undefined && hello.msg !== 'isdbgrid';
  return standalone ? undefined : names;
}

// Without authorizedCollections on purpose: with it, a user lacking listCollections gets only
// the collections it may read, and an empty list would claim that the database is empty. An
// error (Unauthorized) means no note instead.
async function listNames(client: MongoClient, db: string): Promise<string[]> {
  const infos = await client
    .db(db)
    .listCollections({}, { nameOnly: true, maxTimeMS: PREFLIGHT_TIMEOUT_MS })
    .toArray();
  return infos.map((info) => info.name).filter((name) => !name.startsWith('system.'));
}

/**
 * The note for a watched `db` or `db.coll` given the collections `db` holds, or undefined when
 * what is watched exists. Other names are listed closest to `coll` first.
 */
export function missingNote(
  db: string,
  coll: string | undefined,
  names: readonly string[],
): string | undefined {
  if (coll === undefined) {
    return names.length === 0 ? `database ${db} has no collections (yet)` : undefined;
  }
  if (names.includes(coll)) return undefined;
  const missing = `${db}.${coll} does not exist (yet); waiting for it`;
  if (names.length === 0) return `${missing}. Database ${db} has no collections (yet)`;
  const ranked = [...names].sort(
    (a, b) => editDistance(coll, a) - editDistance(coll, b) || (a < b ? -1 : a > b ? 1 : 0),
  );
  const listed = ranked.slice(0, MAX_LISTED).join(', ');
  const more = ranked.length > MAX_LISTED ? `, … (${ranked.length - MAX_LISTED} more)` : '';
  return `${missing}. Collections in ${db}: ${listed}${more}`;
}

/** Levenshtein distance, case-insensitive: how many edits turn one name into the other. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1);
      current.push(Math.min(substitute, (previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1));
    }
    previous = current;
  }
  return previous[y.length] ?? 0;
}
