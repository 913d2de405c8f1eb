/**
 * Starting the realms daemon, as lib/lockd/start.ts starts the lock manager: the
 * `realms daemon --foreground …` command line of a detached daemon, its Deno permission scope,
 * the start-and-wait (lib/platform/start-wait.ts: detached, ready once the id file names it and
 * its socket answers), and the foreground daemon's life (signals, process title, halt).
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { selfCommand } from "../platform/runtime.ts";
import { DaemonStartError, startDetached } from "../platform/start-wait.ts";
import { probeSocket } from "../ipc/socket.ts";
import { REALMS_DAEMON_EXIT, RealmsDaemon, type RealmsDaemonOptions } from "./daemon.ts";
import { RealmError } from "./errors.ts";
import { prepareRealmStateDir, realmIdFile, realmSocketPath } from "./paths.ts";
import { realmsDaemonPermissions } from "./permissions.ts";
import { readRealmsFileSync } from "./realmsfile.ts";

/** The process title; an upstream realmctl looks for `dtrealms` in `ps` to see the daemon. */
export const REALMS_DAEMON_TITLE = "dtrealms";

/** Environment variable carrying `--directory` as given from the detaching parent to the daemon. */
const DIRECTORY_GIVEN = "STEWARD_REALMS_DIRECTORY_GIVEN";

/** The daemon's command-line options, as given (values are checked by the command's parser). */
export interface RealmsDaemonFlags {
  logfile?: string;
  loglevel?: string;
  logtz?: string;
  display?: boolean;
  /** `--display-address` / `--display-port`: where the status page listens. */
  displayAddress?: string;
  displayPort?: string;
  allowCommands?: boolean;
  logMaxSize?: string;
  maxConnections?: string;
  /** `--directory` as given, before it is made absolute. */
  directoryText?: string;
}

/** What a detached start needs. */
export interface RealmsDaemonStart {
  /** The realms file (relative to `directory`). */
  realmsFile: string;
  /** The daemon's directory (absolute). */
  directory: string;
  /** The state directory (absolute). */
  stateDir: string;
  flags: RealmsDaemonFlags;
  /** The status page's host, for the permission scope. */
  displayHost?: string | undefined;
}

/** The `realms daemon --foreground …` arguments of a detached start. */
export function realmsDaemonArgs(o: RealmsDaemonStart): string[] {
  const f = o.flags;
  const args = ["realms", "daemon", "--foreground", "--directory", o.directory];
  args.push("--statedir", o.stateDir);
  if (f.logfile !== undefined) args.push("--logfile", f.logfile);
  if (f.loglevel !== undefined) args.push("--loglevel", f.loglevel);
  if (f.logtz !== undefined) args.push("--logtz", f.logtz);
  if (f.display) args.push("--display");
  if (f.displayAddress !== undefined) args.push("--display-address", f.displayAddress);
  if (f.displayPort !== undefined) args.push("--display-port", f.displayPort);
  if (f.allowCommands) args.push("--allow-commands");
  if (f.logMaxSize !== undefined) args.push("--log-max-size", f.logMaxSize);
  if (f.maxConnections !== undefined) args.push("--max-connections", f.maxConnections);
  args.push(path.resolve(o.directory, o.realmsFile));
  return args;
}

/** Whether the daemon with `pid` is up: the id file names it and its socket answers. */
async function ready(stateDir: string, pid: number): Promise<boolean> {
  try {
    if (Number(fs.readFileSync(realmIdFile(stateDir), "utf8").trim()) !== pid) return false;
  } catch {
    return false;
  }
  return (await probeSocket(realmSocketPath(stateDir), 500)) === "live";
}

/** Why a detached daemon did not start, with the exit code its command ends with. */
export class RealmsDaemonLaunchError extends RealmError {
  override name = "RealmsDaemonLaunchError";
  readonly exitCode: number;
  constructor(exitCode: number, message: string, cause?: unknown) {
    super("io", message, cause === undefined ? {} : { cause });
    this.exitCode = exitCode;
  }
}

