/**
 * The daemon's life: on-demand start (also by many clients at once), idle exit and its
 * defaults file, stale and live sockets, socket and run-directory permissions.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { identifyLockd, LockClient, LockError } from "../../lib/lockd/client.ts";
import { alive, collect, exited, spawnSteward, waitFor, withEnv } from "../helpers.ts";
import { lockdPermissions } from "../../lib/lockd/start.ts";
import { processesNaming, sandbox, startDaemon } from "./harness.ts";
import { isDeno } from "../../lib/platform/runtime.ts";

function fixture(name: string): string {
  return path.join(import.meta.dirname as string, "fixtures", name);
}

describe("lockd lifecycle", () => {
  test("a client starts the daemon on demand when none answers", async () => {
    await using box = sandbox("ondemand");
    const client = new LockClient({ runDir: box.dir, idleMinutes: 0.05 });
    try {
      const lock = await client.acquire("first");
      const pid = client.daemonPid;
      assert.ok(pid > 0 && pid !== process.pid);
      box.trackPid(pid);
      assert.equal(await identifyLockd(box.socket), pid);
      await lock.release();
    } finally {
      client.close();
    }
  });

  test("a client whose daemon exited when idle starts a new one on its next acquire", async () => {
    await using box = sandbox("reidle");
    const client = new LockClient({ runDir: box.dir, idleMinutes: 0.01 });
    const events: string[] = [];
    client.onEvent((e) => events.push(`${e.event}:${String(e.reason)}`));
    try {
      await (await client.acquire("a")).release();
      const first = client.daemonPid;
      box.trackPid(first);
      assert.equal((await client.status()).idleMinutes, 0.01);
      await waitFor(() => events.length > 1, 10_000, "the idle shutdown event");
      assert.deepEqual(events, ["shutdown:idle", "disconnected:idle"]);
      await (await client.acquire("a")).release();
      assert.notEqual(client.daemonPid, first);
      box.trackPid(client.daemonPid);
    } finally {
      client.close();
    }
  });

  test("many clients starting the daemon at once end up with exactly one", async () => {
    await using box = sandbox("crowd");
    // Under Node every daemon started notes its pid: only one may have been started at all.
    const startLog = path.join(box.dir, "starts");
    const restore = isDeno() ? () => {} : withEnv({
      NODE_OPTIONS: `--import=${fixture("count-start.mjs")}`,
      STEWARD_TEST_START_LOG: startLog,
    });
    const clients = Array.from(
      { length: 8 },
      () => new LockClient({ runDir: box.dir, idleMinutes: 0.05 }),
    );
    try {
      const locks = await Promise.all(clients.map((c) => c.acquire("crowd", { mode: "shared" })));
      if (!isDeno()) {
        assert.equal(fs.readFileSync(startLog, "utf8").trim().split("\n").length, 1);
      }
      assert.equal(fs.existsSync(path.join(box.dir, ".lockd.sock.starting")), false);
      const pids = new Set(clients.map((c) => c.daemonPid));
      assert.equal(pids.size, 1, `daemons: ${[...pids].join(", ")}`);
      const [pid] = pids as Set<number>;
      box.trackPid(pid as number);
      const status = await (clients[0] as LockClient).status();
      assert.equal(status.locks[0]?.holders.length, 8);
      await Promise.all(locks.map((l) => l.release()));
      // The daemons that lost the race exit on their own: only the one serving stays.
      const daemons = () => processesNaming(`lockd --foreground --run-dir ${box.dir}`);
      await waitFor(() => daemons().length === 1, 15_000, "the other daemons to exit");
      assert.deepEqual(daemons(), [pid]);
    } finally {
      restore();
      for (const c of clients) c.close();
    }
  });

  test("a client waits for another client's start, and takes over when that one gives up", async () => {
    await using box = sandbox("takeover");
    const marker = path.join(box.dir, ".lockd.sock.starting");
    // Another client (alive: a sleeping process) is starting a daemon that never comes.
    const other = box.track(spawn("sleep", ["30"], { stdio: "ignore" }));
    fs.writeFileSync(marker, String(other.pid));
    const client = new LockClient({ runDir: box.dir, idleMinutes: 0.05 });
    try {
      const t0 = performance.now();
      const pending = client.acquire("late");
      await sleep(1000);
      assert.equal(fs.existsSync(box.socket), false, "no daemon started beside the other's");
      fs.rmSync(marker); // the other client gave up
      const lock = await pending;
      box.trackPid(client.daemonPid);
      assert.ok(performance.now() - t0 >= 1000);
      await lock.release();
    } finally {
      client.close();
    }
  });

  test("a start marker left by a client that died does not hold up the next start", async () => {
    await using box = sandbox("deadmarker");
    const dead = spawn("true");
    await exited(dead);
    fs.writeFileSync(path.join(box.dir, ".lockd.sock.starting"), String(dead.pid));
    const client = new LockClient({ runDir: box.dir, idleMinutes: 0.05 });
    try {
      const t0 = performance.now();
      const lock = await client.acquire("x");
      box.trackPid(client.daemonPid);
      assert.ok(performance.now() - t0 < 10_000);
      await lock.release();
      assert.equal(fs.existsSync(path.join(box.dir, ".lockd.sock.starting")), false);
    } finally {
      client.close();
    }
  });

  test(
    "a daemon still starting after the upstream 2.5 s is waited for, not given up on",
    {
      skip: isDeno()
        ? "the slow start is injected through NODE_OPTIONS, which Deno ignores"
        : false,
    },
    async () => {
      await using box = sandbox("slowstart");
      const restore = withEnv({ NODE_OPTIONS: `--import=${fixture("slow-start.mjs")}` });
      const client = new LockClient({ runDir: box.dir, idleMinutes: 0.05 });
      try {
        const t0 = performance.now();
        const lock = await client.acquire("late");
        const ms = performance.now() - t0;
        box.trackPid(client.daemonPid);
        assert.ok(ms >= 3000, `the daemon answered after ${ms.toFixed(0)} ms`);
        await lock.release();
      } finally {
        restore();
        client.close();
      }
    },
  );

  test("a client gives up with NO_LOCKMGR and the daemon's reason when the daemon cannot start", async () => {
    await using box = sandbox("nostart");
    // A daemon given an idle time it refuses exits at once with a usage error.
    const client = new LockClient({ runDir: box.dir, idleMinutes: Number.NaN });
    const t0 = performance.now();
    try {
      await assert.rejects(
        client.acquire("x"),
        (e: unknown) =>
          e instanceof LockError && e.code === "NO_LOCKMGR" &&
          e.message ===
            "Cannot start the lock manager: Invalid --idle: not a number of minutes: NaN",
      );
      // Said as soon as the daemon exited, not after the 2.5 s the start window lasts.
      const ms = performance.now() - t0;
      assert.ok(ms < 2400, `gave up after ${ms.toFixed(0)} ms`);
      assert.match(fs.readFileSync(path.join(box.dir, "lockd.stderr"), "utf8"), /Invalid --idle/);
    } finally {
      client.close();
    }
  });

  test("the daemon exits when idle, not while a lock is held, and removes its socket", async () => {
    await using box = sandbox("idle");
    const d = await startDaemon(box, { extra: ["--idle", "0.01"] }); // 0.6 s
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      const lock = await client.acquire("keep");
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(alive(d.pid), "still running while a lock is held");
      await lock.release();
      const r = await exited(d.child, 5000);
      assert.equal(r.code, 0);
      assert.equal(fs.existsSync(box.socket), false);
      assert.match(d.stderr(), /No locks for 0\.01 min; exiting/);
    } finally {
      client.close();
    }
  });

  test("IDLE comes from the defaults file and --idle overrides it", async () => {
    await using box = sandbox("idlefile");
    const file = path.join(box.dir, "steward-lockd");
    fs.writeFileSync(file, "# how long lockd stays up without locks\nIDLE=0.01\n");
    const d = await startDaemon(box, { defaultsFile: file });
    const r = await exited(d.child, 5000);
    assert.equal(r.code, 0, "exited on its own after IDLE from the file");
    const d2 = await startDaemon(box, { defaultsFile: file, extra: ["--idle", "7"] });
    const c = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      assert.equal((await c.status()).idleMinutes, 7);
    } finally {
      c.close();
    }
    process.kill(d2.pid, "SIGTERM");
    await exited(d2.child);
  });

  test("SIGINT stops the daemon cleanly too", async () => {
    await using box = sandbox("sigint");
    const d = await startDaemon(box);
    process.kill(d.pid, "SIGINT");
    const r = await exited(d.child);
    assert.equal(r.code, 0, d.stderr());
    assert.equal(fs.existsSync(box.socket), false);
    assert.match(d.stderr(), /Received SIGINT/);
  });

  test("a stale socket left by a killed daemon does not stop a new one", async () => {
    await using box = sandbox("stale");
    const d = await startDaemon(box);
    process.kill(d.pid, "SIGKILL");
    await exited(d.child);
    assert.ok(fs.existsSync(box.socket), "the killed daemon left its socket behind");
    const d2 = await startDaemon(box);
    assert.notEqual(d2.pid, d.pid);
    assert.equal(await identifyLockd(box.socket), d2.pid);
  });

  test("a live daemon is never displaced", async () => {
    await using box = sandbox("live");
    const d = await startDaemon(box);
    const ino = fs.statSync(box.socket).ino;
    const second = box.track(spawnSteward(
      ["lockd", "--foreground", "--run-dir", box.dir, "--defaults", box.defaults],
      {
        permissions: lockdPermissions({
          runDir: box.dir,
          socketPath: box.socket,
          defaultsFile: box.defaults,
        }),
      },
    ));
    const out = collect(second);
    const r = await exited(second);
    assert.equal(r.code, 1);
    assert.equal(
      out.stderr().trim(),
      `steward: lockd is already running (pid ${d.pid}) on ${box.socket}`,
    );
    assert.equal(fs.statSync(box.socket).ino, ino);
    assert.equal(await identifyLockd(box.socket), d.pid);
  });

  test("the socket is mode 0600 and a run directory others could write is tightened", async () => {
    await using box = sandbox("modes");
    fs.chmodSync(box.dir, 0o777);
    await startDaemon(box);
    assert.equal(fs.statSync(box.socket).mode & 0o777, 0o600);
    assert.equal(fs.statSync(box.dir).mode & 0o022, 0, "group and others cannot write");
  });

  test("the daemon refuses a run directory that is a symlink or owned by someone else", async () => {
    await using box = sandbox("baddir");
    const real = path.join(box.dir, "real");
    fs.mkdirSync(real, { mode: 0o700 });
    const link = path.join(box.dir, "link");
    execFileSync("ln", ["-s", real, link]); // Deno allows no symlink under scoped permissions
    const perms = lockdPermissions({ runDir: link, socketPath: path.join(link, "lockd.sock") });
    const r1 = spawnSteward([
      "lockd",
      "--foreground",
      "--run-dir",
      link,
      "--defaults",
      box.defaults,
    ], {
      permissions: { ...perms, read: [...(perms.read ?? []), box.defaults] },
    });
    const o1 = collect(r1);
    assert.equal((await exited(r1)).code, 1, o1.stderr());
    assert.match(o1.stderr(), /Run directory is a symbolic link/);
    if (process.getuid?.() === 0) {
      const theirs = path.join(box.dir, "theirs");
      fs.mkdirSync(theirs, { mode: 0o700 });
      fs.chownSync(theirs, 65534, 65534);
      const p2 = lockdPermissions({ runDir: theirs, socketPath: path.join(theirs, "lockd.sock") });
      const r2 = spawnSteward(
        ["lockd", "--foreground", "--run-dir", theirs, "--defaults", box.defaults],
        { permissions: { ...p2, read: [...(p2.read ?? []), box.defaults] } },
      );
      const o2 = collect(r2);
      assert.equal((await exited(r2)).code, 1);
      assert.match(o2.stderr(), /Run directory is owned by uid 65534, not 0/);
    }
  });
});
