/**
 * Lock caching for {@link LockClient} (opt-in): a granted lock is kept after use until the lock
 * manager asks for it back (`revoke`); this process's concurrent operations share the grant
 * (readers together, writers one at a time, FIFO). A process that dies still releases at once.
 * @internal
 * @module
 */
import type { LockMode } from "./table.ts";

/** The real grant a cache entry keeps: the part of a lock handle the cache needs. */
export interface CachedGrant {
  readonly held: boolean;
  readonly lockId: number;
  release(): Promise<void>;
  verify(): Promise<void>;
  annotate(info: { commandPid?: number; command?: string }): Promise<boolean>;
}

interface LocalWaiter {
  mode: LockMode;
  admit(): void;
}

/** One cached grant and its local users. */
export class CacheEntry {
  readonly name: string;
  readonly mode: LockMode;
  readonly grant: CachedGrant;
  /** Asked back by the lock manager (or given up here): no new local users join. */
  revoked = false;
  #users = 0;
  #localMode: LockMode | null = null;
  #queue: LocalWaiter[] = [];
  #onGone: () => void;

  constructor(name: string, mode: LockMode, grant: CachedGrant, onGone: () => void) {
    this.name = name;
    this.mode = mode;
    this.grant = grant;
    this.#onGone = onGone;
  }

  /** Whether the cached grant can serve a local request of `mode` (now or after local users). */
  serves(mode: LockMode): boolean {
    return !this.revoked && this.grant.held && (this.mode === "exclusive" || mode === "shared");
  }

  /** Whether a local request of `mode` can start right now. */
  admissible(mode: LockMode): boolean {
    if (this.#users === 0) return true;
    return this.#localMode === "shared" && mode === "shared" && this.#queue.length === 0;
  }

  /** Start a local use (call only when {@link admissible}). */
  enter(mode: LockMode): void {
    this.#users++;
    this.#localMode = this.#users === 1 ? mode : this.#localMode;
  }

  /** Queue a local request; `admit` runs when it may enter. Returns the withdrawal. */
  wait(mode: LockMode, admit: () => void): () => void {
    const w: LocalWaiter = { mode, admit };
    this.#queue.push(w);
    return () => {
      const i = this.#queue.indexOf(w);
      if (i >= 0) this.#queue.splice(i, 1);
    };
  }

  /** End a local use: admit the next local requests, or give the grant back when asked to. */
  leave(): Promise<void> {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0) this.#localMode = null;
    while (this.#queue.length > 0 && !this.revoked) {
      const head = this.#queue[0] as LocalWaiter;
      if (!this.admissible(head.mode)) break;
      this.#queue.shift();
      this.enter(head.mode);
      head.admit();
    }
    return this.#users === 0 && this.revoked ? this.#giveBack() : Promise.resolve();
  }

  /** The lock manager wants it back (or a conflicting local request does). */
  revoke(): Promise<void> {
    this.revoked = true;
    // Local waiters go to the lock manager again, behind whoever asked.
    for (const w of this.#queue.splice(0)) w.admit();
    return this.#users === 0 ? this.#giveBack() : Promise.resolve();
  }

  #gone = false;
  #giveBack(): Promise<void> {
    if (this.#gone) return Promise.resolve();
    this.#gone = true;
    this.#onGone();
    return this.grant.held ? this.grant.release().catch(() => {}) : Promise.resolve();
  }
}
