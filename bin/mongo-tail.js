#!/usr/bin/env node
// A doorway: everything happens in main (built from src/ into dist/ by `npm run build`).
import { main, processIo } from '../dist/main.js';

const code = await main(process.argv.slice(2), processIo());
process.exitCode = code;
// main has flushed stdout and saved the token (or, after a signal, stopped waiting for a
// reader that does not read). Whatever still holds the event loop must not keep the process:
// output a stalled reader never took (after a signal), or the driver's sockets to a hung
// server winding down. A signal ends the process at once; anything else gets a moment.
if (code >= 128) process.exit();
setTimeout(() => process.exit(), 2000).unref();
