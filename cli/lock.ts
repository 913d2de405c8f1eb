/**
 * `steward lock run`: hold a named lock while a command runs, like flock(1) but shared or
 * exclusive, queued fairly, visible in `steward lockd status`, and released if steward dies.
 * @module
 */
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { type Command, Option } from "@commander-js/extra-typings";
import { LockClient, LockError, type LockHandle } from "../lib/lockd/client.ts";
import type { LockdHolderStatus } from "../lib/lockd/protocol.ts";
import { lockdSocketPath } from "../lib/lockd/daemon.ts";
import { checkLockName } from "../lib/lockd/protocol.ts";
import { defaultRunDir } from "../lib/platform/rundir.ts";
import { sendSignal } from "../lib/platform/pid.ts";
import { CliError, usageError } from "./errors.ts";

/** Exit codes of `steward lock run` of its own (the command's own status passes through). */
export const LOCK_EXIT = {
  /** --nonblock and the lock is held by someone else. */
  BUSY: 75,
  /** --timeout passed before the lock was granted. */
  TIMEOUT: 124,
  /** No lock manager answers and none could be started. */
  NO_LOCKMGR: 69,
  /** The command exists but could not be run. */
  CANNOT_RUN: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
  /**
   * The lock was lost while the command ran (the lock manager stopped or died): the command was
   * let finish, but it did not run under the lock all along. Its own status is printed.
   */
  LOST: 70,
} as const;

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function signalNumber(sig: string): number {
  return (os.constants.signals as Record<string, number>)[sig] ?? 0;
}

function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > 2_000_000) {
    throw usageError(`Invalid --timeout: not a number of seconds: ${value}`);
  }
  return Math.round(Number(value) * 1000);
}

function parseConflictCode(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,3}$/.test(value) || Number(value) > 255) {
    throw usageError(`Invalid --conflict-exit-code: not an exit status from 0 to 255: ${value}`);
  }
  return Number(value);
}

interface RunOptions {
  shared?: boolean;
  exclusive?: boolean;
  nonblock?: boolean;
  timeout?: string;
  wait?: string;
  conflictExitCode?: string;
  command?: string;
  runDir?: string;
  socket?: string;
}

/** "45s", "3m05s", "2h03m", "3d04h": how long since `since` (ISO 8601). */
export function heldFor(since: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (!Number.isFinite(s)) return "?";
  const p = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${p(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${p(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${p(Math.floor(s / 3600) % 24)}h`;
}

/** A lock's holders for a "busy" message: pid, command pid, since when, the command. */
export function describeHolders(holders: readonly LockdHolderStatus[]): string {
  const [h] = holders;
  if (!h) return "";
  const cmd = h.command === null ? "" : `: ${JSON.stringify(h.command).slice(1, -1)}`;
  const more = holders.length > 1 ? ` (and ${holders.length - 1} more holder(s))` : "";
  return ` (held by pid ${h.pid ?? "?"}${
    h.commandPid === null ? "" : `, command pid ${h.commandPid}`
  }, since ${h.since}, for ${heldFor(h.since)}${cmd})${more}`;
}

// A command line as a shell would take it back: words with specials single-quoted.
function shellWords(argv: readonly string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`).join(
    " ",
  );
}

async function acquire(
  client: LockClient,
  name: string,
  o: RunOptions,
): Promise<LockHandle | number> {
  const timeoutMs = parseTimeout(o.timeout ?? o.wait);
  const conflict = parseConflictCode(o.conflictExitCode);
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    caught = sig;
    controller.abort();
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  try {
    return await client.acquire(name, {
      mode: o.shared ? "shared" : "exclusive",
      nonblock: o.nonblock ?? false,
      signal: controller.signal,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  } catch (e) {
    if (!(e instanceof LockError)) throw e;
    const shown = JSON.stringify(name).slice(1, -1);
    switch (e.code) {
      case "BUSY":
        throw new CliError(
          `Lock is busy: ${shown}${describeHolders(e.holders)}`,
          conflict ?? LOCK_EXIT.BUSY,
        );
      case "TIMEOUT":
        throw new CliError(
          `Timed out after ${o.timeout ?? o.wait} s waiting for lock: ${shown}`,
          conflict ?? LOCK_EXIT.TIMEOUT,
        );
      case "ABORTED":
        if (caught) return 128 + signalNumber(caught);
        throw new CliError(e.message);
      case "NO_LOCKMGR":
        throw new CliError(e.message, LOCK_EXIT.NO_LOCKMGR);
      default:
        throw new CliError(e.message);
    }
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
  }
}

function runCommand(argv: string[], onStart: (pid: number) => void): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit" });
    if (child.pid !== undefined) onStart(child.pid);
    const forward = (sig: NodeJS.Signals) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        sendSignal(child.pid, sig); // false: already gone
      }
    };
    for (const s of FORWARDED) process.on(s, forward);
    const done = () => {
      for (const s of FORWARDED) process.off(s, forward);
    };
    child.once("error", (e: NodeJS.ErrnoException) => {
      done();
      if (e.code === "ENOENT") {
        reject(new CliError(`Command not found: ${cmd}`, LOCK_EXIT.NOT_FOUND));
      } else {
        reject(new CliError(`Cannot run ${cmd}: ${e.code ?? e.message}`, LOCK_EXIT.CANNOT_RUN));
      }
    });
    child.once("exit", (code, signal) => {
      done();
      resolve(code ?? 128 + signalNumber(signal ?? ""));
    });
  });
}

