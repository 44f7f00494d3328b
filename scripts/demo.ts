// `npm run demo [-- --duration 10s] [-- <mongo-tail flags>]`: mongo-tail working with nothing
// installed. Starts the project's in-process replica set (test/server), runs a small shop on it
// (orders created, paid, shipped or cancelled; customers renamed; the carts collection dropped
// and re-created) and tails the `shop` database with the real CLI entry point, until Ctrl-C or
// for `--duration`. Before the first event it prints commands to paste into a second terminal.
// Other arguments go to mongo-tail (e.g. `npm run demo -- -f json`).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { parseDuration } from '../src/duration.js';
import { main, processIo } from '../src/main.js';
import type { StopSignal } from '../src/tail.js';
import { type TestServer, startTestServer } from '../test/server/index.js';

/** Time between two writes: slow enough to read each line as it comes. */
const PACE_MS = 400;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Order {
  _id: number;
  customer: string;
  items: string[];
  total: number;
  status: string;
  paidAt?: Date;
  shippedAt?: Date;
}
interface Customer {
  _id: string;
  name: string;
  city: string;
}
interface Cart {
  _id: string;
  items: string[];
}

const CUSTOMERS = [
  { _id: 'ada', name: 'Ada Byron', renamed: 'Ada Lovelace', city: 'London' },
  { _id: 'grace', name: 'Grace Murray', renamed: 'Grace Hopper', city: 'New York' },
  { _id: 'marie', name: 'Maria Skłodowska', renamed: 'Marie Curie', city: 'Paris' },
] as const;
const PRODUCTS = [
  ['tea', 4.5],
  ['cake', 3],
  ['scones', 6],
  ['jam', 3.75],
  ['milk', 1.25],
] as const;
const CITIES = ['London', 'Paris', 'New York', 'Warsaw', 'Edinburgh'];

interface DemoArgs {
  /** How long to run (`--duration`); without it, until Ctrl-C. */
  duration?: { ms: number; text: string };
  /** mongo-tail's arguments. */
  rest: string[];
}

/** `--duration <d>` (or `--duration=<d>`) taken out of the arguments; the rest is mongo-tail's. */
function parseDemoArgs(argv: string[]): DemoArgs {
  const rest: string[] = [];
  let duration: DemoArgs['duration'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg === '--duration') value = argv[++i] ?? '';
    else if (arg.startsWith('--duration=')) value = arg.slice('--duration='.length);
    else {
      rest.push(arg);
      continue;
    }
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error(`"${value}" is not a positive duration`);
    duration = { ms, text: value };
  }
  return duration === undefined ? { rest } : { duration, rest };
}

/** Collections as the story wants them, written before the tail starts (so not shown). */
async function setUp(client: MongoClient): Promise<void> {
  const shop = client.db('shop');
  // Pre-images on orders and customers, so updates show `before → after`.
  for (const name of ['orders', 'customers']) {
    await shop.createCollection(name, { changeStreamPreAndPostImages: { enabled: true } });
  }
  await shop
    .collection<Customer>('customers')
    .insertMany(CUSTOMERS.map(({ _id, name, city }) => ({ _id, name, city })));
  await shop.collection<Cart>('carts').insertOne({ _id: 'ada', items: ['tea'] });
}

/** Round `round` of the shop's life: every kind of change a reader should recognise. */
function roundSteps(client: MongoClient, round: number): (() => Promise<unknown>)[] {
  const shop = client.db('shop');
  const orders = shop.collection<Order>('orders');
  const customers = shop.collection<Customer>('customers');
  const carts = shop.collection<Cart>('carts');
  const customer = CUSTOMERS[round % CUSTOMERS.length] as (typeof CUSTOMERS)[number];
  const [item, price] = PRODUCTS[round % PRODUCTS.length] as (typeof PRODUCTS)[number];
  const [other, otherPrice] = PRODUCTS[(round + 2) % PRODUCTS.length] as (typeof PRODUCTS)[number];
  const paid = 1001 + 2 * round;
  const cancelled = paid + 1;
  return [
    () =>
      orders.insertOne({
        _id: paid,
        customer: customer._id,
        items: [item],
        total: price,
        status: 'new',
      }),
    // Each customer is renamed once (the first rounds); later they move house.
    () =>
      round < CUSTOMERS.length
        ? customers.updateOne({ _id: customer._id }, { $set: { name: customer.renamed } })
        : customers.updateOne(
            { _id: customer._id },
            { $set: { city: CITIES[round % CITIES.length] as string } },
          ),
    () => orders.updateOne({ _id: paid }, { $set: { status: 'paid', paidAt: new Date() } }),
    // The nightly clean-up: abandoned carts go, the collection comes back with the next cart.
    () => shop.dropCollection('carts'),
    () => carts.insertOne({ _id: customer._id, items: [other] }),
    () =>
      orders.insertOne({
        _id: cancelled,
        customer: customer._id,
        items: [other],
        total: otherPrice,
        status: 'new',
      }),
    () => orders.updateOne({ _id: paid }, { $set: { status: 'shipped', shippedAt: new Date() } }),
    () =>
      orders.replaceOne(
        { _id: cancelled },
        { customer: customer._id, items: [], status: 'cancelled', total: 0 },
      ),
    () => orders.deleteOne({ _id: cancelled }),
  ];
}

