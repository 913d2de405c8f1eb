/**
 * Starting the lock manager as a separate process: the command line, the Deno permission scope
 * (the run directory, the socket, the defaults file, nothing else), the run directory made
 * beforehand and the detached start (lib/platform/start-wait.ts).
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { pidAlive } from "../platform/pid.ts";
import { ensurePrivateDir, RunDirError } from "../platform/rundir.ts";
import { type DenoPermissions, selfCommand } from "../platform/runtime.ts";
import { startDetached } from "../platform/start-wait.ts";
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

/** Where a daemon started in the background writes its start-up errors: `<run dir>/lockd.stderr`. */
export function lockdStderrFile(o: LockdStartOptions): string {
  return path.join(path.resolve(o.runDir), "lockd.stderr");
}

/**
 * Create the run directory (and the socket's directory when it is elsewhere) as the daemon
 * would, before starting one, so that a directory that cannot be made or used is reported at
 * once with its reason (RunDirError). False when this process may not look (Deno's
 * permissions): then the daemon finds out, and its start-up errors cannot be kept.
 */
export function prepareLockdDirs(o: LockdStartOptions): boolean {
  const runDir = path.resolve(o.runDir);
  const socketDir = path.dirname(path.resolve(o.socketPath));
  try {
    ensurePrivateDir(runDir);
    if (socketDir !== runDir) ensurePrivateDir(socketDir);
    return true;
  } catch (e) {
    if (e instanceof RunDirError) throw e;
    return false;
  }
}

/** Options of {@link startLockd}. */
export interface StartLockdOptions {
  /** Arguments after the `lockd --foreground …` ones. */
  extraArgs?: string[];
  /** Whether the daemon with this pid is ready (see startDetached). */
  ready: (pid: number) => boolean | Promise<boolean>;
  /** Keep its start-up errors in {@link lockdStderrFile} (the run directory must exist). */
  keepStderr: boolean;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Kill a daemon that is not ready in time. */
  killOnTimeout?: boolean;
}

/**
 * Start a daemon in its own session, detached from the caller, and wait until `ready` says so
 * (startDetached: DaemonStartError with its exit code and reason when it exits first). It runs
 * with `--notify-ready`, so that once ready it stops logging to its standard error (the start-up
 * errors file) unless it has a log file.
 */
export function startLockd(o: LockdStartOptions, options: StartLockdOptions): Promise<number> {
  const c = selfCommand(
    [...lockdArgs(o), "--notify-ready", ...(options.extraArgs ?? [])],
    lockdPermissions(o),
  );
  return startDetached({
    command: c.command,
    args: c.args,
    env: inheritedEnv(),
    cwd: "/",
    stderrFile: options.keepStderr ? lockdStderrFile(o) : undefined,
    ready: options.ready,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.killOnTimeout !== undefined ? { killOnTimeout: options.killOnTimeout } : {}),
  });
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
  // Alive under another user counts; when it cannot be told, trust the age.
  return pidAlive(pid, { unknown: true });
}

/** Remove the start marker if it is still the one this process made. */
export function releaseStartMarker(marker: string): void {
  try {
    if (fs.readFileSync(marker, "utf8") === String(process.pid)) fs.unlinkSync(marker);
  } catch { /* gone already */ }
}
