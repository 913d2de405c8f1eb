/**
 * The supervision state machine, step by step, with a fake clock and a fake launcher.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelay,
  type Clock,
  DEFAULT_POLICY,
  type Launcher,
  type LaunchHooks,
  type ManagerProcess,
  RealmSupervisor,
  type Transition,
} from "../../lib/realms/supervisor.ts";

class FakeClock implements Clock {
  t = 1_000_000;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

class FakeProc implements ManagerProcess {
  readonly adopted: boolean;
  readonly pid: number;
  readonly hooks: LaunchHooks;
  signals: string[] = [];
  constructor(pid: number, hooks: LaunchHooks, adopted = false) {
    this.pid = pid;
    this.hooks = hooks;
    this.adopted = adopted;
  }
  scopes: string[] = [];
  signal(sig: NodeJS.Signals, scope: "pid" | "group" = "pid"): boolean {
    this.signals.push(sig);
    this.scopes.push(scope);
    return true;
  }
  exit(code: number | null, signal: string | null = null): void {
    this.hooks.onExit({ code, signal });
  }
}

class FakeLauncher implements Launcher {
  procs: FakeProc[] = [];
  fail: Error | undefined;
  #pid = 100;
  launch(hooks: LaunchHooks): void {
    if (this.fail) {
      const e = this.fail;
      queueMicrotask(() => hooks.onError(e));
      return;
    }
    const p = new FakeProc(this.#pid++, hooks);
    this.procs.push(p);
    hooks.onSpawn(p);
  }
  adopt(pid: number, hooks: Pick<LaunchHooks, "onExit">): ManagerProcess | undefined {
    const p = new FakeProc(pid, { ...hooks, onSpawn: () => {}, onError: () => {} }, true);
    this.procs.push(p);
    return p;
  }
  get last(): FakeProc {
    const p = this.procs.at(-1);
    assert.ok(p, "no process launched");
    return p;
  }
}

function setup(policy: Partial<typeof DEFAULT_POLICY> = {}) {
  const clock = new FakeClock();
  const launcher = new FakeLauncher();
  const log: Transition[] = [];
  const sup = new RealmSupervisor("alpha", {
    launcher,
    clock,
    policy: { restartDelayMs: 100, maxRestartDelayMs: 1000, maxRestarts: 3, ...policy },
    onTransition: (t) => log.push(t),
  });
  const steps = () => log.map((t) => `${t.from}>${t.to}:${t.event}`);
  return { clock, launcher, sup, log, steps };
}

describe("realm supervisor", () => {
  test("start moves inactive to starting to running and reports every transition", async () => {
    const { sup, steps, launcher } = setup();
    assert.equal(sup.state, "inactive");
    const r = await sup.start();
    assert.deepEqual(r, { ok: true, reason: "" });
    assert.equal(sup.state, "running");
    assert.equal(sup.pid, launcher.last.pid);
    assert.deepEqual(steps(), ["inactive>starting:start", "starting>running:spawned"]);
  });

  test("start is refused when the realm is already running", async () => {
    const { sup } = setup();
    await sup.start();
    const r = await sup.start();
    assert.equal(r.ok, false);
    assert.match(r.reason, /already running/);
  });

  test("a manager that dies is restarted with exponential backoff", async () => {
    const { sup, clock, launcher, steps } = setup();
    await sup.start();
    launcher.last.exit(null, "SIGKILL");
    assert.equal(sup.state, "backoff");
    assert.equal(sup.snapshot().restartAt, clock.now() + 100);
    clock.advance(99);
    assert.equal(sup.state, "backoff");
    clock.advance(1);
    assert.equal(sup.state, "running");
    assert.equal(launcher.procs.length, 2);
    launcher.last.exit(1);
    assert.equal(sup.snapshot().restartAt, clock.now() + 200);
    clock.advance(200);
    assert.equal(sup.state, "running");
    launcher.last.exit(1);
    assert.equal(sup.snapshot().restartAt, clock.now() + 400);
    clock.advance(400);
    assert.equal(sup.snapshot().restarts, 3);
    assert.deepEqual(steps().slice(2, 5), [
      "running>backoff:exited",
      "backoff>starting:backoff-elapsed",
      "starting>running:spawned",
    ]);
  });

  test("too many failures mark the realm failed and status says why", async () => {
    const { sup, clock, launcher, log } = setup();
    await sup.start();
    for (let i = 0; i < 3; i++) {
      launcher.last.exit(2);
      clock.advance(1000);
    }
    assert.equal(sup.state, "running");
    launcher.last.exit(2);
    assert.equal(sup.state, "failed");
    const snap = sup.snapshot();
    assert.equal(snap.failures, 4);
    assert.match(snap.reason ?? "", /exit code 2\); gave up after 3 restarts/);
    assert.equal(log.at(-1)?.event, "gave-up");
    clock.advance(60_000);
    assert.equal(sup.state, "failed", "a failed realm stays failed");
    assert.equal(launcher.procs.length, 4);
  });

  test("a failed realm starts again by request with a fresh failure count", async () => {
    const { sup, launcher } = setup({ maxRestarts: 0 });
    await sup.start();
    launcher.last.exit(1);
    assert.equal(sup.state, "failed");
    assert.equal((await sup.start()).ok, true);
    assert.equal(sup.state, "running");
    assert.equal(sup.snapshot().failures, 0);
  });

  test("a run longer than stableAfter resets the failure count", async () => {
    const { sup, clock, launcher } = setup({ stableAfterMs: 5000 });
    await sup.start();
    launcher.last.exit(1);
    clock.advance(100);
    launcher.last.exit(1);
    clock.advance(200);
    assert.equal(sup.snapshot().failures, 2);
    clock.advance(5000);
    launcher.last.exit(1);
    assert.equal(sup.snapshot().failures, 1);
    assert.equal(sup.snapshot().restartAt, clock.now() + 100);
  });

  test("a clean exit is not restarted with the on-failure policy, but is with always", async () => {
    const a = setup();
    await a.sup.start();
    a.launcher.last.exit(0);
    assert.equal(a.sup.state, "inactive");
    const b = setup({ restart: "always" });
    await b.sup.start();
    b.launcher.last.exit(0);
    assert.equal(b.sup.state, "backoff");
  });

  test("stop sends the stop signal and resolves when the manager exits", async () => {
    const { sup, launcher, steps } = setup({ stopSignal: "SIGINT" });
    await sup.start();
    const p = launcher.last;
    const done = sup.stop();
    assert.equal(sup.state, "stopping");
    assert.deepEqual(p.signals, ["SIGINT"]);
    p.exit(0);
    assert.deepEqual(await done, { ok: true, reason: "" });
    assert.equal(sup.state, "inactive");
    assert.deepEqual(steps().slice(-2), ["running>stopping:stop", "stopping>inactive:exited"]);
  });

  test("stop sends SIGKILL after the deadline", async () => {
    const { sup, launcher, clock, log } = setup({ stopTimeoutMs: 3000 });
    await sup.start();
    const p = launcher.last;
    const done = sup.stop();
    clock.advance(2999);
    assert.deepEqual(p.signals, ["SIGTERM"]);
    clock.advance(1);
    assert.deepEqual(p.signals, ["SIGTERM", "SIGKILL"]);
    assert.deepEqual(p.scopes, ["pid", "group"], "the pid first, the group only at the deadline");
    assert.equal(log.at(-1)?.event, "stop-deadline");
    p.exit(null, "SIGKILL");
    assert.equal((await done).ok, true);
    assert.equal(sup.state, "inactive");
  });

  test("stop reports failure when the manager survives SIGKILL", async () => {
    const { sup, launcher, clock } = setup({ stopTimeoutMs: 100, killTimeoutMs: 100 });
    await sup.start();
    const done = sup.stop();
    clock.advance(200);
    const r = await done;
    assert.equal(r.ok, false);
    assert.match(r.reason, /did not exit after SIGKILL/);
    launcher.last.exit(null, "SIGKILL");
    assert.equal(sup.state, "inactive");
  });

  test("stop during backoff cancels the restart", async () => {
    const { sup, launcher, clock } = setup();
    await sup.start();
    launcher.last.exit(1);
    assert.equal((await sup.stop()).ok, true);
    assert.equal(sup.state, "inactive");
    clock.advance(10_000);
    assert.equal(launcher.procs.length, 1);
  });

  test("stop of an inactive realm is refused", async () => {
    const { sup } = setup();
    const r = await sup.stop();
    assert.equal(r.ok, false);
    assert.match(r.reason, /not active/);
  });

  test("a manager that cannot be spawned on request fails at once", async () => {
    const { sup, launcher, clock } = setup();
    launcher.fail = new Error("spawn rollerd ENOENT");
    const r = await sup.start();
    assert.equal(r.ok, false);
    assert.match(r.reason, /cannot start manager: spawn rollerd ENOENT/);
    assert.equal(sup.state, "failed");
    clock.advance(60_000);
    assert.equal(sup.state, "failed");
  });

  test("a spawn error during a restart counts as a failure and backs off", async () => {
    const { sup, launcher, clock } = setup();
    await sup.start();
    launcher.fail = new Error("spawn ENOENT");
    launcher.last.exit(1);
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
    assert.equal(sup.state, "backoff");
    assert.equal(sup.snapshot().failures, 2);
  });

  test("adopt takes over a manager of a previous run and supervises it", () => {
    const { sup, launcher, clock, steps } = setup();
    assert.equal(sup.adopt(4242), true);
    assert.equal(sup.state, "running");
    assert.equal(sup.snapshot().adopted, true);
    assert.equal(sup.pid, 4242);
    launcher.last.exit(null);
    assert.equal(sup.state, "backoff");
    clock.advance(100);
    assert.equal(sup.snapshot().adopted, false);
    assert.deepEqual(steps()[0], "inactive>running:adopt");
  });

  test("stop while starting stops the manager once it has spawned", async () => {
    const clock = new FakeClock();
    let hooks: LaunchHooks | undefined;
    const sup = new RealmSupervisor("b", { clock, launcher: { launch: (h) => (hooks = h) } });
    const started = sup.start();
    const stopped = sup.stop();
    assert.equal(sup.state, "starting");
    const signals: string[] = [];
    hooks?.onSpawn({ pid: 9, adopted: false, signal: (s) => (signals.push(s), true) });
    assert.equal((await started).ok, true);
    assert.equal(sup.state, "stopping");
    assert.deepEqual(signals, ["SIGTERM"]);
    hooks?.onExit({ code: 0, signal: null });
    assert.equal((await stopped).ok, true);
  });

  test("backoff delay doubles and is capped", () => {
    const p = { ...DEFAULT_POLICY, restartDelayMs: 500, maxRestartDelayMs: 3000 };
    assert.deepEqual([1, 2, 3, 4, 5, 60].map((n) => backoffDelay(p, n)), [
      500,
      1000,
      2000,
      3000,
      3000,
      3000,
    ]);
  });
});
