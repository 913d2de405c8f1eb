/**
 * Test harness for lockd: private run directories under .tmp/, daemons started as real
 * processes with Deno permissions scoped to their run directory, helper processes that hold
 * locks, and cleanup that leaves nothing running.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { identifyLockd } from "../../lib/lockd/client.ts";
import { lockdPermissions } from "../../lib/lockd/start.ts";
import { denoPermissionFlags, isDeno } from "../../lib/platform/runtime.ts";
import { BINARY, exited, ROOT, spawnSteward, TMP_ROOT, type Via, waitFor } from "../helpers.ts";

/** A run directory for one test, with the daemons and helpers started in it. */
export interface LockdSandbox extends AsyncDisposable {
  readonly dir: string;
  readonly socket: string;
  readonly defaults: string;
  /** Processes to kill (SIGKILL, whole group) at dispose. */
  track(child: ChildProcess): ChildProcess;
  /** Pids to kill at dispose (daemons started detached). */
  trackPid(pid: number): void;
}

/** Pids of processes whose command line contains `text` (empty where pgrep is missing). */
export function processesNaming(text: string): number[] {
  try {
    return execFileSync("pgrep", ["-f", "--", text], { encoding: "utf8" })
      .split("\n").filter(Boolean).map(Number).filter((p) => p !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Make a sandbox: `await using box = sandbox("x")`. */
export function sandbox(prefix = "lockd"): LockdSandbox {
  fs.mkdirSync(TMP_ROOT, { recursive: true, mode: 0o700 });
  const dir = fs.mkdtempSync(path.join(TMP_ROOT, `${prefix}-`));
  fs.chmodSync(dir, 0o700);
  const socket = path.join(dir, "lockd.sock");
  // Tests never read the machine's /etc/default: every daemon gets this file.
  const defaults = path.join(dir, "defaults");
  fs.writeFileSync(defaults, "# lockd defaults for a test\n");
  const children: ChildProcess[] = [];
  const pids = new Set<number>();
  return {
    dir,
    socket,
    defaults,
    track(child) {
      children.push(child);
      return child;
    },
    trackPid(pid) {
      pids.add(pid);
    },
    async [Symbol.asyncDispose]() {
      const daemon = await identifyLockd(socket, 500);
      if (daemon !== undefined) pids.add(daemon);
      for (const c of children) {
        if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) pids.add(c.pid);
      }
      // Daemons started on demand that lost the race, or are still starting, are found by the
      // run directory on their command line: none may outlive the test (and recreate its dir).
      for (const pid of processesNaming(`--run-dir ${dir}`)) pids.add(pid);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      // SIGKILL cannot be refused; a daemon re-parented to init may linger as a zombie, so
      // waiting for it would only measure how often init reaps.
      await Promise.all(children.map((c) => exited(c, 5000)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Arguments that start a foreground daemon in `box`. */
export function daemonArgs(box: LockdSandbox, extra: string[] = []): string[] {
  return ["lockd", "--foreground", "--run-dir", box.dir, "--defaults", box.defaults, ...extra];
}

/** Start a foreground daemon (from source or the binary) and wait until it answers. */
export async function startDaemon(
  box: LockdSandbox,
  options: { via?: Via; extra?: string[]; defaultsFile?: string } = {},
): Promise<{ child: ChildProcess; pid: number; stderr: () => string }> {
  const args = ["lockd", "--foreground", "--run-dir", box.dir, "--defaults"];
  args.push(options.defaultsFile ?? box.defaults, ...(options.extra ?? []));
  const child = box.track(spawnSteward(args, {
    via: options.via ?? "source",
    permissions: lockdPermissions({
      runDir: box.dir,
      socketPath: box.socket,
      defaultsFile: options.defaultsFile ?? box.defaults,
    }),
  }));
  let err = "";
  child.stderr?.on("data", (d) => (err += d));
  child.stdout?.resume();
  const pid = await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`lockd exited early: ${err}`);
      const p = await identifyLockd(box.socket, 500);
      return p === child.pid ? p : undefined;
    },
    15_000,
    "lockd to answer",
  );
  return { child, pid, stderr: () => err };
}

/** The command line that runs a test fixture script under the current runtime. */
export function fixtureCommand(
  file: string,
  args: string[],
  socket: string,
): { command: string; args: string[] } {
  const script = path.join(ROOT, "tests", "lockd", "fixtures", file);
  if (!isDeno()) return { command: process.execPath, args: [script, ...args] };
  return {
    command: process.execPath,
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${path.join(ROOT, "deno.json")}`,
      ...denoPermissionFlags({ unixSockets: [socket] }),
      script,
      ...args,
    ],
  };
}

/**
 * A process that takes lock `name` on `box`'s daemon and prints "held <epoch ms>" once granted:
 * a LockClient, or with `raw` a minimal protocol speaker that starts faster. `held` resolves
 * with that time, as the holder saw it (comparable with {@link epochNow}).
 */
export function spawnHolder(
  box: LockdSandbox,
  name: string,
  options: { mode?: "shared" | "exclusive"; raw?: boolean } = {},
): ChildProcess & { held: Promise<number> } {
  const c = options.raw
    ? fixtureCommand("raw-holder.ts", [box.socket, name], box.socket)
    : fixtureCommand("holder.ts", [box.socket, name, options.mode ?? "exclusive"], box.socket);
  const child = box.track(spawn(c.command, c.args, { stdio: ["ignore", "pipe", "pipe"] }));
  let out = "";
  let err = "";
  const held = new Promise<number>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /^held ([\d.]+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr?.on("data", (d) => (err += d));
    child.once("exit", (code, sig) => reject(new Error(`holder exited (${code ?? sig}): ${err}`)));
  });
  held.catch(() => {});
  return Object.assign(child, { held });
}

/** Wall-clock time in ms with sub-millisecond precision, comparable across processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The built binary, for end-to-end tests. */
export const STEWARD_BINARY = BINARY;
