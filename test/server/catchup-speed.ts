// How fast the test server serves a change-stream catch-up, measured from outside its process:
//
//   node --import ./test/register.mjs test/server/catchup-speed.ts \
//     [--events 50000] [--streams collection,database,match] [--repeat 0] [--uri URI]
//     [--oplog-size N] [--server-arg ARG]...
//
// Unless --uri is given (a server on 127.0.0.1) it starts the server as a child process
// (`main.ts --port 0`, whose one stdout line is the URI). For each stream kind (a collection
// stream, a database stream, a collection stream with a `$match` on operationType) it preloads
// N insert events (~590 bytes each: ObjectId, strings, a nested address, line items, a date,
// Decimal128 prices, Long counters) into a fresh database with the driver, in insertMany chunks
// of 1000, then reads them back through a raw-socket change stream (aggregate `$changeStream`
// from before the preload, then getMores with no batchSize: 16 MiB batches) and prints events/s,
// MB/s and the server's CPU time per event (utime + stime from /proc/<pid>/stat). The client
// decodes no event: it counts the `nextBatch` elements by walking their BSON lengths, so what is
// measured is the server's headroom, not a driver's decoding speed. `--repeat K` reads the same
// events K more times (a second reader of the same history). `--server-arg=--cpu-prof
// --server-arg=--cpu-prof-dir=DIR` profiles the server (written when it stops).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Document, type Timestamp, Decimal128, Long, ObjectId, deserialize } from 'bson';
import { MongoClient } from 'mongodb';
import { elementsOf, readCursor } from '../../src/source/batch.js';
import { WireClient } from './wire-client.js';

const USAGE =
  'usage: catchup-speed [--events N] [--streams collection,database,match] [--repeat K] ' +
  '[--uri URI] [--oplog-size N] [--server-arg ARG]...';

type StreamKind = 'collection' | 'database' | 'match';
const STREAM_KINDS: readonly StreamKind[] = ['collection', 'database', 'match'];

interface Flags {
  events: number;
  streams: StreamKind[];
  repeat: number;
  uri?: string;
  oplogSize?: number;
  serverArgs: string[];
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '50000' },
      streams: { type: 'string', default: STREAM_KINDS.join(',') },
      repeat: { type: 'string', default: '0' },
      uri: { type: 'string' },
      'oplog-size': { type: 'string' },
      'server-arg': { type: 'string', multiple: true, default: [] },
    },
    strict: true,
    allowPositionals: false,
  });
  const int = (name: string, v: string, min: number): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name}: bad value '${v}'`);
    return Number(v);
  };
  const streams = values.streams.split(',').map((s) => {
    if (!(STREAM_KINDS as readonly string[]).includes(s)) throw new Error(`--streams: bad '${s}'`);
    return s as StreamKind;
  });
  const flags: Flags = {
    events: int('events', values.events, 1),
    streams,
    repeat: int('repeat', values.repeat, 0),
    serverArgs: values['server-arg'],
  };
  if (values.uri !== undefined) flags.uri = values.uri;
  if (values['oplog-size'] !== undefined)
    flags.oplogSize = int('oplog-size', values['oplog-size'], 1);
  return flags;
}

// ---------------------------------------------------------------- the server process

interface ServerProcess {
  uri: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

async function startServer(flags: Flags): Promise<ServerProcess> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const args = [
    ...flags.serverArgs,
    '--import',
    './test/register.mjs',
    'test/server/main.ts',
    '--port',
    '0',
    ...(flags.oplogSize !== undefined ? ['--oplog-size', String(flags.oplogSize)] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The URI is the server's one stdout line; anything else there (node's --trace-gc, say) is
  // passed on to stderr.
  const lines = createInterface({ input: child.stdout! });
  const uri = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('mongodb://')) resolve(line);
      else process.stderr.write(`[server] ${line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`test server exited with ${String(code)}`)));
  });
  return {
    uri,
    pid: child.pid,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** utime + stime of `pid` in seconds (Linux: /proc/<pid>/stat, 100 clock ticks a second). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return undefined;
  }
}

/** RSS of `pid` in MiB (VmRSS of /proc/<pid>/status). */
function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- preloading

/** An order document of about 210 bytes; its insert event (token, ns, documentKey…) about 590. */
function order(i: number): Document {
  return {
    _id: new ObjectId(),
    customer: { name: 'Ada L.', address: { city: 'London' } },
    items: [
      { sku: 'A-1', qty: Long.fromNumber(1 + (i % 3)), price: Decimal128.fromString('12.50') },
      { sku: 'B-2', qty: Long.fromNumber(1), price: Decimal128.fromString('48.00') },
    ],
    at: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
  };
}

