// `npm run demo [-- <mongo-tail flags>]`: mongo-tail working with nothing installed. Starts the
// project's in-process replica set (test/server), writes a short scripted story into
// `shop.orders` and `shop.users`, and tails the `shop` database with the real CLI entry point.
// Extra arguments go to mongo-tail (e.g. `npm run demo -- -f json`).
import { MongoClient } from 'mongodb';
import { main, processIo } from '../src/main.js';
import { startTestServer } from '../test/server/index.js';

interface Order {
  _id: number;
  user?: string;
  items: string[];
  total?: number;
  status: string;
}
interface User {
  _id: string;
  name: string;
  since: Date;
  address?: { city: string };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The story: every kind of change a reader should recognise, a few hundred ms apart. */
async function writeStory(uri: string): Promise<void> {
  const client = new MongoClient(uri);
  try {
    const shop = client.db('shop');
    const orders = shop.collection<Order>('orders');
    const users = shop.collection<User>('users');
    const steps: (() => Promise<unknown>)[] = [
      () => users.insertOne({ _id: 'ada', name: 'Ada Lovelace', since: new Date() }),
      () => orders.insertOne({ _id: 1001, user: 'ada', items: ['tea'], total: 4.5, status: 'new' }),
      () => orders.insertOne({ _id: 1002, user: 'ada', items: ['cake'], total: 3, status: 'new' }),
      () => orders.updateOne({ _id: 1001 }, { $set: { status: 'paid' }, $push: { items: 'milk' } }),
      () => orders.updateOne({ _id: 1001 }, { $inc: { total: 1.25 }, $unset: { user: '' } }),
      () => orders.replaceOne({ _id: 1002 }, { user: 'ada', items: [], status: 'cancelled' }),
      () => orders.deleteOne({ _id: 1002 }),
      () => users.updateOne({ _id: 'ada' }, { $set: { 'address.city': 'London' } }),
    ];
    for (const step of steps) {
      await pause(250);
      await step();
    }
  } finally {
    await client.close();
  }
}

const server = await startTestServer({ port: 0 });
try {
  // Pre-images on orders, so updates show `before → after`.
  const setup = new MongoClient(server.uri);
  await setup.db('shop').createCollection('orders', {
    changeStreamPreAndPostImages: { enabled: true },
  });
  await setup.close();
  // Start from this moment explicitly, so not one write of the story can slip past the tail.
  const from = server.state.oplog.lastTimestamp;
  process.stderr.write(`demo: a test replica set is running at ${server.uri}\n`);
  process.stderr.write('demo: writing a few orders; mongo-tail stops 2 s after the last one\n\n');

  const story = writeStory(server.uri);
  const code = await main(
    [
      '--uri',
      server.uri,
      '--full-document-before-change',
      'whenAvailable',
      '--since',
      `${from.t},${from.i}`,
      '--idle-timeout',
      '2s',
      ...process.argv.slice(2),
      'shop',
    ],
    processIo(),
  );
  await story;
  process.exitCode = code;
} finally {
  await server.stop();
}
