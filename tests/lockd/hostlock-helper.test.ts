/**
 * The host-lock helper (one perl process per lock manager holding every cross-host lock): it
 * excludes other hosts, including hosts on flock(1); it dies with its lock manager and takes its
 * locks and waits with it; it follows no symbolic link and no request data reaches a shell; and
 * when it dies on its own, the holders are told their locks are lost and a new helper serves the
 * next request.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { LockClient, LockError } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { readLockdDefaults } from "../../lib/lockd/defaults.ts";
import { HOST_LOCK_HELPERS_MAX, HostLockError, HostLocks } from "../../lib/lockd/hostlock.ts";
import { alive, symlink, waitFor } from "../helpers.ts";
import { type LockdSandbox, sandbox, startDaemon } from "./harness.ts";

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

/** Child pids of `pid` named `name` (pgrep exits 1 when there are none). */
function children(pid: number, name?: string): number[] {
  try {
    const args = ["-P", String(pid), ...(name ? ["-x", name] : [])];
    return execFileSync("pgrep", args, { encoding: "utf8" })
      .split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
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

test("a host on the helper and a host on flock(1) exclude each other, both ways", async () => {
  await using boxA = sandbox("ha");
  await using boxB = sandbox("hb");
  await using loc = sandbox("hloc");
  const o = { idleMinutes: 0, hostLockLingerMs: 0 };
  const a = await LockDaemon.start({ runDir: boxA.dir, ...o, hostLockPrimitive: "helper" });
  const b = await LockDaemon.start({ runDir: boxB.dir, ...o, hostLockPrimitive: "flock" });
  const ca = client(boxA);
  const cb = client(boxB);
  try {
    const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
    const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
    const ha = await ca.acquire(name, { crosshost: true });
    assert.equal(a.service.hostLocks.primitive, "helper");
    assert.equal(lockFree(file), false, "the helper's lock is a real flock");
    await rejectsWith(
      cb.acquire(name, { crosshost: true, nonblock: true }),
      "BUSY",
      /another host/,
    );
    const waiting = cb.acquire(name, { crosshost: true, timeoutMs: 10_000 });
    await ha.release();
    const hb = await waiting;
    await rejectsWith(
      ca.acquire(name, { crosshost: true, nonblock: true }),
      "BUSY",
      /another host/,
    );
    await rejectsWith(
      ca.acquire(name, { crosshost: true, mode: "shared", nonblock: true }),
      "BUSY",
    );
    const waitingA = ca.acquire(name, { crosshost: true, mode: "shared", timeoutMs: 10_000 });
    await hb.release();
    const sa = await waitingA;
    const sb = await cb.acquire(name, { crosshost: true, mode: "shared", nonblock: true });
    await sa.release();
    await sb.release();
    assert.ok(lockFree(file));
    // Every host lock of the daemon goes through one helper process.
    for (let i = 0; i < 10; i++) {
      const h = await ca.acquire(path.join(loc.dir, `SUNWfiles1_10.0.${i}.0`), { crosshost: true });
      await h.release();
    }
    assert.equal(a.service.hostLocks.helpersStarted, 1);
    assert.equal(a.service.hostLocks.acquisitions, 14);
  } finally {
    ca.close();
    cb.close();
    await Promise.all([a.stop("request"), b.stop("request")]);
  }
});

test("kill -9 of a lock manager ends its helper: its host locks are free at once, its waits end", async () => {
  await using boxA = sandbox("ka");
  await using boxB = sandbox("kb");
  await using loc = sandbox("kloc");
  const daemonA = await startDaemon(boxA);
  const b = await LockDaemon.start({ runDir: boxB.dir, idleMinutes: 0, hostLockLingerMs: 0 });
  const ca = client(boxA);
  const cb = client(boxB);
  try {
    const held = path.join(loc.dir, "SUNWfiles1_held");
    const heldFile = path.join(loc.dir, ".SUNWfiles1_held.lock");
    const wanted = path.join(loc.dir, "SUNWfiles1_wanted");
    const wantedFile = path.join(loc.dir, ".SUNWfiles1_wanted.lock");
    await ca.acquire(held, { crosshost: true });
    const hb = await cb.acquire(wanted, { crosshost: true });
    // Host A waits for what host B holds: the wait runs in a child of A's helper.
    const waitA = ca.acquire(wanted, { crosshost: true, timeoutMs: 30_000 });
    waitA.catch(() => {});
    const helper = await waitFor(() => children(daemonA.pid, "perl")[0], 5000, "A's helper");
    const waiter = await waitFor(() => children(helper)[0], 5000, "A's helper to wait");
    assert.equal(lockFree(heldFile), false);
    process.kill(daemonA.pid, "SIGKILL");
    const h = await cb.acquire(held, { crosshost: true, timeoutMs: 10_000 });
    await waitFor(() => !alive(helper) || undefined, 5000, "A's helper to exit");
    await waitFor(() => !alive(waiter) || undefined, 5000, "A's waiting child to exit");
    await h.release();
    await hb.release();
    assert.ok(lockFree(wantedFile), "A's wait did not take the lock B let go");
    assert.ok(lockFree(heldFile));
  } finally {
    ca.close();
    cb.close();
    await b.stop("request");
  }
});

test("symbolic links, FIFOs and directories at the lock path are refused; nothing is made through them", async () => {
  await using boxA = sandbox("sa");
  await using loc = sandbox("sloc");
  const a = await LockDaemon.start({
    runDir: boxA.dir,
    idleMinutes: 0,
    hostLockPrimitive: "helper",
  });
  const ca = client(boxA);
  try {
    // A link to an existing file: the file is neither locked nor changed.
    const target = path.join(loc.dir, "victim");
    fs.writeFileSync(target, "data\n");
    symlink(target, path.join(loc.dir, ".one.lock"));
    await rejectsWith(
      ca.acquire(path.join(loc.dir, "one"), { crosshost: true }),
      "SYNCH_ERR",
      /Lock file is a symbolic link/,
    );
    assert.equal(fs.readFileSync(target, "utf8"), "data\n");
    // A dangling link: nothing is created where it points.
    const nowhere = path.join(loc.dir, "nowhere");
    symlink(nowhere, path.join(loc.dir, ".two.lock"));
    await rejectsWith(
      ca.acquire(path.join(loc.dir, "two"), { crosshost: true }),
      "SYNCH_ERR",
      /symbolic link/,
    );
    assert.equal(fs.existsSync(nowhere), false);
    // A FIFO does not block the helper; a directory cannot be opened.
    execFileSync("mkfifo", [path.join(loc.dir, ".three.lock")]);
    await rejectsWith(
      ca.acquire(path.join(loc.dir, "three"), { crosshost: true }),
      "SYNCH_ERR",
      /not a regular file/,
    );
    fs.mkdirSync(path.join(loc.dir, ".four.lock"));
    await rejectsWith(
      ca.acquire(path.join(loc.dir, "four"), { crosshost: true }),
      "SYNCH_ERR",
      /Cannot open lock file/,
    );
    // A directory on the way that is a link is refused too.
    symlink(loc.dir, path.join(loc.dir, "linked"));
    await rejectsWith(
      ca.acquire(path.join(loc.dir, "linked", "five"), { crosshost: true }),
      "SYNCH_ERR",
      /Not an existing directory/,
    );
    // The helper still serves.
    const h = await ca.acquire(path.join(loc.dir, "six"), { crosshost: true });
    await h.release();
    // One for the directory, one for the linked name's (which refused it): none died.
    assert.equal(a.service.hostLocks.helpersStarted, 2);
  } finally {
    ca.close();
    await a.stop("request");
  }
});

test("names with spaces, quotes, shell syntax and UTF-8 lock exactly their file; control characters are refused", async () => {
  await using boxA = sandbox("na");
  await using loc = sandbox("nloc");
  const a = await LockDaemon.start({
    runDir: boxA.dir,
    idleMinutes: 0,
    hostLockPrimitive: "helper",
  });
  const ca = client(boxA);
  const dir = path.join(loc.dir, "names");
  fs.mkdirSync(dir);
  try {
    const bases = [
      "with space",
      "quote'\"s",
      "$(touch pwned)",
      "`touch pwned`;x",
      "back\\slash",
      "-n x b etc",
      "ünïcødé ✓",
      "L 1 x n ",
    ];
    for (const base of bases) {
      const h = await ca.acquire(path.join(dir, base), { crosshost: true });
      const file = path.join(dir, `.${base}.lock`);
      assert.ok(fs.lstatSync(file).isFile(), base);
      assert.equal(lockFree(file), false, `held: ${base}`);
      await h.release();
    }
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      bases.map((b) => `.${b}.lock`).sort(),
      "exactly the lock files, nothing else",
    );
    for (const bad of ["new\nline", "car\rriage", "tab\there", "del\x7f"]) {
      await rejectsWith(
        ca.acquire(path.join(dir, bad), { crosshost: true }),
        "PROTOCOL",
        /control character/,
      );
    }
    assert.equal(fs.readdirSync(dir).length, bases.length, "nothing made for refused names");
    assert.equal(a.service.hostLocks.helpersStarted, 1, "the helper never stumbled");
  } finally {
    ca.close();
    await a.stop("request");
  }
});

test("a helper that dies fails its locks loudly; waits fail; a new helper serves the next request", async () => {
  await using boxA = sandbox("da");
  await using boxB = sandbox("db");
  await using loc = sandbox("dloc");
  const o = { idleMinutes: 0, hostLockLingerMs: 0, hostLockPrimitive: "helper" as const };
  const a = await LockDaemon.start({ runDir: boxA.dir, ...o });
  const b = await LockDaemon.start({ runDir: boxB.dir, ...o });
  const holder = client(boxA);
  const bystander = client(boxA);
  const waiter = client(boxA);
  const next = client(boxA);
  const cb = client(boxB);
  try {
    const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
    const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
    const other = path.join(loc.dir, "SUNWfiles1_10.0.0.0");
    const otherFile = path.join(loc.dir, ".SUNWfiles1_10.0.0.0.lock");
    const h = await holder.acquire(name, { crosshost: true });
    await h.verify();
    const plain = await bystander.acquire("not-crosshost");
    const hb = await cb.acquire(other, { crosshost: true });
    const waiting = waiter.acquire(other, { crosshost: true, timeoutMs: 30_000 });
    waiting.catch(() => {});
    const first = a.service.hostLocks.helperPid as number;
    await waitFor(() => children(first).length > 0 || undefined, 5000, "the helper to wait");
    a.service.hostLocks.killHelper();
    await waitFor(() => !h.held || undefined, 5000, "the holder to be told");
    await rejectsWith(h.verify(), "SYNCH_ERR", /Lock lost/);
    await assert.rejects(waiting, (e: unknown) => {
      assert.ok(e instanceof LockError, String(e));
      assert.equal(e.code, "SYNCH_ERR");
      assert.match(e.message, /host lock helper ended/);
      return true;
    });
    assert.ok(lockFree(file), "the lost lock is really gone");
    // A connection that held no host lock is left alone.
    assert.equal(plain.held, true);
    await plain.verify();
    await plain.release();
    const h2 = await next.acquire(name, { crosshost: true });
    assert.equal(a.service.hostLocks.helpersStarted, 2);
    assert.notEqual(a.service.hostLocks.helperPid, first);
    assert.equal(lockFree(file), false);
    await h2.release();
    await hb.release();
    // The dead helper's waiting child lets go as soon as it gets the lock (its pipe is gone).
    await waitFor(() => lockFree(otherFile) || undefined, 5000, "the orphaned wait to let go");
  } finally {
    for (const c of [holder, bystander, waiter, next, cb]) c.close();
    await Promise.all([a.stop("request"), b.stop("request")]);
  }
});

test("without perl, auto falls back to flock(1) and helper says perl is missing", async () => {
  await using loc = sandbox("ploc");
  const bin = path.join(loc.dir, "bin");
  fs.mkdirSync(bin);
  for (const tool of ["flock", "cat"]) {
    symlink(
      execFileSync("/bin/sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(),
      path.join(bin, tool),
    );
  }
  const auto = new HostLocks({ searchPath: bin, lingerMs: 0 });
  const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
  await auto.acquire(name, "exclusive", false).granted;
  assert.equal(auto.primitive, "flock");
  assert.equal(lockFree(path.join(loc.dir, ".SUNWfiles1_dhcptab.lock")), false);
  await auto.release(name);
  await auto.close();
  const helper = new HostLocks({ searchPath: bin, primitive: "helper" });
  await assert.rejects(helper.acquire(name, "exclusive", false).granted, (e: unknown) => {
    assert.ok(e instanceof HostLockError);
    assert.equal(e.code, "SYNCH_ERR");
    assert.match(e.message, /perl is not installed/);
    return true;
  });
  assert.equal(helper.idle, true);
  await helper.close();
});

test("one helper per lock directory, at most HOST_LOCK_HELPERS_MAX running; idle ones make room", async () => {
  await using loc = sandbox("mloc");
  const hosts = new HostLocks({ lingerMs: 0, primitive: "helper" });
  try {
    const dirs = Array.from({ length: HOST_LOCK_HELPERS_MAX + 3 }, (_, i) => {
      const d = path.join(loc.dir, `d${i}`);
      fs.mkdirSync(d);
      return d;
    });
    // Two names in one directory share its helper.
    const one = path.join(dirs[0] as string, "a");
    const two = path.join(dirs[0] as string, "b");
    await hosts.acquire(one, "exclusive", false).granted;
    await hosts.acquire(two, "exclusive", false).granted;
    assert.equal(hosts.helpersStarted, 1);
    await hosts.release(one);
    await hosts.release(two);
    // Each further directory gets its own; past the cap, idle helpers are ended to make room.
    for (const d of dirs) {
      const name = path.join(d, "SUNWfiles1_dhcptab");
      await hosts.acquire(name, "shared", false).granted;
      assert.equal(lockFree(path.join(d, ".SUNWfiles1_dhcptab.lock")), false);
      await hosts.release(name);
      assert.ok(hosts.helpersRunning <= HOST_LOCK_HELPERS_MAX, `${hosts.helpersRunning} running`);
    }
    assert.equal(hosts.helpersStarted, dirs.length);
    // With every helper busy, a new directory shares one rather than start more.
    const held: string[] = [];
    for (const d of dirs.slice(0, HOST_LOCK_HELPERS_MAX)) {
      const name = path.join(d, "busy");
      await hosts.acquire(name, "exclusive", false).granted;
      held.push(name);
    }
    const started = hosts.helpersStarted;
    const extra = path.join(dirs[HOST_LOCK_HELPERS_MAX + 2] as string, "extra");
    await hosts.acquire(extra, "exclusive", false).granted;
    assert.equal(lockFree(path.join(path.dirname(extra), ".extra.lock")), false);
    assert.ok(hosts.helpersRunning <= HOST_LOCK_HELPERS_MAX);
    await hosts.release(extra);
    for (const name of held) await hosts.release(name);
    assert.ok(hosts.helpersStarted - started <= HOST_LOCK_HELPERS_MAX, "no helper per request");
  } finally {
    await hosts.close();
  }
});

test("HOSTLOCK in the defaults file picks the primitive of the steward lockd daemon", async () => {
  await using boxA = sandbox("pa");
  await using loc = sandbox("pdloc");
  const bad = path.join(loc.dir, "bad-defaults");
  fs.writeFileSync(bad, "HOSTLOCK=fcntl\n");
  const parsed = readLockdDefaults(bad);
  assert.equal(parsed.hostLockPrimitive, undefined);
  assert.match(
    parsed.warnings.join("\n"),
    /Ignoring HOSTLOCK .*auto, helper, flock.*"fcntl"; using auto/,
  );
  fs.writeFileSync(boxA.defaults, "HOSTLOCK=flock\n");
  assert.equal(readLockdDefaults(boxA.defaults).hostLockPrimitive, "flock");
  const daemon = await startDaemon(boxA);
  const ca = client(boxA);
  try {
    const h = await ca.acquire(path.join(loc.dir, "SUNWfiles1_dhcptab"), { crosshost: true });
    const flocks = await waitFor(
      () => {
        const f = children(daemon.pid, "flock");
        return f.length > 0 ? f : undefined;
      },
      5000,
      "the daemon's flock child",
    );
    assert.equal(flocks.length, 1);
    assert.deepEqual(children(daemon.pid, "perl"), [], "no helper");
    await h.release();
  } finally {
    ca.close();
  }
});

test("a withdrawn wait that gets the lock anyway lets it go before the next request tries", async () => {
  await using loc = sandbox("wloc");
  const x = new HostLocks({ lingerMs: 0, primitive: "helper" });
  const y = new HostLocks({ lingerMs: 0, primitive: "helper" });
  const name = path.join(loc.dir, "SUNWfiles1_dhcptab");
  const file = path.join(loc.dir, ".SUNWfiles1_dhcptab.lock");
  let stopped: number | undefined;
  try {
    await x.acquire(name, "exclusive", false).granted;
    const w = y.acquire(name, "exclusive", false);
    w.granted.catch(() => {});
    const helper = await waitFor(() => y.helperPid, 5000, "y's helper");
    await waitFor(() => children(helper).length > 0 || undefined, 5000, "y's helper to wait");
    // Freeze y's helper so that its waiting child wins the race with the withdrawal.
    process.kill(helper, "SIGSTOP");
    stopped = helper;
    w.cancel();
    await x.release(name);
    await waitFor(() => !lockFree(file) || undefined, 5000, "the withdrawn wait to get the lock");
    const next = y.acquire(name, "exclusive", true);
    process.kill(helper, "SIGCONT");
    stopped = undefined;
    await next.granted;
    await y.release(name);
    assert.ok(lockFree(file));
  } finally {
    if (stopped !== undefined) process.kill(stopped, "SIGCONT");
    await Promise.all([x.close(), y.close()]);
  }
});
