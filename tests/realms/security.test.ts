/**
 * No privilege crossed by the realms daemon: a realm's user cannot point the root daemon's
 * appends at root's files, another user's process is never adopted as a manager, the daemon's
 * environment does not reach other users, state paths are not followed through other users'
 * links, realmcmd_logfile never takes the daemon's own files, and logs carry no raw escapes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { alive, exited, symlink, tempDir, waitFor } from "../helpers.ts";
import { killLeftovers, send, startDaemon, statusPid, writeFixture } from "./daemon-helpers.ts";
import { MANAGER_MARK, managerMarkToken, realmEnv } from "../../lib/realms/process.ts";
import { prepareRealmStateDir } from "../../lib/realms/paths.ts";

const root = typeof process.geteuid === "function" && process.geteuid() === 0;
let hasUseradd = false;
try {
  execFileSync("useradd", ["--help"], { stdio: "ignore" });
  hasUseradd = true;
} catch { /* not installed */ }
const userSkip = !root
  ? "needs root to create a second local user with useradd (run the tests as root)"
  : !hasUseradd
  ? "useradd is not installed"
  : false;

/** A second local user, removed by `using`. */
function localUser(tag: string): { name: string; uid: number; gid: number } & Disposable {
  const name = `stw${tag}${process.pid % 10000}`;
  try {
    execFileSync("userdel", [name], { stdio: "ignore" });
  } catch { /* not there */ }
  execFileSync("useradd", ["-M", "-U", "-s", "/usr/sbin/nologin", name]);
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  return {
    name,
    uid,
    gid,
    [Symbol.dispose]: () => {
      try {
        // -f: a process of the user that has not been reaped yet must not keep the account.
        execFileSync("userdel", ["-f", name], { stdio: "ignore" });
      } catch { /* gone */ }
      try {
        execFileSync("groupdel", [name], { stdio: "ignore" });
      } catch { /* gone with the user */ }
    },
  };
}

