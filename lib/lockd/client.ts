/**
 * The lock manager client: named shared/exclusive locks held as `AsyncDisposable` handles, the
 * daemon started on demand when none answers.
 * @module
 */
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connectUnix } from "../ipc/client.ts";
import { FrameConnection } from "../ipc/connection.ts";
import type { Decoded } from "../ipc/frames.ts";
import { defaultRunDir, euid, untrustedSocket } from "../platform/rundir.ts";
import { DaemonStartError, startErrorReason } from "../platform/start-wait.ts";
import { VERSION } from "../platform/version.ts";
import {
  checkLockName,
  LOCKD_MAX_COMMAND,
  LOCKD_MAX_REPLY_FRAME,
  LOCKD_PROTOCOL_VERSION,
  type LockdHolderStatus,
  type LockdStatus,
} from "./protocol.ts";
import {
  claimStartMarker,
  prepareLockdDirs,
  releaseStartMarker,
  startLockd,
  startMarkerLive,
  startMarkerPath,
} from "./start.ts";
import type { LockMode } from "./table.ts";
import { CacheEntry } from "./cache.ts";

export type { LockMode };

/**
 * Why a lock operation failed (dhcp maps BUSY, NO_LOCKMGR and the rest to DSVC codes). LIMIT: the
 * lock manager runs but refused this client (connection limit reached) or sent a reply too large
 * to accept; ACCESS: permission denied, or its directory or socket is not to be trusted. Neither
 * means "not running", so no second lock manager is started for them.
 */
export type LockErrorCode =
  | "BUSY"
  | "TIMEOUT"
  | "ABORTED"
  | "NO_LOCKMGR"
  | "SYNCH_ERR"
  | "PROTOCOL"
  | "LIMIT"
  | "ACCESS";

/** The lock manager's error, with its code. */
export class LockError extends Error {
  /** The error class name. */
  override name = "LockError";
  /** What went wrong, as a code a program can test. */
  readonly code: LockErrorCode;
  /** With BUSY: who holds the lock (pid, command, since when), as the lock manager told. */
  readonly holders: readonly LockdHolderStatus[];
  /** An error with `code` and a sentence-case message. */
  constructor(
    code: LockErrorCode,
    message: string,
    options?: ErrorOptions & { holders?: readonly LockdHolderStatus[] },
  ) {
    super(message, options);
    this.code = code;
    this.holders = options?.holders ?? [];
  }
}

/** Options for {@link LockClient}. */
export interface LockClientOptions {
  /** Run directory (default defaultRunDir()); the socket is `<runDir>/lockd.sock`. */
  runDir?: string;
  /** Overrides `<runDir>/lockd.sock`. */
  socketPath?: string;
  /** Start the daemon when none answers (default true). */
  autoStart?: boolean;
  /** Idle minutes passed to a daemon this client starts. */
  idleMinutes?: number;
  /**
   * What this client runs, shown for its locks in `lockd status` and to those a lock is busy
   * for (default: this process's command line, cut at 1024 characters).
   */
  command?: string;
  /**
   * Lock caching (default false): keep a lock after `release()` until the lock manager asks for
   * it back because another client wants it, so repeated operations on one name cost no round
   * trip; concurrent operations of this client share one grant (readers together, writers one
   * at a time, first-in first-out). Cross-host locks are never cached.
   */
  cache?: boolean;
}

/** Options for {@link LockClient.acquire}. */
export interface AcquireOptions {
  /** Default "exclusive". */
  mode?: LockMode;
  /** Fail with BUSY at once instead of waiting. */
  nonblock?: boolean;
  /** Give up waiting after this long (code TIMEOUT). */
  timeoutMs?: number;
  /** Cancel the wait (code ABORTED); a lock already granted is unaffected. */
  signal?: AbortSignal;
  /**
   * Also take the cross-host lock (Solaris DSVC_SYNCH_CROSSHOST): `name` must be
   * `<absolute dir>/<base>`, and the daemon first locks `<dir>/.<base>.lock` (created 0600,
   * never removed) with flock(1), shared or exclusive as `mode`, so daemons on other hosts that
   * share the directory over NFS exclude each other. BUSY when nonblocking and another host holds
   * it; SYNCH_ERR when the directory is missing, the lock file is a symbolic link or flock(1) is
   * not installed.
   */
  crosshost?: boolean;
  /** What this lock is taken for, shown in status instead of the client's command. */
  command?: string;
}