/** Add the `lock` command group to `program`. */
export function registerLock(program: Command): void {
  const lock = program.command("lock").description("Hold named locks of the lock manager")
    .helpCommand(false)
    // What follows `run NAME` belongs to the command (as with flock): see splitAfterName.
    .enablePositionalOptions();
  lock.command("run")
    .description(
      "Hold lock NAME while COMMAND runs (no shell; with -c, through /bin/sh), then release it; " +
        "exit with COMMAND's status",
    )
    .usage("[options] NAME [--] COMMAND [ARGS...]  |  [options] NAME -c 'SHELL COMMAND'")
    .passThroughOptions()
    .argument("<name>", "lock name (1 to 1024 bytes)")
    .argument(
      "[command...]",
      "the command and its arguments (put -- before a command with options)",
    )
    .addOption(new Option("-s, --shared", "take a shared (reader) lock").conflicts("exclusive"))
    .addOption(new Option("-x, --exclusive", "take an exclusive (writer) lock (the default)"))
    .option("-n, --nonblock", `fail at once with exit ${LOCK_EXIT.BUSY} when the lock is busy`)
    .option(
      "-w, --timeout <seconds>",
      `give up with exit ${LOCK_EXIT.TIMEOUT} after waiting this long`,
    )
    .addOption(new Option("--wait <seconds>", "same as --timeout (flock)").hideHelp())
    .option(
      "-E, --conflict-exit-code <code>",
      `exit with this status instead of ${LOCK_EXIT.BUSY}/${LOCK_EXIT.TIMEOUT} when busy or timed out (flock -E)`,
    )
    .option("-c, --command <command>", "run this command line with /bin/sh -c (flock -c)")
    .option("--run-dir <dir>", "run directory of the lock manager (default: per user)")
    .option("--socket <path>", "socket path (default: <run-dir>/lockd.sock)")
    .addHelpText(
      "after",
      `
Exit codes: COMMAND's own status (128+N when killed by signal N); ${LOCK_EXIT.BUSY} busy with --nonblock;
${LOCK_EXIT.TIMEOUT} timed out (-E CODE replaces both); ${LOCK_EXIT.NO_LOCKMGR} no lock manager; ${LOCK_EXIT.CANNOT_RUN} COMMAND cannot be run; ${LOCK_EXIT.NOT_FOUND} COMMAND not found;
${LOCK_EXIT.LOST} the lock was lost while COMMAND ran (lock manager stopped or died); 2 usage error; 1 other failure.

Examples: steward lock run --timeout 30 backup/nightly -- rsync -a /srv/ /backup/
          steward lock run -n -E 0 cron/cleanup -c './cleanup.sh >> cleanup.log'`,
    )
    .action(async (name, rest, parsed) => {
      const { options: o, args } = splitAfterName(rest, parsed);
      if (o.command !== undefined && args.length > 0) {
        throw usageError("Give either -c COMMAND or a command after --, not both");
      }
      if (o.timeout !== undefined && o.wait !== undefined) {
        throw usageError("Give --timeout or --wait, not both");
      }
      const command = o.command !== undefined ? ["/bin/sh", "-c", o.command] : args;
      if (command.length === 0) throw usageError("Missing command to run");
      const badName = checkLockName(name);
      if (badName) throw usageError(`Invalid lock name: ${badName}`);
      parseTimeout(o.timeout ?? o.wait);
      parseConflictCode(o.conflictExitCode);
      const runDir = path.resolve(o.runDir ?? defaultRunDir());
      const socketPath = o.socket ? path.resolve(o.socket) : lockdSocketPath(runDir);
      const shown = o.command ?? shellWords(args);
      const client = new LockClient({ runDir, socketPath, command: shown });
      try {
        const held = await acquire(client, name, o);
        if (typeof held === "number") {
          process.exitCode = held;
          return;
        }
        let lost = false;
        client.onEvent((e) => {
          if (e.event === "disconnected" && !lost) {
            lost = true;
            process.stderr.write(
              `steward: lost the lock manager (${
                String(e.reason)
              }); lock no longer held: ${name}\n`,
            );
          }
        });
        // For `lockd status`: the pid of the command, not only of steward.
        const status = await runCommand(command, (pid) => {
          void held.annotate({ commandPid: pid, command: shown });
        });
        // A round trip proves the lock was still held when the command ended.
        const kept = !lost && await held.verify().then(() => true, () => false);
        await held[Symbol.asyncDispose]();
        if (!kept) {
          process.stderr.write(
            `steward: the lock was lost while the command ran (its status was ${status}): ${
              JSON.stringify(name).slice(1, -1)
            }\n`,
          );
          process.exitCode = LOCK_EXIT.LOST;
        } else process.exitCode = status;
      } finally {
        client.close();
      }
    });
}

