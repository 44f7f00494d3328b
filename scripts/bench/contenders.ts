// The contenders: mongo-tail in its three formats and the loops people write by hand (Node
// driver, pymongo, mongosh), plus the raw-batch client that decodes nothing. Each reads the same
// N events from the same resume token to a pipe and exits.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from './measure.js';
import { execTracked } from './procs.js';

/** Where the readers start and how much they read. */
export interface Target {
  uri: string;
  db: string;
  coll: string;
  /** Resume token, canonical Extended JSON. */
  token: string;
  events: number;
}

export interface Contender {
  /** Short key (the JSON rows, the closing line). */
  key: string;
  /** The row label. */
  name: string;
  /** How it prints (for the table's footnote). */
  how: string;
  command(target: Target): Command;
}

export interface Skipped {
  key: string;
  name: string;
  reason: string;
}

/** The interpreter with pymongo (Debian's python3-pymongo imports only under /usr/bin/python3). */
export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
export const MONGOSH_VERSION = '2.12';
export const MONGOSH_DIR = path.join(homedir(), '.cache', 'mongo-tail-bench', 'mongosh');
const MONGOSH_JS = path.join(MONGOSH_DIR, 'node_modules', 'mongosh', 'bin', 'mongosh.js');

/** mongo-tail reading `target` in `format` (the built CLI: bin/ → dist/). */
export function mongoTail(root: string, format: 'json' | 'canonical' | 'pretty'): Contender {
  return {
    key: format,
    name: `mongo-tail -f ${format}`,
    how: `bin/mongo-tail.js --resume-after <token> -n N -q -f ${format}`,
    command: (t) => ({
      cmd: process.execPath,
      args: [
        path.join(root, 'bin', 'mongo-tail.js'),
        '--uri',
        t.uri,
        `${t.db}.${t.coll}`,
        '--resume-after',
        t.token,
        '-n',
        String(t.events),
        '-q',
        '-f',
        format,
      ],
      cwd: root,
      env: pinnedEnv(),
    }),
  };
}

/** A loop script that takes `URI DB COLL TOKEN N` on its command line. */
function loopScript(
  root: string,
  cmd: string,
  script: string[],
): (t: Target) => ReturnType<Contender['command']> {
  return (t) => ({
    cmd,
    args: [...script, t.uri, t.db, t.coll, t.token, String(t.events)],
    cwd: root,
    env: pinnedEnv(),
  });
}

/** The hand-written Node driver loop (scripts/bench/driver-loop.mjs). */
export function driverLoop(root: string): Contender {
  return {
    key: 'driver',
    name: 'driver loop (Node)',
    how: 'for await (e of watch()) console.log(EJSON.stringify(e))',
    command: loopScript(root, process.execPath, [
      path.join(root, 'scripts', 'bench', 'driver-loop.mjs'),
    ]),
  };
}

function pymongo(root: string): Contender {
  return {
    key: 'pymongo',
    name: 'pymongo loop',
    how: 'for change in watch(): print(dumps(change, RELAXED_JSON_OPTIONS))',
    command: loopScript(root, PYTHON, [path.join(root, 'scripts', 'bench', 'pymongo-loop.py')]),
  };
}

function mongosh(root: string): Contender {
  return {
    key: 'mongosh',
    name: `mongosh ${MONGOSH_VERSION} loop`,
    how: 'while (hasNext()) print(EJSON.stringify(next()))',
    command: (t) => ({
      cmd: process.execPath,
      args: [
        MONGOSH_JS,
        t.uri,
        '--quiet',
        '--norc',
        '--file',
        path.join(root, 'scripts', 'bench', 'mongosh-loop.js'),
      ],
      cwd: root,
      env: {
        ...pinnedEnv(),
        BENCH_DB: t.db,
        BENCH_COLL: t.coll,
        BENCH_TOKEN: t.token,
        BENCH_N: String(t.events),
      },
    }),
  };
}