/** A held lock. `await using` releases it at the end of the block. */
export interface LockHandle extends AsyncDisposable {
  /** The lock's name. */
  readonly name: string;
  /** Whether the lock is held shared or exclusive. */
  readonly mode: LockMode;
  /**
   * False once released, or once the connection to the lock manager that granted the lock is
   * known to be closed (the lock manager then dropped the lock).
   */
  readonly held: boolean;
  /**
   * Confirm with a round trip to the lock manager that the lock is still held: resolves when the
   * granting connection still answers, rejects with LockError SYNCH_ERR otherwise. Call it right
   * before committing work that the lock protects.
   */
  verify(): Promise<void>;
  /** Release the lock; a second release throws LockError SYNCH_ERR. */
  release(): Promise<void>;
  /**
   * Tell the lock manager the pid of the command run under this lock (and, optionally, the
   * command), for `lockd status`. Resolves false when the lock manager does not know the
   * request (an older one) or the lock is gone.
   */
  annotate(info: { commandPid?: number; command?: string }): Promise<boolean>;
  /** Release unless already released; never throws for a lock the daemon already dropped. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A message the daemon sent on its own (`shutdown`; later versions may add `revoke`), or the
 * client's own `disconnected` notice when the connection is lost (every lock it held is gone).
 */
export interface LockdEvent {
  /** What happened, e.g. `started` or `lost`. */
  event: string;
  /** Details of the event. */
  [key: string]: unknown;
}

/** On-demand start: how long to wait for a daemon to answer (upstream: 5 tries 500 ms apart). */
export const LOCKD_START_TRIES = 5;
/** Interval between on-demand start tries, in ms. */
export const LOCKD_START_INTERVAL_MS = 500;
/**
 * A daemon this client started that is still starting (its process has not exited) is waited
 * for past the upstream window, up to this many ms: a loaded machine can take longer than 2.5 s
 * to start a process, and giving up on a daemon that is about to answer helps nobody.
 */
export const LOCKD_START_GRACE_MS = 15_000;

type Reply = Record<string, unknown>;

interface Pending {
  resolve(m: Reply): void;
  reject(e: Error): void;
}

// ECONNRESET on connect: the daemon was closing its socket as we came (Deno reports it so where
// Node reports ECONNREFUSED), so it is treated as no daemon and the on-demand start takes over.
const NO_DAEMON = new Set(["ENOENT", "ECONNREFUSED", "ENOTSOCK", "ECONNRESET"]);

/** Retries (50, 100, 200, 400 ms apart) of a connection the lock manager refused as full. */
const LIMIT_RETRIES = 4;

/** How many times one waiting request follows the lock manager to its successor. */
const MAX_REQUEUES = 20;

/** One connection to the daemon, after hello. */
class Session {
  readonly conn: FrameConnection;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #events: Array<(e: LockdEvent) => void>;
  shutdownReason: string | undefined;
  /** The lock manager refused the connection (LIMIT) before any request. */
  refusal: string | undefined;
  /** The lock manager closed this connection because it held nothing and was idle. */
  idleClosed = false;
  daemonPid = 0;

  constructor(socket: import("node:net").Socket, events: Array<(e: LockdEvent) => void>) {
    this.#events = events;
    this.conn = new FrameConnection(socket, (d) => this.#onFrame(d), {
      maxFrame: LOCKD_MAX_REPLY_FRAME,
      frameTimeoutMs: 30_000,
      maxPendingWrite: 16 * 1024 * 1024,
    });
    this.conn.onClose((reason) => {
      const error = reason === "closed by client"
        ? new LockError("ABORTED", "Lock client closed")
        : reason?.startsWith("Frame of ")
        ? new LockError("LIMIT", `Reply from the lock manager is too large: ${reason}`)
        : this.refusal
        ? new LockError("LIMIT", this.refusal)
        : new LockError(
          "NO_LOCKMGR",
          this.shutdownReason
            ? `Lock manager stopped (${this.shutdownReason})`
            : this.idleClosed
            ? "Lock manager closed the idle connection"
            : "Connection to the lock manager closed",
        );
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
      if (this.ready && reason !== "closed by client" && !this.idleClosed) {
        // Not sent by the daemon: the client's own notice that every lock it held is gone.
        const why = this.shutdownReason ?? reason ?? "connection closed";
        for (const fn of this.#events) fn({ event: "disconnected", reason: why });
      }
    });
  }

  /** Set once hello succeeded. */
  ready = false;

  /** Closed, or being closed by the lock manager for idleness (then not to be used again). */
  get closed(): boolean {
    return this.conn.closed || this.idleClosed;
  }