/**
 * Start the daemon detached and resolve with its pid once it serves its socket; throws
 * {@link RealmsDaemonLaunchError} with the daemon's exit code (or 2 for an unreadable realms
 * file, 3 for an unusable state directory) and what it wrote to standard error.
 */
export async function startRealmsDaemon(o: RealmsDaemonStart): Promise<number> {
  const abs = path.resolve(o.directory, o.realmsFile);
  let realms: { name: string; fields: Record<string, string> }[];
  try {
    realms = readRealmsFileSync(abs).realms();
  } catch (e) {
    throw new RealmsDaemonLaunchError(REALMS_DAEMON_EXIT.REALMS_FILE, (e as Error).message, e);
  }
  const cmd = selfCommand(
    realmsDaemonArgs(o),
    realmsDaemonPermissions({
      directory: o.directory,
      stateDir: o.stateDir,
      realmsFile: abs,
      logFile: o.flags.logfile,
      realms,
      allowCommands: o.flags.allowCommands === true,
      displayHost: o.displayHost,
    }),
  );
  let socketDir: string;
  try {
    socketDir = prepareRealmStateDir(o.stateDir).socketDir;
  } catch (e) {
    throw new RealmsDaemonLaunchError(REALMS_DAEMON_EXIT.CHANNEL, (e as Error).message, e);
  }
  try {
    return await startDetached({
      command: cmd.command,
      args: cmd.args,
      cwd: o.directory,
      // The directory as the user gave it, for status (the child gets it made absolute).
      env: { ...process.env, [DIRECTORY_GIVEN]: o.flags.directoryText ?? "." },
      // A file, not a pipe: nothing the daemon writes later can fail on a reader that has gone.
      stderrFile: path.join(socketDir, "daemon.stderr"),
      ready: (pid) => ready(o.stateDir, pid),
    });
  } catch (e) {
    if (!(e instanceof DaemonStartError)) throw e;
    throw new RealmsDaemonLaunchError(e.exitCode, e.message.replace(/^steward: /, ""), e);
  }
}

/** Options of {@link serveRealmsDaemon}. */
export interface ServeRealmsDaemonOptions {
  /** Turn the status page on once the daemon is up. */
  display?: boolean;
}

/**
 * Run the daemon in this process until it halts: the process title shows `dtrealms`, the realms
 * file and the state directory; SIGHUP is a nudge (upstream clients send one after each request;
 * Node's default would end the process) and SIGINT/SIGTERM halt it, from the first moment (a stop
 * asked for during start-up halts the daemon as soon as it is up). `directoryText` defaults to
 * what a detaching parent passed on. Start-up errors are thrown as `RealmsDaemon.start` throws
 * them.
 */
export async function serveRealmsDaemon(
  options: RealmsDaemonOptions,
  serve: ServeRealmsDaemonOptions = {},
): Promise<void> {
  const directory = path.resolve(options.directory ?? process.cwd());
  process.title = `${REALMS_DAEMON_TITLE} ${path.resolve(directory, options.realmsFile)} ${
    path.resolve(directory, options.stateDir)
  }`;
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
  const directoryText = process.env[DIRECTORY_GIVEN] ?? options.directoryText ?? ".";
  delete process.env[DIRECTORY_GIVEN]; // not for the realms' environment
  let daemon: RealmsDaemon;
  try {
    daemon = await RealmsDaemon.start({ ...options, directoryText });
  } catch (e) {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    throw e;
  }
  ref.daemon = daemon;
  if (serve.display) await daemon.display("1");
  if (ref.stopAsked) void daemon.halt(`${ref.stopAsked} received during start-up`);
  await daemon.closed;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  // SIGHUP stays handled to the end: a late client nudge must not kill an exiting daemon.
}
