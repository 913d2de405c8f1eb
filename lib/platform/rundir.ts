/**
 * Run directories: private, owned by the daemon's user, not writable by others.
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Effective uid, or undefined where the platform has none. */
export function euid(): number | undefined {
  try {
    return typeof process.geteuid === "function" ? process.geteuid() : undefined;
  } catch {
    return undefined;
  }
}

/** Default run directory: `/run/steward` for root, `$XDG_RUNTIME_DIR/steward` or `<tmp>/steward-<uid>` otherwise. */
export function defaultRunDir(env: Record<string, string | undefined> = process.env): string {
  if (env.STEWARD_RUN_DIR) return path.resolve(env.STEWARD_RUN_DIR);
  const uid = euid();
  if (uid === 0) return "/run/steward";
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, "steward");
  return path.join(os.tmpdir(), `steward-${uid ?? "user"}`);
}

/** Raised when a run directory is unsafe to use. */
export class RunDirError extends Error {
  override name = "RunDirError";
}

/**
 * Create `dir` (mode 0700) if needed and check it is a real directory owned by this user that
 * group and others cannot write. An existing directory of ours with loose bits is tightened.
 */
export function ensurePrivateDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      // Only touch the parent when it is missing: a process whose permissions are scoped to
      // the run directory (Deno) may not write to the parent.
      fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o755 });
      try {
        fs.mkdirSync(abs, { mode: 0o700 });
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== "EEXIST") throw e2;
      }
    } else if (code !== "EEXIST") throw e;
  }
  const st = fs.lstatSync(abs);
  if (st.isSymbolicLink()) throw new RunDirError(`Run directory is a symbolic link: ${abs}`);
  if (!st.isDirectory()) throw new RunDirError(`Run directory is not a directory: ${abs}`);
  const uid = euid();
  if (uid !== undefined && st.uid !== uid) {
    throw new RunDirError(`Run directory is owned by uid ${st.uid}, not ${uid}: ${abs}`);
  }
  if ((st.mode & 0o022) !== 0) {
    fs.chmodSync(abs, st.mode & 0o755);
  }
  return abs;
}
