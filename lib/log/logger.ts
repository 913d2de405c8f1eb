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
}

/** A sink appending to a file (opened once, append mode, mode 0640). */
export function fileSink(file: string): LogSink & { close(): void } {
  const fd = fs.openSync(file, "a", 0o640);
  return {
    write: (line) => {
      fs.writeSync(fd, line);
    },
    close: () => fs.closeSync(fd),
  };
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
    const clean = message.replace(/[\r\n]+/g, " ");
    try {
      this.sink.write(
        `${stamp(new Date(), this.utc)} ${this.name}[${process.pid}] ${level}: ${clean}\n`,
      );
    } catch { /* logging must never take a daemon down */ }
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
