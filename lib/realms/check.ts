/**
 * Checking realm definitions (upstream `realmchk` and dtrealms' `validrealm`), with upstream's
 * messages and its intended logic: the realm directory check tests the realm directory, the
 * rollrec check tests the rollrec, and a directory must be a searchable, writable directory.
 * steward's additions: `rollrec`, `configdir` and `realmdir` are required only for rollerd realms
 * (other managers run in the daemon's directory), and steward's own supervision fields are
 * checked too.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { isNotCapable } from "./errors.ts";
import { lookupUser } from "./process.ts";
import { policyProblems } from "./policy.ts";
import type { RealmRecord } from "./realmsfile.ts";

/** Options of {@link checkRealmDefinition}. */
export interface RealmCheckOptions {
  /** Base for relative directories (dtrealms' directory; default the current directory). */
  baseDir?: string;
  /** Environment whose PATH finds a bare manager name (default process.env). */
  env?: Record<string, string | undefined>;
}

/** Whether `file` is an executable regular file; true where the runtime does not let us look. */
function executable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch (e) {
    return isNotCapable(e);
  }
}

/** Where the daemon would find a manager program: relative to the realm directory, or on PATH. */
export function findProgram(
  program: string,
  realmDir: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (program.includes("/")) {
    const p = path.resolve(realmDir, program);
    return executable(p) ? p : undefined;
  }
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir === "") continue;
    const p = path.join(dir, program);
    if (executable(p)) return p;
  }
  return undefined;
}

function usableDir(p: string): boolean {
  try {
    if (!fs.statSync(p).isDirectory()) return false;
    fs.accessSync(p, fs.constants.X_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function usesRollerd(realm: RealmRecord): boolean {
  const m = realm.fields.manager;
  return m === undefined || m === "" || path.basename(m) === "rollerd";
}

/**
 * The problems of one realm, as realmchk's verbose lines without their tab (empty when valid):
 * `invalid state - "x"`, `no config directory given`, `invalid config directory - "d"`,
 * `invalid state directory - "d"`, `no realm directory given`, `invalid realm directory - "d"`,
 * `no rollrec given`, `invalid rollrec - "f"`, `invalid user - "u"`, steward's
 * `no manager given` and `invalid manager - "m"` (not found, or not executable), and steward's
 * field problems. The daemon refuses to start a realm with any of them.
 */
export function checkRealmDefinition(
  realm: RealmRecord,
  options: RealmCheckOptions = {},
): string[] {
  const base = options.baseDir ?? process.cwd();
  const f = realm.fields;
  const problems: string[] = [];
  if (f.state !== "active" && f.state !== "inactive") {
    problems.push(`invalid state - "${f.state ?? ""}"`);
  }
  const rollerd = usesRollerd(realm);
  // rollerd needs its configuration and realm directories; other managers default to ".".
  if (f.configdir === undefined) {
    if (rollerd) problems.push("no config directory given");
  } else if (!usableDir(path.resolve(base, f.configdir))) {
    problems.push(`invalid config directory - "${f.configdir}"`);
  }
  if (f.statedir !== undefined && !usableDir(path.resolve(base, f.statedir))) {
    problems.push(`invalid state directory - "${f.statedir}"`);
  }
  const realmdir = f.realmdir === undefined ? undefined : path.resolve(base, f.realmdir);
  if (realmdir === undefined) {
    if (rollerd) problems.push("no realm directory given");
  } else if (!usableDir(realmdir)) problems.push(`invalid realm directory - "${f.realmdir}"`);
  if (f.rollrec === undefined) {
    if (rollerd) problems.push("no rollrec given");
  } else {
    const rollrec = path.resolve(realmdir ?? base, f.rollrec);
    let ok = false;
    try {
      ok = fs.statSync(rollrec).isFile();
    } catch { /* missing */ }
    if (!ok) problems.push(`invalid rollrec - "${rollrec}"`);
  }
  const manager = f.manager || (f.rollrec ? "rollerd" : "");
  if (manager === "") problems.push("no manager given");
  else if (!findProgram(manager, realmdir ?? base, options.env)) {
    problems.push(`invalid manager - "${manager}"`);
  }
  if (f.user !== undefined && lookupUser(f.user) === undefined) {
    problems.push(`invalid user - "${f.user}"`);
  }
  problems.push(...policyProblems({ name: realm.name, fields: f }));
  return problems;
}
