/**
 * Opening files for a realm without letting the realm's user redirect the daemon: a root
 * daemon appends to a realm's output log only after checking that no component of its path
 * is a symbolic link the realm's user could have planted, that the file itself is not a
 * symbolic link (`O_NOFOLLOW`), and that a file found in a directory the user can write is the
 * user's own. State directories are checked the same way against every other user.
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { isNotCapable, RealmError } from "./errors.ts";

/** The identity whose writes are distrusted. */
export interface Writer {
  uid: number;
  /** Primary and supplementary groups. */
  gids: readonly number[];
}

/** The primary and supplementary groups of a user (from /etc/group). */
export function groupsOf(user: { name: string; gid: number }): number[] {
  const gids = new Set<number>([user.gid]);
  try {
    for (const line of fs.readFileSync("/etc/group", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length < 4) continue;
      if ((f[3] as string).split(",").includes(user.name)) gids.add(Number(f[2]));
    }
  } catch { /* no group file: the primary group only */ }
  return [...gids];
}

/** Whether `who` may create or replace entries in the directory `st`. */
export function canWriteDir(st: fs.Stats, who: Writer): boolean {
  if (who.uid === 0) return true;
  if (st.uid === who.uid) return (st.mode & 0o200) !== 0;
  if (who.gids.includes(st.gid) && (st.mode & 0o020) !== 0) return true;
  return (st.mode & 0o002) !== 0;
}

