// Scaling: mongo-tail -f json's throughput by document size (inserts of ~100 B, ~1 KB, ~16 KB
// and ~1 MB documents; fewer of the big ones so that each run takes a few seconds).
import {
  type BenchContext,
  type RunFigures,
  figures,
  freshCollection,
  summarize,
} from './context.js';
import { mongoTail } from './contenders.js';
import { averageSize, sized } from './docs.js';
import { preloadInserts, startToken } from './load.js';
import { measure } from './measure.js';

export interface SizeRow {
  label: string;
  /** Average BSON size of the documents. */
  docBytes: number;
  events: number;
  runs: RunFigures[];
  median: {
    eventsPerSec: number;
    cpuUsPerEvent: number;
    wallMs: number;
    maxRssMb: number;
    outputMbPerSec: number;
  };
}

export interface SizeSpec {
  label: string;
  bytes: number;
  events: number;
}

/** The sizes and counts: `quick` keeps the whole section to a few seconds. */
export function sizeSpecs(quick: boolean): SizeSpec[] {
  return quick
    ? [
        { label: '~100 B', bytes: 100, events: 3_000 },
        { label: '~1 KB', bytes: 1_000, events: 2_000 },
        { label: '~16 KB', bytes: 16_000, events: 200 },
        { label: '~1 MB', bytes: 1_000_000, events: 3 },
      ]
    : [
        { label: '~100 B', bytes: 100, events: 30_000 },
        { label: '~1 KB', bytes: 1_000, events: 20_000 },
        { label: '~16 KB', bytes: 16_000, events: 3_000 },
        { label: '~1 MB', bytes: 1_000_000, events: 50 },
      ];
}

export async function scaling(
  ctx: BenchContext,
  specs: SizeSpec[],
  runs: number,
): Promise<SizeRow[]> {
  const rows: SizeRow[] = [];
  for (const spec of specs) {
    const coll = `size_${spec.bytes}`;
    await freshCollection(ctx, coll);
    const gen = sized(spec.bytes);
    const docBytes = averageSize(gen);
    const token = await startToken(ctx.client, ctx.db, coll);
    ctx.log(
      `scaling: ${spec.events.toLocaleString('en-US')} documents of ${docBytes.toLocaleString('en-US')} B`,
    );
    await preloadInserts(ctx.client.db(ctx.db).collection(coll), spec.events, gen, docBytes);
    const all: RunFigures[] = [];
    for (let r = 0; r < runs; r++) {
      const result = await measure(
        mongoTail(ctx.root, 'json').command({
          uri: ctx.uri,
          db: ctx.db,
          coll,
          token,
          events: spec.events,
        }),
        { timeoutMs: 300_000 },
      );
      if (result.lines !== spec.events) {
        throw new Error(
          `scaling ${spec.label}: mongo-tail printed ${result.lines} of ${spec.events} lines`,
        );
      }
      all.push(figures(result, spec.events));
    }
    // Free the server's memory for the next size (its oplog still holds the entries).
    await freshCollection(ctx, coll);
    const s = summarize(all);
    rows.push({
      label: spec.label,
      docBytes,
      events: spec.events,
      runs: all,
      median: {
        eventsPerSec: s.eventsPerSec.median,
        cpuUsPerEvent: s.cpuUsPerEvent.median,
        wallMs: s.wallMs.median,
        maxRssMb: s.maxRssMb.median,
        outputMbPerSec: s.outputMb.median / (s.wallMs.median / 1000),
      },
    });
  }
  return rows;
}
