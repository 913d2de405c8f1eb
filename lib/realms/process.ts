/**
 * Realm manager processes: the command line and environment upstream dtrealms gives a realm,
 * the user it runs as, and a launcher that spawns managers without a shell, each in its own
 * process group with its output appended to its own log file.
 * @internal
 * @module
 */
import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isDeno } from "../platform/runtime.ts";
import { pidAlive, sendSignal } from "../platform/pid.ts";
import { RealmError } from "./errors.ts";
import { openAppendForUser } from "./safe-open.ts";
import type { ExitInfo, Launcher, LaunchHooks, ManagerProcess } from "./supervisor.ts";

/** A realm as the daemon sees it: its name and its realms-file fields. */
export interface RealmEntry {
  name: string;
  fields: Readonly<Record<string, string>>;
}

/** An account from the password database. */
export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswdLine(line: string): UserInfo | undefined {
  const f = line.split(":");
  if (f.length < 7) return undefined;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name: f[0] as string, uid, gid, home: f[5] as string };
}

/** Look a user up by name or numeric id (getent, then /etc/passwd); undefined when unknown. */
export function lookupUser(user: string): UserInfo | undefined {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(user)) return undefined;
  try {
    const out = execFileSync("getent", ["passwd", user], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 5000,
    });
    const u = parsePasswdLine(out.trim().split("\n")[0] ?? "");
    if (u) return u;
  } catch { /* no getent, or not found: try the file */ }
  try {
    for (const line of fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const u = parsePasswdLine(line);
      if (u && (u.name === user || String(u.uid) === user)) return u;
    }
  } catch { /* no passwd file */ }
  return undefined;
}

/** Effective uid of the daemon, or undefined where there is none. */
export function daemonUid(): number | undefined {
  return typeof process.geteuid === "function" ? process.geteuid() : undefined;
}

/** How to run one realm's manager. */
export interface ManagerSpec {
  realm: string;
  /** Program to execute (resolved through PATH when it has no slash). */
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Where the manager's standard output and error are appended. */
  logFile: string;
  /** Set when the manager runs as another user (daemon running as root). */
  user: UserInfo | undefined;
  /** Whether the realm runs rollerd-style (it has a rollrec). */
  rollerd: boolean;
}

/** What {@link managerSpec} needs from the daemon. */
export interface SpecContext {
  /** The daemon's directory: base of relative paths in the realms file. */
  directory: string;
  /** Directory of the realms' output logs (default `<directory>/realm-logs`). */
  logDir?: string;
  /** Environment the realm inherits (default process.env). */
  env?: Record<string, string | undefined>;
  /** The daemon's effective uid (default the real one). */
  uid?: number | undefined;
  /** The daemon's state directory: marks its managers so a successor can find them. */
  stateDir?: string;
  /** The daemon's secret, which makes the mark unforgeable by other users. */
  markSecret?: string;
}

/** Environment variables that mark a manager as the realm's, for the daemon of a state dir. */
export const MANAGER_MARK = {
  stateDir: "STEWARD_REALMS_STATEDIR",
  realm: "STEWARD_REALM",
  /** HMAC of the state directory and realm under the daemon's secret (see registry.ts). */
  token: "STEWARD_REALMS_MARK",
} as const;

/** The mark token of `realm`'s managers for the daemon of `stateDir` holding `secret`. */
export function managerMarkToken(secret: string, stateDir: string, realm: string): string {
  return createHmac("sha256", secret).update(`${stateDir}\0${realm}`).digest("hex");
}

