/**
 * The realm manager protocol's message bodies, as pure functions: the exact reply texts of
 * `dtrealms`, the data of each command, the status and realmstatus bodies (formatted for the
 * daemon, parsed for clients, and as realmctl prints them), and steward's supervision report.
 * @module
 */
import { RealmError } from "../errors.ts";

/** The fixed data lines upstream clients send with some commands (realmctl's values). */
export const REALMCMD_DATA = {
  /** realmcmd_startall, as `realmctl -allstart` sends it. */
  startAll: "1",
  /** realmcmd_stopall, as `realmctl -allstop` sends it. */
  stopAll: "0",
  /**
   * realmcmd_display: on (`-display`) or off (`-nodisplay`); steward's daemon also takes the
   * address to listen on after the `1` (`1 HOST:PORT`).
   */
  display: (on: boolean, listen?: string): string =>
    on ? (listen === undefined || listen.trim() === "" ? "1" : `1 ${listen.trim()}`) : "0",
} as const;

/**
 * Split realmcmd_display data (see {@link REALMCMD_DATA}.display): `1`, `1 HOST:PORT` or `0`;
 * undefined for anything else. The address is returned as given, for the display to parse.
 */
export function parseRealmDisplayData(data: string): { on: boolean; listen: string } | undefined {
  const [flag = "", listen = "", ...extra] = data.trim().split(/\s+/);
  if ((flag !== "1" && flag !== "0") || extra.length > 0 || (flag === "0" && listen !== "")) {
    return undefined;
  }
  return { on: flag === "1", listen };
}

// ---------------------------------------------------------------------------------------------
// Reply texts, exactly as dtrealms writes them (spec §6.1), plus steward's texts for its own codes.

/** The reply messages of the daemon, as functions of their variable parts. */
export const REALM_REPLY = {
  realmStarted: (realm: string): string => `realm "${realm}" started`,
  realmNotStarted: (realm: string, why?: string): string =>
    `unable to start realm "${realm}"${why ? `: ${why}` : ""}`,
  realmStopped: (realm: string): string => `realm "${realm}" stopped`,
  realmNotStopped: (realm: string, why?: string): string =>
    `unable to stop realm "${realm}"${why ? `: ${why}` : ""}`,
  /** Why a start or stop was refused: the realm is not in the realms file. */
  noSuchRealm: (realm: string): string => `no realm named "${realm}"`,
  /** One line of the startall body. */
  startallLine: (realm: string, ok: boolean): string =>
    `${realm} ${ok ? "started" : "not started"}`,
  /** One line of the stopall body. */
  stopallLine: (realm: string, ok: boolean): string => `${realm} ${ok ? "stopped" : "not stopped"}`,
  noActiveRealms: "no active realms",
  noInactiveRealms: "no inactive realms",
  noManagedRealms: "no managed realms",
  incompleteCommand: "incomplete realm-command; must have both realm and command arguments.",
  commandTimedOut: "realm command timed out",
  /** realmcmd_command success body: combined output, then the exit status line. */
  commandOutput: (output: string, exitCode: number): string =>
    `${output}\nreturn code - ${exitCode}\n`,
  displayAlready: "display status already as requested",
  displayStarted: "dtrealms display started",
  displayStopped: "dtrealms display stopped",
  logfileChanged: (file: string): string => `logfile changed to "${file}"`,
  logfileFailed: (file: string): string => `unable to change logfile to "${file}"`,
  loglevelChanged: (from: string, to: string): string =>
    `loglevel changed from "${from}" to "${to}"`,
  invalidLoglevel: (level: string): string => `invalid loglevel "${level}"`,
  logmsgWritten: "message written to log",
  logtzSet: "new logging timezone set",
  invalidLogtz: (tz: string): string => `invalid logtz "${tz}"`,
  shuttingDown: "dtrealms shutting down",
  /** steward (code 12): a command the protocol does not have. */
  unknownCommand: (command: string): string => `unknown command "${command}"`,
  /** steward (code 12): a request that breaks the framing. */
  malformedRequest: (detail: string): string => `malformed request: ${detail}`,
  /** steward (code 13): a known command this daemon does not offer yet. */
  notAvailable: (command: string): string => `${command} is not available yet`,
  /** steward (code 16): the connection limit is reached; nothing was done. */
  busy: "busy, retry: the realm manager has too many connections; nothing was done",
  /** steward (code 15): the daemon failed while carrying out a command. */
  failed: (detail: string): string => `command failed: ${detail}`,
  /** steward (code 14): realmcmd_command refused for a realm. */
  commandNotAllowed: (realm: string, program?: string): string =>
    `command refused, nothing was run: ${
      program === undefined ? "commands are" : `"${program}" is`
    } not allowed in realm "${realm}" (see its allowcommands field)`,
} as const;

