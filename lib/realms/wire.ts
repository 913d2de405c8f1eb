/**
 * The realm manager's control protocol, byte for byte as upstream `realmmgr.pm` speaks it, as a
 * pure codec (no sockets): command strings, return codes, request and reply framing with limits,
 * command verification, and the exact reply texts of `dtrealms`.
 *
 * A request is `<command> SP CR LF <data> SP CR LF`; a reply is `<code> SP CR LF <message> SP CR LF`,
 * after which the server closes. One command per connection.
 * @module
 */
import { Buffer } from "node:buffer";
import { RealmError } from "./errors.ts";

/** The command strings of the protocol (upstream `REALMCMD_*` constants, plus `realmcmd_nodisplay`). */
export const REALMCMD = {
  COMMAND: "realmcmd_command",
  DISPLAY: "realmcmd_display",
  GETSTATUS: "realmcmd_getstatus",
  LOGFILE: "realmcmd_logfile",
  LOGLEVEL: "realmcmd_loglevel",
  LOGMSG: "realmcmd_logmsg",
  LOGTZ: "realmcmd_logtz",
  NODISPLAY: "realmcmd_nodisplay",
  REALMSTATUS: "realmcmd_realmstatus",
  SHUTDOWN: "realmcmd_shutdown",
  STARTALL: "realmcmd_startall",
  STARTREALM: "realmcmd_startrealm",
  STATUS: "realmcmd_status",
  STOPALL: "realmcmd_stopall",
  STOPREALM: "realmcmd_stoprealm",
  /** steward's: each realm's supervision state as JSON (see docs/realms.md); not upstream's. */
  SUPERVISION: "realmcmd_supervision",
} as const;

/** The fixed data lines upstream clients send with some commands (realmctl's values). */
export const REALMCMD_DATA = {
  /** realmcmd_startall, as `realmctl -allstart` sends it. */
  startAll: "1",
  /** realmcmd_stopall, as `realmctl -allstop` sends it. */
  stopAll: "0",
  /** realmcmd_display: on (`-display`) or off (`-nodisplay`). */
  display: (on: boolean): string => (on ? "1" : "0"),
} as const;

/** One of the command strings of {@link REALMCMD}. */
export type RealmCommand = typeof REALMCMD[keyof typeof REALMCMD];

/** Every command string, sorted. */
export const REALM_COMMANDS: readonly RealmCommand[] = Object.values(REALMCMD).sort();

/**
 * Return codes. 0..11 are upstream's `REALMCMD_RC_*` values; 12..16 are steward's own, for the
 * cases where upstream sent no reply at all (or crashed). Upstream clients treat every non-zero code as failure.
 */
export const REALM_RC = {
  /** 0 — success. */
  OKAY: 0,
  /** 1 — bad log level (loglevel, logmsg). */
  BADLEVEL: 1,
  /** 2 — log file change failed. */
  BADFILE: 2,
  /** 3 — unused upstream (inherited from rollmgr). */
  BADSLEEP: 3,
  /** 4 — a realm could not be started or stopped (upstream crashed sending it). */
  BADREALM: 4,
  /** 5 — bad log time zone. */
  BADTZ: 5,
  /** 6 — unused upstream. */
  REALMOPEN: 6,
  /** 7 — startall/stopall had nothing to do. */
  NOREALMS: 7,
  /** 8 — malformed realmcmd_command data. */
  BADREALMDATA: 8,
  /** 9 — display already in the requested state. */
  DISPLAY: 9,
  /** 10 — unused upstream. */
  NOARGS: 10,
  /** 11 — realmcmd_command timed out. */
  BADEVENT: 11,
  /** 12 (steward) — unknown command or malformed request; upstream sent no reply. */
  BADCOMMAND: 12,
  /** 13 (steward) — a known command this daemon does not offer (yet). */
  UNAVAILABLE: 13,
  /** 14 (steward) — the request is not permitted (e.g. realmcmd_command not allowed in the realm). */
  REFUSED: 14,
  /** 15 (steward) — the daemon failed while carrying out the command (the message says why). */
  FAILED: 15,
  /** 16 (steward) — too many connections: nothing was done; retry after a short wait. */
  BUSY: 16,
} as const;

/** A return code name of {@link REALM_RC}. */
export type RealmReturnName = keyof typeof REALM_RC;

/** The return code's name (`OKAY`, `BADREALM`…), or undefined for a number steward does not know. */
export function realmReturnCodeName(code: number): RealmReturnName | undefined {
  for (const [name, value] of Object.entries(REALM_RC)) {
    if (value === code) return name as RealmReturnName;
  }
  return undefined;
}

