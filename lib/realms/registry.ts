/**
 * The record of running managers in the state directory, so that a daemon killed with kill -9
 * and started again finds the managers of its previous run instead of starting duplicates.
 * Replaced atomically on every change (temp file + fsync + rename).
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomicSync } from "../platform/atomic.ts";
import { randomBytes } from "node:crypto";
import { isNotCapable } from "./errors.ts";
import {
  MANAGER_MARK,
  managerMarkToken,
  processAlive,
  processStartTime,
  processUids,
} from "./process.ts";

/** One recorded manager. */
export interface ManagerRecord {
  pid: number;
  /** Process start time (Linux clock ticks), to tell the process from a later one with its pid. */
  startTime: string | undefined;
  command: string;
  args: string[];
  startedAt: string;
}

/** The managers file: `<statedir>/dnssec-tools/realms-managers.json`. */
export function managersFile(socketDir: string): string {
  return path.join(socketDir, "realms-managers.json");
}

const MAX_FILE = 4 * 1024 * 1024;

/** Read a managers file; a missing, oversized or unreadable file reads as empty. */
export function readManagers(file: string): Record<string, ManagerRecord> {
  try {
    if (fs.statSync(file).size > MAX_FILE) return {};
    const data = JSON.parse(fs.readFileSync(file, "utf8")) as { managers?: unknown };
    const out: Record<string, ManagerRecord> = {};
    const m = data.managers;
    if (!m || typeof m !== "object") return {};
    for (const [realm, r] of Object.entries(m as Record<string, Partial<ManagerRecord>>)) {
      if (typeof r?.pid !== "number" || !Number.isInteger(r.pid) || r.pid <= 1) continue;
      out[realm] = {
        pid: r.pid,
        startTime: typeof r.startTime === "string" ? r.startTime : undefined,
        command: String(r.command ?? ""),
        args: Array.isArray(r.args) ? r.args.map(String) : [],
        startedAt: String(r.startedAt ?? ""),
      };
    }
    return out;
  } catch {
    return {};
  }
}

/** Whether a recorded manager is still that same process. */
export function recordAlive(r: ManagerRecord): boolean {
  return processAlive(r.pid, r.startTime);
}

/**
 * The live record of managers, kept in memory and mirrored to its file on every change,
 * synchronously, so that no manager is ever running unrecorded while the daemon can be killed.
 * Every write is atomic and durable (temp file, fsync, rename, directory fsync), so that the file
 * is never seen half-written, whenever the daemon or the machine stops.
 */
export class ManagerRegistry {
  readonly file: string;
  readonly #records: Record<string, ManagerRecord>;
  /** The last write error, if the latest write failed. */
  error: Error | undefined;

  constructor(file: string, initial: Record<string, ManagerRecord> = {}) {
    this.file = file;
    this.#records = { ...initial };
  }

  /** A copy of the records. */
  all(): Record<string, ManagerRecord> {
    return { ...this.#records };
  }

  /** Record the manager of `realm`. */
  set(realm: string, r: Omit<ManagerRecord, "startTime" | "startedAt">): void {
    this.#records[realm] = {
      ...r,
      startTime: processStartTime(r.pid),
      startedAt: new Date().toISOString(),
    };
    this.#write();
  }

  /** Forget `realm`'s manager, if it is the one with `pid` (or any, without pid). */
  delete(realm: string, pid?: number): void {
    const r = this.#records[realm];
    if (!r || (pid !== undefined && r.pid !== pid)) return;
    delete this.#records[realm];
    this.#write();
  }

  #write(): void {
    try {
      writeFileAtomicSync(this.file, this.#text(), { mode: 0o600 });
      this.error = undefined;
    } catch (e) {
      this.error = e as Error;
    }
  }

  #text(): string {
    return JSON.stringify({ daemonPid: process.pid, managers: this.#records }) + "\n";
  }
}

/** The daemon's mark secret: `<statedir>/dnssec-tools/realms-secret`, mode 0600. */
export function secretFile(socketDir: string): string {
  return path.join(socketDir, "realms-secret");
}

/**
 * Read the mark secret of a state directory, creating it (exclusively, mode 0600) on first use.
 * The socket directory it lives in is the daemon's own (mode 0700), so no other user can read
 * or replace it; a file that is a symbolic link, not the daemon's or readable by others is
 * refused.
 */
export function daemonSecret(socketDir: string): string {
  const file = secretFile(socketDir);
  const { O_RDONLY, O_NOFOLLOW, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW);
      try {
        const st = fs.fstatSync(fd);
        const uid = process.geteuid?.();
        if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
          throw new Error(`Mark secret is not a private file of the daemon: ${file}`);
        }
        const text = fs.readFileSync(fd, "utf8").trim();
        if (/^[0-9a-f]{64}$/.test(text)) return text;
        throw new Error(`Mark secret is malformed: ${file}`);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const secret = randomBytes(32).toString("hex");
    try {
      const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        fs.writeFileSync(fd, `${secret}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return secret;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  throw new Error(`Cannot create the mark secret: ${file}`);
}

/** What {@link findMarkedManagers} accepts as a manager of this daemon. */
export interface MarkCheck {
  /** The daemon's secret ({@link daemonSecret}). */
  secret: string;
  /** Whether a process of `uid` may be the manager of `realm` (its configured user, or root). */
  ownerAllowed(realm: string, uid: number): boolean;
}

/**
 * Managers started by a daemon of `stateDir`, found from their environment (the mark set at
 * launch) among process-group leaders: this catches a manager whose record had not reached the
 * managers file when its daemon was killed. Only a process whose mark carries the token made
 * with this daemon's secret, and whose real and effective uid are allowed for its realm, is
 * taken: another user's process with the same environment is never adopted. Linux /proc only;
 * elsewhere it finds nothing.
 */
export function findMarkedManagers(stateDir: string, check: MarkCheck): Map<string, number> {
  const found = new Map<string, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return found;
  }
  const wantDir = `${MANAGER_MARK.stateDir}=${stateDir}`;
  const realmKey = `${MANAGER_MARK.realm}=`;
  const tokenKey = `${MANAGER_MARK.token}=`;
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] === "Z" || f[2] !== e) continue; // a zombie, or not its group's leader
      const env = fs.readFileSync(`/proc/${e}/environ`, "utf8").split("\0");
      if (!env.includes(wantDir)) continue;
      const realm = env.find((v) => v.startsWith(realmKey))?.slice(realmKey.length);
      if (realm === undefined || found.has(realm)) continue;
      const token = env.find((v) => v.startsWith(tokenKey))?.slice(tokenKey.length);
      if (token !== managerMarkToken(check.secret, stateDir, realm)) continue;
      const uids = processUids(Number(e));
      if (
        !uids || !check.ownerAllowed(realm, uids.real) || !check.ownerAllowed(realm, uids.effective)
      ) {
        continue;
      }
      found.set(realm, Number(e));
    } catch (err) {
      // Deno allows /proc/<pid>/environ only with every permission: then only the file counts.
      if (isNotCapable(err)) return found;
    }
  }
  return found;
}
