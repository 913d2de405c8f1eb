/**
 * Behaving as dtrealms does with real realms files: which realms start, and bad lines that
 * never take the daemon (or the other realms) down.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { alive, runSteward, tempDir, waitFor } from "../helpers.ts";
import { killLeftovers, send, startDaemon, statusPid, writeFixture } from "./daemon-helpers.ts";

/** A stanza of a realm running the fixture's manager (`bin/mgr`), upstream layout. */
function stanza(name: string, fields: Record<string, string | undefined>): string {
  const lines = [`realm\t"${name}"`];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) lines.push(`\t${k}\t\t${v}`);
  return lines.join("\n") + "\n\n";
}

describe("which realms start", () => {
  test("only a state of exactly active starts; missing rollrec or configdir refuse the realm", async () => {
    using tmp = tempDir("rfid");
    const plain = (state: string | undefined) => ({ state, manager: '"bin/mgr"' });
    const roll = {
      state: '"active"',
      realmdir: '"alpha"',
      configdir: '"conf"',
      rollrec: '"alpha.rollrec"',
      manager: '"../bin/mgr"',
    };
    const fx = writeFixture(
      tmp.path,
      stanza("good", plain('"active"')) +
        stanza("upper", plain('"INACTIVE"')) +
        stanza("capital", plain('"Active"')) +
        stanza("paused", plain('"paused"')) +
        stanza("empty", plain('""')) +
        stanza("nostate", plain(undefined)) +
        stanza("roll", roll) +
        stanza("norollrec", { ...roll, rollrec: '"missing.rollrec"' }) +
        stanza("noconf", { ...roll, configdir: '"nosuchconf"' }) +
        stanza("nomanager", plain('"active"')).replace('"bin/mgr"', '"bin/nope"'),
    );
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      assert.ok(statusPid(status, "good"), status);
      assert.match(status, /roll\tactive\t/);
      for (const r of ["upper", "capital", "paused", "empty", "nostate"]) {
        assert.match(status, new RegExp(`\\n${r}\\tinactive\\n`), r);
      }
      for (const r of ["norollrec", "noconf", "nomanager"]) {
        assert.match(status, new RegExp(`\\n${r}\\tfailed\\t.*invalid realm definition`), r);
      }
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /capital: realm not started: its state is "Active", not "active"/);
      assert.match(log, /nostate: realm not started: its state is missing, not "active"/);
      assert.match(log, /norollrec: invalid rollrec - ".*missing\.rollrec"/);
      assert.match(log, /noconf: invalid config directory - "nosuchconf"/);
      assert.match(log, /nomanager: invalid manager - "bin\/nope"/);
      // A realm whose state upstream's validrealm refuses cannot be started by request either.
      assert.equal(
        await send(fx.socket, "realmcmd_startrealm", "paused"),
        '4 \r\nunable to start realm "paused": invalid realm definition: invalid state - "paused" \r\n',
      );
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /paused: .*invalid state - "paused"/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
    // check refuses exactly the realms the daemon refused.
    const r = await runSteward([
      "realms",
      "check",
      "-verbose",
      "--directory",
      tmp.path,
      fx.realmsFile,
    ]);
    for (
      const name of [
        "upper",
        "capital",
        "paused",
        "empty",
        "nostate",
        "norollrec",
        "noconf",
        "nomanager",
      ]
    ) {
      assert.match(r.stdout, new RegExp(`\\n  ${name}:  invalid realm\\n`), name);
    }
    for (const name of ["good", "roll"]) {
      assert.match(r.stdout, new RegExp(`\\n  ${name}:  valid realm\\n`), name);
    }
  });
});

