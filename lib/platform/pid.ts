/**
 * Process liveness and signals, with one policy for Deno's `NotCapable` (a scoped `--allow-run`
 * refuses `kill()`, even signal 0): ask the `kill` program instead, and where that is not
 * possible either, look for `/proc/<pid>`; only then is the answer "unknown".
 * @internal
 * @module
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** What is known about a process. */
export type PidState = "alive" | "gone" | "unknown";

function notCapable(e: unknown): boolean {
  return (e as Error)?.name === "NotCapable";
}

/** Run `kill ARGS`; true when it exited 0, false when it failed, undefined when it cannot run. */
function killProgram(args: string[]): boolean | undefined {
  try {
    execFileSync("kill", args, { stdio: "ignore", timeout: 5000 });
    return true;
  } catch (e) {
    if (notCapable(e) || (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return false;
  }
}

/** Whether `pid` exists (a process of another user counts: EPERM means it exists). */
export function pidState(pid: number): PidState {
  if (!Number.isSafeInteger(pid) || pid <= 0) return "gone";
  try {
    process.kill(pid, 0);
    return "alive";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPERM") return "alive";
    if (code === "ESRCH") return "gone";
    if (!notCapable(e)) return "gone";
  }
  const viaKill = killProgram(["-0", String(pid)]);
  if (viaKill === true) return "alive";
  try {
    fs.statSync(`/proc/${pid}`);
    return "alive";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
  }
  // kill(1) failing may mean "not permitted": without /proc there is no telling.
  return viaKill === false ? "gone" : "unknown";
}

/** Whether `pid` is alive; `unknown` (default true) decides when it cannot be told. */
export function pidAlive(pid: number, options: { unknown?: boolean } = {}): boolean {
  const s = pidState(pid);
  return s === "unknown" ? (options.unknown ?? true) : s === "alive";
}

/**
 * Send `sig` to `target` (a pid, or a negative process-group id); false when it could not be
 * sent (gone, not permitted). Under a scoped Deno the `kill` program sends it.
 */
export function sendSignal(target: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(target, sig);
    return true;
  } catch (e) {
    if (!notCapable(e)) return false;
  }
  return killProgram(["-s", sig.replace(/^SIG/, ""), "--", String(target)]) === true;
}