  #onFrame(d: Decoded): void {
    if (!d.ok || typeof d.message !== "object" || d.message === null) return;
    const m = d.message as Reply;
    if (m.id === null && m.ok === false && m.code === "LIMIT") {
      this.refusal = `Connection limit reached: ${String(m.error ?? "lock manager is full")}`;
      return;
    }
    if (typeof m.id === "number") {
      const p = this.#pending.get(m.id);
      if (p) {
        this.#pending.delete(m.id);
        p.resolve(m);
      }
      return;
    }
    if (typeof m.event === "string") {
      if (m.event === "shutdown") this.shutdownReason = String(m.reason ?? "unknown");
      if (m.event === "idle") {
        // Not for the user: this connection held nothing; the next request reconnects.
        this.idleClosed = true;
        return;
      }
      for (const fn of this.#events) fn(m as LockdEvent);
    }
  }

  /** Send a request; returns its id and the reply. */
  send(body: Reply): { id: number; reply: Promise<Reply> } {
    const id = this.#nextId++;
    const reply = new Promise<Reply>((resolve, reject) => {
      if (this.conn.closed) {
        reject(new LockError("NO_LOCKMGR", "Connection to the lock manager closed"));
        return;
      }
      this.#pending.set(id, { resolve, reject });
    });
    body.id = id;
    this.conn.send(body);
    return { id, reply };
  }

