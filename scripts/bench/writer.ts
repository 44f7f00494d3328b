// A writer process for the live sections (latency, stall, memory): started by load.ts's
// startWriter with a WriterSpec as JSON in argv[2], talks back over the IPC channel.
//   rate: `count` orders at a steady `rate`/s; each carries `seq` and `sentAt` (ms since the
//         epoch, fractional: performance.timeOrigin + performance.now(), set just before the
//         insert is sent).
//   flow: `count` events (insertMany of 1,000 orders, then deleteMany of them), at most `window`
//         events ahead of the reader's count that the bench sends as `{read}`.
import { performance } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import { order, sized } from './docs.js';
import type { WriterMessage, WriterSpec } from './load.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => performance.timeOrigin + performance.now();

async function writeAtRate(spec: Extract<WriterSpec, { mode: 'rate' }>): Promise<number> {
  const client = new MongoClient(spec.uri);
  try {
    const coll = client.db(spec.db).collection(spec.coll);
    await coll.findOne({}); // connect (and warm up) before the clock starts
    const began = performance.now();
    let sent = 0;
    while (sent < spec.count) {
      const elapsed = performance.now() - began;
      const due = Math.min(spec.count, Math.floor((elapsed * spec.rate) / 1000) + 1) - sent;
      if (due <= 0) {
        await sleep(Math.max(0, (sent * 1000) / spec.rate - elapsed));
        continue;
      }
      const sentAt = now();
      const docs = Array.from({ length: due }, (_, k) => order(sent + k, 2, { sentAt }));
      await coll.insertMany(docs, { ordered: true });
      sent += due;
    }
    return sent;
  } finally {
    await client.close();
  }
}

async function writeWithFlow(spec: Extract<WriterSpec, { mode: 'flow' }>): Promise<number> {
  let read = 0;
  let wake: (() => void) | undefined;
  process.on('message', (msg: WriterMessage) => {
    if ('read' in msg) {
      read = msg.read;
      wake?.();
    }
  });
  const client = new MongoClient(spec.uri);
  try {
    const coll = client.db(spec.db).collection(spec.coll);
    const gen = spec.docBytes === undefined ? order : sized(spec.docBytes);
    let sent = 0;
    let seq = 0;
    // Two cycles in flight (two connections): the server gets the next command while this
    // process builds the one after. Each deleteMany removes exactly its own cycle's documents.
    const inFlight: Promise<void>[] = [];
    while (sent < spec.count) {
      const left = spec.count - sent;
      const k = left === 1 ? 1 : Math.min(1000, Math.floor(left / 2));
      const cycle = left === 1 ? 1 : 2 * k;
      while (sent + cycle - read > spec.window) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      const docs = Array.from({ length: k }, (_, j) => gen(seq + j));
      const from = seq;
      const work = (async () => {
        await coll.insertMany(docs, { ordered: true });
        if (cycle === 2 * k) await coll.deleteMany({ seq: { $gte: from, $lt: from + k } });
      })();
      work.catch(() => undefined); // awaited below; never unhandled meanwhile
      inFlight.push(work);
      if (inFlight.length >= 2) await inFlight.shift();
      seq += k;
      sent += cycle;
    }
    await Promise.all(inFlight);
    return sent;
  } finally {
    await client.close();
  }
}

/** Sends a message and waits until it has left (a disconnect right after could drop it). */
function tell(msg: WriterMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(msg, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as WriterSpec;
  try {
    const sent = spec.mode === 'rate' ? await writeAtRate(spec) : await writeWithFlow(spec);
    await tell({ sent, done: true });
  } catch (error) {
    await tell({ error: (error as Error).message });
    process.exitCode = 1;
  } finally {
    process.disconnect?.();
  }
}

await main();
