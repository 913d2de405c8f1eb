/**
 * The realms daemon log, as DNSSEC-Tools' rolllog writes it: numeric levels with names, lines
 * `<ctime without weekday>: [<field>: ]<message>`, UTC or local time, `-` for standard output.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { REALM_LOG_LEVELS } from "./wire.ts";

/** Time zone of log timestamps. */
export type LogTz = "gmt" | "local";

/** The name of a level number (`tmi` for 1); the number itself when it has no name. */
export function logLevelName(level: number): string {
  for (const [name, num] of Object.entries(REALM_LOG_LEVELS)) if (num === level) return name;
  return String(level);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `Nov 21 07:19:43 2026`: C ctime without the weekday, day of month padded with a space. */
export function logTimestamp(d: Date, tz: LogTz): string {
  const utc = tz === "gmt";
  const month = MONTHS[utc ? d.getUTCMonth() : d.getMonth()] as string;
  const day = String(utc ? d.getUTCDate() : d.getDate()).padStart(2, " ");
  const p = (n: number) => String(n).padStart(2, "0");
  const hms = utc
    ? `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
    : `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${month} ${day} ${hms} ${utc ? d.getUTCFullYear() : d.getFullYear()}`;
}

/** One log line (with its newline). */
export function formatLogLine(
  entry: { time: Date; tz: LogTz; field?: string | undefined; message: string },
): string {
  const field = entry.field !== undefined && entry.field !== "" ? `${entry.field}: ` : "";
  return `${logTimestamp(entry.time, entry.tz)}: ${field}${entry.message}\n`;
}

/** Raised when a log file cannot be opened; the previous log stays in use. */
export class LogFileError extends Error {
  override name = "LogFileError";
}

/** Options of {@link RollLog}. */
export interface RollLogOptions {
  /** Level number (default 4, info). */
  level?: number;
  /** Time zone (default gmt). */
  tz?: LogTz;
  /** Injected clock, for tests. */
  now?: () => Date;
}

interface Sink {
  fd: number;
  owned: boolean;
}

/** The daemon log: a file opened for append (or standard output for `-`), written unbuffered. */
export class RollLog {
  level: number;
  tz: LogTz;
  /** The log file as it was given (`-` for standard output). */
  file = "";
  #sink: Sink | undefined;
  readonly #now: () => Date;

  constructor(options: RollLogOptions = {}) {
    this.level = options.level ?? 4;
    this.tz = options.tz ?? "gmt";
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Switch to `file` (relative to `base`). Throws {@link LogFileError} when it cannot be opened
   * or is not a regular file (or a terminal/stdout), leaving the current log in place.
   */
  open(file: string, base = process.cwd()): void {
    let sink: Sink;
    if (file === "-" || file === "/dev/stdout") {
      sink = { fd: 1, owned: false };
    } else {
      const abs = path.resolve(base, file);
      let fd: number;
      try {
        fd = fs.openSync(abs, "a", 0o640);
      } catch (e) {
        throw new LogFileError(`Cannot open log file: ${abs}: ${(e as Error).message}`);
      }
      const st = fs.fstatSync(fd);
      if (!st.isFile() && !st.isCharacterDevice()) {
        fs.closeSync(fd);
        throw new LogFileError(`Log file is not a regular file: ${abs}`);
      }
      sink = { fd, owned: true };
    }
    const old = this.#sink;
    this.#sink = sink;
    this.file = file;
    if (old?.owned) {
      try {
        fs.closeSync(old.fd);
      } catch { /* already closed */ }
    }
  }

  /** Whether a message at `level` is written. */
  enabled(level: number): boolean {
    return level >= this.level;
  }

  /** Write `message` at `level`, with an optional field (a realm name, `dtrealms`, …). */
  log(level: number, field: string | undefined, message: string): void {
    if (!this.enabled(level) || !this.#sink) return;
    const line = formatLogLine({ time: this.#now(), tz: this.tz, field, message });
    try {
      fs.writeSync(this.#sink.fd, line);
    } catch { /* a full disk or closed stdout must never take the daemon down */ }
  }

  /** Close the log file. */
  close(): void {
    if (this.#sink?.owned) {
      try {
        fs.closeSync(this.#sink.fd);
      } catch { /* already closed */ }
    }
    this.#sink = undefined;
  }
}