describe("realms daemon and other local users", () => {
  test("a symlink planted by the realm's user never makes root append to root's file", {
    skip: userSkip,
  }, async () => {
    using tmp = tempDir("rsec");
    using user = localUser("o");
    const secret = path.join(tmp.path, "secret");
    fs.writeFileSync(secret, "root only\n", { mode: 0o600 });
    const home = path.join(tmp.path, "home");
    fs.mkdirSync(home);
    execFileSync("chown", [`${user.uid}:${user.gid}`, home]);
    // What the realm's user can do in a directory of their own.
    symlink(secret, path.join(home, "link.log"));
    execFileSync("chown", ["-h", `${user.uid}:${user.gid}`, path.join(home, "link.log")]);
    symlink(tmp.path, path.join(home, "dir"));
    execFileSync("chown", ["-h", `${user.uid}:${user.gid}`, path.join(home, "dir")]);
    fs.linkSync(secret, path.join(home, "hard.log"));
    const stanza = (name: string, log: string) =>
      `realm "${name}"\n\tstate\t\t"active"\n\tmanager\t\t"/bin/sleep"\n\targs\t\t"300"\n` +
      `\tuser\t\t"${user.name}"\n\toutputlog\t"${log}"\n\tmaxrestarts\t"0"\n\n`;
    const fx = writeFixture(
      tmp.path,
      stanza("link", path.join(home, "link.log")) +
        stanza("dir", path.join(home, "dir", "secret")) +
        stanza("hard", path.join(home, "hard.log")) +
        stanza("fine", path.join(home, "logs", "fine.log")),
    );
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      for (const r of ["link", "dir", "hard"]) assert.match(status, new RegExp(`${r}\\tfailed`));
      assert.ok(statusPid(status, "fine"), status);
      assert.equal(fs.readFileSync(secret, "utf8"), "root only\n", "root's file is untouched");
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /link\.log: .*symbolic link/);
      assert.match(log, /home\/dir is a symbolic link the realm's user/);
      assert.match(log, /hard\.log is owned by uid 0, not by the realm's user/);
      const fine = fs.statSync(path.join(home, "logs", "fine.log"));
      assert.equal(fine.uid, user.uid, "a log made in the user's directory is the user's");
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("a process with the daemon's marks but not its secret is never adopted", async () => {
    using tmp = tempDir("rsec");
    const fx = writeFixture(tmp.path);
    const fake = spawn("/bin/sleep", ["300"], {
      detached: true,
      stdio: "ignore",
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        [MANAGER_MARK.stateDir]: fx.stateDir,
        [MANAGER_MARK.realm]: "beta",
        [MANAGER_MARK.token]: "0".repeat(64),
      },
    });
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      const beta = statusPid(status, "beta");
      assert.ok(beta && beta !== fake.pid, status);
      assert.doesNotMatch(status, /adopted/);
      assert.ok(alive(fake.pid as number), "the stranger's process is left alone");
    } finally {
      await d.stop();
      fake.kill("SIGKILL");
      await killLeftovers(tmp.path);
    }
  });

  test("another user's process carrying a valid mark is never adopted", {
    skip: userSkip,
  }, async () => {
    using tmp = tempDir("rsec");
    using user = localUser("m");
    const fx = writeFixture(tmp.path);
    const first = await startDaemon(tmp.path);
    await first.stop();
    await killLeftovers(tmp.path);
    const secret = fs.readFileSync(
      path.join(fx.stateDir, "dnssec-tools", "realms-secret"),
      "utf8",
    ).trim();
    assert.equal(
      fs.statSync(path.join(fx.stateDir, "dnssec-tools", "realms-secret")).mode & 0o777,
      0o600,
    );
    const fake = spawn("setpriv", [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      "--clear-groups",
      "--",
      "/bin/sleep",
      "300",
    ], {
      detached: true,
      stdio: "ignore",
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        [MANAGER_MARK.stateDir]: fx.stateDir,
        [MANAGER_MARK.realm]: "beta",
        [MANAGER_MARK.token]: managerMarkToken(secret, fx.stateDir, "beta"),
      },
    });
    await waitFor(
      () => {
        try {
          const ps = execFileSync("ps", ["-o", "uid=,args=", "-p", String(fake.pid)], {
            encoding: "utf8",
          });
          return ps.trim().startsWith(`${user.uid} `) && ps.includes("sleep");
        } catch {
          return false;
        }
      },
      5000,
      "the stranger's process to run as its user",
    );
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      const beta = statusPid(status, "beta");
      assert.ok(beta && beta !== fake.pid, status);
      assert.ok(alive(fake.pid as number), "the stranger's process is left alone");
    } finally {
      await d.stop();
      fake.kill("SIGKILL");
      await exited(fake);
      await killLeftovers(tmp.path);
    }
  });

  test("a realm running as another user gets only the allowed environment", () => {
    const env = {
      PATH: "/usr/bin",
      LANG: "C.UTF-8",
      TZ: "UTC",
      API_TOKEN: "s3cret",
      HOME: "/root",
      WANTED: "yes",
    };
    const realm = { name: "r", fields: { passenv: "WANTED NOTSET" } };
    const other = { name: "someone", uid: (process.geteuid?.() ?? 0) + 4242, gid: 1, home: "/h" };
    const e = realmEnv(realm, { directory: "/d", env }, other);
    assert.deepEqual(Object.keys(e).sort(), [
      "DT_STATEDIR",
      "DT_SYSCONFDIR",
      "HOME",
      "LANG",
      "LOGNAME",
      "PATH",
      "TZ",
      "USER",
      "WANTED",
    ]);
    assert.equal(e.HOME, "/h");
    assert.equal(e.USER, "someone");
    // The daemon's own user keeps its environment, as upstream.
    assert.equal(realmEnv(realm, { directory: "/d", env }, undefined).API_TOKEN, "s3cret");
  });

  test("state paths another user could have planted are refused, naming the path", () => {
    using tmp = tempDir("rsec");
    const open = path.join(tmp.path, "open");
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    assert.throws(() => prepareRealmStateDir(open), (e: Error) => {
      assert.match(e.message, new RegExp(`${open}: writable by every user`));
      return true;
    });
    assert.equal(fs.existsSync(path.join(open, "run")), false);
    if (root) {
      const state = path.join(tmp.path, "state");
      const elsewhere = path.join(tmp.path, "elsewhere");
      fs.mkdirSync(state);
      fs.mkdirSync(elsewhere);
      symlink(elsewhere, path.join(state, "run"));
      execFileSync("chown", ["-h", "4242:4242", path.join(state, "run")]);
      assert.throws(
        () => prepareRealmStateDir(state),
        new RegExp(`${state}/run: owned by uid 4242, not by root or uid 0`),
      );
      assert.deepEqual(fs.readdirSync(elsewhere), []);
    }
  });
});

describe("realms daemon's own files and log", () => {
  test("realmcmd_logfile never takes a symlink or the daemon's own files", async () => {
    using tmp = tempDir("rsec");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path);
    try {
      const victim = path.join(tmp.path, "victim");
      fs.writeFileSync(victim, "keep\n");
      symlink(victim, path.join(tmp.path, "link.log"));
      const realmsText = fs.readFileSync(fx.realmsFile, "utf8");
      for (const f of [fx.realmsFile, fx.idFile, fx.socket, path.join(tmp.path, "link.log")]) {
        assert.equal(
          await send(fx.socket, "realmcmd_logfile", f),
          `2 \r\nunable to change logfile to "${f}" \r\n`,
          f,
        );
      }
      assert.equal(fs.readFileSync(fx.realmsFile, "utf8"), realmsText);
      assert.equal(fs.readFileSync(victim, "utf8"), "keep\n");
      assert.equal(Number(fs.readFileSync(fx.idFile, "utf8")), d.pid);
      // The daemon still logs where it did.
      assert.match(await send(fx.socket, "realmcmd_logmsg", "(err)still here"), /^0 /);
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /<user msg>: still here/);
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /one of the daemon's own files/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("control characters in requests reach the log escaped", async () => {
    using tmp = tempDir("rsec");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path);
    try {
      await send(fx.socket, "realmcmd_logmsg", "(err)red \x1b[31mtext\x07 and \x9b2J");
      await send(fx.socket, "realmcmd_startrealm", "no\x1b]0;pwned\x07such");
      await send(fx.socket, "realmcmd_\x1b[2Jbogus");
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /red \\x1b\[31mtext\\x07 and \\x9b2J/);
      assert.match(log, /no\\x1b\]0;pwned\\x07such/);
      assert.match(log, /realmcmd_\\x1b\[2Jbogus/);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(log, /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
