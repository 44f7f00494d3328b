// In-process CLI tests: `main` with injected streams and environment, exit codes captured.
// Nothing here needs a server (the end-to-end tests under test/e2e do).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../test/e2e/harness.js';
import { passwordArgs, readVersion } from './cli.js';
import { ConnectError, ResumeError, UsageError } from './errors.js';
import { failureReport, main, type Io } from './main.js';

// A v2 insert token printed by a MongoDB 7.x replica set (quoted in a public pymongo example;
// the test server's tests decode the same bytes): Timestamp(1725165347, 1), an ObjectId _id.
const EVENT_TOKEN =
  '8266D3EF23000000012B042C0100296E5A10045C1BE20648104131A527B9EAD80E9F75463C6F7065726174696F6E' +
  '54797065003C696E736572740046646F63756D656E744B65790046645F6964006466D3EF237469C95EDC2C0B49000004';

describe('help and version', () => {
  test.each<[string, { COLUMNS?: string }]>([
    ['80 columns (no terminal, no COLUMNS)', {}],
    ['120 columns ($COLUMNS)', { COLUMNS: '120' }],
  ])('--help prints the committed help text at %s and exits 0', async (_, env) => {
    const result = await runCli(['--help'], { env });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatchSnapshot();
    const width = Number(env.COLUMNS ?? 80);
    expect(result.stdout.split('\n').filter((line) => line.length > width)).toEqual([]);
  });

  test("the width: a terminal's columns, else COLUMNS, within 60..120", async () => {
    const widest = async (io: Partial<Io>): Promise<number> => {
      const stdout = new PassThrough();
      let text = '';
      stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const code = await main(['--help'], {
        stdout,
        stderr: new PassThrough(),
        env: {},
        stdoutIsTTY: false,
        stderrIsTTY: false,
        ...io,
      });
      expect(code).toBe(0);
      return Math.max(...text.split('\n').map((line) => line.length));
    };
    // Wrapped text fills lines to within a word of the width, never past it.
    for (const [io, width] of [
      [{ stdoutIsTTY: true, columns: 100, env: { COLUMNS: '70' } }, 100],
      [{ stdoutIsTTY: false, columns: 100, env: { COLUMNS: '70' } }, 70],
      [{ stdoutIsTTY: true, columns: 30 }, 60],
      [{ env: { COLUMNS: '500' } }, 120],
    ] as const) {
      const w = await widest(io);
      expect({ io, ok: w <= width && w > width - 12 }).toEqual({ io, ok: true });
    }
  });

  test('-h is --help; token --help and completion --help have their own text', async () => {
    expect((await runCli(['-h'])).stdout).toBe((await runCli(['--help'])).stdout);
    const token = await runCli(['token', '--help']);
    expect(token.code).toBe(0);
    expect(token.stdout).toContain('Usage: mongo-tail token [options] <file|token>');
    expect(token.stdout).toContain('--json');
    expect((await runCli(['-q', 'token', '-h'])).stdout).toBe(token.stdout);
    const completion = await runCli(['completion', '--help']);
    expect(completion.stdout).toContain('Usage: mongo-tail completion bash|zsh|fish');
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
    [
      ['-u', 'alice', '-p'],
      'mongo-tail: --password needs a value when stdin is not a terminal (or set it in MONGODB_URI)\n' +
        'hint: in a script, put the user and the password (percent-encoded) in MONGODB_URI\n',
    ],
    [
      ['--username', 'alice'],
      'mongo-tail: no password for user alice, and stdin is not a terminal to ask for it\n' +
        'hint: add --password <pw>, or put the password in MONGODB_URI\n',
    ],
    [
      ['--tls-ca-file', '/nonexistent/ca.pem', 'a.b'],
      'mongo-tail: --tls-ca-file: cannot read /nonexistent/ca.pem (no such file or directory)\n',
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

  test('the time is local ($TZ) by default and UTC with --utc; --json stays UTC', async () => {
    const time = (stdout: string): string | undefined =>
      /^cluster time .* {2}(\S+)$/m.exec(stdout)?.[1];
    const paris = { env: { TZ: 'Europe/Paris' } };
    expect(time((await runCli(['token', EVENT_TOKEN], paris)).stdout)).toBe(
      '2024-09-01T06:35:47+02:00',
    );
    for (const argv of [
      ['token', '--utc', EVENT_TOKEN],
      ['--utc', 'token', EVENT_TOKEN],
    ]) {
      const utc = await runCli(argv, paris);
      expect(utc.code).toBe(0);
      expect(time(utc.stdout)).toBe('2024-09-01T04:35:47Z');
    }
    const json = await runCli(['token', '--json', EVENT_TOKEN], paris);
    expect(JSON.parse(json.stdout)).toMatchObject({ time: '2024-09-01T04:35:47Z' });
    expect((await runCli(['token', '--json', '--utc', EVENT_TOKEN], paris)).stdout).toBe(
      json.stdout,
    );
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

  test('--json: one line of JSON with the decoded fields, the same keys every time', async () => {
    const result = await runCli(['token', '--json', EVENT_TOKEN]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout.endsWith('}\n')).toBe(true);
    expect(result.stdout.split('\n')).toHaveLength(2);
    expect(JSON.parse(result.stdout)).toEqual({
      token: EVENT_TOKEN,
      clusterTime: { t: 1725165347, i: 1 },
      time: '2024-09-01T04:35:47Z',
      kind: 'event',
      version: 2,
      tokenType: 128,
      fromInvalidate: false,
      txnOpIndex: 0,
      collectionUUID: '5c1be206-4810-4131-a527-b9ead80e9f75',
      operationType: 'insert',
      documentKey: { _id: { $oid: '66d3ef237469c95edc2c0b49' } },
      eventIdentifier: {
        operationType: 'insert',
        documentKey: { _id: { $oid: '66d3ef237469c95edc2c0b49' } },
      },
      fragmentNum: null,
      opaque: null,
    });
    // Never coloured, whatever the terminal; --color with it is a mistake.
    const tty = await runCli(['token', EVENT_TOKEN, '--json'], { stdoutIsTTY: true });
    expect(tty.stdout).toBe(result.stdout);
    expect(await runCli(['token', '--json', '--color', EVENT_TOKEN])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'mongo-tail: --color and --json cannot be used together\nhint: JSON is never coloured\n',
    });
  });

  test('token is the subcommand wherever the first non-flag word is (issue 9)', async () => {
    const plain = await runCli(['token', EVENT_TOKEN]);
    expect(plain.code).toBe(0);
    for (const argv of [
      ['-q', 'token', EVENT_TOKEN],
      ['--no-color', 'token', EVENT_TOKEN],
      ['token', EVENT_TOKEN, '-q'],
    ]) {
      expect(await runCli(argv)).toEqual(plain);
    }
    expect((await runCli(['--json', 'token', EVENT_TOKEN])).stdout).toMatch(/^\{"token":/);
  });

  test.each([
    [
      ['--since', '1h', 'token', 'pos.json'],
      'mongo-tail: --since does not apply to mongo-tail token\n' +
        'hint: mongo-tail token takes --json, --color, --no-color, --quiet, --utc\n',
    ],
    [
      ['-qn5', 'token', 'pos.json', '--uri=mongodb://h/'],
      'mongo-tail: -n/--limit and --uri do not apply to mongo-tail token\n' +
        'hint: mongo-tail token takes --json, --color, --no-color, --quiet, --utc\n',
    ],
    [
      ['-q', 'shop', 'token', 'pos.json'],
      "mongo-tail: 'token' is a subcommand: use mongo-tail token [options] <file|token>\n" +
        'hint: to watch a database named token, put -- before it: mongo-tail [options] -- token\n',
    ],
    [
      ['shop', 'completion'],
      "mongo-tail: 'completion' is a subcommand: use mongo-tail completion bash|zsh|fish\n" +
        'hint: to watch a database named completion, put -- before it: mongo-tail [options] -- completion\n',
    ],
    [['--json', 'shop'], "mongo-tail: unknown option '--json'\nhint: see mongo-tail --help\n"],
    [
      ['-q', 'completion', 'bash', '--since', '1h'],
      'mongo-tail: -q/--quiet and --since do not apply to mongo-tail completion\n' +
        'hint: see mongo-tail completion --help\n',
    ],
  ])('%j: exit 2, never a silent namespace', async (argv, stderr) => {
    expect(await runCli(argv)).toEqual({ code: 2, stdout: '', stderr });
  });

  test('a flag value or a word after -- is never the subcommand', async () => {
    // "token" as the password, then as a namespace after --: a tail that tries to connect.
    for (const argv of [
      ['-u', 'alice', '-p', 'token', 'shop'],
      ['--', 'token'],
      ['shop', '--', 'token'],
    ]) {
      const result = await runCli([
        '--uri',
        'mongodb://127.0.0.1:1/',
        '--connect-timeout',
        '300ms',
        ...argv,
      ]);
      expect({ argv, code: result.code }).toEqual({ argv, code: 3 });
    }
  });

  test.each([
    ['', 'an empty argument'],
    [' \t', 'only blanks'],
  ])('an empty argument %j → exit 2 saying what to give', async (arg, got) => {
    expect(await runCli(['token', arg])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `mongo-tail: token: give a token file or a resume token (got ${got})\n` +
        'hint: e.g. mongo-tail token pos.json, or mongo-tail token \'{"_data":"82…"}\'\n',
    });
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

describe('failureReport: one line per line, no control characters', () => {
  test('C0, DEL and C1 characters in the message and the hint are escaped', () => {
    const error = new UsageError('got [\n\t1\r\n]\u001b[2J\u0000\u007f\u009b', 'in\nput \u0007');
    expect(failureReport(error, false).text).toBe(
      'mongo-tail: got [\\n\\t1\\r\\n]\\x1b[2J\\x00\\x7f\\x9b\nhint: in\\nput \\x07\n',
    );
    // Printable text, backslashes and non-ASCII letters are left as they are.
    expect(failureReport(new UsageError('C:\\x é ☃'), false).text).toBe('mongo-tail: C:\\x é ☃\n');
  });

  test('bugs too; with MONGO_TAIL_DEBUG the stack keeps its lines, its message line escaped', () => {
    const bug = new TypeError('two\nlines');
    expect(failureReport(bug, false).text).toBe(
      'mongo-tail: unexpected error: two\\nlines (set MONGO_TAIL_DEBUG=1 for details)\n',
    );
    const lines = failureReport(bug, true).text.split('\n');
    expect(lines.slice(0, 2)).toEqual([
      'mongo-tail: unexpected error: two\\nlines',
      'TypeError: two\\nlines',
    ]);
    expect(lines[2]).toMatch(/^ +at /);
    expect(lines.at(-2)).toBe('mongo-tail: this is a bug; please report it with the lines above');
    const usage = failureReport(new UsageError('a\u001bb'), true).text.split('\n');
    expect(usage.slice(0, 2)).toEqual(['mongo-tail: a\\x1bb', 'UsageError: a\\x1bb']);
    expect(usage[2]).toMatch(/^ +at /);
  });

  test('redaction sees the text as typed: a secret with a tab, ESC, space or % is masked', () => {
    for (const secret of ['pa\tss', 'pa\u001bss', 'pa ss', 'p%41ss']) {
      const error = new UsageError(`bad value "${secret}"`, `not "${secret}"`);
      const { text } = failureReport(error, true, (t) => t.split(secret).join('****'));
      expect(text).not.toContain(secret);
      expect(text.split('\n').slice(0, 3)).toEqual([
        'mongo-tail: bad value "****"',
        'hint: not "****"',
        'UsageError: bad value "****"',
      ]);
    }
  });

  test('a password with an ESC, echoed by a usage error, is masked', async () => {
    const result = await runCli(['-u', 'alice', '-p', 'hun\u001bter', '--format', 'hun\u001bter']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'mongo-tail: --format: unknown value "****"\nhint: use one of: pretty, json, canonical\n',
    });
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
    expect(existsSync(`${file}.mongo-tail.lock`)).toBe(false);
  });

  test('an unrelated <file>.lock survives a run that exits 2 (issue 8: Gemfile.lock)', async () => {
    const proj = await mkdtemp(join(dir, 'proj-'));
    const file = join(proj, 'Gemfile');
    await writeFile(file, "source 'https://rubygems.org'\n");
    await writeFile(`${file}.lock`, 'GEM\n  specs:\n');
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`token file ${file} does not hold a resume token`);
    expect(await readFile(`${file}.lock`, 'utf8')).toBe('GEM\n  specs:\n');
    expect((await readdir(proj)).sort()).toEqual(['Gemfile', 'Gemfile.lock']);
  });

  test('a token file symlinked elsewhere: nothing next to its target is created or removed but our lock', async () => {
    const target = await mkdtemp(join(dir, 'etc-'));
    await writeFile(join(target, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(target, 'passwd.lock'), '');
    const file = join(dir, 'link.json');
    await symlink(join(target, 'passwd'), file);
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result.code).toBe(2);
    expect((await readdir(target)).sort()).toEqual(['passwd', 'passwd.lock']);
    expect(await readFile(join(target, 'passwd.lock'), 'utf8')).toBe('');
    await rm(file);
  });

  test('a foreign file at the lock name: exit 2, one line, the file left alone', async () => {
    const file = join(dir, 'foreign.json');
    await writeFile(`${file}.mongo-tail.lock`, 'something else\n');
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `mongo-tail: ${file}.mongo-tail.lock exists and is not a mongo-tail lock; it is left alone\n` +
        `hint: move that file away or choose another --token-file than ${file}\n`,
    });
    expect(await readFile(`${file}.mongo-tail.lock`, 'utf8')).toBe('something else\n');
    await rm(`${file}.mongo-tail.lock`);
  });

  test('a directory that does not exist: exit 2', async () => {
    const file = join(dir, 'missing', 'pos.json');
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `mongo-tail: cannot create lock file ${file}.mongo-tail.lock (no such file or directory)\n` +
        `hint: is the directory of --token-file ${file} there and writable?\n`,
    );
  });
});

describe('passwords never reach any output (issue 8)', () => {
  // Unreachable (port 1 refuses at once); parse errors exit 2, the others fail to connect (3).
  test.each([
    ['S3cr3t x', 3],
    ['S3cr\tt', 3],
    ['S3cr\nt', 3],
    ['p%40ssw0rd', 3],
    ['pässwörd☃', 3],
    ['p@ss@word', 2],
    ['pa:ss:wd', 2],
    ['pa/ss/wd', 2],
    ['S3c@r:t/x', 2],
    ['p%ZZss', 2],
  ])('password %j: exit %i, not in any byte of stdout or stderr', async (password, code) => {
    const uri = `mongodb://alice:${password}@127.0.0.1:1/`;
    const forms = [password, password.replace('%40', '@'), encodeURIComponent(password)];
    const runs = [
      // A terminal on stderr: every spinner frame is checked too.
      runCli(['--uri', uri, '--connect-timeout', '300ms', 'a.b'], { stderrIsTTY: true }),
      runCli([`--uri=${uri}`, '--connect-timeout', '300ms', 'a.b']),
      runCli(['--connect-timeout', '300ms', 'a.b'], { env: { MONGODB_URI: uri } }),
    ];
    for (const result of await Promise.all(runs)) {
      expect(result.code).toBe(code);
      expect(result.stdout).toBe('');
      if (code === 3) expect(result.stderr).toContain('alice:****@127.0.0.1:1/');
      for (const form of forms) {
        expect(result.stderr).not.toContain(form);
        expect(result.stdout).not.toContain(form);
      }
      // Nor the pieces either side of a blank, @, : or /.
      for (const piece of password.split(/[\s@:/]/).filter((p) => p.length >= 3)) {
        expect(result.stderr).not.toContain(piece);
      }
    }
  });
});

describe('passwords given with -p/--password never reach any output', () => {
  test.each([
    [['-p', 'hunter22']],
    [['--password', 'hunter22']],
    [['--password=hunter22']],
    [['-phunter22']],
    [['-qphunter22']],
  ])('%j: even in a usage error that echoes a value', async (flags) => {
    const result = await runCli(['-u', 'alice', ...flags, '--format', 'hunter22']);
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'mongo-tail: --format: unknown value "****"\nhint: use one of: pretty, json, canonical\n',
    });
  });

  test.each(['S3cr3t x', 'p%40ss%ZZ', 'pässwörd☃', 'a"b\\c'])(
    '%j: not in stderr, the spinner or a MONGO_TAIL_DEBUG stack',
    async (password) => {
      const result = await runCli(
        [
          '--uri',
          'mongodb://127.0.0.1:1/',
          '-u',
          'alice',
          '-p',
          password,
          '--connect-timeout',
          '300ms',
          'a.b',
        ],
        { stderrIsTTY: true, env: { MONGO_TAIL_DEBUG: '1' } },
      );
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(
        /^(.|\n)*mongo-tail: cannot connect to mongodb:\/\/127\.0\.0\.1:1\//,
      );
      expect(result.stderr).toMatch(/\n +at /);
      for (const form of [password, encodeURIComponent(password), JSON.stringify(password)]) {
        expect(result.stderr).not.toContain(form);
      }
    },
  );

  test('a prompted password: asked once, on the injected terminal', async () => {
    const questions: string[] = [];
    const result = await runCli(
      ['--uri', 'mongodb://bob@127.0.0.1:1/', '--connect-timeout', '300ms', 'a.b'],
      {
        promptPassword: (question) => {
          questions.push(question);
          return Promise.resolve('typed s3cret');
        },
      },
    );
    expect(questions).toEqual(['Enter password for bob: ']);
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('typed s3cret');
  });

  test('passwordArgs finds every spelling, and stops at --', () => {
    expect(
      passwordArgs([
        '-p',
        'a1',
        '--password',
        'a2',
        '--password=a3',
        '-pa4',
        '-qpa5',
        '--password',
        '--limit',
        '-p',
        '--',
        '-p',
        'never',
      ]),
    ).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    // Other short flags' values are not passwords.
    expect(passwordArgs(['-fpretty', '-n', '5', 'shop'])).toEqual([]);
  });
});

describe('connection timeouts (issue 8)', () => {
  test('serverSelectionTimeoutMS in the URI wins over the 10s default: exit 3 quickly', async () => {
    // Nothing listens on port 9 (discard) of loopback: server selection keeps trying.
    const started = Date.now();
    const result = await runCli([
      '--uri',
      'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300',
      'a.b',
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^mongo-tail: cannot connect to mongodb:\/\/127\.0\.0\.1:9\//);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 15_000);

  test('an explicit --connect-timeout wins over the URI', async () => {
    const started = Date.now();
    const result = await runCli([
      '--uri',
      'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=60000',
      '--connect-timeout',
      '300ms',
      'a.b',
    ]);
    expect(result.code).toBe(3);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 15_000);
});

describe('@file arguments are capped at 16 MiB (issue 8)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mongo-tail-big-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test.each([
    ['--pipeline', '/dev/zero'],
    ['--pipeline', 'big'],
    ['--resume-after', '/dev/zero'],
    ['--start-after', 'big'],
  ])('%s @%s: exit 2 naming the flag and the limit, at once', async (flag, name) => {
    const path = name === 'big' ? join(dir, 'big.json') : name;
    if (name === 'big') {
      await writeFile(path, '');
      await truncate(path, 17 * 1024 * 1024); // sparse
    }
    const started = Date.now();
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', flag, `@${path}`, 'a.b']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(
      `mongo-tail: ${flag} @${path}: the file is larger than 16 MiB`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a token file that is /dev/zero (through a symlink): exit 2, before reading it', async () => {
    const file = join(dir, 'pos.json');
    await symlink('/dev/zero', file);
    const result = await runCli(['--uri', 'mongodb://127.0.0.1:1/', '--token-file', file, 'a.b']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      `mongo-tail: cannot read token file ${file} (it is a device)`,
    );
    expect(existsSync('/dev/zero.mongo-tail.lock')).toBe(false);
  });
});
