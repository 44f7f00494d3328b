import { BSONRegExp, Binary, Long, ObjectId, Timestamp, serialize } from 'bson';
import {
  Stats,
  countsText,
  formatSeconds,
  rateText,
  statsLine,
  stopText,
  summaryLine,
} from './stats.js';

/** A clock the test moves by hand. */
function clock(start = Date.UTC(2026, 10, 29, 16, 2, 11, 400)) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const SECONDS = Date.UTC(2026, 10, 29, 16, 2, 11) / 1000;

describe('Stats', () => {
  test('counts by operation in the order they first came; unknown when the header has none', () => {
    const stats = new Stats();
    for (const op of ['insert', 'update', 'insert', 'delete', 'insert', undefined]) {
      stats.event(op, undefined);
    }
    expect(stats.total).toBe(6);
    expect(stats.byOperation()).toEqual([
      ['insert', 3],
      ['update', 1],
      ['delete', 1],
      ['unknown', 1],
    ]);
  });

  test('reached is the newest of event times and positions; lag counts from it', () => {
    const c = clock();
    const stats = new Stats(c.now);
    expect(stats.reached).toBeUndefined();
    expect(stats.lagSeconds()).toBeUndefined();
    stats.event('insert', SECONDS - 30);
    expect(stats.lagSeconds()).toBe(30);
    // An idle stream's post-batch token is newer: current, not behind.
    stats.position(SECONDS);
    expect(stats.lagSeconds()).toBe(0);
    // An older time never moves it back.
    stats.event('insert', SECONDS - 5);
    stats.position(undefined);
    expect(stats.reached).toBe(SECONDS);
    c.advance(2_500); // 16:02:13.9: whole seconds
    expect(stats.lagSeconds()).toBe(2);
  });

  test('a clock behind the cluster gives lag 0, not a negative lag', () => {
    const c = clock();
    const stats = new Stats(c.now);
    stats.position(SECONDS + 10);
    expect(stats.lagSeconds()).toBe(0);
  });

  test('rate: events per second over the last window', () => {
    const c = clock();
    const stats = new Stats(c.now);
    expect(stats.rate()).toBe(0);
    for (let second = 0; second < 10; second += 1) {
      c.advance(1000);
      for (let i = 0; i < 20; i += 1) stats.event('insert', undefined);
      stats.rate();
    }
    expect(stats.rate()).toBeCloseTo(20, 5);
    // Quiet for a while: the rate falls to nothing once the window passed.
    c.advance(1000);
    expect(stats.rate()).toBeLessThan(20);
    for (let second = 0; second < 6; second += 1) {
      c.advance(1000);
      stats.rate();
    }
    expect(stats.rate()).toBe(0);
  });
});

describe('Stats.eventAt: operationType and clusterTime read from the BSON', () => {
  const at = (doc: Record<string, unknown>, pad = 0): [Buffer, number] => {
    // Behind other bytes, as events sit in a batch.
    const bytes = Buffer.concat([Buffer.alloc(pad, 7), Buffer.from(serialize(doc))]);
    return [bytes, pad];
  };

  test('a plain event, and one of a transaction (lsid, txnNumber first)', () => {
    const stats = new Stats();
    stats.eventAt(
      ...at({
        _id: { _data: '82ABCD' },
        operationType: 'insert',
        clusterTime: new Timestamp({ t: SECONDS, i: 3 }),
        fullDocument: { _id: new ObjectId() },
      }),
    );
    stats.eventAt(
      ...at(
        {
          txnNumber: Long.fromNumber(1),
          lsid: { id: new Binary(Buffer.alloc(16), 4), uid: new Binary(Buffer.alloc(32), 0) },
          _id: { _data: '82ABCE' },
          operationType: 'update',
          clusterTime: new Timestamp({ t: SECONDS + 5, i: 1 }),
        },
        13,
      ),
    );
    expect(stats.byOperation()).toEqual([
      ['insert', 1],
      ['update', 1],
    ]);
    expect(stats.reached).toBe(SECONDS + 5);
  });

  test('what a --pipeline left: no clusterTime, a made-up name, fields of every common type', () => {
    const stats = new Stats();
    const doc = {
      n: 1.5,
      s: 'x',
      b: true,
      d: new Date(0),
      z: null,
      i: 7,
      l: Long.fromNumber(8),
      a: [1, 2],
      operationType: 'rename-ish',
    };
    stats.eventAt(...at(doc));
    stats.eventAt(...at(doc, 3));
    expect(stats.byOperation()).toEqual([['rename-ish', 2]]);
    expect(stats.reached).toBeUndefined();
  });

  test('a type it does not skip before the fields: counted as unknown', () => {
    const stats = new Stats();
    stats.eventAt(...at({ r: new BSONRegExp('a', 'i'), operationType: 'insert' }));
    expect(stats.byOperation()).toEqual([['unknown', 1]]);
  });
});