  /** Replace what happens with the reply of `id` (a wait given up on). */
  redirect(id: number, fn: (m: Reply) => void): void {
    if (this.#pending.has(id)) this.#pending.set(id, { resolve: fn, reject: () => {} });
  }
}

function unlocked(m: Reply): void {
  if (m.ok !== true) throw replyError(m);
}

function replyError(m: Reply): LockError {
  const message = typeof m.error === "string" ? m.error : "Lock manager refused the request";
  switch (m.code) {
    case "BUSY":
      return new LockError("BUSY", message, {
        holders: Array.isArray(m.holders) ? m.holders as LockdHolderStatus[] : [],
      });
    case "TIMEOUT":
    case "ABORTED":
    case "SYNCH_ERR":
    case "PROTOCOL":
    case "LIMIT":
      return new LockError(m.code, message);
    case "VERSION":
      return new LockError("PROTOCOL", message);
    default:
      return new LockError("SYNCH_ERR", message);
  }
}

/** Connect to a daemon at `socketPath`, say hello and return its pid (undefined if none answers). */
export async function identifyLockd(
  socketPath: string,
  timeoutMs = 1000,
): Promise<number | undefined> {
  let session: Session | undefined;
  try {
    session = new Session(await connectUnix(socketPath, timeoutMs), []);
    const { reply } = session.send({
      op: "hello",
      version: LOCKD_PROTOCOL_VERSION,
      pid: process.pid,
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const m = await Promise.race([
      reply,
      new Promise<Reply>((resolve) => (timer = setTimeout(() => resolve({}), timeoutMs))),
    ]);
    clearTimeout(timer);
    return typeof m.pid === "number" ? m.pid : undefined;
  } catch {
    return undefined;
  } finally {
    session?.conn.close("closed by client");
  }
}

class Handle implements LockHandle {
  readonly name: string;
  readonly mode: LockMode;
  #session: Session;
  #lock: number;
  #released = false;

  constructor(session: Session, name: string, mode: LockMode, lock: number) {
    this.#session = session;
    this.name = name;
    this.mode = mode;
    this.#lock = lock;
  }

  get held(): boolean {
    return !this.#released && !this.#session.closed;
  }

  /** The grant id (the unlock token). */
  get lockId(): number {
    return this.#lock;
  }

  verify(): Promise<void> {
    if (!this.held) return Promise.reject(this.#lost());
    return this.#session.send({ op: "ping" }).reply.then(
      (m) => {
        // The reply may race the close; only a connection still open proves the lock is held.
        if (m.ok !== true || !this.held) throw this.#lost();
      },
      () => {
        throw this.#lost();
      },
    );
  }

  annotate(info: { commandPid?: number; command?: string }): Promise<boolean> {
    if (!this.held) return Promise.resolve(false);
    const body: Reply = { op: "annotate", lock: this.#lock };
    if (info.commandPid !== undefined) body.commandPid = info.commandPid;
    if (info.command !== undefined) body.command = info.command.slice(0, LOCKD_MAX_COMMAND);
    return this.#session.send(body).reply.then((m) => m.ok === true, () => false);
  }

  #lost(): LockError {
    return new LockError(
      "SYNCH_ERR",
      this.#released
        ? `Lock already released: ${this.name}`
        : `Lock lost: the connection to the lock manager closed: ${this.name}`,
    );
  }

  release(): Promise<void> {
    if (this.#released) {
      return Promise.reject(new LockError("SYNCH_ERR", `Lock already released: ${this.name}`));
    }
    this.#released = true;
    if (this.#session.closed) {
      return Promise.reject(
        new LockError(
          "NO_LOCKMGR",
          `Connection to the lock manager closed, so the lock was already dropped: ${this.name}`,
        ),
      );
    }
    return this.#session.send({ op: "unlock", lock: this.#lock }).reply.then(unlocked);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#released) return;
    try {
      await this.release();
    } catch (e) {
      if (!(e instanceof LockError && e.code === "NO_LOCKMGR")) throw e;
    }
  }
}

/**
 * A connection to the lock manager. Locks it holds are released by the daemon when the
 * connection closes, including when this process dies.
 */
export class LockClient implements AsyncDisposable {
  /** The socket this client talks to. */
  readonly socketPath: string;
  /** The run directory holding the socket. */
  readonly runDir: string;
  #autoStart: boolean;
  #idleMinutes: number | undefined;
  #command: string;
  #cacheOn: boolean;
  #cache = new Map<string, CacheEntry>();
  /** Revokes that came before their grant's cache entry was made. */
  #earlyRevokes = new Set<number>();
  /** Names whose cacheable grant is being asked for: local requests wait for that one. */
  #inflight = new Map<string, Promise<unknown>>();
  #session: Session | undefined;
  #connecting: Promise<Session> | undefined;
  #events: Array<(e: LockdEvent) => void> = [];
  #closed = false;
  #mine = new Set<Session>();

  /** A client; connects (and starts the lock manager if needed) on first use. */
  constructor(options: LockClientOptions = {}) {
    // With only a socket path, its directory is the run directory (and no env is read).
    this.runDir = options.runDir ??
      (options.socketPath ? path.dirname(path.resolve(options.socketPath)) : defaultRunDir());
    this.socketPath = path.resolve(options.socketPath ?? path.join(this.runDir, "lockd.sock"));
    this.#autoStart = options.autoStart ?? true;
    this.#idleMinutes = options.idleMinutes;
    this.#command = (options.command ?? ownCommandLine()).slice(0, LOCKD_MAX_COMMAND);
    this.#cacheOn = options.cache ?? false;
    if (this.#cacheOn) {
      this.#events.push((e) => {
        if (e.event !== "revoke" || typeof e.lock !== "number") return;
        let found = false;
        for (const entry of this.#cache.values()) {
          if (entry.grant.lockId === e.lock) {
            found = true;
            void entry.revoke();
          }
        }
        // The revoke can arrive in the same read as its grant, before the grant's entry exists:
        // remember it for that entry (a few, oldest forgotten first).
        if (!found) {
          this.#earlyRevokes.add(e.lock);
          if (this.#earlyRevokes.size > 1024) {
            this.#earlyRevokes.delete(this.#earlyRevokes.values().next().value as number);
          }
        }
      });
    }
  }

  /** Listen to messages the daemon sends on its own. */
  onEvent(fn: (e: LockdEvent) => void): void {
    this.#events.push(fn);
  }

  /** The pid of the daemon this client talks to (0 before the first request). */
  get daemonPid(): number {
    return this.#session?.daemonPid ?? 0;
  }

  /** Acquire lock `name`; resolves when granted. */
  acquire(name: string, options: AcquireOptions = {}): Promise<LockHandle> {
    const bad = checkLockName(name);
    if (bad) return Promise.reject(new LockError("PROTOCOL", bad));
    const mode = options.mode ?? "exclusive";
    if (mode !== "shared" && mode !== "exclusive") {
      return Promise.reject(
        new LockError("PROTOCOL", `Lock mode must be "shared" or "exclusive": ${mode}`),
      );
    }
    if (this.#cacheOn && !options.crosshost) return this.#cachedAcquire(name, mode, options);
    return this.#acquireDirect(name, mode, options);
  }

  #cachedAcquire(name: string, mode: LockMode, options: AcquireOptions): Promise<LockHandle> {
    const entry = this.#cache.get(name);
    if (entry?.serves(mode)) {
      if (entry.admissible(mode)) {
        entry.enter(mode);
        return Promise.resolve(new CachedHandle(entry, mode));
      }
      if (options.nonblock || options.timeoutMs === 0) {
        return Promise.reject(
          new LockError(
            options.nonblock ? "BUSY" : "TIMEOUT",
            `Lock is busy (in this process): ${name}`,
          ),
        );
      }
      const signal = options.signal;
      if (signal?.aborted) return Promise.reject(aborted(signal));
      const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
      return new Promise<LockHandle>((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const onAbort = () => {
          finish();
          withdraw();
          reject(aborted(signal as AbortSignal));
        };
        const finish = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        };
        const withdraw = entry.wait(mode, () => {
          finish();
          if (!entry.revoked) {
            resolve(new CachedHandle(entry, mode));
            return;
          }
          // Given back meanwhile: ask the lock manager, with what is left of the timeout.
          const rest: AcquireOptions = deadline === undefined
            ? options
            : { ...options, timeoutMs: Math.max(0, deadline - Date.now()) };
          this.#cachedAcquire(name, mode, rest).then(resolve, reject);
        });
        if (deadline !== undefined) {
          timer = setTimeout(() => {
            finish();
            withdraw();
            reject(new LockError("TIMEOUT", `Timed out waiting for lock: ${name}`));
          }, deadline - Date.now());
        }
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    const inflight = this.#inflight.get(name);
    if (inflight) {
      // Another local operation is getting the grant: share it (or queue for it) once it comes.
      const t0 = Date.now();
      const again = () => {
        const rest: AcquireOptions = options.timeoutMs === undefined
          ? options
          : { ...options, timeoutMs: Math.max(0, options.timeoutMs - (Date.now() - t0)) };
        return this.#cachedAcquire(name, mode, rest);
      };
      return inflight.then(again, again);
    }
    // A shared grant cannot serve a writer: give it up once idle; the writer queues for its own.
    if (entry && !entry.revoked && entry.grant.held) void entry.revoke();
    const asked = this.#acquireDirect(name, mode, options, true);
    const settled = asked.finally(() => {
      if (this.#inflight.get(name) === settled) this.#inflight.delete(name);
    });
    settled.catch(() => {});
    this.#inflight.set(name, settled);
    return asked.then((h) => {
      const grant = h as Handle;
      const fresh = new CacheEntry(name, mode, grant, () => {
        if (this.#cache.get(name) === fresh) this.#cache.delete(name);
      });
      this.#cache.set(name, fresh);
      fresh.enter(mode);
      if (this.#earlyRevokes.delete(grant.lockId)) void fresh.revoke();
      return new CachedHandle(fresh, mode);
    });
  }

  #acquireDirect(
    name: string,
    mode: LockMode,
    options: AcquireOptions,
    cache = false,
  ): Promise<LockHandle> {
    if (cache) options = { ...options, [CACHE]: true } as AcquireOptions;
    // A wait that loses its lock manager follows it to the next one within this deadline.
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const session = this.#session;
    if (session && !session.closed && !this.#closed) {
      // Connected already: no extra turns of the event loop on the hot path.
      return this.#acquireOn(
        session,
        name,
        mode,
        options,
        (e) => this.#requeue(e, session, name, mode, options, deadline, 1),
      );
    }
    return this.#acquireConnecting(name, mode, options, deadline);
  }

  /**
   * A request whose connection was lost before it was answered (the lock manager died, was
   * restarted or closed an idle connection): connect to the next lock manager (started on
   * demand) and queue again with what is left of the timeout. Not after an explicit `stop`.
   */
  async #requeue(
    e: unknown,
    session: Session,
    name: string,
    mode: LockMode,
    options: AcquireOptions,
    deadline: number | undefined,
    attempt: number,
  ): Promise<LockHandle> {
    if (
      !(e instanceof LockError && e.code === "NO_LOCKMGR") || this.#closed ||
      session.shutdownReason === "request" || attempt > MAX_REQUEUES || options.signal?.aborted
    ) {
      throw e;
    }
    const timedOut = () =>
      new LockError("TIMEOUT", `Timed out waiting for lock (the lock manager restarted): ${name}`);
    let left = deadline === undefined ? undefined : deadline - Date.now();
    if (left !== undefined && left <= 0) throw timedOut();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let next: Session;
    try {
      next = await (left === undefined ? this.#connect(options.signal) : Promise.race([
        this.#connect(options.signal),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timedOut()), left))),
      ]));
    } finally {
      clearTimeout(timer);
    }
    left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    const rest: AcquireOptions = left === undefined ? options : { ...options, timeoutMs: left };
    return this.#acquireOn(
      next,
      name,
      mode,
      rest,
      (e2) => this.#requeue(e2, next, name, mode, options, deadline, attempt + 1),
    );
  }

