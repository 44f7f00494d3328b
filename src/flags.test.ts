// The flag declarations are the one source of the commander programs, --help, the README table
// and completion (issue 9): these tests fail when any of them drifts from src/flags.ts.
import { readFileSync } from 'node:fs';
import { END, flagsTable, README, START } from '../scripts/flags-doc.js';
import { helpWidth, parseArgs, renderTailHelp } from './cli.js';
import { UsageError } from './errors.js';
import {
  COMMANDS,
  FLAGS,
  findFlag,
  flagsFor,
  GROUPS,
  OUTPUT_FORMATS,
  type FlagSpec,
  type TailFlags,
} from './flags.js';
import { FORMATS } from './format/index.js';
import { resolveOptions, type RawFlags } from './options.js';

const ALL: readonly FlagSpec[] = FLAGS;
const camel = (long: string): string =>
  long.replace(/^no-/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

describe('the declarations', () => {
  test('names are unique; a key is the camelCase of the long name (what commander sets)', () => {
    const longs = ALL.map((f) => f.long);
    expect(new Set(longs).size).toBe(longs.length);
    const shorts = ALL.flatMap((f) => (f.short === undefined ? [] : [f.short]));
    expect(new Set(shorts).size).toBe(shorts.length);
    for (const flag of ALL) {
      expect(GROUPS).toContain(flag.group);
      expect(flag.help).not.toBe('');
      if (flag.key !== undefined)
        expect({ long: flag.long, key: camel(flag.long) }).toEqual({
          long: flag.long,
          key: flag.key,
        });
      expect(flag.negates === true).toBe(flag.long.startsWith('no-'));
      expect(findFlag(`--${flag.long}`)).toBe(flag);
      if (flag.short !== undefined) expect(findFlag(`-${flag.short}`)).toBe(flag);
    }
    expect(findFlag('--nope')).toBeUndefined();
  });

  test('the formats shown are the formats there are', () => {
    expect([...OUTPUT_FORMATS]).toEqual([...FORMATS]);
  });

  test('every command has --help; only the tail has --version', () => {
    for (const command of COMMANDS) {
      expect(flagsFor(command).map((f) => f.long)).toContain('help');
    }
    expect(COMMANDS.filter((c) => flagsFor(c).some((f) => f.long === 'version'))).toEqual(['tail']);
  });

  test('resolveOptions reads every flag of the tail', () => {
    // A declared flag that options.ts never looks at would be accepted and silently ignored.
    const source = readFileSync(new URL('./options.ts', import.meta.url), 'utf8');
    const keys = [
      ...new Set(flagsFor('tail').flatMap((f) => (f.key === undefined ? [] : [f.key]))),
    ];
    expect(keys.filter((key) => !new RegExp(`\\bflags\\.${key}\\b`).test(source))).toEqual([]);
  });
});

describe('commander is built from the declarations', () => {
  const expected = (flag: FlagSpec): unknown =>
    flag.negates === true
      ? false
      : flag.repeatable === true
        ? ['v']
        : flag.arg === undefined
          ? true
          : 'v';

  test.each(flagsFor('tail').filter((f) => f.key !== undefined))('--$long', (flag) => {
    const spellings = [`--${flag.long}`, ...(flag.short === undefined ? [] : [`-${flag.short}`])];
    for (const spelling of spellings) {
      const argv = flag.arg === undefined ? [spelling] : [spelling, 'v'];
      const parsed = parseArgs([...argv, 'shop']);
      expect(parsed).toEqual({
        command: 'tail',
        flags: { [flag.key ?? '']: expected(flag) },
        namespaces: ['shop'],
      });
    }
  });

  test.each(flagsFor('token').filter((f) => f.key !== undefined && f.key !== 'quiet'))(
    'token --$long',
    (flag) => {
      const parsed = parseArgs(['token', `--${flag.long}`, 'x']);
      expect(parsed).toEqual({ command: 'token', input: 'x', [flag.key ?? '']: expected(flag) });
    },
  );

  test('RawFlags is the tail flags type (derived, so it cannot drift)', () => {
    const flags: RawFlags = { ops: ['insert'], password: true, wide: true, prettyMultiline: true };
    const same: TailFlags = flags;
    expect(same).toBe(flags);
  });
});

describe('--help', () => {
  test.each([60, 80, 100, 120])(
    'at %i columns no line is wider; every flag and value shows',
    (width) => {
      const text = renderTailHelp(width);
      const tooWide = text.split('\n').filter((line) => line.length > width);
      expect(tooWide).toEqual([]);
      const flat = text.replace(/\s+/g, ' ');
      for (const flag of flagsFor('tail')) {
        expect(text).toContain(`--${flag.long}`);
        for (const value of flag.values ?? []) expect(flat).toContain(value);
        if (flag.default !== undefined) expect(flat).toContain(`default: ${flag.default}`);
      }
      // The sections, in order.
      const headings = text.split('\n').filter((line) => GROUPS.some((g) => line === `${g}:`));
      expect(headings).toEqual(GROUPS.map((g) => `${g}:`));
    },
  );

  test.each([
    [undefined, {}, 80],
    [200, {}, 120],
    [40, {}, 60],
    [100, { COLUMNS: '70' }, 100],
    [undefined, { COLUMNS: '100' }, 100],
    [undefined, { COLUMNS: '300' }, 120],
    [undefined, { COLUMNS: 'wide' }, 80],
    [undefined, { COLUMNS: '0' }, 80],
    [0, {}, 80],
  ])('width: terminal %p, env %j → %i', (columns, env, width) => {
    expect(helpWidth(columns, env)).toBe(width);
  });
});

describe('README.md', () => {
  const readme = readFileSync(README, 'utf8');

  test('the options table is the one scripts/flags-doc.ts generates (npm run -s docs:flags)', async () => {
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start).toBeGreaterThan(-1);
    expect(readme.slice(start + START.length, end).trim()).toBe(await flagsTable());
  }, 20_000);

  test('names every flag, and every flag it names exists', () => {
    const outside = readme.split(START)[0] + (readme.split(END)[1] ?? '');
    for (const flag of ALL) expect(outside).toMatch(new RegExp(`--${flag.long}(?![\\w-])`));
    // The Performance and Development sections describe the bench and the test server's flags,
    // `npm run <script> -- --flag` passes a script its own flags, `mongod --replSet` is MongoDB's.
    const ours = outside
      .replace(/\n## (Performance|Development)\n[\s\S]*?(?=\n## )/g, '\n')
      .replace(/npm run (-s )?[\w:-]+ -- [^`\n]*/g, '');
    const named = new Set(ours.match(/(?<![\w-])--[a-zA-Z][\w-]*[a-zA-Z]/g));
    named.delete('--replSet');
    expect([...named].filter((name) => findFlag(name) === undefined)).toEqual([]);
  });
});

describe('--wide, --pretty-multiline, --stats', () => {
  const ctx = { env: {}, stdoutIsTTY: true, now: new Date() };
  const resolve = (flags: RawFlags, tty = true) =>
    resolveOptions(flags, ['shop'], { ...ctx, stdoutIsTTY: tty });

  test('off by default, on when given', () => {
    expect(resolve({})).toMatchObject({ wide: false, multiline: false, stats: false });
    expect(resolve({ wide: true, prettyMultiline: true, stats: true })).toMatchObject({
      wide: true,
      multiline: true,
      stats: true,
      format: 'pretty',
    });
    expect(resolve({ stats: true, format: 'json' })).toMatchObject({ stats: true, format: 'json' });
  });

  test('--pretty-multiline without a format asks for pretty, even into a pipe', () => {
    expect(resolve({ prettyMultiline: true }, false).format).toBe('pretty');
  });

  test.each([
    [
      { prettyMultiline: true, format: 'json' },
      '--pretty-multiline and --format json cannot be used together',
    ],
    [
      { prettyMultiline: true, format: 'canonical' },
      '--pretty-multiline and --format canonical cannot be used together',
    ],
    [{ wide: true, format: 'json' }, '--wide applies to pretty output; json lines are never cut'],
  ])('%j is a usage error naming both', (flags, message) => {
    expect(() => resolve(flags as RawFlags)).toThrow(new UsageError(message));
  });
});
