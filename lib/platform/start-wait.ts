/**
 * Start a daemon detached (its own session, no terminal) and wait until it says it is ready, or
 * report why it could not start: its exit code and what it wrote to standard error. One helper
 * for every service that starts itself in the background.
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { sendSignal } from "./pid.ts";

/**
 * How a start failed: the daemon could not be spawned, it exited before it was ready, or it was
 * not ready in time.
 */
export type DaemonStartFailure = "spawn" | "exit" | "timeout";

/** Raised when the daemon exits before it is ready, or is not ready in time. */
export class DaemonStartError extends Error {
  override name = "DaemonStartError";
  /** The daemon's exit code (1 when it did not exit, or exited by a signal). */
  readonly exitCode: number;
  /** Which way the start failed. */
  readonly failure: DaemonStartFailure;
  /** What the daemon wrote to standard error (trimmed; empty when nothing or not kept). */
  readonly stderr: string;
  /** The daemon's pid, when it was spawned. */
  readonly pid: number | undefined;
  constructor(
    message: string,
    exitCode: number,
    details: {
      failure?: DaemonStartFailure;
      stderr?: string;
      pid?: number | undefined;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.exitCode = exitCode;
    this.failure = details.failure ?? "exit";
    this.stderr = details.stderr ?? "";
    this.pid = details.pid;
  }
}

/** Options of {@link startDetached}. */
export interface StartDetachedOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  /** The daemon's environment (default: this process's). */
  env?: Record<string, string | undefined>;
  /**
   * Where the daemon's standard error goes (a file, never a pipe: it outlives the caller);
   * undefined: nowhere (then a start failure can only report the exit code).
   */
  stderrFile?: string | undefined;
  /**
   * Whether the daemon (with this pid) is ready; polled until it is. What it throws ends the
   * wait (the daemon is left running) and is thrown on.
   */
  ready: (pid: number) => boolean | Promise<boolean>;
  /** How long to wait (default 15 s). */
  timeoutMs?: number;
  /** How often to ask `ready` (default 25 ms). */
  pollMs?: number;
  /** Kill the daemon (SIGKILL) when it is not ready in time (default: leave it running). */
  killOnTimeout?: boolean;
}

/**
 * The reason a daemon gave on standard error: its last line that is not a usage hint
 * ("(run … --help …)"), without a leading `steward: `; undefined when it wrote nothing.
 */
export function startErrorReason(stderr: string): string | undefined {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("(run ")
  );
  const last = lines.at(-1);
  return last === undefined ? undefined : last.replace(/^steward: /, "");
}

/**
 * Spawn the daemon detached and resolve with its pid once `ready` says so. A spawn that fails at
 * once (no such program; under Deno, no --allow-run) throws its own error.
 */
export async function startDetached(options: StartDetachedOptions): Promise<number> {
  const errFd = options.stderrFile === undefined
    ? undefined
    : fs.openSync(options.stderrFile, "w", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      detached: true,
      stdio: ["ignore", "ignore", errFd ?? "ignore"],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
  } finally {
    if (errFd !== undefined) fs.closeSync(errFd);
  }
  const stderr = () => {
    if (options.stderrFile === undefined) return "";
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
  try {
    for (;;) {
      if (spawnError) {
        throw new DaemonStartError(`Cannot start the daemon: ${spawnError.message}`, 1, {
          failure: "spawn",
          cause: spawnError,
        });
      }
      if (exit !== undefined) {
        const text = stderr();
        throw new DaemonStartError(text || `daemon exited with code ${exit}`, exit ?? 1, {
          failure: "exit",
          stderr: text,
          pid: child.pid,
        });
      }
      if (child.pid !== undefined && (await options.ready(child.pid))) break;
      if (Date.now() > deadline) {
        if (options.killOnTimeout && child.pid !== undefined) sendSignal(child.pid, "SIGKILL");
        throw new DaemonStartError(
          `Daemon did not start within ${Math.round(timeoutMs / 1000)} s (pid ${child.pid})`,
          1,
          { failure: "timeout", stderr: stderr(), pid: child.pid },
        );
      }
      await sleep(options.pollMs ?? 25);
    }
  } finally {
    // Whatever the outcome, the daemon never keeps this process alive.
    child.unref();
  }
  return child.pid as number;
}
