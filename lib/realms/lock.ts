/**
 * The realms lock (upstream `realm_lock`): an exclusive BSD `flock` on
 * `<statedir>/dnssec-tools/realm.lock`, the same lock upstream tools take, so steward and an
 * upstream `realmset` or `dtrealms` never rewrite a realms file at the same time.
 *
 * Node has no flock(2); the lock is held by a `flock(1)` child (util-linux) running `cat`, which
 * dies with its pipe: a crashed holder never leaves the lock taken. Where `flock(1)` is missing
 * (or may not be run, under Deno's permissions) the lock falls back to an exclusively created
 * `realm.lock.pid` file holding our pid, which is taken over when that pid is gone.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isNotCapable, RealmError } from "./errors.ts";
import { realmLockFile } from "./paths.ts";
import { pidState } from "../platform/pid.ts";

/** A held realms lock; release it once (or let `await using` do it). */
export interface RealmsLock extends AsyncDisposable {
  readonly file: string;
  release(): Promise<void>;
}

/** Options of {@link acquireRealmsLock}. */
export interface RealmsLockOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
}

// Serialise within this process first, so one process never runs two flock children at once.
const chains = new Map<string, Promise<void>>();

async function withinProcess(file: string): Promise<() => void> {
  const previous = chains.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  chains.set(file, chained);
  await previous;
  return () => {
    if (chains.get(file) === chained) chains.delete(file);
    release();
  };
}

function flockHolder(file: string, timeoutMs: number): Promise<ChildProcess | "missing"> {
  return new Promise((resolve, reject) => {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    let child: ChildProcess;
    try {
      child = spawn("flock", ["--exclusive", "--wait", seconds, file, "cat"], {
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (e) {
      // Deno without permission to run flock refuses at once: use the pid lock file instead.
      if (isNotCapable(e)) return resolve("missing");
      throw e;
    }
    let out = "";
    let err = "";
    let settled = false;
    const done = (v: ChildProcess | "missing" | Error) => {
      if (settled) return;
      settled = true;
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      done(
        e.code === "ENOENT" || isNotCapable(e)
          ? "missing"
          : new RealmError("io", `Cannot take the realms lock: ${e.message}`),
      );
    });
    child.stderr?.on("data", (d) => (err += d));
    child.stdout?.on("data", (d) => {
      out += d;
      // cat echoes our probe only once flock holds the lock and has started it.
      if (out.includes("L\n")) done(child);
    });
    child.on("exit", (code) => {
      done(
        new RealmError(
          code === 1 ? "timeout" : "io",
          code === 1
            ? `Timed out waiting for the realms lock: ${file}`
            : `Cannot take the realms lock: ${file}: ${err.trim() || `flock exited with ${code}`}`,
        ),
      );
    });
    child.stdin?.on("error", () => {/* reported through exit */});
    child.stdin?.write("L\n");
  });
}

function holderGone(pid: number, lockPath: string): boolean {
  const state = pidState(pid);
  if (state !== "unknown") return state === "gone";
  // No way to probe the pid (Deno without --allow-run, no /proc): only a lock a minute old is stale.
  try {
    return Date.now() - fs.statSync(lockPath).mtimeMs > 60_000;
  } catch {
    return false;
  }
}

async function pidFileLock(file: string, timeoutMs: number): Promise<() => void> {
  const lockPath = `${file}.pid`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, "wx", 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = 0;
    try {
      holder = Number.parseInt(fs.readFileSync(lockPath, "utf8"), 10);
    } catch { /* vanished */ }
    if (holder > 0 && holderGone(holder, lockPath)) fs.rmSync(lockPath, { force: true });
    if (Date.now() > deadline) {
      throw new RealmError("timeout", `Timed out waiting for the realms lock: ${lockPath}`);
    }
    await sleep(20);
  }
}

/** Take the realms lock of `stateDir`, creating `<statedir>/dnssec-tools/` if needed. */
export async function acquireRealmsLock(
  stateDir: string,
  options: RealmsLockOptions = {},
): Promise<RealmsLock> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const file = realmLockFile(stateDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const leave = await withinProcess(file);
  let unlock: () => Promise<void>;
  try {
    const holder = await flockHolder(file, timeoutMs);
    if (holder === "missing") {
      const rm = await pidFileLock(file, timeoutMs);
      unlock = () => Promise.resolve(rm());
    } else {
      unlock = () =>
        new Promise<void>((resolve) => {
          if (holder.exitCode !== null || holder.signalCode !== null) return resolve();
          holder.once("exit", () => resolve());
          holder.stdin?.end();
        });
    }
  } catch (e) {
    leave();
    throw e;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      await unlock();
    } finally {
      leave();
    }
  };
  return { file, release, [Symbol.asyncDispose]: release };
}

/** Run `fn` while holding the realms lock of `stateDir`. */
export async function withRealmsLock<T>(
  stateDir: string,
  fn: () => Promise<T> | T,
  options: RealmsLockOptions = {},
): Promise<T> {
  const lock = await acquireRealmsLock(stateDir, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
