/**
 * The lock table: named reader/writer locks with a FIFO wait queue, as Solaris dsvclockd keeps
 * them. Pure: no sockets, no timers; the daemon feeds it requests and acts on what it returns.
 * @internal
 * @module
 */

/** Shared (reader) or exclusive (writer). */
export type LockMode = "shared" | "exclusive";

/** Who asked: one connection of the daemon. */
export type OwnerId = number;

/** A granted lock. */
export interface Grant {
  /** Unique for the daemon's lifetime: the unlock token. */
  readonly id: number;
  readonly name: string;
  readonly mode: LockMode;
  readonly owner: OwnerId;
  /** Process id the owner announced, if any. */
  readonly pid: number | undefined;
  /** What the owner said it runs (shown in status), if anything. */
  readonly command: string | undefined;
  /** When it was granted (ms since the epoch). */
  readonly since: number;
  /** The request that asked for it (the owner's request id). */
  readonly request: number;
}

/** A queued request. */
export interface Waiter {
  readonly owner: OwnerId;
  readonly request: number;
  readonly name: string;
  readonly mode: LockMode;
  readonly pid: number | undefined;
  /** What the owner said it runs (shown in status), if anything. */
  readonly command: string | undefined;
  /** When it was queued (ms since the epoch). */
  readonly since: number;
}

/** A request for {@link LockTable.acquire}. */
export interface AcquireRequest {
  name: string;
  mode: LockMode;
  owner: OwnerId;
  /** The owner's id for this request; unique among the owner's pending requests. */
  request: number;
  nonblock?: boolean;
  pid?: number | undefined;
  command?: string | undefined;
  /** Current time (ms since the epoch). */
  now: number;
}

/** What became of an acquire request. */
export type AcquireResult =
  | { status: "granted"; grant: Grant }
  | { status: "busy" }
  | { status: "queued"; waiter: Waiter };

/** What became of a release request. */
export type ReleaseResult =
  | { ok: true; grant: Grant; woken: Grant[] }
  | { ok: false; reason: "unknown" | "released" | "not-owner" };

interface Entry {
  name: string;
  /** Mode of the current holders; meaningless when there are none. */
  mode: LockMode;
  holders: Map<number, Grant>;
  queue: Waiter[];
}

/** One lock of {@link LockTable.list}. */
export interface LockInfo {
  name: string;
  /** Mode of the holders, or null when only waiters remain (momentarily). */
  mode: LockMode | null;
  holders: Grant[];
  waiters: Waiter[];
}

/**
 * Per-name reader/writer locks. A reader is admitted when no writer holds the lock and nobody is
 * queued; a writer when nobody holds it; everyone else waits first-in first-out. When the lock
 * frees up the head of the queue is admitted, and readers behind an admitted reader follow it.
 */
export class LockTable {
  #entries = new Map<string, Entry>();
  #grants = new Map<number, Grant>();
  #byOwner = new Map<OwnerId, Set<number>>();
  #waiting = new Map<string, Waiter>(); // key `${owner}:${request}`
  #nextGrant = 1;

  /** Number of locks held right now. */
  get held(): number {
    return this.#grants.size;
  }

  /** Number of queued requests right now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** True when nothing is held and nobody waits. */
  get idle(): boolean {
    return this.#grants.size === 0 && this.#waiting.size === 0;
  }

