/**
 * `steward realms` commands: talk to the realm manager (`send` and readable verbs), the
 * realmctl-compatible `ctl`, realms-file tools `check` (realmchk) and `list` (lsrealm), and the
 * daemon itself (cli/realms-daemon.ts).
 * @module
 */
import process from "node:process";
import type { Command } from "@commander-js/extra-typings";
import { RealmError } from "../lib/realms/errors.ts";
import { realmStateDir } from "../lib/realms/paths.ts";
import { waitForRealmmgrGone } from "../lib/realms/idfile.ts";
import { runRealmctl } from "../lib/realms/tools/realmctl.ts";
import { runLsrealm } from "../lib/realms/tools/lsrealm.ts";
import { runRealmchk } from "../lib/realms/tools/realmchk.ts";
import {
  encodeRealmCommandData,
  encodeRealmLogMessage,
  parseRealmBatchBody,
  parseRealmCommandOutput,
  parseRealmLogLevel,
  parseRealmLogTz,
  parseRealmManagerStatus,
  parseRealmStatusBody,
  REALM_LOG_LEVELS,
  REALM_USER_LOG_LEVELS,
  REALMCMD_DATA,
  type RealmStatusEntry,
  type RealmSupervision,
  type RealmSupervisionReport,
} from "../lib/realms/protocol/bodies.ts";
import { REALMCMD, type RealmCommand } from "../lib/realms/protocol/codes.ts";
import { type RealmReply } from "../lib/realms/protocol/framing.ts";
import { VERSION } from "../lib/platform/version.ts";
import { CliError, usageError } from "./errors.ts";
import { printJson, println, printTable } from "./output.ts";
import {
  addClientOptions,
  ask,
  client,
  type ClientFlags,
  failure,
  printReply,
  REALMS_CLIENT_EXIT,
  replyJson,
} from "./realms-client.ts";
import { registerRealmsDaemon } from "./realms-daemon.ts";
import { registerRealmsDisplay } from "./realms-display.ts";

/** A verb that sends one command and prints its reply. */
function simpleVerb(
  realms: Command,
  spec: { name: string; args?: string; description: string; command: RealmCommand },
  data: (args: string[]) => string,
  extra?: (reply: RealmReply) => Record<string, unknown>,
): void {
  const cmd = realms.command(spec.name).description(spec.description);
  if (spec.args) cmd.argument(spec.args);
  addClientOptions(cmd);
  cmd.action(async () => {
    const flags = cmd.opts() as ClientFlags;
    const reply = await ask(flags, spec.command, data(cmd.args));
    if (flags.json) {
      printJson(replyJson(spec.command, reply, extra?.(reply) ?? {}));
      process.exitCode = reply.code;
    } else printReply(reply);
  });
}

/** Exit codes of `steward realms status`. */
export const STATUS_EXIT = {
  /** A realm shown is failed. */
  FAILED: 1,
  /** The named realm is stopped. */
  STOPPED: 3,
  /** No realm of that name (the daemon's code 4). */
  NO_SUCH_REALM: 4,
} as const;

/** The supervision report (from any daemon: see RealmManagerClient.supervisionReport). */
async function supervisionOf(
  f: ClientFlags,
  realm: string,
): Promise<RealmSupervisionReport> {
  try {
    return await client(f).supervisionReport(realm);
  } catch (e) {
    supervisionFailure(e, f);
  }
}

/** A supervision query that failed: a reply's code is the exit status, as for every command. */
function supervisionFailure(e: unknown, f: ClientFlags): never {
  if (e instanceof RealmError && e.kind === "reply" && e.code !== undefined) {
    throw new CliError(e.replyText ?? e.message, e.code);
  }
  failure(e, f, REALMCMD.SUPERVISION);
}

function duration(seconds: number | null): string {
  if (seconds === null) return "";
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  return `${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, "0")}h`;
}

