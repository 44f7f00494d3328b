// Micro-benchmark of the BSON → Extended JSON hot path on realistic insert events (~650 bytes
// each): the direct transcoder (src/transcode) against today's deserialize-then-format path.
// 1,024 different events (ids, times, names, prices vary) packed one after another in one
// buffer, as in a getMore batch, are cycled through, so no cache sees the same event twice in a row.
// Run: node --import ./test/register.mjs scripts/bench-transcode.ts [seconds per case, default 2]
import { Decimal128, deserialize, EJSON, Int32, Long, ObjectId, serialize, Timestamp } from 'bson';
import { relaxedJson } from '../src/format/json.js';
import { transcodeDocument } from '../src/transcode/index.js';

// How the events are deserialized today: exact BSON types (EXACT in src/format/index.ts).
const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov'];
const CITIES = ['London', 'Arlington', 'Manchester', 'Austin', 'Los Angeles'];
const STATUSES = ['new', 'paid', 'shipped'];

/** Deterministic pseudo-random integers, so every run benchmarks the same events. */
function* numbers(seed: number): Generator<number, never> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield x >>> 8;
  }
}
const random = numbers(42);
const pick = <T>(list: T[]): T => list[random.next().value % list.length]!;
const cents = (): string => ((random.next().value % 5000) / 100 + 1).toFixed(2);

/** The `n`th insert change event as a server sends it. */
function insertEvent(n: number): object {
  const seconds = 1705095875 + n;
  const oid = ObjectId.createFromTime(seconds);
  const item = (sku: string): object => ({
    sku,
    qty: new Int32(1 + (random.next().value % 4)),
    price: Decimal128.fromString(cents()),
  });
  return {
    _id: {
      _data: `8265A1${seconds.toString(16).toUpperCase()}000000012B042C0100296E5A1004A5F3C2D1E0B94F7A8C6D5E4F3A2B1C0D46645F696400${oid.toHexString().toUpperCase()}0004`,
    },
    operationType: 'insert',
    clusterTime: new Timestamp({ t: seconds, i: 1 + (n % 7) }),
    wallTime: new Date(seconds * 1000 + (random.next().value % 1000)),
    fullDocument: {
      _id: oid,
      status: pick(STATUSES),
      customer: {
        name: `${pick(NAMES)} ${n}`,
        address: { street: `${1 + (n % 200)} St James Sq`, city: pick(CITIES) },
      },
      items: [item('TEA-100'), item('CAKE-L'), item('MUG-B')],
      total: Decimal128.fromString(cents()),
      version: Long.fromString('9007199254740993').add(n),
      createdAt: new Date((seconds - 86400 * (n % 30)) * 1000),
    },
    ns: { db: 'shop', coll: 'orders' },
    documentKey: { _id: oid },
  };
}

const documents = Array.from({ length: 1024 }, (_, n) => serialize(insertEvent(n)));
const batch = Buffer.concat(documents);
const starts: number[] = [];
for (let at = 0, n = 0; n < documents.length; at += documents[n]!.length, n++) starts.push(at);
// What the deserializing paths get: each document as its own view into the batch.
const views = starts.map((at, n) => batch.subarray(at, at + documents[n]!.length));

/** Reads a character of `line`: V8 builds strings made with `+=` as ropes and flattens them on
 * first read, as writing the line to stdout would, so that cost is counted too. */
const used = (line: string): number => line.charCodeAt(0);

/** CPU time this process has used, in seconds (all its threads: the GC's helpers too). */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Events per CPU second of `run(n)` over the events in turn, for about `seconds` of CPU. CPU
 * time rather than wall time, so other processes on a busy machine do not count. */
function rate(run: (n: number) => number | object, seconds: number): number {
  let sink = 0;
  let calls = 0;
  const startedAt = cpuSeconds();
  let spent = 0;
  while (spent < seconds) {
    for (let i = 0; i < 1024; i++) sink += run(i) ? 1 : 0;
    calls += 1024;
    spent = cpuSeconds() - startedAt;
  }
  if (sink < 0) console.log(sink); // keeps the results alive
  return calls / spent;
}

const RELAXED = 'transcodeDocument relaxed';
const CANONICAL = 'transcodeDocument canonical';
const OLD_RELAXED = 'relaxedJson(deserialize())';
const OLD_CANONICAL = 'EJSON.stringify(deserialize(), canonical)';
const DESERIALIZE = 'deserialize() alone';

const seconds = Number(process.argv[2] ?? 2);
const cases: [string, (n: number) => number | object][] = [
  [RELAXED, (n) => used(transcodeDocument(batch, starts[n]!, 'relaxed'))],
  [CANONICAL, (n) => used(transcodeDocument(batch, starts[n]!, 'canonical'))],
  [OLD_RELAXED, (n) => used(relaxedJson(deserialize(views[n]!, EXACT)))],
  [OLD_CANONICAL, (n) => used(EJSON.stringify(deserialize(views[n]!, EXACT), { relaxed: false }))],
  [DESERIALIZE, (n) => deserialize(views[n]!, EXACT)],
];

const average = Math.round(batch.length / documents.length);
console.log(
  `${documents.length} events, ${average} bytes of BSON on average, node ${process.version}`,
);
// Warm up every case first (let the JIT optimise), then take turns in short rounds and keep each
// case's best round: on a busy machine, load then falls on all cases alike.
for (const [, run] of cases) rate(run, 0.3);
const ROUNDS = 5;
const rates = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of cases) {
    rates.set(name, Math.max(rates.get(name) ?? 0, rate(run, seconds / ROUNDS)));
  }
}
for (const [name] of cases) {
  const perSecond = Math.round(rates.get(name)!).toLocaleString('en-US');
  console.log(`${name.padEnd(42)} ${perSecond.padStart(10)} events/s (CPU)`);
}
const ratio = (a: string, b: string): string => `${(rates.get(a)! / rates.get(b)!).toFixed(1)}×`;
console.log(`relaxed:   ${ratio(RELAXED, OLD_RELAXED)} ${OLD_RELAXED}`);
console.log(`canonical: ${ratio(CANONICAL, OLD_CANONICAL)} ${OLD_CANONICAL}`);
console.log(`relaxed:   ${ratio(RELAXED, DESERIALIZE)} ${DESERIALIZE}`);