  async #acquireConnecting(
    name: string,
    mode: LockMode,
    options: AcquireOptions,
    deadline: number | undefined,
  ): Promise<LockHandle> {
    const session = await this.#connect(options.signal);
    return this.#acquireOn(
      session,
      name,
      mode,
      options,
      (e) => this.#requeue(e, session, name, mode, options, deadline, 1),
    );
  }

  #acquireOn(
    session: Session,
    name: string,
    mode: LockMode,
    options: AcquireOptions,
    onError?: (e: unknown) => Promise<LockHandle>,
  ): Promise<LockHandle> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(aborted(signal));
    const body: Reply = { op: "lock", name, mode };
    if (options.nonblock) body.nonblock = true;
    if (options.crosshost) body.crosshost = true;
    if (options.command !== undefined) body.command = options.command.slice(0, LOCKD_MAX_COMMAND);
    if ((options as { [CACHE]?: boolean })[CACHE]) body.cache = true;
    if (options.timeoutMs !== undefined) {
      body.timeoutMs = Math.max(0, Math.min(2_147_483_647, Math.ceil(options.timeoutMs)));
    }
    const { id, reply } = session.send(body);
    const granted = (m: Reply): LockHandle => {
      if (m.ok !== true || typeof m.lock !== "number") throw replyError(m);
      return new Handle(session, name, mode, m.lock);
    };
    // Error replies (BUSY, …) throw in `granted`; only a lost connection reaches onError.
    if (!signal) return reply.then(granted, onError);
    return new Promise<LockHandle>((resolve, reject) => {
      const onAbort = () => {
        // Whatever the daemon answers now, the caller has moved on: a late grant is returned.
        session.redirect(id, (m) => {
          if (m.ok === true && typeof m.lock === "number") {
            session.send({ op: "unlock", lock: m.lock }).reply.catch(() => {});
          }
        });
        session.send({ op: "cancel", request: id }).reply.catch(() => {});
        reject(aborted(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      reply.then((m) => {
        signal.removeEventListener("abort", onAbort);
        try {
          resolve(granted(m));
        } catch (e) {
          reject(e);
        }
      }, (e) => {
        signal.removeEventListener("abort", onAbort);
        if (onError && !signal.aborted) onError(e).then(resolve, reject);
        else reject(e);
      });
    });
  }

  /** Every lock the daemon knows, with holders and waiters. */
  async status(): Promise<LockdStatus> {
    let session = await this.#connect(undefined);
    let m: Reply;
    try {
      m = await session.send({ op: "status" }).reply;
    } catch (e) {
      // The lock manager closed this idle connection just as the request went out: ask again.
      if (!(e instanceof LockError && e.code === "NO_LOCKMGR" && session.idleClosed)) throw e;
      session = await this.#connect(undefined);
      m = await session.send({ op: "status" }).reply;
    }
    if (m.ok !== true) throw replyError(m);
    return m.status as LockdStatus;
  }

  /**
   * Ask the daemon to stop and wait until it has closed the connection. With `force: false` a
   * daemon with locks held refuses (LockError BUSY, "N lock(s) held by M client(s)").
   */
  async stopDaemon(
    options: number | { timeoutMs?: number; force?: boolean } = {},
  ): Promise<number> {
    const o = typeof options === "number" ? { timeoutMs: options } : options;
    const timeoutMs = o.timeoutMs ?? 5000;
    const session = await this.#connect(undefined);
    const pid = session.daemonPid;
    const closed = new Promise<void>((resolve) => session.conn.onClose(() => resolve()));
    const m = await session.send(o.force === false ? { op: "stop", force: false } : { op: "stop" })
      .reply;
    if (m.ok !== true) throw replyError(m);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return pid;
  }

  /** Close the connection: the daemon releases every lock it holds; waits fail with ABORTED. */
  close(): void {
    this.#closed = true;
    for (const s of this.#mine) s.conn.close("closed by client");
    this.#mine.clear();
    this.#cache.clear();
    this.#earlyRevokes.clear();
    this.#session = undefined;
  }

  /** Close, so that `await using` ends the client with its block. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #connect(signal: AbortSignal | undefined): Promise<Session> {
    if (this.#closed) return Promise.reject(new LockError("ABORTED", "Lock client is closed"));
    if (this.#session && !this.#session.closed) return Promise.resolve(this.#session);
    if (!this.#connecting) {
      this.#connecting = this.#open().finally(() => (this.#connecting = undefined));
    }
    if (!signal) return this.#connecting;
    if (signal.aborted) return Promise.reject(aborted(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(aborted(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      (this.#connecting as Promise<Session>).then(resolve, reject).finally(() =>
        signal.removeEventListener("abort", onAbort)
      );
    });
  }

  async #open(): Promise<Session> {
    let first: NodeJS.ErrnoException | undefined;
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#hello();
      } catch (e) {
        // A full lock manager is busy, not absent: retry a burst's worth, with backoff, then
        // say so (never start a second one).
        if (
          e instanceof LockError && e.code === "LIMIT" && attempt < LIMIT_RETRIES && !this.#closed
        ) {
          await sleep(50 * 2 ** attempt);
          continue;
        }
        if (e instanceof LockError) throw e;
        first = e as NodeJS.ErrnoException;
        break;
      }
    }
    if (this.#autoStart && first.code === "ENOTDIR") {
      // A file where the run directory should be: the directory a start would make says why.
      this.#prepareDirs();
    }
    if (!this.#autoStart || !NO_DAEMON.has(first.code ?? "")) {
      throw new LockError(
        "NO_LOCKMGR",
        `Cannot contact lock manager: ${first.code ?? first.message} on ${this.socketPath}`,
        { cause: first },
      );
    }
    return this.#startAndWait(first);
  }

  /**
   * Start a daemon (or wait for the one another client is starting) after `first` found none,
   * and connect to it. Of several clients finding no daemon at once, the one that makes the start
   * marker starts it; the others wait for that daemon, and start their own only if the marker
   * goes away (its starter finished or died) while still nobody answers. A run directory that
   * cannot be made or used, and a daemon that exits before it answers, fail at once with the
   * reason; only a daemon that is starting or going away is waited for.
   */
  async #startAndWait(first: NodeJS.ErrnoException): Promise<Session> {
    const where = {
      runDir: this.runDir,
      socketPath: this.socketPath,
      idleMinutes: this.#idleMinutes,
    };
    const prepared = this.#prepareDirs();
    const marker = startMarkerPath(this.socketPath);
    let last = first;
    const attempt = async (): Promise<Session | undefined> => {
      if (this.#closed) throw new LockError("ABORTED", "Lock client is closed");
      try {
        return await this.#hello();
      } catch (e) {
        if (e instanceof LockError) throw e;
        last = e as NodeJS.ErrnoException;
        return undefined;
      }
    };
    // Start one and wait for it; undefined when it exited because another daemon has the
    // socket (then that one is waited for).
    const startOne = async (): Promise<Session | undefined> => {
      let session: Session | undefined;
      try {
        await startLockd(where, {
          keepStderr: prepared,
          // A daemon that answers sooner is used at once; one still starting (its process
          // lives) is given a grace period past the upstream window.
          timeoutMs: LOCKD_START_GRACE_MS,
          ready: async () => (session = await attempt()) !== undefined,
        });
        return session as Session;
      } catch (e) {
        if (e instanceof LockError) throw e;
        if (!(e instanceof DaemonStartError) || e.failure === "spawn") {
          // E.g. Deno without --allow-run: no daemon can be started from here.
          throw new LockError(
            "NO_LOCKMGR",
            `Cannot contact lock manager: ${first.code ?? first.message} on ${this.socketPath}, ` +
              `and cannot start one: ${(e as Error).message}`,
            { cause: e },
          );
        }
        if (e.failure === "timeout") throw this.#noLockManager(last);
        // Exited before it answered. Lost a race to a daemon another client started?
        const late = await attempt();
        if (late) return late;
        const reason = startErrorReason(e.stderr);
        if (reason !== undefined && / is already running /.test(reason)) return undefined;
        throw new LockError(
          "NO_LOCKMGR",
          `Cannot start the lock manager: ${reason ?? `it exited with status ${e.exitCode}`}`,
          { cause: e },
        );
      }
    };
    const claim = claimStartMarker(marker, LOCKD_START_GRACE_MS);
    let markerMine = claim === "mine";
    let spawned = false;
    try {
      if (claim !== "taken") {
        spawned = true;
        const session = await startOne();
        if (session) return session;
      }
      // Another client is starting one, or started the one that answers: tries 500 ms apart as
      // upstream, but a daemon that answers sooner is used at once, and one whose starter is
      // still at it is given the grace period.
      const t0 = Date.now();
      const deadline = t0 + LOCKD_START_TRIES * LOCKD_START_INTERVAL_MS;
      const graceDeadline = t0 + LOCKD_START_GRACE_MS;
      // A daemon this client started has exited by now: only another starter is waited for.
      const starting = () => !spawned && startMarkerLive(marker, LOCKD_START_GRACE_MS);
      while (Date.now() < deadline || (starting() && Date.now() < graceDeadline)) {
        await sleep(25);
        const session = await attempt();
        if (session) return session;
        if (spawned || starting()) continue;
        // The other starter is done. Its daemon may have come up just now: ask once more.
        const again = claimStartMarker(marker, LOCKD_START_GRACE_MS);
        if (again === "taken") continue;
        markerMine = again === "mine";
        const late = await attempt();
        if (late) return late;
        spawned = true;
        const started = await startOne();
        if (started) return started;
      }
      throw this.#noLockManager(last);
    } finally {
      if (markerMine) releaseStartMarker(marker);
    }
  }

  /**
   * Make the run directory as a daemon would, so that one that cannot be made or used is
   * reported at once with its reason (NO_LOCKMGR); false when Deno's permissions do not let
   * this client look.
   */
  #prepareDirs(): boolean {
    try {
      return prepareLockdDirs({ runDir: this.runDir, socketPath: this.socketPath });
    } catch (e) {
      throw new LockError("NO_LOCKMGR", (e as Error).message, { cause: e });
    }
  }

  #noLockManager(last: NodeJS.ErrnoException): LockError {
    return new LockError(
      "NO_LOCKMGR",
      `Cannot contact lock manager: ${last.code ?? last.message} on ${this.socketPath}`,
      { cause: last },
    );
  }

  async #hello(): Promise<Session> {
    const uid = euid();
    const untrusted = uid === undefined ? undefined : untrustedSocket(this.socketPath, uid);
    if (untrusted) throw new LockError("ACCESS", `Refusing the lock manager: ${untrusted}`);
    let socket;
    try {
      socket = await connectUnix(this.socketPath, 2000);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") {
        throw new LockError(
          "ACCESS",
          `Permission denied connecting to the lock manager: ${this.socketPath}`,
          { cause: e },
        );
      }
      throw e;
    }
    const session = new Session(socket, this.#events);
    this.#mine.add(session);
    session.conn.onClose(() => this.#mine.delete(session));
    if (this.#closed) {
      session.conn.close("closed by client");
      throw new LockError("ABORTED", "Lock client is closed");
    }
    let m: Reply;
    try {
      m = await session.send({
        op: "hello",
        version: LOCKD_PROTOCOL_VERSION,
        pid: process.pid,
        client: `steward ${VERSION}`,
        command: this.#command,
      }).reply;
    } catch (e) {
      // Full: a lock manager runs; starting another one would not help.
      if (e instanceof LockError && e.code === "LIMIT") throw e;
      // Closed before answering hello: a daemon on its way out; count it as absent.
      throw Object.assign(new Error("Lock manager closed the connection"), {
        code: "ECONNREFUSED",
        cause: e,
      });
    }
    if (m.ok !== true) {
      session.conn.close("closed by client");
      throw replyError(m);
    }
    session.daemonPid = typeof m.pid === "number" ? m.pid : 0;
    session.ready = true;
    this.#session = session;
    return session;
  }
}

