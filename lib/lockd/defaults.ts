/**
 * The lockd defaults file: `KEY=VALUE` lines as in Solaris `/etc/default/dsvclockd`. `IDLE`
 * (minutes without locks before the daemon exits), `CROSSHOST_ROOTS` (colon-separated
 * directories where cross-host lock files may be made) and `HOSTLOCK` (what holds cross-host
 * locks: auto, helper or flock) are read; the file is optional.
 * @module
 */
import fs from "node:fs";

/**
 * How the lock manager takes cross-host locks: `helper` (one long-lived helper per lock
 * directory), `flock` (a flock(1) child per lock) or `auto` (the helper where perl exists).
 * Defined here, not in hostlock.ts, so that reading the defaults loads no host-lock code.
 */
export type HostLockPrimitive = "auto" | "helper" | "flock";

// HOSTLOCK values.
const HOST_LOCK_PRIMITIVES: readonly HostLockPrimitive[] = ["auto", "helper", "flock"];

/** Where the daemon looks for its defaults unless told otherwise. */
export const LOCKD_DEFAULTS_FILE = "/etc/default/steward-lockd";

/** Idle minutes when neither the defaults file nor a flag says otherwise. */
export const LOCKD_DEFAULT_IDLE_MINUTES = 15;

// A defaults file is a handful of lines; anything larger is not one.
const MAX_DEFAULTS_BYTES = 64 * 1024;

/**
 * Parse `KEY=VALUE` lines: split on the first `=`, key and value trimmed, one level of matching
 * quotes removed from the value; blank lines, `#` comments and lines without `=` are skipped.
 */
export function parseDefaults(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    out.set(line.slice(0, eq).trim(), value);
  }
  return out;
}

/** Parse an idle time in minutes (a number ≥ 0, fractions allowed; 0 = never exit). */
export function parseIdleMinutes(value: string): number | undefined {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n <= 1_000_000 ? n : undefined;
}

/**
 * Parse CROSSHOST_ROOTS: colon-separated absolute directories. Returns the roots and a warning
 * for each entry that is not an absolute path (those are left out).
 */
export function parseCrosshostRoots(value: string): { roots: string[]; warnings: string[] } {
  const roots: string[] = [];
  const warnings: string[] = [];
  for (const entry of value.split(":").map((e) => e.trim()).filter(Boolean)) {
    if (entry.startsWith("/") && !entry.includes("\0")) roots.push(entry);
    else {warnings.push(
        `Ignoring CROSSHOST_ROOTS entry ${
          JSON.stringify(entry.slice(0, 80))
        }: not an absolute path`,
      );}
  }
  return { roots, warnings };
}

/** What {@link readLockdDefaults} found. */
export interface LockdDefaults {
  idleMinutes: number;
  /** Directories where cross-host lock files may be made; empty = wherever clients ask. */
  crosshostRoots: string[];
  /** What holds cross-host locks (HOSTLOCK; absent: the daemon's default, auto). */
  hostLockPrimitive?: HostLockPrimitive;
  /** Where IDLE came from: the file, or the built-in default. */
  source: "file" | "default";
  /** Problems worth a log line (a bad IDLE value, an unreadable file). */
  warnings: string[];
}

/**
 * Read IDLE from `file`. A missing file gives the default; with `required` (the user named the
 * file) a missing or unreadable file is an error.
 */
export function readLockdDefaults(
  file: string = LOCKD_DEFAULTS_FILE,
  options: { required?: boolean } = {},
): LockdDefaults {
  const fallback: LockdDefaults = {
    idleMinutes: LOCKD_DEFAULT_IDLE_MINUTES,
    crosshostRoots: [],
    source: "default",
    warnings: [],
  };
  let text: string;
  try {
    const fd = fs.openSync(file, "r");
    try {
      const buf = new Uint8Array(MAX_DEFAULTS_BYTES);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      text = new TextDecoder().decode(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (options.required) {
      throw new Error(`Cannot read defaults file ${file}: ${code ?? (e as Error).message}`);
    }
    if (code !== "ENOENT") {
      fallback.warnings.push(`Cannot read defaults file ${file}: ${code ?? (e as Error).message}`);
    }
    return fallback;
  }
  const values = parseDefaults(text);
  const rootsText = values.get("CROSSHOST_ROOTS");
  if (rootsText !== undefined) {
    const { roots, warnings } = parseCrosshostRoots(rootsText);
    fallback.crosshostRoots = roots;
    fallback.warnings.push(...warnings.map((w) => `${w} (in ${file})`));
  }
  const hostLock = values.get("HOSTLOCK");
  if (hostLock !== undefined) {
    if ((HOST_LOCK_PRIMITIVES as readonly string[]).includes(hostLock)) {
      fallback.hostLockPrimitive = hostLock as HostLockPrimitive;
    } else {
      fallback.warnings.push(
        `Ignoring HOSTLOCK in ${file}: not one of ${HOST_LOCK_PRIMITIVES.join(", ")}: ${
          JSON.stringify(hostLock.slice(0, 40))
        }; using auto`,
      );
    }
  }
  const idle = values.get("IDLE");
  if (idle === undefined) return fallback;
  const minutes = parseIdleMinutes(idle);
  if (minutes === undefined) {
    fallback.warnings.push(
      `Ignoring IDLE in ${file}: not a number of minutes: ${
        idle.slice(0, 40)
      }; using ${LOCKD_DEFAULT_IDLE_MINUTES}`,
    );
    return fallback;
  }
  return { ...fallback, idleMinutes: minutes, source: "file" };
}
