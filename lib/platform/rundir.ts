/**
 * Run directories: private, owned by the daemon's user, not writable by others.
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import { Buffer } from "node:buffer";
import path from "node:path";

/** Effective uid, or undefined where the platform has none. */
export function euid(): number | undefined {
  try {
    return typeof process.geteuid === "function" ? process.geteuid() : undefined;
  } catch {
    return undefined;
  }
}

/** Where per-user runtime directories live (systemd-logind's `/run/user/<uid>`). */
export const USER_RUNTIME_ROOT = "/run/user";

/** The longest socket path a Unix socket address holds (Linux: 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

function ownedDirectory(dir: string, uid: number): boolean {
  try {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && st.uid === uid;
  } catch {
    return false;
  }
}

function passwdHome(env: Record<string, string | undefined>): string | undefined {
  try {
    // getpwuid(geteuid()): the home of the uid, whatever $HOME says.
    const home = os.userInfo().homedir;
    if (home) return home;
  } catch { /* Deno without --allow-sys=userInfo */ }
  return env.HOME || undefined;
}

function hostName(): string {
  try {
    return os.hostname().replace(/[^A-Za-z0-9._-]/g, "_") || "localhost";
  } catch {
    return "localhost";
  }
}

/** Where {@link userRunDir} looks, for tests. */
export interface UserRunDirOptions {
  /** Default {@link USER_RUNTIME_ROOT}. */
  runtimeRoot?: string;
  /** Default: the uid's home from the password database. */
  home?: string | undefined;
  /** Default: os.hostname(). */
  host?: string;
}

/**
 * The run directory of a non-root uid, chosen from the uid alone (never from XDG_RUNTIME_DIR or
 * TMPDIR, which a cron job and a login shell of the same user do not share):
 * `/run/user/<uid>/steward` when `/run/user/<uid>` exists and the uid owns it; else
 * `<home>/.cache/steward/run-<host>` when the uid owns its home (the host name keeps hosts that
 * share a home over NFS apart); else `/tmp/steward-<uid>`, which the daemon and the client use
 * only once they checked that the uid owns it and nobody else can write to it.
 */
export function userRunDir(
  uid: number,
  options: UserRunDirOptions & { env?: Record<string, string | undefined> } = {},
): string {
  const runtime = path.join(options.runtimeRoot ?? USER_RUNTIME_ROOT, String(uid));
  if (ownedDirectory(runtime, uid)) return path.join(runtime, "steward");
  const home = "home" in options ? options.home : passwdHome(options.env ?? process.env);
  if (home && path.isAbsolute(home) && ownedDirectory(home, uid)) {
    const dir = path.join(home, ".cache", "steward", `run-${options.host ?? hostName()}`);
    if (Buffer.byteLength(path.join(dir, "lockd.sock")) <= MAX_SOCKET_PATH) return dir;
  }
  return `/tmp/steward-${uid}`;
}

/**
 * Default run directory: `$STEWARD_RUN_DIR` when set, `/run/steward` for root, else
 * {@link userRunDir} of the effective uid.
 */
export function defaultRunDir(env: Record<string, string | undefined> = process.env): string {
  if (env.STEWARD_RUN_DIR) return path.resolve(env.STEWARD_RUN_DIR);
  const uid = euid();
  if (uid === 0) return "/run/steward";
  if (uid === undefined) return path.join(os.tmpdir(), "steward-user");
  return userRunDir(uid, { env });
}

/**
 * Why a lock manager's socket must not be trusted, or undefined when it may be: the socket's
 * directory must be a real directory owned by `uid` (or root) that group and others cannot
 * write, and the socket (lstat, never followed) a socket owned by `uid` (or root). A directory
 * or socket that does not exist is fine (nothing answers there yet).
 */
