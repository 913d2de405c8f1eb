/**
 * The status page's action token and the file that tells its URL. A token is made fresh each
 * time the display starts, so it is good for one display of one daemon only; it is kept in a
 * mode 0600 file in the daemon's socket directory, so only someone who can read the daemon's
 * state directory learns it. It travels in the URL's fragment (never sent to the server) and in
 * an `Authorization` header, never in a path or query, and is never logged.
 * @internal
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomicSync } from "../../platform/atomic.ts";
import { pidAlive } from "../../platform/pid.ts";
import { RealmError } from "../errors.ts";
import { realmSocketDir } from "../paths.ts";

/** A fresh random token (256 bits, base64url). */
export function newDisplayToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether `given` is `token`, in constant time. */
export function tokenMatches(token: string, given: string | undefined): boolean {
  if (given === undefined || given === "") return false;
  const a = createHash("sha256").update(token).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header ?? "");
  return m ? m[1] : undefined;
}

/** What the display file holds. */
export interface DisplayFile {
  /** The page's address, without the token. */
  url: string;
  token: string;
  /** The daemon's pid. */
  pid: number;
}

/** The display file of a state directory. */
export function displayFilePath(stateDir: string): string {
  return path.join(realmSocketDir(stateDir), "display.json");
}

/** Write the display file (atomically, mode 0600). */
export function writeDisplayFile(stateDir: string, file: DisplayFile): void {
  // An existing file would keep its mode: start from none, so the new one is 0600.
  removeDisplayFile(stateDir);
  writeFileAtomicSync(displayFilePath(stateDir), JSON.stringify(file) + "\n", { mode: 0o600 });
}

/** Remove the display file; a missing file is fine. */
export function removeDisplayFile(stateDir: string): void {
  fs.rmSync(displayFilePath(stateDir), { force: true });
}

/**
 * The page's URL with its token (`http://127.0.0.1:9731/#token=…`), for `steward realms display
 * url`. Throws a {@link RealmError} when the display is off or the file cannot be read.
 */
export function displayUrlWithToken(stateDir: string): string {
  const file = displayFilePath(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new RealmError("no-daemon", `The display is off: no ${file}`);
    }
    throw new RealmError("io", `Cannot read the display file: ${(e as Error).message}`);
  }
  let d: Partial<DisplayFile>;
  try {
    d = JSON.parse(text) as Partial<DisplayFile>;
  } catch {
    throw new RealmError("io", `The display file is not valid JSON: ${file}`);
  }
  if (typeof d.url !== "string" || typeof d.token !== "string" || typeof d.pid !== "number") {
    throw new RealmError("io", `The display file is incomplete: ${file}`);
  }
  if (!pidAlive(d.pid)) {
    throw new RealmError("no-daemon", `The display's daemon (pid ${d.pid}) is not running`);
  }
  return `${d.url}#token=${d.token}`;
}
