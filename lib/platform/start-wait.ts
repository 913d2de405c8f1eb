/**
 * Start a daemon detached (its own session, no terminal) and wait until it says it is ready, or
 * report why it could not start: its exit code and what it wrote to standard error. One helper
 * for every service that starts itself in the background.
 * @internal
 * @module
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Raised when the daemon exits before it is ready, or is not ready in time. */
export class DaemonStartError extends Error {
  override name = "DaemonStartError";
  /** The daemon's exit code (1 when it did not exit, or exited by a signal). */
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Options of {@link startDetached}. */
export interface StartDetachedOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Where the daemon's standard error goes (a file, never a pipe: it outlives the caller). */
  stderrFile: string;
  /** Whether the daemon (with this pid) is ready; polled until it is. */
  ready: (pid: number) => boolean | Promise<boolean>;
  /** How long to wait (default 15 s). */
  timeoutMs?: number;
  /** How often to ask `ready` (default 25 ms). */
  pollMs?: number;
}

/** Spawn the daemon detached and resolve with its pid once `ready` says so. */
export async function startDetached(options: StartDetachedOptions): Promise<number> {
  const errFd = fs.openSync(options.stderrFile, "w", 0o600);
  let child;
  try {
    child = spawn(options.command, [...options.args], {
      detached: true,
      stdio: ["ignore", "ignore", errFd],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
  } finally {
    fs.closeSync(errFd);
  }
  const stderr = () => {
    try {
      return fs.readFileSync(options.stderrFile, "utf8").trim();
    } catch {
      return "";
    }
  };
  let exit: number | null | undefined;
  let spawnError: Error | undefined;
  child.once("exit", (code) => (exit = code));
  child.once("error", (e) => (spawnError = e));
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw new DaemonStartError(`Cannot start the daemon: ${spawnError.message}`, 1);
    if (exit !== undefined) {
      throw new DaemonStartError(stderr() || `daemon exited with code ${exit}`, exit ?? 1);
    }
    if (child.pid !== undefined && (await options.ready(child.pid))) break;
    if (Date.now() > deadline) {
      throw new DaemonStartError(
        `Daemon did not start within ${Math.round(timeoutMs / 1000)} s (pid ${child.pid})`,
        1,
      );
    }
    await sleep(options.pollMs ?? 25);
  }
  child.unref();
  return child.pid as number;
}
