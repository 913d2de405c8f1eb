/**
 * Help: `steward help [COMMAND…]`, help text wrapped to the terminal, and "did you mean" for a
 * group that runs something itself (`steward lockd stauts`).
 * @module
 */
import type { Command, Help } from "@commander-js/extra-typings";
import { didYouMean } from "./suggest.ts";
import { usageError } from "./errors.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Width for help text: the terminal's, else $COLUMNS, else 80 (at least 40). */
export function helpWidth(stream: { isTTY?: boolean; columns?: number }): number {
  let width = stream.isTTY && stream.columns ? stream.columns : Number(process.env.COLUMNS);
  if (!Number.isFinite(width) || width <= 0) width = 80;
  return Math.max(40, Math.floor(width));
}

/**
 * One item of a help list. Terms longer than 40% of the width stand on their own line with the
 * description below, so long terms (`ctl [options...]`) do not stop the others from wrapping.
 */
function formatItem(
  this: Help,
  term: string,
  termWidth: number,
  description: string,
  helper: Help,
): string {
  if (!description) return `  ${term}`;
  const width = this.helpWidth ?? 80;
  const column = Math.min(termWidth, Math.max(16, Math.floor(width * 0.4)));
  const descWidth = width - 2 - column - 2;
  const wrapped = descWidth >= 20 && !helper.preformatted(description)
    ? helper.boxWrap(description, descWidth)
    : description;
  const pad = " ".repeat(2 + column + 2);
  const lines = wrapped.split("\n");
  if (helper.displayWidth(term) > column) {
    return `  ${term}\n${lines.map((l) => pad + l).join("\n")}`;
  }
  return `  ${term.padEnd(column + term.length - helper.displayWidth(term))}  ${
    lines.join(`\n${pad}`)
  }`;
}

/** Help layout and output width for `cmd` (applied to every command of the tree). */
export function configureHelpLayout(cmd: AnyCommand): void {
  // Keep what a command configured itself (e.g. the daemon's own option list).
  cmd.configureHelp({ formatItem, minWidthToWrap: 20, ...cmd.configureHelp() });
  cmd.configureOutput({
    getOutHelpWidth: () => helpWidth(process.stdout),
    getErrHelpWidth: () => helpWidth(process.stderr),
  });
}

function fullName(cmd: AnyCommand): string {
  const names: string[] = [];
  for (let c: AnyCommand | null = cmd; c; c = c.parent as AnyCommand | null) {
    names.unshift(c.name());
  }
  return names.join(" ");
}

function names(cmd: AnyCommand): string[] {
  return cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
}

/**
 * A group that has both its own action and subcommands (`lockd`) would take a mistyped
 * subcommand as an excess argument; report it as an unknown command, with a suggestion.
 */
export function guardUnknownSubcommand(cmd: AnyCommand): void {
  if (cmd.commands.length === 0 || cmd.registeredArguments.length > 0) return;
  cmd.allowExcessArguments(true);
  cmd.hook("preAction", (_self, actor) => {
    if (actor !== cmd || cmd.args.length === 0) return;
    const word = cmd.args[0] as string;
    throw usageError(
      `Unknown command '${word}' for '${fullName(cmd)}'${didYouMean(word, names(cmd))}`,
    );
  });
}

/** Add `help [COMMAND…]` to the root. */
export function registerHelp(program: AnyCommand): void {
  program.command("help")
    .description("Show help for a command, e.g. 'steward help dhcp network'")
    .argument("[command...]", "the command")
    .action((words: string[]) => {
      let cmd: AnyCommand = program;
      for (const w of words) {
        const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w)) as
          | AnyCommand
          | undefined;
        if (!sub) {
          throw usageError(
            `Unknown command '${w}' for '${fullName(cmd)}'${didYouMean(w, names(cmd))}`,
          );
        }
        cmd = sub;
      }
      cmd.outputHelp();
    });
}
