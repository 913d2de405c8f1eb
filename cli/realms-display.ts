/**
 * `steward realms display on|off|url`: turn the daemon's status page on or off
 * (realmcmd_display 1 / 0) and print the page's address with its action token.
 * @module
 */
import process from "node:process";
import type { Command } from "@commander-js/extra-typings";
import { RealmManagerClient } from "../lib/realms/client.ts";
import { parseDisplayListen } from "../lib/realms/display/display.ts";
import { displayUrlWithToken } from "../lib/realms/display/token.ts";
import { RealmError } from "../lib/realms/errors.ts";
import { realmStateDir } from "../lib/realms/paths.ts";
import { REALM_RC, REALMCMD } from "../lib/realms/protocol/codes.ts";
import { CliError, usageError } from "./errors.ts";

/** Exit codes when the daemon could not be asked (as the other `realms` client commands). */
const NOT_RUNNING = 200;
const NO_ANSWER = 202;

async function toggle(flags: { statedir?: string }, data: string): Promise<void> {
  const client = new RealmManagerClient({ stateDir: realmStateDir({ statedir: flags.statedir }) });
  let reply;
  try {
    reply = await client.send(REALMCMD.DISPLAY, data);
  } catch (e) {
    if (e instanceof RealmError) {
      throw new CliError(e.message, e.kind === "no-daemon" ? NOT_RUNNING : NO_ANSWER);
    }
    throw e;
  }
  const text = reply.message.endsWith("\n") ? reply.message : `${reply.message}\n`;
  if (reply.code === REALM_RC.OKAY) process.stdout.write(text);
  else process.stderr.write(`steward: ${text}`);
  process.exitCode = reply.code;
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
    await toggle(flags, flags.listen ? `1 ${flags.listen.trim()}` : "1");
  });
  const off = display.command("off").description("Stop the status page").option(state, stateHelp);
  off.action((flags) => toggle(flags, "0"));
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
        throw new CliError(e.message, e.kind === "no-daemon" ? NOT_RUNNING : 1);
      }
      throw e;
    }
  });
}
