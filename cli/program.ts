/**
 * The command tree: each group module adds its subtree; this file wires them and maps errors
 * to exit codes.
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { registerCompletion } from "./completion.ts";
import { CliError, EXIT } from "./errors.ts";
import { configureHelpLayout, guardUnknownSubcommand, registerHelp } from "./help.ts";
import { registerInstallLinks } from "./links.ts";
import { versionText } from "./version.ts";
import { registerDhcp } from "./dhcp.ts";
import { registerLock } from "./lock.ts";
import { registerLockd } from "./lockd.ts";
import { registerRealms } from "./realms.ts";

/** Any command of the tree, whatever its typed arguments. */
// deno-lint-ignore no-explicit-any
export type AnyCommand = Command<any, any, any>;

function applyCommon(cmd: AnyCommand): void {
  configureHelpLayout(cmd);
  guardUnknownSubcommand(cmd);
  cmd.exitOverride();
  cmd.showHelpAfterError(`(run '${fullName(cmd)} --help' for usage)`);
  cmd.configureOutput({
    outputError: (str, write) => write(`steward: ${str.replace(/^error: /, "")}`),
  });
  for (const sub of cmd.commands) applyCommon(sub as AnyCommand);
}

function fullName(cmd: AnyCommand): string {
  const names: string[] = [];
  for (let c: AnyCommand | null = cmd; c; c = c.parent as AnyCommand | null) {
    names.unshift(c.name());
  }
  return names.join(" ");
}

/** Build the whole command tree. */
export function buildProgram(): Command {
  const program = new Command("steward")
    .description(
      "Supervised realms, a DHCP data store and a lock manager for server administrators.\n" +
        "Exit codes: 0 success, 1 failure, 2 usage error; some commands add their own (see docs/cli.md).",
    )
    .version(
      versionText(),
      "-V, --version",
      "print the version, the Node version inside and the commit",
    )
    .helpOption("-h, --help", "show help for a command")
    .helpCommand(false)
    // Root options only before the group: upstream-compatible commands take `-Version` etc.
    .enablePositionalOptions()
    .showSuggestionAfterError(true);
  registerRealms(program);
  registerDhcp(program);
  registerLockd(program);
  registerLock(program);
  registerHelp(program);
  registerCompletion(program);
  registerInstallLinks(program);
  applyCommon(program);
  return program;
}

/** Run the command line `argv` (as in process.argv, two leading entries) and return the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  // The command whose action runs, so a usage error it raises can point at its own --help.
  let acting: AnyCommand = program;
  program.hook("preAction", (_root, actionCommand) => {
    acting = actionCommand as AnyCommand;
  });
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.OK;
      return EXIT.USAGE;
    }
    if (e instanceof CliError) {
      process.stderr.write(`steward: ${e.message}\n`);
      if (e.usage) process.stderr.write(`(run '${fullName(acting)} --help' for usage)\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `steward: internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`,
    );
    return 70;
  }
}
