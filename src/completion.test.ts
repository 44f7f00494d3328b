// The completion scripts: valid for their shell, and built from every declared flag and value.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../test/e2e/harness.js';
import { completionScript } from './completion.js';
import { COMMANDS, flagsFor, SHELLS, SUBCOMMANDS, type Shell } from './flags.js';

/** Whether `shell` can be run here. */
function installed(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0;
}

/** Runs `bash -c script` with the completion loaded; returns stdout. */
function bash(script: string): string {
  const result = spawnSync('bash', ['-c', `${completionScript('bash')}\n${script}`], {
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  return result.stdout;
}

/** What bash offers for the words of a command line (the last one being completed). */
function complete(...words: string[]): string[] {
  const line = ['mongo-tail', ...words];
  const quoted = line.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = bash(
    `COMP_WORDS=(${quoted}); COMP_CWORD=${line.length - 1}; _mongo_tail; printf '%s\\n' "\${COMPREPLY[@]}"`,
  );
  return out.split('\n').filter((w) => w !== '');
}

describe.each(SHELLS)('%s', (shell: Shell) => {
  test('the script names every flag of every command and every value', () => {
    const script = completionScript(shell);
    for (const command of COMMANDS) {
      for (const flag of flagsFor(command)) {
        expect(script).toContain(flag.long);
        for (const value of flag.values ?? []) expect(script).toContain(value);
      }
    }
    for (const sub of SUBCOMMANDS) expect(script).toContain(sub);
  });

  test('the shell reads it without a syntax error', () => {
    if (!installed(shell)) {
      console.log(`skipping: ${shell} is not installed`);
      return;
    }
    // From a file: fish run by node with a piped stdin does not read it.
    const dir = mkdtempSync(join(tmpdir(), 'mongo-tail-completion-'));
    try {
      const file = join(dir, `mongo-tail.${shell}`);
      writeFileSync(file, completionScript(shell));
      const result = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('mongo-tail completion prints it, exit 0', async () => {
    expect(await runCli(['completion', shell])).toEqual({
      code: 0,
      stdout: completionScript(shell),
      stderr: '',
    });
  });
});

describe('bash completes', () => {
  beforeAll(() => {
    if (!installed('bash')) throw new Error('bash is needed for these tests');
  });

  test('flags, per command', () => {
    expect(complete('--ti')).toEqual([]);
    expect(complete('--to')).toEqual(['--token-file']);
    expect(complete('token', '--')).toEqual([
      '--json',
      '--color',
      '--no-color',
      '--quiet',
      '--utc',
      '--help',
    ]);
    expect(complete('-q', 'token', '--j')).toEqual(['--json']);
    expect(complete('completion', '-')).toEqual(['-h', '--help']);
  });

  test('values, also after = and in a comma-separated list', () => {
    expect(complete('-f', '')).toEqual(['pretty', 'json', 'canonical']);
    expect(complete('--format', '=', 'c')).toEqual(['canonical']);
    expect(complete('--full-document-before-change', 'w')).toEqual(['whenAvailable']);
    expect(complete('--ops', 'insert,de')).toEqual(['insert,delete']);
    expect(complete('--uri', '')).toEqual([]);
    expect(complete('completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });

  test('subcommands only as the first word that is no flag or value', () => {
    expect(complete('')).toEqual(['token', 'completion']);
    expect(complete('-n', '5', 't')).toEqual(['token']);
    expect(complete('--since', 'token', 't')).toEqual(['token']);
    expect(complete('shop', 't')).toEqual([]);
    expect(complete('--', 't')).toEqual([]);
  });
});

test('an unknown shell is a usage error', async () => {
  expect(await runCli(['completion', 'tcsh'])).toEqual({
    code: 2,
    stdout: '',
    stderr: 'mongo-tail: completion: unknown shell "tcsh"\nhint: use one of: bash, zsh, fish\n',
  });
});
