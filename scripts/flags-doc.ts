// `npm run -s docs:flags`: writes the README's "All options" table (between the
// `<!-- flags:start -->` and `<!-- flags:end -->` markers) from the flag declarations in
// src/flags.ts; `-- --check` only says whether it is up to date (exit 1 when not). A test
// (src/flags.test.ts) fails when the README's table differs from what this generates.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { commandsOf, FLAGS, flagDetails, flagTerm, GROUPS, type FlagSpec } from '../src/flags.js';

export const START = '<!-- flags:start -->';
export const END = '<!-- flags:end -->';
export const README = fileURLToPath(new URL('../README.md', import.meta.url));

/** Markdown table cell text: pipes escaped, nothing that could end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
}

function description(flag: FlagSpec): string {
  const commands = commandsOf(flag).filter((c) => c !== 'tail');
  const only = commandsOf(flag).includes('tail')
    ? ''
    : `\`mongo-tail ${commands.join('`, `mongo-tail ')}\`: `;
  const details = flagDetails(flag, (value) => `\`${value}\``);
  return only + flag.help + (details.length > 0 ? ` (${details.join('; ')})` : '');
}

/** The table (without the markers), formatted as prettier would leave it. */
export async function flagsTable(): Promise<string> {
  const rows = ['| group | option | what it does |', '| --- | --- | --- |'];
  for (const group of GROUPS) {
    (FLAGS as readonly FlagSpec[])
      .filter((flag) => flag.group === group)
      .forEach((flag, index) => {
        const term = `\`${flagTerm(flag)}\``;
        rows.push(`| ${index === 0 ? group : ''} | ${cell(term)} | ${cell(description(flag))} |`);
      });
  }
  const options = (await resolveConfig(README)) ?? {};
  return (await format(`${rows.join('\n')}\n`, { ...options, parser: 'markdown' })).trim();
}

/** `readme` with its flags block replaced by `table` (throws when the markers are missing). */
export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) throw new Error(`README.md has no ${START} … ${END} block`);
  return `${readme.slice(0, start + START.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

async function run(): Promise<number> {
  const readme = readFileSync(README, 'utf8');
  const updated = withTable(readme, await flagsTable());
  if (process.argv.includes('--check')) {
    if (updated === readme) return 0;
    process.stderr.write('README.md: the options table is out of date: npm run -s docs:flags\n');
    return 1;
  }
  if (updated !== readme) writeFileSync(README, updated);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await run();
}
