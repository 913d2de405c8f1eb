/**
 * `RealmManagerClient`: the realm manager's commands as typed methods. One connection per
 * command (the protocol's rule), a deadline per command, a clear error when no daemon listens,
 * and a {@link RealmError} carrying the upstream return code when the daemon says no.
 *
 * @example
 * ```ts
 * import { RealmManagerClient } from "./mod.ts";
 * const client = new RealmManagerClient({ stateDir: "/var/lib/steward" });
 * for (const realm of await client.realmStatus()) console.log(realm.name, realm.state);
 * await client.stopRealm("lab");
 * ```
 * @module
 */
import { type RealmChannelClientOptions, sendRealmCommand } from "./transport/client.ts";
import { RealmError } from "./errors.ts";
import { realmmgrLocation } from "./idfile.ts";
import {
  encodeRealmCommandData,
  encodeRealmLogMessage,
  parseRealmBatchBody,
  parseRealmCommandOutput,
  parseRealmLogLevel,
  parseRealmLogTz,
  parseRealmManagerStatus,
  parseRealmStatusBody,
  parseRealmSupervision,
  REALM_REPLY,
  type RealmBatchResult,
  REALMCMD_DATA,
  type RealmManagerStatusParameter,
  realmsFromStatus,
  type RealmStatusEntry,
  type RealmSupervisionReport,
} from "./protocol/bodies.ts";
import { REALM_RC, REALMCMD, type RealmCommand, realmReturnConstant } from "./protocol/codes.ts";
import { type RealmReply } from "./protocol/framing.ts";

/** Default reply deadlines: long for commands that start, stop or run things; 10 s otherwise. */
export const REALM_COMMAND_TIMEOUTS: Readonly<Partial<Record<RealmCommand, number>>> = {
  [REALMCMD.COMMAND]: 75_000,
  [REALMCMD.STARTREALM]: 60_000,
  [REALMCMD.STOPREALM]: 60_000,
  [REALMCMD.STARTALL]: 180_000,
  [REALMCMD.STOPALL]: 180_000,
  [REALMCMD.SHUTDOWN]: 180_000,
  [REALMCMD.REALMSTATUS]: 75_000,
};

/** Options of {@link RealmManagerClient}. */
export interface RealmManagerClientOptions extends RealmChannelClientOptions {
  /** Override {@link REALM_COMMAND_TIMEOUTS} per command. */
  timeouts?: Partial<Record<RealmCommand, number>>;
}

/** Per-call options. */
export interface RealmCallOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  /** Cancel the call. */
  signal?: AbortSignal;
}

/** The daemon's status (realmcmd_status): its parameters and the text as sent. */
export interface RealmManagerStatus {
  /** The labelled values of the status text. */
  parameters: RealmManagerStatusParameter[];
  /** The status text as the daemon sent it. */
  text: string;
}

/** Output of a command run inside a realm (realmcmd_command). */
export interface RealmCommandOutput {
  /** What the command printed. */
  output: string;
  /** The command's exit status as the daemon reported it. */
  exitCode: number;
}

/** Build the error for a non-zero reply. */
export function realmReplyError(command: string, reply: RealmReply): RealmError {
  const name = realmReturnConstant(reply.code) ?? `code ${reply.code}`;
  const text = reply.message.trimEnd();
  return new RealmError("reply", `${command} failed (${name}): ${text}`, {
    code: reply.code,
    replyText: reply.message,
  });
}

/** A client of the realm manager daemon (steward's or upstream's dtrealms). */
export class RealmManagerClient {
  readonly #options: RealmManagerClientOptions;
  readonly #socketPath: string;
  // Channel options per deadline, built once: a status round trip allocates as little as possible.
  readonly #perTimeout = new Map<number, RealmChannelClientOptions>();

  /** A client of the daemon of the state directory in `options`. */
  constructor(options: RealmManagerClientOptions = {}) {
    this.#options = options;
    this.#socketPath = options.socketPath ?? realmmgrLocation(options).socketPath;
  }

  /** The control socket this client talks to. */
  get socketPath(): string {
    return this.#socketPath;
  }

