/**
 * dhcp test helpers: a private lock manager per test file (started on demand in a temporary run
 * directory and stopped afterwards), and running a test script in a child process under the
 * current runtime.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { isDeno } from "../../lib/platform/runtime.ts";
import { ROOT } from "../helpers.ts";

// The same private lock manager the published conformance suite uses.
export { type TestLockd, testLockd } from "../../lib/dhcp/testing/support.ts";

/** Command line that runs the TypeScript file `script` with `args` under the current runtime. */
export function scriptCommand(
  script: string,
  args: readonly string[],
): { command: string; args: string[] } {
  if (isDeno()) {
    const d = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    return {
      command: d.execPath(),
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--no-check",
        `--config=${path.join(ROOT, "deno.json")}`,
        "--allow-read=.",
        "--allow-write=.tmp",
        "--allow-net",
        "--allow-env",
        "--allow-run",
        "--allow-sys",
        script,
        ...args,
      ],
    };
  }
  return { command: process.execPath, args: [script, ...args] };
}

/** Result of {@link runScript}. */
export interface ScriptResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Run a test script to completion (killed after `timeoutMs`). */
export function runScript(
  script: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<ScriptResult> {
  const c = scriptCommand(script, args);
  return new Promise((resolve) => {
    const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
