/**
 * `steward lockd` commands: run the lock manager (detached or in the foreground), show its
 * locks, stop it.
 * @module
 */
import path from "node:path";
import { type Command, Option } from "@commander-js/extra-typings";
import { identifyLockd, LockClient, LockError } from "../lib/lockd/client.ts";
import { LockDaemon, lockdSocketPath } from "../lib/lockd/daemon.ts";
import { LOCKD_DEFAULTS_FILE, parseIdleMinutes, readLockdDefaults } from "../lib/lockd/defaults.ts";
import type { LockdStatus } from "../lib/lockd/protocol.ts";
import { prepareLockdDirs, startLockd } from "../lib/lockd/start.ts";
import {
  DEFAULT_LOG_MAX_SIZE,
  fileSink,
  Logger,
  nullSink,
  parseLogSize,
  stderrSink,
} from "../lib/log/logger.ts";
import { SocketInUseError } from "../lib/ipc/socket.ts";
import { defaultRunDir, RunDirError } from "../lib/platform/rundir.ts";
import { DaemonStartError, startErrorReason } from "../lib/platform/start-wait.ts";
import { CliError, EXIT, usageError } from "./errors.ts";
import { heldFor } from "./lock.ts";
import { printJson, println, printTable, stdoutIsTty } from "./output.ts";

/** `lockd status` exits with this when no daemon answers (as LSB init scripts do). */
export const LOCKD_EXIT_NOT_RUNNING = 3;

interface WhereOptions {
  runDir?: string;
  socket?: string;
}

function where(o: WhereOptions): { runDir: string; socketPath: string } {
  const runDir = path.resolve(o.runDir ?? defaultRunDir());
  return { runDir, socketPath: o.socket ? path.resolve(o.socket) : lockdSocketPath(runDir) };
}

function idleOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = parseIdleMinutes(value);
  if (n === undefined) throw usageError(`Invalid --idle: not a number of minutes: ${value}`);
  return n;
}

interface DaemonOptions extends WhereOptions {
  foreground?: boolean;
  idle?: string;
  defaults?: string;
  crosshostRoot?: string[];
  logFile?: string;
  logMaxSize?: string;
  verbose?: boolean;
  notifyReady?: boolean;
}

async function runForeground(o: DaemonOptions): Promise<number> {
  const { runDir, socketPath } = where(o);
  let sink = stderrSink;
  const maxSize = o.logMaxSize === undefined ? DEFAULT_LOG_MAX_SIZE : parseLogSize(o.logMaxSize);
  if (maxSize === undefined) {
    throw usageError(`Invalid --log-max-size: not a size such as 10M: ${o.logMaxSize}`);
  }
  if (o.logFile) {
    try {
      sink = fileSink(path.resolve(o.logFile), { maxSize });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CliError(`Cannot open log file ${o.logFile}: ${err.code ?? err.message}`);
    }
  }
  const log = new Logger("lockd", { sink, level: o.verbose ? "debug" : "info" });
  let d;
  try {
    d = readLockdDefaults(o.defaults ?? LOCKD_DEFAULTS_FILE, { required: !!o.defaults });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  for (const w of d.warnings) log.warn(w);
  // Flags win over the defaults file.
  const idleMinutes = idleOption(o.idle) ?? d.idleMinutes;
  const crosshostRoots = o.crosshostRoot?.length
    ? o.crosshostRoot.map((r) => path.resolve(r))
    : d.crosshostRoots;
  let daemon: LockDaemon;
  try {
    daemon = await LockDaemon.start({
      runDir,
      socketPath,
      idleMinutes,
      crosshostRoots,
      ...(d.hostLockPrimitive ? { hostLockPrimitive: d.hostLockPrimitive } : {}),
      logger: log,
    });
  } catch (e) {
    if (e instanceof SocketInUseError) {
      throw new CliError(
        `lockd is already running (${e.holder ?? "pid unknown"}) on ${socketPath}`,
      );
    }
    if (e instanceof RunDirError) throw new CliError(e.message);
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`Cannot start lockd on ${socketPath}: ${err.code ?? err.message}`);
  }
  const onSignal = (sig: NodeJS.Signals) => {
    log.info(`Received ${sig}`);
    void daemon.stop("signal");
  };
  // SIGHUP is logrotate's "reopen your log", as for syslogd; it no longer stops the daemon.
  const onHup = () => {
    log.reopen();
    log.info("Received SIGHUP; log file reopened");
  };
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) process.on(s, onSignal);
  process.on("SIGHUP", onHup);
  if (o.notifyReady) {
    // Started in the background: the starter goes away once we answer, and our standard error
    // (its start-up errors file) is for start-up errors only; nobody reads stdout.
    process.stdout.on("error", () => {});
    process.stderr.on("error", () => {});
    process.stdout.write(`ready ${process.pid}\n`);
    if (!o.logFile) log.sink = nullSink;
  }
  await daemon.done;
  for (const s of signals) process.off(s, onSignal);
  process.off("SIGHUP", onHup);
  return EXIT.OK;
}

