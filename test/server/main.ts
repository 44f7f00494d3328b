// `npm run -s test-server -- [--port N] [--topology replset|replset3|standalone|sharded]
//   [--shards N] [--noop-interval-ms MS] [--oplog-size <entries>]
//   [--auth user:password[:role,role…]]… [--print-pid]`
// Prints exactly one stdout line, the connection string, once the server accepts connections
// (`replset3`: three members on ports N, N+1, N+2, all three in the string; `sharded`: the mongos);
// diagnostics go to stderr (`--print-pid`: `test-server: pid N`, for tests that SIGSTOP it).
// Bad flags exit 2; SIGINT/SIGTERM stop cleanly with exit 0.
import { parseArgs } from 'node:util';
import { parseRole } from './commands/auth.js';
import { type TestServerOptions, startTestServer } from './index.js';

const USAGE =
  'usage: test-server [--port N] [--host H] [--topology replset|replset3|standalone|sharded]' +
  ' [--shards N] [--noop-interval-ms MS] [--oplog-size <entries>]' +
  ' [--auth user:password[:roles]]... [--print-pid]';

class UsageError extends Error {}

/**
 * `user:password[:roles]` → a user; roles are comma-separated (`readWrite@a,read@b`, default
 * root). The password is everything between the first and the last colon when roles are given.
 */
function parseUser(text: string): NonNullable<TestServerOptions['auth']>[number] {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || first === text.length - 1) {
    throw new UsageError(`--auth must be user:password[:roles], got '${text}'`);
  }
  const user = text.slice(0, first);
  const password = first === last ? text.slice(first + 1) : text.slice(first + 1, last);
  const roles = first === last ? undefined : text.slice(last + 1).split(',');
  if (password === '') throw new UsageError(`--auth needs a password, got '${text}'`);
  for (const role of roles ?? []) {
    try {
      parseRole(role, 'admin');
    } catch (err) {
      throw new UsageError(`--auth: ${(err as Error).message}`);
    }
  }
  return roles ? { user, password, roles } : { user, password };
}

/** Flags → server options (and whether to print the pid); throws `UsageError` naming the flag. */
export function parseFlags(argv: string[]): TestServerOptions & { printPid?: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        topology: { type: 'string' },
        shards: { type: 'string' },
        'noop-interval-ms': { type: 'string' },
        'oplog-size': { type: 'string' },
        host: { type: 'string' },
        auth: { type: 'string', multiple: true },
        'print-pid': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const opts: TestServerOptions & { printPid?: boolean } = { port: 27017 };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      throw new UsageError(`--port must be an integer from 0 to 65535, got '${values.port}'`);
    }
    opts.port = port;
  }
  if (values.topology !== undefined) {
    const topology = values.topology;
    if (
      topology !== 'replset' &&
      topology !== 'replset3' &&
      topology !== 'standalone' &&
      topology !== 'sharded'
    ) {
      throw new UsageError(
        `--topology must be replset, replset3, standalone or sharded, got '${topology}'`,
      );
    }
    opts.topology = topology;
  }
  if (values.shards !== undefined) {
    if (opts.topology !== 'sharded') throw new UsageError('--shards needs --topology sharded');
    if (!/^\d+$/.test(values.shards) || Number(values.shards) < 1) {
      throw new UsageError(`--shards must be a positive integer, got '${values.shards}'`);
    }
    opts.shards = Number(values.shards);
  }
  const noop = values['noop-interval-ms'];
  if (noop !== undefined) {
    if (!/^\d+$/.test(noop)) {
      throw new UsageError(`--noop-interval-ms must be a non-negative integer, got '${noop}'`);
    }
    opts.noopIntervalMs = Number(noop);
  }
  const size = values['oplog-size'];
  if (size !== undefined) {
    if (!/^\d+$/.test(size) || Number(size) < 1) {
      throw new UsageError(`--oplog-size must be a positive integer, got '${size}'`);
    }
    opts.oplogSize = Number(size);
  }
  if (values.host !== undefined) opts.host = values.host;
  if (values.auth !== undefined) opts.auth = values.auth.map(parseUser);
  if (values['print-pid'] === true) opts.printPid = true;
  return opts;
}

async function main(argv: string[]): Promise<number> {
  let opts: TestServerOptions & { printPid?: boolean };
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
    if (!stopping) {
      if (opts.printPid) process.stderr.write(`test-server: pid ${server.pid}\n`);
      process.stdout.write(`${server.uri}\n`);
    }
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