function supervisionRows(rows: RealmSupervision[]): void {
  printTable(rows, [
    { header: "REALM", value: (r) => r.name },
    { header: "STATE", value: (r) => r.state },
    { header: "PID", value: (r) => (r.pid === null ? "" : String(r.pid)), align: "right" },
    { header: "UPTIME", value: (r) => duration(r.uptime_seconds), align: "right" },
    { header: "RESTARTS", value: (r) => String(r.restarts), align: "right" },
    { header: "LAST EXIT", value: (r) => r.last_exit?.text ?? "" },
    {
      header: "DETAIL",
      value: (r) =>
        r.reason ??
          (r.restart_in_seconds !== null ? `restart in ${duration(r.restart_in_seconds)}` : "") +
            (r.adopted ? "adopted from a previous daemon" : ""),
    },
  ]);
}

function statusRows(entries: RealmStatusEntry[]): void {
  printTable(entries, [
    { header: "REALM", value: (e) => e.name },
    { header: "STATE", value: (e) => e.state },
    { header: "NORMAL", value: (e) => e.counts ? String(e.counts.normal) : "", align: "right" },
    { header: "ZSK", value: (e) => e.counts ? String(e.counts.zsk) : "", align: "right" },
    { header: "KSK", value: (e) => e.counts ? String(e.counts.ksk) : "", align: "right" },
    { header: "KSK6", value: (e) => e.counts ? String(e.counts.kskPhase6) : "", align: "right" },
    { header: "DETAIL", value: (e) => e.detail ?? "" },
  ]);
}

