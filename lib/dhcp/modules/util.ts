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
import { type CommitFence, DSVC, DsvcError } from "../spi.ts";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

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
    const fh = await fsp.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    try {
      await fh.writeFile(content);
      // On the descriptor, never the name: the name could be swapped for a link meanwhile.
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
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

/**
 * Open `file` for reading without following a symbolic link in its last component: in a data
 * directory another user can write, a planted link must not make root read or replace the
 * file it points to.
 */
async function openNoFollow(file: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, O_RDONLY | O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") {
      throw new DsvcError(
        DSVC.ACCESS,
        `${file}: is a symbolic link; containers are never opened through one`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** Which version of a container file a writer read: a rename or rewrite changes it. */
export interface FileVersion {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function versionOf(st: fs.Stats): FileVersion {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs;
}

/** A container's bytes and the version of the file they came from. */
export interface ContainerContent {
  buf: Buffer;
  version: FileVersion;
}

/** Read a whole container with its version (NO_TABLE when removed, NO_RESOURCES beyond the limit). */
export async function readContainerVersion(file: string): Promise<ContainerContent> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await openNoFollow(file);
    const st = await fh.stat();
    if (!st.isFile()) throw new DsvcError(DSVC.INTERNAL, `${file}: not a regular file`);
    if (st.size > MAX_CONTAINER_BYTES) {
      throw new DsvcError(DSVC.NO_RESOURCES, `${file}: larger than ${MAX_CONTAINER_BYTES} bytes`);
    }
    return { buf: await fh.readFile(), version: versionOf(st) };
  } catch (e) {
    throw syserrToDsvc(e, file);
  } finally {
    await fh?.close();
  }
}

/** Read a whole container (NO_TABLE when it was removed, NO_RESOURCES beyond the size limit). */
export async function readContainer(file: string): Promise<Buffer> {
  return (await readContainerVersion(file)).buf;
}

/** Read at most `max` bytes from the start of `file` (NO_TABLE when missing). */
export async function readHead(file: string, max = 512): Promise<Buffer> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await openNoFollow(file);
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw syserrToDsvc(e, file);
  } finally {
    await fh?.close();
  }
}

/** How old a leftover temporary file must be before a writer removes it. */
export const STALE_TEMP_MS = 10 * 60 * 1000;

/** The unique temporary name of one rewrite of `file`: `.<name>.<12 hex digits>.new`. */
export function tempNameFor(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString("hex")}.new`,
  );
}

function isTempOf(base: string, name: string): boolean {
  // Ours (`.<base>.<hex>.new`) and the fixed `<base>.new` of earlier versions.
  return name === `${base}.new` ||
    (name.startsWith(`.${base}.`) && /^\.[0-9a-f]{12}\.new$/.test(name.slice(base.length + 1)));
}

const cleaned = new Set<string>();

/**
 * Remove temporaries of `file` left by writers that died (kill -9, a power cut): once per
 * process and container, under the container's exclusive lock. Only names of the temporary
 * pattern are touched; a regular file only when older than STALE_TEMP_MS (a writer that lost
 * its lock may still be writing one, and its fence will stop it anyway); anything else of that
 * name (a planted symbolic link) at once, by unlinking the name, never what it points to.
 */
export async function removeStaleTemps(file: string, now = Date.now()): Promise<number> {
  if (cleaned.has(file)) return 0;
  cleaned.add(file);
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!isTempOf(base, name)) continue;
    const p = path.join(dir, name);
    try {
      const st = await fsp.lstat(p);
      if (st.isDirectory()) continue;
      if (st.isFile() && now - st.mtimeMs < STALE_TEMP_MS) continue;
      await fsp.unlink(p);
      removed++;
    } catch { /* gone already, or not ours to remove */ }
  }
  return removed;
}

/** A failed step of a commit, said as what it is (never "Table does not exist"). */
function commitError(e: unknown, what: string): DsvcError {
  if (e instanceof DsvcError) return e;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT" || code === "EEXIST" || code === "ELOOP" || code === "EISDIR") {
    return new DsvcError(DSVC.INTERNAL, `${what}: ${(e as Error).message}`, { cause: e });
  }
  return syserrToDsvc(e, what);
}

/** Options of {@link replaceContainer}. */
export interface ReplaceOptions {
  /** Permission bits of the new file. */
  mode: number;
  /** Checked right before the rename: a writer whose lock was lost does not commit. */
  fence?: CommitFence | undefined;
  /** The version the new content was made from: the rename only replaces that version. */
  expect?: FileVersion | undefined;
}

/**
 * The copy-and-rename update: write `parts` to a temporary file of a unique name created
 * exclusively (O_EXCL, O_NOFOLLOW), fsync it, check the fence and that `file` is still the
 * version the content was made from, rename over `file`, fsync the directory. A crash at any
 * point leaves either the old or the new container; a lost lock leaves the old one untouched.
 */
export async function replaceContainer(
  file: string,
  parts: readonly Uint8Array[],
  options: ReplaceOptions,
): Promise<void> {
  await removeStaleTemps(file);
  const tmp = tempNameFor(file);
  let fh: fsp.FileHandle | undefined;
  let created = false;
  try {
    try {
      fh = await fsp.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, options.mode);
      created = true;
      await fh.writev(parts as Uint8Array[]);
      // The creation mode went through the umask: give the container its own mode back.
      await fh.chmod(options.mode);
      await fh.sync();
      await fh.close();
      fh = undefined;
    } catch (e) {
      throw commitError(e, `cannot write the temporary file ${tmp}`);
    }
    await options.fence?.check();
    if (options.expect) {
      let now: FileVersion | undefined;
      try {
        now = versionOf(await fsp.lstat(file));
      } catch { /* removed: not the version read either */ }
      if (!now || !sameVersion(now, options.expect)) {
        throw new DsvcError(
          DSVC.SYNCH_ERR,
          `${file} was changed by another writer while this one held its lock, so nothing was written`,
        );
      }
    }
    try {
      await fsp.rename(tmp, file);
    } catch (e) {
      throw commitError(e, `cannot rename ${tmp} to ${file}`);
    }
    created = false;
  } finally {
    await fh?.close().catch(() => {});
    if (created) await fsp.rm(tmp, { force: true }).catch(() => {});
  }
  await syncDir(path.dirname(file));
}

/** The permission bits of `file` (the file itself, never a link's target), 0644 when unreadable. */
export async function fileMode(file: string): Promise<number> {
  try {
    const st = await fsp.lstat(file);
    return st.isFile() ? st.mode & 0o7777 : 0o644;
  } catch {
    return 0o644;
  }
}

/** Remove a container file (NO_TABLE when missing), after checking the fence. */
export async function removeContainer(file: string, fence?: CommitFence): Promise<void> {
  await fence?.check();
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
