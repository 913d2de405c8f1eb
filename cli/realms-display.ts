/**
 * `steward realms display on|off|url`: turn the daemon's status page on or off
 * (realmcmd_display 1 / 0) and print the page's address with its action token.
 * @module
 */
import process from "node:process";
import type { Command } from "@commander-js/extra-typings";
import { parseDisplayListen } from "../lib/realms/display/display.ts";
import { displayUrlWithToken } from "../lib/realms/display/token.ts";
import { RealmError } from "../lib/realms/errors.ts";
import { realmStateDir } from "../lib/realms/paths.ts";
import { REALMCMD } from "../lib/realms/protocol/codes.ts";
import { REALMCMD_DATA } from "../lib/realms/protocol/bodies.ts";
import { CliError, usageError } from "./errors.ts";
import { ask, printReply, REALMS_CLIENT_EXIT } from "./realms-client.ts";

async function toggle(flags: { statedir?: string }, on: boolean, listen?: string): Promise<void> {
  printReply(await ask(flags, REALMCMD.DISPLAY, REALMCMD_DATA.display(on, listen)));
}

/** Add `display` to the `steward realms` group. */
export function registerRealmsDisplay(realms: Command): void {
  const display = realms.command("display").description(
    "The daemon's status page and metrics (realmcmd_display): on, off, or the page's URL with " +
      "its action token. on/off exit with the daemon's return code (9: already as requested).",
  ).helpCommand(false);
  const state = "--statedir <dir>";
  const stateHelp = "state directory of the daemon (default $DT_STATEDIR or /usr/local/var)";
  const on = display.command("on")
    .description("Start the status page; prints its URL (without the token)")
    .option("--listen <host:port>", "where to listen (default the daemon's, 127.0.0.1:9731)")
    .option(state, stateHelp);
  on.action(async (flags) => {
    if (flags.listen !== undefined && parseDisplayListen(flags.listen) === undefined) {
      throw usageError(`Invalid --listen: expected HOST:PORT: ${flags.listen}`);
    }
    await toggle(flags, true, flags.listen);
  });
  const off = display.command("off").description("Stop the status page").option(state, stateHelp);
  off.action((flags) => toggle(flags, false));
  const url = display.command("url")
    .description(
      "Print the page's URL with its action token (only those who can read the state " +
        "directory can); exit 200 when the display is off",
    )
    .option(state, stateHelp);
  url.action((flags) => {
    try {
      process.stdout.write(
        `${displayUrlWithToken(realmStateDir({ statedir: flags.statedir }))}\n`,
      );
    } catch (e) {
      if (e instanceof RealmError) {
        throw new CliError(
          e.message,
          e.kind === "no-daemon" ? REALMS_CLIENT_EXIT.NOT_RUNNING : 1,
        );
      }
      throw e;
    }
  });
}
