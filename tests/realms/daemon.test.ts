/**
 * The realms daemon end to end: every command of the protocol over the real socket with the
 * exact bytes, against the real daemon and real manager processes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { alive, tempDir, waitFor } from "../helpers.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import {
  killLeftovers,
  pidsWith,
  raw,
  send,
  startDaemon,
  statusPid,
  type TestDaemon,
  writeFixture,
} from "./daemon-helpers.ts";

describe("realms daemon commands", () => {
  const tmp = tempDir("rd");
  const dir = tmp.path;
  const fx = writeFixture(dir);
  let d: TestDaemon;

  before(async () => {
    d = await startDaemon(dir);
  });
  after(async () => {
    await d?.stop();
    await killLeftovers(dir);
    tmp[Symbol.dispose]();
  });

  test("the socket is 0600, the id file holds the pid, ps shows dtrealms", () => {
    const st = fs.statSync(fx.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(fx.idFile, "utf8"), `${d.pid}\n`);
    const ps = execFileSync("ps", ["-p", String(d.pid)], { encoding: "utf8" });
    assert.match(ps, /dtrealms/);
  });

  test("status replies with the upstream parameter block", async () => {
    const user = os.userInfo().username;
    assert.equal(
      await send(fx.socket, "realmcmd_status"),
      "0 \r\ndtrealms parameters:\n" +
        '     realm file         "realms"\n' +
        `     directory          "${dir}"\n` +
        `     config file        "${dir}/sysconf/dnssec-tools/dnssec-tools.conf"\n` +
        '     logfile            "log.dtrealms"\n' +
        '     loglevel           "tmi"\n' +
        '     logtz              "gmt"\n' +
        `     running as         "${user}"\n` +
        "     active realms      2\n" +
        "     inactive realms    1\n \r\n",
    );
  });

  test("realmstatus gives rollerd counts, process state and inactive realms", async () => {
    const r = await send(fx.socket, "realmcmd_realmstatus");
    const pid = statusPid(r, "beta");
    assert.ok(pid && alive(pid), r);
    assert.equal(
      r,
      `0 \r\nalpha\tactive\t1/1/1/1\nbeta\tactive\t(running; pid ${pid})\ngamma\tinactive\n \r\n`,
    );
  });

  test("a rollrec realm runs its manager as upstream does, in its dir with DT_* set", async () => {
    const log = path.join(dir, "realm-logs", "alpha.log");
    const text = await waitFor(() => {
      const t = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
      return t.includes("ids:") ? t : "";
    });
    assert.match(
      text,
      new RegExp(
        `argv: -realm alpha -foreground -sleep 1 -loglevel phase -rrf ${dir}/alpha/alpha\\.rollrec\\n`,
      ),
    );
    assert.match(text, new RegExp(`cwd: ${dir}/alpha\\n`));
    assert.match(
      text,
      new RegExp(`env: DT_STATEDIR=${dir}/alphastate DT_SYSCONFDIR=${dir}/conf\\n`),
    );
    const betaLog = path.join(dir, "realm-logs", "beta.log");
    const beta = await waitFor(() => {
      const t = fs.existsSync(betaLog) ? fs.readFileSync(betaLog, "utf8") : "";
      return t.includes("ids:") ? t : "";
    });
    assert.match(beta, /argv: -name beta\n/);
    assert.match(beta, new RegExp(`cwd: ${dir}\\n`));
    assert.match(beta, /env: DT_STATEDIR=\. DT_SYSCONFDIR=\.\n/);
  });

  test("startrealm and stoprealm reply exactly and rewrite the realm's state", async () => {
    assert.equal(
      await send(fx.socket, "realmcmd_startrealm", "gamma"),
      '0 \r\nrealm "gamma" started \r\n',
    );
    assert.match(fs.readFileSync(fx.realmsFile, "utf8"), /realm "gamma"\n\tstate\t\t"active"/);
    const pid = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "gamma");
    assert.ok(pid && alive(pid));
    // Upstream crashed sending code 4; here it is a reply and the daemon carries on.
    assert.equal(
      await send(fx.socket, "realmcmd_startrealm", "gamma"),
      '4 \r\nunable to start realm "gamma": realm "gamma" is already running \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_stoprealm", "gamma"),
      '0 \r\nrealm "gamma" stopped \r\n',
    );
    assert.equal(alive(pid), false);
    assert.match(fs.readFileSync(fx.realmsFile, "utf8"), /realm "gamma"\n\tstate\t\t"inactive"/);
    assert.equal(
      await send(fx.socket, "realmcmd_stoprealm", "gamma"),
      '4 \r\nunable to stop realm "gamma": realm "gamma" is not running \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_startrealm", "nosuch"),
      '4 \r\nunable to start realm "nosuch": no realm named "nosuch" \r\n',
    );
    assert.match(await send(fx.socket, "realmcmd_status"), /^0 \r\n/);
  });

  test("startall and stopall list each realm and say when there is nothing to do", async () => {
    assert.equal(await send(fx.socket, "realmcmd_startall", "1"), "0 \r\ngamma started \r\n");
    assert.equal(await send(fx.socket, "realmcmd_startall", "1"), "7 \r\nno inactive realms \r\n");
    assert.equal(
      await send(fx.socket, "realmcmd_stopall", "0"),
      "0 \r\nalpha stopped\nbeta stopped\ngamma stopped \r\n",
    );
    assert.deepEqual(pidsWith(`${dir}/bin/mgr`), [], "stopall leaves no manager running");
    assert.equal(await send(fx.socket, "realmcmd_stopall", "0"), "7 \r\nno active realms \r\n");
    assert.equal(
      await send(fx.socket, "realmcmd_startall", "1"),
      "0 \r\nalpha started\nbeta started\ngamma started \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_stoprealm", "gamma"),
      '0 \r\nrealm "gamma" stopped \r\n',
    );
  });

  test("loglevel, logmsg and logtz change the log as upstream replies say", async () => {
    assert.equal(
      await send(fx.socket, "realmcmd_loglevel", "phase"),
      '0 \r\nloglevel changed from "tmi" to "phase" \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_loglevel", "7"),
      '1 \r\ninvalid loglevel "7" \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logmsg", "(err)disk almost full"),
      "0 \r\nmessage written to log \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logmsg", "(info)below the level"),
      "0 \r\nmessage written to log \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logmsg", "(loud)x"),
      '1 \r\ninvalid loglevel "loud" \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logtz", "mars"),
      '5 \r\ninvalid logtz "mars" \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logtz", "LOCAL"),
      "0 \r\nnew logging timezone set \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logtz", "gmt"),
      "0 \r\nnew logging timezone set \r\n",
    );
    const log = fs.readFileSync(fx.logFile, "utf8");
    assert.match(
      log,
      /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: <user msg>: disk almost full$/m,
    );
    assert.doesNotMatch(log, /below the level/);
    assert.ok(log.includes(`<command>: cmd   - "realmcmd_loglevel"`));
    assert.equal(
      await send(fx.socket, "realmcmd_loglevel", "tmi"),
      '0 \r\nloglevel changed from "phase" to "tmi" \r\n',
    );
  });

  test("logfile switches files; a bad path is an error reply, not an exit", async () => {
    const other = path.join(dir, "other.log");
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", other),
      `0 \r\nlogfile changed to "${other}" \r\n`,
    );
    assert.match(fs.readFileSync(other, "utf8"), /dtrealms: changing logfiles/);
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", other),
      `0 \r\nlogfile changed to "${other}" \r\n`,
    );
    const bad = path.join(dir, "missing", "x.log");
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", bad),
      `2 \r\nunable to change logfile to "${bad}" \r\n`,
    );
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", dir),
      `2 \r\nunable to change logfile to "${dir}" \r\n`,
    );
    // As upstream, any file the daemon's user can write will do, outside its directory too
    // (under Deno, the daemon's write permissions are the limit).
    const outside = path.join(path.dirname(dir), `outside-${process.pid}.log`);
    try {
      assert.equal(
        await send(fx.socket, "realmcmd_logfile", outside),
        isDeno()
          ? `2 \r\nunable to change logfile to "${outside}" \r\n`
          : `0 \r\nlogfile changed to "${outside}" \r\n`,
      );
      assert.equal(fs.existsSync(outside), !isDeno());
    } finally {
      fs.rmSync(outside, { force: true });
    }
    await send(fx.socket, "realmcmd_logfile", other);
    assert.equal(alive(d.pid), true);
    await send(fx.socket, "realmcmd_logmsg", "(err)after the bad path");
    assert.match(fs.readFileSync(other, "utf8"), /after the bad path/);
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", "log.dtrealms"),
      '0 \r\nlogfile changed to "log.dtrealms" \r\n',
    );
  });

  test("command runs allowed programs in the realm without a shell and returns their output", async () => {
    assert.equal(
      await send(fx.socket, "realmcmd_command", "alpha echo hello $HOME;id"),
      "0 \r\nhello $HOME;id\n\nreturn code - 0\n \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "alpha"),
      "8 \r\nincomplete realm-command; must have both realm and command arguments. \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "beta echo hi"),
      '14 \r\ncommand refused, nothing was run: "echo" is not allowed in realm "beta" ' +
        "(see its allowcommands field) \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "alpha rm -rf /"),
      '14 \r\ncommand refused, nothing was run: "rm" is not allowed in realm "alpha" ' +
        "(see its allowcommands field) \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "alpha sleep 5"),
      "11 \r\nrealm command timed out \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "nosuch echo x"),
      '4 \r\nunknown realm "nosuch" \r\n',
    );
  });

  // The display commands are tested in tests/realms/display/.
  test("getstatus says it is not available; unknown commands are refused", async () => {
    assert.equal(
      await send(fx.socket, "realmcmd_getstatus", "1"),
      "13 \r\nrealmcmd_getstatus is not available yet \r\n",
    );
    assert.equal(
      await send(fx.socket, "realmcmd_bogus"),
      '12 \r\nunknown command "realmcmd_bogus" \r\n',
    );
  });

  test("garbage, silent and early-closing clients disturb nobody", async () => {
    const silent = net.connect(fx.socket);
    silent.on("error", () => {});
    await new Promise((r) => silent.once("connect", r));
    const started = Date.now();
    assert.match(await send(fx.socket, "realmcmd_status"), /^0 \r\ndtrealms parameters:/);
    assert.ok(Date.now() - started < 2000, "a silent client does not block others");
    assert.match(await raw(fx.socket, Buffer.from([0xff, 0x00, 0x41, 0x0a, 0x0a])), /^12 \r\n/);
    assert.match(await raw(fx.socket, "x".repeat(20_000)), /^12 \r\nmalformed request: /);
    for (let i = 0; i < 5; i++) {
      const s = net.connect(fx.socket, () => {
        s.end("realmcmd_realmstatus \r\n \r\n");
        s.destroy();
      });
      s.on("error", () => {});
    }
    await sleep(200);
    process.kill(d.pid, "SIGHUP"); // what every upstream client sends after its request
    await sleep(100);
    assert.equal(alive(d.pid), true);
    assert.match(await send(fx.socket, "realmcmd_status"), /^0 \r\n/);
    // A command line without its data line, then end of stream, is still a request.
    assert.match(
      await raw(fx.socket, "realmcmd_realmstatus \r\n", { end: true }),
      /^0 \r\nalpha\tactive/,
    );
    silent.destroy();
  });

  test("a manager killed with kill -9 is restarted with backoff", async () => {
    const before = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "beta") as number;
    process.kill(before, "SIGKILL");
    const after = await waitFor(
      async () => {
        const p = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "beta");
        return p && p !== before ? p : undefined;
      },
      10_000,
      "beta to be restarted",
    );
    assert.ok(alive(after));
    const log = fs.readFileSync(fx.logFile, "utf8");
    assert.match(
      log,
      /beta: running -> backoff \(exited\): manager exited \(signal SIGKILL\); restart 1 in 200 ms/,
    );
    assert.match(log, /beta: backoff -> starting \(backoff-elapsed\)/);
  });

  test("shutdown replies, stops every manager and removes socket and id file", async () => {
    const managers = pidsWith(`${dir}/bin/mgr`);
    assert.equal(managers.length, 2);
    assert.equal(await send(fx.socket, "realmcmd_shutdown"), "0 \r\ndtrealms shutting down \r\n");
    await waitFor(() => d.child.exitCode !== null, 10_000, "the daemon to exit");
    assert.equal(d.child.exitCode, 0);
    assert.deepEqual(managers.filter(alive), []);
    assert.equal(fs.existsSync(fx.socket), false);
    assert.equal(fs.existsSync(fx.idFile), false);
    assert.match(fs.readFileSync(fx.realmsFile, "utf8"), /realm "alpha"\n\tstate\t\t"active"/);
  });
});
