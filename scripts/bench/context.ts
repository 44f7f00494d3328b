// What every section of the bench gets: where the project and the server are, a client for
// setting up data, and how big to make things.
import type { MongoClient } from 'mongodb';
import type { RunResult } from './measure.js';
import { type Spread, spread } from './stats.js';

export interface BenchContext {
  /** The project root (bin/, scripts/, test/). */
  root: string;
  uri: string;
  /** The server's pid when it is our child (its CPU is reported per run). */
  serverPid?: number;
  /** The server's oplog capacity in entries, when we started it. */
  oplogSize?: number;
  /** A client for setup (drops, preloads, tokens). */
  client: MongoClient;
  /** The database every section writes into. */
  db: string;
  quick: boolean;
  rounds: number;
  /** Progress and diagnostics (stderr). */
  log: (line: string) => void;
}

/** Drops `coll` (if it exists) so a section starts from nothing. */
export async function freshCollection(ctx: BenchContext, coll: string): Promise<void> {
  await ctx.client
    .db(ctx.db)
    .collection(coll)
    .drop()
    .catch(() => undefined);
}

/** Per-run figures derived from a measurement of `events` events. */
export interface RunFigures {
  wallMs: number;
  cpuMs: number;
  userMs: number;
  sysMs: number;
  cpuUsPerEvent: number;
  eventsPerSec: number;
  maxRssMb: number;
  outputMb: number;
  serverCpuMs?: number;
}

export function figures(run: RunResult, events: number): RunFigures {
  return {
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
    userMs: run.userMs,
    sysMs: run.sysMs,
    cpuUsPerEvent: (run.cpuMs * 1000) / events,
    eventsPerSec: events / (run.wallMs / 1000),
    maxRssMb: run.maxRssKb / 1024,
    outputMb: run.bytes / 1e6,
    ...(run.serverCpuMs !== undefined ? { serverCpuMs: run.serverCpuMs } : {}),
  };
}

/** Median/min/max of every figure over the runs. */
export function summarize(runs: RunFigures[]): Record<keyof RunFigures, Spread> {
  const of = (key: keyof RunFigures): Spread =>
    spread(runs.map((r) => r[key]).filter((v): v is number => v !== undefined));
  return {
    wallMs: of('wallMs'),
    cpuMs: of('cpuMs'),
    userMs: of('userMs'),
    sysMs: of('sysMs'),
    cpuUsPerEvent: of('cpuUsPerEvent'),
    eventsPerSec: of('eventsPerSec'),
    maxRssMb: of('maxRssMb'),
    outputMb: of('outputMb'),
    serverCpuMs: of('serverCpuMs'),
  };
}
