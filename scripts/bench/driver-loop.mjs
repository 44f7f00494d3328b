// The loop people write by hand with the Node driver: watch(), EJSON.stringify, console.log.
//   node scripts/bench/driver-loop.mjs URI DB COLL TOKEN N
// TOKEN is the resume token as Extended JSON; the loop stops after N events.
import { EJSON } from 'bson';
import { MongoClient } from 'mongodb';

const [uri, db, coll, token, limit] = process.argv.slice(2);
const client = new MongoClient(uri);
const stream = client
  .db(db)
  .collection(coll)
  .watch([], { resumeAfter: EJSON.parse(token) });
let n = 0;
for await (const e of stream) {
  console.log(EJSON.stringify(e));
  if (++n === Number(limit)) break;
}
await client.close();