function rawBatches(root: string): Contender {
  return {
    key: 'raw',
    name: 'raw batches (no decode)',
    how: 'OP_MSG aggregate/getMore over a socket, counts batch elements',
    command: loopScript(root, process.execPath, [
      '--import',
      './test/register.mjs',
      path.join('scripts', 'bench', 'raw-batches.ts'),
    ]),
  };
}

/** No colour, no terminal: every contender prints plain lines into a pipe. */
function pinnedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TERM: 'dumb', TZ: 'UTC' };
  delete env.FORCE_COLOR;
  delete env.MONGODB_URI;
  return env;
}

/** The last line of a failed command's stderr (or the error message). */
function lastLine(error: unknown): string {
  const stderr = ((error as { stderr?: string }).stderr ?? '').trim();
  return (stderr || (error as Error).message).trim().split('\n').at(-1) ?? '';
}

async function pymongoMissing(): Promise<string | undefined> {
  try {
    await execTracked(PYTHON, ['-c', 'import pymongo'], 20_000);
    return undefined;
  } catch (error) {
    return `pymongo is not importable under ${PYTHON} (${lastLine(error)}; apt-get install -y python3-pymongo)`;
  }
}

/** Installs mongosh into the cache folder on first use; returns why it cannot run, if so. */
async function mongoshMissing(
  install: boolean,
  log: (line: string) => void,
): Promise<string | undefined> {
  if (existsSync(MONGOSH_JS)) return undefined;
  if (!install)
    return `not installed in ${MONGOSH_DIR} (--quick does not install it; a run without --quick does)`;
  log(`bench: installing mongosh@${MONGOSH_VERSION} into ${MONGOSH_DIR} (once; ~1 min, ~150 MB)`);
  try {
    await execTracked(
      'npm',
      [
        'install',
        '--prefix',
        MONGOSH_DIR,
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        `mongosh@${MONGOSH_VERSION}`,
      ],
      600_000,
    );
  } catch (error) {
    return `cannot install mongosh@${MONGOSH_VERSION}: ${lastLine(error)}`;
  }
  return existsSync(MONGOSH_JS) ? undefined : `npm installed mongosh but ${MONGOSH_JS} is missing`;
}

export interface ContenderChoice {
  uri: string;
  /** false: --no-mongosh. */
  mongosh: boolean;
  /** May install mongosh (not under --quick). */
  installMongosh: boolean;
  log: (line: string) => void;
}

/** The contenders that can run here, in the order they alternate, and those skipped (why). */
export async function chooseContenders(
  root: string,
  choice: ContenderChoice,
): Promise<{ ready: Contender[]; skipped: Skipped[] }> {
  const ready: Contender[] = [
    mongoTail(root, 'json'),
    mongoTail(root, 'canonical'),
    mongoTail(root, 'pretty'),
    driverLoop(root),
  ];
  const skipped: Skipped[] = [];
  const py = pymongo(root);
  const pyMissing = await pymongoMissing();
  if (pyMissing) skipped.push({ key: py.key, name: py.name, reason: pyMissing });
  else ready.push(py);

  const sh = mongosh(root);
  const shMissing = choice.mongosh
    ? await mongoshMissing(choice.installMongosh, choice.log)
    : '--no-mongosh';
  if (shMissing) skipped.push({ key: sh.key, name: sh.name, reason: shMissing });
  else ready.push(sh);

  const raw = rawBatches(root);
  // A minimal client: plain mongodb://host:port, no credentials, no TLS.
  if (!/^mongodb:\/\/[^@/?]+(\/|\?|$)/.test(choice.uri) || /[?&](tls|ssl)=true/i.test(choice.uri)) {
    skipped.push({
      key: raw.key,
      name: raw.name,
      reason: 'needs a mongodb://host:port URI without credentials or TLS',
    });
  } else {
    ready.push(raw);
  }
  return { ready, skipped };
}
