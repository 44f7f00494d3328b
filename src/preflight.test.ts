import type { Document } from 'bson';
import type { MongoClient } from 'mongodb';
import type { WatchTarget } from './namespace.js';
import { editDistance, missingNote, noteMissingNamespace } from './preflight.js';

describe('missingNote', () => {
  test('closest names first, at most ten', () => {
    expect(missingNote('shop', 'ordrs', ['users', 'orders'])).toBe(
      'shop.ordrs does not exist (yet); waiting for it. Collections in shop: orders, users',
    );
    expect(missingNote('shop', 'orders', ['orders'])).toBeUndefined();
    expect(missingNote('shop', 'orders', [])).toBe(
      'shop.orders does not exist (yet); waiting for it. Database shop has no collections (yet)',
    );
    expect(missingNote('shop', undefined, [])).toBe('database shop has no collections (yet)');
    expect(missingNote('shop', undefined, ['orders'])).toBeUndefined();
    const many = Array.from({ length: 14 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    expect(missingNote('db', 'c05x', many)).toBe(
      'db.c05x does not exist (yet); waiting for it. Collections in db: ' +
        'c05, c00, c01, c02, c03, c04, c06, c07, c08, c09, … (4 more)',
    );
  });
});

describe('editDistance', () => {
  test('counts edits, ignoring case', () => {
    expect(editDistance('ordrs', 'orders')).toBe(1);
    expect(editDistance('Orders', 'orders')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('users', 'orders')).toBe(3);
  });
});

describe('noteMissingNamespace', () => {
  /** A client whose listCollections answers `names` (or fails, or never answers). */
  function fakeClient(
    names: string[] | Error | 'never',
    hello: Document = { setName: 'rs0' },
  ): { client: MongoClient; calls: string[] } {
    const calls: string[] = [];
    const answer = (): Promise<Document[]> =>
      names === 'never'
        ? new Promise(() => undefined)
        : names instanceof Error
          ? Promise.reject(names)
          : Promise.resolve(names.map((name) => ({ name })));
    const client = {
      db: (db: string) => ({
        command: () => Promise.resolve(hello),
        listCollections: () => {
          calls.push(db);
          return { toArray: answer };
        },
      }),
    } as unknown as MongoClient;
    return { client, calls };
  }
  const coll = (db: string, c: string): WatchTarget => ({
    scope: { kind: 'collection', db, coll: c },
    label: `${db}.${c}`,
  });

  test('a missing collection: one note; -q: not even asked', async () => {
    const notes: string[] = [];
    const { client, calls } = fakeClient(['orders', 'system.views']);
    await noteMissingNamespace(client, { target: coll('shop', 'ordrs'), quiet: false }, (m) =>
      notes.push(m),
    );
    expect(notes).toEqual([
      'shop.ordrs does not exist (yet); waiting for it. Collections in shop: orders',
    ]);
    await noteMissingNamespace(client, { target: coll('shop', 'ordrs'), quiet: true }, (m) =>
      notes.push(m),
    );
    expect(calls).toEqual(['shop']);
  });

  test('silent on an error, on a standalone, past the time bound, for several namespaces', async () => {
    const notes: string[] = [];
    const say = (m: string): number => notes.push(m);
    const target = coll('shop', 'ordrs');
    const denied = fakeClient(new Error('not authorized on shop to execute command'));
    await noteMissingNamespace(denied.client, { target, quiet: false }, say);
    await noteMissingNamespace(fakeClient([], {}).client, { target, quiet: false }, say);
    const started = Date.now();
    await noteMissingNamespace(fakeClient('never').client, { target, quiet: false }, say, 50);
    expect(Date.now() - started).toBeLessThan(5_000);
    const several = fakeClient([]);
    await noteMissingNamespace(
      several.client,
      {
        target: { scope: { kind: 'database', db: 'shop' }, nsMatch: {}, label: 'shop.a, shop.b' },
        quiet: false,
      },
      say,
    );
    expect(several.calls).toEqual([]);
    expect(notes).toEqual([]);
  });
});
