/**
 * Cross-host "host locks" (Solaris dsvclockd's DSVC_SYNCH_CROSSHOST): a whole-file flock(2) lock
 * on a hidden file `<dir>/.<base>.lock` next to the container. Node has no flock/fcntl, so a
 * process holds it: by default a long-lived perl helper of the daemon's, one per lock directory
 * (`hostlock-helper.ts`, a pipe round trip per lock), else (no perl, or `primitive: "flock"`) a util-linux `flock(1)` child
 * per lock. On Linux, flock(2) on NFS is emulated with POSIX byte-range locks, so the lock is seen
 * by every NFS client sharing the directory and interoperates with fcntl locks taken there. One
 * host lock per container per daemon, reference-counted across the daemon's local holders and
 * waiters.
 * @internal
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { HelperError, LockHelper } from "./hostlock-helper.ts";
import type { LockMode } from "./table.ts";
import type { HostLockPrimitive } from "./defaults.ts";

/** Why a host lock could not be taken: BUSY (nonblocking, held elsewhere) or SYNCH_ERR. */
export class HostLockError extends Error {
  override name = "HostLockError";
  readonly code: "BUSY" | "SYNCH_ERR";
  constructor(code: "BUSY" | "SYNCH_ERR", message: string) {
    super(message);
    this.code = code;
  }
}

/** The hidden lock file for a crosshost lock name, or an error message for a bad name. */
export function hostLockFile(name: string): { file: string } | { error: string } {
  if (name.includes("\0")) return { error: "Crosshost lock name contains a NUL byte" };
  // A lock file path travels as one line to the helper; no DHCP container name has these.
  // deno-lint-ignore no-control-regex
  if (/[\x01-\x1f\x7f]/.test(name)) {
    return { error: `Crosshost lock name contains a control character: ${JSON.stringify(name)}` };
  }
  if (!path.isAbsolute(name)) {
    return { error: `Crosshost lock name must be an absolute path: ${name}` };
  }
  if (path.normalize(name) !== name || name.endsWith("/")) {
    return { error: `Crosshost lock name must be a normalized path: ${name}` };
  }
  const base = path.basename(name);
  if (base === "") return { error: `Crosshost lock name has no file name: ${name}` };
  return { file: path.join(path.dirname(name), `.${base}.lock`) };
}

// A constant script; the request data only ever travels as argv ($1 mode, $2 block, $3 file).
// umask 077 makes the file 0600; `<>` opens it O_RDWR|O_CREAT and never truncates; the symlink
// checks before and after the open, and -ef against the opened descriptor, refuse a lock file
// that is (or was swapped for) a symbolic link. flock reopens the very inode via /dev/fd/9 and
// runs `sh -c 'echo; exec cat'`: the newline says "acquired", and the lock lasts while cat reads
// stdin — the daemon ending the pipe, or dying, releases it.
const SCRIPT = [
  "umask 077",
  'f=$3; d=${f%/*}; [ -n "$d" ] || d=/',
  'command -v flock >/dev/null 2>&1 || { echo "flock(1) from util-linux is not installed" >&2; exit 80; }',
  'if [ -L "$d" ] || [ ! -d "$d" ]; then echo "Not an existing directory: $d" >&2; exit 81; fi',
  'if [ -L "$f" ]; then echo "Lock file is a symbolic link: $f" >&2; exit 82; fi',
  'exec 9<>"$f" || exit 83',
  'if [ -L "$f" ] || ! [ "$f" -ef /dev/fd/9 ]; then echo "Lock file was replaced: $f" >&2; exit 82; fi',
  'if [ ! -f "$f" ]; then echo "Lock file is not a regular file: $f" >&2; exit 84; fi',
  'if [ "$2" = nonblock ]; then exec flock "$1" -n -E 75 /dev/fd/9 /bin/sh -c "echo; exec cat"; fi',
  'exec flock "$1" /dev/fd/9 /bin/sh -c "echo; exec cat"',
].join("\n");

/** A held host lock, whatever holds it. */
interface Holder {
  /** Let it go; resolves once it is released. */
  drop(): Promise<void>;
  /** Call `fn` if the lock is lost while held (its process ended), not after {@link drop}. */
  onLost(fn: (why: string) => void): void;
}

