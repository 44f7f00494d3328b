// Latency: a writer process inserts orders at a steady rate, each carrying its send time;
// mongo-tail -f json tails the collection from now, and this process records arrival − send
// for every line it reads from mongo-tail's stdout.
import { performance } from 'node:perf_hooks';
import { type BenchContext, freshCollection } from './context.js';
import { mongoTail } from './contenders.js';
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
  const samples: number[] = [];
  let bad: string | undefined;
  const tail = start(
    mongoTail(ctx.root, 'json').command({
      uri: ctx.uri,
      db: ctx.db,
      coll: COLL,
      token,
      events: count,
    }),
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
  await new Promise((resolve) => setTimeout(resolve, 500));
  const writer = startWriter(ctx.root, {
    mode: 'rate',
    uri: ctx.uri,
    db: ctx.db,
    coll: COLL,
    count,
    rate,
  });
  const [run] = await Promise.all([tail.done, writer.done]);
  if (bad !== undefined) throw new Error(`latency: a line without seq/sentAt: ${bad}`);
  if (run.lines !== count)
    throw new Error(`latency: mongo-tail printed ${run.lines} of ${count} lines`);
  const p = percentiles(samples);
  return {
    rate,
    seconds,
    warmupSeconds,
    measured: samples.length,
    p50Ms: p.p50,
    p99Ms: p.p99,
    maxMs: p.max,
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
    cpuUsPerEvent: (run.cpuMs * 1000) / count,
  };
}
