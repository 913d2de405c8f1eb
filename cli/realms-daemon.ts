/**
 * `steward realms daemon`: steward's dtrealms. Runs in the foreground with `--foreground`;
 * otherwise starts itself detached and returns once the daemon serves its socket.
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { Argument, type Command, Option } from "@commander-js/extra-typings";
import { selfCommand } from "../lib/platform/runtime.ts";
import { DaemonStartError, startDetached } from "../lib/platform/start-wait.ts";
import { probeSocket } from "../lib/ipc/socket.ts";
import { REALMS_DAEMON_EXIT, RealmsDaemon, RealmsDaemonStartError } from "../lib/realms/daemon.ts";
import {
  prepareRealmStateDir,
  realmIdFile,
  realmSocketPath,
  realmStateDir,
} from "../lib/realms/paths.ts";
import { realmsDaemonPermissions } from "../lib/realms/permissions.ts";
import { readRealmsFileSync } from "../lib/realms/realmsfile.ts";
import { parseRealmLogLevel, parseRealmLogTz } from "../lib/realms/protocol/bodies.ts";
import { LogFileError } from "../lib/realms/rolllog.ts";
import { parseLogSize } from "../lib/log/logger.ts";
import { getoptLong, type GetoptSpec } from "../lib/realms/tools/getopt.ts";
import { VERSION } from "../lib/platform/version.ts";
import { type DisplayListen, parseDisplayListen } from "../lib/realms/display/display.ts";
import { CliError, usageError } from "./errors.ts";

/** The daemon's options, once parsed. */
export interface DaemonFlags {
  directory?: string;
  foreground?: boolean;
  logfile?: string;
  loglevel?: string;
  logtz?: string;
  display?: boolean;
  /** `--display-address` / `--display-port`: where the status page listens. */
  displayAddress?: string;
  displayPort?: string;
  statedir?: string;
  allowCommands?: boolean;
  logMaxSize?: string;
  maxConnections?: string;
  /** `--directory` as given, before it is made absolute. */
  directoryText?: string;
}

/** Environment variable carrying `--directory` as given from the detaching parent to the daemon. */
const DIRECTORY_GIVEN = "STEWARD_REALMS_DIRECTORY_GIVEN";

/** The process title; an upstream realmctl looks for `dtrealms` in `ps` to see the daemon. */
export const REALMS_DAEMON_TITLE = "dtrealms";

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
  // `ps` shows dtrealms (what an upstream realmctl looks for), the realms file and state dir.
  process.title = `${REALMS_DAEMON_TITLE} ${path.resolve(directory, file)} ${
    realmStateDir({ statedir: flags.statedir })
  }`;
  // Signals are handled from the first moment: upstream clients SIGHUP the daemon after each
  // request (Node's default action would end the process), and a stop asked for during
  // start-up halts the daemon as soon as it is up.
  const ref: { daemon?: RealmsDaemon; stopAsked?: string } = {};
  const onHup = () => ref.daemon?.nudge();
  const onStop = (sig: string) => () => {
    if (ref.daemon) void ref.daemon.halt(`${sig} received`);
    else ref.stopAsked = sig;
  };
  const onInt = onStop("SIGINT");
  const onTerm = onStop("SIGTERM");
  process.on("SIGHUP", onHup);
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const stateDir = realmStateDir({ statedir: flags.statedir });
  const directoryText = process.env[DIRECTORY_GIVEN] ?? flags.directoryText ?? ".";
  delete process.env[DIRECTORY_GIVEN]; // not for the realms' environment
  let daemon: RealmsDaemon;
  try {
    daemon = await RealmsDaemon.start({
      realmsFile: file,
      directory,
      stateDir,
      ...(flags.logfile !== undefined ? { logFile: flags.logfile } : {}),
      ...(flags.loglevel !== undefined ? { logLevel: flags.loglevel } : {}),
      ...(flags.logtz
        ? { logTz: parseRealmLogTz(flags.logtz) as "gmt" | "local", logTzText: flags.logtz }
        : {}),
      directoryText,
      allowCommands: flags.allowCommands === true,
      display: displayListen(flags) ?? {},
      ...(flags.logMaxSize !== undefined
        ? { logMaxSize: parseLogSize(flags.logMaxSize) as number }
        : {}),
      ...(flags.maxConnections !== undefined
        ? { maxConnections: Number(flags.maxConnections) }
        : {}),
    });
  } catch (e) {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    if (e instanceof RealmsDaemonStartError) throw new CliError(e.message, e.exitCode);
    if (e instanceof LogFileError) throw new CliError(e.message, 1);
    throw e;
  }
  ref.daemon = daemon;
  if (flags.display) await daemon.display("1");
  if (ref.stopAsked) void daemon.halt(`${ref.stopAsked} received during start-up`);
  await daemon.closed;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  // SIGHUP stays handled to the end: a late client nudge must not kill an exiting daemon.
}