async function startInBackground(o: DaemonOptions): Promise<number> {
  const { runDir, socketPath } = where(o);
  const idleMinutes = idleOption(o.idle);
  const start = { runDir, socketPath, idleMinutes, defaultsFile: o.defaults, logFile: o.logFile };
  let keepStderr: boolean;
  try {
    keepStderr = prepareLockdDirs(start);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let pid: number;
  try {
    pid = await startLockd(start, {
      keepStderr,
      extraArgs: [
        ...(o.verbose ? ["--verbose"] : []),
        ...(o.logMaxSize !== undefined ? ["--log-max-size", o.logMaxSize] : []),
        ...(o.crosshostRoot ?? []).flatMap((r) => ["--crosshost-root", path.resolve(r)]),
      ],
      // Ready once it answers on the socket as the process started here.
      ready: async (p) => (await identifyLockd(socketPath)) === p,
      timeoutMs: 15_000,
      killOnTimeout: true,
    });
  } catch (e) {
    if (!(e instanceof DaemonStartError)) {
      throw new CliError(`Cannot start lockd: ${(e as Error).message}`);
    }
    const reason = startErrorReason(e.stderr);
    if (e.failure === "timeout") {
      throw new CliError(`lockd did not start within 15 s${reason ? `: ${reason}` : ""}`);
    }
    if (e.failure === "spawn") throw new CliError(`Cannot start lockd: ${e.message}`);
    throw new CliError(reason ?? `lockd exited with status ${e.exitCode}`, e.exitCode);
  }
  println(`lockd started (pid ${pid}) on ${socketPath}`);
  return EXIT.OK;
}

function notRunning(e: unknown): boolean {
  if (e instanceof LockError && e.code !== "NO_LOCKMGR") throw new CliError(e.message);
  return e instanceof LockError;
}

function printStatus(s: LockdStatus): void {
  interface Row {
    name: string;
    state: string;
    mode: string;
    pid: string;
    since: string;
    for: string;
    commandPid: string;
    command: string;
  }
  const rows: Row[] = [];
  const now = Date.now();
  const text = (c: string | null | undefined) =>
    c === null || c === undefined ? "-" : JSON.stringify(c).slice(1, -1);
  for (const l of s.locks) {
    for (const h of l.holders) {
      rows.push({
        name: l.name,
        state: "held",
        mode: l.mode ?? "",
        pid: String(h.pid ?? "-"),
        since: h.since,
        for: heldFor(h.since, now),
        commandPid: String(h.commandPid ?? "-"),
        command: text(h.command),
      });
    }
    for (const w of l.waiters) {
      rows.push({
        name: l.name,
        state: "waiting",
        mode: w.mode,
        pid: String(w.pid ?? "-"),
        since: w.since,
        for: heldFor(w.since, now),
        commandPid: "-",
        command: text(w.command),
      });
    }
  }
  if (stdoutIsTty()) {
    println(
      `lockd pid ${s.pid}, version ${s.version}, protocol ${s.protocol}, runtime ${s.runtime}, ` +
        `since ${s.startedAt}, ` +
        `${s.connections} connection(s), idle exit ${
          s.idleMinutes > 0 ? `${s.idleMinutes} min` : "off"
        }`,
    );
    println(`socket ${s.socket}`);
    if (rows.length === 0) {
      println("No locks held");
      return;
    }
    println();
  } else if (rows.length === 0) {
    // Said on stderr off a terminal: stdout stays one row per holder or waiter, for awk.
    process.stderr.write("No locks held\n");
    return;
  }
  printTable(rows, [
    { header: "NAME", value: (r) => JSON.stringify(r.name).slice(1, -1) },
    { header: "STATE", value: (r) => r.state },
    { header: "MODE", value: (r) => r.mode },
    { header: "PID", value: (r) => r.pid, align: "right" },
    { header: "SINCE", value: (r) => r.since },
    { header: "FOR", value: (r) => r.for, align: "right" },
    { header: "CMDPID", value: (r) => r.commandPid, align: "right" },
    { header: "COMMAND", value: (r) => r.command },
  ]);
  printTruncation(s);
}

// The reply's caps: say what was left out (on stderr off a terminal, so rows stay parseable).
function printTruncation(s: LockdStatus): void {
  const moreLocks = s.truncated ?? 0;
  let moreEntries = 0;
  for (const l of s.locks) moreEntries += (l.moreHolders ?? 0) + (l.moreWaiters ?? 0);
  if (moreLocks === 0 && moreEntries === 0) return;
  const line = `truncated: ${moreLocks} more lock(s), ${moreEntries} more holder(s) and waiter(s)`;
  if (stdoutIsTty()) println(line);
  else process.stderr.write(`${line}\n`);
}

/** Add the `lockd` command group to `program`. */
export function registerLockd(program: Command): void {
  const lockd = program.command("lockd")
    .helpCommand(false)
    .description(
      "Run the lock manager: named shared/exclusive locks over a Unix socket, released when " +
        "their holder dies (detached unless --foreground; clients also start it on demand)",
    )
    .option("--foreground", "stay in the foreground and log to stderr (for service managers)")
    .option("--run-dir <dir>", "private run directory holding lockd.sock (default: per user)")
    .option("--socket <path>", "socket path (default: <run-dir>/lockd.sock)")
    .option(
      "--idle <minutes>",
      `exit after this many minutes without locks; 0 = never (default: IDLE from the defaults file, else 15)`,
    )
    .option("--defaults <file>", `KEY=VALUE defaults file (default: ${LOCKD_DEFAULTS_FILE})`)
    .option(
      "--crosshost-root <dir>",
      "a directory where cross-host lock files may be made; repeatable (default: CROSSHOST_ROOTS " +
        "from the defaults file, else anywhere this user asks)",
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option("--log-file <file>", "append log lines to this file")
    .option(
      "--log-max-size <size>",
      "rotate the log file to <file>.1 when it would grow past this size (e.g. 512k, 10M; 0 = " +
        "never: leave it to logrotate, which sends SIGHUP) (default: 10M)",
    )
    .option("--verbose", "log every connection problem")
    .addOption(new Option("--notify-ready").hideHelp())
    .action(async (o) => {
      process.exitCode = o.foreground ? await runForeground(o) : await startInBackground(o);
    })
    .addHelpText(
      "after",
      "\nExit codes: 0 started (or stopped cleanly in the foreground), 1 failed or already running.",
    );

  lockd.command("status")
    .description("List every lock with its mode, holders (pid, since when) and queued waiters")
    .option("--run-dir <dir>", "run directory of the daemon")
    .option("--socket <path>", "socket path (default: <run-dir>/lockd.sock)")
    .option("--json", "print JSON")
    .addHelpText("after", `\nExit codes: 0 listed, ${LOCKD_EXIT_NOT_RUNNING} lockd is not running.`)
    .action(async (sub) => {
      // Options given after the subcommand may land on the parent, which declares them too.
      const o = { ...lockd.opts(), ...sub };
      const { runDir, socketPath } = where(o);
      const client = new LockClient({ runDir, socketPath, autoStart: false });
      try {
        const s = await client.status();
        if (o.json) printJson({ running: true, ...s });
        else printStatus(s);
      } catch (e) {
        if (!notRunning(e)) throw e;
        if (o.json) printJson({ running: false, socket: socketPath });
        else process.stderr.write(`steward: lockd is not running on ${socketPath}\n`);
        process.exitCode = LOCKD_EXIT_NOT_RUNNING;
      } finally {
        client.close();
      }
    });

  lockd.command("stop")
    .description(
      "Stop the lock manager cleanly (holders see their connection close); refused while locks " +
        "are held unless --force",
    )
    .option("--run-dir <dir>", "run directory of the daemon")
    .option("--socket <path>", "socket path (default: <run-dir>/lockd.sock)")
    .option("--force", "stop even while locks are held (their holders lose them)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExit codes: 0 stopped or was not running, 1 failed or locks are held (without --force).",
    )
    .action(async (sub) => {
      // Options given after the subcommand may land on the parent, which declares them too.
      const o = { ...lockd.opts(), ...sub };
      const { runDir, socketPath } = where(o);
      const client = new LockClient({ runDir, socketPath, autoStart: false });
      try {
        const pid = await client.stopDaemon({ force: o.force === true });
        if (o.json) printJson({ stopped: true, pid });
        else println(`lockd stopped (pid ${pid})`);
      } catch (e) {
        if (e instanceof LockError && e.code === "BUSY") {
          if (o.json) printJson({ stopped: false, running: true, reason: e.message });
          throw new CliError(`lockd not stopped: ${e.message}; use --force to stop it anyway`);
        }
        if (!notRunning(e)) throw e;
        if (o.json) printJson({ stopped: false, running: false, socket: socketPath });
        else process.stderr.write(`steward: lockd is not running on ${socketPath}\n`);
      } finally {
        client.close();
      }
    });
}