/** Real and effective uid of a process (Linux /proc), or undefined when unknown. */
export function processUids(pid: number): { real: number; effective: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    return m ? { real: Number(m[1]), effective: Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/** Split an `args` value on whitespace, as upstream's exec of a metacharacter-free string does. */
export function splitArgs(text: string | undefined): string[] {
  return (text ?? "").split(/[ \t]+/).filter((w) => w !== "");
}

/** A program named with a slash is relative to the realm directory; a bare name uses PATH. */
export function resolveProgram(program: string, realmDir: string): string {
  return program.includes("/") ? path.resolve(realmDir, program) : program;
}

/** The realm's directory: `realmdir` made absolute against the daemon directory, or the directory. */
export function realmDirOf(realm: RealmEntry, directory: string): string {
  const dir = realm.fields.realmdir;
  return dir ? path.resolve(directory, dir) : directory;
}

/** `DT_STATEDIR` and `DT_SYSCONFDIR` for a realm: its statedir/configdir made absolute, or ".". */
export function realmDtEnv(realm: RealmEntry, directory: string): Record<string, string> {
  const abs = (v: string | undefined) => (v ? path.resolve(directory, v) : ".");
  return {
    DT_STATEDIR: abs(realm.fields.statedir),
    DT_SYSCONFDIR: abs(realm.fields.configdir),
  };
}

/**
 * The user a realm's processes run as: its `user` field when the daemon runs as root; undefined
 * otherwise. Throws a {@link RealmError} for a user that does not exist.
 */
export function realmUser(realm: RealmEntry, uid: number | undefined): UserInfo | undefined {
  const name = realm.fields.user;
  if (!name) return undefined;
  const user = lookupUser(name);
  if (!user) throw new RealmError("invalid", `Realm ${realm.name}: user does not exist: ${name}`);
  return uid === 0 ? user : undefined;
}

/**
 * The variables of the daemon's environment a realm running as another user receives; the
 * realm's `passenv` field names more. Anything else (credentials, tokens, the daemon's own
 * settings) stays with the daemon.
 */
export const USER_ENV_ALLOW: readonly string[] = Object.freeze(["PATH", "LANG", "TZ"]);

/**
 * Environment of a process run in a realm: DT_STATEDIR and DT_SYSCONFDIR, plus the daemon's
 * whole environment when the realm runs as the daemon's user (as upstream), or only
 * {@link USER_ENV_ALLOW} and the realm's `passenv` names, with the user's USER, LOGNAME and
 * HOME, when it runs as another user.
 */
export function realmEnv(
  realm: RealmEntry,
  ctx: { directory: string; env?: Record<string, string | undefined> },
  user: UserInfo | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  const from = ctx.env ?? process.env;
  if (user && user.uid !== daemonUid()) {
    for (const k of [...USER_ENV_ALLOW, ...splitArgs(realm.fields.passenv)]) {
      const v = from[k];
      if (v !== undefined) env[k] = v;
    }
  } else {
    for (const [k, v] of Object.entries(from)) if (v !== undefined) env[k] = v;
  }
  Object.assign(env, realmDtEnv(realm, ctx.directory));
  if (user) Object.assign(env, { USER: user.name, LOGNAME: user.name, HOME: user.home });
  return env;
}

/**
 * How upstream dtrealms runs a realm, without a shell: with a rollrec,
 * `<manager|rollerd> -realm <name> -foreground <args> -rrf <rollrec>`; without one,
 * `<manager> <args>`. Runs in the realm directory with DT_STATEDIR and DT_SYSCONFDIR set.
 */
export function managerSpec(realm: RealmEntry, ctx: SpecContext): ManagerSpec {
  const cwd = realmDirOf(realm, ctx.directory);
  const rollrec = realm.fields.rollrec;
  const rollerd = rollrec !== undefined && rollrec !== "";
  const manager = realm.fields.manager || (rollerd ? "rollerd" : "");
  if (manager === "") {
    throw new RealmError("invalid", `Realm ${realm.name} has neither a manager nor a rollrec`);
  }
  const args = splitArgs(realm.fields.args);
  const argv = rollerd
    ? ["-realm", realm.name, "-foreground", ...args, "-rrf", path.resolve(cwd, rollrec)]
    : args;
  const user = realmUser(realm, ctx.uid === undefined ? daemonUid() : ctx.uid);
  return {
    realm: realm.name,
    command: resolveProgram(manager, cwd),
    args: argv,
    cwd,
    env: {
      ...realmEnv(realm, ctx, user),
      ...(ctx.stateDir
        ? { [MANAGER_MARK.stateDir]: ctx.stateDir, [MANAGER_MARK.realm]: realm.name }
        : {}),
      ...(ctx.stateDir && ctx.markSecret
        ? { [MANAGER_MARK.token]: managerMarkToken(ctx.markSecret, ctx.stateDir, realm.name) }
        : {}),
    },
    logFile: realmOutputLog(realm, ctx.directory, ctx.logDir),
    user,
    rollerd,
  };
}

/** Where a realm's manager output goes: its `outputlog`, or `<logDir>/<realm>.log`. */
export function realmOutputLog(realm: RealmEntry, directory: string, logDir?: string): string {
  const out = realm.fields.outputlog;
  if (out) return path.resolve(directory, out);
  // A realm name may contain "/" (the realms-file grammar allows it): never a path here.
  const name = `${realm.name.replace(/\//g, "_") || "_"}.log`;
  return path.join(logDir ?? path.join(directory, "realm-logs"), name);
}

/** Wrap a command so it runs as `user` with the user's groups (setpriv from util-linux). */
export function asUser(
  command: string,
  args: readonly string[],
  user: UserInfo | undefined,
): { command: string; args: string[] } {
  if (!user) return { command, args: [...args] };
  return {
    command: "setpriv",
    args: [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      "--init-groups",
      "--",
      command,
      ...args,
    ],
  };
}

/**
 * Under Deno, descriptors the runtime opened (the daemon's listening socket among them) are
 * inherited by children, so a manager would keep the control socket alive after the daemon
 * died. There, children start through a small shell trampoline (bash, whose redirections
 * reach descriptors above 9; else sh) that closes every descriptor above 2 and then execs the
 * program; its arguments are passed as positional parameters and never interpreted. Node marks
 * its descriptors close-on-exec and needs no trampoline.
 */
export function withoutInheritedFds(
  cmd: { command: string; args: string[] },
  needed: boolean = isDeno(),
): { command: string; args: string[] } {
  if (!needed) return cmd;
  const script = 'for f in /proc/self/fd/*; do n="${f##*/}"; case "$n" in 0|1|2) ;; ' +
    '*[!0-9]*) ;; *) eval "exec $n>&-" 2>/dev/null ;; esac; done; exec "$@"';
  return {
    command: trampolineShell(),
    args: ["-c", script, "steward-exec", cmd.command, ...cmd.args],
  };
}

let shell: string | undefined;

/** The shell of {@link withoutInheritedFds}: bash where installed, else /bin/sh. */
export function trampolineShell(): string {
  shell ??= ["/bin/bash", "/usr/bin/bash"].find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch (e) {
      // Under a Deno read scope that leaves /bin out the check itself is refused: assume bash.
      return !["ENOENT", "EACCES", "ENOTDIR"].includes((e as NodeJS.ErrnoException).code ?? "");
    }
  }) ?? "/bin/sh";
  return shell;
}

