/**
 * Two local users (made with useradd; root only): a user's run directory is chosen from the uid
 * alone, so a cron job and a login shell reach one lock manager; a directory or socket another
 * user planted is refused by name; a socket the user may not open is "permission denied", not
 * "not running". Runs the built binary as the test users.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import { BINARY, collect, exited, RUNUSER, secondUserSkip, USERADD, waitFor } from "../helpers.ts";

const skip = isDeno()
  ? "runs processes as other users from Node only (the Node suite covers it)"
  : secondUserSkip() ||
    (!fs.existsSync(BINARY) ? `${BINARY} is missing: run 'npm run build' first` : false);

interface User {
  name: string;
  uid: number;
  home: string;
}

function makeUser(tag: string): User {
  const name = `stwl${tag}${process.pid % 100000}`;
  execFileSync(USERADD as string, ["-m", "-s", "/bin/sh", name], { stdio: "ignore" });
  const [, , uid, , , home] = execFileSync("getent", ["passwd", name], { encoding: "utf8" })
    .trim().split(":");
  return { name, uid: Number(uid), home: home as string };
}

function dropUser(u: User | undefined): void {
  if (!u) return;
  // Only what this test started runs as this fresh user: end those processes by pid.
  let pids: number[] = [];
  try {
    pids = execFileSync("pgrep", ["-u", String(u.uid)], { encoding: "utf8" })
      .split("\n").filter(Boolean).map(Number);
  } catch { /* none */ }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  try {
    execFileSync("userdel", ["-r", "-f", u.name], { stdio: "ignore" });
  } catch { /* already gone */ }
}

