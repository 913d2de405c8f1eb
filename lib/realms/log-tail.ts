/**
 * The last lines of a realm's output log, read from its end (never through a final symbolic
 * link, only from a regular file): for `realmcmd_supervision REALM` and the status page.
 * @internal
 * @module
 */
import fs from "node:fs";
import { Buffer } from "node:buffer";

/** Options of {@link readLogTail}. */
export interface LogTailOptions {
  /** Lines returned at most (default 20). */
  lines?: number;
  /** Bytes read from the end of the file to find them (default 16 KiB). */
  bytes?: number;
  /** Lines longer than this are cut and end with `…` (default: not cut). */
  maxLineLength?: number;
}

/** The last lines of `file`, oldest first; [] when it is missing, unreadable or not a file. */
export function readLogTail(file: string, options: LogTailOptions = {}): string[] {
  const lines = options.lines ?? 20;
  const bytes = options.bytes ?? 16 * 1024;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return [];
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return [];
    const start = Math.max(0, st.size - bytes);
    const buf = Buffer.alloc(st.size - start);
    const n = buf.length === 0 ? 0 : fs.readSync(fd, buf, 0, buf.length, start);
    const all = buf.subarray(0, n).toString("utf8").split("\n");
    if (all.at(-1) === "") all.pop();
    if (start > 0) all.shift(); // a partial first line
    const max = options.maxLineLength;
    return all.slice(-lines).map((l) =>
      max !== undefined && l.length > max ? `${l.slice(0, max)}…` : l
    );
  } catch {
    return [];
  } finally {
    fs.closeSync(fd);
  }
}
