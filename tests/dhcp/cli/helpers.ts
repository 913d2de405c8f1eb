/**
 * Helpers of the dhcp command-line tests: a private copy of the example store, a private lock
 * manager run directory, and running the built binary against them.
 * @internal
 */
import fs from "node:fs";
import path from "node:path";
import { LockClient } from "../../../lib/lockd/client.ts";
import {
  alive,
  ROOT,
  type RunResult,
  runSteward,
  tempDir,
  type Via,
  waitFor,
} from "../../helpers.ts";

/** A temporary copy of examples/dhcp with its own run directory. */
export interface DhcpSandbox {
  dir: string;
  conf: string;
  store: string;
  runDir: string;
  env: Record<string, string>;
  /** Run steward with the sandbox's environment. */
  run(
    args: readonly string[],
    options?: { input?: string; via?: Via; env?: Record<string, string> },
  ): Promise<RunResult>;
  /** Stop the lock manager the commands started, then remove the directory. */
  dispose(): Promise<void>;
}

/**
 * Stop the lock manager that commands started on demand in `runDir`, in-process (so a binary
 * being rebuilt meanwhile cannot leave it running), and kill it if it does not go.
 */
export async function stopLockd(runDir: string): Promise<void> {
  if (!fs.existsSync(path.join(runDir, "lockd.sock"))) return;
  const client = new LockClient({ runDir, autoStart: false });
  let pid: number | undefined;
  try {
    pid = await client.stopDaemon();
  } catch {
    return; // no daemon answers: nothing is running there
  } finally {
    client.close();
  }
  if (pid !== undefined && pid > 0) {
    try {
      await waitFor(() => !alive(pid as number), 5000, `lockd ${pid} to exit`);
    } catch {
      process.kill(pid, "SIGKILL");
    }
  }
}

/** Copy a directory tree (fs.cpSync needs read access above the repository under Deno). */
function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyTree(path.join(from, e.name), path.join(to, e.name));
    else fs.copyFileSync(path.join(from, e.name), path.join(to, e.name));
  }
}

/** Copy the example store into a fresh temporary directory. */
export function dhcpSandbox(prefix: string): DhcpSandbox {
  const tmp = tempDir(prefix);
  const base = tmp.path;
  const dir = path.join(base, "example");
  try {
    copyTree(path.join(ROOT, "examples", "dhcp"), dir);
  } catch (e) {
    tmp[Symbol.dispose]();
    throw e;
  }
  const runDir = path.join(base, "run");
  const env = {
    STEWARD_DHCPSVC_CONF: path.join(dir, "dhcpsvc.conf"),
    STEWARD_RUN_DIR: runDir,
    TZ: "UTC",
  };
  return {
    dir,
    conf: env.STEWARD_DHCPSVC_CONF,
    store: path.join(dir, "var-dhcp"),
    runDir,
    env,
    run: (args, o = {}) =>
      runSteward(args, {
        via: o.via ?? "binary",
        env: { ...env, ...o.env },
        ...(o.input !== undefined ? { input: o.input } : {}),
      }),
    dispose: async () => {
      try {
        await stopLockd(runDir);
      } finally {
        tmp[Symbol.dispose]();
      }
    },
  };
}

/** The bytes of every file of a directory, to prove that a command changed nothing. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = fs.readFileSync(path.join(dir, f), "latin1");
  return out;
}
