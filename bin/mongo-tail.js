#!/usr/bin/env node
// A doorway: everything happens in main (built from src/ into dist/ by `npm run build`).
const entry = new URL('../dist/main.js', import.meta.url);
let main, processIo;
try {
  ({ main, processIo } = await import(entry.href));
} catch (err) {
  // Only dist/main.js itself missing (a clone not yet built) gets the hint; a missing
  // dependency or a broken build must still show its own error.
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || err.url !== entry.href) throw err;
  process.stderr.write(
    'mongo-tail: dist/ is missing: run npm run build (or install the package from npm pack)\n',
  );
  process.exit(1);
}

const code = await main(process.argv.slice(2), processIo());
process.exitCode = code;
// main has flushed stdout and saved the token (or, after a signal, stopped waiting for a
// reader that does not read). Whatever still holds the event loop must not keep the process:
// output a stalled reader never took (after a signal), or the driver's sockets to a hung
// server winding down. A signal ends the process at once; anything else gets a moment.
if (code >= 128) process.exit();
setTimeout(() => process.exit(), 2000).unref();
