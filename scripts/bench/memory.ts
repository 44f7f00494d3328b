// Memory: mongo-tail -f json's resident set over a long stream, and while its reader stalls.
//   memory: E events (insertMany + deleteMany cycles from a flow-controlled writer, so a bounded
//           oplog holds only a window of them); VmRSS sampled every 100 ms with the line count.
//   stall:  a steady write load; the bench stops reading mongo-tail's stdout for S seconds,
//           then drains; RSS growth over the stall, and every event must arrive, in order.
import { type BenchContext, freshCollection } from './context.js';
import { mongoTail } from './contenders.js';
import { averageSize, order, sized } from './docs.js';
import { startToken, startWriter } from './load.js';
import { lineSplitter, procRssKb, start } from './measure.js';

export interface MemoryResult {
  events: number;
  /** What was inserted (and deleted again): orders, or small records under --quick. */
  documents: string;
  /** How far the writer may run ahead of the reader (events). */
  window: number;
  peakRssMb: number;
  /** RSS when the reader had seen `early.events` lines, and near the end. */
  early: { events: number; rssMb: number };
  late: { events: number; rssMb: number };
  /** late / early. */
  growth: number;
  wallMs: number;
  eventsPerSec: number;
  cpuUsPerEvent: number;
  /** [events read, RSS MB] every ~10% of the run. */
  series: [number, number][];
}

export interface StallResult {
  rate: number;
  stallSeconds: number;
  events: number;
  rssBeforeMb: number;
  /** Peak RSS while the reader did not read, and while it drained the backlog. */
  rssPeakStallMb: number;
  rssPeakDrainMb: number;
  /** Peak during the stall and the drain, minus RSS just before the stall. */
  growthMb: number;
  /** Lines read while the reader was not reading (the pipe's buffers). */
  linesDuringStall: number;
  /** Events the writer wrote during the stall (what mongo-tail had to leave on the server). */
  writtenDuringStall: number;
  inOrder: boolean;
  complete: boolean;
}

const MB = 1024;
const SEQ = /"seq":(\d+)/;

export async function memory(ctx: BenchContext, events: number): Promise<MemoryResult> {
  const coll = 'memory';
  await freshCollection(ctx, coll);
  const token = await startToken(ctx.client, ctx.db, coll);
  const window = Math.min(100_000, Math.floor((ctx.oplogSize ?? 200_000) / 2));
  // --quick: ~100 B records, which the test server ingests ~3× faster than orders (the writer,
  // not mongo-tail, sets the pace here), so the section fits in the one-minute budget.
  const docBytes = ctx.quick ? 100 : undefined;
  const documents = ctx.quick
    ? `~${averageSize(sized(100))} B records`
    : `~${averageSize((seq) => order(seq))} B orders`;
  ctx.log(
    `memory: ${events.toLocaleString('en-US')} events through mongo-tail -f json ` +
      `(writer at most ${window.toLocaleString('en-US')} events ahead)`,
  );
  const earlyAt = events >= 1_000_000 ? 100_000 : Math.round(events / 10);
  const samples: [number, number][] = [];
  const tail = start(
    mongoTail(ctx.root, 'json').command({ uri: ctx.uri, db: ctx.db, coll, token, events }),
    { timeoutMs: 600_000 + events },
  );
  const writer = startWriter(ctx.root, {
    mode: 'flow',
    uri: ctx.uri,
    db: ctx.db,
    coll,
    count: events,
    window,
    ...(docBytes !== undefined ? { docBytes } : {}),
  });
  let nextLog = events / 4;
  const sampler = setInterval(() => {
    writer.reportRead(tail.lines);
    const pid = tail.programPid();
    const mem = pid === undefined ? undefined : procRssKb(pid);
    if (mem) samples.push([tail.lines, mem.rss / MB]);
    if (tail.lines >= nextLog && tail.lines < events) {
      ctx.log(`  memory: ${tail.lines.toLocaleString('en-US')} events read`);
      nextLog += events / 4;
    }
  }, 100);
  let run;
  try {
    [run] = await Promise.all([tail.done, writer.done]);
  } finally {
    clearInterval(sampler);
  }
  if (run.lines !== events)
    throw new Error(`memory: mongo-tail printed ${run.lines} of ${events} lines`);
  const early = samples.find(([n]) => n >= earlyAt) ?? samples[0] ?? [0, NaN];
  const late = samples.at(-1) ?? [0, NaN];
  const series: [number, number][] = [];
  for (let k = 1; k <= 10; k++) {
    const s = samples.find(([n]) => n >= (events * k) / 10) ?? (k === 10 ? late : undefined);
    if (s) series.push([s[0], round1(s[1])]);
  }
  return {
    events,
    documents,
    window,
    peakRssMb: run.maxRssKb / MB,
    early: { events: early[0], rssMb: early[1] },
    late: { events: late[0], rssMb: late[1] },
    growth: late[1] / early[1],
    wallMs: run.wallMs,
    eventsPerSec: events / (run.wallMs / 1000),
    cpuUsPerEvent: (run.cpuMs * 1000) / events,
    series,
  };
}

