// `npm run bench [-- --quick] [--events N] [--rounds R] [--uri URI] [--no-mongosh] [--only …]
// [--json path]`: mongo-tail against the loops people write by hand (Node driver, pymongo,
// mongosh) and a raw-batch client that decodes nothing, on this machine, in one run.
// Tables go to stdout, progress to stderr, every figure to bench-results.json; the last line
// is the one-line summary. Helpers live in scripts/bench/ (one file per job).
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { MongoClient } from 'mongodb';
import { chooseContenders } from './bench/contenders.js';
import type { BenchContext } from './bench/context.js';
import { type LatencyResult, latency } from './bench/latency.js';
import { connect } from './bench/load.js';
import { exactRusage } from './bench/measure.js';
import { type MemoryResult, type StallResult, memory, stall } from './bench/memory.js';
import { cleanup, installCleanupHandlers, interruption } from './bench/procs.js';
import { type SizeRow, scaling, sizeSpecs } from './bench/scaling.js';
import { type Backend, externalServer, startServer } from './bench/server.js';
import { type StartupResult, firstEventReaders, startup } from './bench/startup.js';
import { num, range, table, times } from './bench/table.js';
import { type ThroughputResult, throughput } from './bench/throughput.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECTIONS = ['throughput', 'scaling', 'startup', 'latency', 'stall', 'memory'] as const;
type Section = (typeof SECTIONS)[number];
const DB = 'mongo_tail_bench';

const USAGE = `usage: npm run bench -- [options]
  --events N       events per throughput run (default 50000; --quick 5000)
  --rounds R       rounds of the alternating contenders (default 5; --quick 2)
  --quick          a small run that finishes within a minute (no mongosh install)
  --uri URI        a real replica set instead of the test server (writes into db ${DB})
  --no-mongosh     skip the mongosh contender
  --only LIST      run only these sections: ${SECTIONS.join(',')}
  --json PATH      where to write the figures (default bench-results.json)`;

class UsageError extends Error {}

interface BenchOptions {
  events: number;
  rounds: number;
  quick: boolean;
  uri?: string;
  mongosh: boolean;
  only: Set<Section>;
  json: string;
  /** Section sizes, from --quick. */
  latencySeconds: number;
  stallSeconds: number;
  memoryEvents: number;
  startupRuns: number;
  scalingRuns: number;
}

/** Flags → options; throws UsageError naming the flag. Quick sets sizes; flags override. */
function parseOptions(argv: string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        events: { type: 'string' },
        rounds: { type: 'string' },
        quick: { type: 'boolean', default: false },
        uri: { type: 'string' },
        'no-mongosh': { type: 'boolean', default: false },
        only: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) throw new UsageError('');
  const positive = (flag: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1) {
      throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
    }
    return Number(text);
  };
  const quick = values.quick;
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(',')).split(',')) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new UsageError(`--only takes ${SECTIONS.join(',')}; got '${name}'`);
    }
    only.add(name as Section);
  }
  return {
    events: positive('--events', values.events, quick ? 5_000 : 50_000),
    rounds: positive('--rounds', values.rounds, quick ? 2 : 5),
    quick,
    ...(values.uri !== undefined ? { uri: values.uri } : {}),
    mongosh: !values['no-mongosh'],
    only,
    json: path.resolve(values.json ?? path.join(ROOT, 'bench-results.json')),
    latencySeconds: quick ? 3 : 10,
    stallSeconds: quick ? 3 : 10,
    memoryEvents: quick ? 100_000 : 1_000_000,
    startupRuns: quick ? 3 : 10,
    scalingRuns: quick ? 1 : 3,
  };
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

interface Results {
  throughput?: ThroughputResult;
  scaling?: SizeRow[];
  startup?: StartupResult;
  latency?: LatencyResult;
  stall?: StallResult;
  memory?: MemoryResult;
}