/** The upstream constant for a return code (`REALMCMD_RC_BADREALM`), or undefined. */
export function realmReturnConstant(code: number): string | undefined {
  const name = realmReturnCodeName(code);
  return name === undefined ? undefined : `REALMCMD_RC_${name}`;
}

/** Client-side flags of upstream `realmmgr_sendcmd`: wait for the reply, or close right after sending. */
export const CHANNEL_WAIT = 0;
/** See {@link CHANNEL_WAIT}. */
export const CHANNEL_CLOSE = 1;

/** Limits on the framing; both sides enforce them. */
export interface RealmWireLimits {
  /** Largest request line (command or data) in bytes, terminator included (default 8 KiB). */
  maxLine: number;
  /** Largest reply in bytes (default 4 MiB). */
  maxReply: number;
}

/** Default {@link RealmWireLimits}. */
export const DEFAULT_REALM_WIRE_LIMITS: Readonly<RealmWireLimits> = {
  maxLine: 8 * 1024,
  maxReply: 4 * 1024 * 1024,
};

/** A request: the command string and its data (empty when there is none). */
export interface RealmRequest {
  /** The command word. */
  command: string;
  /** Its data (may be empty). */
  data: string;
}

/** A reply: the return code and the message (which may contain `\n`). */
export interface RealmReply {
  /** Return code (REALM_RC). */
  code: number;
  /** The reply's message. */
  message: string;
}

/** Whether `command` is one of the protocol's commands (what upstream `realmmgr_verifycmd` meant to do). */
export function verifyRealmCommand(command: string): command is RealmCommand {
  return (REALM_COMMANDS as readonly string[]).includes(command);
}

function checkLine(what: string, text: string, maxLine: number): void {
  if (/[\r\n\0]/.test(text)) {
    throw new RealmError(
      "invalid",
      `${what} must be one line without CR, LF or NUL: ${JSON.stringify(text)}`,
    );
  }
  if (Buffer.byteLength(text, "utf8") + 3 > maxLine) {
    throw new RealmError("limit", `${what} is longer than ${maxLine - 3} bytes`);
  }
}

/** Options of {@link encodeRealmRequest}. */
export interface EncodeRealmRequestOptions {
  /** Refuse commands that {@link verifyRealmCommand} does not know (default true). */
  verify?: boolean;
  limits?: Partial<RealmWireLimits>;
}

/**
 * Encode a request: `cmd + " \r\n" + data + " \r\n"`. Throws a {@link RealmError} (`invalid`)
 * for an unknown command (unless `verify: false`) or a CR/LF/NUL in either part, and `limit`
 * for an over-long line.
 */
export function encodeRealmRequest(
  command: string,
  data = "",
  options: EncodeRealmRequestOptions = {},
): Buffer {
  const maxLine = options.limits?.maxLine ?? DEFAULT_REALM_WIRE_LIMITS.maxLine;
  if (options.verify !== false && !verifyRealmCommand(command)) {
    throw new RealmError("invalid", `Unknown realm manager command: ${command}`);
  }
  if (command === "") throw new RealmError("invalid", "Command is empty");
  checkLine("Command", command, maxLine);
  checkLine("Data", data, maxLine);
  return Buffer.from(`${command} \r\n${data} \r\n`, "utf8");
}

/**
 * Strip a line's terminator: exactly one upstream `" \r\n"` (any other trailing spaces are data),
 * or, for looser clients, `\r\n` / `\n` and then trailing blanks.
 */
function stripRequestLine(line: string): string {
  if (line.endsWith(" \r\n")) return line.slice(0, -3);
  return line.replace(/\r?\n$/, "").replace(/[ \t\r]+$/, "");
}

/**
 * Incremental request parser for the server side. Feed chunks with {@link push}; it returns the
 * request once both lines are in. {@link end} handles a client that half-closes early: a command
 * line without a data line is a request with empty data. Throws a {@link RealmError} (`limit`) for
 * a line longer than `maxLine` and (`protocol`) for a NUL byte or a request without a command.
 */
export class RealmRequestParser {
  readonly #maxLine: number;
  #buf: Buffer = Buffer.alloc(0);
  #lines: string[] = [];
  #done: RealmRequest | undefined;

  constructor(limits: Partial<RealmWireLimits> = {}) {
    this.#maxLine = limits.maxLine ?? DEFAULT_REALM_WIRE_LIMITS.maxLine;
  }

