/**
 * Status an operator can use: `steward realms status [REALM]`, `restart`, exit codes, `--json`,
 * errors that say why, the daemon's process title, FILE resolved the same way everywhere.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { runSteward, tempDir, waitFor } from "../helpers.ts";
import { killLeftovers, send, startDaemon, statusPid, writeFixture } from "./daemon-helpers.ts";

const bin = { via: "binary" as const };

const REALMS = `realm "fine"
\tstate\t\t"active"
\tmanager\t\t"bin/mgr"
\targs\t\t"-name fine"

realm "broken"
\tstate\t\t"active"
\tmanager\t\t"bin/crash"
\tmaxrestarts\t"0"

realm "flaky"
\tstate\t\t"active"
\tmanager\t\t"bin/crash"
\trestartdelay\t"30"

realm "off"
\tstate\t\t"inactive"
\tmanager\t\t"bin/mgr"
`;

describe("steward realms status", () => {
  test("status shows each realm's state, pid, restarts and last exit, and exits 1 on a failure", async () => {
    using tmp = tempDir("rstatus");
    const fx = writeFixture(tmp.path, REALMS);
    const d = await startDaemon(tmp.path);
    const s = ["--statedir", fx.stateDir];
    try {
      await waitFor(
        async () => {
          const r = await send(fx.socket, "realmcmd_realmstatus");
          return /broken\tfailed/.test(r) && /flaky\tbackoff/.test(r);
        },
        10_000,
        "broken to fail and flaky to back off",
      );
      const fine = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "fine");
      const r = await runSteward(["realms", "status", ...s], bin);
      assert.equal(r.code, 1, "a failed realm makes status exit 1");
      const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
      assert.deepEqual(rows.map((x) => [x[0], x[1]]), [
        ["broken", "failed"],
        ["fine", "running"],
        ["flaky", "backoff"],
        ["off", "stopped"],
      ]);
      const byName = Object.fromEntries(rows.map((x) => [x[0], x]));
      assert.equal(byName.fine?.[2], String(fine));
      assert.match(byName.fine?.[3] ?? "", /^\d+s$/);
      assert.equal(byName.broken?.[5], "exit code 3");
      assert.match(byName.broken?.[6] ?? "", /gave up after 0 restarts/);
      assert.match(byName.flaky?.[6] ?? "", /^restart in \d+s$/);

      const j = await runSteward(["realms", "status", "--json", ...s], bin);
      assert.equal(j.code, 1);
      const report = JSON.parse(j.stdout);
      assert.equal(report.running, true);
      const f = report.realms.find((x: { name: string }) => x.name === "fine");
      assert.deepEqual(Object.keys(f).sort(), [
        "adopted",
        "failures",
        "last_exit",
        "name",
        "output_log",
        "pid",
        "reason",
        "restart_in_seconds",
        "restarts",
        "since",
        "state",
        "uptime_seconds",
      ]);
      assert.equal(f.pid, fine);
      assert.equal(typeof f.uptime_seconds, "number");
      const b = report.realms.find((x: { name: string }) => x.name === "broken");
      assert.deepEqual(b.last_exit, { code: 3, signal: null, text: "exit code 3" });

      const one = await runSteward(["realms", "status", "fine", ...s], bin);
      assert.equal(one.code, 0);
      assert.match(one.stdout, /^fine\trunning\t/);
      assert.match(one.stdout, new RegExp(`\n${path.join(tmp.path, "realm-logs", "fine.log")}:\n`));
      assert.match(one.stdout, /\n {2}argv: -name fine\n/);
      const off = await runSteward(["realms", "status", "off", ...s], bin);
      assert.equal(off.code, 3, "a stopped realm");
      const none = await runSteward(["realms", "status", "nosuch", ...s], bin);
      assert.equal(none.code, 4);
      assert.equal(none.stderr, 'steward: no realm named "nosuch"\n');
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("restart gives a realm a new manager; start and stop errors say why", async () => {
    using tmp = tempDir("rstatus");
    const fx = writeFixture(tmp.path, REALMS);
    const d = await startDaemon(tmp.path);
    const s = ["--statedir", fx.stateDir];
    try {
      const before = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "fine");
      const r = await runSteward(["realms", "restart", "fine", "off", ...s], bin);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'realm "fine" restarted\nrealm "off" restarted\n');
      const status = await send(fx.socket, "realmcmd_realmstatus");
      const after = statusPid(status, "fine");
      assert.ok(after && after !== before, status);
      assert.ok(statusPid(status, "off"), status);
      const again = await runSteward(["realms", "start", "fine", ...s], bin);
      assert.equal(again.code, 4);
      assert.equal(
        again.stderr,
        'steward: unable to start realm "fine": realm "fine" is already running\n',
      );
      const nosuch = await runSteward(["realms", "stop", "nosuch", ...s], bin);
      assert.equal(
        nosuch.stderr,
        'steward: unable to stop realm "nosuch": no realm named "nosuch"\n',
      );
      const missing = await runSteward(["realms", "restart", "nosuch", ...s], bin);
      assert.equal(missing.code, 4);
      assert.equal(missing.stderr, 'steward: no realm named "nosuch"\n');
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("ps shows the realms file and state directory; check takes FILE as the daemon does", async () => {
    using tmp = tempDir("rstatus");
    const fx = writeFixture(tmp.path, REALMS);
    // The shipped binary (Node) sets its title; under Deno, a daemon run from source cannot.
    const d = await startDaemon(tmp.path, { via: "binary" });
    try {
      const cmdline = execFileSync("ps", ["-o", "args=", "-p", String(d.pid)], {
        encoding: "utf8",
      });
      assert.match(cmdline, new RegExp(`^dtrealms ${fx.realmsFile} ${fx.stateDir}`));
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
    // `realms daemon --directory D realms` reads D/realms; so does `realms check`.
    const r = await runSteward(["realms", "check", "--directory", tmp.path, "realms"], bin);
    assert.equal(r.stdout, "realms:  valid realm file\n", r.stderr);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stderr, /does not exist/);
  });
});

describe("steward realms shutdown --wait", () => {
  test("returns once the daemon no longer serves its socket", async () => {
    using tmp = tempDir("rstatus");
    const fx = writeFixture(tmp.path, REALMS);
    const d = await startDaemon(tmp.path);
    try {
      const r = await runSteward(["realms", "shutdown", "--wait", "--statedir", fx.stateDir], bin);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "dtrealms shutting down\n");
      assert.equal(existsSync(fx.socket), false, "the socket is gone when it returns");
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