// ---------------------------------------------------------------------------------------------
// Data formats of individual commands.

/** The data of a realmcmd_command request: the realm, then the command and its arguments. */
export interface RealmCommandData {
  realm: string;
  argv: string[];
}

/** Encode realmcmd_command data (words joined by single spaces; no word may contain whitespace). */
export function encodeRealmCommandData(realm: string, argv: readonly string[]): string {
  const words = [realm, ...argv];
  for (const w of words) {
    if (w === "" || /\s/.test(w)) {
      throw new RealmError(
        "invalid",
        `Command words cannot be empty or contain whitespace (the protocol splits on it): ${
          JSON.stringify(w)
        }`,
      );
    }
  }
  if (argv.length === 0) {
    throw new RealmError("invalid", "A realm command needs a command after the realm");
  }
  return words.join(" ");
}

/** Split realmcmd_command data on whitespace as dtrealms does; undefined when fewer than two words. */
export function parseRealmCommandData(data: string): RealmCommandData | undefined {
  const words = data.trim().split(/\s+/).filter((w) => w !== "");
  if (words.length < 2) return undefined;
  const [realm, ...argv] = words;
  return { realm: realm as string, argv };
}

/** The daemon's log levels (rolllog): name → number. */
export const REALM_LOG_LEVELS = {
  never: 0,
  tmi: 1,
  expire: 3,
  info: 4,
  phase: 6,
  err: 8,
  fatal: 9,
  always: 10,
} as const;

/** A log level name of {@link REALM_LOG_LEVELS}. */
export type RealmLogLevelName = keyof typeof REALM_LOG_LEVELS;

/** The levels a user may set, most verbose first (rolllog_levels). */
export const REALM_USER_LOG_LEVELS: readonly RealmLogLevelName[] = [
  "tmi",
  "expire",
  "info",
  "phase",
  "err",
  "fatal",
];

/**
 * A user-settable level given by name (case-insensitive) or number, as rolllog_validlevel accepts
 * it; undefined for anything else (2, 5, 7, `never`, `always`, junk).
 */
export function parseRealmLogLevel(
  text: string,
): { name: RealmLogLevelName; level: number } | undefined {
  const t = text.trim().toLowerCase();
  for (const name of REALM_USER_LOG_LEVELS) {
    const level = REALM_LOG_LEVELS[name];
    if (t === name || t === String(level)) return { name, level };
  }
  return undefined;
}

/** Encode realmcmd_logmsg data: `(<level>)<message>`. */
export function encodeRealmLogMessage(level: string, message: string): string {
  if (parseRealmLogLevel(level) === undefined) {
    throw new RealmError("invalid", `Invalid log level: ${level}`);
  }
  return `(${level})${message}`;
}

/** Parse realmcmd_logmsg data; undefined when it does not start with `(<word>)`. */
export function parseRealmLogMessage(data: string): { level: string; message: string } | undefined {
  const m = /^\(([^()]*)\)(.*)$/s.exec(data);
  if (!m) return undefined;
  return { level: m[1] as string, message: m[2] as string };
}

