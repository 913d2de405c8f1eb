/**
 * `steward realms daemon`: steward's dtrealms. Runs in the foreground with `--foreground`;
 * otherwise starts itself detached and returns once the daemon serves its socket.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { Argument, type Command, Option } from "@commander-js/extra-typings";
import { RealmsDaemonStartError } from "../lib/realms/daemon.ts";
import { realmStateDir } from "../lib/realms/paths.ts";
import {
  REALMS_DAEMON_TITLE,
  type RealmsDaemonFlags,
  RealmsDaemonLaunchError,
  serveRealmsDaemon,
  startRealmsDaemon,
} from "../lib/realms/start.ts";
import { parseRealmLogLevel, parseRealmLogTz } from "../lib/realms/protocol/bodies.ts";
import { LogFileError } from "../lib/realms/rolllog.ts";
import { parseLogSize } from "../lib/log/logger.ts";
import { getoptLong, type GetoptSpec } from "../lib/realms/tools/getopt.ts";
import { VERSION } from "../lib/platform/version.ts";
import { type DisplayListen, parseDisplayListen } from "../lib/realms/display/display.ts";
import { CliError, usageError } from "./errors.ts";

/** The daemon's options, once parsed. */
export interface DaemonFlags extends RealmsDaemonFlags {
  directory?: string;
  foreground?: boolean;
  statedir?: string;
}

export { REALMS_DAEMON_TITLE };

function validate(flags: DaemonFlags): void {
  if (flags.loglevel !== undefined && !parseRealmLogLevel(flags.loglevel)) {
    throw usageError(`Invalid log level: ${flags.loglevel} (tmi, expire, info, phase, err, fatal)`);
  }
  if (flags.logtz !== undefined && !parseRealmLogTz(flags.logtz)) {
    throw usageError(`Invalid log time zone: ${flags.logtz} (gmt or local)`);
  }
  if (flags.logMaxSize !== undefined && parseLogSize(flags.logMaxSize) === undefined) {
    throw usageError(
      `Invalid --log-max-size: not a size such as 10M, 512k or 0: ${flags.logMaxSize}`,
    );
  }
  if (flags.maxConnections !== undefined && !/^[1-9]\d{0,5}$/.test(flags.maxConnections)) {
    throw usageError(
      `Invalid --max-connections: not a whole number from 1: ${flags.maxConnections}`,
    );
  }
  if (displayListen(flags) === undefined) {
    throw usageError(
      `Invalid display address: ${flags.displayAddress ?? ""}:${flags.displayPort ?? ""}`,
    );
  }
}

function displayListen(flags: DaemonFlags): DisplayListen | undefined {
  const host = flags.displayAddress ?? "";
  const text = `${host.includes(":") ? `[${host}]` : host}:${flags.displayPort ?? ""}`;
  return flags.displayPort === undefined && flags.displayAddress === undefined
    ? {}
    : parseDisplayListen(text.endsWith(":") ? text.slice(0, -1) : text);
}

async function foreground(file: string, flags: DaemonFlags, directory: string): Promise<void> {
  try {
    await serveRealmsDaemon({
      realmsFile: file,
      directory,
      stateDir: realmStateDir({ statedir: flags.statedir }),
      ...(flags.directoryText !== undefined ? { directoryText: flags.directoryText } : {}),
      ...(flags.logfile !== undefined ? { logFile: flags.logfile } : {}),
      ...(flags.loglevel !== undefined ? { logLevel: flags.loglevel } : {}),
      ...(flags.logtz
        ? { logTz: parseRealmLogTz(flags.logtz) as "gmt" | "local", logTzText: flags.logtz }
        : {}),
      allowCommands: flags.allowCommands === true,
      display: displayListen(flags) ?? {},
      ...(flags.logMaxSize !== undefined
        ? { logMaxSize: parseLogSize(flags.logMaxSize) as number }
        : {}),
      ...(flags.maxConnections !== undefined
        ? { maxConnections: Number(flags.maxConnections) }
        : {}),
    }, { display: flags.display === true });
  } catch (e) {
    if (e instanceof RealmsDaemonStartError) throw new CliError(e.message, e.exitCode);
    if (e instanceof LogFileError) throw new CliError(e.message, 1);
    throw e;
  }
}

/** Start the daemon detached and wait until it serves its socket (or reports why it could not). */
async function background(file: string, flags: DaemonFlags, directory: string): Promise<void> {
  try {
    await startRealmsDaemon({
      realmsFile: file,
      directory,
      stateDir: realmStateDir({ statedir: flags.statedir }),
      flags,
      displayHost: displayListen(flags)?.host,
    });
  } catch (e) {
    if (e instanceof RealmsDaemonLaunchError) throw new CliError(e.message, e.exitCode);
    throw e;
  }
}

/**
 * dtrealms' options as Getopt::Long reads them (`-name` or `--name`, unique abbreviations,
 * case-sensitive), plus steward's `statedir` and `allow-commands`.
 */
const DAEMON_SPEC: GetoptSpec = {
  directory: "required",
  display: "flag",
  foreground: "flag",
  logfile: "required",
  loglevel: "required",
  logtz: "required",
  help: "flag",
  verbose: "flag",
  Version: "flag",
  // steward's additions
  statedir: "required",
  "allow-commands": "flag",
  "display-address": "required",
  "display-port": "required",
  "log-max-size": "required",
  "max-connections": "required",
};

