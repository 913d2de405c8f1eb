/**
 * The lock manager daemon: the lock service on a Unix socket (mode 0600, private run directory),
 * with connection limits, an idle exit and a clean stop.
 * @module
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { type ClaimedSocket, claimSocket } from "../ipc/socket.ts";
import { FrameConnection } from "../ipc/connection.ts";
import { encodeFrame } from "../ipc/frames.ts";
import { Logger, nullSink } from "../log/logger.ts";
import { ensurePrivateDir, euid } from "../platform/rundir.ts";
import { runtimeName } from "../platform/runtime.ts";
import { VERSION } from "../platform/version.ts";
import { identifyLockd } from "./client.ts";
import { LOCKD_MAX_REQUEST_FRAME, LOCKD_PROTOCOL_VERSION } from "./protocol.ts";
import { type HostLockPrimitive, HostLocks } from "./hostlock.ts";
import { LockService, type ServiceTransport } from "./service.ts";
import type { Grant } from "./table.ts";

/** Lock lines logged for one closed connection before the rest are counted. */
const LOG_RELEASED_MAX = 5;
/** Longest lock name written to the log (characters); longer ones are cut with "…". */
const LOG_NAME_MAX = 200;

function logName(name: string): string {
  return name.length > LOG_NAME_MAX ? `${name.slice(0, LOG_NAME_MAX)}…` : name;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function ownUid(): number {
  return euid() ?? -1;
}

// The owner of /proc/<pid> (Linux): who runs the process a client names in its hello.
function processUid(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return fs.statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** The socket's file name inside the run directory. */
export const LOCKD_SOCKET_NAME = "lockd.sock";

/** The socket path for a run directory. */
export function lockdSocketPath(runDir: string): string {
  return path.join(path.resolve(runDir), LOCKD_SOCKET_NAME);
}

/** Options for {@link LockDaemon.start}. */
export interface LockDaemonOptions {
  /** The private run directory (created 0700 if missing). */
  runDir: string;
  /** Socket path (default `<runDir>/lockd.sock`); its directory must be private too. */
  socketPath?: string;
  /** Minutes with no locks and no waiters before the daemon stops itself; 0 = never. */
  idleMinutes: number;
  logger?: Logger;
  /** Most simultaneous connections (default 1024); more are told LIMIT and closed. */
  maxConnections?: number;
  /** A connection must say hello within this time (default 10 s). */
  helloTimeoutMs?: number;
  /**
   * Most greeted connections of one uid (default 3/4 of maxConnections), so that one user's
   * runaway program cannot take every slot. The uid is the owner of the process the client names
   * in hello (Node and Deno cannot read a Unix socket's peer credentials).
   */
  maxConnectionsPerUid?: number;
  /** Most connections that have not said hello yet (default half of maxConnections). */
  maxUngreeted?: number;
  /**
   * A greeted connection with no lock held or requested and no traffic for this long is closed
   * (told `{"event":"idle"}` first); 0 = never (default 60 s).
   */
  connectionIdleMs?: number;
  /** A request frame must be complete this long after its first byte (default 5 s). */
  frameTimeoutMs?: number;
  /**
   * Keep an unused cross-host lock this long (ms) before dropping it, so bursts share one flock
   * child (default HOST_LOCK_LINGER_MS, 20; 0 = drop before the unlock is answered).
   */
  hostLockLingerMs?: number;
  /**
   * What holds cross-host locks: "helper" (a perl process per lock directory), "flock" (a flock(1) child
   * each, the older primitive) or "auto" (default: the helper, flock(1) without perl).
   */
  hostLockPrimitive?: HostLockPrimitive;
  /** Directories where cross-host lock files may be made; empty = wherever clients ask. */
  crosshostRoots?: readonly string[];
}

/** Why the daemon stopped. */
export type LockdStopReason = "idle" | "signal" | "request";

/** A running lock manager. */
export class LockDaemon implements AsyncDisposable {
  readonly socketPath: string;
  readonly runDir: string;
  readonly idleMinutes: number;
  readonly service: LockService;
  readonly log: Logger;
  #claimed: ClaimedSocket | undefined;
  #server: net.Server;
  #conns = new Map<number, FrameConnection>();
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #nextConn = 1;
  #lastActivity = Date.now();
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #stopping: Promise<void> | undefined;
  #stopReason: LockdStopReason | undefined;
  #resolveDone!: (r: LockdStopReason) => void;
  /** Resolves with the reason once the daemon has stopped. */
  readonly done: Promise<LockdStopReason>;
  #maxConnections: number;
  #maxPerUid: number;
  #maxUngreeted: number;
  #helloTimeoutMs: number;
  #connIdleMs: number;
  #frameTimeoutMs: number;
  #connIdleTimer: ReturnType<typeof setInterval> | undefined;
  /** Last frame received, per connection. */
  #seen = new Map<number, number>();
  /** The uid each greeted connection is charged to, and the count per uid. */
  #uidOf = new Map<number, number>();
  #perUid = new Map<number, number>();

  private constructor(options: LockDaemonOptions) {
    this.runDir = path.resolve(options.runDir);
    this.socketPath = path.resolve(options.socketPath ?? lockdSocketPath(this.runDir));
    this.idleMinutes = options.idleMinutes;
    this.log = options.logger ?? new Logger("lockd", { sink: nullSink });
    this.#maxConnections = options.maxConnections ?? 1024;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
    this.#maxPerUid = options.maxConnectionsPerUid ??
      Math.max(1, Math.floor(this.#maxConnections * 3 / 4));
    this.#maxUngreeted = options.maxUngreeted ?? Math.max(1, Math.floor(this.#maxConnections / 2));
    this.#connIdleMs = options.connectionIdleMs ?? 60_000;
    this.#frameTimeoutMs = options.frameTimeoutMs ?? 5000;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    const startedAt = new Date().toISOString();
    const transport: ServiceTransport = {
      send: (conn, message) => {
        const c = this.#conns.get(conn);
        if (!c) return;
        try {
          c.send(message);
        } catch (e) {
          this.#unsendable(conn, c, message, e);
        }
      },
      armTimer: (conn, request, ms) => {
        const t = setTimeout(() => {
          this.#timers.delete(`${conn}:${request}`);
          this.service.expire(conn, request);
        }, ms);
        this.#timers.set(`${conn}:${request}`, t);
      },
      disarmTimer: (conn, request) => {
        const key = `${conn}:${request}`;
        clearTimeout(this.#timers.get(key));
        this.#timers.delete(key);
      },
      stop: () => void this.stop("request"),
      admit: (conn, pid) => this.#admit(conn, pid),
      drop: (conn, why) => {
        const c = this.#conns.get(conn);
        if (!c) return;
        this.log.error(`${why}; closing connection ${conn}, which relied on it`);
        c.close("closed by daemon");
      },
    };
    this.service = new LockService(transport, {
      info: () => ({
        pid: process.pid,
        version: VERSION,
        protocol: LOCKD_PROTOCOL_VERSION,
        socket: this.socketPath,
        startedAt,
        idleMinutes: this.idleMinutes,
        runtime: runtimeName(),
      }),
      hostLocks: new HostLocks({
        ...(options.hostLockLingerMs === undefined ? {} : { lingerMs: options.hostLockLingerMs }),
        ...(options.hostLockPrimitive === undefined
          ? {}
          : { primitive: options.hostLockPrimitive }),
      }),
      crosshostRoots: options.crosshostRoots ?? [],
    });
    this.#server = net.createServer({ allowHalfOpen: false }, (s) => this.#accept(s));
  }

  /**
   * Create the run directory, claim the socket and start serving. Throws SocketInUseError
   * (naming the pid) when a live daemon already serves the socket.
   */
  static async start(options: LockDaemonOptions): Promise<LockDaemon> {
    const d = new LockDaemon(options);
    ensurePrivateDir(d.runDir);
    if (path.dirname(d.socketPath) !== d.runDir) ensurePrivateDir(path.dirname(d.socketPath));
    d.#claimed = await claimSocket(d.#server, d.socketPath, {
      mode: 0o600,
      identify: async (p) => {
        const pid = await identifyLockd(p);
        return pid === undefined ? undefined : `pid ${pid}`;
      },
    });
    // Only now: errors while claiming belong to claimSocket.
    d.#server.on("error", (e) => d.log.error(`Server error: ${e.message}`));
    d.#armIdle();
    d.#armConnectionIdle();
    d.log.info(
      `Listening on ${d.socketPath} (idle exit ${
        d.idleMinutes > 0 ? `after ${d.idleMinutes} min` : "disabled"
      })`,
    );
    return d;
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#conns.size;
  }

  #accept(socket: net.Socket): void {
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    const ungreeted = this.#conns.size - this.#uidOf.size;
    if (this.#conns.size >= this.#maxConnections || ungreeted >= this.#maxUngreeted) {
      socket.on("error", () => {});
      socket.end(encodeFrame({
        id: null,
        ok: false,
        code: "LIMIT",
        error: this.#conns.size >= this.#maxConnections
          ? `Connection limit reached: ${this.#maxConnections} connections`
          : `Connection limit reached: ${this.#maxUngreeted} connections waiting to say hello`,
      }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const id = this.#nextConn++;
    const conn = new FrameConnection(socket, (decoded) => {
      // While stopping nothing new is granted: a client told "shutdown" retries elsewhere.
      if (this.#stopping) return;
      this.#lastActivity = Date.now();
      this.#seen.set(id, this.#lastActivity);
      this.service.frame(id, decoded);
    }, {
      maxFrame: LOCKD_MAX_REQUEST_FRAME,
      frameTimeoutMs: this.#frameTimeoutMs,
      maxPendingWrite: 1024 * 1024,
    });
    this.#conns.set(id, conn);
    this.#seen.set(id, Date.now());
    this.service.open(id);
    const hello = setTimeout(() => {
      if (!this.service.greeted(id)) conn.close("no hello in time");
    }, this.#helloTimeoutMs);
    conn.onClose((reason) => {
      clearTimeout(hello);
      this.#conns.delete(id);
      this.#seen.delete(id);
      const uid = this.#uidOf.get(id);
      if (uid !== undefined) {
        this.#uidOf.delete(id);
        const n = (this.#perUid.get(uid) ?? 1) - 1;
        if (n > 0) this.#perUid.set(uid, n);
        else this.#perUid.delete(uid);
      }
      this.#lastActivity = Date.now();
      let released: Grant[] = [];
      try {
        released = this.service.closed(id);
      } catch (e) {
        this.log.error(`Internal error releasing connection ${id}: ${errorText(e)}`);
      }
      if (!this.#stopping) this.#logReleased(released);
      if (reason?.startsWith("internal error")) {
        this.log.error(`Connection ${id} closed after an ${reason}`);
      } else if (reason && reason !== "closed by daemon") {
        this.log.debug(`Connection ${id} closed: ${reason}`);
      }
    });
  }

  // One line per lock, up to a few; a connection holding thousands of long names must not write
  // megabytes to the log when it closes.
  #logReleased(released: Grant[]): void {
    for (const g of released.slice(0, LOG_RELEASED_MAX)) {
      // Upstream dsvclockd's wording, which Solaris admins grep for.
      this.log.info(
        g.mode === "exclusive"
          ? `Process ${g.pid ?? "?"} went away while writing ${logName(g.name)}; unlocking; ` +
            "note that this write operation may or may not have succeeded"
          : `Process ${g.pid ?? "?"} went away while reading ${logName(g.name)}; unlocking`,
      );
    }
    if (released.length > LOG_RELEASED_MAX) {
      const pid = released[0]?.pid ?? "?";
      this.log.info(
        `Process ${pid} went away holding ${
          released.length - LOG_RELEASED_MAX
        } more lock(s); unlocking`,
      );
    }
  }

  // A hello names a pid: charge the connection to that process's uid, refuse past the cap.
  #admit(conn: number, pid: number | undefined): string | undefined {
    const uid = processUid(pid) ?? ownUid();
    const n = this.#perUid.get(uid) ?? 0;
    if (n >= this.#maxPerUid) {
      this.log.warn(`Connection limit of uid ${uid} reached (${this.#maxPerUid}); refusing one`);
      return `Connection limit reached: ${this.#maxPerUid} connections of uid ${uid}`;
    }
    this.#perUid.set(uid, n + 1);
    this.#uidOf.set(conn, uid);
    return undefined;
  }

  #unsendable(conn: number, c: FrameConnection, message: object, e: unknown): void {
    this.log.error(`Cannot encode a message for connection ${conn}: ${errorText(e)}`);
    const id = (message as { id?: unknown }).id;
    if (typeof id === "number") {
      try {
        c.send({
          id,
          ok: false,
          code: "LIMIT",
          error: `Reply could not be encoded: ${errorText(e)}`,
        });
        return;
      } catch { /* fall through: this connection cannot be served */ }
    }
    c.close("internal error: unencodable message");
  }

  #armConnectionIdle(): void {
    if (!(this.#connIdleMs > 0)) return;
    const every = Math.max(20, Math.min(5000, this.#connIdleMs / 4));
    this.#connIdleTimer = setInterval(() => {
      const now = Date.now();
      for (const [id, conn] of this.#conns) {
        if (!this.service.greeted(id) || this.service.busy(id)) continue;
        if (now - (this.#seen.get(id) ?? now) < this.#connIdleMs) continue;
        conn.end({ event: "idle" });
      }
    }, every);
    this.#connIdleTimer.unref?.();
  }

  #armIdle(): void {
    if (!(this.idleMinutes > 0)) return;
    const idleMs = this.idleMinutes * 60_000;
    // Poll rather than re-arm a timer on every request: the hot path stays one Date.now().
    const every = Math.max(20, Math.min(1000, idleMs / 4));
    this.#idleTimer = setInterval(() => {
      if (!this.service.table.idle || !this.service.hostLocks.idle) {
        this.#lastActivity = Date.now();
        return;
      }
      if (Date.now() - this.#lastActivity >= idleMs) {
        this.log.info(`No locks for ${this.idleMinutes} min; exiting`);
        void this.stop("idle");
      }
    }, every);
    this.#idleTimer.unref?.();
  }

  /** Stop as by request, so that `await using` ends the daemon with its block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop("request");
  }

  /** Stop: no new connections, socket removed, every connection told and closed. */
  stop(reason: LockdStopReason): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopReason = reason;
    this.#stopping = (async () => {
      if (this.#idleTimer) clearInterval(this.#idleTimer);
      if (this.#connIdleTimer) clearInterval(this.#connIdleTimer);
      // Free the path at once so a new daemon can start while we say goodbye.
      if (this.#claimed?.stillOurs()) fs.rmSync(this.socketPath, { force: true });
      for (const t of this.#timers.values()) clearTimeout(t);
      this.#timers.clear();
      const held = this.service.table.held;
      const conns = [...this.#conns.values()];
      const allClosed = Promise.all(
        conns.map((c) => new Promise<void>((resolve) => c.onClose(() => resolve()))),
      );
      for (const conn of conns) conn.end({ event: "shutdown", reason });
      // A peer that does not read cannot hold the stop up for long.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([allClosed, new Promise((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
      for (const conn of conns) conn.close("closed by daemon");
      // Host locks go with the daemon: their flock children see end of input and exit.
      await this.service.hostLocks.close();
      // Only now: closing the claimed socket also cuts connections, and the goodbyes are out.
      await this.#claimed?.close();
      this.log.info(
        `Stopped (${reason})${held > 0 ? `; ${held} lock(s) were held and are released` : ""}`,
      );
      this.#resolveDone(reason);
    })();
    return this.#stopping;
  }

  /** Why the daemon stopped, once it has. */
  get stopReason(): LockdStopReason | undefined {
    return this.#stopReason;
  }
}