/** Start the daemon detached and wait until it serves its socket (or reports why it could not). */
async function background(file: string, flags: DaemonFlags, directory: string): Promise<void> {
  const stateDir = realmStateDir({ statedir: flags.statedir });
  const abs = path.resolve(directory, file);
  const args = ["realms", "daemon", "--foreground", "--directory", directory];
  args.push("--statedir", stateDir);
  if (flags.logfile !== undefined) args.push("--logfile", flags.logfile);
  if (flags.loglevel !== undefined) args.push("--loglevel", flags.loglevel);
  if (flags.logtz !== undefined) args.push("--logtz", flags.logtz);
  if (flags.display) args.push("--display");
  if (flags.displayAddress !== undefined) args.push("--display-address", flags.displayAddress);
  if (flags.displayPort !== undefined) args.push("--display-port", flags.displayPort);
  if (flags.allowCommands) args.push("--allow-commands");
  if (flags.logMaxSize !== undefined) args.push("--log-max-size", flags.logMaxSize);
  if (flags.maxConnections !== undefined) args.push("--max-connections", flags.maxConnections);
  args.push(abs);
  let realms: { name: string; fields: Record<string, string> }[] = [];
  try {
    realms = readRealmsFileSync(abs).realms();
  } catch (e) {
    throw new CliError((e as Error).message, REALMS_DAEMON_EXIT.REALMS_FILE);
  }
  const cmd = selfCommand(
    args,
    realmsDaemonPermissions({
      directory,
      stateDir,
      realmsFile: abs,
      logFile: flags.logfile,
      realms,
      allowCommands: flags.allowCommands === true,
      displayHost: displayListen(flags)?.host,
    }),
  );
  // The daemon's standard error goes to a file, not a pipe: nothing it writes later can fail
  // on a reader that has gone away.
  let socketDir: string;
  try {
    socketDir = prepareRealmStateDir(stateDir).socketDir;
  } catch (e) {
    throw new CliError((e as Error).message, REALMS_DAEMON_EXIT.CHANNEL);
  }
  const socket = realmSocketPath(stateDir);
  try {
    await startDetached({
      command: cmd.command,
      args: cmd.args,
      cwd: directory,
      // The directory as the user gave it, for status (the child gets it made absolute).
      env: { ...process.env, [DIRECTORY_GIVEN]: flags.directoryText ?? "." },
      stderrFile: path.join(socketDir, "daemon.stderr"),
      ready: (pid) => ours(socket, realmIdFile(stateDir), pid),
    });
  } catch (e) {
    if (!(e instanceof DaemonStartError)) throw e;
    throw new CliError(e.message.replace(/^steward: /, ""), e.exitCode);
  }
}

async function ours(socket: string, idFile: string, pid: number | undefined): Promise<boolean> {
  try {
    if (Number(fs.readFileSync(idFile, "utf8").trim()) !== pid) return false;
  } catch {
    return false;
  }
  return (await probeSocket(socket, 500)) === "live";
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
