/**
 * The daemon's command handlers: one function per protocol command, from a verified request to
 * the reply upstream dtrealms gives (spec §6.1), without its bugs: every request gets a reply,
 * code 4 is sent properly, a bad log file is an error reply. Pure functions over a narrow
 * {@link HandlerContext}: the daemon supplies the realms, the log, the realms file's state and
 * the command runner (process spawning is injected), so every rule here is tested without
 * sockets or processes (tests/realms/handlers.test.ts).
 * @internal
 * @module
 */
import path from "node:path";
import { escapeControl } from "../log/logger.ts";
import { LogFileError, logLevelName, type LogTz, type RollLog } from "./rolllog.ts";
import type { RealmSupervisor } from "./supervisor.ts";
import {
  realmDirOf,
  type RealmEntry,
  realmEnv,
  realmOutputLog,
  realmUser,
  resolveProgram,
} from "./process.ts";
import { allowsAllCommands, commandAllowed, commandShell, realmCommandTimeout } from "./policy.ts";
import { countZoneStatus, type runInRealm } from "./run-in-realm.ts";
import {
  formatRealmStatusBody,
  parseRealmCommandData,
  parseRealmLogLevel,
  parseRealmLogMessage,
  parseRealmLogTz,
  REALM_REPLY,
  type RealmStatusEntry,
  type RealmSupervision,
} from "./protocol/bodies.ts";
import { REALM_RC, REALMCMD, type RealmCommand } from "./protocol/codes.ts";
import { type RealmReply } from "./protocol/framing.ts";

/** What the handlers ask of a realm's supervisor. */
export type SupervisedRealm = Pick<
  RealmSupervisor,
  "state" | "active" | "start" | "stop" | "snapshot"
>;

/** A realm as handlers see it. */
export interface HandledRealm {
  entry: RealmEntry;
  sup: SupervisedRealm;
}

/** Runs a command in a realm: the daemon's is {@link runInRealm}; tests inject their own. */
export type RealmCommandRunner = typeof runInRealm;

/** What the handlers need from the daemon. */
export interface HandlerContext {
  /** The daemon's log: its file, level and time zone. */
  readonly log: Pick<RollLog, "file" | "open" | "level" | "tz">;
  readonly directory: string;
  /** The daemon's own files, never accepted as a log file (realms file, id file, socket…). */
  ownFiles(): string[];
  logLevelText: string;
  logTzText: string;
  readonly defaultLogTz: LogTz;
  readonly options: {
    allowCommands?: boolean;
    statusTimeoutMs?: number;
    commandTimeoutMs?: number;
  };
  /** The environment realms inherit. */
  readonly env: Record<string, string | undefined>;
  /** The daemon's effective uid (undefined where there is none). */
  readonly uid: number | undefined;
  readonly realms: ReadonlyMap<string, HandledRealm>;
  /** Runs a command in a realm (realmcmd_command, and rollctl -zonestatus for realmstatus). */
  readonly runCommand: RealmCommandRunner;
  /** The last lines of a realm's output log (realmcmd_supervision REALM). */
  logTail(file: string): string[];
  sorted(): HandledRealm[];
  reload(): Promise<void>;
  /** Why a realm cannot be started (empty when it can). */
  realmProblems(entry: RealmEntry): string[];
  /** Record a realm's state in the realms file; resolves to why it could not be saved, if not. */
  persistState(name: string, state: "active" | "inactive"): Promise<string | undefined>;
  statusBody(): string;
  write(level: number, field: string | undefined, message: string): void;
  halt(reason: string): Promise<void>;
  /** realmcmd_display: data `1` [HOST:PORT] or `0` (lib/realms/display/). */
  display(data: string): Promise<RealmReply>;
}

/** A reply, and what to do once it has been sent. */
export interface HandlerResult {
  reply: RealmReply;
  afterReply?: () => void;
}

const TMI = 1;
const ERR = 8;

const ok = (message: string): HandlerResult => ({ reply: { code: REALM_RC.OKAY, message } });
const fail = (code: number, message: string): HandlerResult => ({ reply: { code, message } });

/**
 * Handle one request whose command the channel has verified (it refuses, counts and logs
 * unknown ones itself). Never throws for bad input: every request gets a reply.
 */
