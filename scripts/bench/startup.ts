// Start-up costs: time to first event (one event waits behind the resume token; from spawn to
// the first line on the pipe), and `--version` / `--help` against a bare `node -e 0`.
import path from 'node:path';
import { type BenchContext, freshCollection } from './context.js';
import { type Contender, mongoTail } from './contenders.js';
import { order } from './docs.js';
import { startToken } from './load.js';
import { measure, start } from './measure.js';
import { type Spread, spread } from './stats.js';

export interface FirstEventRow {
  name: string;
  /** Spawn → first stdout line (ms). */
  firstLineMs: Spread;
  /** Spawn → exit (ms), with -n 1. */
  exitMs: Spread;
  /** CPU (user+sys) of the whole one-event run: the fixed cost in every throughput run. */
  cpuMs: Spread;
}

export interface StartupResult {
  firstEvent: FirstEventRow[];
  /** Wall ms of each command, `commandRuns` times each (alternating). */
  commands: { name: string; wallMs: Spread }[];
  runs: number;
  commandRuns: number;
}

export async function startup(
  ctx: BenchContext,
  readers: Contender[],
  runs: number,
  commandRuns: number,
): Promise<StartupResult> {
  const coll = 'first';
  await freshCollection(ctx, coll);
  const token = await startToken(ctx.client, ctx.db, coll);
  await ctx.client.db(ctx.db).collection(coll).insertOne(order(0));
  ctx.log(
    `startup: time to first event (${readers.map((r) => r.name).join(', ')}), ${runs} runs each`,
  );

  const firstEvent: FirstEventRow[] = [];
  const first = new Map<string, number[]>(readers.map((r) => [r.key, []]));
  const exit = new Map<string, number[]>(readers.map((r) => [r.key, []]));
  const cpu = new Map<string, number[]>(readers.map((r) => [r.key, []]));
  for (let r = 0; r < runs; r++) {
    for (const reader of readers) {
      const began = performance.now();
      let firstLine: number | undefined;
      const running = start(reader.command({ uri: ctx.uri, db: ctx.db, coll, token, events: 1 }), {
        timeoutMs: 60_000,
        onData: () => {
          firstLine ??= performance.now() - began;
        },
      });
      const result = await running.done;
      if (result.lines !== 1 || firstLine === undefined) {
        throw new Error(`${reader.name} printed ${result.lines} lines, expected 1`);
      }
      first.get(reader.key)!.push(firstLine);
      exit.get(reader.key)!.push(result.wallMs);
      cpu.get(reader.key)!.push(result.cpuMs);
    }
  }
  for (const reader of readers) {
    firstEvent.push({
      name: reader.name,
      firstLineMs: spread(first.get(reader.key)!),
      exitMs: spread(exit.get(reader.key)!),
      cpuMs: spread(cpu.get(reader.key)!),
    });
  }

  ctx.log(`startup: --version, --help and node -e 0, ${commandRuns} runs each`);
  const bin = path.join(ctx.root, 'bin', 'mongo-tail.js');
  const commands = [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: 'mongo-tail --version', args: [bin, '--version'] },
    { name: 'mongo-tail --help', args: [bin, '--help'] },
  ];
  const walls = new Map<string, number[]>(commands.map((c) => [c.name, []]));
  for (let r = 0; r < commandRuns; r++) {
    for (const c of commands) {
      const result = await measure(
        {
          cmd: process.execPath,
          args: c.args,
          cwd: ctx.root,
          env: { ...process.env, NO_COLOR: '1' },
        },
        { timeoutMs: 30_000 },
      );
      walls.get(c.name)!.push(result.wallMs);
    }
  }
  return {
    firstEvent,
    commands: commands.map((c) => ({ name: c.name, wallMs: spread(walls.get(c.name)!) })),
    runs,
    commandRuns,
  };
}

/** The readers whose time to first event is worth comparing. */
export function firstEventReaders(root: string, others: Contender[]): Contender[] {
  return [mongoTail(root, 'json'), ...others.filter((c) => c.key === 'driver')];
}
