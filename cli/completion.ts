/**
 * Shell completion scripts for bash, zsh and fish, generated from the command tree:
 * `steward completion bash` prints one. Subcommands complete at every level, options after a
 * dash, files where a command takes no subcommand.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { usageError } from "./errors.ts";
import { allNodes, type CommandNode, commandTree } from "./tree.ts";

/** The shells a script can be made for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** One of {@link SHELLS}. */
export type Shell = typeof SHELLS[number];

function summary(text: string): string {
  const first = text.split("\n")[0] ?? "";
  const sentence = first.replace(/(\.\s+[A-Z(]|; |: |, e\.g\.| \(e\.g\.| — ).*$/, "").replace(
    /\.$/,
    "",
  );
  return (sentence.length > 70 ? `${sentence.slice(0, 67)}...` : sentence).trim();
}

function longFlags(n: CommandNode): string[] {
  return n.options.flatMap((o) => o.flags);
}

function bash(root: CommandNode): string {
  const nodes = allNodes(root);
  const subs = nodes.filter((n) => n.commands.length > 0).map((n) =>
    `    ${JSON.stringify(n.path.join(" "))}) echo ${
      JSON.stringify(n.commands.map((c) => c.name).join(" "))
    } ;;`
  );
  const opts = nodes.map((n) =>
    `    ${JSON.stringify(n.path.join(" "))}) echo ${JSON.stringify(longFlags(n).join(" "))} ;;`
  );
  return `# bash completion for steward (made by 'steward completion bash')
__steward_subs() {
  case "$1" in
${subs.join("\n")}
  esac
}
__steward_opts() {
  case "$1" in
${opts.join("\n")}
  esac
}
_steward() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="" i w subs
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    subs=" $(__steward_subs "$cmdpath") "
    [[ "$subs" == *" $w "* ]] && cmdpath="\${cmdpath:+$cmdpath }$w"
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(__steward_opts "$cmdpath")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(__steward_subs "$cmdpath")" -- "$cur"))
    if [[ \${#COMPREPLY[@]} -eq 0 ]]; then COMPREPLY=($(compgen -f -- "$cur")); fi
  fi
}
complete -F _steward steward
`;
}

function zshWord(name: string, description: string): string {
  const item = `${name.replace(/:/g, "\\:")}:${summary(description).replace(/:/g, "\\:")}`;
  return `'${item.replace(/'/g, `'\\''`)}'`;
}

function zsh(root: CommandNode): string {
  const nodes = allNodes(root);
  const subs = nodes.filter((n) => n.commands.length > 0).map((n) =>
    `    ${JSON.stringify(n.path.join(" "))}) reply=(${
      n.commands.map((c) => zshWord(c.name, c.description)).join(" ")
    }) ;;`
  );
  const opts = nodes.map((n) =>
    `    ${JSON.stringify(n.path.join(" "))}) reply=(${
      n.options.flatMap((o) => o.flags.map((f) => zshWord(f, o.description))).join(" ")
    }) ;;`
  );
  return `#compdef steward
# zsh completion for steward (made by 'steward completion zsh')
__steward_subs() {
  reply=()
  case "$1" in
${subs.join("\n")}
  esac
}
__steward_opts() {
  reply=()
  case "$1" in
${opts.join("\n")}
  esac
}
_steward() {
  local cmdpath="" w i
  local -a names reply
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    __steward_subs "$cmdpath"
    names=("\${reply[@]%%:*}")
    if (( \${names[(Ie)$w]} )); then cmdpath="\${cmdpath:+$cmdpath }$w"; fi
  done
  if [[ "\${words[CURRENT]}" == -* ]]; then
    __steward_opts "$cmdpath"
    _describe -t options option reply
  else
    __steward_subs "$cmdpath"
    if (( \${#reply} )); then _describe -t commands command reply; else _files; fi
  fi
}
if [[ "\${funcstack[1]}" == _steward ]]; then _steward "$@"; else compdef _steward steward; fi
`;
}

function fishQuote(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fish(root: CommandNode): string {
  const nodes = allNodes(root);
  const lines: string[] = [];
  const subs = nodes.filter((n) => n.commands.length > 0).map((n) =>
    `    case ${fishQuote(n.path.join(" "))}\n        printf '%s\\n' ${
      n.commands.map((c) => fishQuote(c.name)).join(" ")
    }`
  );
  for (const n of nodes) {
    const at = `__steward_at ${fishQuote(n.path.join(" "))}`;
    for (const c of n.commands) {
      lines.push(
        `complete -c steward -f -n ${fishQuote(at)} -a ${fishQuote(c.name)} -d ${
          fishQuote(summary(c.description))
        }`,
      );
    }
    for (const o of n.options) {
      const spell = o.flags.map((f) => f.startsWith("--") ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)
        .join(" ");
      lines.push(
        `complete -c steward -n ${fishQuote(at)} ${spell}${o.value ? " -r" : ""} -d ${
          fishQuote(summary(o.description))
        }`,
      );
    }
  }
  return `# fish completion for steward (made by 'steward completion fish')
function __steward_subs
    switch "$argv[1]"
${subs.join("\n")}
    end
end
function __steward_path
    set -l cmdpath
    for t in (commandline -opc)[2..-1]
        string match -q -- '-*' $t; and continue
        if contains -- $t (__steward_subs "$cmdpath")
            set cmdpath (string join ' ' $cmdpath $t)
        end
    end
    echo "$cmdpath"
end
function __steward_at
    test (__steward_path) = "$argv[1]"
end
${lines.join("\n")}
`;
}

/** The completion script for `shell`, from the tree of `program`. */
export function completionScript(program: Command, shell: Shell): string {
  const root = commandTree(program);
  return shell === "bash" ? bash(root) : shell === "zsh" ? zsh(root) : fish(root);
}

/** Add `completion SHELL` to the tree. */
export function registerCompletion(program: Command): void {
  program.command("completion")
    .description(
      "Print the shell completion script for bash, zsh or fish, e.g. " +
        "'steward completion bash > /etc/bash_completion.d/steward' (see docs/cli.md)",
    )
    .argument("<shell>", SHELLS.join(", "))
    .action((shell) => {
      if (!(SHELLS as readonly string[]).includes(shell)) {
        throw usageError(`Unknown shell: ${shell} (expected ${SHELLS.join(", ")})`);
      }
      process.stdout.write(completionScript(program, shell as Shell));
    });
}