export function dispatch(
  ctx: HandlerContext,
  req: { command: RealmCommand; data: string },
): Promise<HandlerResult> {
  ctx.write(TMI, undefined, "checking commands");
  ctx.write(TMI, "<command>", `cmd   - "${req.command}"`);
  ctx.write(TMI, "<command>", `data  - "${req.data}"`);
  const data = req.data;
  switch (req.command) {
    case REALMCMD.STATUS:
      return Promise.resolve(ok(ctx.statusBody()));
    case REALMCMD.REALMSTATUS:
      return realmStatus(ctx);
    case REALMCMD.STARTREALM:
      return startRealm(ctx, data.trim());
    case REALMCMD.STOPREALM:
      return stopRealm(ctx, data.trim());
    case REALMCMD.STARTALL:
      return startAll(ctx);
    case REALMCMD.STOPALL:
      return stopAll(ctx);
    case REALMCMD.LOGFILE:
      return Promise.resolve(logFile(ctx, data.trim()));
    case REALMCMD.LOGLEVEL:
      return Promise.resolve(logLevel(ctx, data.trim()));
    case REALMCMD.LOGMSG:
      return Promise.resolve(logMsg(ctx, data));
    case REALMCMD.LOGTZ:
      return Promise.resolve(logTz(ctx, data));
    case REALMCMD.COMMAND:
      return realmCommand(ctx, data);
    case REALMCMD.SHUTDOWN:
      return Promise.resolve({
        reply: { code: REALM_RC.OKAY, message: REALM_REPLY.shuttingDown },
        afterReply: () => void ctx.halt("shutdown command received"),
      });
    case REALMCMD.DISPLAY:
      return ctx.display(data).then((reply) => ({ reply }));
    case REALMCMD.NODISPLAY:
      return ctx.display("0").then((reply) => ({ reply }));
    case REALMCMD.SUPERVISION:
      return Promise.resolve(supervision(ctx, data.trim()));
    case REALMCMD.GETSTATUS:
      return Promise.resolve(fail(REALM_RC.UNAVAILABLE, REALM_REPLY.notAvailable(req.command)));
    default: {
      // Every command has its case: the channel has refused anything else before this.
      const unknown: never = req.command;
      throw new Error(`unverified command reached the handlers: ${String(unknown)}`);
    }
  }
}

async function startRealm(ctx: HandlerContext, name: string): Promise<HandlerResult> {
  await ctx.reload();
  const why = await startOne(ctx, name);
  return why === undefined
    ? ok(REALM_REPLY.realmStarted(name))
    : fail(REALM_RC.BADREALM, REALM_REPLY.realmNotStarted(name, why));
}

/** How a supervision state reads in "realm … is already …". */
function stateWords(state: string): string {
  return state === "backoff" ? "restarting (backoff)" : state;
}

/** Start one realm; resolves to why it was not started, or undefined once it runs. */
async function startOne(ctx: HandlerContext, name: string): Promise<string | undefined> {
  const m = ctx.realms.get(name);
  if (!m) {
    ctx.write(ERR, name === "" ? "dtrealms" : name, "attempt to start undefined realm");
    return REALM_REPLY.noSuchRealm(name);
  }
  if (m.sup.state !== "inactive" && m.sup.state !== "failed") {
    const why = `realm "${name}" is already ${stateWords(m.sup.state)}`;
    ctx.write(ERR, name, `unable to start realm: ${why}`);
    return why;
  }
  const problems = ctx.realmProblems(m.entry);
  if (problems.length > 0) {
    const why = `invalid realm definition: ${problems.join("; ")}`;
    ctx.write(ERR, name, why);
    return why;
  }
  // The new state is saved first: a start that cannot be recorded is refused, so that the next
  // daemon never undoes an acknowledged change (and the realm stays as it was).
  const before = m.entry.fields.state;
  const unsaved = await ctx.persistState(name, "active");
  if (unsaved !== undefined) {
    ctx.write(ERR, name, `unable to start realm: state not saved: ${unsaved}`);
    return `state not saved: ${unsaved}`;
  }
  const r = await m.sup.start();
  if (!r.ok) {
    ctx.write(ERR, name, `unable to start realm: ${r.reason}`);
    if (before === "inactive" && !m.sup.active) await ctx.persistState(name, "inactive");
    return r.reason;
  }
  return undefined;
}