describe("bad lines in the realms file", () => {
  test("lines upstream accepts or drops never stop the daemon or the other realms", async () => {
    using tmp = tempDir("rfid");
    const text = stanza("one", { state: '"active"', manager: '"bin/mgr"', args: '"-x=1 <in"' }) +
      "!!! this line means nothing\n" +
      stanza("two", {
        state: '"active"',
        manager: '"bin/mgr"',
        administrator: '"h\xe9l\xe8ne@example.net"',
        allowcommands: '"*"',
      }) +
      stanza("one", { state: '"active"', manager: '"bin/mgr"' }) +
      stanza("three", { state: "active", manager: "bin/mgr" });
    const fx = writeFixture(tmp.path, text);
    fs.writeFileSync(fx.realmsFile, Buffer.from(text, "latin1"));
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      for (const r of ["one", "two", "three"]) assert.ok(statusPid(status, r), `${r}: ${status}`);
      // allowcommands "*" parsed: any command runs in "two".
      assert.match(await send(fx.socket, "realmcmd_command", "two echo hi"), /^0 \r\nhi\n/);
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /realms:6: Line ignored: not a comment/);
      assert.match(log, /realms:13: Duplicate realm name "one"/);
      assert.match(log, /realms:4: warning: Value of "args" contains characters/);
      assert.match(
        fs.readFileSync(path.join(tmp.path, "realm-logs", "one.log"), "utf8"),
        /-x=1 <in/,
      );
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});

describe("stopping a realm", () => {
  test("the stop signal reaches the manager's pid only; the group is killed at the deadline", async () => {
    using tmp = tempDir("rfid");
    // A manager with a child doing work, as rollerd with a signing run.
    const mgr = `#!/bin/sh
sh -c 'trap "echo child-got-TERM >> ${tmp.path}/child.out; exit 0" TERM; echo child-up >> ${tmp.path}/child.out; while :; do sleep 0.1; done' &
trap 'echo manager-got-TERM >> ${tmp.path}/mgr.out; exit 0' TERM
while :; do sleep 0.1; done
`;
    const stubborn = `#!/bin/sh
sh -c 'echo $$ > ${tmp.path}/stubborn-child.pid; trap "" TERM; while :; do sleep 0.1; done' &
trap '' TERM
while :; do sleep 0.1; done
`;
    const fx = writeFixture(
      tmp.path,
      stanza("worker", { state: '"active"', manager: '"bin/worker"', stopsignal: '"TERM"' }) +
        stanza("stuck", {
          state: '"active"',
          manager: '"bin/stuck"',
          stopsignal: '"TERM"',
          stoptimeout: '"0.5"',
        }),
    );
    fs.writeFileSync(path.join(tmp.path, "bin", "worker"), mgr, { mode: 0o755 });
    fs.writeFileSync(path.join(tmp.path, "bin", "stuck"), stubborn, { mode: 0o755 });
    const d = await startDaemon(tmp.path);
    try {
      await waitFor(() => fs.existsSync(path.join(tmp.path, "child.out")), 5000, "the child");
      await waitFor(() => fs.existsSync(path.join(tmp.path, "stubborn-child.pid")), 5000, "child");
      assert.equal(
        await send(fx.socket, "realmcmd_stoprealm", "worker"),
        '0 \r\nrealm "worker" stopped \r\n',
      );
      assert.match(fs.readFileSync(path.join(tmp.path, "mgr.out"), "utf8"), /manager-got-TERM/);
      assert.doesNotMatch(
        fs.readFileSync(path.join(tmp.path, "child.out"), "utf8"),
        /child-got-TERM/,
        "the manager's child was not signalled",
      );
      const child = Number(fs.readFileSync(path.join(tmp.path, "stubborn-child.pid"), "utf8"));
      assert.equal(
        await send(fx.socket, "realmcmd_stoprealm", "stuck"),
        '0 \r\nrealm "stuck" stopped \r\n',
      );
      await waitFor(() => !alive(child), 5000, "the stubborn manager's child to be killed");
      assert.match(
        fs.readFileSync(fx.logFile, "utf8"),
        /stuck: stopping -> stopping \(stop-deadline\): no exit after 500 ms; sent SIGKILL to process group/,
      );
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});

describe("commands inside realms", () => {
  test("a refusal reads as one to realmctl users; commandshell runs through /bin/sh -c", async () => {
    using tmp = tempDir("rfid");
    const fx = writeFixture(
      tmp.path,
      stanza("locked", { state: '"active"', manager: '"bin/mgr"', allowcommands: '"echo"' }) +
        stanza("shelly", {
          state: '"active"',
          manager: '"bin/mgr"',
          statedir: '"alphastate"',
          allowcommands: '"*"',
          commandshell: '"1"',
        }) +
        stanza("halfshell", {
          state: '"active"',
          manager: '"bin/mgr"',
          allowcommands: '"echo"',
          commandshell: '"1"',
        }) +
        stanza("open", { state: '"active"', manager: '"bin/mgr"', allowcommands: '"*"' }),
    );
    fs.writeFileSync(path.join(tmp.path, "bin", "seven"), "#!/bin/sh\necho out\nexit 7\n", {
      mode: 0o755,
    });
    const d = await startDaemon(tmp.path);
    try {
      assert.match(
        await send(fx.socket, "realmcmd_command", "locked id"),
        /^14 \r\ncommand refused, nothing was run: "id" is not allowed in realm "locked"/,
      );
      const ctl = await runSteward([
        "realms",
        "ctl",
        "-statedir",
        fx.stateDir,
        "-cmd",
        "--",
        "locked",
        "id",
      ], { via: "binary" });
      assert.equal(ctl.code, 1, "the refusal counts as a failure");
      assert.equal(ctl.stdout, "");
      assert.match(ctl.stderr, /^command failed: {2}"command refused, nothing was run: /);
      // Through the shell, as upstream: metacharacters work, DT_* are set.
      assert.equal(
        await send(fx.socket, "realmcmd_command", "shelly echo a; echo $DT_STATEDIR"),
        `0 \r\na\n${path.join(tmp.path, "alphastate")}\n\nreturn code - 0\n \r\n`,
      );
      assert.match(
        await send(fx.socket, "realmcmd_command", "halfshell echo a; id"),
        /^14 \r\ncommand refused, nothing was run: realm "halfshell" has commandshell without/,
      );
      // Without the shell, `;` is an ordinary argument.
      assert.equal(
        await send(fx.socket, "realmcmd_command", "open echo a; id"),
        "0 \r\na; id\n\nreturn code - 0\n \r\n",
      );
      const seven = await runSteward([
        "realms",
        "command",
        "--statedir",
        fx.stateDir,
        "open",
        "--",
        "bin/seven",
      ], { via: "binary" });
      assert.equal(seven.code, 7, "the command's own status");
      assert.equal(seven.stdout, "out\n");
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});

/** What upstream realmctl prints for a realmstatus reply (its realmstatus() routine). */
function upstreamRealmctlStatus(body: string): string {
  const rows = body.split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
  const width = Math.max(...rows.map((r) => (r[0] ?? "").length));
  return rows.map((r) => {
    const name = (r[0] ?? "").padEnd(width).slice(0, width);
    if (r[1] === "inactive") return `${name}    inactive`;
    const a = (r[2] ?? "").split("/");
    return `${name}    active      normal: ${a[0] ?? ""}    ZSK: ${a[1] ?? ""}    KSK: ${
      a[2] ?? ""
    }    KSK phase 6: ${a[3] ?? ""}`;
  }).join("\n") + "\n";
}

describe("realmstatus as realmctl shows it", () => {
  test("failed and backoff realms never read as healthy in realmctl's table", async () => {
    using tmp = tempDir("rfid");
    const fx = writeFixture(
      tmp.path,
      stanza("broken", { state: '"active"', manager: '"bin/crash"', maxrestarts: '"0"' }) +
        stanza("flaky", {
          state: '"active"',
          manager: '"bin/crash"',
          restartdelay: '"30"',
          maxrestarts: '"5"',
        }) +
        stanza("fine", { state: '"active"', manager: '"bin/mgr"' }) +
        stanza("off", { state: '"inactive"', manager: '"bin/mgr"' }),
    );
    const d = await startDaemon(tmp.path);
    try {
      const body = await waitFor(
        async () => {
          const r = await send(fx.socket, "realmcmd_realmstatus");
          return /broken\tfailed/.test(r) && /flaky\tbackoff/.test(r) ? r : undefined;
        },
        10_000,
        "broken to fail and flaky to back off",
      );
      const shown = upstreamRealmctlStatus(body.replace(/^0 \r\n/, "").replace(/ \r\n$/, ""));
      assert.match(shown, /^broken {4}active {6}normal: FAILED: manager exited \(exit code 3\)/m);
      assert.match(shown, /^flaky {5}active {6}normal: BACKOFF: restart 1 in /m);
      assert.match(shown, /^fine {6}active {6}normal: \(running; pid \d+\)/m);
      assert.match(shown, /^off {7}inactive$/m);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});

describe("status as upstream writes it", () => {
  test("status shows the directory, log level and time zone as given", async () => {
    using tmp = tempDir("rfid");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path, {
      cwd: path.dirname(tmp.path),
      directoryArg: path.basename(tmp.path),
      loglevel: null,
      args: ["--logtz", "LOCAL"],
    });
    try {
      const status = await send(fx.socket, "realmcmd_status");
      assert.match(status, new RegExp(`\n {5}directory {10}"${path.basename(tmp.path)}"\n`));
      assert.match(status, /\n {5}loglevel {11}"4"\n/, "the default level's number");
      assert.match(status, /\n {5}logtz {14}"LOCAL"\n/);
      assert.doesNotMatch(status, /failed realms/);
      await send(fx.socket, "realmcmd_logtz", "Gmt");
      await send(fx.socket, "realmcmd_loglevel", "phase");
      const after = await send(fx.socket, "realmcmd_status");
      assert.match(after, /\n {5}loglevel {11}"phase"\n {5}logtz {14}"Gmt"\n/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