function printThroughput(t: ThroughputResult): void {
  const json = t.rows.find((r) => r.key === 'json');
  print(
    `\nThroughput: ${num(t.events)} change events (${t.mix.insert * 100}% insert / ${t.mix.update * 100}% update / ` +
      `${t.mix.delete * 100}% delete of ~${t.orderBytes} B orders), read from one resume token into a pipe; ` +
      `${t.rounds} round${t.rounds === 1 ? '' : 's'}, median [min–max]`,
  );
  const rows = t.rows.map((r) => [
    r.name,
    range({ median: r.median.cpuUsPerEvent, min: r.min.cpuUsPerEvent, max: r.max.cpuUsPerEvent }),
    json ? times(r.median.cpuUsPerEvent / json.median.cpuUsPerEvent) : 'n/a',
    range(
      { median: r.median.wallMs / 1000, min: r.min.wallMs / 1000, max: r.max.wallMs / 1000 },
      2,
    ),
    num(r.median.eventsPerSec),
    num(r.median.maxRssMb),
    r.median.serverCpuMs === undefined ? 'n/a' : num(r.median.serverCpuMs / 1000, 2),
  ]);
  print(
    table(
      [
        'contender',
        'CPU µs/event',
        'CPU vs json',
        'wall s',
        'events/s',
        'peak RSS MB',
        'server CPU s',
      ],
      rows,
      [false, true, true, true, true, true, true],
    ),
  );
  for (const s of t.skipped) print(`  skipped ${s.name}: ${s.reason}`);
  print(
    `  CPU = user+sys of the process and its children (GNU time${exactRusage ? '' : ': missing, /proc samples'}); wall includes start-up.`,
  );
}

function printScaling(rows: SizeRow[]): void {
  print('\nScaling: mongo-tail -f json by document size (inserts), median');
  print(
    table(
      ['document', 'events', 'events/s', 'output MB/s', 'CPU µs/event', 'wall s', 'peak RSS MB'],
      rows.map((r) => [
        `${r.label} (${num(r.docBytes)} B)`,
        num(r.events),
        num(r.median.eventsPerSec),
        num(r.median.outputMbPerSec, 1),
        num(r.median.cpuUsPerEvent, 1),
        num(r.median.wallMs / 1000, 2),
        num(r.median.maxRssMb),
      ]),
      [false, true, true, true, true, true, true],
    ),
  );
}

function printStartup(s: StartupResult): void {
  print(`\nStart-up: median [min–max] ms of ${s.runs} runs each`);
  print(
    table(
      ['reader (one waiting event)', 'first line ms', 'exit ms', 'CPU ms'],
      s.firstEvent.map((r) => [
        r.name,
        range(r.firstLineMs, 0),
        range(r.exitMs, 0),
        range(r.cpuMs, 0),
      ]),
      [false, true, true, true],
    ),
  );
  print(`(CPU ms: the fixed cost inside every throughput run.) ${s.commandRuns} runs each:`);
  print(
    table(
      ['command', 'wall ms'],
      s.commands.map((c) => [c.name, range(c.wallMs, 0)]),
      [false, true],
    ),
  );
}

