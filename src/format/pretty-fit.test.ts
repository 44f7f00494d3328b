/* eslint-disable no-control-regex -- these tests strip ANSI colour sequences */
// Issue 9: on a terminal, pretty lines fit its width; in a pipe (no width) they print whole.
import { Int32, serialize, type Document } from 'bson';
import { createEventFormatter } from './index.js';
import { createPrettyFormatter, type PrettyOptions } from './pretty.js';
import { demoEvents, event, OID, WALL } from './samples.test-util.js';
import { visibleWidth } from './width.js';

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

function render(opts: Partial<PrettyOptions>, events: Document[] = demoEvents()): string[] {
  const format = createPrettyFormatter({ color: false, timeZone: 'UTC', now: () => WALL, ...opts });
  return events.map(format);
}

describe.each([80, 120])('at %i columns', (columns) => {
  const whole = render({});

  test.each([false, true])('every line fits (colour %s)', (color) => {
    const lines = render({ width: columns, color });
    expect(lines).toHaveLength(whole.length);
    for (const line of lines) {
      const text = strip(line);
      expect(visibleWidth(line)).toBeLessThanOrEqual(columns);
      // Independent of visibleWidth for plain ASCII lines: one column per character.
      if (/^[\x20-\x7e…→]*$/.test(text)) expect(text.length).toBeLessThanOrEqual(columns);
    }
  });

  test('a line that fits prints exactly as without a width; a longer one is cut with …', () => {
    const fitted = render({ width: columns });
    fitted.forEach((line, i) => {
      const full = whole[i] as string;
      if (visibleWidth(full) <= columns) {
        expect(line).toBe(full);
      } else {
        expect(line.endsWith('…')).toBe(true);
        expect(visibleWidth(line)).toBeGreaterThanOrEqual(columns - 1);
      }
    });
  });

  test('colour changes nothing but the escapes, and a cut line resets its colour', () => {
    const plain = render({ width: columns });
    const coloured = render({ width: columns, color: true });
    expect(coloured.map(strip)).toEqual(plain);
    for (const line of coloured) {
      if (line.endsWith('…')) expect(line.endsWith('\x1b[0m…')).toBe(true);
    }
  });
});

test('the demo at 80 columns: aligned columns, bodies cut with …', () => {
  expect(render({ width: 80 }).slice(0, 9)).toEqual([
    "21:44:35.123 insert        shop.users 'ada' { name: 'Ada Lovelace', since: ISOD…",
    "21:44:36.123 insert        shop.orders 1001 { user: 'ada', items: [ 'tea' ], to…",
    "21:44:37.123 insert        shop.orders 1002 { user: 'ada', items: [ 'cake' ], t…",
    "21:44:38.123 update        shop.orders 1001 $set { status: 'new' → 'paid', 'ite…",
    '21:44:39.123 update        shop.orders 1001 $set { total: 4.5 → 5.75 } $unset […',
    "21:44:40.123 replace       shop.orders 1002 { user: 'ada', items: [], status: '…",
    "21:44:41.123 delete        shop.orders 1002 was { user: 'ada', items: [], statu…",
    "21:44:42.123 update        shop.users  'ada' $set { address: { city: 'London' }…",
    '21:44:43.123 createIndexes shop.orders { indexes: [ { v: 2, key: { user: 1, tot…',
  ]);
});

describe('long values', () => {
  const big = event('insert', {
    documentKey: { _id: new Int32(1) },
    fullDocument: {
      _id: new Int32(1),
      note: 'é'.repeat(2999) + '😀',
      tags: Array.from({ length: 200 }, (_, i) => new Int32(i)),
      status: 'new',
    },
  });

  test('without a width (pipe, file, --wide) a 3,000-character string and 200 items print whole', () => {
    const [line] = render({}, [big]);
    expect(line).toContain(`note: '${'é'.repeat(2999)}😀'`);
    expect(line).toContain(', 199 ], status: ');
  });

  test('with a width they are shortened first, so the fields after them still show', () => {
    const [line] = render({ width: 200 }, [big]);
    expect(line).toBe(
      `21:44:35.123 insert        shop.orders 1 { note: '${'é'.repeat(40)}'…(3000 chars), ` +
        "tags: [ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … 190 more ], status: 'new' }",
    );
  });

  test('a surrogate pair is never split, by shortening or by cutting', () => {
    const emoji = event('insert', {
      documentKey: { _id: new Int32(1) },
      fullDocument: { _id: new Int32(1), s: '😀'.repeat(100) },
    });
    for (const width of [60, 61, 62, 63, 200]) {
      const [line] = render({ width }, [emoji]);
      expect(line).not.toMatch(
        /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/,
      );
      expect(visibleWidth(line as string)).toBeLessThanOrEqual(width);
    }
  });
});