  /** Add bytes; returns the request when complete (and keeps returning it). */
  push(chunk: Uint8Array): RealmRequest | undefined {
    if (this.#done) return this.#done;
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl < 0) break;
      if (nl + 1 > this.#maxLine) this.#tooLong();
      this.#lines.push(this.#decodeLine(this.#buf.subarray(0, nl + 1)));
      this.#buf = this.#buf.subarray(nl + 1);
      if (this.#lines.length === 2) return this.#finish();
    }
    if (this.#buf.length > this.#maxLine) this.#tooLong();
    return undefined;
  }

  /** The peer finished sending: complete the request from what arrived, or throw `protocol`. */
  end(): RealmRequest {
    if (this.#done) return this.#done;
    if (this.#buf.length > 0) this.#lines.push(this.#decodeLine(this.#buf));
    this.#buf = Buffer.alloc(0);
    if (this.#lines.length === 0 || this.#lines[0] === "") {
      throw new RealmError("protocol", "Request has no command line");
    }
    return this.#finish();
  }

  #decodeLine(bytes: Buffer): string {
    if (bytes.includes(0)) throw new RealmError("protocol", "Request contains a NUL byte");
    return stripRequestLine(bytes.toString("utf8"));
  }

  #tooLong(): never {
    throw new RealmError("limit", `Request line is longer than ${this.#maxLine} bytes`);
  }

  #finish(): RealmRequest {
    const command = (this.#lines[0] ?? "").trim();
    if (command === "") throw new RealmError("protocol", "Request has no command line");
    this.#done = { command, data: this.#lines[1] ?? "" };
    return this.#done;
  }
}

/** Parse a whole request (both lines, or what a client sent before closing). */
export function decodeRealmRequest(
  bytes: Uint8Array,
  limits: Partial<RealmWireLimits> = {},
): RealmRequest {
  const parser = new RealmRequestParser(limits);
  return parser.push(bytes) ?? parser.end();
}

/** Encode a reply: `code + " \r\n" + message + " \r\n"` (the message may contain `\n`). */
export function encodeRealmReply(reply: RealmReply): Buffer {
  if (!Number.isInteger(reply.code) || reply.code < 0) {
    throw new RealmError("invalid", `Return code must be a non-negative integer: ${reply.code}`);
  }
  return Buffer.from(`${reply.code} \r\n${reply.message} \r\n`, "utf8");
}

/**
 * Incremental reply parser for the client side. Upstream `realmmgr_getresp` reads the code line,
 * then everything up to EOF, and strips one trailing `" \r\n"`; so does {@link end}. Zero bytes is
 * a `no-reply` error (upstream returned undef and realmctl reported success); a code line that is
 * not a number is `protocol`; more than `maxReply` bytes is `limit`.
 */
export class RealmReplyParser {
  readonly #maxReply: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limits: Partial<RealmWireLimits> = {}) {
    this.#maxReply = limits.maxReply ?? DEFAULT_REALM_WIRE_LIMITS.maxReply;
  }

  /** Bytes received so far. */
  get size(): number {
    return this.#size;
  }

  /** Add bytes; throws `limit` once the reply is larger than allowed. */
  push(chunk: Uint8Array): void {
    this.#size += chunk.length;
    if (this.#size > this.#maxReply) {
      throw new RealmError("limit", `Reply is larger than ${this.#maxReply} bytes`);
    }
    // Socket chunks are fresh buffers: keep them as they are instead of copying.
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    );
  }

  /** The server closed the connection: decode the reply. */
  end(): RealmReply {
    const text =
      (this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks))
        .toString("utf8");
    if (text.length === 0) {
      throw new RealmError("no-reply", "The realm manager closed the connection without a reply");
    }
    const nl = text.indexOf("\n");
    const first = nl < 0 ? text : text.slice(0, nl + 1);
    const codeText = first.replace(/\r?\n$/, "").trim();
    if (!/^\d{1,9}$/.test(codeText)) {
      throw new RealmError(
        "protocol",
        `Reply does not start with a return code: ${JSON.stringify(first.slice(0, 80))}`,
      );
    }
    let message = nl < 0 ? "" : text.slice(nl + 1);
    if (message.endsWith(" \r\n")) message = message.slice(0, -3);
    else if (message.endsWith("\r\n")) message = message.slice(0, -2);
    return { code: Number(codeText), message };
  }
}

/** Parse a whole reply as received up to EOF. */
export function decodeRealmReply(
  bytes: Uint8Array,
  limits: Partial<RealmWireLimits> = {},
): RealmReply {
  const parser = new RealmReplyParser(limits);
  parser.push(bytes);
  return parser.end();
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
