/**
 * The realms daemon (steward's `dtrealms`): reads the realms file, runs and supervises one
 * manager per active realm, serves the upstream control protocol on its Unix socket (one
 * command per connection, closed after the reply, every connection time-limited), keeps the
 * upstream id file, and stops every manager when it halts.
 * @module
 */
import path from "node:path";
import { SocketInUseError } from "../ipc/socket.ts";
import { RealmError } from "./errors.ts";
import { realmConfDir, realmIdFile, realmSocketDir, realmSocketPath } from "./paths.ts";
import { readRealmsFile, type RealmsFile, updateRealmsFile } from "./realmsfile.ts";
import { type LogTz, RollLog } from "./rolllog.ts";
import { DEFAULT_LOG_MAX_SIZE, escapeControl } from "../log/logger.ts";
import { RealmSupervisor, type Transition } from "./supervisor.ts";
import { realmPolicy } from "./policy.ts";
import { checkRealmDefinition } from "./check.ts";
import {
  daemonUid,
  lookupUser,
  managerSpec,
  ProcessLauncher,
  processStartTime,
  processUids,
  type RealmEntry,
  signalGroup,
  type SpecContext,
} from "./process.ts";
import {
  daemonSecret,
  findMarkedManagers,
  ManagerRegistry,
  managersFile,
  readManagers,
  recordAlive,
  secretFile,
} from "./registry.ts";
import { parseRealmLogLevel, realmManagerStatusBody } from "./protocol/bodies.ts";
import { openRealmChannelServer, type RealmChannelServer } from "./transport/server.ts";
import { claimRealmmgrId, removeRealmmgrId } from "./idfile.ts";
import { dispatch, type HandlerContext, type RealmCommandRunner } from "./handlers.ts";
import type { RealmCommand } from "./protocol/codes.ts";
import type { RealmReply } from "./protocol/framing.ts";
import { readLogTail } from "./log-tail.ts";
import { runInRealm } from "./run-in-realm.ts";
import { createDaemonDisplay } from "./display/daemon-context.ts";
import type { DisplayListen, RealmsDisplay } from "./display/display.ts";

/** Options of {@link RealmsDaemon.start}. */
export interface RealmsDaemonOptions {
  /** The realms file as given on the command line (shown by status). */
  realmsFile: string;
  /** Base directory of relative paths (upstream `-directory`; default the cwd). */
  directory?: string;
  /** The directory as given on the command line, which status shows (default "."). */
  directoryText?: string;
  /** The log time zone as given (status shows it; default the `logTz` value). */
  logTzText?: string;
  /** State directory holding the socket and id file. */
  stateDir: string;
  /** Log file (default `log.dtrealms` in the directory; `-` for standard output). */
  logFile?: string;
  /** Log level by name or number (default info). */
  logLevel?: string;
  /** Log time zone (default gmt). */
  logTz?: LogTz;
  /** Allow realmcmd_command in every realm, whatever its allowcommands field says. */
  allowCommands?: boolean;
  /** Environment realms inherit (default process.env). */
  env?: Record<string, string | undefined>;
  /** Time a client has to send its whole request (default 5 s). */
  requestTimeoutMs?: number;
  /** Connections served at once (default 128); more wait in the kernel backlog. */
  maxConnections?: number;
  /** Time limit of `rollctl -zonestatus` for realmstatus (default 10 s). */
  statusTimeoutMs?: number;
  /** Time limit of realmcmd_command (default 60 s, as upstream). */
  commandTimeoutMs?: number;
  /** Also write log lines here (the foreground daemon's terminal). */
  echo?: (line: string) => void;
  /** Where the status page listens when turned on (default 127.0.0.1:9731). */
  display?: DisplayListen & { countsMs?: number };
  /** Rotate the log to `<file>.1` at this size in bytes (default 10 MiB; 0: never). */
  logMaxSize?: number;
}

/** Exit codes of a daemon that cannot start (upstream dtrealms uses 2 and 3 the same way). */
export const REALMS_DAEMON_EXIT = {
  /** The realms file is missing, unreadable or malformed. */
  REALMS_FILE: 2,
  /** The control socket cannot be created (path too long, directory unusable). */
  CHANNEL: 3,
  /** Another daemon already serves this state directory. */
  RUNNING: 4,
} as const;

