/**
 * flock(1) habits of `steward lock run` (-s/-x/-n/-w/-E/-c, the command after the name), what
 * "busy" and `lockd status` say about holders, and `lockd stop` refusing while locks are held.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { splitAfterName } from "../../cli/lock.ts";
import { LockClient } from "../../lib/lockd/client.ts";
import {
  alive,
  collect,
  runSteward as runAny,
  spawnSteward,
  testPermissions,
  TMP_ROOT,
  waitFor,
} from "../helpers.ts";
import { sandbox } from "./harness.ts";

describe("what follows the lock name", () => {
  test("splitAfterName takes flock's forms and hints at -- for an option it does not know", () => {
    assert.deepEqual(splitAfterName(["ls", "-la"], {}), { options: {}, args: ["ls", "-la"] });
    assert.deepEqual(splitAfterName(["--", "ls", "-s"], {}), { options: {}, args: ["ls", "-s"] });
    assert.deepEqual(splitAfterName(["-c", "echo a; echo b"], { shared: true }), {
      options: { shared: true, command: "echo a; echo b" },
      args: [],
    });
    assert.deepEqual(splitAfterName(["-sn", "-w", "5", "--", "true"], {}), {
      options: { shared: true, nonblock: true, timeout: "5" },
      args: ["true"],
    });
    assert.deepEqual(splitAfterName(["-E7", "--timeout=2", "--", "x"], {}).options, {
      conflictExitCode: "7",
      timeout: "2",
    });
    assert.throws(
      () => splitAfterName(["-la"], {}),
      /Unknown option after the lock name: -la \(options of the command go after --/,
    );
    assert.throws(() => splitAfterName(["--bogus", "--", "x"], {}), /--bogus/);
    assert.throws(() => splitAfterName(["-s", "ls"], {}), /Unknown option after the lock name: -s/);
  });
});

describe("lock run and lockd status with flock's options", () => {
  test("busy names the holder; status shows its command, command pid and time held; stop needs --force", async () => {
    await using box = sandbox("flock");
    const where = ["--run-dir", box.dir];
    const permissions = testPermissions(TMP_ROOT, { unixSockets: [box.socket] });
    const runSteward = (args: string[]) => runAny(args, { permissions });
    const holder = box.track(
      spawnSteward([
        "lock",
        "run",
        ...where,
        "-x",
        "jobs/nightly",
        "-c",
        "echo held; exec sleep 60",
      ], { permissions }),
    );
    const out = collect(holder);
    await waitFor(() => out.stdout().includes("held"), 30_000, "the holder's command");
    const c = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      box.trackPid((await c.status()).pid);
      // The command's pid arrives just after the command starts.
      const h = await waitFor(
        async () => {
          const x = (await c.status()).locks[0]?.holders[0];
          return x?.commandPid ? x : undefined;
        },
        10_000,
        "the command pid",
      );
      assert.equal(h.pid, holder.pid);
      assert.notEqual(h.commandPid, holder.pid);
      assert.ok(alive(h.commandPid as number), "the command pid is the running command");
      assert.equal(h.command, "echo held; exec sleep 60");

      const busy = await runSteward(["lock", "run", ...where, "-n", "jobs/nightly", "--", "true"]);
      assert.equal(busy.code, 75, busy.stderr);
      assert.match(
        busy.stderr,
        new RegExp(
          `^steward: Lock is busy: jobs/nightly \\(held by pid ${holder.pid}, command pid ` +
            `${h.commandPid}, since ${
              h.since.replace(/\./g, "\\.")
            }, for \\d+s: echo held; exec sleep 60\\)\n$`,
        ),
      );
      const conflict = await runSteward([
        "lock",
        "run",
        ...where,
        "-n",
        "-E",
        "3",
        "jobs/nightly",
        "true",
      ]);
      assert.equal(conflict.code, 3, conflict.stderr);
      const waited = await runSteward([
        "lock",
        "run",
        ...where,
        "-w",
        "0.2",
        "jobs/nightly",
        "true",
      ]);
      assert.equal(waited.code, 124, waited.stderr);
      const hint = await runSteward(["lock", "run", ...where, "jobs/other", "-la"]);
      assert.equal(hint.code, 2);
      assert.match(hint.stderr, /Unknown option after the lock name: -la .*-- COMMAND -la/);

      const table = await runSteward(["lockd", "status", ...where]);
      assert.equal(table.code, 0, table.stderr);
      const cols = table.stdout.trim().split("\t");
      assert.deepEqual(
        [cols[0], cols[1], cols[3], cols[6], cols[7]],
        [
          "jobs/nightly",
          "held",
          String(holder.pid),
          String(h.commandPid),
          "echo held; exec sleep 60",
        ],
      );
      assert.match(cols[5] ?? "", /^\d+s$/);

      const refused = await runSteward(["lockd", "stop", ...where]);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /lockd not stopped: 1 lock\(s\) held by 1 client\(s\); use --force/,
      );
      const forced = await runSteward(["lockd", "stop", "--force", ...where]);
      assert.equal(forced.code, 0, forced.stderr);
    } finally {
      c.close();
    }
  });

  test("lockd status with no locks says so", async () => {
    await using box = sandbox("nolocks");
    const where = ["--run-dir", box.dir];
    const permissions = testPermissions(TMP_ROOT, { unixSockets: [box.socket] });
    const runSteward = (args: string[]) => runAny(args, { permissions });
    const c = new LockClient({ runDir: box.dir, idleMinutes: 1 });
    try {
      await (await c.acquire("x")).release();
      box.trackPid(c.daemonPid);
      const r = await runSteward(["lockd", "status", ...where]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "No locks held\n");
      const stop = await runSteward(["lockd", "stop", ...where]);
      assert.equal(stop.code, 0, stop.stderr); // nothing held: no --force needed
    } finally {
      c.close();
    }
  });
});