async function stopRealm(ctx: HandlerContext, name: string): Promise<HandlerResult> {
  const why = await stopOne(ctx, name);
  return why === undefined
    ? ok(REALM_REPLY.realmStopped(name))
    : fail(REALM_RC.BADREALM, REALM_REPLY.realmNotStopped(name, why));
}

/** Stop one realm; resolves to why it was not stopped, or undefined once it is. */
async function stopOne(ctx: HandlerContext, name: string): Promise<string | undefined> {
  const m = ctx.realms.get(name);
  if (!m) {
    ctx.write(ERR, name === "" ? "dtrealms" : name, "attempt to stop undefined realm");
    return REALM_REPLY.noSuchRealm(name);
  }
  if (m.sup.state === "inactive") {
    ctx.write(ERR, name, "unable to stop realm: realm is not active");
    return `realm "${name}" is not running`;
  }
  // Saved before the manager is stopped: a stop that cannot be recorded leaves it running.
  const unsaved = await ctx.persistState(name, "inactive");
  if (unsaved !== undefined) {
    ctx.write(ERR, name, `unable to stop realm: state not saved: ${unsaved}`);
    return `state not saved: ${unsaved}`;
  }
  const r = await m.sup.stop();
  if (!r.ok) {
    ctx.write(ERR, name, `unable to stop realm: ${r.reason}`);
    if (m.sup.active) await ctx.persistState(name, "active");
    return r.reason;
  }
  return undefined;
}

async function startAll(ctx: HandlerContext): Promise<HandlerResult> {
  await ctx.reload();
  const todo = ctx.sorted().filter((m) => m.sup.state === "inactive" || m.sup.state === "failed");
  if (todo.length === 0) return fail(REALM_RC.NOREALMS, REALM_REPLY.noInactiveRealms);
  const results = await Promise.all(todo.map((m) => startOne(ctx, m.entry.name)));
  const lines = todo.map((m, i) =>
    REALM_REPLY.startallLine(m.entry.name, results[i] === undefined)
  );
  return {
    reply: {
      code: results.every((r) => r === undefined) ? REALM_RC.OKAY : REALM_RC.BADREALM,
      message: lines.join("\n"),
    },
  };
}

async function stopAll(ctx: HandlerContext): Promise<HandlerResult> {
  const todo = ctx.sorted().filter((m) => m.sup.state !== "inactive");
  if (todo.length === 0) return fail(REALM_RC.NOREALMS, REALM_REPLY.noActiveRealms);
  const results = await Promise.all(todo.map((m) => stopOne(ctx, m.entry.name)));
  const lines = todo.map((m, i) => REALM_REPLY.stopallLine(m.entry.name, results[i] === undefined));
  return {
    reply: {
      code: results.every((r) => r === undefined) ? REALM_RC.OKAY : REALM_RC.BADREALM,
      message: lines.join("\n"),
    },
  };
}

function logFile(ctx: HandlerContext, file: string): HandlerResult {
  if (file === "") return fail(REALM_RC.BADFILE, REALM_REPLY.logfileFailed(file));
  const same = ctx.log.file !== "" &&
    path.resolve(ctx.directory, ctx.log.file) === path.resolve(ctx.directory, file);
  if (same) return ok(REALM_REPLY.logfileChanged(file));
  // As upstream: any file the daemon's user can write, an existing one only if it is a regular
  // file (or the terminal); never through a symbolic link, never one of the daemon's own files.
  try {
    ctx.log.open(file, ctx.directory, { refuse: ctx.ownFiles() });
  } catch (e) {
    if (!(e instanceof LogFileError)) throw e;
    ctx.write(ERR, "dtrealms", `${REALM_REPLY.logfileFailed(file)}: ${e.message}`);
    return fail(REALM_RC.BADFILE, REALM_REPLY.logfileFailed(file));
  }
  ctx.write(4, "dtrealms", "changing logfiles");
  for (const line of ctx.statusBody().trimEnd().split("\n")) ctx.write(4, undefined, line);
  return ok(REALM_REPLY.logfileChanged(file));
}

