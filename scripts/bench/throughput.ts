// Throughput: every contender reads the same N preloaded events (the order mix) from the same
// resume token into a pipe, alternating A B C … A B C … for R rounds.
import {
  type BenchContext,
  type RunFigures,
  figures,
  freshCollection,
  summarize,
} from './context.js';
import type { Contender, Skipped, Target } from './contenders.js';
import { averageSize, order } from './docs.js';
import { MIX, mixCounts, preloadMix, startToken } from './load.js';
import { measure } from './measure.js';
import type { Spread } from './stats.js';

export interface ThroughputRow {
  key: string;
  name: string;
  how: string;
  /** Events each run read (= N). */
  events: number;
  runs: RunFigures[];
  median: RunFigures;
  min: RunFigures;
  max: RunFigures;
}

export interface ThroughputResult {
  events: number;
  rounds: number;
  mix: { insert: number; update: number; delete: number };
  orderBytes: number;
  preloadMs: number;
  rows: ThroughputRow[];
  skipped: Skipped[];
}

export const ORDERS = 'orders';

export async function throughput(
  ctx: BenchContext,
  contenders: Contender[],
  skipped: Skipped[],
  events: number,
): Promise<ThroughputResult> {
  await freshCollection(ctx, ORDERS);
  const token = await startToken(ctx.client, ctx.db, ORDERS);
  const mix = mixCounts(events);
  ctx.log(
    `throughput: preloading ${events.toLocaleString('en-US')} events ` +
      `(${mix.insert} inserts, ${mix.update} updates, ${mix.delete} deletes)`,
  );
  const began = performance.now();
  await preloadMix(ctx.client.db(ctx.db).collection(ORDERS), events, ctx.log);
  const preloadMs = performance.now() - began;
  const target: Target = { uri: ctx.uri, db: ctx.db, coll: ORDERS, token, events };

  // The raw client doubles as the check that the preload made exactly N events (not under
  // --quick, for time: every contender's line count still checks that it read N).
  const raw = contenders.find((c) => c.key === 'raw');
  if (raw && !ctx.quick) {
    const check = raw.command(target);
    await measure({ ...check, args: [...check.args, '--check-end'] }, { timeoutMs: 120_000 });
  }

  const runs = new Map<string, RunFigures[]>(contenders.map((c) => [c.key, []]));
  // Generous: the slowest contender here reads a few thousand events/s.
  const timeoutMs = 120_000 + events * 2;
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const c of contenders) {
      const result = await measure(c.command(target), {
        ...(ctx.serverPid !== undefined ? { serverPid: ctx.serverPid } : {}),
        timeoutMs,
      });
      if (result.lines !== events) {
        throw new Error(
          `${c.name} printed ${result.lines} lines, expected ${events} (one per event)`,
        );
      }
      const f = figures(result, events);
      runs.get(c.key)!.push(f);
      ctx.log(
        `  round ${round}/${ctx.rounds} ${c.name.padEnd(24)} ${(f.wallMs / 1000).toFixed(2)} s wall, ` +
          `${(f.cpuMs / 1000).toFixed(2)} s CPU, ${f.cpuUsPerEvent.toFixed(1)} µs/event`,
      );
    }
  }

  const rows = contenders.map((c): ThroughputRow => {
    const all = runs.get(c.key)!;
    const s = summarize(all);
    const pick = (k: keyof Spread): RunFigures => {
      const out = {} as Record<keyof RunFigures, number>;
      for (const [name, value] of Object.entries(s)) {
        if (!Number.isNaN(value[k])) out[name as keyof RunFigures] = value[k];
      }
      return out as RunFigures;
    };
    return {
      key: c.key,
      name: c.name,
      how: c.how,
      events,
      runs: all,
      median: pick('median'),
      min: pick('min'),
      max: pick('max'),
    };
  });
  return {
    events,
    rounds: ctx.rounds,
    mix: MIX,
    orderBytes: averageSize((seq) => order(seq)),
    preloadMs,
    rows,
    skipped,
  };
}