describe('columns', () => {
  test('the namespace column grows to the longest namespace seen so far', () => {
    const lines = render({}, [
      event('delete', { ns: { db: 'a', coll: 'bc' }, documentKey: { _id: new Int32(1) } }),
      event('delete', { ns: { db: 'shop', coll: 'orders' }, documentKey: { _id: new Int32(2) } }),
      event('delete', { ns: { db: 'a', coll: 'bc' }, documentKey: { _id: new Int32(3) } }),
      event('drop', { ns: { db: 'a', coll: 'bc' } }),
    ]);
    expect(lines).toEqual([
      '21:44:35.123 delete        a.bc 1',
      '21:44:35.123 delete        shop.orders 2',
      '21:44:35.123 delete        a.bc        3',
      '21:44:35.123 drop          a.bc',
    ]);
  });

  test('a namespace longer than 24 columns prints whole and does not widen the column', () => {
    const long = { db: 'analytics', coll: 'events_by_customer_2024' };
    const lines = render({}, [
      event('delete', { ns: long, documentKey: { _id: new Int32(1) } }),
      event('delete', { ns: { db: 'a', coll: 'b' }, documentKey: { _id: new Int32(2) } }),
    ]);
    expect(lines).toEqual([
      '21:44:35.123 delete        analytics.events_by_customer_2024 1',
      '21:44:35.123 delete        a.b 2',
    ]);
  });

  test('createIndexes fits the operation column; rarer, longer names print whole', () => {
    const lines = render({}, [
      event('createIndexes', { operationDescription: { indexes: [] } }),
      event('refineCollectionShardKey', { operationDescription: { shardKey: { a: 1 } } }),
    ]);
    expect(lines).toEqual([
      '21:44:35.123 createIndexes shop.orders { indexes: [] }',
      '21:44:35.123 refineCollectionShardKey shop.orders { shardKey: { a: 1 } }',
    ]);
  });

  test('an event from another day shows its date, in the configured zone', () => {
    const ev = event('drop', { wallTime: new Date('2023-12-31T23:30:00.000Z') });
    expect(render({}, [ev])).toEqual(['2023-12-31 23:30:00.000 drop          shop.orders']);
    expect(
      render({ timeZone: 'Europe/Paris', now: () => new Date('2024-01-01T12:00:00Z') }, [ev]),
    ).toEqual(['00:30:00.000 drop          shop.orders']);
  });
});

describe('width values that mean "whole lines"', () => {
  test.each([undefined, 0, -1, NaN])('width %s', (width) => {
    const lines = render({ width }, [
      event('insert', {
        documentKey: { _id: OID },
        fullDocument: { _id: OID, s: 'x'.repeat(500) },
      }),
    ]);
    expect(lines[0]).toContain('x'.repeat(500));
  });

  test('a 1-column terminal still gets at most one column', () => {
    expect(render({ width: 1 }, [event('drop')])).toEqual(['…']);
  });
});

test('the bytes path (createEventFormatter) takes width, multiline and now', () => {
  const ev = event('insert', {
    documentKey: { _id: new Int32(7) },
    fullDocument: { _id: new Int32(7), s: 'y'.repeat(300) },
  });
  const bytes = Buffer.from(serialize(ev));
  const base = { format: 'pretty', color: false, timeZone: 'UTC', now: () => WALL } as const;
  expect(createEventFormatter({ ...base, width: 45 })(bytes, 0)).toBe(
    '21:44:35.123 insert        shop.orders 7 { s…',
  );
  expect(createEventFormatter(base)(bytes, 0)).toContain('y'.repeat(300));
  expect(createEventFormatter({ ...base, width: 40, multiline: true })(bytes, 0)).toBe(
    `21:44:35.123 insert        shop.orders 7\n  {\n    s: '${'y'.repeat(300)}'\n  }`,
  );
});

test('a width function is read at every event, so a resized terminal is followed', () => {
  let columns: number | undefined = 60;
  const format = createPrettyFormatter({
    color: false,
    timeZone: 'UTC',
    now: () => WALL,
    width: () => columns,
  });
  const [ev] = demoEvents().slice(1, 2) as [Document];
  expect(visibleWidth(format(ev))).toBe(60);
  columns = 110;
  expect(format(ev)).toBe(
    "21:44:36.123 insert        shop.orders 1001 { user: 'ada', items: [ 'tea' ], total: 4.5, status: 'new' }",
  );
  columns = undefined;
  expect(format(ev)).toBe(render({}, [ev])[0]);
});
