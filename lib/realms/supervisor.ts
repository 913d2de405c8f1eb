/**
 * Supervision of one realm's manager as an explicit state machine. States and transitions are
 * named; every transition is reported; time and processes are injected so that every step can
 * be tested with a fake clock and a fake launcher.
 *
 * ```
 * inactive --start--> starting --spawned--> running --exited--> backoff --backoff-elapsed--> starting
 *                     starting --spawn-error (first try)--> failed
 *                     running  --exited (too many failures)--> failed
 *                     running  --exited (code 0, restart on-failure)--> inactive
 * running --stop--> stopping --exited--> inactive      stopping --stop-deadline--> stopping (SIGKILL to the group)
 * backoff|failed --stop--> inactive                    failed --start--> starting
 * inactive --adopt--> running (a manager left by a previous daemon)
 * ```
 * @module
 */

/** The states of a supervised realm. */
export type RealmState = "inactive" | "starting" | "running" | "backoff" | "stopping" | "failed";

/** What made a transition happen. */
export type RealmEvent =
  | "start"
  | "spawned"
  | "spawn-error"
  | "exited"
  | "backoff-elapsed"
  | "gave-up"
  | "stop"
  | "stop-deadline"
  | "adopt";

/** One transition, as reported to the log and kept in the realm's history. */
export interface Transition {
  realm: string;
  from: RealmState;
  to: RealmState;
  event: RealmEvent;
  detail: string;
  at: number;
}

/** When a manager that exits is started again. */
export type RestartPolicy = "on-failure" | "always" | "never";

/** Restart and stop limits of a realm (realms-file fields, see docs/realms.md). */
export interface SupervisionPolicy {
  /** Delay before the first restart; doubled after each further failure. */
  restartDelayMs: number;
  /** Ceiling of the restart delay. */
  maxRestartDelayMs: number;
  /** Consecutive failures restarted before the realm is marked failed. */
  maxRestarts: number;
  /** A run at least this long resets the failure count. */
  stableAfterMs: number;
  /** Which exits are restarted. */
  restart: RestartPolicy;
  /** Signal asking the manager to stop. */
  stopSignal: NodeJS.Signals;
  /** Time allowed after the stop signal before SIGKILL. */
  stopTimeoutMs: number;
  /** Time allowed after SIGKILL before the stop is reported as failed. */
  killTimeoutMs: number;
}

/** Defaults of {@link SupervisionPolicy}. */
export const DEFAULT_POLICY: Readonly<SupervisionPolicy> = Object.freeze({
  restartDelayMs: 1000,
  maxRestartDelayMs: 30_000,
  maxRestarts: 5,
  stableAfterMs: 60_000,
  restart: "on-failure",
  stopSignal: "SIGTERM",
  stopTimeoutMs: 5000,
  killTimeoutMs: 2000,
});

/** The delay before restart number `failures` (1-based): base × 2^(failures−1), capped. */
export function backoffDelay(policy: SupervisionPolicy, failures: number): number {
  const exp = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(policy.maxRestartDelayMs, policy.restartDelayMs * 2 ** exp);
}

/** Time, injectable for tests. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** How a manager process ended. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** A running manager. */
export interface ManagerProcess {
  readonly pid: number;
  /** True for a manager found from a previous daemon run (not our child). */
  readonly adopted: boolean;
  /**
   * Send `sig` to the manager's pid (`pid`, the default, as upstream does) or to its whole
   * process group (`group`); false when it is gone.
   */
  signal(sig: NodeJS.Signals, scope?: "pid" | "group"): boolean;
}

/** Callbacks a launcher reports to: exactly one of onSpawn/onError, then onExit after onSpawn. */
export interface LaunchHooks {
  onSpawn(process: ManagerProcess): void;
  onError(error: Error): void;
  onExit(exit: ExitInfo): void;
}

/** Starts managers (real processes, or fakes in tests). */
export interface Launcher {
  /** Start the realm's manager. */
  launch(hooks: LaunchHooks): void;
  /** Watch a manager left by a previous run; undefined when it is gone. */
  adopt?(pid: number, hooks: Pick<LaunchHooks, "onExit">): ManagerProcess | undefined;
}

/** What `status` shows for a realm. */
export interface RealmSnapshot {
  name: string;
  state: RealmState;
  pid: number | undefined;
  adopted: boolean;
  /** When the current state was entered (ms since the epoch). */
  since: number;
  /** Consecutive failures counted towards the limit. */
  failures: number;
  /** Restarts made since the realm was last started by hand. */
  restarts: number;
  lastExit: ExitInfo | undefined;
  /** When the next restart is due (backoff only). */
  restartAt: number | undefined;
  /** Why the realm failed (failed only). */
  reason: string | undefined;
}

/** Outcome of a start or stop request. */
export interface ActionResult {
  ok: boolean;
  /** Why it was refused or failed. */
  reason: string;
}

