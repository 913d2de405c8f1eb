/**
 * `realmctl`, as `steward realms ctl`: the same options (single-dash, abbreviations, case-
 * sensitive), the same messages on the same streams and the same exit codes, so scripts work with
 * one word changed. Deliberate differences: an empty or missing reply counts as a failure (upstream
 * reported success), `-Version` prints the version (upstream printed nothing), and liveness is a
 * connection to the socket instead of a `ps` listing.
 * @internal
 * @module
 */
import { sendRealmCommand } from "../transport/client.ts";
import { RealmError } from "../errors.ts";
import { getoptLong, type GetoptSpec } from "./getopt.ts";
import type { ToolIo } from "./io.ts";
import { checkRealmSocketPathLength } from "../paths.ts";
import { haltRealmmgr, realmmgrLocation, realmmgrSeemsRunning } from "../idfile.ts";
import {
  formatRealmStatusLikeRealmctl,
  parseRealmLogLevel,
  REALM_LOG_LEVELS,
  REALM_USER_LOG_LEVELS,
  REALMCMD_DATA,
} from "../protocol/bodies.ts";
import { REALM_RC, REALMCMD, type RealmCommand } from "../protocol/codes.ts";
import { type RealmReply } from "../protocol/framing.ts";
import { REALM_COMMAND_TIMEOUTS } from "../client.ts";

/** realmctl's exit codes beyond "number of failed replies". */
export const REALMCTL_EXIT = {
  /** A send failed. */
  SEND_FAILED: 1,
  /** -startrealm / -stoprealm without a realm. */
  MISSING_REALM: 2,
  /** More than one command option. */
  TOO_MANY_COMMANDS: 3,
  /** -command with fewer than two arguments. */
  COMMAND_ARGS: 4,
  /** No command option. */
  NO_COMMAND: 5,
  /** The daemon is not running. */
  NOT_RUNNING: 200,
  /** The configuration check failed (state directory too long for the socket). */
  CONFIG_CHECK: 201,
} as const;

const SPEC: GetoptSpec = {
  allstart: "flag",
  allstop: "flag",
  cmd: "flag",
  command: "flag",
  halt: "optional",
  display: "flag",
  logfile: "required",
  loglevel: "optional",
  logtz: "required",
  nodisplay: "flag",
  startrealm: "flag",
  shutdown: "optional",
  stoprealm: "flag",
  status: "flag",
  realmstatus: "flag",
  Version: "flag",
  quiet: "flag",
  help: "flag",
  // steward's additions
  statedir: "required",
  timeout: "required",
};

const STEWARD_OPTIONS: ReadonlySet<string> = new Set(["statedir", "timeout"]);

/** realmctl's usage text (stderr), with steward's two extra options. */
export const REALMCTL_USAGE = [
  "usage:  realmctl [options] ",
  "\t-allstart                        start all realms",
  "\t-allstop                         stop all realms",
  "\t-command -- <realm> <command>    send command to a realm",
  "\t-display                         start graphical display",
  "\t-halt                            shutdown dtrealms and its realms",
  "\t-logfile <logfile>               set log file",
  "\t-loglevel <loglevel>             set logging level",
  "\t-logtz <log-timezone>            set logging timezone",
  "\t-nodisplay                       stop graphical display",
  "\t-realmstatus                     get status of realms",
  "\t-shutdown                        shutdown dtrealms and its realms",
  "\t-startrealm <realm>              restart named suspended realm",
  "\t-status                          get dtrealms' status",
  "\t-stoprealm <realm>               stop named realm",
  "\t-Version                         display version number",
  "\t-quiet                           don't give any output",
  "\t-help                            help message ",
  "\t-statedir <dir>                  state directory (steward; default $DT_STATEDIR)",
  "\t-timeout <seconds>               reply deadline (steward)",
  "",
].join("\n");

/** Where realmctl writes. */
export type RealmctlIo = ToolIo;

/** Options of {@link runRealmctl}. */
export interface RealmctlOptions {
  io: RealmctlIo;
  env?: Record<string, string | undefined>;
  /** Printed by -Version. */
  version: string;
}

// Stands for "no proper reply" (upstream: an undefined return code).
const NO_ANSWER = -1;

class Exit {
  readonly code: number;
  constructor(code: number) {
    this.code = code;
  }
}

// Perl truth: "" and "0" are false.
function truthy(v: string | true | undefined): boolean {
  return v === true || (v !== undefined && v !== "" && v !== "0");
}