function logLevel(ctx: HandlerContext, text: string): HandlerResult {
  const level = parseRealmLogLevel(text)?.level;
  if (level === undefined) return fail(REALM_RC.BADLEVEL, REALM_REPLY.invalidLoglevel(text));
  const old = logLevelName(ctx.log.level);
  ctx.log.level = level;
  ctx.logLevelText = text;
  return ok(REALM_REPLY.loglevelChanged(old, logLevelName(level)));
}

function logMsg(ctx: HandlerContext, data: string): HandlerResult {
  const m = parseRealmLogMessage(data);
  const level = m ? parseRealmLogLevel(m.level)?.level : undefined;
  if (!m || level === undefined) {
    return fail(REALM_RC.BADLEVEL, REALM_REPLY.invalidLoglevel(m?.level ?? ""));
  }
  ctx.write(level, "<user msg>", m.message);
  return ok(REALM_REPLY.logmsgWritten);
}

function logTz(ctx: HandlerContext, data: string): HandlerResult {
  const tz = parseRealmLogTz(data);
  if (tz === undefined) return fail(REALM_RC.BADTZ, REALM_REPLY.invalidLogtz(data.trim()));
  ctx.log.tz = tz === "" ? ctx.defaultLogTz : tz;
  ctx.logTzText = data.trim(); // upstream's status shows the zone as given
  return ok(REALM_REPLY.logtzSet);
}

async function realmCommand(ctx: HandlerContext, data: string): Promise<HandlerResult> {
  const parsed = parseRealmCommandData(data);
  if (!parsed) return fail(REALM_RC.BADREALMDATA, REALM_REPLY.incompleteCommand);
  const m = ctx.realms.get(parsed.realm);
  if (!m) {
    ctx.write(ERR, parsed.realm, "command for an undefined realm refused");
    return fail(REALM_RC.BADREALM, `unknown realm "${parsed.realm}"`);
  }
  const program = parsed.argv[0] as string;
  const allowAll = ctx.options.allowCommands === true;
  if (!commandAllowed(m.entry, program, allowAll)) {
    ctx.write(ERR, parsed.realm, `command refused (not in allowcommands): ${program}`);
    return fail(REALM_RC.REFUSED, REALM_REPLY.commandNotAllowed(parsed.realm, program));
  }
  // Upstream ran the command line through the shell. As that runs whatever the text says, the
  // realm may ask for it only when it allows every command.
  const shell = commandShell(m.entry);
  if (shell && !allowAll && !allowsAllCommands(m.entry)) {
    ctx.write(ERR, parsed.realm, 'command refused: commandshell needs allowcommands "*"');
    return fail(
      REALM_RC.REFUSED,
      `command refused, nothing was run: realm "${parsed.realm}" has commandshell without ` +
        'allowcommands "*"',
    );
  }
  const env = ctx.env;
  try {
    const cwd = realmDirOf(m.entry, ctx.directory);
    const user = realmUser(m.entry, ctx.uid);
    ctx.write(4, parsed.realm, `running command "${parsed.argv.join(" ")}"`);
    const argv = shell
      ? ["/bin/sh", "-c", data.trim().slice(parsed.realm.length).trim()]
      : [resolveProgram(program, cwd), ...parsed.argv.slice(1)];
    const r = await ctx.runCommand(argv, {
      cwd,
      env: realmEnv(m.entry, { directory: ctx.directory, env }, user),
      user,
      timeoutMs: realmCommandTimeout(m.entry, ctx.options.commandTimeoutMs ?? 60_000),
    });
    if (r.timedOut) return fail(REALM_RC.BADEVENT, REALM_REPLY.commandTimedOut);
    return ok(REALM_REPLY.commandOutput(r.output, r.exitCode ?? -1));
  } catch (e) {
    ctx.write(ERR, parsed.realm, `command not run: ${(e as Error).message}`);
    return fail(
      REALM_RC.BADREALM,
      `unable to run command in realm "${parsed.realm}": ${(e as Error).message}`,
    );
  }
}

function secondsFrom(ms: number): string {
  return `${Math.max(0, Math.round(ms / 100) / 10)} s`;
}

