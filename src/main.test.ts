// In-process CLI tests: `main` with injected streams and environment, exit codes captured.
// Nothing here needs a server (the end-to-end tests under test/e2e do).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test/e2e/harness.js';
import { readVersion } from './cli.js';
import { ConnectError, ResumeError, UsageError } from './errors.js';
import { failureReport } from './main.js';

// A v2 insert token printed by a MongoDB 7.x replica set (quoted in a public pymongo example;
// the test server's tests decode the same bytes): Timestamp(1725165347, 1), an ObjectId _id.
const EVENT_TOKEN =
  '8266D3EF23000000012B042C0100296E5A10045C1BE20648104131A527B9EAD80E9F75463C6F7065726174696F6E' +
  '54797065003C696E736572740046646F63756D656E744B65790046645F6964006466D3EF237469C95EDC2C0B49000004';

describe('help and version', () => {
  test('--help prints the committed help text and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatchSnapshot();
  });

  test('-h is --help; token --help has its own text', async () => {
    expect((await runCli(['-h'])).stdout).toBe((await runCli(['--help'])).stdout);
    const token = await runCli(['token', '--help']);
    expect(token.code).toBe(0);
    expect(token.stdout).toContain('Usage: mongo-tail token [options] <file|token>');
  });

  test('-V / --version print the package version', async () => {
    const version = JSON.parse(
      await readFile(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(readVersion()).toBe(version.version);
    expect(await runCli(['-V'])).toEqual({ code: 0, stdout: `${version.version}\n`, stderr: '' });
    expect((await runCli(['--version'])).stdout).toBe(`${version.version}\n`);
  });
});

describe('usage errors exit 2 with one line and a hint, nothing on stdout', () => {
  test.each([
    [['--bogus'], "mongo-tail: unknown option '--bogus'\nhint: see mongo-tail --help\n"],
    [
      ['-n'],
      "mongo-tail: option '-n, --limit <n>' argument missing\nhint: see mongo-tail --help\n",
    ],
    [['--limit', '0'], 'mongo-tail: --limit must be a whole number of at least 1, got "0"\n'],
    [
      ['--format', 'xml'],
      'mongo-tail: --format: unknown value "xml"\nhint: use one of: pretty, json, canonical\n',
    ],
    [
      ['--since', '1h', '--resume-after', '8200'],
      'mongo-tail: --resume-after and --since cannot be used together\nhint: choose one start position\n',
    ],
    [
      ['local.oplog.rs'],
      'mongo-tail: invalid namespace "local.oplog.rs": MongoDB does not allow change streams on the local database\n' +
        'hint: give no namespace to watch the whole deployment\n',
    ],
    [
      ['token'],
      "mongo-tail: missing required argument 'file|token'\nhint: see mongo-tail token --help\n",
    ],
  ])('%j', async (argv, stderr) => {
    expect(await runCli(argv)).toEqual({ code: 2, stdout: '', stderr });
  });

  test('a bad MONGODB_URI is named without echoing it', async () => {
    const result = await runCli([], { env: { MONGODB_URI: 'alice:secret@db1' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'mongo-tail: MONGODB_URI must start with mongodb:// or mongodb+srv://\n' +
        'hint: e.g. --uri mongodb://localhost:27017/?replicaSet=rs0\n',
    );
  });
});

describe('mongo-tail token', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mongo-tail-main-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('describes a token given inline, as hex or as a file, without colour when piped', async () => {
    const inline = await runCli(['token', `{"_data":"${EVENT_TOKEN}"}`]);
    expect(inline.code).toBe(0);
    expect(inline.stderr).toBe('');
    expect(inline.stdout.split('\n')).toEqual([
      `token         ${EVENT_TOKEN}`,
      'cluster time  Timestamp({ t: 1725165347, i: 1 })  2024-09-01T04:35:47Z',
      'kind          event (version 2)',
      "collection    UUID('5c1be206-4810-4131-a527-b9ead80e9f75')",
      "event         { operationType: 'insert', documentKey: { _id: ObjectId('66d3ef237469c95edc2c0b49') } }",
      '',
    ]);
    expect(inline.stdout).not.toContain('\u001b[');

    expect((await runCli(['token', EVENT_TOKEN])).stdout).toBe(inline.stdout);
    const file = join(dir, 'pos.json');
    await writeFile(file, `{"_data":"${EVENT_TOKEN}"}\n`);
    expect((await runCli(['token', file])).stdout).toBe(inline.stdout);
  });

  test('colour follows the terminal and the flags', async () => {
    const tty = await runCli(['token', EVENT_TOKEN], { stdoutIsTTY: true });
    expect(tty.stdout).toContain('\u001b[');
    const off = await runCli(['token', '--no-color', EVENT_TOKEN], { stdoutIsTTY: true });
    expect(off.stdout).not.toContain('\u001b[');
    const noColor = await runCli(['token', EVENT_TOKEN], {
      stdoutIsTTY: true,
      env: { NO_COLOR: '1' },
    });
    expect(noColor.stdout).not.toContain('\u001b[');
  });

  test('not a token → exit 2', async () => {
    const result = await runCli(['token', '{"_data":"82zz"}']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^mongo-tail: not a resume token: .+\nhint: give a token file/);
    const missing = await runCli(['token', 'nonexistent.pos']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'mongo-tail: nonexistent.pos: no such file, and not a resume token\n' +
        'hint: give a token file, {"_data":"82…"} or the hex\n',
    );
    const directory = await runCli(['token', dir]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toBe(`mongo-tail: ${dir} is not a file, and not a resume token\n`);
    const file = join(dir, 'junk.json');
    await writeFile(file, 'junk\n');
    const fromFile = await runCli(['token', file]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain(`mongo-tail: ${file} does not hold a resume token: `);
  });
});

describe('connection failures', () => {
  test('nothing listening → exit 3 within --connect-timeout, password never shown', async () => {
    const started = Date.now();
    const result = await runCli([
      '--uri',
      'mongodb://alice:s3cr3t-pw@127.0.0.1:1/?serverSelectionTimeoutMS=60000',
      '--connect-timeout',
      '300ms',
      'shop.orders',
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^mongo-tail: cannot connect to mongodb:\/\/alice:\*\*\*\*@127\.0\.0\.1:1\/\?serverSelectionTimeoutMS=60000: /,
    );
    expect(result.stderr).toContain('hint: is the server running and reachable?');
    expect(result.stderr).not.toContain('s3cr3t');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('failureReport', () => {
  test('TailErrors: message and hint, no stack; exit code from the error', () => {
    expect(failureReport(new UsageError('bad', 'try this'), false)).toEqual({
      code: 2,
      text: 'mongo-tail: bad\nhint: try this\n',
    });
    expect(failureReport(new ConnectError('no server'), false)).toEqual({
      code: 3,
      text: 'mongo-tail: no server\n',
    });
    expect(failureReport(new ResumeError('gone'), false).code).toBe(4);
    const debug = failureReport(new UsageError('bad'), true);
    expect(debug.text).toMatch(/^mongo-tail: bad\nUsageError: bad\n +at /);
  });

  test('anything else is a bug: one line, or the stack with MONGO_TAIL_DEBUG', () => {
    const error = new TypeError('x is undefined');
    expect(failureReport(error, false)).toEqual({
      code: 1,
      text: 'mongo-tail: unexpected error: x is undefined (set MONGO_TAIL_DEBUG=1 for details)\n',
    });
    const debug = failureReport(error, true);
    expect(debug.code).toBe(1);
    expect(debug.text).toMatch(
      /^mongo-tail: unexpected error: x is undefined\nTypeError: x is undefined\n +at /,
    );
    expect(debug.text).toMatch(
      /mongo-tail: this is a bug; please report it with the lines above\n$/,
    );
  });
});

describe('token file problems are usage errors, found before connecting', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mongo-tail-file-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('invalid content: exit 2 naming the file; the file is left as it was, no lock left', async () => {
    const file = join(dir, 'pos.json');
    await writeFile(file, 'not a token\n');
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `mongo-tail: token file ${file} does not hold a resume token\n` +
        `hint: remove ${file} to start from now (or remove it and use --since to pick a start time)\n`,
    });
    expect(await readFile(file, 'utf8')).toBe('not a token\n');
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  test('a directory that does not exist: exit 2', async () => {
    const file = join(dir, 'missing', 'pos.json');
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `mongo-tail: cannot create lock file ${file}.lock (no such file or directory)\n` +
        `hint: is the directory of --token-file ${file} there and writable?\n`,
    );
  });
});
