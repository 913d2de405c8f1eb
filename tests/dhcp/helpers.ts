/**
 * dhcp test helpers: a private lock manager per test file (started on demand in a temporary run
 * directory and stopped afterwards), and running a test script in a child process under the
 * current runtime.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient } from "../../lib/lockd/client.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import { alive, ROOT } from "../helpers.ts";

/** A lock manager for one test file. */
export interface TestLockd {
  runDir: string;
  client: LockClient;
  /** A second connection, to hold locks that make the store busy. */
  holder: LockClient;
  /** Close the clients and stop the daemon they started. */
  stop(): Promise<void>;
}

/** Start (on demand) a lock manager whose socket lives in `<dir>/run`. */
export function testLockd(dir: string): TestLockd {
  const runDir = path.join(dir, "run");
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const client = new LockClient({ runDir });
  const holder = new LockClient({ runDir });
  return {
    runDir,
    client,
    holder,
    async stop() {
      let pid = client.daemonPid || holder.daemonPid;
      if (!pid) {
        const probe = new LockClient({ runDir, autoStart: false });
        try {
          pid = (await probe.status()).pid;
        } catch {
          /* no daemon was started */
        } finally {
          probe.close();
        }
      }
      client.close();
      holder.close();
      if (pid && alive(pid)) {
        process.kill(pid, "SIGTERM");
        for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
        if (alive(pid)) process.kill(pid, "SIGKILL");
      }
    },
  };
}

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
