// `mongo-tail completion bash|zsh|fish`: completion scripts generated from the flag declarations
// (flags.ts), so a new flag or value is offered by every shell without touching this file.
// Namespaces are not completed: that would need a connection.
import {
  flagsFor,
  SHELLS,
  SUBCOMMAND_HELP,
  SUBCOMMANDS,
  type FlagSpec,
  type Shell,
  type Subcommand,
} from './flags.js';

const NAME = 'mongo-tail';

/** The completion script for `shell`. */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return bashScript();
    case 'zsh':
      return zshScript();
    case 'fish':
      return fishScript();
  }
}

/** `-n`, `--limit`: every spelling of a flag. */
function spellings(flag: FlagSpec): string[] {
  return flag.short === undefined ? [`--${flag.long}`] : [`-${flag.short}`, `--${flag.long}`];
}

/** What a shell may see: letters, digits and a few marks (declarations are ours, but still). */
function word(text: string): string {
  if (!/^[\w.,@:+-]+$/.test(text)) throw new Error(`not a plain word: ${text}`);
  return text;
}

// ------------------------------------------------------------------ bash

function bashScript(): string {
  const commands = ['tail', ...SUBCOMMANDS] as const;
  const valued = commands.flatMap((c) => flagsFor(c)).filter((flag) => flag.arg !== undefined);
  const unique = [...new Map(valued.map((flag) => [flag.long, flag])).values()];
  const required = unique.filter((flag) => flag.arg?.startsWith('<') === true);
  // A flag with an optional value (-p) completes like any word: its value may be left out.
  const valueCases = required.map((flag) => {
    const pattern = spellings(flag).map(word).join('|');
    let action = 'COMPREPLY=()';
    if (flag.values !== undefined && flag.list === true) {
      action = `__mongo_tail_list '${flag.values.map(word).join(' ')}'`;
    } else if (flag.values !== undefined) {
      action = `COMPREPLY=($(compgen -W '${flag.values.map(word).join(' ')}' -- "$cur"))`;
    } else if (flag.complete === 'file') {
      action = 'COMPREPLY=($(compgen -f -- "$cur"))';
    }
    return `    ${pattern}) ${action}; return ;;`;
  });
  const flagLists = commands.map(
    (c) => `    ${c}) flags='${flagsFor(c).flatMap(spellings).map(word).join(' ')}' ;;`,
  );
  return `# ${NAME} completion for bash. Load it with:  source <(${NAME} completion bash)
# Generated from src/flags.ts; namespaces are not completed.
__mongo_tail_list() {
  # A comma-separated list: complete the part after the last comma.
  local done='' part=$cur
  if [[ $cur == *,* ]]; then done=\${cur%,*},; part=\${cur##*,}; fi
  COMPREPLY=($(compgen -W "$1" -P "$done" -- "$part"))
  compopt -o nospace 2>/dev/null
}

_mongo_tail() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local i=1 w cmd=tail positionals=0
  # bash splits --flag=value at the =
  if [[ $cur == = ]]; then cur=''
  elif [[ $prev == = ]]; then prev=\${COMP_WORDS[COMP_CWORD-2]}; fi
  # The subcommand is the first word that is neither a flag nor a flag's value.
  while ((i < COMP_CWORD)); do
    w=\${COMP_WORDS[i]}
    case $w in
      --) positionals=$((positionals + 1)) ;;
      =) i=$((i + 1)) ;;
      ${required.flatMap(spellings).map(word).join('|')})
        if [[ \${COMP_WORDS[i+1]} == = ]]; then i=$((i + 2)); else i=$((i + 1)); fi ;;
      -*) ;;
      *)
        if [[ $cmd == tail ]] && ((positionals == 0)); then
          case $w in
            ${SUBCOMMANDS.map(word).join('|')}) cmd=$w ;;
            *) positionals=1 ;;
          esac
        else
          positionals=$((positionals + 1))
        fi
        ;;
    esac
    i=$((i + 1))
  done
  case $prev in
${valueCases.join('\n')}
  esac
  local flags
  case $cmd in
${flagLists.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case $cmd in
    tail) ((positionals == 0)) && COMPREPLY=($(compgen -W '${SUBCOMMANDS.map(word).join(' ')}' -- "$cur")) ;;
    token) COMPREPLY=($(compgen -f -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W '${SHELLS.map(word).join(' ')}' -- "$cur")) ;;
  esac
  return 0
}
complete -F _mongo_tail ${NAME}
`;
}

// ------------------------------------------------------------------ zsh

