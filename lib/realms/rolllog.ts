/**
 * The realms daemon log, as DNSSEC-Tools' rolllog writes it: numeric levels with names, lines
 * `<ctime without weekday>: [<field>: ]<message>`, UTC or local time, `-` for standard output.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { Buffer } from "node:buffer";
import { escapeControl } from "../log/logger.ts";
import { REALM_LOG_LEVELS } from "./protocol/bodies.ts";
import { sameAsPath } from "./safe-open.ts";

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

/**
 * One log line (with its newline). Control characters in the field and message (realm names,
 * commands and request data come from clients) are escaped, so that a log viewer never
 * receives raw terminal escapes and a line is always one line.
 */
export function formatLogLine(
  entry: { time: Date; tz: LogTz; field?: string | undefined; message: string },
): string {
  const field = entry.field !== undefined && entry.field !== ""
    ? `${escapeControl(entry.field)}: `
    : "";
  return `${logTimestamp(entry.time, entry.tz)}: ${field}${escapeControl(entry.message)}\n`;
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
  /**
   * Rotate when the file would grow past this many bytes: it is renamed to `<file>.1` (replacing
   * the previous one) and a new file is started. 0: no limit (default).
   */
  maxSize?: number;
  /** Injected clock, for tests. */
  now?: () => Date;
}

/** Checks {@link RollLog.open} makes on the opened file. */
export interface LogOpenOptions {
  /** Files that must never become the log (the realms file, the id file, the socket…). */
  refuse?: readonly string[];
}

interface Sink {
  fd: number;
  owned: boolean;
  /** The absolute path opened (owned sinks). */
  abs: string;
  size: number;
}

function sameFile(a: fs.Stats, file: string): boolean {
  try {
    const b = fs.statSync(file);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * Open `abs` for appending without a check-then-open race: the last component is never
 * followed (`O_NOFOLLOW`) and every check is made on the opened descriptor.
 */
function openLogFile(abs: string, options: LogOpenOptions): Sink {
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    // Deno's node:fs does not pass O_NOFOLLOW on: links are also looked for before and after.
    if (fs.lstatSync(abs, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw Object.assign(new Error("symbolic link"), { code: "ELOOP" });
    }
    fd = fs.openSync(abs, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o640);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ELOOP"
      ? "it is a symbolic link"
      : (e as Error).message;
    throw new LogFileError(`Cannot open log file: ${abs}: ${why}`);
  }
  try {
    const st = fs.fstatSync(fd);
    // Upstream's own check: a regular file, or the terminal.
    if (!st.isFile() && !(st.isCharacterDevice() && abs === "/dev/tty")) {
      throw new LogFileError(`Log file is not a regular file: ${abs}`);
    }
    if (!st.isCharacterDevice() && !sameAsPath(st, abs)) {
      throw new LogFileError(`Log file was replaced while it was opened: ${abs}`);
    }
    for (const f of options.refuse ?? []) {
      if (sameFile(st, f)) {
        throw new LogFileError(`Log file is one of the daemon's own files: ${f}`);
      }
    }
    return { fd, owned: true, abs, size: st.isFile() ? st.size : 0 };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * The daemon log: a file opened for append (or standard output for `-`), written unbuffered,
 * capped at `maxSize` by rotation to `<file>.1`, reopened by {@link RollLog.reopen} after an
 * external logrotate moved it away.
 */
export class RollLog {
  level: number;
  tz: LogTz;
  /** Rotation size in bytes (0: none). */
  maxSize: number;
  /** The log file as it was given (`-` for standard output). */
  file = "";
  #sink: Sink | undefined;
  #openOptions: LogOpenOptions = {};
  readonly #now: () => Date;

  constructor(options: RollLogOptions = {}) {
    this.level = options.level ?? 4;
    this.tz = options.tz ?? "gmt";
    this.maxSize = options.maxSize ?? 0;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Switch to `file` (relative to `base`). Throws {@link LogFileError} when it cannot be opened,
   * is a symbolic link, is not a regular file (or a terminal/stdout) or fails `options`' checks,
   * leaving the current log in place.
   */
  open(file: string, base = process.cwd(), options: LogOpenOptions = {}): void {
    const sink: Sink = file === "-" || file === "/dev/stdout"
      ? { fd: 1, owned: false, abs: "", size: 0 }
      : openLogFile(path.resolve(base, file), options);
    this.#replace(sink);
    this.file = file;
    this.#openOptions = options;
  }

  /** Reopen the current file by its path (SIGHUP after logrotate); keeps the old one on error. */
  reopen(): void {
    const cur = this.#sink;
    if (!cur?.owned) return;
    try {
      this.#replace(openLogFile(cur.abs, this.#openOptions));
    } catch { /* keep writing where we were */ }
  }

  #replace(sink: Sink): void {
    const old = this.#sink;
    this.#sink = sink;
    if (old?.owned && old.fd !== sink.fd) {
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
    const bytes = Buffer.byteLength(line);
    const sink = this.#sink;
    if (sink.owned && this.maxSize > 0 && sink.size > 0 && sink.size + bytes > this.maxSize) {
      try {
        fs.renameSync(sink.abs, `${sink.abs}.1`);
        this.#replace(openLogFile(sink.abs, this.#openOptions));
      } catch { /* keep writing to the open file rather than lose the line */ }
    }
    const target = this.#sink;
    try {
      fs.writeSync(target.fd, line);
      target.size += bytes;
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