// The command line of this process, as `ps` would show it (the runtime's own path left out).
function ownCommandLine(): string {
  const [, script, ...rest] = process.argv;
  return [script ? path.basename(script) : path.basename(process.argv[0] ?? "?"), ...rest].join(
    " ",
  );
}

/** Marks an internal acquire that asks the lock manager for a cacheable grant. */
const CACHE = Symbol("cache");

/** A local use of a cached grant. */
class CachedHandle implements LockHandle {
  readonly name: string;
  readonly mode: LockMode;
  #entry: CacheEntry;
  #released = false;

  constructor(entry: CacheEntry, mode: LockMode) {
    this.#entry = entry;
    this.name = entry.name;
    this.mode = mode;
  }

  get held(): boolean {
    return !this.#released && this.#entry.grant.held;
  }

  verify(): Promise<void> {
    if (this.#released) {
      return Promise.reject(new LockError("SYNCH_ERR", `Lock already released: ${this.name}`));
    }
    return this.#entry.grant.verify();
  }

  annotate(info: { commandPid?: number; command?: string }): Promise<boolean> {
    return this.held ? this.#entry.grant.annotate(info) : Promise.resolve(false);
  }

  release(): Promise<void> {
    if (this.#released) {
      return Promise.reject(new LockError("SYNCH_ERR", `Lock already released: ${this.name}`));
    }
    this.#released = true;
    const lost = !this.#entry.grant.held;
    const left = this.#entry.leave();
    if (lost) {
      return Promise.reject(
        new LockError(
          "NO_LOCKMGR",
          `Connection to the lock manager closed, so the lock was already dropped: ${this.name}`,
        ),
      );
    }
    return left;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#released) return;
    try {
      await this.release();
    } catch (e) {
      if (!(e instanceof LockError && e.code === "NO_LOCKMGR")) throw e;
    }
  }
}

function aborted(signal: AbortSignal): LockError {
  return new LockError("ABORTED", "Lock request aborted", { cause: signal.reason });
}
