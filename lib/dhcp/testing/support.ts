/**
 * What the conformance suite needs around it: a private temporary directory, a private lock
 * manager in it, and running the stress worker in child processes of the current runtime.
 * @internal
 * @module
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient } from "../../lockd/client.ts";
import { pidAlive, sendSignal } from "../../platform/pid.ts";
import { isDeno } from "../../platform/runtime.ts";

// A process that cannot be told apart from a live one counts as gone: nothing to stop.
const alive = (pid: number) => pidAlive(pid, { unknown: false });

/** A temporary directory removed by `using`. */
export interface TempDir extends Disposable {
  path: string;
}

/** A private (mode 0700) temporary directory under `root` (default the system's). */
export function tempDir(prefix: string, root: string = os.tmpdir()): TempDir {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = fs.mkdtempSync(path.join(root, `${prefix}-`));
  fs.chmodSync(dir, 0o700);
  return { path: dir, [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A lock manager private to one suite. */
export interface TestLockd {
  runDir: string;
  client: LockClient;
  /** A second connection, to hold locks that make the store busy. */
  holder: LockClient;
  /** Close the clients and stop the daemon they started. */
  stop(): Promise<void>;
}

/**
 * A lock manager (started on demand) whose socket lives in `<dir>/run`; with `cache` the store's
 * client caches its grants (the holder never does: it stands for another process).
 */
export function testLockd(dir: string, options: { cache?: boolean } = {}): TestLockd {
  const runDir = path.join(dir, "run");
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const client = new LockClient({ runDir, cache: options.cache === true });
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
        sendSignal(pid, "SIGTERM");
        for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
        if (alive(pid)) sendSignal(pid, "SIGKILL");
      }
    },
  };
}

/** Result of {@link runWorker}. */
export interface WorkerResult {
  code: number | null;
  stderr: string;
  stdout: string;
}

/** The stress worker next to this file (`.ts` in the sources, `.js` in the npm package). */
function workerFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const ts = path.join(here, "stress-worker.ts");
  return fs.existsSync(ts) ? ts : path.join(here, "stress-worker.js");
}

/** Run the stress worker with `arg` under the current runtime (killed after `timeoutMs`). */
export function runWorker(arg: string, writable: string, timeoutMs: number): Promise<WorkerResult> {
  const file = workerFile();
  let command = process.execPath;
  let args = [file, arg];
  if (isDeno()) {
    const d = (globalThis as unknown as { Deno: { execPath(): string } }).Deno;
    command = d.execPath();
    args = [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-check",
      "--allow-read",
      `--allow-write=${writable}`,
      "--allow-net",
      "--allow-env",
      "--allow-run",
      "--allow-sys",
      file,
      arg,
    ];
  }
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