/** Run the binary as `u` with exactly `env` (plus nothing), from `/`. */
function asUser(u: User, env: Record<string, string>, args: string[]): ChildProcess {
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return spawn(RUNUSER as string, ["-u", u.name, "--", "env", "-i", ...pairs, BINARY, ...args], {
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function runAs(
  u: User,
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = asUser(u, env, args);
  const out = collect(child);
  const r = await exited(child, 30_000);
  return { code: r.code, stdout: out.stdout(), stderr: out.stderr() };
}

/** A cron job's environment: no XDG_RUNTIME_DIR, no TMPDIR, a minimal PATH. */
function cronEnv(u: User): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: u.home, LOGNAME: u.name, SHELL: "/bin/sh" };
}

/** A login shell's environment, with a runtime directory and a TMPDIR of its own. */
function loginEnv(u: User): Record<string, string> {
  return {
    ...cronEnv(u),
    USER: u.name,
    PATH: "/usr/local/bin:/usr/bin:/bin",
    XDG_RUNTIME_DIR: `/run/user/${u.uid}`,
    TMPDIR: "/var/tmp",
    TERM: "xterm",
  };
}

/** A directory outside .tmp/ that other users can reach, made by a child process. */
function sharedDir(): string {
  return execFileSync("mktemp", ["-d", "/tmp/steward-users-XXXXXX"], { encoding: "utf8" }).trim();
}

describe("two local users", { skip }, () => {
  let a: User | undefined;
  let b: User | undefined;
  const dirs: string[] = [];
  before(() => {
    a = makeUser("a");
    b = makeUser("b");
  });
  after(() => {
    dropUser(a);
    dropUser(b);
    for (const d of dirs) execFileSync("rm", ["-rf", d]);
  });

  test("a cron-like and a login-like environment of one user reach the same lock manager", async () => {
    const u = a as User;
    const holder = asUser(u, cronEnv(u), [
      "lock",
      "run",
      "nightly",
      "--",
      "sh",
      "-c",
      "echo held; exec sleep 60",
    ]);
    const out = collect(holder);
    try {
      await waitFor(
        () => {
          if (holder.exitCode !== null) throw new Error(`holder exited: ${out.stderr()}`);
          return out.stdout().includes("held");
        },
        30_000,
        "the cron-like holder",
      );
      const busy = await runAs(u, loginEnv(u), [
        "lock",
        "run",
        "--nonblock",
        "nightly",
        "--",
        "true",
      ]);
      assert.equal(busy.code, 75, busy.stderr);
      const st = await runAs(u, loginEnv(u), ["lockd", "status", "--json"]);
      assert.equal(st.code, 0, st.stderr);
      const socket = (JSON.parse(st.stdout) as { socket: string }).socket;
      // Not a predictable /tmp path: a directory only this user controls.
      assert.ok(!socket.startsWith("/tmp/"), socket);
      const dir = path.dirname(socket);
      assert.ok(dir.startsWith(`${u.home}/`) || dir.startsWith(`/run/user/${u.uid}/`), dir);
      assert.equal(fs.lstatSync(dir).uid, u.uid);
      assert.equal(fs.lstatSync(dir).mode & 0o077, 0);
      assert.equal(fs.lstatSync(socket).uid, u.uid);
    } finally {
      holder.kill("SIGKILL");
      await exited(holder, 5000);
    }
  });

  test("a run directory another user created first, or one others can write, is refused by name", async () => {
    const victim = a as User;
    const attacker = b as User;
    const base = sharedDir();
    dirs.push(base);
    fs.chmodSync(base, 0o755);
    // The attacker makes the directory first.
    const planted = path.join(base, "planted");
    fs.mkdirSync(planted);
    fs.chownSync(planted, attacker.uid, attacker.uid);
    fs.chmodSync(planted, 0o777);
    const r1 = await runAs(victim, cronEnv(victim), [
      "lock",
      "run",
      "--run-dir",
      planted,
      "x",
      "--",
      "true",
    ]);
    assert.equal(r1.code, 1, r1.stderr);
    assert.match(
      r1.stderr,
      new RegExp(`owned by uid ${attacker.uid}, not ${victim.uid}: ${planted}\\n$`),
    );
    assert.equal(fs.existsSync(path.join(planted, "lockd.sock")), false);
    // The victim's own directory, left writable: the attacker plants a socket in it.
    const loose = path.join(base, "loose");
    fs.mkdirSync(loose);
    fs.chownSync(loose, victim.uid, victim.uid);
    fs.chmodSync(loose, 0o777);
    const fake = spawn(RUNUSER as string, [
      "-u",
      attacker.name,
      "--",
      process.execPath,
      "-e",
      "require('net').createServer().listen(process.argv[1]); setTimeout(() => {}, 60000)",
      path.join(loose, "lockd.sock"),
    ], { cwd: "/", stdio: "ignore" });
    try {
      await waitFor(() => fs.existsSync(path.join(loose, "lockd.sock")), 30_000, "the fake");
      const r2 = await runAs(victim, cronEnv(victim), [
        "lock",
        "run",
        "--run-dir",
        loose,
        "x",
        "--",
        "true",
      ]);
      assert.equal(r2.code, 1, r2.stderr);
      assert.match(r2.stderr, new RegExp(`writable by others \\(mode 0777\\): ${loose}\\n$`));
    } finally {
      fake.kill("SIGKILL");
      await exited(fake, 5000);
    }
  });

  test("a socket the user may not open is reported as permission denied, not as not running", async () => {
    const u = a as User;
    const dir = sharedDir();
    dirs.push(dir);
    fs.chmodSync(dir, 0o755);
    const d = await LockDaemon.start({ runDir: dir, idleMinutes: 0 }); // root's, socket 0600
    try {
      const r = await runAs(u, cronEnv(u), ["lockd", "status", "--run-dir", dir]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Permission denied connecting to the lock manager: .*lockd\.sock/);
      const run = await runAs(u, cronEnv(u), ["lock", "run", "--run-dir", dir, "x", "--", "true"]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /Permission denied/);
      assert.equal(d.connections, 0);
    } finally {
      await d.stop("request");
    }
  });
});