async function preload(uri: string, db: string, coll: string, n: number): Promise<number> {
  const client = new MongoClient(uri);
  const started = process.hrtime.bigint();
  try {
    const c = client.db(db).collection(coll);
    for (let done = 0; done < n; done += 1000) {
      const docs = [];
      for (let i = done; i < Math.min(n, done + 1000); i++) docs.push(order(i));
      await c.insertMany(docs, { ordered: true });
    }
  } finally {
    await client.close();
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

// ---------------------------------------------------------------- raw BSON walking

interface RawBatch {
  events: number;
  cursorId: Long;
}

/**
 * Reads a cursor reply frame: counts its batch and takes its id; throws the server's error.
 * The events are only counted by their length prefixes (mongo-tail's own reply reader), never
 * decoded.
 */
function readBatch(frame: Buffer): RawBatch {
  const bodyAt = 21; // header (16) + flagBits (4) + section kind (1)
  const body = frame.subarray(bodyAt, bodyAt + frame.readInt32LE(bodyAt));
  const fields = elementsOf(body, 0);
  const ok = fields.find((f) => f.name === 'ok');
  const cursor = fields.find((f) => f.name === 'cursor' && f.type === 0x03);
  if (ok?.type !== 0x01 || body.readDoubleLE(ok.at) !== 1 || cursor === undefined) {
    const doc = deserialize(body);
    throw new Error(`server error ${String(doc.code)}: ${String(doc.errmsg)}`);
  }
  const reply = readCursor(body.subarray(cursor.at, cursor.to));
  return { events: reply.starts.length, cursorId: reply.id };
}

// ---------------------------------------------------------------- one catch-up

interface Result {
  events: number;
  bytes: number;
  seconds: number;
  batches: number;
  cpu: number | undefined;
}

async function catchUp(
  server: ServerProcess,
  kind: StreamKind,
  db: string,
  coll: string,
  start: Timestamp,
  n: number,
): Promise<Result> {
  const port = Number(new URL(server.uri).port);
  const client = await WireClient.connect(port);
  try {
    const stages: Document[] =
      kind === 'match' ? [{ $match: { operationType: { $in: ['insert', 'replace'] } } }] : [];
    const aggregate = kind === 'database' ? 1 : coll;
    const cpuBefore = cpuSeconds(server.pid);
    const started = process.hrtime.bigint();
    client.sendMsg({
      aggregate,
      pipeline: [{ $changeStream: { startAtOperationTime: start } }, ...stages],
      cursor: {},
      $db: db,
    });
    let frame = await client.nextRaw(60_000);
    if (!frame) throw new Error('no reply to aggregate');
    let bytes = frame.length;
    let { events, cursorId } = readBatch(frame);
    let batches = 1;
    const collection = kind === 'database' ? '$cmd.aggregate' : coll;
    while (events < n) {
      if (cursorId.isZero()) throw new Error(`stream ended after ${events} events`);
      client.sendMsg({ getMore: cursorId, collection, $db: db });
      frame = await client.nextRaw(60_000);
      if (!frame) throw new Error('no reply to getMore');
      const batch = readBatch(frame);
      events += batch.events;
      bytes += frame.length;
      cursorId = batch.cursorId;
      batches++;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuAfter = cpuSeconds(server.pid);
    if (!cursorId.isZero())
      await client.command({ killCursors: collection, cursors: [cursorId], $db: db });
    const cpu =
      cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
    return { events, bytes, seconds, batches, cpu };
  } finally {
    await client.close();
  }
}

function report(label: string, r: Result): string {
  const rate = Math.round(r.events / r.seconds).toLocaleString('en-US');
  const mbs = (r.bytes / r.seconds / 1e6).toFixed(1);
  const avg = Math.round(r.bytes / r.events);
  const cpu =
    r.cpu === undefined
      ? 'server CPU n/a'
      : `server CPU ${r.cpu.toFixed(2)} s = ${((r.cpu / r.events) * 1e6).toFixed(2)} µs/event`;
  return (
    `${label.padEnd(18)} ${r.events} events in ${r.seconds.toFixed(3)} s: ${rate} events/s, ` +
    `${mbs} MB/s (${avg} B/event, ${r.batches} batches), ${cpu}`
  );
}

async function main(argv: string[]): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`catchup-speed: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const server: ServerProcess = flags.uri
    ? { uri: flags.uri, pid: undefined, stop: () => Promise.resolve() }
    : await startServer(flags);
  try {
    for (const kind of flags.streams) {
      const db = `cu${kind[0]}${process.pid}`;
      const probe = await WireClient.connect(Number(new URL(server.uri).port), { exact: true });
      const reply = await probe.command({ ping: 1, $db: 'admin' });
      await probe.close();
      const start = reply.operationTime as Timestamp;
      const cpuBefore = cpuSeconds(server.pid);
      const loadSeconds = await preload(server.uri, db, 'orders', flags.events);
      const cpuAfter = cpuSeconds(server.pid);
      const rss = rssMiB(server.pid);
      const loadCpu =
        cpuBefore === undefined || cpuAfter === undefined
          ? ''
          : `, server CPU ${(((cpuAfter - cpuBefore) / flags.events) * 1e6).toFixed(1)} µs/insert`;
      process.stdout.write(
        `${kind}: preloaded ${flags.events} inserts in ${loadSeconds.toFixed(1)} s${loadCpu}` +
          `${rss === undefined ? '' : `; server RSS ${rss.toFixed(0)} MiB`}\n`,
      );
      for (let pass = 0; pass <= flags.repeat; pass++) {
        const r = await catchUp(server, kind, db, 'orders', start, flags.events);
        process.stdout.write(`${report(`${kind}${pass > 0 ? ` (again ${pass})` : ''}`, r)}\n`);
      }
    }
    const rss = rssMiB(server.pid);
    if (rss !== undefined) process.stdout.write(`server RSS at the end: ${rss.toFixed(0)} MiB\n`);
    return 0;
  } finally {
    await server.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));