/** Text inside a zsh _arguments spec (itself in single quotes). */
function zshText(text: string): string {
  return text.replace(/[\\[\]:]/g, (c) => `\\${c}`).replace(/'/g, `'\\''`);
}

function zshSpec(flag: FlagSpec): string {
  const text = zshText(flag.help);
  const argName = zshText((flag.arg ?? '').replace(/^[<[]|[>\]]$/g, ''));
  let action = '';
  if (flag.values !== undefined && flag.list === true) {
    action = `_values -s , ${argName} ${flag.values.map(word).join(' ')}`;
  } else if (flag.values !== undefined) {
    action = `(${flag.values.map(word).join(' ')})`;
  } else if (flag.complete === 'file') {
    action = '_files';
  }
  const optional = flag.arg?.startsWith('[') === true;
  const arg = flag.arg === undefined ? '' : `${optional ? '::' : ':'}${argName}:${action}`;
  const repeat = flag.repeatable === true ? '*' : '';
  const long = `--${word(flag.long)}${flag.arg === undefined ? '' : optional ? '=-' : '='}`;
  if (flag.short === undefined) return `'${repeat}${long}[${text}]${arg}'`;
  const short = `-${word(flag.short)}${flag.arg === undefined ? '' : optional ? '-' : '+'}`;
  return `'(-${flag.short} --${flag.long})'{${short},${long}}'[${text}]${arg}'`;
}

function zshScript(): string {
  const specs = (command: 'tail' | Subcommand): string =>
    flagsFor(command)
      .map((flag) => `    ${zshSpec(flag)} \\`)
      .join('\n');
  const subcommands = SUBCOMMANDS.map((s) => `'${word(s)}:${zshText(SUBCOMMAND_HELP[s])}'`).join(
    ' ',
  );
  return `#compdef ${NAME}
# ${NAME} completion for zsh. Load it with:  source <(${NAME} completion zsh)
# (or save it as _${NAME} in a directory of $fpath). Generated from src/flags.ts.
_mongo_tail() {
  local curcontext=$curcontext state line
  typeset -A opt_args
  local -a subcommands=(${subcommands})
  _arguments -C -s \\
${specs('tail')}
    '1: :->first' \\
    '*:: :->rest' && return
  case $state in
    first)
      _describe -t commands 'subcommand (or a namespace)' subcommands
      ;;
    rest)
      case $line[1] in
        token)
          _arguments -s \\
${specs('token').replace(/^ {4}/gm, '            ')}
            '1:token file or token:_files'
          ;;
        completion)
          _arguments \\
${specs('completion').replace(/^ {4}/gm, '            ')}
            '1:shell:(${SHELLS.map(word).join(' ')})'
          ;;
        *)
          _arguments -s \\
${specs('tail').replace(/^ {4}/gm, '            ')}
            '*:namespace:'
          ;;
      esac
      ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _mongo_tail "$@"
else
  compdef _mongo_tail ${NAME}
fi
`;
}

// ------------------------------------------------------------------ fish

function fishText(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishScript(): string {
  const lines = [
    `# ${NAME} completion for fish. Load it with:  ${NAME} completion fish | source`,
    `# (or save it as ~/.config/fish/completions/${NAME}.fish). Generated from src/flags.ts.`,
    `complete -c ${NAME} -f`,
    ...SUBCOMMANDS.map(
      (s) =>
        `complete -c ${NAME} -n __fish_use_subcommand -a ${word(s)} -d ${fishText(SUBCOMMAND_HELP[s])}`,
    ),
  ];
  const sub = SUBCOMMANDS.map(word).join(' ');
  for (const command of ['tail', ...SUBCOMMANDS] as const) {
    const when =
      command === 'tail'
        ? `'not __fish_seen_subcommand_from ${sub}'`
        : `'__fish_seen_subcommand_from ${command}'`;
    for (const flag of flagsFor(command)) {
      const parts = [`complete -c ${NAME} -n ${when}`];
      if (flag.short !== undefined) parts.push(`-s ${word(flag.short)}`);
      parts.push(`-l ${word(flag.long)}`);
      if (flag.values !== undefined) {
        parts.push(`-x -a ${fishText(flag.values.map(word).join(' '))}`);
      } else if (flag.complete === 'file') {
        parts.push('-r -F');
      } else if (flag.arg?.startsWith('<') === true) {
        parts.push('-x');
      }
      parts.push(`-d ${fishText(flag.help)}`);
      lines.push(parts.join(' '));
    }
  }
  lines.push(
    `complete -c ${NAME} -n '__fish_seen_subcommand_from token' -F`,
    `complete -c ${NAME} -n '__fish_seen_subcommand_from completion' -x -a ${fishText(SHELLS.join(' '))}`,
  );
  return `${lines.join('\n')}\n`;
}