type ValueKey = "timeout" | "wait" | "conflictExitCode" | "command" | "runDir" | "socket";
type FlagKey = "shared" | "exclusive" | "nonblock";

const FLAGS: Record<string, FlagKey> = {
  "-s": "shared",
  "--shared": "shared",
  "-x": "exclusive",
  "--exclusive": "exclusive",
  "-n": "nonblock",
  "--nonblock": "nonblock",
};
const VALUES: Record<string, ValueKey> = {
  "-w": "timeout",
  "--timeout": "timeout",
  "--wait": "wait",
  "-E": "conflictExitCode",
  "--conflict-exit-code": "conflictExitCode",
  "-c": "command",
  "--command": "command",
  "--run-dir": "runDir",
  "--socket": "socket",
};

function hint(word: string): CliError {
  return usageError(
    `Unknown option after the lock name: ${word} (options of the command go after --: ` +
      `steward lock run [OPTIONS] NAME -- COMMAND ${word} ...)`,
  );
}

/**
 * Everything after NAME arrives unparsed (flock's rule: `lock run NAME ls -l` runs `ls -l`).
 * Options may still come between NAME and `--`, and `NAME -c 'CMD'` is flock's shell form;
 * any other word starting with "-" right after NAME is refused with a hint at `--`.
 */
export function splitAfterName(
  rest: readonly string[],
  before: RunOptions,
): { options: RunOptions; args: string[] } {
  const o: RunOptions = { ...before };
  const dash = rest.indexOf("--");
  const first = rest[0];
  if (dash < 0) {
    if (first === undefined || !first.startsWith("-")) return { options: o, args: [...rest] };
    if (first !== "-c" && first !== "--command" && !first.startsWith("--command=")) {
      throw hint(first);
    }
  }
  const words = dash < 0 ? [...rest] : rest.slice(0, dash);
  const args = dash < 0 ? [] : rest.slice(dash + 1);
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const eq = w.startsWith("--") ? w.indexOf("=") : -1;
    const flag = eq > 0 ? w.slice(0, eq) : w;
    const flagKey = FLAGS[flag];
    const valueKey = VALUES[flag] ??
      (w.length > 2 && !w.startsWith("--") ? VALUES[w.slice(0, 2)] : undefined);
    if (flagKey && eq < 0) {
      o[flagKey] = true;
    } else if (valueKey) {
      let value: string | undefined;
      if (eq > 0) value = w.slice(eq + 1);
      else if (VALUES[flag]) value = words[++i];
      else value = w.slice(2); // -w5
      if (value === undefined) throw usageError(`Missing value for ${flag}`);
      o[valueKey] = value;
    } else if (/^-[sxn]{2,}$/.test(w)) {
      for (const c of w.slice(1)) o[FLAGS[`-${c}`] as FlagKey] = true;
    } else {
      throw hint(w);
    }
  }
  if (o.shared && o.exclusive) throw usageError("Give --shared or --exclusive, not both");
  if (dash < 0 && o.command === undefined) throw hint(first as string);
  return { options: o, args };
}