function registerVerbs(realms: Command): void {
  const send = realms.command("send")
    .description(
      "Send any command (realmcmd_status, realmcmd_stoprealm…) with optional data and print the " +
        "reply. Exit status = the reply's return code.",
    )
    .argument("<command>", "command string, e.g. realmcmd_status")
    .argument("[data...]", "the data line (words are joined with spaces)")
    .option("--no-verify", "send even a command the protocol does not know");
  addClientOptions(send);
  send.action(async (command, data, flags) => {
    const f = flags as ClientFlags & { verify?: boolean };
    let reply: RealmReply;
    try {
      reply = await client(f).send(command, data.join(" "));
    } catch (e) {
      // The client refuses what the protocol does not know, before connecting.
      if (e instanceof RealmError && e.kind === "invalid" && f.verify !== false) {
        throw usageError(`${e.message} (use --no-verify to send it anyway)`);
      }
      failure(e, f, command);
    }
    if (f.json) printJson(replyJson(command, reply));
    else {
      // The raw reply always goes to stdout, so that scripts can capture it whatever the code.
      process.stdout.write(reply.message.endsWith("\n") ? reply.message : `${reply.message}\n`);
    }
    process.exitCode = reply.code;
  });

  const info = realms.command("info").description(
    "Show the daemon's parameters (realmcmd_status, what realmctl -status prints)",
  );
  addClientOptions(info);
  info.action(async (flags) => {
    const f = flags as ClientFlags;
    const reply = await ask(f, REALMCMD.STATUS);
    if (f.json) {
      const parameters = reply.code === 0 ? parseRealmManagerStatus(reply.message) : [];
      printJson(replyJson(REALMCMD.STATUS, reply, {
        parameters: Object.fromEntries(parameters.map((p) => [p.label, p.value])),
      }));
      process.exitCode = reply.code;
    } else printReply(reply);
  });

  const status = realms.command("status")
    .description(
      "Show each realm: state (running, stopped, starting, stopping, backoff, failed), pid, " +
        "uptime, restarts and last exit; with REALM, also the last lines of its output log. " +
        `Exit ${STATUS_EXIT.FAILED} when a realm shown is failed, ${STATUS_EXIT.STOPPED} when ` +
        `the named realm is stopped, ${STATUS_EXIT.NO_SUCH_REALM} when there is no such realm, ` +
        "else 0 (200-202: no daemon or no answer).",
    )
    .argument("[realm]", "one realm, with the end of its log");
  addClientOptions(status);
  status.action(async (realm, flags) => {
    const f = flags as ClientFlags;
    const report = await supervisionOf(f, realm ?? "");
    const failed = report.realms.some((r) => r.state === "failed");
    const stopped = realm !== undefined && report.realms[0]?.state === "stopped";
    process.exitCode = failed ? STATUS_EXIT.FAILED : stopped ? STATUS_EXIT.STOPPED : 0;
    if (f.json) return printJson({ running: true, ...report });
    supervisionRows(report.realms);
    if (report.log_tail !== undefined) {
      const log = report.realms[0]?.output_log ?? "";
      println();
      println(report.log_tail.length === 0 ? `${log}: empty or unreadable` : `${log}:`);
      for (const line of report.log_tail) println(`  ${line}`);
    }
  });

  const restart = realms.command("restart")
    .description(
      "Stop realms that run (or back off) and start them again, one at a time. Exit status = " +
        "the highest return code.",
    )
    .argument("<realm...>", "realm names");
  addClientOptions(restart);
  restart.action(async (names, flags) => {
    const f = flags as ClientFlags;
    let worst = 0;
    const results = [];
    for (const name of names) {
      let reply: RealmReply;
      try {
        reply = await client(f).restart(name);
      } catch (e) {
        supervisionFailure(e, f);
      }
      const done = reply.code === 0;
      worst = Math.max(worst, reply.code);
      results.push({ realm: name, ...replyJson(REALMCMD.STARTREALM, reply) });
      if (f.json) continue;
      if (done) println(`realm "${name}" restarted`);
      else process.stderr.write(`steward: ${reply.message}\n`);
    }
    if (f.json) printJson({ command: "restart", ok: worst === 0, results });
    process.exitCode = worst;
  });

  const realmstatus = realms.command("realmstatus")
    .description("Show each realm's state and rollover counts (realmcmd_realmstatus)");
  addClientOptions(realmstatus);
  realmstatus.action(async (flags) => {
    const f = flags as ClientFlags;
    const reply = await ask(f, REALMCMD.REALMSTATUS);
    const entries = reply.code === 0 ? parseRealmStatusBody(reply.message) : [];
    if (f.json) {
      printJson(replyJson(REALMCMD.REALMSTATUS, reply, { realms: entries }));
      process.exitCode = reply.code;
    } else if (reply.code !== 0) printReply(reply);
    else if (entries.length === 0) println(reply.message.trimEnd());
    else statusRows(entries);
  });

  for (const verb of ["start", "stop"] as const) {
    const cmd = realms.command(verb)
      .description(
        `${verb === "start" ? "Start" : "Stop"} realms, one request each ` +
          `(realmcmd_${verb}realm). Exit status = the highest return code.`,
      )
      .argument("<realm...>", "realm names");
    addClientOptions(cmd);
    cmd.action(async (names, flags) => {
      const f = flags as ClientFlags;
      const command = verb === "start" ? REALMCMD.STARTREALM : REALMCMD.STOPREALM;
      const results = [];
      let worst = 0;
      for (const realm of names) {
        const reply = await ask(f, command, realm);
        worst = Math.max(worst, reply.code);
        results.push({ realm, ...replyJson(command, reply) });
        if (!f.json) {
          if (reply.code === 0) println(reply.message);
          else process.stderr.write(`steward: ${reply.message}\n`);
        }
      }
      if (f.json) printJson({ command, ok: worst === 0, results });
      process.exitCode = worst;
    });
  }

  simpleVerb(
    realms,
    {
      name: "startall",
      description: "Start every inactive realm (realmcmd_startall)",
      command: REALMCMD.STARTALL,
    },
    () => REALMCMD_DATA.startAll,
    (r) => ({ results: parseRealmBatchBody(r.message) }),
  );
  simpleVerb(
    realms,
    {
      name: "stopall",
      description: "Stop every active realm (realmcmd_stopall)",
      command: REALMCMD.STOPALL,
    },
    () => REALMCMD_DATA.stopAll,
    (r) => ({ results: parseRealmBatchBody(r.message) }),
  );

  const shutdown = realms.command("shutdown")
    .description("Stop every realm and the daemon (realmcmd_shutdown)")
    .option("--wait", "return only once the daemon has stopped serving");
  addClientOptions(shutdown);
  shutdown.action(async (flags) => {
    const f = flags as ClientFlags & { wait?: boolean };
    const reply = await ask(f, REALMCMD.SHUTDOWN);
    if (reply.code === 0 && f.wait) {
      const gone = await waitForRealmmgrGone({
        stateDir: realmStateDir({ statedir: f.statedir }),
        timeoutMs: f.timeout ? Number(f.timeout) * 1000 : 180_000,
      });
      if (!gone) {
        throw new CliError(
          "The daemon is still running after shutdown",
          REALMS_CLIENT_EXIT.NO_ANSWER,
        );
      }
    }
    if (f.json) {
      printJson(replyJson(REALMCMD.SHUTDOWN, reply));
      process.exitCode = reply.code;
    } else printReply(reply);
  });

  simpleVerb(realms, {
    name: "logfile",
    args: "<file>",
    description:
      "Switch the daemon's log file (realmcmd_logfile; relative to the daemon's directory)",
    command: REALMCMD.LOGFILE,
  }, (a) => a[0] ?? "");

  const loglevel = realms.command("loglevel")
    .description("Set the daemon's log level (realmcmd_loglevel); without LEVEL, list the levels")
    .argument("[level]", "tmi, expire, info, phase, err, fatal, or 1 3 4 6 8 9");
  addClientOptions(loglevel);
  loglevel.action(async (level, flags) => {
    const f = flags as ClientFlags;
    if (level === undefined) {
      const levels = REALM_USER_LOG_LEVELS.map((name) => ({ name, level: REALM_LOG_LEVELS[name] }));
      if (f.json) printJson(levels);
      else {printTable(levels, [{ header: "LEVEL", value: (l) => l.name }, {
          header: "NUMBER",
          value: (l) => String(l.level),
          align: "right",
        }]);}
      return;
    }
    if (parseRealmLogLevel(level) === undefined) {
      throw usageError(`Invalid log level: ${level} (tmi, expire, info, phase, err, fatal)`);
    }
    const reply = await ask(f, REALMCMD.LOGLEVEL, level);
    if (f.json) {
      printJson(replyJson(REALMCMD.LOGLEVEL, reply));
      process.exitCode = reply.code;
    } else printReply(reply);
  });

  const logtz = realms.command("logtz")
    .description("Set the time zone of log timestamps (realmcmd_logtz)")
    .argument("<tz>", "gmt or local");
  addClientOptions(logtz);
  logtz.action(async (tz, flags) => {
    const f = flags as ClientFlags;
    if (parseRealmLogTz(tz) === undefined || tz === "") {
      throw usageError(`Invalid log time zone: ${tz} (gmt or local)`);
    }
    const reply = await ask(f, REALMCMD.LOGTZ, tz);
    if (f.json) {
      printJson(replyJson(REALMCMD.LOGTZ, reply));
      process.exitCode = reply.code;
    } else printReply(reply);
  });

  const logmsg = realms.command("logmsg")
    .description("Write a message into the daemon's log at a level (realmcmd_logmsg)")
    .argument("<level>", "log level")
    .argument("<message...>", "the message");
  addClientOptions(logmsg);
  logmsg.action(async (level, words, flags) => {
    const f = flags as ClientFlags;
    if (parseRealmLogLevel(level) === undefined) {
      throw usageError(`Invalid log level: ${level} (tmi, expire, info, phase, err, fatal)`);
    }
    const reply = await ask(f, REALMCMD.LOGMSG, encodeRealmLogMessage(level, words.join(" ")));
    if (f.json) {
      printJson(replyJson(REALMCMD.LOGMSG, reply));
      process.exitCode = reply.code;
    } else printReply(reply);
  });

  const command = realms.command("command")
    .description(
      "Run a command inside a realm (realmcmd_command), if the realm allows it: " +
        "steward realms command REALM -- CMD [ARGS…]. Prints the command's output and exits " +
        "with its status; when it did not run, with the daemon's code (or 200-202).",
    )
    .argument("<realm>", "realm name")
    .argument("<cmd...>", "command and arguments (after --); words cannot contain spaces");
  addClientOptions(command);
  command.action(async (realm, argv, flags) => {
    const f = flags as ClientFlags;
    let data: string;
    try {
      data = encodeRealmCommandData(realm, argv);
    } catch (e) {
      throw usageError((e as Error).message);
    }
    const reply = await ask(f, REALMCMD.COMMAND, data);
    const parsed = reply.code === 0 ? parseRealmCommandOutput(reply.message) : undefined;
    if (f.json) {
      printJson(replyJson(REALMCMD.COMMAND, reply, {
        output: parsed?.output ?? null,
        exit_code: parsed?.exitCode ?? null,
      }));
      process.exitCode = reply.code;
      return;
    }
    if (reply.code !== 0 || !parsed) return printReply(reply);
    process.stdout.write(
      parsed.output === "" || parsed.output.endsWith("\n") ? parsed.output : `${parsed.output}\n`,
    );
    // Like ssh or docker exec: the command's own status (a signal's 128+n included).
    process.exitCode = Math.min(Math.max(parsed.exitCode, 0), 255);
  });
}

