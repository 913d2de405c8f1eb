/**
 * Starting the lock manager as a separate process: the command line, the Deno permission scope
 * (the run directory, the socket, the defaults file, nothing else) and the detached spawn.
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
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
  // The log and the file it rotates to.
  const logs = o.logFile === undefined
    ? []
    : [path.resolve(o.logFile), `${path.resolve(o.logFile)}.1`];
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

/**
 * The marker a client creates while it starts a daemon for `socketPath`, so that of many clients
 * finding no daemon at the same instant only one starts it and the others wait for it.
 */
export function startMarkerPath(socketPath: string): string {
  const abs = path.resolve(socketPath);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.starting`);
}

/**
 * Create the start marker, holding this process's pid. "mine": created, start the daemon and
 * remove it afterwards; "taken": another live client is starting one (within `freshMs`);
 * "unusable": the marker cannot be made here (no directory yet, no permission), start anyway.
 */
export function claimStartMarker(marker: string, freshMs: number): "mine" | "taken" | "unusable" {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(marker, String(process.pid), { flag: "wx", mode: 0o600 });
      return "mine";
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return "unusable";
    }
    if (startMarkerLive(marker, freshMs)) return "taken";
    // Left by a starter that died, or older than any start takes: replace it.
    try {
      fs.unlinkSync(marker);
    } catch { /* another client replaced it first */ }
  }
  return "unusable";
}

/** Whether a start marker exists, is younger than `freshMs` and its creator still runs. */
export function startMarkerLive(marker: string, freshMs: number): boolean {
  let text: string;
  try {
    if (Date.now() - fs.statSync(marker).mtimeMs > freshMs) return false;
    text = fs.readFileSync(marker, "utf8");
  } catch {
    return false;
  }
  const pid = Number(text);
  if (!Number.isSafeInteger(pid) || pid <= 0) return text === ""; // being written right now
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive under another user; anything else but ESRCH (e.g. Deno without
    // --allow-run): cannot tell, so trust the age.
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Remove the start marker if it is still the one this process made. */
export function releaseStartMarker(marker: string): void {
  try {
    if (fs.readFileSync(marker, "utf8") === String(process.pid)) fs.unlinkSync(marker);
  } catch { /* gone already */ }
}