/** A host lock being taken: resolves once held; `cancel` withdraws it (then it rejects). */
interface Attempt {
  holder: Promise<Holder>;
  cancel(): void;
}

export type { HostLockPrimitive } from "./defaults.ts";

/** The primitives {@link HostLockPrimitive} names. */
export const HOST_LOCK_PRIMITIVES: readonly HostLockPrimitive[] = ["auto", "helper", "flock"];

/**
 * Starting a process blocks the event loop for a few milliseconds (fork and exec happen inside
 * spawn()). Hundreds of cross-host requests in one burst used to spawn back to back and stall
 * every client for a second or more; instead spawns wait in this queue, and each turn of the
 * event loop starts only as many as fit in {@link SPAWN_SLICE_MS}, so the replies and requests of
 * other clients are handled between them.
 */
const spawnQueue: Array<() => void> = [];
let spawnDraining = false;

/** Most time (ms) one turn of the event loop spends starting host-lock helpers. */
export const SPAWN_SLICE_MS = 4;

function drainSpawns(): void {
  const t0 = performance.now();
  do {
    (spawnQueue.shift() as () => void)();
  } while (spawnQueue.length > 0 && performance.now() - t0 < SPAWN_SLICE_MS);
  if (spawnQueue.length > 0) setTimeout(drainSpawns, 0);
  else spawnDraining = false;
}

function scheduleSpawn(fn: () => void): void {
  spawnQueue.push(fn);
  if (!spawnDraining) {
    spawnDraining = true;
    setTimeout(drainSpawns, 0);
  }
}

/**
 * Spawn the flock child for `file` (paced: see {@link scheduleSpawn}); resolves once the lock is
 * held. `wanted` is asked right before the spawn: a request withdrawn meanwhile starts nothing.
 */
function takeFlock(
  file: string,
  mode: LockMode,
  nonblock: boolean,
  searchPath: string,
  wanted: () => boolean,
): Attempt {
  let child: ChildProcess | undefined;
  let withdrawn = false;
  const holder = new Promise<Holder>((resolve, reject) => {
    scheduleSpawn(() => {
      if (withdrawn || !wanted()) {
        reject(new HostLockError("SYNCH_ERR", "Host lock request withdrawn"));
        return;
      }
      spawnFlock(file, mode, nonblock, searchPath, (c) => (child = c), resolve, reject);
    });
  });
  return {
    holder,
    cancel: () => {
      withdrawn = true;
      if (child) stopChild(child);
    },
  };
}

function spawnFlock(
  file: string,
  mode: LockMode,
  nonblock: boolean,
  searchPath: string,
  onChild: (c: ChildProcess) => void,
  resolve: (h: Holder) => void,
  reject: (e: Error) => void,
): void {
  {
    let child: ChildProcess;
    try {
      child = spawn(
        "/bin/sh",
        [
          "-c",
          SCRIPT,
          "steward-hostlock",
          mode === "exclusive" ? "-x" : "-s",
          nonblock ? "nonblock" : "block",
          file,
        ],
        // A fixed search path, not the daemon's: where flock and cat are looked up.
        { stdio: ["pipe", "pipe", "pipe"], env: { PATH: searchPath, LC_ALL: "C" } },
      );
    } catch (e) {
      reject(
        new HostLockError("SYNCH_ERR", `Cannot start flock for ${file}: ${(e as Error).message}`),
      );
      return;
    }
    onChild(child);
    let err = "";
    let acquired = false;
    const exited = new Promise<void>((done) => child.once("close", () => done()));
    child.stdin?.on("error", () => {});
    child.stderr?.on("data", (d) => {
      if (err.length < 1024) err += d;
    });
    child.stdout?.on("data", () => {
      if (acquired) return;
      acquired = true;
      resolve(flockHolder(child, exited));
    });
    child.once("error", (e) => {
      if (!acquired) {
        reject(new HostLockError("SYNCH_ERR", `Cannot start flock for ${file}: ${e.message}`));
      }
    });
    child.once("exit", (code, signal) => {
      if (acquired) return;
      const why = err.trim().split("\n")[0] ?? "";
      if (code === 75) {
        reject(new HostLockError("BUSY", `Host lock is held by another host: ${file}`));
      } else {
        reject(
          new HostLockError(
            "SYNCH_ERR",
            `Cannot take host lock ${file}: ${why || `flock ended (${code ?? signal})`}`,
          ),
        );
      }
    });
  }
}