// Letting any program run in any realm is never switched on by an abbreviation; steward's other
// additions are spelled out too, so that dtrealms' own abbreviations (-log…) keep their meaning.
const EXACT_ONLY: ReadonlySet<string> = new Set([
  "allow-commands",
  "display-address",
  "display-port",
  "log-max-size",
  "max-connections",
]);

/** The options as `--help` lists them (parsing is {@link DAEMON_SPEC}'s). */
const HELP_OPTIONS: [string, string][] = [
  ["--directory <dir>", "change to this directory first; base of relative paths (default .)"],
  ["--foreground", "stay in the foreground instead of detaching"],
  ["--logfile <file>", "daemon log file; - for standard output (default log.dtrealms)"],
  ["--loglevel <level>", "tmi, expire, info, phase, err or fatal (or 1 3 4 6 8 9)"],
  ["--logtz <tz>", "time zone of log timestamps: gmt or local"],
  ["--display", "start the status page (HTTP, see --display-address, --display-port)"],
  ["--display-address <ip>", "address of the status page (default 127.0.0.1)"],
  ["--display-port <port>", "port of the status page (default 9731; 0 for any free port)"],
  ["--statedir <dir>", "state directory (default $DT_STATEDIR or /usr/local/var)"],
  ["--allow-commands", "let realmcmd_command run any program in any realm (never abbreviated)"],
  [
    "--log-max-size <size>",
    "rotate the log to <file>.1 at this size: 10M (default), 512k, 0 (never)",
  ],
  ["--max-connections <n>", "connections served at once (default 128); more wait, then get busy"],
  ["--verbose", "accepted, as upstream; does nothing"],
  ["--Version", "print the version on standard error and exit"],
  ["--help", "show this help (-help too)"],
];

/** What the daemon's command line asks for. */
export type DaemonCommandLine =
  | { action: "help" }
  | { action: "version" }
  | { action: "run"; file: string; flags: DaemonFlags };

/** Parse the words after `realms daemon` as upstream dtrealms does; bad input is a usage error. */
export function parseDaemonArgs(argv: readonly string[]): DaemonCommandLine {
  const { options: o, rest, errors } = getoptLong(argv, DAEMON_SPEC, EXACT_ONLY);
  if (errors.length > 0) throw usageError(errors.join("; "));
  if (o.has("help")) return { action: "help" };
  if (o.has("Version")) return { action: "version" };
  const value = (name: string) => {
    const v = o.get(name);
    return typeof v === "string" ? { [name]: v } : {};
  };
  const flags: DaemonFlags = {
    ...value("directory"),
    ...value("logfile"),
    ...value("loglevel"),
    ...value("logtz"),
    ...value("statedir"),
    ...(typeof o.get("display-address") === "string"
      ? { displayAddress: o.get("display-address") as string }
      : {}),
    ...(typeof o.get("display-port") === "string"
      ? { displayPort: o.get("display-port") as string }
      : {}),
    ...(o.has("foreground") ? { foreground: true } : {}),
    ...(o.has("display") ? { display: true } : {}),
    ...(o.has("allow-commands") ? { allowCommands: true } : {}),
    ...(typeof o.get("log-max-size") === "string"
      ? { logMaxSize: o.get("log-max-size") as string }
      : {}),
    ...(typeof o.get("max-connections") === "string"
      ? { maxConnections: o.get("max-connections") as string }
      : {}),
  };
  if (rest.length === 0) throw usageError("Missing the realms file argument");
  if (rest.length > 1) {
    throw usageError(`Only one realms file may be given: ${rest.join(" ")}`);
  }
  return { action: "run", file: rest[0] as string, flags };
}

/** Add `daemon` to the `steward realms` group. */
export function registerRealmsDaemon(realms: Command): void {
  const daemon = realms.command("daemon")
    .description(
      "Run the realm manager daemon (steward's dtrealms) on REALMSFILE: start and supervise the " +
        "active realms' managers and serve the upstream control socket. Options are read as " +
        "dtrealms reads them: one or two dashes (-directory DIR, --foreground), unique " +
        "abbreviations (-fore, -dir DIR). " +
        "Exit codes: 0 halted cleanly, 1 failure, 2 usage error or bad realms file, " +
        "3 control socket cannot be created, 4 another daemon serves this state directory.",
    )
    .usage("[options] <realmsfile>")
    .helpOption("--help", "show this help (-help too)")
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]", "options and the realms file");
  daemon.configureHelp({
    visibleOptions: () => HELP_OPTIONS.map(([flags, text]) => new Option(flags, text)),
    visibleArguments: () => [
      new Argument("<realmsfile>", "the realms file (relative to --directory)"),
    ],
  });
  daemon.action(async (args) => {
    const line = parseDaemonArgs(args);
    if (line.action === "help") {
      daemon.outputHelp();
      return;
    }
    if (line.action === "version") {
      process.stderr.write(`dtrealms version: ${VERSION} (steward)\n`);
      return;
    }
    const { file, flags } = line;
    validate(flags);
    const directory = path.resolve(flags.directory ?? ".");
    try {
      if (!fs.statSync(directory).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new CliError(`Directory does not exist: ${directory}`);
    }
    const statedir = flags.statedir === undefined
      ? undefined
      : path.resolve(directory, flags.statedir);
    const resolved = {
      ...flags,
      ...(statedir ? { statedir } : {}),
      ...(flags.directory !== undefined ? { directoryText: flags.directory } : {}),
    };
    if (flags.foreground) await foreground(file, resolved, directory);
    else await background(file, resolved, directory);
  });
}
