/**
 * The command tree as data, for shell completion and man pages: every command with its path,
 * usage, description, options and subcommands.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** An option of a command. */
export interface OptionNode {
  /** Its spellings, e.g. ["-x", "--exclusive"]. */
  flags: string[];
  /** Its value placeholder, e.g. "<seconds>", or "". */
  value: string;
  description: string;
}

/** A command of the tree. */
export interface CommandNode {
  /** Words after `steward`, e.g. ["dhcp", "network", "list"]; [] for the root. */
  path: string[];
  name: string;
  usage: string;
  description: string;
  options: OptionNode[];
  commands: CommandNode[];
}

function optionNode(o: AnyCommand["options"][number]): OptionNode {
  const flags = [o.short, o.long].filter((f): f is string => typeof f === "string");
  const value = o.flags.replace(/^[^<[]*/, "").trim();
  return { flags, value, description: o.description };
}

/** The tree below `cmd` (hidden commands and options left out). */
export function commandTree(cmd: AnyCommand, path: string[] = []): CommandNode {
  const help = cmd.createHelp();
  const options = help.visibleOptions(cmd).map(optionNode);
  const commands = cmd.commands
    .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
    .map((c) => commandTree(c as AnyCommand, [...path, c.name()]));
  return {
    path,
    name: cmd.name(),
    usage: cmd.usage(),
    description: cmd.description(),
    options,
    commands,
  };
}

/** Every node of the tree, depth first, the root first. */
export function allNodes(root: CommandNode): CommandNode[] {
  return [root, ...root.commands.flatMap(allNodes)];
}