/** A log time zone: `gmt` or `local` (case-insensitive), `""` meaning "back to the default". */
export function parseRealmLogTz(text: string): "gmt" | "local" | "" | undefined {
  const t = text.trim().toLowerCase();
  if (t === "gmt" || t === "local" || t === "") return t;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// status and realmstatus bodies.

/** One `name  value` line of the status body, in order. */
export interface RealmManagerStatusParameter {
  /** The label, e.g. `realm file`, `active realms`. */
  label: string;
  /** The value without its quotes. */
  value: string;
  /** Whether the value was quoted (strings are, counts are not). */
  quoted: boolean;
}

/** Format the realmcmd_status body (spec §10.6): a header line, then one line per parameter. */
export function formatRealmManagerStatus(
  parameters: readonly RealmManagerStatusParameter[],
): string {
  let out = "dtrealms parameters:\n";
  for (const p of parameters) {
    out += `     ${p.label.padEnd(19)}${p.quoted ? `"${p.value}"` : p.value}\n`;
  }
  return out;
}

/** What the daemon's realmcmd_status body tells, in upstream's order. */
export interface RealmManagerStatusFacts {
  /** The realms file as given on the command line. */
  realmsFile: string;
  /** The directory as given (`.` when none was). */
  directory: string;
  /** The DNSSEC-Tools configuration file. */
  configFile: string;
  /** The log file. */
  logFile: string;
  /** The log level as last set (name or number, as given). */
  logLevel: string;
  /** The log time zone as last set (as given). */
  logTz: string;
  /** The user the daemon runs as. */
  runningAs: string;
  /** Realms that run (or are starting, stopping, backing off). */
  activeRealms: number;
  /** Realms that do not run (stopped, or failed: upstream counted a realm that did not start as inactive). */
  inactiveRealms: number;
}

/** The daemon's realmcmd_status body from its facts (the one place its labels are written). */
export function realmManagerStatusBody(facts: RealmManagerStatusFacts): string {
  const q = (label: string, value: string) => ({ label, value, quoted: true });
  const n = (label: string, value: number) => ({ label, value: String(value), quoted: false });
  return formatRealmManagerStatus([
    q("realm file", facts.realmsFile),
    q("directory", facts.directory),
    q("config file", facts.configFile),
    q("logfile", facts.logFile),
    q("loglevel", facts.logLevel),
    q("logtz", facts.logTz),
    q("running as", facts.runningAs),
    n("active realms", facts.activeRealms),
    n("inactive realms", facts.inactiveRealms),
  ]);
}

/** Parse a realmcmd_status body into its parameters (lines that do not fit are skipped). */
export function parseRealmManagerStatus(message: string): RealmManagerStatusParameter[] {
  const out: RealmManagerStatusParameter[] = [];
  for (const line of message.split("\n")) {
    const m = /^\s+(\S(?:.*?\S)?)\s{2,}(.*?)\s*$/.exec(line);
    if (!m) continue;
    const raw = m[2] as string;
    const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
    out.push({ label: m[1] as string, value: quoted ? raw.slice(1, -1) : raw, quoted });
  }
  return out;
}

/** Rollover phase counts of a rollerd realm: normal, ZSK rolling, KSK rolling, KSK in phase 6. */
export interface PhaseCounts {
  /** Zones rolling nothing. */
  normal: number;
  /** Zones in a ZSK rollover. */
  zsk: number;
  /** Zones in a KSK rollover. */
  ksk: number;
  /** Zones in KSK phase 6. */
  kskPhase6: number;
}

/** One line of the realmcmd_realmstatus body. */
export interface RealmStatusEntry {
  /** The realm's name. */
  name: string;
  /** `active`, `inactive`, or a steward supervision state such as `failed`. */
  state: string;
  /** rollerd counts (`N/Z/K/K6`). */
  counts?: PhaseCounts;
  /** Any other third column, e.g. `(no data available)` or a process state. */
  detail?: string;
}

/** Whether `state` is one of steward's supervision states, which upstream does not have. */
function stewardState(state: string): boolean {
  return state !== "active" && state !== "inactive";
}

/**
 * Format the realmcmd_realmstatus body (spec §10.5); `no managed realms` when empty. realmctl
 * prints "active" for every state but `inactive`, followed by the first `/`-separated piece of
 * the third field as "normal: …": so for steward's own states (failed, backoff, starting,
 * stopping) the third field starts with the state in capitals (`FAILED: <why>`), which is then
 * what a realmctl user sees where the counts would be.
 */
export function formatRealmStatusBody(entries: readonly RealmStatusEntry[]): string {
  if (entries.length === 0) return REALM_REPLY.noManagedRealms;
  let out = "";
  for (const e of entries) {
    let third = "";
    if (e.counts) {
      third = `\t${e.counts.normal}/${e.counts.zsk}/${e.counts.ksk}/${e.counts.kskPhase6}`;
    } else if (stewardState(e.state)) {
      const tag = e.state.toUpperCase();
      third = `\t${e.detail ? `${tag}: ${e.detail}` : tag}`;
    } else if (e.detail !== undefined) third = `\t${e.detail}`;
    out += `${e.name}\t${e.state}${third}\n`;
  }
  return out;
}

/** Parse a realmcmd_realmstatus body; `no managed realms` gives an empty list. */
export function parseRealmStatusBody(message: string): RealmStatusEntry[] {
  if (message.trim() === REALM_REPLY.noManagedRealms) return [];
  const out: RealmStatusEntry[] = [];
  for (const line of message.split("\n")) {
    if (line.trim() === "") continue;
    const [name = "", state = "", ...rest] = line.split("\t");
    const third = rest.join("\t");
    const entry: RealmStatusEntry = { name, state };
    const m = /^(\d+)\/(\d+)\/(\d+)\/(\d+)$/.exec(third);
    if (m) {
      entry.counts = {
        normal: Number(m[1]),
        zsk: Number(m[2]),
        ksk: Number(m[3]),
        kskPhase6: Number(m[4]),
      };
    } else if (rest.length > 0) {
      const tag = state.toUpperCase();
      let detail = third;
      if (stewardState(state) && detail.startsWith(tag)) {
        detail = detail.slice(tag.length).replace(/^: /, "");
      }
      if (detail !== "" || !stewardState(state)) entry.detail = detail;
    }
    out.push(entry);
  }
  return out;
}

/**
 * Format a realmstatus reply as realmctl prints it: names padded (and cut) to the longest,
 * `inactive` realms on their own, others with the rollerd counts. A non-count third column is
 * shown as it is, since realmctl would print garbage for it.
 */
export function formatRealmStatusLikeRealmctl(message: string): string {
  if (message === REALM_REPLY.noManagedRealms) return `${message}\n`;
  const lines = message.split("\n").filter((l, i, all) => !(l === "" && i === all.length - 1));
  const rows = lines.map((l) => l.split("\t"));
  const width = Math.max(-1, ...rows.map((r) => (r[0] ?? "").length));
  let out = "";
  for (const r of rows) {
    const name = (r[0] ?? "").padEnd(width).slice(0, Math.max(width, 0));
    const state = r[1] ?? "";
    if (state === "inactive") {
      out += `${name}    inactive\n`;
      continue;
    }
    const third = r[2] ?? "";
    const atoms = third.split("/");
    if (/^\d+\/\d+\/\d+\/\d+$/.test(third) || state === "active" && !third.startsWith("(")) {
      out += `${name}    ${state.padEnd(8)}    normal: ${atoms[0] ?? ""}    ZSK: ${
        atoms[1] ?? ""
      }    KSK: ${atoms[2] ?? ""}    KSK phase 6: ${atoms[3] ?? ""}\n`;
    } else {
      out += `${name}    ${state.padEnd(8)}    ${third}`.trimEnd() + "\n";
    }
  }
  return out;
}

/** One line of a startall/stopall body. */
export interface RealmBatchResult {
  /** The realm's name. */
  realm: string;
  /** Whether it started or stopped. */
  ok: boolean;
}

/** Parse a startall/stopall body (`<realm> started` / `<realm> not started` …). */
export function parseRealmBatchBody(message: string): RealmBatchResult[] {
  const out: RealmBatchResult[] = [];
  for (const line of message.split("\n")) {
    const m = /^(.*?) (not )?(started|stopped)$/.exec(line);
    if (m) out.push({ realm: m[1] as string, ok: m[2] === undefined });
  }
  return out;
}

/** Split a realmcmd_command success body into the command's output and exit status. */
export function parseRealmCommandOutput(
  message: string,
): { output: string; exitCode: number } | undefined {
  const m = /^([\s\S]*)\nreturn code - (-?\d+)\n?$/.exec(message);
  if (!m) return undefined;
  return { output: m[1] as string, exitCode: Number(m[2]) };
}

// ---------------------------------------------------------------------------------------------
// steward's realmcmd_supervision.

/** One realm as `realmcmd_supervision` reports it (snake_case keys, numbers as numbers). */
export interface RealmSupervision {
  /** The realm's name. */
  name: string;
  /** running, stopped, starting, stopping, backoff or failed. */
  state: string;
  /** The manager's process id while it runs. */
  pid: number | null;
  /** Whether the manager was found from a previous daemon's run. */
  adopted: boolean;
  /** When the current state began (ISO 8601). */
  since: string;
  /** Seconds the manager has been running. */
  uptime_seconds: number | null;
  /** Restarts after the manager died. */
  restarts: number;
  /** Failures counted towards giving up. */
  failures: number;
  /** How the manager last ended. */
  last_exit: { code: number | null; signal: string | null; text: string } | null;
  /** Why the realm is in its state (failed, backoff). */
  reason: string | null;
  /** Seconds until the next restart, in backoff. */
  restart_in_seconds: number | null;
  /** The realm's output log. */
  output_log: string;
}

/** The `realmcmd_supervision` reply: the realms, and a named realm's last log lines. */
export interface RealmSupervisionReport {
  /** Every realm, or the one asked for. */
  realms: RealmSupervision[];
  /** The last lines of the named realm's output log. */
  log_tail?: string[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Parse a `realmcmd_supervision` body; throws {@link RealmError} `protocol` when it is not one. */
export function parseRealmSupervision(message: string): RealmSupervisionReport {
  let data: { realms?: unknown; log_tail?: unknown };
  try {
    data = JSON.parse(message);
  } catch {
    throw new RealmError("protocol", "The supervision reply is not JSON");
  }
  if (!data || !Array.isArray(data.realms)) {
    throw new RealmError("protocol", "The supervision reply has no realms list");
  }
  const realms = data.realms.map((r: Record<string, unknown>): RealmSupervision => {
    const x = r.last_exit as Record<string, unknown> | null | undefined;
    return {
      name: String(r.name ?? ""),
      state: String(r.state ?? ""),
      pid: num(r.pid),
      adopted: r.adopted === true,
      since: String(r.since ?? ""),
      uptime_seconds: num(r.uptime_seconds),
      restarts: num(r.restarts) ?? 0,
      failures: num(r.failures) ?? 0,
      last_exit: x && typeof x === "object"
        ? { code: num(x.code), signal: str(x.signal), text: String(x.text ?? "") }
        : null,
      reason: str(r.reason),
      restart_in_seconds: num(r.restart_in_seconds),
      output_log: String(r.output_log ?? ""),
    };
  });
  return {
    realms,
    ...(Array.isArray(data.log_tail) ? { log_tail: data.log_tail.map(String) } : {}),
  };
}

/**
 * What realmcmd_realmstatus tells of each realm, in the supervision report's shape (for a daemon
 * without realmcmd_supervision: upstream's `active` is `running`, its `inactive` `stopped`).
 */
export function realmsFromStatus(entries: readonly RealmStatusEntry[]): RealmSupervision[] {
  return entries.map((e) => {
    const pid = /pid (\d+)/.exec(e.detail ?? "")?.[1];
    return {
      name: e.name,
      state: e.state === "active" ? "running" : e.state === "inactive" ? "stopped" : e.state,
      pid: pid === undefined ? null : Number(pid),
      adopted: /adopted/.test(e.detail ?? ""),
      since: "",
      uptime_seconds: null,
      restarts: 0,
      failures: 0,
      last_exit: null,
      reason: e.state === "failed" ? e.detail ?? null : null,
      restart_in_seconds: null,
      output_log: "",
    };
  });
}
