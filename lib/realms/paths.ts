/**
 * Where the realm manager keeps its files, as upstream DNSSEC-Tools lays them out under the
 * state directory: the control socket (with its path-length rule), the id (pid) file and its
 * content, and the realms lock. Nothing here touches the file system at import time.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { RealmError } from "./errors.ts";
import { checkTrustedDir } from "./safe-open.ts";

/** Upstream's configure default for localstatedir. */
export const DEFAULT_REALM_STATEDIR = "/usr/local/var";
/** Upstream's configure default for sysconfdir. */
export const DEFAULT_REALM_SYSCONFDIR = "/usr/local/etc";

/** Options that locate the state directory. */
export interface RealmStateDirOptions {
  /** `--statedir` from the command line; wins over the environment. */
  statedir?: string | undefined;
  /** Environment to read `DT_STATEDIR` from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

/** The state directory: `--statedir`, else `DT_STATEDIR`, else `/usr/local/var` (absolute). */
export function realmStateDir(options: RealmStateDirOptions = {}): string {
  const env = options.env ?? process.env;
  const dir = options.statedir || env.DT_STATEDIR || DEFAULT_REALM_STATEDIR;
  return path.resolve(dir);
}

/** The DNSSEC-Tools configuration directory: `DT_SYSCONFDIR` or `/usr/local/etc`, plus `dnssec-tools`. */
export function realmConfDir(env: Record<string, string | undefined> = process.env): string {
  return path.join(path.resolve(env.DT_SYSCONFDIR || DEFAULT_REALM_SYSCONFDIR), "dnssec-tools");
}

/** Upstream's default realms file, `<confdir>/dnssec-tools.realm` (realm_default). */
export function defaultRealmsFile(env: Record<string, string | undefined> = process.env): string {
  return path.join(realmConfDir(env), "dnssec-tools.realm");
}

/** The directory of the socket and the realms lock: `<statedir>/dnssec-tools`. */
export function realmSocketDir(stateDir: string): string {
  return path.join(stateDir, "dnssec-tools");
}

/** The control socket's file-system path: `<statedir>/dnssec-tools/realmmgr.socket`. */
export function realmSocketPath(stateDir: string): string {
  return path.join(realmSocketDir(stateDir), "realmmgr.socket");
}

/**
 * The socket path string upstream measures: `<statedir>//dnssec-tools/realmmgr.socket`, with the
 * doubled slash its code builds.
 */
export function upstreamRealmSocketString(stateDir: string): string {
  return `${stateDir}//dnssec-tools/realmmgr.socket`;
}

/** Upstream's maximum socket path length for a platform: Linux 107, FreeBSD/macOS/others 103. */
export function maxRealmSocketPathLength(platform: string = process.platform): number {
  return platform === "linux" ? 107 : 103;
}

/**
 * Throw a {@link RealmError} (`path`, upstream `realmmgr_channel` → -5) when the socket path,
 * measured as upstream does, is longer than the platform allows.
 */
export function checkRealmSocketPathLength(
  stateDir: string,
  platform: string = process.platform,
): void {
  const s = upstreamRealmSocketString(stateDir);
  const max = maxRealmSocketPathLength(platform);
  if (s.length > max) {
    throw new RealmError(
      "path",
      `Communications socket name was longer than allowed for a Unix socket: ${s.length} > ${max} characters (state directory ${stateDir}; at most ${
        max - (s.length - stateDir.length)
      } characters)`,
    );
  }
}

/** The id-file directory, upstream `realmmgr_dir()`: `<statedir>/run`. */
export function realmIdDir(stateDir: string): string {
  return path.join(stateDir, "run");
}

/** The id (pid) file, upstream `realmmgr_idfile()`: `<statedir>/run/realmmgr.pid`. */
export function realmIdFile(stateDir: string): string {
  return path.join(realmIdDir(stateDir), "realmmgr.pid");
}

/** The realms lock file (spec §9.7): `<statedir>/dnssec-tools/realm.lock`. */
export function realmLockFile(stateDir: string): string {
  return path.join(realmSocketDir(stateDir), "realm.lock");
}

/** The id file's content: the decimal pid and a newline. */
export function formatRealmIdFile(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new RealmError("invalid", `Not a process id: ${pid}`);
  }
  return `${pid}\n`;
}

/** The pid in an id file as upstream reads it: the first run of digits on the first line. */
export function parseRealmIdFile(text: string): number | undefined {
  const first = text.split("\n", 1)[0] ?? "";
  const m = /\d+/.exec(first);
  if (!m) return undefined;
  const pid = Number(m[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Create the state directory's sub-directories a daemon needs: `dnssec-tools/` (socket and
 * realms lock; mode 0700) and `run/` (id file; mode 0755, since clients read the pid).
 * Refuses a `dnssec-tools/` that is a symbolic link, not ours, or writable by others, and any
 * state path another user could redirect (see {@link checkTrustedDir}), naming the path.
 */
export function prepareRealmStateDir(stateDir: string): { socketDir: string; idDir: string } {
  const socketDir = realmSocketDir(stateDir);
  const idDir = realmIdDir(stateDir);
  checkTrustedDir(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  checkTrustedDir(idDir);
  fs.mkdirSync(idDir, { recursive: true, mode: 0o755 });
  checkTrustedDir(idDir);
  try {
    fs.mkdirSync(socketDir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = fs.lstatSync(socketDir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new RealmError("io", `Socket directory is not a plain directory: ${socketDir}`);
  }
  const uid = typeof process.geteuid === "function" ? process.geteuid() : undefined;
  if (uid !== undefined && st.uid !== uid) {
    throw new RealmError(
      "io",
      `Socket directory is owned by uid ${st.uid}, not ${uid}: ${socketDir}`,
    );
  }
  if ((st.mode & 0o022) !== 0) fs.chmodSync(socketDir, st.mode & 0o755);
  return { socketDir, idDir };
}
