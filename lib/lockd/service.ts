/**
 * The lockd request handlers: one session per connection over a shared {@link LockTable}.
 * Pure: the daemon supplies a transport that sends replies and runs wait timers, so every rule
 * here is testable without sockets.
 * @internal
 * @module
 */
import type { Decoded } from "../ipc/frames.ts";
import {
  LOCKD_PROTOCOL_VERSION,
  LOCKD_STATUS_MAX_ENTRIES,
  LOCKD_STATUS_MAX_LOCKS,
  type LockdHolderStatus,
  type LockdLockStatus,
  type LockdRequest,
  type LockdStatus,
  type LockdWireCode,
  type LockRequest,
  parseRequest,
} from "./protocol.ts";
import path from "node:path";
import { PathGuard } from "../platform/guard.ts";
import { HostLockError, hostLockFile, HostLocks } from "./hostlock.ts";
import { type Grant, LockTable, type OwnerId, type Waiter } from "./table.ts";

/** What the service needs from the daemon around it. */
export interface ServiceTransport {
  /** Send one message on connection `conn`. */
  send(conn: OwnerId, message: object): void;
  /** Call {@link LockService.expire}(conn, request) after `ms` unless disarmed. */
  armTimer(conn: OwnerId, request: number, ms: number): void;
  /** Forget a timer armed for (conn, request). */
  disarmTimer(conn: OwnerId, request: number): void;
  /** A client asked the daemon to stop (after its reply was sent). */
  stop(): void;
  /**
   * Close connection `conn` at once (its locks are released as when the client goes away), for
   * `why`. Absent: the connection is only told.
   */
  drop?(conn: OwnerId, why: string): void;
  /**
   * A connection said hello naming `pid`: undefined admits it, a message refuses it (LIMIT, a
   * connection cap). Absent: everyone is admitted.
   */
  admit?(conn: OwnerId, pid: number | undefined): string | undefined;
}

/** Facts about the daemon for status replies. */
export type ServiceInfo = Omit<LockdStatus, "locks" | "connections" | "totals" | "truncated">;

/** Options for {@link LockService}. */
export interface LockServiceOptions {
  /** Status facts (pid, socket, …). */
  info: () => ServiceInfo;
  /** Most grants plus queued requests one connection may have (default 4096). */
  maxPerConnection?: number;
  /** Clock, for tests (default Date.now). */
  now?: () => number;
  /** The cross-host locks (default: a new {@link HostLocks}). */
  hostLocks?: HostLocks;
  /**
   * Directories where cross-host lock files may be made (symlinks resolved); a crosshost name
   * elsewhere is refused. Empty or absent: wherever the clients (this daemon's user) ask.
   */
  crosshostRoots?: readonly string[];
}

interface Session {
  hello: boolean;
  pid: number | undefined;
  command: string | undefined;
  /** Queued lock requests: request id → whether a timer was armed. */
  pending: Map<number, boolean>;
  /** Crosshost requests still waiting for their host lock: request id → withdraw it. */
  hostWaits: Map<number, () => void>;
  held: number;
}

/** Handles requests of every connection; {@link LockService.table} is the shared state. */
export class LockService {
  readonly table: LockTable = new LockTable();
  /** Host locks of crosshost requests, taken before the local lock. */
  readonly hostLocks: HostLocks;
  // Grant ids, and `${owner}:${request}` of table waiters (→ name), that hold a host lock reference.
  #crossGrants = new Set<number>();
  #crossWaits = new Map<string, string>();
  #sessions = new Map<OwnerId, Session>();
  #transport: ServiceTransport;
  #info: () => ServiceInfo;
  #max: number;
  #now: () => number;
  #crossGuard: PathGuard | undefined;
  /** What `annotate` added to a grant: the command's pid, a command. */
  #notes = new Map<number, { commandPid?: number; command?: string }>();
  // Lock caching: grants their owner may keep after use, those asked back, and queued requests
  // (`${owner}:${request}`) that asked to be cacheable once granted.
  #cacheable = new Set<number>();
  #revoked = new Set<number>();
  #cacheWaits = new Set<string>();

