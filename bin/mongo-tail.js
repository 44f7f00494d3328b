#!/usr/bin/env node
// A doorway: everything happens in main (built from src/ into dist/ by `npm run build`).
import { main, processIo } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2), processIo());
