// `npm run -s test-server -- [--port N] [--topology replset|standalone] [--oplog-size <entries>]`
// Prints exactly one stdout line, the connection string, once the server accepts connections;
// diagnostics go to stderr. Bad flags exit 2; SIGINT/SIGTERM stop cleanly with exit 0.
import { parseArgs } from 'node:util';
import { type TestServerOptions, startTestServer } from './index.js';

const USAGE =
  'usage: test-server [--port N] [--host H] [--topology replset|standalone] [--oplog-size <entries>]';

class UsageError extends Error {}

/** Flags → server options; throws `UsageError` naming the bad flag. */
export function parseFlags(argv: string[]): TestServerOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        topology: { type: 'string' },
        'oplog-size': { type: 'string' },
        host: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const opts: TestServerOptions = { port: 27017 };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      throw new UsageError(`--port must be an integer from 0 to 65535, got '${values.port}'`);
    }
    opts.port = port;
  }
  if (values.topology !== undefined) {
    if (values.topology !== 'replset' && values.topology !== 'standalone') {
      throw new UsageError(`--topology must be replset or standalone, got '${values.topology}'`);
    }
    opts.topology = values.topology;
  }
  const size = values['oplog-size'];
  if (size !== undefined) {
    if (!/^\d+$/.test(size) || Number(size) < 1) {
      throw new UsageError(`--oplog-size must be a positive integer, got '${size}'`);
    }
    opts.oplogSize = Number(size);
  }
  if (values.host !== undefined) opts.host = values.host;
  return opts;
}

async function main(argv: string[]): Promise<number> {
  let opts: TestServerOptions;
  try {
    opts = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`test-server: ${err.message} (${USAGE})\n`);
    return 2;
  }
  // Listen for signals before announcing the URI: a client that reads the line and signals at
  // once must get a clean stop, not the default "killed by SIGTERM".
  const parent = process.ppid;
  let stopping = false;
  let resolveStop = (): void => undefined;
  const stopRequested = new Promise<void>((resolve) => (resolveStop = resolve));
  const onSignal = (): void => {
    stopping = true;
    resolveStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `npm run` starts us under `sh -c`, and dash does not forward signals: a SIGTERM sent to npm
  // alone kills the shell and would leave this server running as an orphan. Stop when the
  // parent goes away.
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) onSignal();
  }, 250);
  orphanWatch.unref();
  try {
    let server;
    try {
      server = await startTestServer(opts);
    } catch (err) {
      process.stderr.write(`test-server: cannot listen: ${(err as Error).message}\n`);
      return 1;
    }
    // A signal during start-up: stop without announcing a server that is going away.
    if (!stopping) process.stdout.write(`${server.uri}\n`);
    await stopRequested;
    await server.stop();
    return 0;
  } finally {
    clearInterval(orphanWatch);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

process.exitCode = await main(process.argv.slice(2));