const stdio = {
  stdout: (t: string) => void process.stdout.write(t),
  stderr: (t: string) => void process.stderr.write(t),
};

function registerTools(realms: Command): void {
  realms.command("ctl")
    .description(
      "realmctl: the same options (-status, -realmstatus, -startrealm R…, -stoprealm R…, -allstart, " +
        "-allstop, -command -- R CMD…, -logfile F, -loglevel [L], -logtz TZ, -display, -nodisplay, " +
        "-halt [now], -shutdown [now], -quiet, -Version, -help), output and exit codes, plus " +
        "-statedir DIR and -timeout S. Run 'steward realms ctl -help' for realmctl's usage.",
    )
    .helpOption("--help", "show this help (-help prints the upstream usage)")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[options...]", "realmctl options")
    .usage("[realmctl options...]")
    .action(async (args) => {
      process.exitCode = await runRealmctl(args, { io: stdio, version: VERSION });
    });

  realms.command("check")
    .description(
      "realmchk: check realms files (-quiet, -verbose, -Version, -help, --json). " +
        "Exit status = the number of errors found.",
    )
    .helpOption("--help", "show this help (-help prints the upstream usage)")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]", "options and realms files")
    .action((args) => {
      process.exitCode = runRealmchk(args, { io: stdio, version: VERSION });
    });

  realms.command("list")
    .description(
      "lsrealm: list the realms of realms files (-active/-inactive, -state -realmdir -configdir " +
        "-rollrec -admin -display -manager -args -user, -count -fullpaths -headers -terse -long, " +
        "--json). Run 'steward realms list -help' for lsrealm's usage.",
    )
    .helpOption("--help", "show this help (-help prints the upstream usage)")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]", "options and realms files")
    .action((args) => {
      process.exitCode = runLsrealm(args, { io: stdio, version: VERSION });
    });
}

export { REALMS_CLIENT_EXIT };

/** Add the `realms` command group to `program`. */
export function registerRealms(program: Command): void {
  const realms = program.command("realms")
    .description(
      "Run and control supervised realms (DNSSEC-Tools dtrealms compatible). Client commands " +
        "exit with the daemon's return code, or 200 not running, 201 state directory too long, " +
        "202 no proper answer.",
    )
    .helpCommand(false);
  registerVerbs(realms);
  registerTools(realms);
  registerRealmsDaemon(realms);
  registerRealmsDisplay(realms);
}
