/**
 * The id (pid) file and signal side of upstream's `realmmgr` module, typed: where the files are,
 * reading, claiming and removing the id file, the SIGHUP command interrupt, the SIGINT halt, the
 * running check. Each function's doc names the upstream function and how its magic return values
 * map to the typed result. (Upstream's in-process command queue is the channel server's:
 * lib/realms/transport/server.ts.)
 *
 * Differences from upstream, on purpose: liveness is checked by connecting to the control socket,
 * never by matching process names; the id file is written atomically (temp + rename), so readers
 * need no lock and never see half a pid; nothing is created at import time.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomicSync } from "../platform/atomic.ts";
import { pidAlive, sendSignal } from "../platform/pid.ts";
import { probeSocket } from "../ipc/socket.ts";
import { RealmError } from "./errors.ts";
import {
  formatRealmIdFile,
  parseRealmIdFile,
  realmIdDir,
  realmIdFile,
  realmSocketPath,
  realmStateDir,
  type RealmStateDirOptions,
} from "./paths.ts";

/** Where a realm manager's files are (upstream `realmmgr_dir`, `realmmgr_idfile`). */
export interface RealmmgrLocation {
  stateDir: string;
  /** `<statedir>/run` (upstream `realmmgr_dir()`). */
  idDir: string;
  /** `<statedir>/run/realmmgr.pid` (upstream `realmmgr_idfile()`), or the path set with `idFile`. */
  idFile: string;
  /** `<statedir>/dnssec-tools/realmmgr.socket`. */
  socketPath: string;
}

/** Options naming a realm manager: its state directory and, optionally, another id file. */
export interface RealmmgrOptions extends RealmStateDirOptions {
  /** An explicit state directory (wins over `statedir` and `DT_STATEDIR`). */
  stateDir?: string;
  /** Use this id file instead of the default (upstream `realmmgr_set_idfile`). */
  idFile?: string;
}

/** Resolve the files of a realm manager (upstream `realmmgr_dir`, `realmmgr_idfile`, `realmmgr_set_idfile`). */
export function realmmgrLocation(options: RealmmgrOptions = {}): RealmmgrLocation {
  const stateDir = options.stateDir !== undefined
    ? path.resolve(options.stateDir)
    : realmStateDir(options);
  return {
    stateDir,
    idDir: realmIdDir(stateDir),
    idFile: options.idFile !== undefined ? path.resolve(options.idFile) : realmIdFile(stateDir),
    socketPath: realmSocketPath(stateDir),
  };
}

/** Whether a process exists (EPERM means it exists but is not ours; see lib/platform/pid.ts). */
export function realmProcessAlive(pid: number): boolean {
  return pidAlive(pid);
}

/**
 * The pid in the id file (upstream `realmmgr_getid`). Undefined when there is no file or no pid
 * in it (upstream: -1); a file that exists but cannot be read throws {@link RealmError}
 * (`id-file`; upstream: -1 as well). Unlike upstream, read permission is enough.
 */