/** Why a daemon could not start, with the exit code the command ends with. */
export class RealmsDaemonStartError extends RealmError {
  override name = "RealmsDaemonStartError";
  readonly exitCode: number;
  constructor(exitCode: number, message: string, cause: unknown) {
    super(cause instanceof RealmError ? cause.kind : "io", message, { cause });
    this.exitCode = exitCode;
  }
}

/** A realm known to the daemon. */
interface Managed {
  entry: RealmEntry;
  sup: RealmSupervisor;
  /** Gone from the realms file; forgotten once it is inactive. */
  removed: boolean;
}

/** At most this many refused requests are logged per window; the rest are counted. */
const REFUSED_LOG_PER_WINDOW = 20;
const REFUSED_LOG_WINDOW_MS = 60_000;

/** Log levels used by the daemon. */
const TMI = 1;
const INFO = 4;
const ERR = 8;
const FATAL = 9;

/** The realms daemon. Create it with {@link RealmsDaemon.start}. */
export class RealmsDaemon implements HandlerContext, AsyncDisposable {
  readonly options: RealmsDaemonOptions;
  readonly directory: string;
  readonly stateDir: string;
  readonly socketPath: string;
  readonly idFile: string;
  readonly log: RollLog;
  readonly realmsFilePath: string;
  /** The log level as last set (name or number, as given). */
  logLevelText: string;
  /** The log time zone as last set (as given). */
  logTzText: string;
  readonly defaultLogTz: LogTz;
  readonly runningAs: string;
  readonly realms = new Map<string, Managed>();
  #channel: RealmChannelServer | undefined;
  #registry!: ManagerRegistry;
  /** The secret in this daemon's manager marks (kept in the state directory, mode 0600). */
  #markSecret: string | undefined;
  #halting: Promise<void> | undefined;
  #resolveClosed!: () => void;
  /** Resolves once the daemon has halted. */
  readonly closed: Promise<void>;
  #fileQueue: Promise<unknown> = Promise.resolve();
  #pendingStates = new Map<string, "active" | "inactive">();
  #stateFlush: Promise<string | undefined> | undefined;
  /** When the daemon started, its commands by name, transition hooks, the status page. */
  readonly startedAt = Date.now();
  readonly commandCounts = new Map<string, number>();
  readonly transitions = new Set<(t: Transition) => void>();
  readonly displayer: RealmsDisplay;

  private constructor(options: RealmsDaemonOptions) {
    this.options = options;
    this.directory = path.resolve(options.directory ?? process.cwd());
    this.stateDir = path.resolve(this.directory, options.stateDir);
    this.socketPath = realmSocketPath(this.stateDir);
    this.idFile = realmIdFile(this.stateDir);
    this.realmsFilePath = path.resolve(this.directory, options.realmsFile);
    // As upstream's status shows it: the level as given, or the default's number.
    this.logLevelText = options.logLevel ?? "4";
    this.defaultLogTz = options.logTz ?? "gmt";
    this.logTzText = options.logTzText ?? this.defaultLogTz;
    const level = parseRealmLogLevel(this.logLevelText)?.level;
    if (level === undefined) {
      throw new RealmError("invalid", `Invalid log level: ${this.logLevelText}`);
    }
    this.log = new RollLog({
      level,
      tz: this.defaultLogTz,
      maxSize: options.logMaxSize ?? DEFAULT_LOG_MAX_SIZE,
    });
    const uid = daemonUid();
    this.runningAs = uid === undefined ? "" : lookupUser(String(uid))?.name ?? String(uid);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.displayer = createDaemonDisplay(this, options.display);
  }

  /**
   * Handle one verified command (the channel verifies the socket's; the status page sends only
   * protocol constants): count it, then dispatch it. Unknown commands are counted where the
   * channel refuses them.
   */
  handle(req: { command: RealmCommand; data: string }): ReturnType<typeof dispatch> {
    this.#count(req.command);
    return dispatch(this, req);
  }

