/* eslint-disable no-control-regex -- these tests strip ANSI colour sequences */
// Issue 9: `--pretty-multiline`, a header line and the body indented like mongosh.
import { Int32, type Document } from 'bson';
import { createPrettyFormatter, type PrettyOptions } from './pretty.js';
import { demoEvents, event, WALL } from './samples.test-util.js';

function render(opts: Partial<PrettyOptions>, events: Document[]): string {
  const format = createPrettyFormatter({
    color: false,
    timeZone: 'UTC',
    now: () => WALL,
    multiline: true,
    ...opts,
  });
  // What the sink writes: each event, then a newline.
  return events.map((e) => `${format(e)}\n`).join('');
}

test('the demo: one header line per event, the body indented, a blank line between', () => {
  expect(render({}, demoEvents().slice(0, 8))).toBe(
    `21:44:35.123 insert        shop.users 'ada'
  {
    name: 'Ada Lovelace',
    since: ISODate('2024-01-12T21:44:35.123Z')
  }

21:44:36.123 insert        shop.orders 1001
  {
    user: 'ada',
    items: [ 'tea' ],
    total: 4.5,
    status: 'new'
  }

21:44:37.123 insert        shop.orders 1002
  {
    user: 'ada',
    items: [ 'cake' ],
    total: 3,
    status: 'new'
  }

21:44:38.123 update        shop.orders 1001
  $set: {
    status: 'new' → 'paid',
    'items.1': (absent) → 'milk'
  }
  now: {
    user: 'ada',
    items: [ 'tea', 'milk' ],
    total: 4.5,
    status: 'paid'
  }

21:44:39.123 update        shop.orders 1001
  $set: {
    total: 4.5 → 5.75
  }
  $unset: [ user (was 'ada') ]

21:44:40.123 replace       shop.orders 1002
  {
    user: 'ada',
    items: [],
    status: 'cancelled'
  }
  was: {
    user: 'ada',
    items: [ 'cake' ],
    total: 3,
    status: 'new'
  }

21:44:41.123 delete        shop.orders 1002
  was: {
    user: 'ada',
    items: [],
    status: 'cancelled'
  }

21:44:42.123 update        shop.users  'ada'
  $set: {
    address: { city: 'London' }
  }
`,
  );
});

test('never cut, even with a width; short arrays stay on one line, long ones fill lines', () => {
  const text = render({ width: 40 }, demoEvents().slice(9, 10));
  expect(text).toContain(`note: '${'lorem ipsum '.repeat(250)}'`);
  expect(text).toContain(
    '    tags: [\n      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,\n',
  );
  expect(text).toContain("      199\n    ],\n    status: 'new'\n  }\n");
  for (const line of text.split('\n')) {
    if (!line.includes('lorem')) expect(line.length).toBeLessThanOrEqual(80);
  }
});

test('nested documents that do not fit on a line open up, two more spaces each', () => {
  const ev = event('insert', {
    documentKey: { _id: new Int32(1) },
    fullDocument: {
      _id: new Int32(1),
      customer: {
        name: 'Ada Lovelace',
        address: { street: '12 St James Square', city: 'London', country: 'United Kingdom' },
      },
      lines: [{ sku: 'tea', qty: new Int32(1) }],
    },
  });
  expect(render({}, [ev])).toBe(`21:44:35.123 insert        shop.orders 1
  {
    customer: {
      name: 'Ada Lovelace',
      address: {
        street: '12 St James Square',
        city: 'London',
        country: 'United Kingdom'
      }
    },
    lines: [ { sku: 'tea', qty: 1 } ]
  }
`);
});

test('DDL, rename, drop and invalidate', () => {
  const ev = [
    event('createIndexes', { operationDescription: { indexes: [{ name: 'a_1' }] } }),
    event('rename', { to: { db: 'shop', coll: 'archive' } }),
    event('drop'),
    event('invalidate', { ns: null }),
  ];
  expect(render({}, ev)).toBe(`21:44:35.123 createIndexes shop.orders
  {
    indexes: [ { name: 'a_1' } ]
  }

21:44:35.123 rename        shop.orders
  to: shop.archive

21:44:35.123 drop          shop.orders

21:44:35.123 invalidate
  ── stream invalidated ──
`);
});

test('colour adds escapes only; the date shows for another day', () => {
  const events = demoEvents().slice(0, 4);
  const plain = render({}, events);
  const coloured = render({ color: true }, events);
  expect(coloured).toContain('\x1b[');
  expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  const later = render({ now: () => new Date('2024-02-01T00:00:00Z') }, events.slice(0, 1));
  expect(later.split('\n')[0]).toBe("2024-01-12 21:44:35.123 insert        shop.users 'ada'");
});

test('5,000 levels of nesting render (cut at 100 levels), no RangeError', () => {
  let deep: unknown = {};
  for (let i = 0; i < 5_000; i++) deep = { a: deep };
  const text = render({}, [
    event('insert', { documentKey: { _id: new Int32(1) }, fullDocument: { _id: 1, d: deep } }),
  ]);
  expect(text).toContain('{…}');
  expect(text.split('\n').length).toBeGreaterThan(50);
});
