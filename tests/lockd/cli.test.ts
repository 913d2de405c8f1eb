/**
 * End to end from the built binary: `steward lockd` (detached), `lockd status`, `lockd stop`,
 * and `steward lock run` with its exit codes, status propagation and signal handling.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { identifyLockd, LockClient } from "../../lib/lockd/client.ts";
import {
  alive,
  collect,
  exited,
  requireBinary,
  runSteward,
  spawnSteward,
  waitFor,
} from "../helpers.ts";
import { processesNaming, sandbox } from "./harness.ts";

const bin = { via: "binary" as const };

describe("steward lockd and lock run (built binary)", () => {
  test("lockd starts detached, refuses a second start, lists locks, and stops", async () => {
    requireBinary();
    await using box = sandbox("e2e");
    const where = ["--run-dir", box.dir];
    const r = await runSteward(["lockd", ...where, "--defaults", box.defaults, "--idle", "5"], bin);
    assert.equal(r.code, 0, r.stderr);
    const m = /^lockd started \(pid (\d+)\) on (.+)$/.exec(r.stdout.trim());
    assert.ok(m, r.stdout);
    const pid = Number(m[1]);
    box.trackPid(pid);
    assert.equal(m[2], box.socket);
    assert.ok(alive(pid), "the daemon outlives the command that started it");
    assert.equal(fs.statSync(box.socket).mode & 0o777, 0o600);

    const again = await runSteward(["lockd", ...where, "--defaults", box.defaults], bin);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr.trim(),
      `steward: lockd is already running (pid ${pid}) on ${box.socket}`,
    );

    const holder = box.track(
      spawnSteward(["lock", "run", ...where, "--shared", "db", "--", "sleep", "30"], bin),
    );
    const client = new LockClient({ socketPath: box.socket, autoStart: false });
    let waiter;
    try {
      await waitFor(async () => (await client.status()).locks[0]?.holders.length === 1, 15_000);
      waiter = box.track(spawnSteward(["lock", "run", ...where, "db", "--", "true"], bin));
      await waitFor(async () => (await client.status()).locks[0]?.waiters.length === 1, 15_000);
    } finally {
      client.close();
    }
    const js = await runSteward(["lockd", "status", ...where, "--json"], bin);
    assert.equal(js.code, 0, js.stderr);
    const status = JSON.parse(js.stdout);
    assert.equal(status.running, true);
    assert.equal(status.pid, pid);
    assert.equal(status.idleMinutes, 5);
    assert.equal(status.locks.length, 1);
    assert.equal(status.locks[0].name, "db");
    assert.equal(status.locks[0].mode, "shared");
    assert.equal(status.locks[0].holders[0].pid, holder.pid);
    assert.match(status.locks[0].holders[0].since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.deepEqual(
      status.locks[0].waiters.map((w: { pid: number; mode: string }) => [w.pid, w.mode]),
      [
        [waiter.pid, "exclusive"],
      ],
    );
    const plain = await runSteward(["lockd", "status", ...where], bin);
    assert.deepEqual(
      plain.stdout.trim().split("\n").map((l) => l.split("\t").slice(0, 4)),
      [["db", "held", "shared", String(holder.pid)], [
        "db",
        "waiting",
        "exclusive",
        String(waiter.pid),
      ]],
    );

    // Killing the holder (steward itself) with SIGKILL releases the lock: the waiter runs.
    process.kill(holder.pid as number, "SIGKILL");
    assert.equal((await exited(waiter)).code, 0);

    const stop = await runSteward(["lockd", "stop", ...where], bin);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout.trim(), `lockd stopped (pid ${pid})`);
    // The daemon is re-parented to init, which may reap it late: watch its socket go instead.
    await waitFor(() => !fs.existsSync(box.socket), 5000, "lockd to remove its socket");
    const gone = await runSteward(["lockd", "status", ...where, "--json"], bin);
    assert.equal(gone.code, 3);
    assert.equal(JSON.parse(gone.stdout).running, false);
    const stopAgain = await runSteward(["lockd", "stop", ...where], bin);
    assert.equal(stopAgain.code, 0);
    assert.match(stopAgain.stderr, /lockd is not running/);
  });

  test("lock run starts lockd on demand and passes the command's status and output through", async () => {
    requireBinary();
    await using box = sandbox("e2erun");
    const where = ["--run-dir", box.dir];
    const r = await runSteward([
      "lock",
      "run",
      ...where,
      "job",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 7",
    ], bin);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    const pid = await identifyLockd(box.socket);
    assert.ok(pid !== undefined, "a daemon was started on demand");
    box.trackPid(pid);
    const killed = await runSteward([
      "lock",
      "run",
      ...where,
      "job",
      "--",
      "sh",
      "-c",
      "kill -9 $$",
    ], bin);
    assert.equal(killed.code, 137, "128 + SIGKILL");
    const missing = await runSteward(
      ["lock", "run", ...where, "job", "--", "no-such-command-here"],
      bin,
    );
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr.trim(), "steward: Command not found: no-such-command-here");
    const usage = await runSteward([
      "lock",
      "run",
      ...where,
      "--timeout",
      "soon",
      "job",
      "--",
      "true",
    ], bin);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Invalid --timeout: not a number of seconds: soon/);
    const noName = await runSteward(["lock", "run", ...where, "", "--", "true"], bin);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /^steward: Invalid lock name: Lock name is empty\n/);
  });

  test("six lock run commands started at once with no daemon all run, served by one daemon", async () => {
    requireBinary();
    await using box = sandbox("e2ecrowd");
    const runs = await Promise.all(Array.from({ length: 6 }, () =>
      runSteward(
        ["lock", "run", "--run-dir", box.dir, "crowd", "--", "sh", "-c", "echo ok"],
        bin,
      )));
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "ok\n");
    }
    const pid = await identifyLockd(box.socket);
    assert.ok(pid !== undefined);
    box.trackPid(pid);
    // The daemons that lost the race exit on their own: only the one serving stays.
    const daemons = () => processesNaming(`lockd --foreground --run-dir ${box.dir}`);
    await waitFor(() => daemons().length === 1, 5000, "the other daemons to exit");
    assert.deepEqual(daemons(), [pid]);
  });

  test("lock run exits 75 when busy with --nonblock and 124 past --timeout, with one line", async () => {
    requireBinary();
    await using box = sandbox("e2ebusy");
    const where = ["--run-dir", box.dir];
    const holder = box.track(
      spawnSteward(["lock", "run", ...where, "busy", "--", "sleep", "30"], bin),
    );
    const client = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      await waitFor(
        async () => {
          try {
            return (await client.status()).locks.length === 1;
          } catch {
            return false;
          }
        },
        15_000,
        "the holder to take the lock",
      );
    } finally {
      client.close();
    }
    const pid = await identifyLockd(box.socket);
    if (pid) box.trackPid(pid);
    const busy = await runSteward(
      ["lock", "run", ...where, "--nonblock", "busy", "--", "true"],
      bin,
    );
    assert.equal(busy.code, 75);
    assert.match(
      busy.stderr,
      /^steward: Lock is busy: busy \(held by pid \d+, command pid \d+, since [\dT:.Z-]+, for \d+s: sleep 30\)\n$/,
    );
    const t0 = performance.now();
    const late = await runSteward([
      "lock",
      "run",
      ...where,
      "--timeout",
      "0.3",
      "busy",
      "--",
      "true",
    ], bin);
    assert.equal(late.code, 124);
    assert.equal(late.stderr, "steward: Timed out after 0.3 s waiting for lock: busy\n");
    assert.ok(performance.now() - t0 >= 300);
    // Interrupted while waiting: exit 128+2 and the wait is withdrawn.
    const impatient = box.track(spawnSteward(["lock", "run", ...where, "busy", "--", "true"], bin));
    const c2 = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      await waitFor(async () => (await c2.status()).locks[0]?.waiters.length === 1, 15_000);
      process.kill(impatient.pid as number, "SIGINT");
      assert.equal((await exited(impatient)).code, 130);
      await waitFor(async () => (await c2.status()).locks[0]?.waiters.length === 0, 5000);
    } finally {
      c2.close();
    }
    process.kill(holder.pid as number, "SIGKILL");
  });

  test("lock run refuses a symlinked run directory, and exits 69 when it cannot reach one", async () => {
    requireBinary();
    await using box = sandbox("e2enolm");
    const link = `${box.dir}/link`;
    fs.mkdirSync(`${box.dir}/real`, { mode: 0o700 });
    execFileSync("ln", ["-s", `${box.dir}/real`, link]); // a symlinked run dir is refused
    const r = await runSteward(["lock", "run", "--run-dir", link, "x", "--", "true"], bin);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^steward: Refusing the lock manager: Lock manager directory is a symbolic link: .*\/link\n$/,
    );
    fs.writeFileSync(`${box.dir}/file`, "");
    const r2 = await runSteward([
      "lock",
      "run",
      "--run-dir",
      `${box.dir}/file/run`,
      "x",
      "--",
      "true",
    ], bin);
    assert.equal(r2.code, 69, r2.stderr);
    assert.match(
      r2.stderr,
      /^steward: Cannot create the run directory .*\/file\/run: ENOTDIR: not a directory\n$/,
    );
  });

  test("lock run warns when the lock manager dies under it and exits 70 after the command", async () => {
    requireBinary();
    await using box = sandbox("e2elost");
    const child = box.track(spawnSteward(
      [
        "lock",
        "run",
        "--run-dir",
        box.dir,
        "lost",
        "--",
        "sh",
        "-c",
        "echo started; sleep 1; exit 3",
      ],
      bin,
    ));
    const out = collect(child);
    await waitFor(() => out.stdout().includes("started"), 15_000, "the command to start");
    const pid = await identifyLockd(box.socket);
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGKILL");
    assert.equal((await exited(child)).code, 70);
    // A kill -9 shows as a closed connection or a reset, as the kernel has it.
    assert.match(
      out.stderr(),
      new RegExp(
        "^steward: lost the lock manager \\((connection closed|socket error)\\); lock no longer " +
          "held: lost\nsteward: the lock was lost while the command ran \\(its status was 3\\): lost\n$",
      ),
    );
  });

  test("lock run forwards SIGTERM to the command and exits 128+15", async () => {
    requireBinary();
    await using box = sandbox("e2esig");
    const where = ["--run-dir", box.dir];
    const child = box.track(
      spawnSteward([
        "lock",
        "run",
        ...where,
        "sig",
        "--",
        "sh",
        "-c",
        "echo started; exec sleep 30",
      ], bin),
    );
    const out = collect(child);
    await waitFor(() => out.stdout().includes("started"), 15_000, "the command to start");
    const pid = await identifyLockd(box.socket);
    if (pid) box.trackPid(pid);
    process.kill(child.pid as number, "SIGTERM");
    const r = await exited(child);
    assert.equal(r.code, 143, out.stderr());
    const c = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      assert.deepEqual((await c.status()).locks, []);
    } finally {
      c.close();
    }
  });
});
