import { Timestamp } from 'bson';
import { Oplog, compareTimestamps, nextTick } from './oplog.js';

function insert(oplog: Oplog, n: number): void {
  for (let i = 0; i < n; i++)
    oplog.append({ op: 'insert', db: 'd', coll: 'c', documentKey: { _id: i } });
}

describe('Oplog', () => {
  const open: Oplog[] = [];
  const make = (opts: ConstructorParameters<typeof Oplog>[0]): Oplog => {
    const o = new Oplog(opts);
    open.push(o);
    return o;
  };
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  it('starts with one no-op, like an initiated replica set', () => {
    const oplog = make({ maxEntries: 10, noopIntervalMs: 0 });
    expect(oplog.size).toBe(1);
    expect(oplog.first?.op).toBe('noop');
    expect(oplog.lastTimestamp.equals(oplog.first?.ts ?? new Timestamp({ t: 0, i: 0 }))).toBe(true);
  });

  it('stamps strictly increasing cluster times of wall-clock seconds', () => {
    const before = Math.floor(Date.now() / 1000);
    const oplog = make({ maxEntries: 1000, noopIntervalMs: 0 });
    insert(oplog, 500);
    const after = Math.floor(Date.now() / 1000);
    for (let i = 1; i < oplog.size; i++) {
      const a = oplog.at(i - 1)?.ts as Timestamp;
      const b = oplog.at(i)?.ts as Timestamp;
      expect(compareTimestamps(a, b)).toBe(-1);
    }
    const last = oplog.lastTimestamp;
    expect(last.t).toBeGreaterThanOrEqual(before);
    expect(last.t).toBeLessThanOrEqual(after);
    expect(oplog.at(1)?.wall).toBeInstanceOf(Date);
  });

  it('restarts the increment at 1 in a new second and never goes back when the clock does', () => {
    let now = 1_000_000_000_000;
    const oplog = make({ maxEntries: 100, noopIntervalMs: 0, now: () => now });
    insert(oplog, 2);
    expect(oplog.lastTimestamp.t).toBe(1_000_000_000);
    expect(oplog.lastTimestamp.i).toBe(3);
    now += 1000;
    insert(oplog, 1);
    expect(oplog.lastTimestamp.t).toBe(1_000_000_001);
    expect(oplog.lastTimestamp.i).toBe(1);
    now -= 5000; // the clock steps back
    insert(oplog, 1);
    expect(oplog.lastTimestamp.t).toBe(1_000_000_001);
    expect(oplog.lastTimestamp.i).toBe(2);
  });

  it('keeps at most maxEntries, dropping the oldest', () => {
    const oplog = make({ maxEntries: 5, noopIntervalMs: 0 });
    insert(oplog, 3000);
    expect(oplog.size).toBe(5);
    expect(oplog.first?.documentKey).toEqual({ _id: 2995 });
    expect(
      oplog.droppedThrough && compareTimestamps(oplog.droppedThrough, oplog.first?.ts as Timestamp),
    ).toBe(-1);
  });

  it('truncates all but the newest entry, or everything before a time', () => {
    const oplog = make({ maxEntries: 100, noopIntervalMs: 0 });
    insert(oplog, 10);
    const sixth = oplog.at(6)?.ts as Timestamp;
    oplog.truncate(sixth);
    expect(oplog.first?.ts.equals(sixth)).toBe(true);
    expect(oplog.size).toBe(5);
    oplog.truncate();
    expect(oplog.size).toBe(1);
    expect(oplog.first?.documentKey).toEqual({ _id: 9 });
  });

  it('finds the first entry after a time by binary search', () => {
    const oplog = make({ maxEntries: 100, noopIntervalMs: 0 });
    insert(oplog, 20);
    const t5 = oplog.at(5)?.ts as Timestamp;
    expect(oplog.indexAfter(t5)).toBe(6);
    expect(oplog.indexAfter(t5, true)).toBe(5);
    expect(oplog.indexAfter(nextTick(oplog.lastTimestamp), true)).toBe(oplog.size);
    expect(oplog.indexAfter(new Timestamp({ t: 0, i: 0 }))).toBe(0);
  });

  it('wakes waiters on append, without polling', async () => {
    const oplog = make({ maxEntries: 100, noopIntervalMs: 0 });
    let woke = 0;
    const unsubscribe = oplog.subscribe(() => woke++);
    const next = oplog.nextAppend();
    setTimeout(() => insert(oplog, 1), 20);
    await next;
    expect(woke).toBe(1);
    unsubscribe();
    insert(oplog, 1);
    expect(woke).toBe(1);
  });

  it('writes a periodic no-op so idle cluster time moves', async () => {
    const oplog = make({ maxEntries: 100, noopIntervalMs: 30 });
    const start = oplog.size;
    await new Promise((r) => setTimeout(r, 120));
    expect(oplog.size).toBeGreaterThan(start);
    expect(oplog.newest?.op).toBe('noop');
    oplog.close();
    const size = oplog.size;
    await new Promise((r) => setTimeout(r, 80));
    expect(oplog.size).toBe(size);
  });
});