export function readRealmmgrId(options: RealmmgrOptions = {}): number | undefined {
  const { idFile } = realmmgrLocation(options);
  let text: string;
  try {
    text = fs.readFileSync(idFile, "latin1");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new RealmError("id-file", `Cannot read id file ${idFile}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseRealmIdFile(text);
}

/** Result of {@link claimRealmmgrId}. */
export type RealmIdClaim =
  | { claimed: true; pid: number; file: string }
  | { claimed: false; holder: number; file: string };

/** Options of {@link claimRealmmgrId}. */
export interface ClaimRealmIdOptions extends RealmmgrOptions {
  /** The pid to record (default this process). */
  pid?: number;
  /**
   * The caller already listens on the control socket (claimed with `claimSocket`, which never
   * displaces a live daemon), so any id file found is stale and is replaced. When false (the
   * default), a live daemon answering on the socket makes the claim fail.
   */
  ownsSocket?: boolean;
}

/**
 * Write our pid into the id file (upstream `realmmgr_dropid`): `{claimed: true}` (upstream 1),
 * `{claimed: false, holder}` when another live realm manager holds it (upstream 0); a file that
 * cannot be written throws {@link RealmError} `id-file` (upstream -1). Liveness is a connection
 * to the control socket, not a `ps` listing.
 */
export async function claimRealmmgrId(options: ClaimRealmIdOptions = {}): Promise<RealmIdClaim> {
  const loc = realmmgrLocation(options);
  const pid = options.pid ?? process.pid;
  if (!options.ownsSocket) {
    const holder = readRealmmgrId(options);
    if (
      holder !== undefined && holder !== pid && realmProcessAlive(holder) &&
      (await probeSocket(loc.socketPath)) === "live"
    ) {
      return { claimed: false, holder, file: loc.idFile };
    }
  }
  try {
    fs.mkdirSync(path.dirname(loc.idFile), { recursive: true, mode: 0o755 });
    writeFileAtomicSync(loc.idFile, formatRealmIdFile(pid), { mode: 0o644 });
  } catch (e) {
    throw new RealmError("id-file", `Cannot write id file ${loc.idFile}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return { claimed: true, pid, file: loc.idFile };
}

/** Result of {@link removeRealmmgrId}: `removed` (upstream 1), `absent` (0), `not-ours` (-1). */
export type RealmIdRemoval = "removed" | "absent" | "not-ours";

/**
 * Remove the id file if it names us (upstream `realmmgr_rmid`). A failed unlink throws
 * {@link RealmError} `id-file` (upstream -2).
 */
export function removeRealmmgrId(
  options: RealmmgrOptions & { pid?: number } = {},
): RealmIdRemoval {
  const loc = realmmgrLocation(options);
  const pid = options.pid ?? process.pid;
  let holder: number | undefined;
  try {
    holder = readRealmmgrId(options);
  } catch {
    holder = undefined;
  }
  if (!fs.existsSync(loc.idFile)) return "absent";
  if (holder !== pid) return "not-ours";
  try {
    fs.unlinkSync(loc.idFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw new RealmError(
      "id-file",
      `Cannot remove id file ${loc.idFile}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return "removed";
}

/**
 * Whether `pid` looks like a realm manager daemon (`dtrealms`, or steward's `realms daemon`),
 * judged from /proc where there is one. Used only to avoid signalling an unrelated process
 * that reused a stale pid; where /proc is unreadable the answer is yes.
 */
export function looksLikeRealmManager(pid: number): boolean {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\0", " ");
    text += ` ${fs.readFileSync(`/proc/${pid}/comm`, "latin1")}`;
  } catch {
    return true;
  }
  return /dtrealms|\brealms\b/.test(text);
}

/** Result of signalling the daemon ({@link realmmgrCommandInterrupt}, {@link haltRealmmgr}). */
export type RealmSignalResult =
  | { sent: true; pid: number }
  | {
    sent: false;
    reason: "no-pid" | "not-running" | "not-permitted" | "not-a-realm-manager";
    pid?: number;
  };

/** Options of the signalling functions. */
export interface RealmSignalOptions extends RealmmgrOptions {
  /** Check /proc that the pid is a realm manager before signalling (default true). */
  verifyProcess?: boolean;
}

function signalDaemon(options: RealmSignalOptions, signal: NodeJS.Signals): RealmSignalResult {
  let pid: number | undefined;
  try {
    pid = readRealmmgrId(options);
  } catch {
    pid = undefined;
  }
  // Upstream refuses pids below 10 so that a damaged file cannot signal init or a kernel thread.
  if (pid === undefined || pid < 10) return { sent: false, reason: "no-pid" };
  if (options.verifyProcess !== false && !looksLikeRealmManager(pid)) {
    return { sent: false, reason: "not-a-realm-manager", pid };
  }
  if (sendSignal(pid, signal)) return { sent: true, pid };
  return { sent: false, reason: pidAlive(pid) ? "not-permitted" : "not-running", pid };
}

/**
 * Send the command interrupt, SIGHUP, to the daemon named by the id file (upstream
 * `realmmgr_cmdint`; -1 ↔ `no-pid`, 1 ↔ `sent`, 0 ↔ the other reasons). Upstream dtrealms
 * reads its socket only on this signal; steward's daemon serves the socket continuously and
 * ignores it.
 */
export function realmmgrCommandInterrupt(options: RealmSignalOptions = {}): RealmSignalResult {
  return signalDaemon(options, "SIGHUP");
}

/** Ask the daemon to halt now with SIGINT (upstream `realmmgr_halt`, realmctl `-halt now`). */
export function haltRealmmgr(options: RealmSignalOptions = {}): RealmSignalResult {
  return signalDaemon(options, "SIGINT");
}

/** Result of {@link isRealmmgrRunning}. */
export type RealmRunningState =
  | { running: true; pid: number | undefined }
  | { running: false; reason: "no-socket" | "not-listening" | "id-file-unreadable" };

/**
 * Whether a realm manager is running (upstream `realmmgr_running`: 1 ↔ `running: true`,
 * 0 ↔ `no-socket`/`not-listening`, -1 ↔ `id-file-unreadable`). Upstream looked for `dtrealms`
 * in `ps` output; this connects to the control socket, so it also works across users and
 * under any process name. The pid comes from the id file when it names a live process.
 */
export async function isRealmmgrRunning(options: RealmmgrOptions = {}): Promise<RealmRunningState> {
  const loc = realmmgrLocation(options);
  const probe = await probeSocket(loc.socketPath);
  if (probe === "absent") return { running: false, reason: "no-socket" };
  if (probe === "stale") return { running: false, reason: "not-listening" };
  let pid: number | undefined;
  try {
    pid = readRealmmgrId(options);
  } catch {
    return { running: false, reason: "id-file-unreadable" };
  }
  return { running: true, pid: pid !== undefined && realmProcessAlive(pid) ? pid : undefined };
}

/**
 * Wait until no realm manager serves the state directory (after a shutdown); false when one
 * still does after `timeoutMs`.
 */
export async function waitForRealmmgrGone(
  options: RealmmgrOptions & { timeoutMs?: number; pollMs?: number } = {},
): Promise<boolean> {
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  while ((await isRealmmgrRunning(options)).running) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, options.pollMs ?? 50));
  }
  return true;
}

/**
 * Whether a realm manager seems to run, judged without connecting (for clients of an upstream
 * dtrealms, which takes an empty connection made on its SIGHUP for a request, reads EOF and
 * leaves the real one waiting): the socket path must be a socket, and an id file, when there is
 * one, must name a live process. `running: true` is a guess the request's own connection
 * confirms.
 */
export function realmmgrSeemsRunning(options: RealmmgrOptions = {}): RealmRunningState {
  const loc = realmmgrLocation(options);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(loc.socketPath);
  } catch {
    return { running: false, reason: "no-socket" };
  }
  if (!st.isSocket()) return { running: false, reason: "not-listening" };
  let pid: number | undefined;
  try {
    pid = readRealmmgrId(options);
  } catch {
    return { running: false, reason: "id-file-unreadable" };
  }
  if (pid !== undefined && !realmProcessAlive(pid)) {
    return { running: false, reason: "not-listening" };
  }
  return { running: true, pid };
}