/** Options of {@link RealmSupervisor}. */
export interface SupervisorOptions {
  launcher: Launcher;
  policy?: Partial<SupervisionPolicy>;
  clock?: Clock;
  /** Called for every transition (the daemon logs it). */
  onTransition?: (t: Transition) => void;
  /** How many transitions to keep in {@link RealmSupervisor.history}. */
  historySize?: number;
}

type Waiter = (r: ActionResult) => void;

/** Describe an exit for humans: `exit code 3`, `signal SIGKILL`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `signal ${exit.signal}`;
  if (exit.code === null) return "unknown status";
  return `exit code ${exit.code}`;
}

/** The supervisor of one realm. */
export class RealmSupervisor {
  readonly name: string;
  policy: SupervisionPolicy;
  launcher: Launcher;
  readonly history: Transition[] = [];
  #state: RealmState = "inactive";
  #since: number;
  #proc: ManagerProcess | undefined;
  #startedAt = 0;
  #failures = 0;
  #restarts = 0;
  #lastExit: ExitInfo | undefined;
  #restartAt: number | undefined;
  #reason: string | undefined;
  #timer: unknown;
  #firstAttempt = false;
  #stopWanted = false;
  #killed = false;
  #generation = 0;
  #startWaiters: Waiter[] = [];
  #stopWaiters: Waiter[] = [];
  readonly #clock: Clock;
  readonly #onTransition: ((t: Transition) => void) | undefined;
  readonly #historySize: number;

  constructor(name: string, options: SupervisorOptions) {
    this.name = name;
    this.launcher = options.launcher;
    this.policy = { ...DEFAULT_POLICY, ...options.policy };
    this.#clock = options.clock ?? systemClock;
    this.#onTransition = options.onTransition;
    this.#historySize = options.historySize ?? 50;
    this.#since = this.#clock.now();
  }

  /** The current state. */
  get state(): RealmState {
    return this.#state;
  }

  /** The manager's pid while there is one. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** True for every state except inactive (upstream's "active"). */
  get active(): boolean {
    return this.#state !== "inactive";
  }

  /** A copy of the realm's supervision state. */
  snapshot(): RealmSnapshot {
    return {
      name: this.name,
      state: this.#state,
      pid: this.#proc?.pid,
      adopted: this.#proc?.adopted ?? false,
      since: this.#since,
      failures: this.#failures,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      restartAt: this.#state === "backoff" ? this.#restartAt : undefined,
      reason: this.#state === "failed" ? this.#reason : undefined,
    };
  }

