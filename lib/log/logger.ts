/**
 * A small leveled logger with one line per message, writing to stderr or a file.
 * @module
 */
import fs from "node:fs";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Where log lines go. */
export interface LogSink {
  write(line: string): void;
  /** Reopen the destination (after logrotate moved the file away, on SIGHUP). */
  reopen?(): void;
}

/** Options for {@link fileSink}. */
export interface FileSinkOptions {
  /**
   * Rotate when the file would grow past this many bytes: the file is renamed to `<file>.1`
   * (replacing the previous one) and a new file is started, so at most about twice this size is
   * kept. 0 or absent: no limit (an external logrotate reopens the file with SIGHUP).
   */
  maxSize?: number;
}

/** The default `--log-max-size` of the daemons: 10 MiB. */
export const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;

/**
 * A sink appending to a file (append mode, mode 0640), rotating at `maxSize`, reopened by
 * `reopen()`.
 */
export function fileSink(
  file: string,
  options: FileSinkOptions = {},
): LogSink & { reopen(): void; close(): void } {
  const maxSize = options.maxSize ?? 0;
  let fd = fs.openSync(file, "a", 0o640);
  let size = fs.fstatSync(fd).size;
  const reopen = () => {
    const next = fs.openSync(file, "a", 0o640);
    fs.closeSync(fd);
    fd = next;
    size = fs.fstatSync(fd).size;
  };
  return {
    write: (line) => {
      const bytes = Buffer.byteLength(line);
      if (maxSize > 0 && size > 0 && size + bytes > maxSize) {
        try {
          fs.renameSync(file, `${file}.1`);
          reopen();
        } catch { /* keep writing to the open file rather than lose the line */ }
      }
      fs.writeSync(fd, line);
      size += bytes;
    },
    reopen,
    close: () => fs.closeSync(fd),
  };
}

/** A size such as `10M`, `512k`, `1G` or a byte count; undefined when malformed. */
export function parseLogSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)[bB]?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * Escape what a terminal would act on: C0 and C1 control characters and DEL become `\xHH`
 * (and a backslash `\\`), so a log viewer never receives raw escapes from request data.
 */
export function escapeControl(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\\\x00-\x1f\x7f-\x9f]/g,
    (c) => c === "\\" ? "\\\\" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** A sink writing to standard error. */
export const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

/** A sink that discards everything. */
export const nullSink: LogSink = { write: () => {} };

function stamp(d: Date, utc: boolean): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return utc
    ? `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${
      p(d.getUTCMinutes())
    }:${p(d.getUTCSeconds())}Z`
    : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${
      p(d.getMinutes())
    }:${p(d.getSeconds())}`;
}

/** Options for {@link Logger}. */
export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  utc?: boolean;
}

/** Writes `<time> <name>[<pid>] <level>: <message>` lines at or above its level. */
export class Logger {
  readonly name: string;
  level: LogLevel;
  sink: LogSink;
  utc: boolean;

  constructor(name: string, options: LoggerOptions = {}) {
    this.name = name;
    this.level = options.level ?? "info";
    this.sink = options.sink ?? stderrSink;
    this.utc = options.utc ?? false;
  }

  /** Whether a message at `level` would be written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.level);
  }

  /** Write one message at `level`. */
  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const clean = escapeControl(message);
    try {
      this.sink.write(
        `${stamp(new Date(), this.utc)} ${this.name}[${process.pid}] ${level}: ${clean}\n`,
      );
    } catch { /* logging must never take a daemon down */ }
  }

  /** Reopen the sink's destination, if it has one (SIGHUP after logrotate). */
  reopen(): void {
    try {
      this.sink.reopen?.();
    } catch { /* keep the old destination */ }
  }

  /** Log at debug level. */
  debug(message: string): void {
    this.log("debug", message);
  }
  /** Log at info level. */
  info(message: string): void {
    this.log("info", message);
  }
  /** Log at warn level. */
  warn(message: string): void {
    this.log("warn", message);
  }
  /** Log at error level. */
  error(message: string): void {
    this.log("error", message);
  }
}