/** One realm's realmstatus entry (the status page uses it for rollerd counts). */
export async function statusEntry(ctx: HandlerContext, m: HandledRealm): Promise<RealmStatusEntry> {
  const name = m.entry.name;
  const s = m.sup.snapshot();
  const rollerd = (m.entry.fields.rollrec ?? "") !== "";
  switch (s.state) {
    case "inactive":
      return { name, state: "inactive" };
    case "failed":
      return { name, state: "failed", detail: s.reason ?? "failed" };
    case "backoff": {
      const exit = s.lastExit ? ` after ${describe(s.lastExit)}` : "";
      return {
        name,
        state: "backoff",
        detail: `restart ${s.failures} in ${
          secondsFrom((s.restartAt ?? Date.now()) - Date.now())
        }${exit}`,
      };
    }
    case "starting":
    case "stopping":
      return { name, state: s.state, detail: s.pid ? `pid ${s.pid}` : "" };
    case "running":
      break;
  }
  if (!rollerd) {
    return {
      name,
      state: "active",
      detail: `(running; pid ${s.pid}${s.adopted ? "; adopted" : ""})`,
    };
  }
  try {
    // The runner refuses a realm directory that is missing or not a directory.
    const cwd = realmDirOf(m.entry, ctx.directory);
    const program = m.entry.fields.rollctl || "rollctl";
    const user = realmUser(m.entry, ctx.uid);
    const r = await ctx.runCommand([resolveProgram(program, cwd), "-zonestatus"], {
      cwd,
      env: realmEnv(m.entry, { directory: ctx.directory, env: ctx.env }, user),
      user,
      timeoutMs: ctx.options.statusTimeoutMs ?? 10_000,
      maxOutput: 256 * 1024,
    });
    if (r.timedOut || r.exitCode === 127) {
      return { name, state: "active", detail: "(no data available)" };
    }
    return { name, state: "active", counts: countZoneStatus(r.output) };
  } catch {
    return { name, state: "active", detail: "(no data available)" };
  }
}

function describe(exit: { code: number | null; signal: string | null }): string {
  if (exit.signal) return `signal ${exit.signal}`;
  return exit.code === null ? "unknown exit" : `exit code ${exit.code}`;
}

async function realmStatus(ctx: HandlerContext): Promise<HandlerResult> {
  const entries = await Promise.all(ctx.sorted().map((m) => statusEntry(ctx, m)));
  return ok(formatRealmStatusBody(entries));
}

/** The record of one realm. */
export function supervisionRecord(
  m: HandledRealm,
  directory: string,
  now = Date.now(),
): RealmSupervision {
  const s = m.sup.snapshot();
  const round = (ms: number) => Math.round(ms / 100) / 10;
  return {
    name: s.name,
    state: s.state === "inactive" ? "stopped" : s.state,
    pid: s.pid ?? null,
    adopted: s.adopted,
    since: new Date(s.since).toISOString(),
    uptime_seconds: s.state === "running" ? round(now - s.since) : null,
    restarts: s.restarts,
    failures: s.failures,
    last_exit: s.lastExit
      ? { code: s.lastExit.code, signal: s.lastExit.signal, text: describe(s.lastExit) }
      : null,
    reason: s.reason ?? null,
    restart_in_seconds: s.restartAt === undefined ? null : Math.max(0, round(s.restartAt - now)),
    output_log: realmOutputLog(m.entry, directory),
  };
}

/**
 * steward's `realmcmd_supervision [REALM]`: every realm's (or one realm's) supervision state as
 * one line of JSON, `{"realms": [...]}` plus `"log_tail"` (its output log's last lines) for one
 * realm; code 4 `no realm named "x"` for an unknown one.
 */
function supervision(ctx: HandlerContext, name: string): HandlerResult {
  if (name !== "") {
    const m = ctx.realms.get(name);
    if (!m) return fail(REALM_RC.BADREALM, REALM_REPLY.noSuchRealm(name));
    const record = supervisionRecord(m, ctx.directory);
    return ok(
      JSON.stringify({
        realms: [record],
        log_tail: ctx.logTail(record.output_log).map(escapeControl),
      }),
    );
  }
  return ok(
    JSON.stringify({ realms: ctx.sorted().map((m) => supervisionRecord(m, ctx.directory)) }),
  );
}