describe('texts', () => {
  test.each([
    [0, '0s'],
    [59.9, '59s'],
    [60, '1m00s'],
    [125, '2m05s'],
    [3600 * 3 + 7 * 60 + 5, '3h07m'],
    [-4, '0s'],
  ])('formatSeconds(%d) → %s', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });

  test('rates and counts', () => {
    expect(rateText(0)).toBe('0.0 events/s');
    expect(rateText(41.25)).toBe('41.3 events/s');
    expect(rateText(1530.4)).toBe('1,530 events/s');
    const stats = new Stats();
    expect(countsText(stats)).toBe('0 events');
    stats.event('insert', undefined);
    expect(countsText(stats)).toBe('1 event (insert 1)');
    for (let i = 0; i < 1203; i += 1) stats.event(i < 999 ? 'insert' : 'update', undefined);
    expect(countsText(stats)).toBe('1,204 events (insert 1,000 · update 204)');
  });

  test('an operation name with control characters cannot drive the terminal', () => {
    const stats = new Stats();
    stats.event('\x1b[2Jinsert\n', undefined);
    expect(countsText(stats)).toBe('1 event (?[2Jinsert? 1)');
  });

  test.each([
    [{ reason: 'limit', moreWaiting: true }, 'limit reached, more waiting'],
    [{ reason: 'limit', moreWaiting: false }, 'limit reached'],
    [{ reason: 'limit' }, 'limit reached'],
    [{ reason: 'until' }, 'caught up (--until)'],
    [{ reason: 'idle', idleMs: 30_000 }, 'idle 30s'],
    [{ reason: 'idle', idleMs: 120_000 }, 'idle 2m'],
    [{ reason: 'epipe' }, 'stdout closed'],
    [{ reason: 'SIGINT' }, 'SIGINT'],
    [{ reason: 'SIGTERM' }, 'SIGTERM'],
  ] as const)('stopText(%j) → %s', (story, text) => {
    expect(stopText(story)).toBe(text);
  });

  test('the summary: counts, time, position and lag, why it stopped', () => {
    const c = clock();
    const stats = new Stats(c.now);
    for (let i = 0; i < 3; i += 1) stats.event('insert', SECONDS - 1);
    stats.event('delete', SECONDS);
    c.advance(9_300);
    expect(summaryLine(stats, { reason: 'limit', moreWaiting: true }, 'UTC')).toBe(
      '4 events (insert 3 · delete 1) in 9.3s; reached 2026-11-29T16:02:11Z (lag 9s); ' +
        'stopped: limit reached, more waiting',
    );
  });

  test("the summary's time is in the run's zone (local by default)", () => {
    const stats = new Stats(clock().now);
    stats.event('insert', SECONDS);
    expect(summaryLine(stats, { reason: 'SIGINT' }, 'Europe/Paris')).toContain(
      'reached 2026-11-29T17:02:11+01:00 (lag 0s)',
    );
    const local = /reached (\S+) /.exec(summaryLine(stats, { reason: 'SIGINT' }))?.[1];
    expect(Date.parse(local ?? '')).toBe(SECONDS * 1000);
  });

  test('the summary of a run that reached no position says nothing of one', () => {
    const c = clock();
    const stats = new Stats(c.now);
    c.advance(400);
    expect(summaryLine(stats, { reason: 'SIGINT' })).toBe('0 events in 0.4s; stopped: SIGINT');
  });

  test('the stats line: rate, counts and lag', () => {
    const c = clock();
    const stats = new Stats(c.now);
    expect(statsLine(stats)).toBe('0.0 events/s · 0 events · lag unknown');
    c.advance(2000);
    for (let i = 0; i < 5; i += 1) stats.event('update', SECONDS);
    expect(statsLine(stats)).toBe('2.5 events/s · 5 events (update 5) · lag 2s');
  });
});
