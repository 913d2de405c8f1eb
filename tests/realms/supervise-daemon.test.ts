/**
 * Supervision by the real daemon: kill -9 of the daemon (its successor finds the managers and
 * starts no duplicates), two daemons at once, realms that keep failing, managers that ignore
 * the stop signal, and the `user` field applied when the daemon runs as root.
 */
import { describe, test } from "node:test";
import { isDeno } from "../../lib/platform/runtime.ts";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  alive,
  collect,
  exited,
  spawnSteward,
  tempDir,
  testPermissions,
  waitFor,
} from "../helpers.ts";
import {
  killLeftovers,
  pidsWith,
  REALMS,
  send,
  startDaemon,
  statusPid,
  writeFixture,
} from "./daemon-helpers.ts";

describe("realms daemon supervision", () => {
  test("a daemon killed with kill -9 is replaced by one that adopts its managers", async () => {
    using tmp = tempDir("rsup");
    const fx = writeFixture(tmp.path);
    const first = await startDaemon(tmp.path);
    try {
      const mgr = `${tmp.path}/bin/mgr`;
      await waitFor(() => pidsWith(mgr).length === 2, 5000, "two managers");
      const managers = pidsWith(mgr).sort();
      process.kill(first.pid, "SIGKILL");
      await exited(first.child);
      assert.deepEqual(managers.filter(alive), managers, "managers survive the daemon");
      const second = await startDaemon(tmp.path);
      try {
        const status = await send(fx.socket, "realmcmd_realmstatus");
        const beta = statusPid(status, "beta");
        assert.ok(beta && managers.includes(beta), status);
        assert.match(status, new RegExp(`beta\\tactive\\t\\(running; pid ${beta}; adopted\\)`));
        assert.deepEqual(pidsWith(mgr).sort(), managers, "no duplicate managers");
        assert.match(
          fs.readFileSync(fx.logFile, "utf8"),
          new RegExp(
            `beta: inactive -> running \\(adopt\\): manager pid ${beta} from a previous run`,
          ),
        );
        // The adopted manager is still supervised: killing it gets it restarted.
        process.kill(beta, "SIGKILL");
        const next = await waitFor(
          async () => {
            const p = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "beta");
            return p && p !== beta ? p : undefined;
          },
          10_000,
          "beta to be restarted",
        );
        assert.ok(alive(next));
      } finally {
        await second.stop();
      }
      assert.deepEqual(pidsWith(mgr), [], "stopping the daemon leaves no manager running");
    } finally {
      await first.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("managers are found even when the managers file never got them", {
    skip: isDeno()
      ? "under Deno /proc/<pid>/environ needs --allow-all, so only the managers file is used"
      : false,
  }, async () => {
    using tmp = tempDir("rsup");
    const fx = writeFixture(tmp.path);
    const first = await startDaemon(tmp.path);
    try {
      const mgr = `${tmp.path}/bin/mgr`;
      await waitFor(() => pidsWith(mgr).length === 2, 5000, "two managers");
      const managers = pidsWith(mgr).sort();
      process.kill(first.pid, "SIGKILL");
      await exited(first.child);
      // As if the daemon had died between spawning its managers and recording them.
      fs.rmSync(path.join(fx.stateDir, "dnssec-tools", "realms-managers.json"), { force: true });
      const second = await startDaemon(tmp.path);
      try {
        const status = await send(fx.socket, "realmcmd_realmstatus");
        assert.match(status, /beta\tactive\t\(running; pid \d+; adopted\)/);
        assert.deepEqual(pidsWith(mgr).sort(), managers, "no duplicate managers");
      } finally {
        await second.stop();
      }
      // Adopted managers are not our children: what is left of them may be a zombie until init
      // reaps it, so look for live processes only.
      assert.deepEqual(pidsWith(`${tmp.path}/bin/mgr`), []);
    } finally {
      await first.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("of two daemons started at once exactly one serves, the other exits 4", async () => {
    using tmp = tempDir("rsup");
    const fx = writeFixture(tmp.path);
    const args = [
      "realms",
      "daemon",
      "--foreground",
      "--directory",
      tmp.path,
      "--statedir",
      "state",
      "realms",
    ];
    const permissions = testPermissions(tmp.path, {
      unixSockets: [fx.socket],
      read: ["/proc", "/etc/passwd"],
    });
    const a = spawnSteward(args, { permissions });
    const b = spawnSteward(args, { permissions });
    const out = [collect(a), collect(b)];
    try {
      const loser = await Promise.race([
        exited(a, 20_000).then((r) => ({ r, i: 0 })),
        exited(b, 20_000).then((r) => ({ r, i: 1 })),
      ]);
      assert.equal(loser.r.code, 4, out[loser.i]?.stderr());
      assert.match(out[loser.i]?.stderr() ?? "", /another dtrealms is already running/);
      const winner = loser.i === 0 ? b : a;
      assert.equal(winner.exitCode, null);
      await waitFor(() => pidsWith(`${tmp.path}/bin/mgr`).length === 2, 5000, "two managers");
      assert.equal(fs.readFileSync(fx.idFile, "utf8"), `${winner.pid}\n`);
      assert.match(await send(fx.socket, "realmcmd_status"), /active realms {6}2\n/);
      assert.equal(pidsWith(`${tmp.path}/bin/mgr`).length, 2);
    } finally {
      for (const c of [a, b]) if (c.exitCode === null) process.kill(c.pid as number, "SIGTERM");
      await Promise.all([exited(a), exited(b)]);
      await killLeftovers(tmp.path);
    }
  });

  test("a realm that keeps failing is marked failed without disturbing the others", async () => {
    using tmp = tempDir("rsup");
    const fx = writeFixture(
      tmp.path,
      REALMS + `
realm "crashy"
\tstate\t\t"active"
\tmanager\t\t"bin/crash"
\trestartdelay\t"0.05"
\tmaxrestarts\t"2"

realm "slowcrash"
\tstate\t\t"active"
\tmanager\t\t"bin/crash"
\trestartdelay\t"30"

realm "norollctl"
\tstate\t\t"active"
\trealmdir\t"alpha"
\trollrec\t\t"alpha.rollrec"
\tmanager\t\t"../bin/mgr"
\trollctl\t\t"../bin/no-such-rollctl"

realm "badsig"
\tstate\t\t"active"
\tmanager\t\t"bin/mgr"
\tstopsignal\t"SIGFOO"

realm "stubborn"
\tstate\t\t"active"
\tmanager\t\t"bin/stubborn"
\tstoptimeout\t"0.3"
`,
    );
    const d = await startDaemon(tmp.path);
    try {
      const status = await waitFor(
        async () => {
          const r = await send(fx.socket, "realmcmd_realmstatus");
          return r.includes("crashy\tfailed") ? r : undefined;
        },
        10_000,
        "crashy to fail",
      );
      assert.match(
        status,
        /crashy\tfailed\tFAILED: manager exited \(exit code 3\); gave up after 2 restarts\n/,
      );
      assert.match(status, /beta\tactive\t\(running; pid \d+\)\n/);
      assert.match(
        status,
        /badsig\tfailed\tFAILED: cannot start manager: invalid realm definition: Realm badsig: stopsignal is not a signal: SIGFOO\n/,
      );
      assert.match(status, /alpha\tactive\t1\/1\/1\/1\n/);
      assert.match(status, /norollctl\tactive\t\(no data available\)\n/);
      assert.match(
        status,
        /slowcrash\tbackoff\tBACKOFF: restart 1 in (29|30)(\.\d)? s after exit code 3\n/,
      );
      // As upstream: a realm that is not running (failed included) counts as inactive.
      assert.match(
        await send(fx.socket, "realmcmd_status"),
        / {5}active realms {6}5\n {5}inactive realms {4}3\n \r\n$/,
      );
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.equal(log.match(/crashy: starting -> running/g)?.length, 3);
      assert.match(log, /crashy: running -> failed \(gave-up\)/);
      // A manager that ignores the stop signal is killed at the realm's deadline.
      const stubborn = pidsWith(`${tmp.path}/bin/stubborn`);
      assert.equal(stubborn.length, 1);
      const t0 = Date.now();
      assert.equal(
        await send(fx.socket, "realmcmd_stoprealm", "stubborn"),
        '0 \r\nrealm "stubborn" stopped \r\n',
      );
      assert.ok(Date.now() - t0 < 3000);
      assert.deepEqual(stubborn.filter(alive), []);
      assert.match(
        fs.readFileSync(fx.logFile, "utf8"),
        /stubborn: stopping -> stopping \(stop-deadline\): no exit after 300 ms; sent SIGKILL/,
      );
      // stopping a failed realm makes it inactive; stopall then has the rest.
      assert.equal(
        await send(fx.socket, "realmcmd_stopall"),
        "0 \r\nalpha stopped\nbadsig stopped\nbeta stopped\ncrashy stopped\nnorollctl stopped\n" +
          "slowcrash stopped \r\n",
      );
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  const root = typeof process.geteuid === "function" && process.geteuid() === 0;
  let hasUseradd = false;
  try {
    execFileSync("useradd", ["--help"], { stdio: "ignore" });
    hasUseradd = true;
  } catch { /* not installed */ }
  const skip = !root
    ? "the user field is applied only when the daemon runs as root (run the tests as root)"
    : !hasUseradd
    ? "useradd is not installed"
    : false;

  test("a realm's user field runs its manager and commands as that user with its groups", {
    skip,
  }, async () => {
    using tmp = tempDir("rsup");
    const name = `stw${process.pid % 100000}`;
    const group = `${name}g`;
    execFileSync("groupadd", [group]);
    execFileSync("useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", "-G", group, name]);
    let d;
    try {
      const uid = execFileSync("id", ["-u", name], { encoding: "utf8" }).trim();
      const gid = execFileSync("id", ["-g", name], { encoding: "utf8" }).trim();
      const sup = execFileSync("getent", ["group", group], { encoding: "utf8" }).split(":")[2];
      const fx = writeFixture(
        tmp.path,
        `realm "asuser"
\tstate\t\t"active"
\tmanager\t\t"/bin/sleep"
\targs\t\t"300"
\tuser\t\t"${name}"
\tallowcommands\t"id"
`,
      );
      d = await startDaemon(tmp.path);
      const pid = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "asuser");
      assert.ok(pid);
      const ids = execFileSync("ps", ["-o", "uid=,gid=,supgid=", "-p", String(pid)], {
        encoding: "utf8",
      }).trim().split(/\s+/);
      assert.equal(ids[0], uid);
      assert.equal(ids[1], gid);
      assert.ok((ids[2] ?? "").split(",").includes(sup as string), ids.join(" "));
      const reply = await send(fx.socket, "realmcmd_command", "asuser id");
      assert.match(reply, new RegExp(`^0 \\r\\nuid=${uid}\\(${name}\\) gid=${gid}`));
      assert.match(reply, new RegExp(`${sup}\\(${group}\\)`));
      assert.match(reply, /\nreturn code - 0\n \r\n$/);
    } finally {
      await d?.stop();
      await killLeftovers(tmp.path);
      try {
        execFileSync("userdel", [name]);
      } catch { /* already gone */ }
      try {
        execFileSync("groupdel", [group]);
      } catch { /* already gone */ }
    }
  });

  test("each manager writes to its own log file, and SIGINT halts the daemon cleanly", async () => {
    using tmp = tempDir("rsup");
    writeFixture(tmp.path);
    const d = await startDaemon(tmp.path);
    try {
      const logs = path.join(tmp.path, "realm-logs");
      await waitFor(() => fs.existsSync(path.join(logs, "beta.log")), 5000, "beta.log");
      await waitFor(
        () => fs.readFileSync(path.join(logs, "alpha.log"), "utf8").includes("-realm alpha"),
        5000,
        "alpha's output",
      );
      assert.doesNotMatch(fs.readFileSync(path.join(logs, "beta.log"), "utf8"), /-realm alpha/);
      // realmctl -halt now sends SIGINT: a clean halt that leaves no manager running.
      const managers = pidsWith(`${tmp.path}/bin/mgr`);
      assert.equal(managers.length, 2);
      process.kill(d.pid, "SIGINT");
      const r = await exited(d.child);
      assert.equal(r.code, 0);
      assert.deepEqual(managers.filter(alive), []);
      assert.match(
        fs.readFileSync(path.join(tmp.path, "log.dtrealms"), "utf8"),
        /dtrealms: SIGINT received( during start-up)?; shutting down child realms/,
      );
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
