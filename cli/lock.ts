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
import { lockdSocketPath } from "../lib/lockd/daemon.ts";
import { checkLockName } from "../lib/lockd/protocol.ts";
import { defaultRunDir } from "../lib/platform/rundir.ts";
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

interface RunOptions {
  shared?: boolean;
  exclusive?: boolean;
  nonblock?: boolean;
  timeout?: string;
  runDir?: string;
  socket?: string;
}

async function acquire(
  client: LockClient,
  name: string,
  o: RunOptions,
): Promise<LockHandle | number> {
  const timeoutMs = parseTimeout(o.timeout);
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
        throw new CliError(`Lock is busy: ${shown}`, LOCK_EXIT.BUSY);
      case "TIMEOUT":
        throw new CliError(
          `Timed out after ${o.timeout} s waiting for lock: ${shown}`,
          LOCK_EXIT.TIMEOUT,
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

function runCommand(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit" });
    const forward = (sig: NodeJS.Signals) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, sig);
        } catch { /* already gone */ }
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
    .helpCommand(false);
  lock.command("run")
    .description(
      "Hold lock NAME while COMMAND runs (no shell), then release it; exit with COMMAND's status",
    )
    .argument("<name>", "lock name (1 to 1024 bytes)")
    .argument(
      "<command...>",
      "the command and its arguments (put -- before a command with options)",
    )
    .addOption(new Option("--shared", "take a shared (reader) lock").conflicts("exclusive"))
    .addOption(new Option("--exclusive", "take an exclusive (writer) lock (the default)"))
    .option("--nonblock", `fail at once with exit ${LOCK_EXIT.BUSY} when the lock is busy`)
    .option(
      "--timeout <seconds>",
      `give up with exit ${LOCK_EXIT.TIMEOUT} after waiting this long`,
    )
    .option("--run-dir <dir>", "run directory of the lock manager (default: per user)")
    .option("--socket <path>", "socket path (default: <run-dir>/lockd.sock)")
    .addHelpText(
      "after",
      `
Exit codes: COMMAND's own status (128+N when killed by signal N); ${LOCK_EXIT.BUSY} busy with --nonblock;
${LOCK_EXIT.TIMEOUT} timed out; ${LOCK_EXIT.NO_LOCKMGR} no lock manager; ${LOCK_EXIT.CANNOT_RUN} COMMAND cannot be run; ${LOCK_EXIT.NOT_FOUND} COMMAND not found;
${LOCK_EXIT.LOST} the lock was lost while COMMAND ran (lock manager stopped or died); 2 usage error; 1 other failure.

Example: steward lock run --timeout 30 backup/nightly -- rsync -a /srv/ /backup/`,
    )
    .action(async (name, command, o) => {
      if (command.length === 0) throw usageError("Missing command to run");
      const badName = checkLockName(name);
      if (badName) throw usageError(`Invalid lock name: ${badName}`);
      parseTimeout(o.timeout);
      const runDir = path.resolve(o.runDir ?? defaultRunDir());
      const socketPath = o.socket ? path.resolve(o.socket) : lockdSocketPath(runDir);
      const client = new LockClient({ runDir, socketPath });
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
        const status = await runCommand(command);
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