function printLive(r: Results): void {
  if (r.latency) {
    const l = r.latency;
    print(
      `\nLatency: ${num(l.rate)} inserts/s for ${l.seconds} s (after ${l.warmupSeconds} s ` +
        'warm-up), both readers at once; arrival on the reader stdout − send time',
    );
    const row = (
      name: string,
      x: Omit<LatencyResult, 'driver' | 'rate' | 'seconds' | 'warmupSeconds' | 'measured'>,
    ) => [
      name,
      num(l.measured),
      num(x.p50Ms, 1),
      num(x.p99Ms, 1),
      num(x.maxMs, 1),
      num(x.meanMs, 1),
      num(x.cpuUsPerEvent, 1),
    ];
    print(
      table(
        ['reader', 'events', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'CPU µs/event'],
        [row('mongo-tail -f json', l), row('driver loop (Node)', l.driver)],
        [false, true, true, true, true, true, true],
      ),
    );
  }
  if (r.memory) {
    const m = r.memory;
    print(
      `\nMemory: mongo-tail -f json over ${num(m.events)} events (inserts and deletes of ${m.documents}; ` +
        `writer ≤ ${num(m.window)} ahead, bounded oplog)`,
    );
    print(
      table(
        [
          'peak RSS MB',
          `RSS @ ${num(m.early.events)} MB`,
          `RSS @ ${num(m.late.events)} MB`,
          'late/early',
          'events/s',
          'CPU µs/event',
        ],
        [
          [
            num(m.peakRssMb),
            num(m.early.rssMb),
            num(m.late.rssMb),
            times(m.growth),
            num(m.eventsPerSec),
            num(m.cpuUsPerEvent, 1),
          ],
        ],
        [true, true, true, true, true, true],
      ),
    );
    print(
      `  RSS by events read: ${m.series.map(([n, mb]) => `${num(n / 1000)}k ${num(mb)}`).join(', ')}`,
    );
  }
  if (r.stall) {
    const s = r.stall;
    print(
      `\nStall: ${num(s.rate)} inserts/s; the reader stops reading for ${s.stallSeconds} s, then drains`,
    );
    print(
      table(
        [
          'events',
          'RSS before MB',
          'peak stalled MB',
          'peak draining MB',
          'growth MB',
          'lines during stall',
          '~written during stall',
          'all, in order',
        ],
        [
          [
            num(s.events),
            num(s.rssBeforeMb, 1),
            num(s.rssPeakStallMb, 1),
            num(s.rssPeakDrainMb, 1),
            num(s.growthMb, 1),
            num(s.linesDuringStall),
            num(s.writtenDuringStall),
            s.complete && s.inOrder ? 'yes' : 'NO',
          ],
        ],
        [true, true, true, true, true, true, true, false],
      ),
    );
  }
}

/** The closing one-line summary and its figures. */
function summarize(r: Results): { line: string; figures: Record<string, number | null> } {
  const row = (key: string) => r.throughput?.rows.find((x) => x.key === key)?.median;
  const json = row('json');
  const driver = row('driver');
  const py = row('pymongo');
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : a / b;
  const cpuVsDriver = ratio(driver?.cpuUsPerEvent, json?.cpuUsPerEvent);
  const cpuVsPymongo = ratio(py?.cpuUsPerEvent, json?.cpuUsPerEvent);
  const wallVsDriver = ratio(driver?.wallMs, json?.wallMs);
  const ms = (x: number | undefined): string => (x === undefined ? 'n/a' : `${num(x, 1)} ms`);
  const line =
    `bench: json ${times(cpuVsDriver)} less CPU per event than the driver loop, ${times(cpuVsPymongo)} pymongo; ` +
    `wall ${times(wallVsDriver)}; p50 ${ms(r.latency?.p50Ms)} p99 ${ms(r.latency?.p99Ms)}; ` +
    `peak RSS ${r.memory ? `${num(r.memory.peakRssMb)} MB` : 'n/a'}`;
  const orNull = (x: number | undefined): number | null => (x === undefined ? null : x);
  return {
    line,
    figures: {
      cpuVsDriver: orNull(cpuVsDriver),
      cpuVsPymongo: orNull(cpuVsPymongo),
      wallVsDriver: orNull(wallVsDriver),
      p50Ms: orNull(r.latency?.p50Ms),
      p99Ms: orNull(r.latency?.p99Ms),
      peakRssMb: orNull(r.memory?.peakRssMb),
    },
  };
}

