// The loop people write in mongosh (the manual's watch() example: tryNext() until the cursor
// closes), printing each event as one line of relaxed Extended JSON. hasNext()/next() would
// print a warning to stdout on every call. Run as `mongosh URI --quiet --norc --file
// mongosh-loop.js` with BENCH_DB, BENCH_COLL, BENCH_TOKEN (Extended JSON) and BENCH_N set.
/* global db, print, EJSON */
const stream = db
  .getSiblingDB(process.env.BENCH_DB)
  .getCollection(process.env.BENCH_COLL)
  .watch([], { resumeAfter: EJSON.parse(process.env.BENCH_TOKEN) });
const limit = Number(process.env.BENCH_N);
let n = 0;
while (n < limit && !stream.isClosed()) {
  let next = stream.tryNext();
  while (next !== null && n < limit) {
    print(EJSON.stringify(next));
    n++;
    if (n < limit) next = stream.tryNext();
  }
}
stream.close();