/** Check that a directory exists before spawning in it (spawn would blame the program). */
export function checkDirectory(dir: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new RealmError("invalid", `${what} does not exist: ${dir}`);
  }
  if (!st.isDirectory()) throw new RealmError("invalid", `${what} is not a directory: ${dir}`);
}

/** Send `sig` to the process group of `pid` (its leader), falling back to the process alone. */
export function signalGroup(pid: number, sig: NodeJS.Signals): boolean {
  return sendSignal(-pid, sig) || sendSignal(pid, sig);
}

/** Send `sig` to the manager's pid only (upstream signals the pid, not its group). */
export function signalPid(pid: number, sig: NodeJS.Signals): boolean {
  return sendSignal(pid, sig);
}

/**
 * The start time of a process in clock ticks since boot (Linux /proc); undefined when the
 * process does not exist, is a zombie, or the platform has no /proc.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

let procFs: boolean | undefined;

function hasProc(): boolean {
  if (procFs === undefined) {
    try {
      procFs = fs.existsSync(`/proc/${process.pid}/stat`);
    } catch {
      procFs = false;
    }
  }
  return procFs;
}

/** Whether `pid` is alive (and, when `startTime` is given, is still the same process). */
export function processAlive(pid: number, startTime?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  if (!pidAlive(pid)) return false;
  // Not /proc/self: under Deno that magic link needs every permission.
  if (hasProc()) {
    const now = processStartTime(pid);
    if (now === undefined) return false;
    if (startTime !== undefined && now !== startTime) return false;
  }
  return true;
}