export async function stall(
  ctx: BenchContext,
  rate: number,
  stallSeconds: number,
): Promise<StallResult> {
  const coll = 'stall';
  // Reading before the stall and writing after it: long enough to see a steady state.
  const before = ctx.quick ? 0.5 : 1;
  const after = ctx.quick ? 0.5 : 1;
  const events = Math.round(rate * (before + stallSeconds + after));
  await freshCollection(ctx, coll);
  const token = await startToken(ctx.client, ctx.db, coll);
  ctx.log(
    `stall: ${rate.toLocaleString('en-US')} orders/s; the reader stops for ${stallSeconds} s, then drains`,
  );
  let expected = 0;
  let inOrder = true;
  const tail = start(
    mongoTail(ctx.root, 'json').command({ uri: ctx.uri, db: ctx.db, coll, token, events }),
    {
      timeoutMs: (before + stallSeconds + after) * 1000 + 120_000,
      onData: lineSplitter((line) => {
        const seq = SEQ.exec(line);
        if (!seq || Number(seq[1]) !== expected) inOrder = false;
        expected++;
      }),
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const writer = startWriter(ctx.root, {
    mode: 'rate',
    uri: ctx.uri,
    db: ctx.db,
    coll,
    count: events,
    rate,
  });
  const writerStarted = Date.now();
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  await pause(before * 1000);
  const pid = tail.programPid();
  const rssBefore = pid === undefined ? undefined : procRssKb(pid)?.rss;
  if (pid === undefined || rssBefore === undefined)
    throw new Error('stall: mongo-tail is not running');
  const peak = { stall: rssBefore, drain: 0 };
  let phase: keyof typeof peak = 'stall';
  const sampler = setInterval(() => {
    const mem = procRssKb(pid);
    if (mem) peak[phase] = Math.max(peak[phase], mem.rss);
  }, 100);
  const stdout = tail.child.stdout!;
  stdout.pause();
  const linesAtPause = tail.lines;
  const writtenAtPause = ((Date.now() - writerStarted) / 1000) * rate;
  await pause(stallSeconds * 1000);
  const linesAtResume = tail.lines;
  const writtenAtResume = Math.min(events, ((Date.now() - writerStarted) / 1000) * rate);
  const lastStallSample = procRssKb(pid);
  if (lastStallSample) peak.stall = Math.max(peak.stall, lastStallSample.rss);
  phase = 'drain';
  stdout.resume();
  let run;
  try {
    [run] = await Promise.all([tail.done, writer.done]);
  } finally {
    clearInterval(sampler);
  }
  if (run.lines !== events || !inOrder || expected !== events) {
    throw new Error(
      `stall: mongo-tail printed ${run.lines} of ${events} lines` +
        (inOrder ? '' : ', not in sequence order (an event was lost, repeated or reordered)'),
    );
  }
  return {
    rate,
    stallSeconds,
    events,
    rssBeforeMb: rssBefore / MB,
    rssPeakStallMb: peak.stall / MB,
    rssPeakDrainMb: peak.drain / MB,
    growthMb: (Math.max(peak.stall, peak.drain) - rssBefore) / MB,
    linesDuringStall: linesAtResume - linesAtPause,
    writtenDuringStall: Math.round(writtenAtResume - writtenAtPause),
    inOrder: true,
    complete: true,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
