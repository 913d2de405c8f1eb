/**
 * Shared pieces of the text-file modules (upstream modules/util): errno → DSVC mapping,
 * location checks, atomic container creation, and the copy-and-rename update.
 * @internal
 * @module
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { syncDir } from "../../platform/atomic.ts";
import { DSVC, DsvcError } from "../spi.ts";

/** Map a file-system error to a DsvcError as upstream's syserr_to_dsvcerr does. */
export function syserrToDsvc(e: unknown, what: string): DsvcError {
  if (e instanceof DsvcError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  const msg = `${what}: ${(e as Error | null)?.message ?? String(e)}`;
  switch (code) {
    case "EEXIST":
      return new DsvcError(DSVC.TABLE_EXISTS, what, { cause: e });
    case "ENOENT":
      return new DsvcError(DSVC.NO_TABLE, what, { cause: e });
    case "ENOMEM":
      return new DsvcError(DSVC.NO_MEMORY, msg, { cause: e });
    case "ENOSPC":
    case "EDQUOT":
    case "EMFILE":
    case "ENFILE":
      return new DsvcError(DSVC.NO_RESOURCES, msg, { cause: e });
    case "EROFS":
    case "EPERM":
    case "EACCES":
      return new DsvcError(DSVC.ACCESS, msg, { cause: e });
    default:
      return new DsvcError(DSVC.INTERNAL, msg, { cause: e });
  }
}

/** Throw DSVC_INVAL unless `location` is an absolute path without NUL characters. */
export function checkLocationSyntax(location: string): void {
  if (typeof location !== "string" || !path.isAbsolute(location) || location.includes("\0")) {
    throw new DsvcError(
      DSVC.INVAL,
      `location must be an absolute directory path: ${JSON.stringify(location)}`,
    );
  }
}

/** Check that `location` is an existing directory: NO_LOCATION, INVAL (not a directory), ACCESS. */
export async function checkLocation(location: string): Promise<void> {
  checkLocationSyntax(location);
  let st: fs.Stats;
  try {
    st = await fsp.stat(location);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new DsvcError(DSVC.NO_LOCATION, location);
    if (code === "ENOTDIR") throw new DsvcError(DSVC.INVAL, `not a directory: ${location}`);
    throw syserrToDsvc(e, location);
  }
  if (!st.isDirectory()) throw new DsvcError(DSVC.INVAL, `not a directory: ${location}`);
}

/** Module status: with a location, it must exist and be readable (upstream access(F_OK|R_OK)). */
export async function locationStatus(location?: string): Promise<void> {
  if (location === undefined) return;
  await checkLocation(location);
  try {
    await fsp.access(location, fs.constants.R_OK);
  } catch (e) {
    throw syserrToDsvc(e, location);
  }
}

/** mkdir -p with mode 0755 (upstream mklocation): EXISTS if it is there. */
export async function makeLocation(location: string): Promise<void> {
  checkLocationSyntax(location);
  try {
    const st = await fsp.stat(location);
    if (st.isDirectory()) throw new DsvcError(DSVC.EXISTS, location);
    throw new DsvcError(DSVC.INVAL, `not a directory: ${location}`);
  } catch (e) {
    if (e instanceof DsvcError) throw e;
  }
  try {
    await fsp.mkdir(location, { recursive: true, mode: 0o755 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENAMETOOLONG" || code === "ENOTDIR") throw new DsvcError(DSVC.INVAL, location);
    if (code === "EEXIST") throw new DsvcError(DSVC.EXISTS, location);
    if (code === "EROFS" || code === "EPERM" || code === "EACCES") {
      throw new DsvcError(DSVC.ACCESS, location);
    }
    throw new DsvcError(DSVC.INTERNAL, `${location}: ${(e as Error).message}`);
  }
}

/** The canonical location (realpath; the resolved path while it does not exist yet). */
export async function canonicalLocation(location: string): Promise<string> {
  try {
    return await fsp.realpath(location);
  } catch {
    return path.resolve(location);
  }
}

/** Names in `location` (NO_LOCATION when missing, ACCESS when unreadable). */
export async function listLocation(location: string): Promise<string[]> {
  checkLocationSyntax(location);
  try {
    return await fsp.readdir(location);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new DsvcError(DSVC.NO_LOCATION, location);
    if (code === "ENOTDIR") throw new DsvcError(DSVC.INVAL, `not a directory: ${location}`);
    if (code === "EACCES" || code === "EPERM") throw new DsvcError(DSVC.ACCESS, location);
    throw new DsvcError(DSVC.INTERNAL, `${location}: ${(e as Error).message}`);
  }
}

/**
 * Create `file` holding exactly `content`, failing with TABLE_EXISTS if it exists. The content
 * is written to a private temporary name first and linked into place, so a crash never leaves a
 * container without its header.
 */
export async function createFileExclusive(
  file: string,
  content: string | Uint8Array,
): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString("hex")}.create`,
  );
  try {
    const fh = await fsp.open(tmp, "wx", 0o644);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.chmod(tmp, 0o644);
    try {
      await fsp.link(tmp, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e;
      // File systems without hard links: exclusive create of the final name.
      const fh2 = await fsp.open(file, "wx", 0o644);
      try {
        await fh2.writeFile(content);
        await fh2.sync();
      } finally {
        await fh2.close();
      }
    }
    await syncDir(path.dirname(file));
  } catch (e) {
    throw syserrToDsvc(e, file);
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}

/** Largest container file read (a full /12 network of SUNWfiles records is about 70 MiB). */
export const MAX_CONTAINER_BYTES = 512 * 1024 * 1024;

/** Read a whole container (NO_TABLE when it was removed, NO_RESOURCES beyond the size limit). */
export async function readContainer(file: string): Promise<Buffer> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, "r");
    const st = await fh.stat();
    if (!st.isFile()) throw new DsvcError(DSVC.INTERNAL, `${file}: not a regular file`);
    if (st.size > MAX_CONTAINER_BYTES) {
      throw new DsvcError(DSVC.NO_RESOURCES, `${file}: larger than ${MAX_CONTAINER_BYTES} bytes`);
    }
    return await fh.readFile();
  } catch (e) {
    throw syserrToDsvc(e, file);
  } finally {
    await fh?.close();
  }
}

/** Read at most `max` bytes from the start of `file` (NO_TABLE when missing). */
export async function readHead(file: string, max = 512): Promise<Buffer> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, "r");
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw syserrToDsvc(e, file);
  } finally {
    await fh?.close();
  }
}

/**
 * The copy-and-rename update: write `parts` to `<file>.new` (the dhcptab's after unlinking a
 * stale one and creating it exclusively, network tables truncating), fsync, rename over `file`,
 * fsync the directory. A crash at any point leaves either the old or the new container.
 */
export async function replaceContainer(
  file: string,
  parts: readonly Uint8Array[],
  options: { exclusive: boolean; mode: number },
): Promise<void> {
  const tmp = `${file}.new`;
  let fh: fsp.FileHandle | undefined;
  try {
    if (options.exclusive) {
      await fsp.rm(tmp, { force: true });
      fh = await fsp.open(tmp, "wx", options.mode);
    } else {
      fh = await fsp.open(tmp, "w", options.mode);
    }
    await fh.writev(parts as Uint8Array[]);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw syserrToDsvc(e, file);
  }
  await syncDir(path.dirname(file));
}

/** The permission bits of `file`, 0644 when it cannot be read. */
export async function fileMode(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).mode & 0o7777;
  } catch {
    return 0o644;
  }
}

/** Remove a container file (NO_TABLE when missing). */
export async function removeContainer(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (e) {
    throw syserrToDsvc(e, file);
  }
  await syncDir(path.dirname(file));
}

/** A physical or logical line of a container: byte range [start, end) including its newline. */
export interface LineSpan {
  start: number;
  end: number;
  /** 1-based number of its first physical line. */
  lineNo: number;
  /** The text without the newline (continuations joined when asked for). */
  text: string;
}

const NL = 0x0a;
const BACKSLASH = 0x5c;

/**
 * The lines of `buf`. With `continuation`, a line ending in a backslash continues onto the next
 * (the backslash and newline removed), as upstream's FILE reader does.
 */
export function* lines(buf: Buffer, continuation: boolean): Generator<LineSpan> {
  let pos = 0;
  let lineNo = 1;
  while (pos < buf.length) {
    const start = pos;
    const first = lineNo;
    let text = "";
    for (;;) {
      let nl = buf.indexOf(NL, pos);
      const last = nl < 0;
      if (last) nl = buf.length;
      lineNo++;
      if (continuation && !last && nl > pos && buf[nl - 1] === BACKSLASH) {
        text += buf.toString("utf8", pos, nl - 1);
        pos = nl + 1;
        if (pos < buf.length) continue;
        yield { start, end: pos, lineNo: first, text };
        return;
      }
      text += buf.toString("utf8", pos, nl);
      pos = last ? nl : nl + 1;
      break;
    }
    yield { start, end: pos, lineNo: first, text };
  }
}

/** The parts of a rewritten container: `buf` without [start, end), then `append` (newline-terminated). */
export function spliceParts(
  buf: Buffer,
  range: { start: number; end: number } | undefined,
  append?: string,
): Uint8Array[] {
  const parts: Uint8Array[] = [];
  if (range) {
    parts.push(buf.subarray(0, range.start), buf.subarray(range.end));
  } else {
    parts.push(buf);
  }
  if (append !== undefined) {
    const body = range
      ? (range.end < buf.length ? buf.subarray(range.end) : buf.subarray(0, range.start))
      : buf;
    // A hand-edited file may lack its final newline: never glue the new record onto it.
    const lastByte = body.length > 0 ? body[body.length - 1] : NL;
    if (lastByte !== NL) parts.push(Buffer.from("\n"));
    parts.push(Buffer.from(append, "utf8"));
  }
  return parts.filter((p) => p.length > 0);
}