  /** Send any command and return the reply whatever its code (what `steward realms send` does). */
  send(command: string, data = "", call: RealmCallOptions = {}): Promise<RealmReply> {
    const timeoutMs = call.timeoutMs ?? this.#options.timeouts?.[command as RealmCommand] ??
      this.#options.timeoutMs ?? REALM_COMMAND_TIMEOUTS[command as RealmCommand] ?? 10_000;
    const signal = call.signal ?? this.#options.signal;
    if (signal) {
      return sendRealmCommand(command, data, {
        ...this.#options,
        socketPath: this.#socketPath,
        timeoutMs,
        signal,
      });
    }
    let o = this.#perTimeout.get(timeoutMs);
    if (!o) {
      o = { ...this.#options, socketPath: this.#socketPath, timeoutMs };
      this.#perTimeout.set(timeoutMs, o);
    }
    return sendRealmCommand(command, data, o);
  }

  /** Send a command and return its reply message; a non-zero code throws {@link RealmError} `reply`. */
  async run(command: RealmCommand, data = "", call: RealmCallOptions = {}): Promise<string> {
    const reply = await this.send(command, data, call);
    if (reply.code !== REALM_RC.OKAY) throw realmReplyError(command, reply);
    return reply.message;
  }

  /** The daemon's parameters (realmcmd_status). */
  async status(call: RealmCallOptions = {}): Promise<RealmManagerStatus> {
    const text = await this.run(REALMCMD.STATUS, "", call);
    return { parameters: parseRealmManagerStatus(text), text };
  }

  /** Each realm's state and rollover counts (realmcmd_realmstatus). */
  async realmStatus(call: RealmCallOptions = {}): Promise<RealmStatusEntry[]> {
    return parseRealmStatusBody(await this.run(REALMCMD.REALMSTATUS, "", call));
  }

  /** Start one realm (realmcmd_startrealm); code 4 throws. */
  startRealm(realm: string, call: RealmCallOptions = {}): Promise<string> {
    return this.run(REALMCMD.STARTREALM, realm, call);
  }

  /** Stop one realm (realmcmd_stoprealm); code 4 throws. */
  stopRealm(realm: string, call: RealmCallOptions = {}): Promise<string> {
    return this.run(REALMCMD.STOPREALM, realm, call);
  }

  /** Start every inactive realm (realmcmd_startall, data `1` as realmctl sends). */
  async startAll(call: RealmCallOptions = {}): Promise<RealmBatchResult[]> {
    return parseRealmBatchBody(await this.run(REALMCMD.STARTALL, REALMCMD_DATA.startAll, call));
  }

  /** Stop every active realm (realmcmd_stopall, data `0` as realmctl sends). */
  async stopAll(call: RealmCallOptions = {}): Promise<RealmBatchResult[]> {
    return parseRealmBatchBody(await this.run(REALMCMD.STOPALL, REALMCMD_DATA.stopAll, call));
  }

  /** Stop the realms and the daemon (realmcmd_shutdown). */
  shutdown(call: RealmCallOptions = {}): Promise<string> {
    return this.run(REALMCMD.SHUTDOWN, "", call);
  }

  /** Switch the daemon's log file (realmcmd_logfile). */
  setLogFile(file: string, call: RealmCallOptions = {}): Promise<string> {
    return this.run(REALMCMD.LOGFILE, file, call);
  }

  /** Set the daemon's log level by name or number (realmcmd_loglevel); checked here first. */
  setLogLevel(level: string, call: RealmCallOptions = {}): Promise<string> {
    if (parseRealmLogLevel(level) === undefined) {
      return Promise.reject(new RealmError("invalid", `Invalid log level: ${level}`));
    }
    return this.run(REALMCMD.LOGLEVEL, level, call);
  }

  /** Set the log time zone, `gmt` or `local` (realmcmd_logtz). */
  setLogTz(tz: string, call: RealmCallOptions = {}): Promise<string> {
    if (parseRealmLogTz(tz) === undefined) {
      return Promise.reject(new RealmError("invalid", `Invalid log time zone: ${tz}`));
    }
    return this.run(REALMCMD.LOGTZ, tz, call);
  }

  /** Write a message to the daemon's log at a level (realmcmd_logmsg). */
  logMessage(level: string, message: string, call: RealmCallOptions = {}): Promise<string> {
    let data: string;
    try {
      data = encodeRealmLogMessage(level, message);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.run(REALMCMD.LOGMSG, data, call);
  }

  /**
   * Run a command inside a realm (realmcmd_command). Words cannot contain whitespace: the
   * protocol joins them with spaces. Code 11 (timeout), 8, 14 (refused) throw.
   */
  async command(
    realm: string,
    argv: readonly string[],
    call: RealmCallOptions = {},
  ): Promise<RealmCommandOutput> {
    const message = await this.run(REALMCMD.COMMAND, encodeRealmCommandData(realm, argv), call);
    return parseRealmCommandOutput(message) ?? { output: message, exitCode: 0 };
  }

  /**
   * Every realm's supervision state (steward's realmcmd_supervision), or one realm's with the
   * last lines of its output log; an unknown realm throws (code 4).
   */
  async supervision(realm = "", call: RealmCallOptions = {}): Promise<RealmSupervisionReport> {
    return parseRealmSupervision(await this.run(REALMCMD.SUPERVISION, realm, call));
  }

  /**
   * Every realm's supervision state (or one realm's, with its log tail) from any daemon:
   * steward's realmcmd_supervision, or, from a daemon without it (upstream dtrealms, which sends
   * no reply or `unknown command`), what realmcmd_realmstatus tells. A non-zero reply throws
   * {@link RealmError} `reply`: code 4 for a realm that does not exist.
   */
  async supervisionReport(
    realm = "",
    call: RealmCallOptions = {},
  ): Promise<RealmSupervisionReport> {
    let reply: RealmReply | undefined;
    try {
      reply = await this.send(REALMCMD.SUPERVISION, realm, call);
    } catch (e) {
      if (!(e instanceof RealmError && e.kind === "no-reply")) throw e;
    }
    if (reply?.code === REALM_RC.OKAY) return parseRealmSupervision(reply.message);
    if (reply && reply.code !== REALM_RC.BADCOMMAND) {
      throw realmReplyError(REALMCMD.SUPERVISION, reply);
    }
    const realms = realmsFromStatus(await this.realmStatus(call))
      .filter((r) => realm === "" || r.name === realm);
    if (realm !== "" && realms.length === 0) {
      throw realmReplyError(REALMCMD.SUPERVISION, {
        code: REALM_RC.BADREALM,
        message: REALM_REPLY.noSuchRealm(realm),
      });
    }
    return { realms };
  }

  /**
   * Restart a realm: stop it if it runs (or backs off, starts, stops), then start it. Resolves
   * to the reply that tells how it went (the stop's when that failed, else the start's; code 4
   * `no realm named "x"` for an unknown realm) whatever its code; throws only when the daemon
   * could not be asked.
   */
  async restart(realm: string, call: RealmCallOptions = {}): Promise<RealmReply> {
    let state: string | undefined;
    try {
      state = (await this.supervisionReport(realm, call)).realms[0]?.state;
    } catch (e) {
      if (!(e instanceof RealmError && e.kind === "reply" && e.code === REALM_RC.BADREALM)) throw e;
    }
    if (state === undefined) {
      return { code: REALM_RC.BADREALM, message: REALM_REPLY.noSuchRealm(realm) };
    }
    if (state !== "stopped" && state !== "failed") {
      const stop = await this.send(REALMCMD.STOPREALM, realm, call);
      if (stop.code !== REALM_RC.OKAY) return stop;
    }
    return this.send(REALMCMD.STARTREALM, realm, call);
  }

  /** Turn the status display on (optionally at `HOST:PORT`) or off (realmcmd_display). */
  display(on: boolean, call: RealmCallOptions & { listen?: string } = {}): Promise<string> {
    return this.run(REALMCMD.DISPLAY, REALMCMD_DATA.display(on, call.listen), call);
  }
}