  #count(command: string): void {
    this.commandCounts.set(command, (this.commandCounts.get(command) ?? 0) + 1);
  }

  /** The environment realms inherit. */
  get env(): Record<string, string | undefined> {
    return this.options.env ?? process.env;
  }

  /** The daemon's effective uid. */
  get uid(): number | undefined {
    return daemonUid();
  }

  /** Runs commands in realms (realmcmd_command, rollctl -zonestatus). */
  readonly runCommand: RealmCommandRunner = runInRealm;

  /** The last lines of a realm's output log. */
  logTail(file: string): string[] {
    return readLogTail(file);
  }

  /** realmcmd_display / realmcmd_nodisplay. */
  display(data: string): Promise<RealmReply> {
    return this.displayer.command(data);
  }

  /**
   * Start a daemon: open the log, read the realms file, claim the control socket (never
   * displacing a live daemon), write the id file, find the managers of a previous run, start the
   * active realms. Throws {@link RealmError} (`path`, `invalid`, `io`) or SocketInUseError.
   */
  static async start(options: RealmsDaemonOptions): Promise<RealmsDaemon> {
    const d = new RealmsDaemon(options);
    const logFile = options.logFile ?? "log.dtrealms";
    d.log.open(logFile, d.directory, { refuse: d.ownFiles() });
    d.#banner("dtrealms starting " + "-".repeat(40));
    const fatal = (code: number, message: string, e: unknown): never => {
      d.#log(FATAL, "dtrealms", message);
      d.log.close();
      throw new RealmsDaemonStartError(code, message, e);
    };
    let doc: RealmsFile | undefined;
    try {
      doc = await readRealmsFile(d.realmsFilePath);
    } catch (e) {
      fatal(REALMS_DAEMON_EXIT.REALMS_FILE, (e as Error).message, e);
    }
    d.#fileIssues(doc as RealmsFile);
    try {
      d.#channel = await openRealmChannelServer({
        stateDir: d.stateDir,
        handler: (req) => d.handle(req),
        requestTimeoutMs: options.requestTimeoutMs ?? 5000,
        maxConnections: options.maxConnections ?? 128,
        onRejected: (r) => d.#rejected(r),
        onHandlerError: (e, req) =>
          d.#log(ERR, "dtrealms", `command ${req.command} failed: ${(e as Error)?.stack ?? e}`),
      });
    } catch (e) {
      if (e instanceof SocketInUseError) {
        d.#log(ERR, "dtrealms", "another dtrealms tried to start");
        fatal(REALMS_DAEMON_EXIT.RUNNING, `another dtrealms is already running: ${e.message}`, e);
      }
      fatal(
        REALMS_DAEMON_EXIT.CHANNEL,
        `unable to create control communications channel: ${(e as Error).message}`,
        e,
      );
    }
    try {
      await claimRealmmgrId({ stateDir: d.stateDir, ownsSocket: true });
    } catch (e) {
      await d.#channel?.close();
      fatal(REALMS_DAEMON_EXIT.CHANNEL, (e as Error).message, e);
    }
    const socketDir = realmSocketDir(d.stateDir);
    try {
      d.#markSecret = daemonSecret(socketDir);
    } catch (e) {
      await d.#channel?.close();
      fatal(REALMS_DAEMON_EXIT.CHANNEL, (e as Error).message, e);
    }
    const previous = readManagers(managersFile(socketDir));
    d.#registry = new ManagerRegistry(managersFile(socketDir));
    try {
      d.#install(doc as RealmsFile);
      await d.#boot(previous);
    } catch (e) {
      d.#log(FATAL, "dtrealms", `start-up failed: ${(e as Error).message}`);
      await d.halt("start-up failed");
      throw e;
    }
    return d;
  }

  #log(level: number, field: string | undefined, message: string): void {
    this.log.log(level, field, message);
    if (this.options.echo && this.log.enabled(level)) {
      this.options.echo(escapeControl(`${field ? `${field}: ` : ""}${message}`) + "\n");
    }
  }

  /** Requests refused before a handler: each counted; logged truncated and rate-limited. */
  #refused = { total: 0, windowStart: 0, inWindow: 0, suppressed: 0 };

  #rejected(r: { reason: string; command?: string }): void {
    if (r.command !== undefined && r.reason === "unknown command") this.#count("(unknown)");
    // A connection closed without a byte is a liveness probe, not an error.
    if (/no command line/i.test(r.reason)) {
      this.#log(TMI, "dtrealms", `request refused: ${r.reason}`);
      return;
    }
    const c = this.#refused;
    c.total++;
    const now = Date.now();
    if (now - c.windowStart >= REFUSED_LOG_WINDOW_MS) {
      c.windowStart = now;
      c.inWindow = 0;
    }
    if (++c.inWindow > REFUSED_LOG_PER_WINDOW) {
      c.suppressed++;
      return;
    }
    const cut = (
      t: string,
      n: number,
    ) => (t.length > n ? `${t.slice(0, n)}... (${t.length} chars)` : t);
    const what = r.command === undefined ? "" : ` "${cut(r.command, 64)}"`;
    const more = c.suppressed > 0 ? `; ${c.suppressed} more not logged` : "";
    c.suppressed = 0;
    this.#log(
      ERR,
      "dtrealms",
      `request refused: ${cut(r.reason, 200)}${what} (#${c.total}${more})`,
    );
  }

  /** The daemon's own files, which realmcmd_logfile never accepts as its log. */
  ownFiles(): string[] {
    const socketDir = realmSocketDir(this.stateDir);
    return [
      this.realmsFilePath,
      this.idFile,
      this.socketPath,
      managersFile(socketDir),
      secretFile(socketDir),
      path.join(socketDir, "realm.lock"),
    ];
  }

  #banner(first: string): void {
    this.#log(INFO, undefined, first);
    for (const line of this.statusBody().split("\n").slice(0, 8)) {
      if (line !== "") this.#log(INFO, undefined, line);
    }
    this.#log(INFO, undefined, " ");
  }

  /**
   * The status body (spec §10.6), as upstream writes it: the directory, log level and time zone
   * as given, and realm counts where a realm that is not running (stopped, or failed: upstream
   * counted a realm that did not start as inactive) is inactive.
   */
  statusBody(): string {
    let active = 0;
    let inactive = 0;
    for (const m of this.realms.values()) {
      if (m.sup.state === "inactive" || m.sup.state === "failed") inactive++;
      else active++;
    }
    return realmManagerStatusBody({
      realmsFile: this.options.realmsFile,
      directory: this.options.directoryText ?? ".",
      configFile: path.join(realmConfDir(this.options.env ?? process.env), "dnssec-tools.conf"),
      logFile: this.log.file,
      logLevel: this.logLevelText,
      logTz: this.logTzText,
      runningAs: this.runningAs,
      activeRealms: active,
      inactiveRealms: inactive,
    });
  }

  #specContext(): SpecContext {
    return {
      directory: this.directory,
      env: this.options.env ?? process.env,
      uid: daemonUid(),
      stateDir: this.stateDir,
      ...(this.#markSecret ? { markSecret: this.#markSecret } : {}),
    };
  }

  #onTransition = (t: Transition): void => {
    const level = t.to === "failed" ? ERR : INFO;
    this.#log(level, t.realm, `${t.from} -> ${t.to} (${t.event}): ${t.detail}`);
    for (const f of this.transitions) f(t);
    if (t.to === "inactive") {
      const m = this.realms.get(t.realm);
      if (m?.removed) this.realms.delete(t.realm);
    }
  };

  #makeManaged(entry: RealmEntry): Managed {
    const m: Managed = {
      entry,
      removed: false,
      sup: undefined as unknown as RealmSupervisor,
    };
    const launcher = new ProcessLauncher({
      spec: () => {
        // What upstream's validrealm refuses (and steward's checks add) fails the start here,
        // with its reasons, rather than as a spawn error later.
        const problems = this.realmProblems(m.entry);
        if (problems.length > 0) {
          for (const p of problems) this.#log(TMI, entry.name, p);
          const n = problems.length === 1 ? "1 error found" : `${problems.length} errors found`;
          this.#log(INFO, entry.name, `realm definition is invalid; ${n}`);
          throw new RealmError("invalid", `invalid realm definition: ${problems.join("; ")}`);
        }
        m.sup.policy = realmPolicy(m.entry); // a bad setting fails the start with its reason
        const spec = managerSpec(m.entry, this.#specContext());
        if (m.entry.fields.user && !spec.user) {
          this.#log(
            ERR,
            entry.name,
            `user "${m.entry.fields.user}" not applied: daemon is not root`,
          );
        }
        this.#log(INFO, entry.name, `starting realm "${[spec.command, ...spec.args].join(" ")}"`);
        return spec;
      },
      onStarted: (pid, spec) =>
        this.#registry.set(entry.name, { pid, command: spec.command, args: spec.args }),
      onGone: (pid) => this.#registry.delete(entry.name, pid),
    });
    let policy;
    try {
      policy = realmPolicy(entry);
    } catch (e) {
      this.#log(ERR, entry.name, (e as Error).message);
    }
    m.sup = new RealmSupervisor(entry.name, {
      launcher,
      ...(policy ? { policy } : {}),
      onTransition: this.#onTransition,
    });
    return m;
  }

  /** Take the realms of a freshly read file into the table. */
  #install(doc: RealmsFile): void {
    const seen = new Set<string>();
    for (const r of doc.realms()) {
      seen.add(r.name);
      const entry: RealmEntry = { name: r.name, fields: { ...r.fields } };
      const m = this.realms.get(r.name);
      if (!m) {
        this.realms.set(r.name, this.#makeManaged(entry));
        continue;
      }
      m.entry = entry;
      m.removed = false;
      try {
        m.sup.policy = realmPolicy(entry);
      } catch (e) {
        this.#log(ERR, r.name, `${(e as Error).message}; keeping the previous settings`);
      }
    }
    for (const [name, m] of this.realms) {
      if (seen.has(name)) continue;
      if (m.sup.state === "inactive") this.realms.delete(name);
      else m.removed = true;
    }
  }

  #lastIssues = "";

  /** Log the realms file's line-numbered issues (once for each new set of them). */
  #fileIssues(doc: RealmsFile): void {
    const text = doc.warnings.map((w) => `${w.line}:${w.message}`).join("\n");
    if (text === this.#lastIssues) return;
    this.#lastIssues = text;
    for (const w of doc.warnings) {
      const error = w.severity === "error";
      const where = `${this.options.realmsFile}:${w.line}`;
      this.#log(
        error ? ERR : INFO,
        "dtrealms",
        `${where}: ${error ? "" : "warning: "}${w.message}`,
      );
    }
  }

  /** Re-read the realms file (before start commands); an unreadable file keeps the current table. */
  async reload(): Promise<void> {
    try {
      const doc = await readRealmsFile(this.realmsFilePath);
      this.#fileIssues(doc);
      this.#install(doc);
    } catch (e) {
      this.#log(ERR, "dtrealms", `realms file not re-read: ${(e as Error).message}`);
    }
  }

  async #boot(previous: ReturnType<typeof readManagers>): Promise<void> {
    // Managers whose record never reached the file (a kill -9 right after a start) are found by
    // the mark in their environment.
    const check = { secret: this.#markSecret ?? "", ownerAllowed: this.#ownerAllowed };
    for (const [name, pid] of findMarkedManagers(this.stateDir, check)) {
      const rec = previous[name];
      if (rec && recordAlive(rec)) continue;
      previous[name] = {
        pid,
        startTime: processStartTime(pid),
        command: "",
        args: [],
        startedAt: "",
      };
    }
    for (const [name, rec] of Object.entries(previous)) {
      const m = this.realms.get(name);
      if (!recordAlive(rec)) continue;
      const uids = processUids(rec.pid);
      if (
        uids && (!this.#ownerAllowed(name, uids.real) || !this.#ownerAllowed(name, uids.effective))
      ) {
        this.#log(ERR, name, `not adopting pid ${rec.pid}: it runs as uid ${uids.real}`);
        continue;
      }
      if (m && m.sup.adopt(rec.pid)) {
        this.#registry.set(name, { pid: rec.pid, command: rec.command, args: rec.args });
        this.#log(INFO, name, `found manager pid ${rec.pid} of a previous run`);
        if (m.entry.fields.state === "inactive") void m.sup.stop();
        continue;
      }
      this.#log(ERR, name, `stopping manager pid ${rec.pid} of a previous run: realm is gone`);
      signalGroup(rec.pid, "SIGTERM");
    }
    const starts: Promise<unknown>[] = [];
    for (const m of this.sorted()) {
      if (m.sup.state !== "inactive") continue;
      // As upstream: only a realm whose state is exactly "active" starts.
      const state = m.entry.fields.state;
      if (state !== "active") {
        this.#log(
          state === "inactive" ? INFO : ERR,
          m.entry.name,
          state === "inactive"
            ? "realm is inactive"
            : `realm not started: its state is ${
              state === undefined ? "missing" : `"${state}"`
            }, not "active"`,
        );
        continue;
      }
      starts.push(
        m.sup.start().then((r) => {
          if (!r.ok) this.#log(ERR, m.entry.name, `unable to start realm: ${r.reason}`);
        }),
      );
    }
    await Promise.all(starts);
  }

  /**
   * Whether a process of `uid` may be `realm`'s manager: root, or the uid the realm's managers
   * run as (its user when the daemon is root, else the daemon's own).
   */
  #ownerAllowed = (realm: string, uid: number): boolean => {
    if (uid === 0) return true;
    const own = daemonUid();
    const user = this.realms.get(realm)?.entry.fields.user;
    if (own === 0 && user) return lookupUser(user)?.uid === uid;
    return own === undefined || uid === own;
  };

  /** Why `entry` cannot be started (upstream's validrealm and steward's checks); empty if it can. */
  realmProblems(entry: RealmEntry): string[] {
    return checkRealmDefinition({ name: entry.name, line: 0, fields: { ...entry.fields } }, {
      baseDir: this.directory,
      env: this.options.env ?? process.env,
    });
  }

  /** Realms sorted by name. */
  sorted(): Managed[] {
    return [...this.realms.values()].sort((a, b) =>
      a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : 0
    );
  }

  /**
   * Record a realm's state in the realms file (as upstream does on start and stop). Resolves to
   * undefined once it is saved, or to why it could not be (the file and the table unchanged).
   */
  persistState(name: string, state: "active" | "inactive"): Promise<string | undefined> {
    // Changes made while a write is pending go into the same write: one lock and one atomic
    // replacement for startall/stopall of many realms.
    this.#pendingStates.set(name, state);
    if (this.#stateFlush) return this.#stateFlush;
    const flush = this.#fileQueue.then(() => new Promise((r) => setImmediate(r))).then(async () => {
      this.#stateFlush = undefined;
      const batch = new Map(this.#pendingStates);
      this.#pendingStates.clear();
      try {
        await updateRealmsFile(this.realmsFilePath, (doc) => {
          for (const [n, st] of batch) {
            if (doc.has(n) && doc.value(n, "state") !== st) doc.setField(n, "state", st);
          }
        }, { stateDir: this.stateDir });
      } catch (e) {
        const names = [...batch.keys()].join(", ");
        const why = (e as Error).message;
        this.#log(ERR, "dtrealms", `realm state of ${names} not saved: ${why}`);
        return why;
      }
      for (const [n, st] of batch) {
        const m = this.realms.get(n);
        if (m) m.entry = { name: n, fields: { ...m.entry.fields, state: st } };
      }
      return undefined;
    });
    this.#stateFlush = flush;
    this.#fileQueue = flush;
    return flush;
  }

  /** Write a log line (used by handlers). */
  write(level: number, field: string | undefined, message: string): void {
    this.#log(level, field, message);
  }

  /**
   * A SIGHUP: upstream clients send one after each request (requests are served continuously,
   * so it wakes nothing), and logrotate sends one after moving the log. Either way the log is
   * reopened by its path, which costs one open and keeps every request served.
   */
  nudge(): void {
    this.log.reopen();
    this.#log(TMI, undefined, "realms manager:  got a command interrupt");
  }

  /** Halt, so that `await using` ends the daemon with its block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.halt();
  }

  /**
   * Halt: stop accepting connections, stop every manager in parallel (signal, deadline,
   * SIGKILL), remove the socket and id file. Realm states in the realms file are kept, so the
   * same realms start at the next boot.
   */
  halt(reason = "halt requested"): Promise<void> {
    if (this.#halting) return this.#halting;
    this.#halting = (async () => {
      this.#log(INFO, "dtrealms", `${reason}; shutting down child realms`);
      await this.#channel?.close();
      await this.displayer.stop();
      const results = await Promise.all(
        this.sorted().map(async (m) => {
          if (m.sup.state === "inactive") return true;
          const r = await m.sup.stop();
          if (!r.ok) this.#log(ERR, m.entry.name, `unable to stop realm: ${r.reason}`);
          return r.ok;
        }),
      );
      this.#removeIdFile();
      const left = results.filter((ok) => !ok).length;
      this.#log(INFO, "dtrealms", left ? `halted; ${left} realm(s) did not stop` : "halted");
      this.log.close();
      this.#resolveClosed();
    })();
    return this.#halting;
  }

  #removeIdFile(): void {
    try {
      removeRealmmgrId({ stateDir: this.stateDir });
    } catch (e) {
      this.#log(ERR, "dtrealms", (e as Error).message);
    }
  }
}