/** Run realmctl with `argv` (the words after `realms ctl`); resolves to its exit code. */
export async function runRealmctl(
  argv: readonly string[],
  options: RealmctlOptions,
): Promise<number> {
  let out = options.io.stdout;
  let err = options.io.stderr;
  const usage = (): never => {
    err(REALMCTL_USAGE);
    throw new Exit(0);
  };
  try {
    if (argv.length === 0) usage();
    const { options: o, rest, errors } = getoptLong(argv, SPEC, STEWARD_OPTIONS);
    if (errors.length > 0) {
      for (const e of errors) err(`${e}\n`);
      usage();
    }
    if (o.has("help")) usage();

    let count = 0;
    let cmdstr = "";
    if (o.has("cmd") || o.has("command")) {
      if (rest.length < 2) {
        err("-command requires at least two arguments -- <realm> <command> <arguments>\n");
        throw new Exit(REALMCTL_EXIT.COMMAND_ARGS);
      }
      cmdstr = rest.join(" ");
      count++;
    }
    for (
      const name of [
        "display",
        "logfile",
        "loglevel",
        "logtz",
        "nodisplay",
        "realmstatus",
        "startrealm",
        "allstart",
        "allstop",
        "stoprealm",
        "status",
        "Version",
      ]
    ) if (o.has(name)) count++;
    let shutdown = 0;
    if (o.has("shutdown") || o.has("halt")) {
      shutdown = o.get("shutdown") === "now" || o.get("halt") === "now" ? 2 : 1;
      count++;
    }
    if (count > 1) {
      err("only one command argument may be specified per execution\n");
      throw new Exit(REALMCTL_EXIT.TOO_MANY_COMMANDS);
    }
    if (count < 1) {
      err("a command argument must be specified\n");
      throw new Exit(REALMCTL_EXIT.NO_COMMAND);
    }
    if (o.has("Version")) {
      err(`realmctl version: ${options.version} (steward)\n`);
      throw new Exit(0);
    }
    if (o.has("quiet")) {
      out = () => {};
      err = () => {};
    }
    if (o.get("loglevel") === "") {
      out("valid dtrealms logging levels:\n");
      for (const level of REALM_USER_LOG_LEVELS) {
        out(`\t${level}\t\t(${REALM_LOG_LEVELS[level]})\n`);
      }
      throw new Exit(0);
    }

    const statedir = o.get("statedir");
    const loc = realmmgrLocation({
      ...(typeof statedir === "string" ? { statedir } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    // dt_confcheck: the rollmgr socket rule allows at most 76 characters of state directory.
    try {
      checkRealmSocketPathLength(loc.stateDir);
      if (loc.stateDir.length > 76) throw new Error("state directory too long");
    } catch {
      err("realmctl:  configuration checks failed, can't send commands\n");
      throw new Exit(REALMCTL_EXIT.CONFIG_CHECK);
    }
    // No probe connection: an upstream dtrealms would take it for the request (see
    // realmmgrSeemsRunning); the request's own connection tells a stale socket.
    if (!realmmgrSeemsRunning({ stateDir: loc.stateDir }).running) {
      err("dtrealms is not running\n");
      throw new Exit(REALMCTL_EXIT.NOT_RUNNING);
    }

    const timeoutText = o.get("timeout");
    const timeoutMs = typeof timeoutText === "string" && Number(timeoutText) > 0
      ? Number(timeoutText) * 1000
      : undefined;
    let failures = 0;
    let sentAny = false;
    /** realmmgr_sendcmd + realmmgr_getresp; a send failure ends the run with exit 1. */
    const send = async (
      command: RealmCommand,
      data: string,
      label: string,
    ): Promise<RealmReply> => {
      try {
        const reply = await sendRealmCommand(command, data, {
          stateDir: loc.stateDir,
          nudge: true,
          timeoutMs: timeoutMs ?? REALM_COMMAND_TIMEOUTS[command] ?? 10_000,
        });
        sentAny = true;
        return reply;
      } catch (e) {
        if (e instanceof RealmError && e.kind === "no-daemon" && !sentAny) {
          err("dtrealms is not running\n");
          throw new Exit(REALMCTL_EXIT.NOT_RUNNING);
        }
        if (e instanceof RealmError && e.kind === "timeout") {
          // An upstream dtrealms reads requests only on a SIGHUP: one that timed out may still
          // be waiting in its socket and be carried out later.
          return {
            code: NO_ANSWER,
            message: `${e.message}; the request was sent and may still be carried out later`,
          };
        }
        if (
          e instanceof RealmError && ["no-reply", "protocol", "limit"].includes(e.kind)
        ) {
          // Upstream read an empty reply as success; here it is a failure with the reason.
          return { code: NO_ANSWER, message: e.message };
        }
        err(`realmctl:  error sending command ${label}\n`);
        throw new Exit(REALMCTL_EXIT.SEND_FAILED);
      }
    };
    const ok = (r: RealmReply) => r.code === REALM_RC.OKAY;

    if (cmdstr !== "") {
      const r = await send(REALMCMD.COMMAND, cmdstr, "COMMAND");
      if (r.code === NO_ANSWER) {
        err(`realmctl:  ${r.message}\n`);
        failures++;
      } else if (r.code === REALM_RC.BADEVENT && r.message === "realm command timed out") {
        out("realm command timed out\n");
      } else if (r.code !== REALM_RC.OKAY && r.message !== "") {
        // realmctl printed any reply as a success; a refusal is a failure here (stderr, counted).
        err(`command failed:  "${r.message}"\n`);
        failures++;
      } else if (r.message === "") {
        out(`command returned no output; return code - ${r.code}\n`);
      } else {
        out(`command executed on realm\nreturned:\n${r.message.replace(/\n$/, "")}\n`);
      }
    } else if (truthy(o.get("display"))) {
      const r = await send(REALMCMD.DISPLAY, REALMCMD_DATA.display(true), "DISPLAY");
      if (ok(r)) out("dtrealms display started\n");
      else {
        err("dtrealms display not started\n");
        failures++;
      }
    } else if (truthy(o.get("logfile"))) {
      const file = o.get("logfile") as string;
      const r = await send(REALMCMD.LOGFILE, file, "LOGFILE");
      if (ok(r)) out(`dtrealms log file set to ${file}\n`);
      else {
        err(`log-level set failed:  ${r.message}\n`);
        failures++;
      }
    } else if (truthy(o.get("loglevel"))) {
      const level = o.get("loglevel") as string;
      if (parseRealmLogLevel(level) === undefined) {
        err(`invalid dtrealms log level: ${level}\n`);
        failures++;
      } else {
        const r = await send(REALMCMD.LOGLEVEL, level, "LOGLEVEL");
        if (ok(r)) out(`dtrealms log level set to ${level}\n`);
        else {
          err(`log-level set failed:  ${r.message}\n`);
          failures++;
        }
      }
    } else if (truthy(o.get("logtz"))) {
      const tz = o.get("logtz") as string;
      const r = await send(REALMCMD.LOGTZ, tz, "LOGTZ");
      if (ok(r)) out(`dtrealms log timezone set to ${tz}\n`);
      else {
        err(`log-tz set failed:  ${r.message}\n`);
        failures++;
      }
    } else if (o.has("nodisplay")) {
      const r = await send(REALMCMD.DISPLAY, REALMCMD_DATA.display(false), "DISPLAY");
      if (ok(r)) out("dtrealms display stopped\n");
      else {
        err("dtrealms display not stopped\n");
        failures++;
      }
    } else if (o.has("realmstatus")) {
      const r = await send(REALMCMD.REALMSTATUS, "", "REALMSTATUS");
      if (ok(r)) out(formatRealmStatusLikeRealmctl(r.message));
      else {
        err(`realmstatus failed:  "${r.message}"\n`);
        failures++;
      }
    } else if (o.has("startrealm") || o.has("stoprealm")) {
      const start = o.has("startrealm");
      const verb = start ? "start" : "stop";
      if (rest.length === 0) {
        err(`realmctl: -${verb}realm missing realm argument\n`);
        throw new Exit(REALMCTL_EXIT.MISSING_REALM);
      }
      for (const realm of rest) {
        const r = await send(
          start ? REALMCMD.STARTREALM : REALMCMD.STOPREALM,
          realm,
          `${start ? "STARTZONE" : "STOPREALM"}(${realm})`,
        );
        if (ok(r)) out(`realm ${realm} ${verb === "start" ? "started" : "stopped"}\n`);
        else {
          err(`unable to ${verb} realm ${realm}:  "${r.message}"\n`);
          failures++;
        }
      }
    } else if (o.has("allstart") || o.has("allstop")) {
      const start = o.has("allstart");
      const r = await send(
        start ? REALMCMD.STARTALL : REALMCMD.STOPALL,
        start ? REALMCMD_DATA.startAll : REALMCMD_DATA.stopAll,
        start ? "STARTALL" : "STOPALL",
      );
      if (ok(r)) out(`${r.message}\n`);
      else {
        err(`${r.message}\n`);
        failures++;
      }
    } else if (o.has("status")) {
      const r = await send(REALMCMD.STATUS, "", "STATUS");
      if (ok(r)) out(r.message);
      else {
        err(`status failed:  "${r.message}"\n`);
        failures++;
      }
    } else if (shutdown === 2) {
      const sent = haltRealmmgr({ stateDir: loc.stateDir });
      if (!sent.sent) {
        err("realmctl:  unable to send immediate SHUTDOWN\n");
        throw new Exit(REALMCTL_EXIT.SEND_FAILED);
      }
      err("realmctl:  immediate SHUTDOWN notice sent to dtrealms\n");
      throw new Exit(0);
    } else if (shutdown === 1) {
      const r = await send(REALMCMD.SHUTDOWN, "", "SHUTDOWN");
      if (ok(r)) out(`${r.message}\n`);
      else {
        err(`shutdown failed:  "${r.message}"\n`);
        failures++;
      }
    }
    return Math.min(failures, 255);
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}