/** A flock child holding its lock; dropped, its cat sees end of input and exits with it. */
function flockHolder(child: ChildProcess, exited: Promise<void>): Holder {
  let dropped = false;
  return {
    drop: () => {
      dropped = true;
      child.stdin?.end();
      return exited;
    },
    onLost: (fn) =>
      void exited.then(() => {
        if (!dropped) fn(`its flock process ended (${child.exitCode ?? child.signalCode})`);
      }),
  };
}

/** A lock held by the helper. */
function helperHolder(helper: LockHelper, id: number, lost: Promise<string>): Holder {
  let dropped = false;
  return {
    drop: () => {
      dropped = true;
      return helper.unlock(id);
    },
    onLost: (fn) =>
      void lost.then((why) => {
        if (!dropped) fn(why);
      }),
  };
}

// A flock still waiting holds nothing: kill it (once; under Deno child.kill needs no permission).
function stopChild(c: ChildProcess): void {
  c.stdin?.end();
  if (c.exitCode === null && c.signalCode === null && !c.killed) {
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
  }
}

interface HostWaiter {
  mode: LockMode;
  nonblock: boolean;
  resolve(): void;
  reject(e: Error): void;
}

interface HostEntry {
  name: string;
  file: string;
  /** Mode of the held host lock, or null. */
  mode: LockMode | null;
  holder: Holder | undefined;
  /** Local references: granted local locks and local waiters that rely on the host lock. */
  refs: number;
  /** A host lock still being taken, and how to stop it. */
  acquiring: { attempt: Attempt | undefined; waiter: HostWaiter } | undefined;
  /**
   * A withdrawn acquisition still settling (its helper request not yet answered, its flock child
   * not yet gone): it may still get the lock for a moment, so the next one waits for it.
   */
  withdrawing: object | undefined;
  /** Dropping the held lock (before an upgrade): wait for the child to go. */
  dropping: Promise<void> | undefined;
  queue: HostWaiter[];
  /** Set while an unused host lock lingers before it is dropped. */
  linger: ReturnType<typeof setTimeout> | undefined;
}

/**
 * How long an unused host lock is kept (ms): a burst of operations on one container then costs
 * one acquisition, not one each; another host waits at most this much longer for it.
 */
export const HOST_LOCK_LINGER_MS = 20;

/** Most helper processes one {@link HostLocks} runs (one per lock directory). */
export const HOST_LOCK_HELPERS_MAX = 8;

/** Where the host-lock scripts look for perl, flock(1) and cat(1). */
export const HOST_LOCK_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Options for {@link HostLocks}. */
export interface HostLocksOptions {
  /** Directories searched for perl, flock(1) and cat(1) (default {@link HOST_LOCK_SEARCH_PATH}). */
  searchPath?: string;
  /**
   * What holds the host locks: `"helper"`, a long-lived perl process per lock directory; `"flock"`,
   * a flock(1) child per lock (the older, slower primitive); `"auto"` (default), the helper, or
   * flock(1) when perl is not installed.
   */
  primitive?: HostLockPrimitive;
  /** Keep an unused host lock this long before dropping it (default {@link HOST_LOCK_LINGER_MS}; 0 = drop at once). */
  lingerMs?: number;
}

/**
 * The daemon's host locks, one per container name. A request is granted when the host lock is
 * held exclusive, or held shared and the request is shared; an exclusive request on a shared host
 * lock waits until no local holder relies on it, then drops it and takes it exclusive. Requests
 * wait first-in first-out; a nonblocking one that cannot be served at once gets BUSY.
 */
export class HostLocks {
  #entries = new Map<string, HostEntry>();
  #lingerMs: number;
  #searchPath: string;
  #spawned = 0;
  #primitive: HostLockPrimitive;
  /** Set when perl turned out to be missing ("auto" then uses flock(1)). */
  #noPerl = false;
  /** The helpers, one per lock directory (at most {@link HOST_LOCK_HELPERS_MAX}). */
  #helpers = new Map<string, LockHelper>();
  #helpersStarted = 0;
  #closed = false;
  #lostListeners: Array<(name: string, why: string) => void> = [];