export function untrustedSocket(socketPath: string, uid: number): string | undefined {
  const dir = path.dirname(path.resolve(socketPath));
  const trusted = (owner: number) => owner === uid || owner === 0;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    return `Cannot check the lock manager's directory (${code ?? (e as Error).message}): ${dir}`;
  }
  if (st.isSymbolicLink()) return `Lock manager directory is a symbolic link: ${dir}`;
  if (!st.isDirectory()) return `Lock manager directory is not a directory: ${dir}`;
  if (!trusted(st.uid)) {
    return `Lock manager directory is owned by uid ${st.uid}, not ${uid}: ${dir}`;
  }
  if ((st.mode & 0o022) !== 0) {
    return `Lock manager directory is writable by others (mode ${
      (st.mode & 0o7777).toString(8).padStart(4, "0")
    }): ${dir}`;
  }
  let sock: fs.Stats;
  try {
    sock = fs.lstatSync(socketPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    return `Cannot check the lock manager's socket (${
      code ?? (e as Error).message
    }): ${socketPath}`;
  }
  if (!sock.isSocket()) return `Lock manager socket is not a socket: ${socketPath}`;
  if (!trusted(sock.uid)) {
    return `Lock manager socket is owned by uid ${sock.uid}, not ${uid}: ${socketPath}`;
  }
  return undefined;
}

/** Raised when a run directory cannot be made, or is unsafe to use. */
export class RunDirError extends Error {
  override name = "RunDirError";
}

/**
 * An errno error as `CODE: what it means` (Node's message without the system call and path),
 * e.g. `ENOENT: no such file or directory`; the bare code or message when there is no more.
 */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code;
  const message = err instanceof Error ? err.message : String(e);
  if (!code) return message;
  const m = new RegExp(`^${code}: ([^,]+)`).exec(message);
  return m ? `${code}: ${m[1]}` : code;
}

// Deno refusing an operation its permissions do not cover: not a property of the directory.
function denoRefusal(e: unknown): boolean {
  const name = (e as Error)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}

function makeDir(abs: string): void {
  const fail = (e: unknown): never => {
    if (denoRefusal(e)) throw e;
    throw new RunDirError(`Cannot create the run directory ${abs}: ${errnoText(e)}`, {
      cause: e,
    });
  };
  try {
    fs.mkdirSync(abs, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code !== "ENOENT") fail(e);
    // Only touch the parent when it is missing: a process whose permissions are scoped to
    // the run directory (Deno) may not write to the parent.
    try {
      fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o755 });
      fs.mkdirSync(abs, { mode: 0o700 });
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== "EEXIST") fail(e2);
    }
  }
}

/**
 * Create `dir` (mode 0700) if needed and check it is a real directory owned by this user that
 * group and others cannot write and this user can. An existing directory of ours with loose
 * bits is tightened. Throws RunDirError with the reason ("Cannot create the run directory
 * /proc/nope: ENOENT: no such file or directory"); what Deno's permissions refuse is thrown as
 * Deno raised it.
 */
export function ensurePrivateDir(dir: string): string {
  const abs = path.resolve(dir);
  makeDir(abs);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch (e) {
    if (denoRefusal(e)) throw e;
    throw new RunDirError(`Cannot check the run directory ${abs}: ${errnoText(e)}`, { cause: e });
  }
  if (st.isSymbolicLink()) throw new RunDirError(`Run directory is a symbolic link: ${abs}`);
  if (!st.isDirectory()) throw new RunDirError(`Run directory is not a directory: ${abs}`);
  const uid = euid();
  if (uid !== undefined && st.uid !== uid) {
    throw new RunDirError(`Run directory is owned by uid ${st.uid}, not ${uid}: ${abs}`);
  }
  if ((st.mode & 0o022) !== 0) {
    fs.chmodSync(abs, st.mode & 0o755);
  }
  // Root may write anywhere; another owner needs u+wx to make the socket.
  if (uid !== 0 && (st.mode & 0o300) !== 0o300) {
    throw new RunDirError(
      `Run directory is not writable by its owner (mode ${
        (st.mode & 0o7777).toString(8).padStart(4, "0")
      }): ${abs}`,
    );
  }
  return abs;
}
