/**
 * Starting the lock manager as a separate process: the command line, the Deno permission scope
 * (the run directory, the socket, the defaults file, nothing else) and the detached spawn.
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { type DenoPermissions, selfCommand } from "../platform/runtime.ts";
import { LOCKD_DEFAULTS_FILE } from "./defaults.ts";

/** How to start a daemon. */
export interface LockdStartOptions {
  runDir: string;
  socketPath: string;
  idleMinutes?: number | undefined;
  defaultsFile?: string | undefined;
  logFile?: string | undefined;
}

/** The `steward lockd --foreground …` arguments for `o`. */
export function lockdArgs(o: LockdStartOptions): string[] {
  const args = ["lockd", "--foreground", "--run-dir", path.resolve(o.runDir)];
  if (path.resolve(o.socketPath) !== path.join(path.resolve(o.runDir), "lockd.sock")) {
    args.push("--socket", path.resolve(o.socketPath));
  }
  if (o.idleMinutes !== undefined) args.push("--idle", String(o.idleMinutes));
  if (o.defaultsFile !== undefined) args.push("--defaults", path.resolve(o.defaultsFile));
  if (o.logFile !== undefined) args.push("--log-file", path.resolve(o.logFile));
  return args;
}

/** The narrowest Deno permissions the daemon runs with. */
export function lockdPermissions(o: LockdStartOptions): DenoPermissions {
  const runDir = path.resolve(o.runDir);
  const socketDir = path.dirname(path.resolve(o.socketPath));
  const dirs = socketDir === runDir ? [runDir] : [runDir, socketDir];
  const logs = o.logFile === undefined ? [] : [path.resolve(o.logFile)];
  return {
    read: [...dirs, path.resolve(o.defaultsFile ?? LOCKD_DEFAULTS_FILE), ...logs],
    write: [...dirs, ...logs],
    unixSockets: [path.resolve(o.socketPath)],
    // The run directory's owner is checked against our uid: without this Deno hides it.
    sys: ["uid"],
    // Crosshost requests: /bin/sh runs a fixed script that opens the lock file and execs flock(1).
    run: ["/bin/sh"],
    // Deno's node:child_process reads this one variable when it spawns.
    env: ["NODE_V8_COVERAGE"],
  };
}

// A Deno client without --allow-env cannot pass its environment on; the daemon needs none.
function inheritedEnv(): NodeJS.ProcessEnv {
  try {
    return { ...process.env };
  } catch {
    return {};
  }
}

/**
 * Spawn a daemon in its own session, detached from the caller. With `stdio: "pipe"` the caller
 * can read its start-up output; otherwise it inherits nothing.
 */
export function spawnLockd(
  o: LockdStartOptions,
  options: { extraArgs?: string[]; stdio?: "pipe" | "ignore" } = {},
): ChildProcess {
  const c = selfCommand([...lockdArgs(o), ...(options.extraArgs ?? [])], lockdPermissions(o));
  const child = spawn(c.command, c.args, {
    env: inheritedEnv(),
    detached: true,
    cwd: "/",
    stdio: options.stdio === "pipe" ? ["ignore", "pipe", "pipe"] : "ignore",
  });
  child.on("error", () => {/* reported by the caller's connect attempts */});
  return child;
}