/** Options of {@link ProcessLauncher}. */
export interface ProcessLauncherOptions {
  /** Computes the spec afresh at each launch (the realms file may have changed). */
  spec: () => ManagerSpec;
  /** Called once a manager runs (the daemon records it for the next run). */
  onStarted?: (pid: number, spec: ManagerSpec) => void;
  /** Called when a manager has gone. */
  onGone?: (pid: number) => void;
  /** How often an adopted manager is checked (default 250 ms). */
  pollMs?: number;
}

class ChildManager implements ManagerProcess {
  readonly pid: number;
  readonly adopted: boolean;
  constructor(pid: number, adopted: boolean) {
    this.pid = pid;
    this.adopted = adopted;
  }
  signal(sig: NodeJS.Signals, scope: "pid" | "group" = "pid"): boolean {
    return scope === "group" ? signalGroup(this.pid, sig) : signalPid(this.pid, sig);
  }
}

/** Spawns realm managers as real processes. */
export class ProcessLauncher implements Launcher {
  readonly #o: ProcessLauncherOptions;

  constructor(options: ProcessLauncherOptions) {
    this.#o = options;
  }

  /** Spawn the manager detached (own process group), stdin closed, output to its log file. */
  launch(hooks: LaunchHooks): void {
    const spec = this.#o.spec();
    checkDirectory(spec.cwd, `Realm ${spec.realm}: realm directory`);
    let fd: number;
    try {
      if (spec.user && spec.user.uid !== 0) {
        // The daemon is root and the realm is not: the realm's user must not be able to point
        // this append at a file of root's.
        fd = openAppendForUser(spec.logFile, spec.user);
      } else {
        fs.mkdirSync(path.dirname(spec.logFile), { recursive: true, mode: 0o750 });
        fd = fs.openSync(spec.logFile, "a", 0o640);
      }
    } catch (e) {
      throw new RealmError(
        "io",
        `Realm ${spec.realm}: cannot open output log: ${(e as Error).message}`,
      );
    }
    const cmd = withoutInheritedFds(asUser(spec.command, spec.args, spec.user));
    let child;
    try {
      child = spawn(cmd.command, cmd.args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ["ignore", fd, fd],
        detached: true,
      });
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // Recorded before anything else can happen: a daemon killed from here on still leaves the
    // manager findable by its successor.
    if (child.pid) this.#o.onStarted?.(child.pid, spec);
    let spawned = false;
    const closeFd = () => {
      try {
        fs.closeSync(fd);
      } catch { /* closed */ }
    };
    child.once("spawn", () => {
      spawned = true;
      closeFd();
      const pid = child.pid as number;
      hooks.onSpawn(new ChildManager(pid, false));
    });
    child.once("error", (e) => {
      if (spawned) return;
      closeFd();
      if (child.pid) this.#o.onGone?.(child.pid);
      hooks.onError(e);
    });
    child.once("exit", (code, signal) => {
      if (!spawned) return;
      if (child.pid) this.#o.onGone?.(child.pid);
      hooks.onExit({ code, signal });
    });
  }

  /** Watch a manager of a previous run by polling it; undefined when it is not alive. */
  adopt(pid: number, hooks: Pick<LaunchHooks, "onExit">): ManagerProcess | undefined {
    if (!processAlive(pid)) return undefined;
    const start = processStartTime(pid);
    const timer = setInterval(() => {
      if (processAlive(pid, start)) return;
      clearInterval(timer);
      this.#o.onGone?.(pid);
      const exit: ExitInfo = { code: null, signal: null };
      hooks.onExit(exit);
    }, this.#o.pollMs ?? 250);
    timer.unref?.();
    return new ChildManager(pid, true);
  }
}