  constructor(options: HostLocksOptions = {}) {
    this.#searchPath = options.searchPath ?? HOST_LOCK_SEARCH_PATH;
    this.#lingerMs = Math.max(0, Math.min(1000, options.lingerMs ?? HOST_LOCK_LINGER_MS));
    this.#primitive = options.primitive ?? "auto";
  }

  /** How many host locks were taken (one process or helper request each), for tests and benchmarks. */
  get acquisitions(): number {
    return this.#spawned;
  }

  /** What holds the host locks now: "helper" or "flock" (for "auto", once perl was looked for). */
  get primitive(): "helper" | "flock" {
    return this.#primitive === "flock" || (this.#primitive === "auto" && this.#noPerl)
      ? "flock"
      : "helper";
  }

  /** How many helper processes were started (a new one after one ends), for tests. */
  get helpersStarted(): number {
    return this.#helpersStarted;
  }

  /** Helper processes running now, for tests. */
  get helpersRunning(): number {
    let n = 0;
    for (const h of this.#helpers.values()) if (h.alive) n++;
    return n;
  }

  /** The process id of a running helper, for tests. */
  get helperPid(): number | undefined {
    for (const h of this.#helpers.values()) if (h.alive) return h.pid;
    return undefined;
  }

  /**
   * Call `fn(name, why)` when a host lock that local holders or waiters rely on is lost (the
   * process holding it ended): they are no longer protected from other hosts and must be told.
   */
  onLost(fn: (name: string, why: string) => void): void {
    this.#lostListeners.push(fn);
  }

  /** True when no host lock is held, taken, dropped or waited for. */
  get idle(): boolean {
    return this.#entries.size === 0;
  }

  /** Number of host locks held right now. */
  get held(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.holder) n++;
    return n;
  }

  /**
   * Take a reference on the host lock of `name` in `mode`; resolves when it is held. The
   * returned `cancel` withdraws a request still waiting (it then rejects with ABORTED).
   */
  acquire(
    name: string,
    mode: LockMode,
    nonblock: boolean,
  ): { granted: Promise<void>; cancel: () => void } {
    const target = hostLockFile(name);
    if ("error" in target) {
      return {
        granted: Promise.reject(new HostLockError("SYNCH_ERR", target.error)),
        cancel: () => {},
      };
    }
    let entry = this.#entries.get(name);
    if (!entry) {
      entry = {
        name,
        file: target.file,
        mode: null,
        holder: undefined,
        refs: 0,
        acquiring: undefined,
        withdrawing: undefined,
        dropping: undefined,
        queue: [],
        linger: undefined,
      };
      this.#entries.set(name, entry);
    }
    const e = entry;
    let waiter!: HostWaiter;
    const granted = new Promise<void>((
      resolve,
      reject,
    ) => (waiter = { mode, nonblock, resolve, reject }));
    if (e.queue.length === 0 && e.holder && (e.mode === "exclusive" || mode === "shared")) {
      this.#stopLinger(e);
      e.refs++;
      waiter.resolve();
      return { granted, cancel: () => {} };
    }
    // Busy here means local contention: others queued or taking it, or local holders of a shared
    // host lock that an exclusive request would have to wait for. A host lock being dropped, or
    // lingering unused, is not: the request waits for the drop, then tries flock without waiting.
    if (nonblock && (e.queue.length > 0 || e.acquiring || (e.holder && e.refs > 0))) {
      this.#forgetIfUnused(e);
      return {
        granted: Promise.reject(new HostLockError("BUSY", `Host lock is busy: ${e.file}`)),
        cancel: () => {},
      };
    }
    e.queue.push(waiter);
    this.#pump(e);
    const cancel = () => {
      const i = e.queue.indexOf(waiter);
      if (i >= 0) {
        e.queue.splice(i, 1);
        waiter.reject(new HostLockError("SYNCH_ERR", "Host lock request withdrawn"));
      } else if (e.acquiring?.waiter === waiter) {
        const a = e.acquiring.attempt;
        e.withdrawing = e.acquiring;
        e.acquiring = undefined;
        waiter.reject(new HostLockError("SYNCH_ERR", "Host lock request withdrawn"));
        a?.cancel();
      } else return;
      this.#pump(e);
    };
    granted.catch(() => {});
    return { granted, cancel };
  }

  /**
   * Drop one reference taken by {@link HostLocks.acquire}; resolves once a host lock this let go
   * is really released, so other hosts can have it at once.
   */
  release(name: string): Promise<void> {
    const e = this.#entries.get(name);
    if (!e || e.refs === 0) return Promise.resolve();
    e.refs--;
    this.#pump(e);
    return e.dropping ?? Promise.resolve();
  }

  /** Drop every host lock at once and end the helper (the daemon is stopping). */
  async close(): Promise<void> {
    this.#closed = true;
    const drops: Promise<void>[] = [];
    for (const e of this.#entries.values()) {
      for (const w of e.queue) w.reject(new HostLockError("SYNCH_ERR", "Lock manager is stopping"));
      e.queue = [];
      this.#stopLinger(e);
      e.acquiring?.attempt?.cancel();
      e.acquiring = undefined;
      if (e.holder) drops.push(e.holder.drop());
      e.holder = undefined;
    }
    this.#entries.clear();
    await Promise.all(drops);
    const helpers = [...this.#helpers.values()];
    this.#helpers.clear();
    await Promise.all(helpers.map((h) => h.stop()));
  }

  /** Kill the helper processes, as if they had crashed (tests). */
  killHelper(): void {
    for (const h of this.#helpers.values()) h.kill();
  }

  #pump(e: HostEntry): void {
    while (e.queue.length > 0) {
      if (e.acquiring || e.dropping || e.withdrawing) return;
      const head = e.queue[0] as HostWaiter;
      if (e.holder && (e.mode === "exclusive" || head.mode === "shared")) {
        this.#stopLinger(e);
        e.queue.shift();
        e.refs++;
        head.resolve();
        continue;
      }
      if (e.holder) {
        // Shared held, exclusive wanted: local shared holders first, then drop and upgrade.
        if (e.refs > 0) return;
        this.#drop(e);
        return;
      }
      e.queue.shift();
      this.#take(e, head);
      return;
    }
    if (e.refs === 0 && !e.acquiring && !e.dropping && !e.withdrawing) {
      if (!e.holder) this.#forget(e);
      else if (this.#lingerMs === 0) this.#drop(e);
      else if (!e.linger) {
        e.linger = setTimeout(() => {
          e.linger = undefined;
          if (e.refs === 0 && e.queue.length === 0 && e.holder && !e.dropping) this.#drop(e);
        }, this.#lingerMs);
      }
    }
  }

  #stopLinger(e: HostEntry): void {
    if (e.linger) clearTimeout(e.linger);
    e.linger = undefined;
  }

  #drop(e: HostEntry): void {
    this.#stopLinger(e);
    const h = e.holder as Holder;
    e.holder = undefined;
    e.mode = null;
    e.dropping = h.drop().then(() => {
      e.dropping = undefined;
      this.#pump(e);
    });
  }

  #take(e: HostEntry, w: HostWaiter): void {
    this.#spawned++;
    const slot: { attempt: Attempt | undefined; waiter: HostWaiter } = {
      attempt: undefined,
      waiter: w,
    };
    e.acquiring = slot;
    const attempt = this.#attempt(e.file, w.mode, w.nonblock, () => e.acquiring === slot);
    slot.attempt = attempt;
    attempt.holder.then(
      (holder) => {
        if (e.acquiring !== slot) {
          // Withdrawn while it was being taken: let it go again.
          void holder.drop().then(() => this.#settled(e, slot));
          return;
        }
        e.acquiring = undefined;
        e.holder = holder;
        e.mode = w.mode;
        // Its process ended (killed from outside, a crash): the lock went with it. Whoever relied
        // on it is told; the next request takes it anew.
        holder.onLost((why) => {
          if (e.holder !== holder) return;
          e.holder = undefined;
          e.mode = null;
          this.#stopLinger(e);
          if (e.refs > 0) {
            for (const fn of this.#lostListeners) fn(e.name, `Host lock lost: ${e.file}: ${why}`);
          }
          this.#pump(e);
        });
        e.refs++;
        w.resolve();
        this.#pump(e);
      },
      (err: Error) => {
        if (e.acquiring !== slot) {
          this.#settled(e, slot);
          return;
        }
        e.acquiring = undefined;
        w.reject(err);
        this.#pump(e);
      },
    );
  }

  /** Start taking the lock on `file` with the configured primitive. */
  #attempt(file: string, mode: LockMode, nonblock: boolean, wanted: () => boolean): Attempt {
    if (this.primitive === "flock") {
      return takeFlock(file, mode, nonblock, this.#searchPath, wanted);
    }
    const first = this.#takeHelper(file, mode, nonblock);
    let fallback: Attempt | undefined;
    let withdrawn = false;
    const holder = first.holder.catch((err: unknown) => {
      if (!(err instanceof HelperError && err.code === "NO_HELPER")) throw err;
      if (this.#primitive === "helper") throw new HostLockError("SYNCH_ERR", err.message);
      // "auto" without perl: flock(1) from now on.
      this.#noPerl = true;
      if (withdrawn) throw new HostLockError("SYNCH_ERR", "Host lock request withdrawn");
      fallback = takeFlock(file, mode, nonblock, this.#searchPath, wanted);
      return fallback.holder;
    });
    return {
      holder,
      cancel: () => {
        withdrawn = true;
        first.cancel();
        fallback?.cancel();
      },
    };
  }

  /**
   * The helper for lock directory `dir`, started if need be. One per directory, so that an NFS
   * server that stops answering stalls only the locks of its own locations; past
   * {@link HOST_LOCK_HELPERS_MAX} directories, an idle helper of another directory is ended to
   * make room, or (none idle) the directory shares a running helper.
   */
  #helperFor(dir: string): LockHelper | { error: string } {
    const have = this.#helpers.get(dir);
    if (have?.alive) return have;
    this.#helpers.delete(dir);
    for (const [d, h] of this.#helpers) if (!h.alive) this.#helpers.delete(d);
    if (this.#helpers.size >= HOST_LOCK_HELPERS_MAX) {
      const idle = [...this.#helpers].find(([, h]) => h.idle);
      if (idle) {
        this.#helpers.delete(idle[0]);
        void idle[1].stop();
      } else return this.#helpers.values().next().value as LockHelper;
    }
    try {
      const h = new LockHelper(this.#searchPath);
      this.#helpers.set(dir, h);
      this.#helpersStarted++;
      return h;
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  #takeHelper(file: string, mode: LockMode, nonblock: boolean): Attempt {
    if (this.#closed) {
      return {
        holder: Promise.reject(new HostLockError("SYNCH_ERR", "Lock manager is stopping")),
        cancel: () => {},
      };
    }
    const helper = this.#helperFor(path.dirname(file));
    if ("error" in helper) {
      return {
        holder: Promise.reject(
          new HostLockError("SYNCH_ERR", `Cannot start the host lock helper: ${helper.error}`),
        ),
        cancel: () => {},
      };
    }
    let lost!: (why: string) => void;
    const lostP = new Promise<string>((resolve) => (lost = resolve));
    const req = helper.lock(file, mode, nonblock, lost);
    return {
      holder: req.locked.then(
        () => helperHolder(helper, req.id, lostP),
        (err: unknown) => {
          if (!(err instanceof HelperError)) throw err;
          if (err.code === "NO_HELPER") throw err;
          throw new HostLockError(
            err.code === "BUSY" ? "BUSY" : "SYNCH_ERR",
            err.code === "BUSY" ? `Host lock is held by another host: ${file}` : err.message,
          );
        },
      ),
      cancel: req.cancel,
    };
  }

  /** A withdrawn acquisition settled (failed, or got the lock and let it go again). */
  #settled(e: HostEntry, slot: object): void {
    if (e.withdrawing !== slot) return;
    e.withdrawing = undefined;
    this.#pump(e);
  }

  #forgetIfUnused(e: HostEntry): void {
    if (
      e.refs === 0 && !e.holder && !e.acquiring && !e.dropping && !e.withdrawing &&
      e.queue.length === 0
    ) {
      this.#forget(e);
    }
  }

  // Only this entry: a late callback of one already forgotten must not remove its successor.
  #forget(e: HostEntry): void {
    if (this.#entries.get(e.name) === e) this.#entries.delete(e.name);
  }
}
