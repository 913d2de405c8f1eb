/**
 * What the lock manager must survive: holders killed with SIGKILL, floods of malformed frames,
 * silent clients, SIGTERM, and two daemons started at the same instant. Real daemons on real
 * sockets in temporary run directories.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient, LockError } from "../../lib/lockd/client.ts";
import { alive, collect, exited, spawnSteward, waitFor } from "../helpers.ts";
import { lockdPermissions } from "../../lib/lockd/start.ts";
import { epochNow, sandbox, spawnHolder, startDaemon } from "./harness.ts";
import { registerStallTest } from "./stall-case.ts";

function frame(body: Uint8Array | string): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  const out = Buffer.alloc(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

function connectRaw(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

describe("lockd survives", () => {
  test("kill -9 of a holder: the next waiter gets the lock within 100 ms", async () => {
    await using box = sandbox("kill");
    const d = await startDaemon(box);
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    // A loaded machine can only add delay, never remove it: up to three tries, and the daemon
    // must make it once. A daemon that noticed holder death late would miss every time.
    const tries: number[] = [];
    try {
      while (tries.length < 3 && !tries.some((ms) => ms < 100)) {
        const holder = spawnHolder(box, "db");
        await holder.held;
        const waiting = client.acquire("db");
        await waitFor(async () => (await client.status()).locks[0]?.waiters.length === 1);
        const t0 = performance.now();
        process.kill(holder.pid as number, "SIGKILL");
        const lock = await waiting;
        tries.push(performance.now() - t0);
        await lock.release();
      }
    } finally {
      client.close();
    }
    assert.ok(
      tries.some((ms) => ms < 100),
      `granted after ${tries.map((ms) => ms.toFixed(1)).join(", ")} ms`,
    );
    assert.ok(alive(d.pid));
  });

  test("100 holders killed in a row leave no lock held", async () => {
    await using box = sandbox("kill100");
    await startDaemon(box);
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    const latencies: number[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        const holders = Array.from({ length: 10 }, () => spawnHolder(box, "db", { raw: true }));
        // Wait until one holds and the other nine are queued, so no start-up runs while we time.
        await waitFor(
          async () => {
            const l = (await client.status()).locks[0];
            return l && l.holders.length === 1 && l.waiters.length === 9;
          },
          20_000,
          "ten holders to line up",
        );
        const dead = new Set<unknown>();
        let current = await Promise.race(holders.map((h) => h.held.then(() => h)));
        for (let i = 0; i < 10; i++) {
          const rest = holders.filter((h) => h !== current && !dead.has(h));
          const next = rest.length
            ? Promise.race(rest.map((h) => h.held.then((at) => ({ h, at }))))
            : null;
          // From the kill to the moment the next holder saw its grant (its own clock reading):
          // the time this busy test process takes to read pipes is not the daemon's.
          const t0 = epochNow();
          process.kill(current.pid as number, "SIGKILL");
          dead.add(current);
          await exited(current);
          if (!next) break;
          const { h, at } = await next;
          latencies.push(at - t0);
          current = h;
        }
      }
      // The last holder's death reaches the daemon as a closed connection, which it may not
      // have read yet when the test process has seen the exit: give it the bound every
      // hand-over above had.
      let status = await client.status();
      const deadline = performance.now() + 1000;
      while (status.locks.length > 0 && performance.now() < deadline) {
        await sleep(5);
        status = await client.status();
      }
      assert.deepEqual(status.locks, [], "no lock held and nobody waiting");
      const lock = await client.acquire("db", { nonblock: true });
      await lock.release();
    } finally {
      client.close();
    }
    latencies.sort((a, b) => a - b);
    assert.equal(latencies.length, 90);
    // Four test files run at once on two cores: a hand-over can wait for a core now and then.
    // Nine in ten within 100 ms, and none near the second a missed holder death would cost.
    const p90 = latencies[80] as number;
    const worst = latencies[latencies.length - 1] as number;
    assert.ok(p90 < 100, `90th percentile hand-over took ${p90.toFixed(1)} ms`);
    assert.ok(worst < 1000, `slowest hand-over took ${worst.toFixed(1)} ms`);
  });

  test("10,000 random and malformed frames while a well-formed client keeps being served", async () => {
    await using box = sandbox("fuzz");
    const d = await startDaemon(box);
    const good = new LockClient({ socketPath: box.socket, autoStart: false });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => rand(256));
    const wrong = [
      () => ({ id: rand(1000), op: "lock", name: rand(2) ? 5 : ["x"] }),
      () => ({ id: rand(1000), op: "lock", name: "x", mode: "sideways" }),
      () => ({ id: rand(1000), op: "unlock", lock: "one" }),
      () => ({ id: "7", op: "ping" }),
      () => ({ id: rand(1000), op: `op${rand(100)}` }),
      () => ({ id: rand(1000), op: "hello", version: rand(5) }),
      () => ({ id: rand(1000), op: "lock", name: "x".repeat(1025 + rand(100)) }),
      () => ({ id: rand(1000), op: "lock", name: `fz${rand(5)}`, nonblock: true }),
      () => ({ id: rand(1000), op: "lock", name: `fz${rand(5)}`, timeoutMs: rand(20) }),
      () => ({ id: rand(1000), op: "unlock", lock: rand(50) }),
      () => ({ id: rand(1000), op: "cancel", request: rand(1000) }),
      () => [1, 2, 3],
      () => null,
      () => "lock",
    ];
    let frames = 0;
    let stop = false;
    // When each well-formed lock+unlock completed. The fuzzing runs in this same process, so
    // under load this loop is slowed by its own event loop; what must hold is that the daemon
    // never stops serving it, i.e. no long gap between completions.
    const servedAt: number[] = [];
    const fuzzStart = performance.now();
    const goodLoop = (async () => {
      while (!stop) {
        const lock = await good.acquire("good", { mode: rand(2) ? "shared" : "exclusive" });
        await lock.release();
        servedAt.push(performance.now());
        await sleep(2);
      }
    })();
    const session = async () => {
      const s = await connectRaw(box.socket);
      s.on("error", () => {});
      s.on("data", () => {});
      if (rand(2)) s.write(frame(JSON.stringify({ id: 0, op: "hello", version: 1 })));
      const n = 100 + rand(200);
      const chunks: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const kind = rand(10);
        if (kind < 3) chunks.push(frame(randomBytes(1 + rand(64))));
        else chunks.push(frame(JSON.stringify((wrong[rand(wrong.length)] as () => unknown)())));
        frames++;
      }
      s.write(Buffer.concat(chunks));
      const end = rand(5);
      frames++;
      if (end === 0) {
        // Truncated: a length promising more than is sent, then the write side is closed.
        s.end(Buffer.concat([Buffer.from([0, 0, 1, 0]), Buffer.from(randomBytes(10))]));
      } else if (end === 1) {
        s.write(Buffer.from([0xff, 0xff, 0xff, 0xff])); // oversized
      } else if (end === 2) {
        s.write(Buffer.from(randomBytes(3 + rand(40)))); // raw garbage, no framing
        s.destroy();
      } else if (end === 3) {
        s.write(Buffer.from([0, 0, 0, 20, 123])); // half a frame, connection left open
        await sleep(20);
        s.destroy();
      } else {
        await sleep(5);
        s.end();
      }
      await sleep(5);
      s.destroy();
    };
    let fuzzEnd = fuzzStart;
    try {
      // At least 10,000 frames, and on a loaded machine on until the good client had turns.
      while (
        frames < 10_000 || (servedAt.length < 5 && performance.now() - fuzzStart < 30_000)
      ) {
        await Promise.all(Array.from({ length: 8 }, session));
        assert.ok(alive(d.pid), "daemon still running");
      }
      fuzzEnd = performance.now();
      stop = true;
      await goodLoop;
      const status = await good.status();
      assert.deepEqual(status.locks.filter((l) => l.name === "good"), []);
    } finally {
      stop = true;
      good.close();
    }
    assert.ok(frames >= 10_000, `${frames} frames sent`);
    const during = servedAt.filter((t) => t <= fuzzEnd);
    assert.ok(during.length >= 5, `well-formed client served ${during.length} times while fuzzed`);
    const marks = [fuzzStart, ...servedAt, Math.max(fuzzEnd, servedAt.at(-1) ?? fuzzEnd)];
    const gaps = marks.slice(1).map((t, i) => t - (marks[i] as number));
    const worst = Math.max(...gaps);
    assert.ok(worst < 1000, `well-formed client went ${worst.toFixed(1)} ms without being served`);
    assert.ok(alive(d.pid));
  });

  test("a client that connects and sends nothing delays nobody", async () => {
    await using box = sandbox("silent");
    await startDaemon(box);
    const silent = await Promise.all(Array.from({ length: 50 }, () => connectRaw(box.socket)));
    const half = await connectRaw(box.socket);
    half.write(Buffer.from([0, 0, 0, 100, 123, 34])); // a frame started and never finished
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        const lock = await client.acquire("busy-street");
        await lock.release();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      // A daemon waiting on the silent ones would show seconds (the half frame's deadline is
      // 5 s); a busy test machine shows at most a few slow pairs.
      const median = times[100] as number;
      const worst = times[199] as number;
      assert.ok(median < 20, `median pair ${median.toFixed(2)} ms`);
      assert.ok(worst < 1000, `slowest pair ${worst.toFixed(1)} ms`);
    } finally {
      client.close();
      for (const s of [...silent, half]) s.destroy();
    }
  });

  test("SIGTERM: clean exit, socket removed, holders see their connection close", async () => {
    await using box = sandbox("term");
    const d = await startDaemon(box);
    const holder = new LockClient({ socketPath: box.socket, autoStart: false });
    const waiter = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      const events: string[] = [];
      holder.onEvent((e) => events.push(`${e.event}:${String(e.reason)}`));
      const lock = await holder.acquire("x");
      const waiting = waiter.acquire("x");
      const outcome = waiting.then(() => undefined, (e: unknown) => e);
      await waitFor(async () => (await holder.status()).locks[0]?.waiters.length === 1);
      process.kill(d.pid, "SIGTERM");
      const r = await exited(d.child);
      assert.equal(r.code, 0, d.stderr());
      assert.equal(fs.existsSync(box.socket), false, "socket removed");
      const e = await outcome;
      assert.ok(e instanceof LockError && e.code === "NO_LOCKMGR", String(e));
      // The child's exit may be noticed before the bytes on the holder's socket are read.
      await waitFor(() => events.length > 1, 5000, "the shutdown event");
      assert.deepEqual(events, ["shutdown:signal", "disconnected:signal"]);
      await assert.rejects(
        lock.release(),
        (e: unknown) => e instanceof LockError && e.code === "NO_LOCKMGR",
      );
      await lock[Symbol.asyncDispose](); // disposing a lock the daemon dropped does not throw
      assert.match(d.stderr(), /Stopped \(signal\); 1 lock\(s\) were held/);
    } finally {
      holder.close();
      waiter.close();
    }
  });

  test("two daemons started at the same instant: one serves, the other names it and exits", async () => {
    await using box = sandbox("twins");
    const perms = lockdPermissions({
      runDir: box.dir,
      socketPath: box.socket,
      defaultsFile: box.defaults,
    });
    const args = ["lockd", "--foreground", "--run-dir", box.dir, "--defaults", box.defaults];
    const a = box.track(spawnSteward(args, { permissions: perms }));
    const b = box.track(spawnSteward(args, { permissions: perms }));
    const out = [collect(a), collect(b)];
    const first = await Promise.race([
      exited(a, 20_000).then((r) => ({ r, loser: a, winner: b, i: 0 })),
      exited(b, 20_000).then((r) => ({ r, loser: b, winner: a, i: 1 })),
    ]);
    assert.equal(first.r.code, 1);
    const msg = out[first.i]?.stderr() ?? "";
    assert.match(msg, new RegExp(`already running \\(pid ${first.winner.pid}\\)`));
    assert.equal(msg.trim().split("\n").length, 1, msg);
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      await (await client.acquire("x")).release();
      assert.equal(client.daemonPid, first.winner.pid);
    } finally {
      client.close();
    }
  });
});

// In this file, after the hand-over timings above, so that its burst of processes never runs
// beside them.
registerStallTest();