  /** Ask for a lock: granted at once, busy (nonblocking only) or queued. */
  acquire(req: AcquireRequest): AcquireResult {
    let entry = this.#entries.get(req.name);
    if (!entry) {
      entry = { name: req.name, mode: req.mode, holders: new Map(), queue: [] };
      this.#entries.set(req.name, entry);
    }
    if (admissible(entry, req.mode, true)) {
      return { status: "granted", grant: this.#grant(entry, req) };
    }
    if (req.nonblock) {
      this.#dropIfUnused(entry);
      return { status: "busy" };
    }
    const waiter: Waiter = {
      owner: req.owner,
      request: req.request,
      name: req.name,
      mode: req.mode,
      pid: req.pid,
      command: req.command,
      since: req.now,
    };
    entry.queue.push(waiter);
    this.#waiting.set(waitKey(req.owner, req.request), waiter);
    return { status: "queued", waiter };
  }

  /** Release grant `id` on behalf of `owner`; returns the waiters it let in. */
  release(id: number, owner: OwnerId, now: number): ReleaseResult {
    const grant = this.#grants.get(id);
    // Ids are handed out in order and never reused: a past id not held now was released.
    if (!grant) {
      return { ok: false, reason: id > 0 && id < this.#nextGrant ? "released" : "unknown" };
    }
    if (grant.owner !== owner) return { ok: false, reason: "not-owner" };
    const entry = this.#entries.get(grant.name) as Entry;
    this.#forget(grant, entry);
    return { ok: true, grant, woken: this.#wake(entry, now) };
  }

  /** Withdraw a queued request; returns it (or undefined) and the waiters its leaving let in. */
  cancel(owner: OwnerId, request: number, now: number): { waiter?: Waiter; woken: Grant[] } {
    const key = waitKey(owner, request);
    const waiter = this.#waiting.get(key);
    if (!waiter) return { woken: [] };
    this.#waiting.delete(key);
    const entry = this.#entries.get(waiter.name) as Entry;
    const i = entry.queue.indexOf(waiter);
    if (i >= 0) entry.queue.splice(i, 1);
    return { waiter, woken: this.#wake(entry, now) };
  }

  /** Release everything `owner` holds and withdraw all it waits for (its connection closed). */
  releaseOwner(
    owner: OwnerId,
    now: number,
  ): { released: Grant[]; cancelled: Waiter[]; woken: Grant[] } {
    const touched = new Set<Entry>();
    const cancelled: Waiter[] = [];
    for (const [key, w] of this.#waiting) {
      if (w.owner !== owner) continue;
      this.#waiting.delete(key);
      const entry = this.#entries.get(w.name) as Entry;
      entry.queue.splice(entry.queue.indexOf(w), 1);
      cancelled.push(w);
      touched.add(entry);
    }
    const released: Grant[] = [];
    for (const id of [...(this.#byOwner.get(owner) ?? [])]) {
      const grant = this.#grants.get(id) as Grant;
      const entry = this.#entries.get(grant.name) as Entry;
      this.#forget(grant, entry);
      released.push(grant);
      touched.add(entry);
    }
    this.#byOwner.delete(owner);
    const woken: Grant[] = [];
    for (const entry of touched) woken.push(...this.#wake(entry, now));
    return { released, cancelled, woken };
  }

  /** How many requests wait for lock `name`. */
  queuedFor(name: string): number {
    return this.#entries.get(name)?.queue.length ?? 0;
  }

  /** The grant with id `id`, if it is held. */
  grant(id: number): Grant | undefined {
    return this.#grants.get(id);
  }

  /** The holders of lock `name` (empty when nobody holds it). */
  holdersOf(name: string): Grant[] {
    const e = this.#entries.get(name);
    return e ? [...e.holders.values()] : [];
  }

  /** Number of distinct owners holding at least one lock. */
  get holdingOwners(): number {
    let n = 0;
    for (const set of this.#byOwner.values()) if (set.size > 0) n++;
    return n;
  }

  /** Number of locks with holders or waiters. */
  get count(): number {
    return this.#entries.size;
  }

  /** Every lock with holders or waiters, by name; with `max`, the first `max` of them. */
  list(max = Infinity): LockInfo[] {
    const entries = [...this.#entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return entries.slice(0, max).map((e) => ({
      name: e.name,
      mode: e.holders.size > 0 ? e.mode : null,
      holders: [...e.holders.values()],
      waiters: [...e.queue],
    }));
  }

  #grant(
    entry: Entry,
    req: {
      owner: OwnerId;
      request: number;
      mode: LockMode;
      pid?: number | undefined;
      command?: string | undefined;
      now: number;
    },
  ): Grant {
    const grant: Grant = {
      id: this.#nextGrant++,
      name: entry.name,
      mode: req.mode,
      owner: req.owner,
      pid: req.pid,
      command: req.command,
      since: req.now,
      request: req.request,
    };
    entry.mode = req.mode;
    entry.holders.set(grant.id, grant);
    this.#grants.set(grant.id, grant);
    let mine = this.#byOwner.get(req.owner);
    if (!mine) {
      mine = new Set();
      this.#byOwner.set(req.owner, mine);
    }
    mine.add(grant.id);
    return grant;
  }

  #forget(grant: Grant, entry: Entry): void {
    entry.holders.delete(grant.id);
    this.#grants.delete(grant.id);
    this.#byOwner.get(grant.owner)?.delete(grant.id);
  }

  // Admit the head of the queue while it fits; a reader admitted lets the readers behind it in.
  #wake(entry: Entry, now: number): Grant[] {
    const woken: Grant[] = [];
    for (;;) {
      const head = entry.queue[0];
      if (!head || !admissible(entry, head.mode, false)) break;
      entry.queue.shift();
      this.#waiting.delete(waitKey(head.owner, head.request));
      woken.push(this.#grant(entry, { ...head, now }));
    }
    this.#dropIfUnused(entry);
    return woken;
  }

  #dropIfUnused(entry: Entry): void {
    if (entry.holders.size === 0 && entry.queue.length === 0) this.#entries.delete(entry.name);
  }
}

function admissible(entry: Entry, mode: LockMode, newcomer: boolean): boolean {
  if (entry.holders.size === 0) return !newcomer || entry.queue.length === 0;
  if (mode === "exclusive") return false;
  return entry.mode === "shared" && (!newcomer || entry.queue.length === 0);
}

function waitKey(owner: OwnerId, request: number): string {
  return `${owner}:${request}`;
}
