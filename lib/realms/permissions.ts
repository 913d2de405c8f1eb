/**
 * The Deno permission scope of a realms daemon: its directory, state directory, realms file and
 * realm directories, its socket, and only the programs it runs (the managers, rollctl, setpriv,
 * flock for the realms lock, and the commands realms allow).
 * @internal
 * @module
 */
import path from "node:path";
import type { DenoPermissions } from "../platform/runtime.ts";
import { realmSocketPath } from "./paths.ts";
import { realmDirOf, type RealmEntry, resolveProgram, trampolineShell } from "./process.ts";

/** What the scope is computed from. */
export interface DaemonScope {
  directory: string;
  stateDir: string;
  realmsFile: string;
  /** The daemon's log file, when outside the directory. */
  logFile?: string | undefined;
  realms: readonly RealmEntry[];
  /** `--allow-commands`: any program may be run in a realm. */
  allowCommands?: boolean;
  /** The status page's address (default 127.0.0.1): it may be turned on at any time. */
  displayHost?: string | undefined;
}

/** Deno permissions for a realms daemon running with `scope`. */
export function realmsDaemonPermissions(scope: DaemonScope): DenoPermissions {
  const dir = path.resolve(scope.directory);
  const realmsFile = path.resolve(dir, scope.realmsFile);
  const read = new Set<string>([
    dir,
    scope.stateDir,
    realmsFile,
    "/proc",
    "/etc/passwd",
    "/etc/group",
  ]);
  const write = new Set<string>([dir, scope.stateDir, path.dirname(realmsFile)]);
  if (scope.logFile && scope.logFile !== "-") {
    const lf = path.resolve(dir, scope.logFile);
    read.add(lf);
    write.add(lf);
  }
  const run = new Set<string>(["setpriv", "getent", "flock", "kill", trampolineShell()]);
  let runAll = scope.allowCommands === true;
  for (const r of scope.realms) {
    const cwd = realmDirOf(r, dir);
    read.add(cwd);
    for (const k of ["configdir", "statedir"]) {
      const v = r.fields[k];
      if (v) read.add(path.resolve(dir, v));
    }
    const rollerd = (r.fields.rollrec ?? "") !== "";
    const manager = r.fields.manager || (rollerd ? "rollerd" : "");
    if (manager) run.add(resolveProgram(manager, cwd));
    if (rollerd) run.add(resolveProgram(r.fields.rollctl || "rollctl", cwd));
    if (r.fields.outputlog) write.add(path.dirname(path.resolve(dir, r.fields.outputlog)));
    for (const c of (r.fields.allowcommands ?? "").split(/[ \t,]+/)) {
      if (c === "*") runAll = true;
      else if (c !== "") run.add(resolveProgram(c, cwd));
    }
  }
  return {
    read: [...read],
    write: [...write],
    unixSockets: [realmSocketPath(scope.stateDir)],
    net: [
      scope.displayHost?.includes(":")
        ? `[${scope.displayHost}]`
        : scope.displayHost ?? "127.0.0.1",
    ],
    env: true,
    run: runAll ? true : [...run],
    sys: true,
  };
}
