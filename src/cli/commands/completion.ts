import type { Command } from 'commander';
import { KkoError } from '../../errors.js';
import type { CommandContext } from '../context.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

type Node = { path: string[]; subcommands: string[]; flags: string[] };

// Every command path with its subcommands and long flags, read from the program itself (never out of date).
function walk(cmd: Command, path: string[] = []): Node[] {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  const flags = [...cmd.options.map((o) => o.long).filter((l): l is string => Boolean(l)), '--help'];
  return [
    { path, subcommands: subs.map((c) => c.name()), flags },
    ...subs.flatMap((c) => walk(c, [...path, c.name()])),
  ];
}

// bash: the words typed so far (without flags) pick the node; offer its subcommands and flags.
function bash(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    "${n.path.join(' ')}") words="${[...n.subcommands, ...n.flags].join(' ')}" ;;`)
    .join('\n');
  return `# kko bash completion: source <(kko completion bash)
_kko() {
  local cur path w i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${nodes
  .filter((n) => n.path.length > 0)
  .map((n) => `      "${n.path.join(' ')}") path="${n.path.join(' ')}" ;;`)
  .join('\n')}
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _kko kko
`;
}

// zsh: reuse the bash function through bashcompinit (one implementation to keep right).
function zsh(nodes: Node[]): string {
  return `#compdef kko
# kko zsh completion: source <(kko completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(nodes).split('\n').slice(1).join('\n')}`;
}

// fish: one `complete` line per subcommand and flag, conditioned on the command path typed so far.
function fish(nodes: Node[]): string {
  const lines = ['# kko fish completion: kko completion fish | source', 'complete -c kko -f'];
  for (const n of nodes) {
    const cond =
      n.path.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const s of n.subcommands) lines.push(`complete -c kko -n '${cond}' -a ${s}`);
    for (const f of n.flags) lines.push(`complete -c kko -n '${cond}' -l ${f.slice(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerCompletion(program: Command, ctx: CommandContext): void {
  program
    .command('completion')
    .argument('<shell>', SHELLS.join(' | '))
    .description('print a shell completion script')
    .addHelpText(
      'after',
      '\nExamples:\n  $ source <(kko completion bash)          # add to ~/.bashrc\n  $ source <(kko completion zsh)           # add to ~/.zshrc\n  $ kko completion fish > ~/.config/fish/completions/kko.fish\n',
    )
    .action((shell: string) => {
      const nodes = walk(program);
      if (shell === 'bash') ctx.io.stdout(bash(nodes));
      else if (shell === 'zsh') ctx.io.stdout(zsh(nodes));
      else if (shell === 'fish') ctx.io.stdout(fish(nodes));
      else
        throw new KkoError('INVALID_INPUT', `completion: unknown shell "${shell}"`, {
          hint: `one of: ${SHELLS.join(', ')}`,
        });
    });
}