  /**
   * Start the manager (from inactive or failed). Resolves once it runs, or with the reason it
   * was refused or could not be spawned.
   */
  start(): Promise<ActionResult> {
    if (this.#state !== "inactive" && this.#state !== "failed") {
      return Promise.resolve({ ok: false, reason: `realm is already ${this.#state}` });
    }
    this.#failures = 0;
    this.#restarts = 0;
    this.#reason = undefined;
    this.#firstAttempt = true;
    const done = new Promise<ActionResult>((resolve) => this.#startWaiters.push(resolve));
    this.#launch("start", "started by request");
    return done;
  }

  /**
   * Stop the manager: the stop signal, then SIGKILL after the deadline. Resolves when the manager
   * is gone (ok) or did not exit even after SIGKILL (not ok).
   */
  stop(): Promise<ActionResult> {
    switch (this.#state) {
      case "inactive":
        return Promise.resolve({ ok: false, reason: "realm is not active" });
      case "backoff":
      case "failed":
        this.#cancelTimer();
        this.#to("inactive", "stop", "stopped by request");
        return Promise.resolve({ ok: true, reason: "" });
      case "starting": {
        this.#stopWanted = true;
        return new Promise((resolve) => this.#stopWaiters.push(resolve));
      }
      case "stopping":
        return new Promise((resolve) => this.#stopWaiters.push(resolve));
      case "running": {
        const done = new Promise<ActionResult>((resolve) => this.#stopWaiters.push(resolve));
        this.#beginStop();
        return done;
      }
    }
  }

  /** Take over a manager left running by a previous daemon (inactive → running). */
  adopt(pid: number): boolean {
    if (this.#state !== "inactive" || !this.launcher.adopt) return false;
    const gen = ++this.#generation;
    const proc = this.launcher.adopt(pid, { onExit: (x) => this.#exited(gen, x) });
    if (!proc) return false;
    this.#proc = proc;
    this.#startedAt = this.#clock.now();
    this.#failures = 0;
    this.#restarts = 0;
    this.#to("running", "adopt", `manager pid ${pid} from a previous run`);
    return true;
  }

  #to(next: RealmState, event: RealmEvent, detail: string): void {
    const t: Transition = {
      realm: this.name,
      from: this.#state,
      to: next,
      event,
      detail,
      at: this.#clock.now(),
    };
    this.#state = next;
    this.#since = t.at;
    this.history.push(t);
    if (this.history.length > this.#historySize) this.history.shift();
    this.#onTransition?.(t);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#restartAt = undefined;
  }

  #settle(waiters: Waiter[], r: ActionResult): void {
    for (const w of waiters.splice(0)) w(r);
  }

  #launch(event: RealmEvent, detail: string): void {
    const gen = ++this.#generation;
    this.#stopWanted = false;
    this.#killed = false;
    this.#to("starting", event, detail);
    let spawned = false;
    try {
      this.launcher.launch({
        onSpawn: (p) => {
          if (gen !== this.#generation) return;
          spawned = true;
          this.#spawned(p);
        },
        onError: (e) => {
          if (gen !== this.#generation || spawned) return;
          this.#spawnFailed(e);
        },
        onExit: (x) => this.#exited(gen, x),
      });
    } catch (e) {
      if (gen === this.#generation && this.#state === "starting") this.#spawnFailed(e as Error);
    }
  }

  #spawned(p: ManagerProcess): void {
    this.#proc = p;
    this.#startedAt = this.#clock.now();
    this.#firstAttempt = false;
    this.#to("running", "spawned", `manager pid ${p.pid}`);
    this.#settle(this.#startWaiters, { ok: true, reason: "" });
    if (this.#stopWanted) this.#beginStop();
  }

  #spawnFailed(e: Error): void {
    this.#proc = undefined;
    if (this.#stopWanted) {
      this.#to("inactive", "spawn-error", e.message);
      this.#settle(this.#startWaiters, { ok: false, reason: e.message });
      this.#settle(this.#stopWaiters, { ok: true, reason: "" });
      return;
    }
    if (this.#firstAttempt) {
      // A manager that cannot even be spawned on request will not fix itself by retrying.
      this.#firstAttempt = false;
      this.#reason = `cannot start manager: ${e.message}`;
      this.#to("failed", "spawn-error", this.#reason);
      this.#settle(this.#startWaiters, { ok: false, reason: this.#reason });
      return;
    }
    this.#failure("spawn-error", `cannot start manager: ${e.message}`);
  }

  #exited(gen: number, exit: ExitInfo): void {
    if (gen !== this.#generation) return;
    this.#proc = undefined;
    this.#lastExit = exit;
    const how = describeExit(exit);
    if (this.#state === "stopping") {
      this.#cancelTimer();
      this.#to("inactive", "exited", `manager stopped (${how})`);
      this.#settle(this.#stopWaiters, { ok: true, reason: "" });
      return;
    }
    if (this.#state !== "running") return;
    const clean = exit.code === 0 && !exit.signal;
    if (this.policy.restart === "never" || (clean && this.policy.restart === "on-failure")) {
      this.#to("inactive", "exited", `manager exited by itself (${how})`);
      return;
    }
    if (this.#clock.now() - this.#startedAt >= this.policy.stableAfterMs) this.#failures = 0;
    this.#failure("exited", `manager exited (${how})`);
  }

  #failure(event: RealmEvent, detail: string): void {
    this.#failures++;
    if (this.#failures > this.policy.maxRestarts) {
      this.#reason = `${detail}; gave up after ${this.policy.maxRestarts} restarts`;
      this.#to("failed", event === "exited" ? "gave-up" : event, this.#reason);
      return;
    }
    const delay = backoffDelay(this.policy, this.#failures);
    this.#restartAt = this.#clock.now() + delay;
    this.#to("backoff", event, `${detail}; restart ${this.#failures} in ${delay} ms`);
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#restartAt = undefined;
      if (this.#state !== "backoff") return;
      this.#restarts++;
      this.#launch("backoff-elapsed", `restart ${this.#failures}`);
    }, delay);
  }

  #beginStop(): void {
    const proc = this.#proc;
    if (!proc) return;
    const gen = this.#generation;
    this.#to("stopping", "stop", `sent ${this.policy.stopSignal} to pid ${proc.pid}`);
    // The pid only, as upstream: a manager in the middle of work its children do (a rollerd
    // signing run) finishes it; the group is killed only at the deadline.
    if (!proc.signal(this.policy.stopSignal, "pid")) {
      // Gone already: its exit report may be on its way; the deadline still guards it.
    }
    this.#timer = this.#clock.setTimer(() => this.#deadline(gen), this.policy.stopTimeoutMs);
  }

  #deadline(gen: number): void {
    this.#timer = undefined;
    if (gen !== this.#generation || this.#state !== "stopping") return;
    const proc = this.#proc;
    if (!this.#killed) {
      this.#killed = true;
      this.#to(
        "stopping",
        "stop-deadline",
        `no exit after ${this.policy.stopTimeoutMs} ms; sent SIGKILL to process group ${proc?.pid}`,
      );
      proc?.signal("SIGKILL", "group");
      this.#timer = this.#clock.setTimer(() => this.#deadline(gen), this.policy.killTimeoutMs);
      return;
    }
    this.#settle(this.#stopWaiters, {
      ok: false,
      reason: `manager pid ${proc?.pid} did not exit after SIGKILL`,
    });
  }
}
