/**
 * Shared test helpers: temporary directories inside the repository's .tmp/ (so Deno's
 * permissions can stay scoped), running steward from source or as the built binary, waiting.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { type DenoPermissions, isDeno, selfCommand } from "../lib/platform/runtime.ts";

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The built single binary. */
export const BINARY = path.join(ROOT, "dist", "steward");
/** Where tests make their temporary directories. */
export const TMP_ROOT = path.join(ROOT, ".tmp");

/** A private temporary directory that `using` removes at the end of its scope. */
export interface TempDir extends Disposable {
  readonly path: string;
}

/** A fresh private temporary directory under .tmp/: `using tmp = tempDir("x"); tmp.path`. */
export function tempDir(prefix = "t"): TempDir {
  fs.mkdirSync(TMP_ROOT, { recursive: true, mode: 0o700 });
  const dir = fs.mkdtempSync(path.join(TMP_ROOT, `${prefix}-`));
  fs.chmodSync(dir, 0o700);
  return { path: dir, [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// Acting as a second local user. Under Deno nothing outside the repository is looked at (its read
// permission stops there), so these are absent and such tests run from the Node suite.
const findProgram = (candidates: string[]) =>
  isDeno() ? undefined : candidates.find((c) => fs.existsSync(c));
/** runuser(1), when the machine has it (Node only). */
export const RUNUSER = findProgram(["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]);
/** useradd(8), when the machine has it (Node only). */
export const USERADD = findProgram(["/usr/sbin/useradd", "/sbin/useradd"]);
/** userdel(8), when the machine has it (Node only). */
export const USERDEL = findProgram(["/usr/sbin/userdel", "/sbin/userdel"]);

/** Why a test that makes a second local user cannot run here, or false when it can. */
export function secondUserSkip(): string | false {
  return process.getuid?.() !== 0
    ? "needs root to create a second local user with useradd"
    : !RUNUSER || !USERADD || !USERDEL
    ? "needs useradd, userdel and runuser"
    : false;
}

/** Fail clearly when the binary has not been built. */
export function requireBinary(): string {
  if (!fs.existsSync(BINARY)) throw new Error(`${BINARY} is missing: run 'npm run build' first`);
  return BINARY;
}

/** Permissions a steward process started by a test gets under Deno. */
export function testPermissions(dir: string, extra: DenoPermissions = {}): DenoPermissions {
  return {
    read: [ROOT, dir, ...(extra.read ?? [])],
    write: [dir, ...(extra.write ?? [])],
    unixSockets: extra.unixSockets ?? [],
    env: extra.env ?? true,
    run: extra.run ?? true,
    sys: extra.sys ?? true,
  };
}

/** How to run steward: "source" uses the current runtime, "binary" uses dist/steward. */
export type Via = "source" | "binary";

function command(
  args: readonly string[],
  via: Via,
  permissions: DenoPermissions,
): { command: string; args: string[] } {
  return via === "binary"
    ? { command: requireBinary(), args: [...args] }
    : selfCommand(args, permissions);
}

/** Result of {@link runSteward}. */
export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runSteward}. */
export interface RunOptions {
  via?: Via;
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  permissions?: DenoPermissions;
}

/** Run steward to completion and collect its output. */
export function runSteward(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const c = command(
    args,
    options.via ?? "source",
    options.permissions ?? testPermissions(TMP_ROOT),
  );
  return new Promise((resolve) => {
    const child = execFile(c.command, c.args, {
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      timeout: options.timeoutMs ?? 60_000,
      cwd: options.cwd ?? ROOT,
      maxBuffer: 64 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = child.exitCode ??
        (error && typeof (error as { code?: unknown }).code === "number"
          ? (error as { code: number }).code
          : -1);
      resolve({ code, signal: child.signalCode, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Start steward as a long-running child (a daemon in the foreground, a lock holder, …). */
export function spawnSteward(
  args: readonly string[],
  options: Omit<RunOptions, "input" | "timeoutMs"> = {},
): ChildProcess {
  const c = command(
    args,
    options.via ?? "source",
    options.permissions ?? testPermissions(TMP_ROOT),
  );
  return spawn(c.command, c.args, {
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    cwd: options.cwd ?? ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Poll `cond` until it is truthy or `timeoutMs` passes. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(20);
  }
}

/** Collect a child's output as text, for assertions and diagnostics. */
export function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  return { stdout: () => out, stderr: () => err };
}

/** Wait for a child to exit; kill it with SIGKILL after `timeoutMs`. */
export function exited(
  child: ChildProcess,
  timeoutMs = 10_000,
): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }, timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Whether a process with `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Create a symbolic link. Deno refuses symlink() under path-scoped permissions, so tests make
 * links through ln(1) there.
 */
export function symlink(target: string, linkPath: string): void {
  if ((globalThis as { Deno?: unknown }).Deno) execFileSync("ln", ["-s", target, linkPath]);
  else fs.symlinkSync(target, linkPath);
}

/** Set environment variables (for this process and what it starts); returns the undo. */
export function withEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