function refuse(file: string, why: string): never {
  throw new RealmError("io", `Refusing ${file}: ${why}`);
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** lstat, or "hidden" where the runtime's permissions do not let us look. */
function lstatScoped(p: string): fs.Stats | undefined | "hidden" {
  try {
    return lstat(p);
  } catch (e) {
    // Deno refuses to look outside its read scope; what it cannot see is not checked.
    if (isNotCapable(e)) return "hidden";
    throw e;
  }
}

/** Whether `path` names, without following a last symbolic link, the file `st` describes. */
export function sameAsPath(st: fs.Stats, p: string): boolean {
  try {
    const l = fs.lstatSync(p);
    return !l.isSymbolicLink() && l.dev === st.dev && l.ino === st.ino;
  } catch {
    return false;
  }
}

/** Where an open descriptor really points (Linux /proc), or undefined where that is unknown. */
function fdPath(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${process.pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/**
 * Open `file` for appending on behalf of a realm whose processes run as `user`: missing
 * directories are created (and given to the user inside a directory the user can write), a
 * symbolic link the user could have planted anywhere on the path is refused, and an existing
 * file in a directory the user can write must be the user's own, with one link. Returns the
 * descriptor; throws a {@link RealmError} naming the path otherwise.
 */
export function openAppendForUser(
  file: string,
  user: { name: string; uid: number; gid: number },
): number {
  const abs = path.resolve(file);
  const who: Writer = { uid: user.uid, gids: groupsOf(user) };
  const dirs = path.dirname(abs).split("/").filter((p) => p !== "");
  let cur = "/";
  const root = lstatScoped("/");
  let parent: fs.Stats | undefined = root === "hidden" ? undefined : root;
  for (const part of dirs) {
    const next = path.join(cur, part);
    const seen = lstatScoped(next);
    if (seen === "hidden") {
      cur = next;
      parent = undefined;
      continue;
    }
    let st = seen;
    if (!st) {
      fs.mkdirSync(next, { mode: 0o750 });
      if (parent && canWriteDir(parent, who)) fs.chownSync(next, user.uid, user.gid);
      st = fs.lstatSync(next);
    }
    if (st.isSymbolicLink()) {
      if (st.uid === user.uid || !parent || canWriteDir(parent, who)) {
        refuse(abs, `${next} is a symbolic link the realm's user ${user.name} could have made`);
      }
      cur = fs.realpathSync(next);
      parent = fs.statSync(cur);
      continue;
    }
    if (!st.isDirectory()) refuse(abs, `${next} is not a directory`);
    cur = next;
    parent = st;
  }
  // The directory the file is really in, and whether the user can write anywhere on its way.
  const realDir = fs.realpathSync(path.dirname(abs));
  let userWritable = false;
  let walk = "/";
  for (const part of realDir.split("/").filter((p) => p !== "")) {
    const st = lstatScoped(walk);
    if (st !== "hidden" && st && canWriteDir(st, who)) userWritable = true;
    walk = path.join(walk, part);
  }
  const dirSt = fs.lstatSync(realDir);
  if (dirSt.isSymbolicLink()) refuse(abs, `${realDir} changed while it was checked`);
  if (canWriteDir(dirSt, who)) userWritable = true;
  const target = path.join(realDir, path.basename(abs));
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  // Deno's node:fs does not pass O_NOFOLLOW on: links are also looked for before and after.
  if (lstat(target)?.isSymbolicLink()) refuse(abs, `${target} is a symbolic link`);
  let fd: number;
  let created = false;
  try {
    fd = fs.openSync(target, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, 0o640);
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    try {
      fd = fs.openSync(target, O_WRONLY | O_APPEND | O_NOFOLLOW);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === "ELOOP") {
        refuse(abs, `${target} is a symbolic link`);
      }
      throw e2;
    }
  }
  try {
    const st = fs.fstatSync(fd);
    const devNull = target === "/dev/null" && st.isCharacterDevice();
    if (!st.isFile() && !devNull) refuse(abs, `${target} is not a regular file`);
    if (!created && userWritable && !devNull) {
      if (st.uid !== user.uid) {
        refuse(
          abs,
          `${target} is owned by uid ${st.uid}, not by the realm's user ${user.name}, ` +
            `in a directory that user can write`,
        );
      }
      if (st.nlink > 1) refuse(abs, `${target} has ${st.nlink} hard links`);
    }
    if (!sameAsPath(st, target)) refuse(abs, `${target} was replaced while it was opened`);
    const real = fdPath(fd);
    if (real !== undefined && real !== target && !devNull) {
      refuse(abs, `${target} was replaced while it was opened (now ${real})`);
    }
    if (created && userWritable) fs.fchownSync(fd, user.uid, user.gid);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * Check that a directory of the daemon's own (its state directory and what is in it) cannot be
 * redirected or replaced by another user: neither it nor any directory above it may be writable
 * by anyone but root and the daemon's user (sticky directories such as /tmp excepted for their
 * entries that root or the daemon's user own), and a symbolic link on the way must belong to
 * root or the daemon's user. Throws a {@link RealmError} naming the offending path.
 */
export function checkTrustedDir(dir: string, uid: number | undefined = process.geteuid?.()): void {
  if (uid === undefined) return;
  const abs = path.resolve(dir);
  const trusted = (owner: number) => owner === 0 || owner === uid;
  const walk = (p: string): boolean => {
    let cur = "/";
    let followed = false;
    for (const part of p.split("/").filter((x) => x !== "")) {
      const next = path.join(cur, part);
      const st = lstatScoped(next);
      if (st === "hidden") {
        cur = next;
        continue;
      }
      if (!st) break; // created by the daemon itself, below what was checked
      if (!trusted(st.uid)) refuse(next, `owned by uid ${st.uid}, not by root or uid ${uid}`);
      if (st.isSymbolicLink()) {
        followed = true;
        cur = fs.realpathSync(next);
        continue;
      }
      // Entries of a sticky directory (such as /tmp) can be replaced only by their owners.
      const sticky = (st.mode & 0o1000) !== 0;
      if (st.isDirectory() && !sticky) {
        if ((st.mode & 0o002) !== 0) refuse(next, "writable by every user");
        if (next === abs && (st.mode & 0o020) !== 0 && st.gid !== 0) {
          refuse(next, `writable by group ${st.gid}`);
        }
      }
      cur = next;
    }
    return followed;
  };
  if (walk(abs)) {
    try {
      walk(fs.realpathSync(abs));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}
