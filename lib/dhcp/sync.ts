/**
 * Container synchronization: an in-process FIFO reader/writer lock per container (so overlapping
 * async calls never interleave an update with anything else on that container), then the
 * inter-process lock from the lock manager (cross-host too when the module declares
 * DSVC_SYNCH_CROSSHOST); lock errors become DSVC_* codes.
 * @module
 */
import type { Synchronizer, SyncLock, SyncMode } from "./store-api.ts";
import { type CommitFence, DSVC, DsvcError } from "./spi.ts";

interface Waiter {
  mode: SyncMode;
  grant: () => void;
}

/** A FIFO reader/writer lock: readers share, a writer is alone, readers queue behind a waiting writer. */
class RwLock {
  readers = 0;
  writer = false;
  readonly queue: Waiter[] = [];

  private admissible(mode: SyncMode): boolean {
    if (mode === "shared") return !this.writer && this.queue.length === 0;
    return !this.writer && this.readers === 0 && this.queue.length === 0;
  }

  private take(mode: SyncMode): void {
    if (mode === "shared") this.readers++;
    else this.writer = true;
  }

  tryAcquire(mode: SyncMode): boolean {
    if (!this.admissible(mode)) return false;
    this.take(mode);
    return true;
  }

  acquire(mode: SyncMode): Promise<void> {
    if (this.tryAcquire(mode)) return Promise.resolve();
    return new Promise((resolve) => this.queue.push({ mode, grant: resolve }));
  }

  release(mode: SyncMode): void {
    if (mode === "shared") this.readers--;
    else this.writer = false;
    // Wake the head; consecutive readers at the head wake together.
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      if (head.mode === "exclusive") {
        if (this.readers === 0 && !this.writer) {
          this.queue.shift();
          this.take("exclusive");
          head.grant();
        }
        return;
      }
      if (this.writer) return;
      this.queue.shift();
      this.take("shared");
      head.grant();
    }
  }

  idle(): boolean {
    return this.readers === 0 && !this.writer && this.queue.length === 0;
  }
}

// One table per process, shared by every store that names the same container.
const locks = new Map<string, RwLock>();

/** Hold the in-process lock `name` in `mode` while `fn` runs; DSVC_BUSY at once when `nonblock` and taken. */
export async function withProcessLock<T>(
  name: string,
  mode: SyncMode,
  nonblock: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  let lock = locks.get(name);
  if (!lock) {
    lock = new RwLock();
    locks.set(name, lock);
  }
  if (nonblock) {
    if (!lock.tryAcquire(mode)) {
      throw new DsvcError(DSVC.BUSY, `${name} is locked by another call in this process`);
    }
  } else {
    await lock.acquire(mode);
  }
  try {
    return await fn();
  } finally {
    lock.release(mode);
    if (lock.idle()) locks.delete(name);
  }
}

/** The DSVC error for a lock-manager failure (BUSY, NO_LOCKMGR, else SYNCH_ERR). */
export function lockErrorToDsvc(e: unknown, name: string): DsvcError {
  if (e instanceof DsvcError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "BUSY") return new DsvcError(DSVC.BUSY, `${name} is locked`, { cause: e });
  // The DSVC message ("Cannot contact lock manager") is printed before this one: say it once.
  if (code === "NO_LOCKMGR") {
    return new DsvcError(DSVC.NO_LOCKMGR, msg.replace(/^Cannot contact lock manager: /, ""), {
      cause: e,
    });
  }
  return new DsvcError(DSVC.SYNCH_ERR, `${name}: ${msg}`, { cause: e });
}

/** The fence of an unsynchronized store: only the in-process lock guards it, and that cannot be lost. */
export const NO_FENCE: CommitFence = { check: () => Promise.resolve() };

/**
 * The fence of a held lock: `check()` asks the synchronizer whether `held` is still held (a
 * lock-manager round trip for lockd) and turns any doubt into DSVC_SYNCH_ERR, so a writer
 * whose lock manager died never commits next to a writer holding the next manager's lock.
 */
export function lockFence(held: SyncLock, name: string): CommitFence & { retire(): void } {
  let released = false;
  return {
    async check() {
      if (released) {
        throw new DsvcError(DSVC.SYNCH_ERR, `Lock already released, not committing: ${name}`);
      }
      if (!held.verify) return;
      try {
        await held.verify();
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new DsvcError(
          DSVC.SYNCH_ERR,
          `The container's lock was lost, so nothing was written: ${why}`,
          { cause: e },
        );
      }
    },
    /** Called at release: the fence fails from then on. */
    retire() {
      released = true;
    },
  };
}

/**
 * Hold the inter-process lock `name` from `sync` while `fn` runs; with `crosshost` also the
 * lock manager's host lock, which excludes other hosts sharing the location over NFS. `fn`
 * gets the lock's fence, to check right before it commits.
 */
export async function withSyncLock<T>(
  sync: Synchronizer,
  name: string,
  options: { mode: SyncMode; nonblock: boolean; crosshost?: boolean },
  fn: (fence: CommitFence) => Promise<T>,
): Promise<T> {
  let held: SyncLock;
  try {
    held = await sync.acquire(
      name,
      // Only when wanted: a synchronizer that knows nothing of hosts sees the same call as before.
      options.crosshost
        ? { mode: options.mode, nonblock: options.nonblock, crosshost: true }
        : { mode: options.mode, nonblock: options.nonblock },
    );
  } catch (e) {
    throw lockErrorToDsvc(e, name);
  }
  const fence = lockFence(held, name);
  try {
    return await fn(fence);
  } finally {
    // A fence kept past the block (a stray async write) must not pass after the release.
    fence.retire();
    // A failed release still frees the lock: the lock manager drops it with the connection.
    await held.release().catch(() => {});
  }
}

/** A Synchronizer inside one process (tests, or a single server process that owns the store). */
export class MemorySynchronizer implements Synchronizer {
  private closed = false;
  /** Acquire `name`; BUSY (as DsvcError) at once when nonblock and taken. */
  async acquire(
    name: string,
    options: { mode: SyncMode; nonblock?: boolean; crosshost?: boolean },
  ): Promise<SyncLock> {
    if (this.closed) throw new DsvcError(DSVC.NO_LOCKMGR, "synchronizer is closed");
    const key = `memory:${name}`;
    let lock = locks.get(key);
    if (!lock) {
      lock = new RwLock();
      locks.set(key, lock);
    }
    const l = lock;
    if (options.nonblock) {
      if (!l.tryAcquire(options.mode)) {
        throw Object.assign(new Error(`${name} is locked`), { code: "BUSY" });
      }
    } else await l.acquire(options.mode);
    let released = false;
    return {
      verify: () =>
        released
          ? Promise.reject(Object.assign(new Error(`${name} was released`), { code: "SYNCH_ERR" }))
          : Promise.resolve(),
      release: () => {
        if (!released) {
          released = true;
          l.release(options.mode);
          if (l.idle()) locks.delete(key);
        }
        return Promise.resolve();
      },
    };
  }
  /** Refuse further acquisitions. */
  close(): void {
    this.closed = true;
  }
}