async function run(opts: BenchOptions): Promise<void> {
  const began = performance.now();
  let backend: Backend | undefined;
  let client: MongoClient | undefined;
  const results: Results = {};
  const sectionMs: Partial<Record<Section, number>> = {};
  try {
    const oplogSize = Math.max(opts.events + 20_000, 200_000);
    if (opts.uri === undefined) {
      log(`bench: starting the test server (child process, oplog ${num(oplogSize)} entries)`);
      backend = await startServer(ROOT, oplogSize);
    } else {
      backend = externalServer(opts.uri);
    }
    client = await connect(backend.uri);
    const loadAtStart = loadavg();
    print(
      `mongo-tail bench: node ${process.version}, ${cpus().length} CPUs, load average ${num(loadAtStart[0] ?? NaN, 2)} ` +
        `at start; server: ${opts.uri === undefined ? 'the test server (child process)' : 'external (--uri)'}`,
    );
    const ctx: BenchContext = {
      root: ROOT,
      uri: backend.uri,
      ...(backend.pid !== undefined ? { serverPid: backend.pid } : {}),
      ...(backend.oplogSize !== undefined ? { oplogSize: backend.oplogSize } : {}),
      client,
      db: DB,
      quick: opts.quick,
      rounds: opts.rounds,
      log,
    };
    const { ready, skipped } = await chooseContenders(ROOT, {
      uri: backend.uri,
      mongosh: opts.mongosh && opts.only.has('throughput'),
      installMongosh: !opts.quick,
      log,
    });
    if (opts.only.has('throughput')) {
      for (const s of skipped) log(`bench: skipping ${s.name}: ${s.reason}`);
    }

    // Each section runs when selected, and says how long it took (stderr and the JSON).
    const section = async <T>(name: Section, body: () => Promise<T>): Promise<T | undefined> => {
      if (!opts.only.has(name)) return undefined;
      const from = performance.now();
      const result = await body();
      sectionMs[name] = Math.round(performance.now() - from);
      log(`bench: ${name} took ${num(sectionMs[name] / 1000, 1)} s`);
      return result;
    };
    results.throughput = await section('throughput', () =>
      throughput(ctx, ready, skipped, opts.events),
    );
    if (results.throughput) printThroughput(results.throughput);
    results.scaling = await section('scaling', () =>
      scaling(ctx, sizeSpecs(opts.quick), opts.scalingRuns),
    );
    if (results.scaling) printScaling(results.scaling);
    results.startup = await section('startup', () =>
      startup(ctx, firstEventReaders(ROOT, ready), opts.quick ? 2 : opts.rounds, opts.startupRuns),
    );
    if (results.startup) printStartup(results.startup);
    results.latency = await section('latency', () => latency(ctx, 2000, opts.latencySeconds));
    results.stall = await section('stall', () => stall(ctx, 3000, opts.stallSeconds));
    results.memory = await section('memory', () => memory(ctx, opts.memoryEvents));
    printLive(results);

    if (opts.uri !== undefined) await client.db(DB).dropDatabase();
    const summary = summarize(results);
    const tookMs = performance.now() - began;
    writeFileSync(
      opts.json,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: {
            node: process.version,
            cpus: cpus().length,
            loadavgAtStart: loadAtStart,
            loadavgAtEnd: loadavg(),
          },
          options: { ...opts, only: [...opts.only] },
          server: opts.uri === undefined ? 'test server (child process)' : 'external (--uri)',
          exactRusage,
          ...results,
          summary: summary.figures,
          sectionMs,
          tookMs,
        },
        null,
        2,
      )}\n`,
    );
    log(`bench: figures in ${opts.json}; took ${num(tookMs / 1000, 1)} s`);
    print(`\n${summary.line}`);
  } finally {
    await client?.close().catch(() => undefined);
    await backend?.stop();
    await cleanup();
  }
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message === '') {
      print(USAGE);
      return 0;
    }
    log(`bench: ${error.message}\n${USAGE}`);
    return 2;
  }
  installCleanupHandlers(log);
  try {
    await run(opts);
    return 0;
  } catch (error) {
    const stopped = interruption();
    if (stopped) return stopped.code;
    log(
      `bench: FAILED: ${process.env.MONGO_TAIL_DEBUG ? (error as Error).stack : (error as Error).message}`,
    );
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
