/**
 * What the `steward realms` client commands share: the client for the flags given, the exit
 * codes when the daemon could not be asked, and printing a reply.
 * @module
 */
import process from "node:process";
import { RealmManagerClient } from "../lib/realms/client.ts";
import { RealmError } from "../lib/realms/errors.ts";
import { checkRealmSocketPathLength, realmSocketPath, realmStateDir } from "../lib/realms/paths.ts";
import { REALM_RC, realmReturnCodeName } from "../lib/realms/protocol/codes.ts";
import type { RealmReply } from "../lib/realms/protocol/framing.ts";
import { CliError, usageError } from "./errors.ts";
import { printJson } from "./output.ts";
import type { AnyCommand } from "./program.ts";

/**
 * Exit codes of the client commands: the daemon's return code (0..15) when it answered;
 * these when it could not.
 */
export const REALMS_CLIENT_EXIT = {
  /** No daemon listens on the state directory's socket (realmctl's "not running"). */
  NOT_RUNNING: 200,
  /** The state directory is too long for a Unix socket path. */
  STATEDIR_TOO_LONG: 201,
  /** The daemon was reached but did not answer properly: timeout, empty or garbled reply. */
  NO_ANSWER: 202,
} as const;

export interface ClientFlags {
  statedir?: string;
  /** `--no-verify` of `send`. */
  verify?: boolean;
  timeout?: string;
  nudge?: boolean;
  json?: boolean;
}

export function client(flags: ClientFlags): RealmManagerClient {
  const stateDir = realmStateDir({ statedir: flags.statedir });
  try {
    checkRealmSocketPathLength(stateDir);
  } catch (e) {
    throw new CliError((e as Error).message, REALMS_CLIENT_EXIT.STATEDIR_TOO_LONG);
  }
  let timeoutMs: number | undefined;
  if (flags.timeout !== undefined) {
    const s = Number(flags.timeout);
    if (!Number.isFinite(s) || s <= 0) {
      throw usageError(`Invalid --timeout: not a positive number of seconds: ${flags.timeout}`);
    }
    timeoutMs = s * 1000;
  }
  return new RealmManagerClient({
    stateDir,
    nudge: flags.nudge === true,
    verify: flags.verify !== false,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
}

/**
 * Turn a client error into the exit code; with `--json`, "not running" is also reported on
 * stdout as `{"running": false, "socket", "error"}` so that a script reading JSON always gets it.
 */
export function failure(e: unknown, flags: ClientFlags = {}, command?: string): never {
  if (e instanceof RealmError) {
    switch (e.kind) {
      case "no-daemon":
        if (flags.json) {
          printJson({
            ...(command !== undefined ? { command } : {}),
            running: false,
            socket: realmSocketPath(realmStateDir({ statedir: flags.statedir })),
            error: e.message,
          });
        }
        throw new CliError(e.message, REALMS_CLIENT_EXIT.NOT_RUNNING);
      case "path":
        throw new CliError(e.message, REALMS_CLIENT_EXIT.STATEDIR_TOO_LONG);
      case "invalid":
        throw usageError(e.message);
      default:
        throw new CliError(e.message, REALMS_CLIENT_EXIT.NO_ANSWER);
    }
  }
  throw e;
}

export async function ask(flags: ClientFlags, command: string, data = ""): Promise<RealmReply> {
  try {
    return await client(flags).send(command, data);
  } catch (e) {
    failure(e, flags, command);
  }
}

export function replyJson(command: string, reply: RealmReply, extra: Record<string, unknown> = {}) {
  return {
    command,
    code: reply.code,
    name: realmReturnCodeName(reply.code) ?? null,
    ok: reply.code === REALM_RC.OKAY,
    message: reply.message,
    ...extra,
  };
}

/** Print a reply's message: stdout on success, stderr (prefixed) otherwise; exit = its code. */
export function printReply(reply: RealmReply): void {
  const text = reply.message.endsWith("\n") || reply.message === ""
    ? reply.message
    : `${reply.message}\n`;
  if (reply.code === REALM_RC.OKAY) process.stdout.write(text);
  else process.stderr.write(`steward: ${text}`);
  process.exitCode = reply.code;
}

export function addClientOptions(cmd: AnyCommand): void {
  cmd.option(
    "--statedir <dir>",
    "state directory of the daemon (default $DT_STATEDIR or /usr/local/var)",
  )
    .option(
      "--timeout <seconds>",
      "reply deadline (default per command: 10 s, longer for start/stop)",
    )
    .option(
      "--nudge",
      "send SIGHUP after each request, as upstream clients do (for upstream dtrealms)",
    )
    .option("--json", "print JSON");
}
