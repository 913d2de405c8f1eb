/**
 * Crash-safe file replacement: temp file, fsync, rename, fsync of the directory.
 * @module
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of a new file; an existing file keeps its own mode. */
  mode?: number;
}

function tempName(file: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`,
  );
}

async function existingMode(file: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(file)).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/** Replace `file` with `data` so that a crash at any instant leaves either the old or the new file. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = (await existingMode(file)) ?? options.mode ?? 0o644;
  const tmp = tempName(file);
  const handle = await fsp.open(tmp, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(path.dirname(file));
}

/** Synchronous twin of {@link writeFileAtomic}, for start-up and shutdown paths. */
export function writeFileAtomicSync(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  let mode = options.mode ?? 0o644;
  try {
    mode = fs.statSync(file).mode & 0o7777;
  } catch { /* new file */ }
  const tmp = tempName(file);
  const fd = fs.openSync(tmp, "wx", mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    // A failed write (full disk…) must not leave its temp file behind.
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = fs.openSync(path.dirname(file), "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch { /* some file systems refuse fsync on directories */ }
}

/** fsync a directory so a rename in it is durable; ignored where the platform refuses. */
export async function syncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, "r");
    await handle.sync();
  } catch {
    /* some file systems refuse fsync on directories */
  } finally {
    await handle?.close();
  }
}
