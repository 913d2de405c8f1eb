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
import { ensurePrivateDir } from "../platform/rundir.ts";
import { runtimeName } from "../platform/runtime.ts";
import { VERSION } from "../platform/version.ts";
import { identifyLockd } from "./client.ts";
import { LOCKD_MAX_REQUEST_FRAME, LOCKD_PROTOCOL_VERSION } from "./protocol.ts";
import { HostLocks } from "./hostlock.ts";
import { LockService, type ServiceTransport } from "./service.ts";

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
   * Keep an unused cross-host lock this long (ms) before dropping it, so bursts share one flock
   * child (default HOST_LOCK_LINGER_MS, 20; 0 = drop before the unlock is answered).
   */
  hostLockLingerMs?: number;
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
  #helloTimeoutMs: number;

  private constructor(options: LockDaemonOptions) {
    this.runDir = path.resolve(options.runDir);
    this.socketPath = path.resolve(options.socketPath ?? lockdSocketPath(this.runDir));
    this.idleMinutes = options.idleMinutes;
    this.log = options.logger ?? new Logger("lockd", { sink: nullSink });
    this.#maxConnections = options.maxConnections ?? 1024;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    const startedAt = new Date().toISOString();
    const transport: ServiceTransport = {
      send: (conn, message) => {
        this.#conns.get(conn)?.send(message);
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
      hostLocks: new HostLocks(
        options.hostLockLingerMs === undefined ? {} : { lingerMs: options.hostLockLingerMs },
      ),
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
    if (this.#conns.size >= this.#maxConnections) {
      socket.on("error", () => {});
      socket.end(encodeFrame({
        id: null,
        ok: false,
        code: "LIMIT",
        error: `Too many connections: limit ${this.#maxConnections}`,
      }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const id = this.#nextConn++;
    const conn = new FrameConnection(socket, (decoded) => {
      // While stopping nothing new is granted: a client told "shutdown" retries elsewhere.
      if (this.#stopping) return;
      this.#lastActivity = Date.now();
      this.service.frame(id, decoded);
    }, {
      maxFrame: LOCKD_MAX_REQUEST_FRAME,
      frameTimeoutMs: 5000,
      maxPendingWrite: 1024 * 1024,
    });
    this.#conns.set(id, conn);
    this.service.open(id);
    const hello = setTimeout(() => {
      if (!this.service.greeted(id)) conn.close("no hello in time");
    }, this.#helloTimeoutMs);
    conn.onClose((reason) => {
      clearTimeout(hello);
      this.#conns.delete(id);
      this.#lastActivity = Date.now();
      const released = this.service.closed(id);
      for (const g of this.#stopping ? [] : released) {
        this.log.info(
          `Process ${g.pid ?? "?"} went away while holding ${g.mode} lock ${g.name}; unlocking`,
        );
      }
      if (reason && reason !== "closed by daemon") {
        this.log.debug(`Connection ${id} closed: ${reason}`);
      }
    });
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