  constructor(transport: ServiceTransport, options: LockServiceOptions) {
    this.#transport = transport;
    this.#info = options.info;
    this.#max = options.maxPerConnection ?? 4096;
    this.#now = options.now ?? Date.now;
    this.hostLocks = options.hostLocks ?? new HostLocks();
    this.hostLocks.onLost((name, why) => this.#hostLost(name, why));
    const roots = options.crosshostRoots ?? [];
    this.#crossGuard = roots.length > 0 ? new PathGuard(roots) : undefined;
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** A connection opened. */
  open(conn: OwnerId): void {
    this.#sessions.set(conn, {
      hello: false,
      pid: undefined,
      command: undefined,
      pending: new Map(),
      hostWaits: new Map(),
      held: 0,
    });
  }

  /** Whether `conn` holds a lock or waits for one. */
  busy(conn: OwnerId): boolean {
    const s = this.#sessions.get(conn);
    return s !== undefined && (s.held > 0 || s.pending.size > 0 || s.hostWaits.size > 0);
  }

  /** Whether `conn` has said hello. */
  greeted(conn: OwnerId): boolean {
    return this.#sessions.get(conn)?.hello === true;
  }

  /** A connection closed: everything it held is released, everything it waited for withdrawn. */
  closed(conn: OwnerId): Grant[] {
    const session = this.#sessions.get(conn);
    if (!session) return [];
    this.#sessions.delete(conn);
    for (const [request, timed] of session.pending) {
      if (timed) this.#transport.disarmTimer(conn, request);
    }
    for (const withdraw of session.hostWaits.values()) withdraw();
    session.hostWaits.clear();
    const { released, cancelled, woken } = this.table.releaseOwner(conn, this.#now());
    for (const g of released) {
      this.#forgetGrant(g.id);
      this.#dropHostGrant(g);
    }
    for (const w of cancelled) {
      this.#cacheWaits.delete(`${w.owner}:${w.request}`);
      this.#dropHostWait(w);
    }
    this.#granted(woken);
    return released;
  }

  /** A frame arrived on `conn`. */
  frame(conn: OwnerId, decoded: Decoded): void {
    const session = this.#sessions.get(conn);
    if (!session) return;
    if (!decoded.ok) {
      this.#error(conn, null, "PROTOCOL", decoded.error);
      return;
    }
    const parsed = parseRequest(decoded.message);
    if (!parsed.ok) {
      this.#error(conn, parsed.id, parsed.code, parsed.error);
      return;
    }
    this.#handle(conn, session, parsed.request);
  }

  /** The wait timer of (conn, request) fired. */
  expire(conn: OwnerId, request: number): void {
    const session = this.#sessions.get(conn);
    if (!session || !session.pending.has(request)) return;
    session.pending.delete(request);
    const hostWait = session.hostWaits.get(request);
    if (hostWait) {
      session.hostWaits.delete(request);
      hostWait();
      this.#error(conn, request, "TIMEOUT", "Timed out waiting for the host lock");
      return;
    }
    const { waiter, woken } = this.table.cancel(conn, request, this.#now());
    this.#cacheWaits.delete(`${conn}:${request}`);
    if (waiter) {
      this.#dropHostWait(waiter);
      this.#error(conn, request, "TIMEOUT", `Timed out waiting for lock: ${waiter.name}`);
    }
    this.#granted(woken);
  }

  /**
   * The status, as the `status` op returns it: at most `maxLocks` locks (by name) and
   * `maxEntries` holders and waiters in all, so that the reply stays a few megabytes whatever
   * the size of the table; what is left out is counted (`truncated`, `moreHolders`,
   * `moreWaiters`), and `totals` counts everything.
   */
  status(
    limits: { maxLocks?: number; maxEntries?: number } = {},
  ): LockdStatus {
    const maxLocks = limits.maxLocks ?? LOCKD_STATUS_MAX_LOCKS;
    let budget = limits.maxEntries ?? LOCKD_STATUS_MAX_ENTRIES;
    const iso = (ms: number) => new Date(ms).toISOString();
    const count = this.table.count;
    const locks: LockdLockStatus[] = [];
    for (const l of this.table.list(maxLocks)) {
      const holders = l.holders.slice(0, Math.max(0, budget));
      budget -= holders.length;
      const waiters = l.waiters.slice(0, Math.max(0, budget));
      budget -= waiters.length;
      const lock: LockdLockStatus = {
        name: l.name,
        mode: l.mode,
        holders: holders.map((h) => this.#holder(h)),
        waiters: waiters.map((w) => ({
          pid: w.pid ?? null,
          mode: w.mode,
          since: iso(w.since),
          command: w.command ?? null,
        })),
      };
      if (holders.length < l.holders.length) lock.moreHolders = l.holders.length - holders.length;
      if (waiters.length < l.waiters.length) lock.moreWaiters = l.waiters.length - waiters.length;
      locks.push(lock);
    }
    const status: LockdStatus = {
      ...this.#info(),
      connections: this.#sessions.size,
      totals: { locks: count, held: this.table.held, waiting: this.table.waiting },
      locks,
    };
    if (locks.length < count) status.truncated = count - locks.length;
    return status;
  }

  #holder(h: Grant): LockdHolderStatus {
    const note = this.#notes.get(h.id);
    return {
      lock: h.id,
      pid: h.pid ?? null,
      since: new Date(h.since).toISOString(),
      command: note?.command ?? h.command ?? null,
      commandPid: note?.commandPid ?? null,
    };
  }

  #handle(conn: OwnerId, session: Session, req: LockdRequest): void {
    if (!session.hello && req.op !== "hello" && req.op !== "ping") {
      this.#error(
        conn,
        req.id,
        "PROTOCOL",
        `Send hello first (protocol ${LOCKD_PROTOCOL_VERSION})`,
      );
      return;
    }
    switch (req.op) {
      case "lock":
        this.#lock(conn, session, req);
        return;
      case "unlock":
        this.#unlock(conn, session, req.id, req.lock);
        return;
      case "cancel": {
        const timed = session.pending.get(req.request);
        if (timed === undefined) {
          this.#transport.send(conn, { id: req.id, ok: true, cancelled: false });
          return;
        }
        session.pending.delete(req.request);
        if (timed) this.#transport.disarmTimer(conn, req.request);
        const hostWait = session.hostWaits.get(req.request);
        session.hostWaits.delete(req.request);
        hostWait?.();
        const { waiter, woken } = this.table.cancel(conn, req.request, this.#now());
        this.#cacheWaits.delete(`${conn}:${req.request}`);
        if (waiter) this.#dropHostWait(waiter);
        this.#error(conn, req.request, "ABORTED", "Lock request cancelled");
        this.#transport.send(conn, { id: req.id, ok: true, cancelled: true });
        this.#granted(woken);
        return;
      }
      case "hello":
        if (session.hello) {
          this.#error(conn, req.id, "PROTOCOL", "Hello was already received on this connection");
          return;
        }
        if (req.version !== LOCKD_PROTOCOL_VERSION) {
          this.#transport.send(conn, {
            id: req.id,
            ok: false,
            code: "VERSION",
            error:
              `Unsupported protocol version ${req.version}: this daemon speaks ${LOCKD_PROTOCOL_VERSION}`,
            versions: [LOCKD_PROTOCOL_VERSION],
          });
          return;
        }
        {
          const refused = this.#transport.admit?.(conn, req.pid);
          if (refused !== undefined) {
            this.#error(conn, req.id, "LIMIT", refused);
            return;
          }
        }
        session.hello = true;
        session.pid = req.pid;
        session.command = req.command;
        this.#transport.send(conn, {
          id: req.id,
          ok: true,
          version: LOCKD_PROTOCOL_VERSION,
          server: "steward-lockd",
          pid: this.#info().pid,
        });
        return;
      case "status":
        this.#transport.send(conn, { id: req.id, ok: true, status: this.status() });
        return;
      case "ping":
        this.#transport.send(conn, { id: req.id, ok: true });
        return;
      case "stop": {
        const held = this.table.held;
        if (req.force === false && held > 0) {
          const owners = this.table.holdingOwners;
          const waiting = this.table.waiting;
          this.#transport.send(conn, {
            id: req.id,
            ok: false,
            code: "BUSY",
            error: `${held} lock(s) held by ${owners} client(s)${
              waiting > 0 ? `, ${waiting} waiting` : ""
            }`,
            held,
            holders: owners,
            waiting,
          });
          return;
        }
        this.#transport.send(conn, { id: req.id, ok: true });
        this.#transport.stop();
        return;
      }
      case "annotate": {
        const g = this.table.grant(req.lock);
        if (!g || g.owner !== conn) {
          this.#error(conn, req.id, "SYNCH_ERR", `No lock ${req.lock} held by this connection`);
          return;
        }
        const note = this.#notes.get(g.id) ?? {};
        if (req.commandPid !== undefined) note.commandPid = req.commandPid;
        if (req.command !== undefined) note.command = req.command;
        this.#notes.set(g.id, note);
        this.#transport.send(conn, { id: req.id, ok: true });
        return;
      }
    }
  }

  #lock(conn: OwnerId, session: Session, req: LockRequest): void {
    if (session.pending.has(req.id)) {
      this.#error(conn, req.id, "PROTOCOL", `Request id ${req.id} is already waiting`);
      return;
    }
    if (session.pending.size + session.held >= this.#max) {
      this.#error(conn, req.id, "LIMIT", `Too many locks on one connection: limit ${this.#max}`);
      return;
    }
    if (req.crosshost) {
      this.#lockCrosshost(conn, session, req);
      return;
    }
    this.#lockLocal(conn, session, req, false);
  }

  // The host lock first (asynchronous: a flock child), then the local lock as usual.
  #lockCrosshost(conn: OwnerId, session: Session, req: LockRequest): void {
    const target = hostLockFile(req.name);
    if ("error" in target) {
      this.#error(conn, req.id, "PROTOCOL", target.error);
      return;
    }
    if (this.#crossGuard && !this.#crossGuard.allows(path.dirname(target.file))) {
      this.#error(
        conn,
        req.id,
        "SYNCH_ERR",
        `Crosshost lock outside the allowed directories (${
          this.#crossGuard.roots.join(", ")
        }): ${req.name}`,
      );
      return;
    }
    const nonblock = req.nonblock || req.timeoutMs === 0;
    const timed = req.timeoutMs !== undefined && !nonblock;
    session.pending.set(req.id, timed);
    if (timed) this.#transport.armTimer(conn, req.id, req.timeoutMs as number);
    const start = this.#now();
    const { granted, cancel } = this.hostLocks.acquire(req.name, req.mode, nonblock);
    session.hostWaits.set(req.id, cancel);
    granted.then(
      () => {
        if (this.#sessions.get(conn) !== session || session.hostWaits.get(req.id) !== cancel) {
          // The request went away while flock worked: give the reference back.
          void this.hostLocks.release(req.name);
          return;
        }
        session.hostWaits.delete(req.id);
        session.pending.delete(req.id);
        if (!timed) {
          this.#lockLocal(conn, session, req, true);
          return;
        }
        this.#transport.disarmTimer(conn, req.id);
        // The wait for the local lock gets what is left of the request's timeout.
        const left = Math.max(0, (req.timeoutMs as number) - (this.#now() - start));
        this.#lockLocal(conn, session, { ...req, timeoutMs: left }, true);
      },
      (e: unknown) => {
        if (this.#sessions.get(conn) !== session || session.hostWaits.get(req.id) !== cancel) {
          return;
        }
        session.hostWaits.delete(req.id);
        session.pending.delete(req.id);
        if (timed) this.#transport.disarmTimer(conn, req.id);
        const code = e instanceof HostLockError && e.code === "BUSY" ? "BUSY" : "SYNCH_ERR";
        if (code === "BUSY" && req.timeoutMs === 0 && !req.nonblock) {
          this.#error(conn, req.id, "TIMEOUT", `Timed out waiting for lock: ${req.name}`);
        } else this.#error(conn, req.id, code, (e as Error).message);
      },
    );
  }

  #lockLocal(conn: OwnerId, session: Session, req: LockRequest, cross: boolean): void {
    const result = this.table.acquire({
      name: req.name,
      mode: req.mode,
      owner: conn,
      request: req.id,
      nonblock: req.nonblock || req.timeoutMs === 0,
      pid: session.pid,
      command: req.command ?? session.command,
      now: this.#now(),
    });
    if (result.status === "granted") {
      session.held++;
      if (cross) this.#crossGrants.add(result.grant.id);
      if (req.cache) this.#cacheable.add(result.grant.id);
      this.#transport.send(conn, { id: req.id, ok: true, lock: result.grant.id });
    } else if (result.status === "busy") {
      if (cross) void this.hostLocks.release(req.name);
      this.#revokeFor(req.name);
      if (req.timeoutMs === 0 && !req.nonblock) {
        this.#error(conn, req.id, "TIMEOUT", `Timed out waiting for lock: ${req.name}`);
      } else {
        // Who holds it, so that the one turned away can tell the user (as `lock run` does).
        const holders = this.table.holdersOf(req.name).slice(0, 5).map((h) => this.#holder(h));
        this.#transport.send(conn, {
          id: req.id,
          ok: false,
          code: "BUSY",
          error: `Lock is busy: ${req.name}`,
          holders,
        });
      }
    } else {
      if (cross) this.#crossWaits.set(`${conn}:${req.id}`, req.name);
      if (req.cache) this.#cacheWaits.add(`${conn}:${req.id}`);
      this.#revokeFor(req.name);
      const timed = req.timeoutMs !== undefined;
      session.pending.set(req.id, timed);
      if (timed) this.#transport.armTimer(conn, req.id, req.timeoutMs as number);
    }
  }

  /**
   * The host lock of `name` was lost (the process holding it ended): its local holders, and the
   * local waiters that would be granted under it, are no longer protected from other hosts. Their
   * connections are told (`lost` event) and closed, the loud failure a client already handles
   * (`held` turns false, `verify()` and the commit fence of a dhcp write reject). The next request
   * takes the host lock anew.
   */
  #hostLost(name: string, why: string): void {
    const owners = new Map<OwnerId, number[]>();
    for (const g of this.table.holdersOf(name)) {
      if (!this.#crossGrants.has(g.id)) continue;
      const locks = owners.get(g.owner) ?? [];
      locks.push(g.id);
      owners.set(g.owner, locks);
    }
    for (const [key, n] of this.#crossWaits) {
      if (n !== name) continue;
      const owner = Number(key.slice(0, key.indexOf(":")));
      if (!owners.has(owner)) owners.set(owner, []);
    }
    for (const [conn, locks] of owners) {
      this.#transport.send(conn, { event: "lost", name, locks, error: why });
    }
    for (const conn of owners.keys()) this.#transport.drop?.(conn, why);
  }

  #dropHostGrant(g: Grant): Promise<void> | undefined {
    return this.#crossGrants.delete(g.id) ? this.hostLocks.release(g.name) : undefined;
  }

  #dropHostWait(w: Waiter): void {
    if (this.#crossWaits.delete(`${w.owner}:${w.request}`)) void this.hostLocks.release(w.name);
  }

  #unlock(conn: OwnerId, session: Session, id: number, lock: number): void {
    const r = this.table.release(lock, conn, this.#now());
    if (!r.ok) {
      const why = r.reason === "released"
        ? `Lock ${lock} was already released`
        : r.reason === "not-owner"
        ? `Lock ${lock} is held by another connection`
        : `No such lock: ${lock}`;
      this.#error(conn, id, "SYNCH_ERR", why);
      return;
    }
    session.held--;
    this.#forgetGrant(r.grant.id);
    const dropped = this.#dropHostGrant(r.grant);
    // The next holder first: its grant is on the critical path of a contended lock.
    this.#granted(r.woken);
    // A host lock let go is gone before the reply: another host may have it at once.
    if (dropped) void dropped.then(() => this.#transport.send(conn, { id, ok: true }));
    else this.#transport.send(conn, { id, ok: true });
  }

  #forgetGrant(id: number): void {
    this.#notes.delete(id);
    this.#cacheable.delete(id);
    this.#revoked.delete(id);
  }

  // Ask the owners of cached holders of `name` to give them back: someone else wants it.
  #revokeFor(name: string): void {
    if (this.#cacheable.size === 0) return;
    for (const h of this.table.holdersOf(name)) {
      if (!this.#cacheable.has(h.id) || this.#revoked.has(h.id)) continue;
      this.#revoked.add(h.id);
      this.#transport.send(h.owner, { event: "revoke", lock: h.id, name });
    }
  }

  #granted(grants: Grant[]): void {
    const names = new Set<string>();
    for (const g of grants) {
      if (this.#crossWaits.delete(`${g.owner}:${g.request}`)) this.#crossGrants.add(g.id);
      if (this.#cacheWaits.delete(`${g.owner}:${g.request}`)) {
        this.#cacheable.add(g.id);
        names.add(g.name);
      }
      const s = this.#sessions.get(g.owner);
      if (!s) continue;
      const timed = s.pending.get(g.request);
      s.pending.delete(g.request);
      if (timed) this.#transport.disarmTimer(g.owner, g.request);
      s.held++;
      this.#transport.send(g.owner, { id: g.request, ok: true, lock: g.id });
    }
    // A cached grant with others still queued behind it is asked back at once.
    for (const name of names) if (this.table.queuedFor(name) > 0) this.#revokeFor(name);
  }

  #error(conn: OwnerId, id: number | null, code: LockdWireCode, error: string): void {
    this.#transport.send(conn, { id, ok: false, code, error });
  }
}