/** Writes the story round after round until `signal` aborts. */
async function runShop(client: MongoClient, signal: AbortSignal): Promise<void> {
  for (let round = 0; ; round++) {
    for (const step of roundSteps(client, round)) {
      try {
        await sleep(PACE_MS, undefined, { signal });
      } catch {
        return; // aborted: the tail is over
      }
      await step();
    }
  }
}

/** The bin as the user can type it from where the demo was started. */
function binCommand(): string {
  const path = relative(process.cwd(), join(ROOT, 'bin', 'mongo-tail.js'));
  return path.startsWith('.') || path.startsWith('/') ? path : `./${path}`;
}

/** Lines to paste into a second terminal while the demo runs (stderr, before any event). */
function pasteLines(uri: string, tokenFile: string): string {
  const bin = `${binCommand()} --uri '${uri}'`;
  const build = existsSync(join(ROOT, 'dist', 'main.js')) ? '' : ' (after `npm run build`)';
  return [
    `demo: in a second terminal${build}, try:`,
    `  ${bin} shop -f json | jq -c '{op: .operationType, coll: .ns.coll, id: .documentKey._id}'`,
    `  ${bin} shop.orders --token-file ${tokenFile} -n 3    # run it again: it goes on from there`,
    '',
  ].join('\n');
}

/**
 * SIGINT/SIGTERM/SIGHUP for the whole demo. The first one stops the tail (which then stops the
 * shop and the server). `npm run` forwards the terminal's Ctrl-C to us although the terminal
 * already sent it, so a repeat within a second is the same key press; a later one exits at once.
 */
function demoSignals(tmp: string): {
  onSignal: (handler: (signal: StopSignal) => void) => () => void;
  stop: (signal: StopSignal) => void;
  stopped: () => boolean;
  dispose: () => void;
} {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let first = 0;
  let firstSignal: StopSignal | undefined;
  const handlers = new Set<(signal: StopSignal) => void>();
  const stop = (signal: StopSignal): void => {
    if (first === 0) {
      first = Date.now();
      firstSignal = signal;
      for (const handler of handlers) handler(signal);
      return;
    }
    if (Date.now() - first < 1000) return;
    rmSync(tmp, { recursive: true, force: true });
    process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
  };
  for (const signal of signals) process.on(signal, stop);
  return {
    onSignal: (handler) => {
      handlers.add(handler);
      if (firstSignal !== undefined) handler(firstSignal);
      return () => handlers.delete(handler);
    },
    stop,
    stopped: () => first !== 0,
    dispose: () => {
      for (const signal of signals) process.off(signal, stop);
    },
  };
}

async function demo(argv: string[]): Promise<number> {
  let args: DemoArgs;
  try {
    args = parseDemoArgs(argv);
  } catch (err) {
    process.stderr.write(`demo: --duration: ${(err as Error).message}\n`);
    return 2;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'mongo-tail-demo-'));
  const signals = demoSignals(tmp);
  const shopping = new AbortController();
  let server: TestServer | undefined;
  let client: MongoClient | undefined;
  try {
    server = await startTestServer({ port: 0 });
    client = new MongoClient(server.uri);
    await setUp(client);
    // Start right after the set-up (--since is inclusive), so not one write of the story can
    // slip past the tail.
    const from = server.state.oplog.lastTimestamp;
    const { duration } = args;
    // --until (whole seconds, inclusive) ends the tail by itself with exit 0 once the shop's
    // next write is past it.
    const until =
      duration === undefined ? [] : ['--until', new Date(Date.now() + duration.ms).toISOString()];
    const ends = duration === undefined ? 'Ctrl-C stops it' : `it stops after ${duration.text}`;
    process.stderr.write(`demo: a test replica set is running at ${server.uri} (${ends})\n`);
    process.stderr.write(pasteLines(server.uri, join(tmp, 'pos.json')));
    process.stderr.write('\n');

    let failure: unknown;
    // The shop ends with the tail; a failed write ends the tail.
    const shop = runShop(client, shopping.signal).catch((err: unknown) => {
      failure = err;
      signals.stop('SIGTERM');
    });
    const code = await main(
      [
        '--uri',
        server.uri,
        '--full-document-before-change',
        'whenAvailable',
        '--since',
        `${from.t},${from.i + 1}`,
        ...until,
        ...args.rest,
        'shop',
      ],
      { ...processIo(), onSignal: signals.onSignal },
    );
    shopping.abort();
    await shop;
    if (failure !== undefined) throw failure;
    // Ctrl-C is how this demo ends: a clean stop is a success.
    return signals.stopped() && code >= 128 ? 0 : code;
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    return 1;
  } finally {
    shopping.abort();
    await client?.close();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
    signals.dispose();
  }
}

process.exitCode = await demo(process.argv.slice(2));
