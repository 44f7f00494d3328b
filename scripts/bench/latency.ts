// Latency: a writer process inserts orders at a steady rate, each carrying its send time;
// mongo-tail -f json and, at the same time, the hand-written driver loop tail the collection
// from now, and this process records arrival − send for every line each prints. Both readers
// share the machine and the server, so a pause of the server or the machine shows in both.
import { performance } from 'node:perf_hooks';
import { type BenchContext, freshCollection } from './context.js';
import { type Contender, driverLoop, mongoTail } from './contenders.js';
import { startToken, startWriter } from './load.js';
import { lineSplitter, start } from './measure.js';
import { percentiles } from './stats.js';

export interface LatencyResult {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  /** Events whose latency counts (those sent after the warm-up). */
  measured: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** mongo-tail's CPU over the whole run, per event (µs). */
  cpuUsPerEvent: number;
  /** The driver loop's figures over the same events, read at the same time. */
  driver: { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number; cpuUsPerEvent: number };
}

const COLL = 'latency';
const SEQ = /"seq":(\d+)/;
const SENT_AT = /"sentAt":([0-9.eE+-]+)/;

export async function latency(
  ctx: BenchContext,
  rate: number,
  seconds: number,
): Promise<LatencyResult> {
  const warmupSeconds = ctx.quick ? 0.5 : 1;
  const count = Math.round(rate * (warmupSeconds + seconds));
  const warmCount = rate * warmupSeconds;
  await freshCollection(ctx, COLL);
  // From now: the token is taken just before the writer starts (nothing older to catch up on),
  // and mongo-tail gets a moment to connect before the first write.
  const token = await startToken(ctx.client, ctx.db, COLL);
  ctx.log(
    `latency: ${rate.toLocaleString('en-US')} orders/s for ${warmupSeconds + seconds} s ` +
      `(the first ${warmupSeconds} s is warm-up)`,
  );
  let bad: string | undefined;
  const read = (contender: Contender) => {
    const samples: number[] = [];
    const run = start(
      contender.command({ uri: ctx.uri, db: ctx.db, coll: COLL, token, events: count }),
      {
        timeoutMs: (warmupSeconds + seconds) * 1000 + 60_000,
        onData: lineSplitter((line) => {
          const arrived = performance.timeOrigin + performance.now();
          const seq = SEQ.exec(line);
          const sent = SENT_AT.exec(line);
          if (!seq || !sent) {
            bad ??= line.slice(0, 200);
            return;
          }
          if (Number(seq[1]) >= warmCount) samples.push(arrived - Number(sent[1]));
        }),
      },
    );
    return { name: contender.name, samples, run };
  };
  const tail = read(mongoTail(ctx.root, 'json'));
  const driver = read(driverLoop(ctx.root));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const writer = startWriter(ctx.root, {
    mode: 'rate',
    uri: ctx.uri,
    db: ctx.db,
    coll: COLL,
    count,
    rate,
  });
  const [run, driverRun] = await Promise.all([tail.run.done, driver.run.done, writer.done]);
  if (bad !== undefined) throw new Error(`latency: a line without seq/sentAt: ${bad}`);
  for (const [name, r] of [
    [tail.name, run],
    [driver.name, driverRun],
  ] as const) {
    if (r.lines !== count) throw new Error(`latency: ${name} printed ${r.lines} of ${count} lines`);
  }
  const p = percentiles(tail.samples);
  const d = percentiles(driver.samples);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    rate,
    seconds,
    warmupSeconds,
    measured: tail.samples.length,
    p50Ms: p.p50,
    p99Ms: p.p99,
    maxMs: p.max,
    meanMs: mean(tail.samples),
    driver: {
      p50Ms: d.p50,
      p99Ms: d.p99,
      maxMs: d.max,
      meanMs: mean(driver.samples),
      cpuUsPerEvent: (driverRun.cpuMs * 1000) / count,
    },
    cpuUsPerEvent: (run.cpuMs * 1000) / count,
  };
}
