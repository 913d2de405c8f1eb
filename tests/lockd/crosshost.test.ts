/**
 * Cross-host locks: two lock managers with separate run directories stand for two hosts that
 * share one location directory (over NFS in production). The host lock is a flock(2) lock on
 * `<dir>/.<base>.lock`, held by the daemon's perl helper or by a flock(1) child: every test runs
 * with both primitives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient, LockError, type LockHandle } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { HostLockError, type HostLockPrimitive, HostLocks } from "../../lib/lockd/hostlock.ts";
import { symlink, waitFor } from "../helpers.ts";
import { type LockdSandbox, sandbox, startDaemon } from "./harness.ts";

const PRIMITIVES = ["helper", "flock"] as const;

async function twoHosts(
  boxA: LockdSandbox,
  boxB: LockdSandbox,
  hostLockPrimitive: HostLockPrimitive,
  hostLockLingerMs?: number,
): Promise<{ a: LockDaemon; b: LockDaemon; stop: () => Promise<void> }> {
  const linger = hostLockLingerMs === undefined ? {} : { hostLockLingerMs };
  const o = { idleMinutes: 0, hostLockPrimitive, ...linger };
  const a = await LockDaemon.start({ runDir: boxA.dir, ...o });
  const b = await LockDaemon.start({ runDir: boxB.dir, ...o });
  return {
    a,
    b,
    stop: async () => void (await Promise.all([a.stop("request"), b.stop("request")])),
  };
}

function client(box: LockdSandbox): LockClient {
  return new LockClient({ runDir: box.dir, autoStart: false });
}

/** True when nobody (in any process) holds a lock on `file`. */
function lockFree(file: string): boolean {
  try {
    execFileSync("/usr/bin/flock", ["-n", "-x", "-E", "75", file, "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LockError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

for (const primitive of PRIMITIVES) {
  test(`an exclusive crosshost lock on one host makes the other host BUSY, then wait until release (${primitive})`, async () => {
    await using boxA = sandbox("xa");
    await using boxB = sandbox("xb");
    await using loc = sandbox("xloc");
    // No linger: the host lock goes before the unlock is answered.
    const hosts = await twoHosts(boxA, boxB, primitive, 0);
    const ca = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
      const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
      const held = await ca.acquire(name, { crosshost: true });
      const st = fs.lstatSync(file);
      assert.ok(st.isFile());
      assert.equal(st.mode & 0o777, 0o600, "lock file is created 0600");
      await rejectsWith(
        cb.acquire(name, { crosshost: true, nonblock: true }),
        "BUSY",
        /another host/,
      );
      await rejectsWith(
        cb.acquire(name, { crosshost: true, mode: "shared", nonblock: true }),
        "BUSY",
      );
      let got = 0;
      const waiting = cb.acquire(name, { crosshost: true }).then((h) => {
        got = Date.now();
        return h;
      });
      await sleep(300);
      assert.equal(got, 0, "the other host waits while the lock is held");
      const releasedAt = Date.now();
      await held.release();
      const h2 = await waiting;
      assert.ok(got >= releasedAt, "granted only after the release");
      await h2.release();
      assert.ok(lockFree(file), "the host lock is dropped before the unlock is answered");
      assert.ok(fs.existsSync(file), "the lock file is never unlinked");
    } finally {
      ca.close();
      cb.close();
      await hosts.stop();
    }
  });

  test(`shared crosshost locks on two hosts are both granted (${primitive})`, async () => {
    await using boxA = sandbox("sa");
    await using boxB = sandbox("sb");
    await using loc = sandbox("sloc");
    const hosts = await twoHosts(boxA, boxB, primitive);
    const ca = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_10.0.0.0");
      const h1 = await ca.acquire(name, { crosshost: true, mode: "shared", nonblock: true });
      const h2 = await cb.acquire(name, { crosshost: true, mode: "shared", nonblock: true });
      await rejectsWith(ca.acquire(name, { crosshost: true, nonblock: true }), "BUSY");
      await h1.release();
      await h2.release();
    } finally {
      ca.close();
      cb.close();
      await hosts.stop();
    }
  });

  test(`kill -9 of the daemon holding a host lock releases it: what held it dies with it (${primitive})`, async () => {
    await using boxA = sandbox("ka");
    await using boxB = sandbox("kb");
    await using loc = sandbox("kloc");
    // Host A is a real process (under Deno with its scoped permissions) so it can be killed.
    const daemonA = await startDaemon(boxA);
    const b = await LockDaemon.start({
      runDir: boxB.dir,
      idleMinutes: 0,
      hostLockPrimitive: primitive,
    });
    const ca = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
      const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
      await ca.acquire(name, { crosshost: true });
      assert.equal(lockFree(file), false, "the host lock is held by host A");
      const waiting = cb.acquire(name, { crosshost: true, timeoutMs: 10_000 });
      await sleep(100);
      process.kill(daemonA.pid, "SIGKILL");
      const h = await waiting;
      await h.release();
      await waitFor(() => lockFree(file) || undefined, 5000, "no process to hold the lock");
    } finally {
      ca.close();
      cb.close();
      await b.stop("request");
    }
  });

  test(`with crosshost roots configured, lock files are made only inside them (${primitive})`, async () => {
    await using boxA = sandbox("ra");
    await using loc = sandbox("rloc");
    await using other = sandbox("rother");
    const a = await LockDaemon.start({
      runDir: boxA.dir,
      idleMinutes: 0,
      crosshostRoots: [loc.dir],
      hostLockPrimitive: primitive,
    });
    const ca = client(boxA);
    try {
      const inside = await ca.acquire(path.join(loc.dir, "SUNWfiles1_dhcptab"), {
        crosshost: true,
      });
      await inside.release();
      assert.ok(fs.existsSync(path.join(loc.dir, ".SUNWfiles1_dhcptab.lock")));
      await rejectsWith(
        ca.acquire(path.join(other.dir, "SUNWfiles1_dhcptab"), { crosshost: true }),
        "SYNCH_ERR",
        /Crosshost lock outside the allowed directories/,
      );
      // A directory inside the root that is a symbolic link to elsewhere is judged by its target.
      symlink(other.dir, path.join(loc.dir, "escape"));
      await rejectsWith(
        ca.acquire(path.join(loc.dir, "escape", "SUNWfiles1_dhcptab"), { crosshost: true }),
        "SYNCH_ERR",
        /outside the allowed directories/,
      );
      assert.deepEqual(
        fs.readdirSync(other.dir).filter((f) => f.endsWith(".lock")),
        [],
        "nothing made outside",
      );
    } finally {
      ca.close();
      await a.stop("request");
    }
  });

  test(`a symlinked lock file, a relative name and a missing directory are refused clearly (${primitive})`, async () => {
    await using boxA = sandbox("ba");
    await using loc = sandbox("bloc");
    const a = await LockDaemon.start({
      runDir: boxA.dir,
      idleMinutes: 0,
      hostLockPrimitive: primitive,
    });
    const ca = client(boxA);
    try {
      const target = path.join(loc.dir, "elsewhere");
      symlink(target, path.join(loc.dir, ".SUNWfiles1_dhcptab.lock"));
      await rejectsWith(
        ca.acquire(path.join(loc.dir, "SUNWfiles1_dhcptab"), { crosshost: true }),
        "SYNCH_ERR",
        /symbolic link/,
      );
      assert.equal(fs.existsSync(target), false, "nothing is created through the link");
      await rejectsWith(
        ca.acquire("var/dhcp/SUNWfiles1_dhcptab", { crosshost: true }),
        "PROTOCOL",
        /absolute path/,
      );
      await rejectsWith(
        ca.acquire(path.join(loc.dir, "missing", "SUNWfiles1_dhcptab"), { crosshost: true }),
        "SYNCH_ERR",
        /Not an existing directory/,
      );
      // The same name without crosshost is an ordinary lock name.
      const h = await ca.acquire("var/dhcp/SUNWfiles1_dhcptab");
      await h.release();
      assert.equal(a.service.hostLocks.idle, true, "refused requests leave nothing behind");
    } finally {
      ca.close();
      await a.stop("request");
    }
  });

  test(`local shared holders keep a shared host lock; an exclusive request waits for them, then upgrades (${primitive})`, async () => {
    await using boxA = sandbox("ua");
    await using boxB = sandbox("ub");
    await using loc = sandbox("uloc");
    const hosts = await twoHosts(boxA, boxB, primitive);
    const a1 = client(boxA);
    const a2 = client(boxA);
    const a3 = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
      const r1 = await a1.acquire(name, { crosshost: true, mode: "shared" });
      const r2 = await a2.acquire(name, { crosshost: true, mode: "shared" });
      assert.equal(hosts.a.service.hostLocks.held, 1, "one host lock for both local holders");
      const rb = await cb.acquire(name, { crosshost: true, mode: "shared" });
      const order: string[] = [];
      const w = a3.acquire(name, { crosshost: true }).then((h: LockHandle) => {
        order.push("writer");
        return h;
      });
      await sleep(150);
      await r1.release();
      await sleep(150);
      assert.equal(order.length, 0, "one local reader still holds the shared host lock");
      await r2.release();
      await sleep(300);
      assert.equal(order.length, 0, "the upgrade waits for the other host's reader");
      order.push("b-release");
      await rb.release();
      const wh = await w;
      assert.deepEqual(order, ["b-release", "writer"]);
      // An exclusive host lock lets local readers queue on the local lock only.
      let readerIn = false;
      const lr = a1.acquire(name, { crosshost: true, mode: "shared" }).then((h) => {
        readerIn = true;
        return h;
      });
      await sleep(100);
      assert.equal(readerIn, false);
      await rejectsWith(
        cb.acquire(name, { crosshost: true, mode: "shared", nonblock: true }),
        "BUSY",
      );
      await wh.release();
      await (await lr).release();
    } finally {
      for (const c of [a1, a2, a3, cb]) c.close();
      await hosts.stop();
    }
  });

  test(`a crosshost wait that times out withdraws its wait and leaves the other host's lock alone (${primitive})`, async () => {
    await using boxA = sandbox("ta");
    await using boxB = sandbox("tb");
    await using loc = sandbox("tloc");
    const a = await LockDaemon.start({
      runDir: boxA.dir,
      idleMinutes: 0,
      hostLockLingerMs: 0,
      hostLockPrimitive: primitive,
    });
    // Host B is a real process: under Deno it withdraws the flock with its scoped permissions.
    await startDaemon(boxB);
    const ca = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
      const held = await ca.acquire(name, { crosshost: true });
      await rejectsWith(cb.acquire(name, { crosshost: true, timeoutMs: 200 }), "TIMEOUT");
      await held.release();
      const h = await cb.acquire(name, { crosshost: true, nonblock: true });
      await h.release();
      const status = await cb.status();
      assert.deepEqual(status.locks, []);
    } finally {
      ca.close();
      cb.close();
      await a.stop("request");
    }
  });

  test(`an unused host lock lingers briefly so a burst shares one acquisition, then is dropped (${primitive})`, async () => {
    await using boxA = sandbox("la");
    await using boxB = sandbox("lb");
    await using loc = sandbox("lloc");
    const hosts = await twoHosts(boxA, boxB, primitive, 200);
    const ca = client(boxA);
    const cb = client(boxB);
    try {
      const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
      const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
      for (let i = 0; i < 20; i++) {
        const h = await ca.acquire(name, { crosshost: true, mode: i % 2 ? "shared" : "exclusive" });
        await h.release();
      }
      assert.equal(
        hosts.a.service.hostLocks.acquisitions,
        1,
        "one acquisition for the whole burst",
      );
      const releasedAt = Date.now();
      assert.equal(lockFree(file), false, "held for the linger after the last release");
      const h = await cb.acquire(name, { crosshost: true });
      const waited = Date.now() - releasedAt;
      assert.ok(waited >= 100 && waited < 2000, `the other host waited ${waited} ms`);
      await h.release();
      await waitFor(() => hosts.a.service.hostLocks.idle || undefined, 5000, "host A to forget it");
      // A shared host lock lingering is dropped at once for an upgrade to exclusive.
      const s1 = await ca.acquire(name, { crosshost: true, mode: "shared" });
      await s1.release();
      const x = await ca.acquire(name, { crosshost: true, nonblock: true });
      await x.release();
      await waitFor(() => lockFree(file) || undefined, 5000, "the linger to end");
    } finally {
      ca.close();
      cb.close();
      await hosts.stop();
    }
  });

  if (primitive === "flock") {
    test("a flock child killed from outside is noticed: its holder is told the lock is lost, the next request takes it anew", async () => {
      await using boxA = sandbox("fa");
      await using loc = sandbox("floc");
      const a = await LockDaemon.start({
        runDir: boxA.dir,
        idleMinutes: 0,
        hostLockLingerMs: 0,
        hostLockPrimitive: "flock",
      });
      const ca = client(boxA);
      const cb = client(boxA);
      try {
        const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
        const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
        const h1 = await ca.acquire(name, { crosshost: true, mode: "shared" });
        await h1.verify();
        const flocks = execFileSync("pgrep", ["-P", String(process.pid), "-x", "flock"], {
          encoding: "utf8",
        }).split("\n").filter(Boolean).map(Number);
        assert.equal(flocks.length, 1, "one flock child holds the host lock");
        process.kill(flocks[0] as number, "SIGKILL");
        await waitFor(() => lockFree(file) || undefined, 5000, "the killed flock to let go");
        await waitFor(() => !h1.held || undefined, 5000, "the holder to be told");
        await rejectsWith(h1.verify(), "SYNCH_ERR", /Lock lost/);
        assert.equal(a.service.hostLocks.held, 0);
        const h2 = await cb.acquire(name, { crosshost: true, mode: "shared" });
        assert.equal(a.service.hostLocks.acquisitions, 2);
        assert.equal(lockFree(file), false, "held again");
        await h2.release();
        assert.ok(lockFree(file));
      } finally {
        ca.close();
        cb.close();
        await a.stop("request");
      }
    });
  }
}

test("without flock(1) a crosshost request fails with SYNCH_ERR saying so, and nothing is left", async () => {
  await using loc = sandbox("nloc");
  // A search path holding cat but no flock stands for a machine without util-linux flock.
  const bin = path.join(loc.dir, "bin");
  fs.mkdirSync(bin);
  symlink(
    execFileSync("/bin/sh", ["-c", "command -v cat"], { encoding: "utf8" }).trim(),
    path.join(bin, "cat"),
  );
  const hosts = new HostLocks({ searchPath: bin });
  const { granted } = hosts.acquire(path.join(loc.dir, "SUNWfiles1_dhcptab"), "exclusive", false);
  await assert.rejects(granted, (e: unknown) => {
    assert.ok(e instanceof HostLockError);
    assert.equal(e.code, "SYNCH_ERR");
    assert.match(e.message, /flock\(1\) from util-linux is not installed/);
    return true;
  });
  assert.equal(hosts.idle, true);
  assert.equal(fs.existsSync(path.join(loc.dir, ".SUNWfiles1_dhcptab.lock")), false);
  await hosts.close();
});
