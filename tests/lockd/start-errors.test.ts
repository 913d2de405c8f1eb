/**
 * A lock manager that cannot be started says why at once: a run directory that cannot be made
 * or used is reported with its reason before any daemon is spawned, and no start window is
 * waited out. From the built binary (`steward lock`, `steward lockd`, a dhcp command) and from
 * the library; the parts about other users run the binary as a second local user (root only).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { LockClient, LockError } from "../../lib/lockd/client.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import {
  BINARY,
  collect,
  exited,
  requireBinary,
  runSteward,
  RUNUSER,
  secondUserSkip,
  USERADD,
} from "../helpers.ts";
import { dhcpSandbox } from "../dhcp/cli/helpers.ts";
import { sandbox } from "./harness.ts";

const bin = { via: "binary" as const };

// The start window a client gave a daemon that never answered: 5 tries 500 ms apart.
const WINDOW_MS = 2500;
// A failure said at once: the binary starting and giving up, with room for a loaded machine.
const AT_ONCE_MS = 1000;

async function timed<T>(fn: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const t0 = performance.now();
  const r = await fn();
  return { r, ms: performance.now() - t0 };
}

// /proc refuses every mkdir: a run directory there can never be made.
const NOPE = "/proc/nope";
const NOPE_CAUSE = `Cannot create the run directory ${NOPE}: ENOENT: no such file or directory`;

describe("a lock manager that cannot start says why, at once (built binary)", () => {
  test("lock run with a run directory that cannot be made: the cause first, exit 69", async () => {
    requireBinary();
    const { r, ms } = await timed(() =>
      runSteward(["lock", "run", "--run-dir", NOPE, "x", "--", "true"], bin)
    );
    assert.equal(r.code, 69, r.stderr);
    assert.equal(r.stderr, `steward: ${NOPE_CAUSE}\n`);
    assert.ok(ms < AT_ONCE_MS, `failed after ${ms.toFixed(0)} ms`);
  });

  test("STEWARD_RUN_DIR naming such a directory: the same, for lock and lockd", async () => {
    requireBinary();
    const env = { STEWARD_RUN_DIR: NOPE };
    const lock = await timed(() => runSteward(["lock", "run", "x", "--", "true"], { ...bin, env }));
    assert.equal(lock.r.code, 69, lock.r.stderr);
    assert.equal(lock.r.stderr, `steward: ${NOPE_CAUSE}\n`);
    assert.ok(lock.ms < AT_ONCE_MS, `failed after ${lock.ms.toFixed(0)} ms`);
    const lockd = await timed(() => runSteward(["lockd"], { ...bin, env }));
    assert.equal(lockd.r.code, 1, lockd.r.stderr);
    assert.equal(lockd.r.stderr, `steward: ${NOPE_CAUSE}\n`);
    assert.equal(lockd.r.stdout, "");
    const fg = await runSteward(["lockd", "--foreground"], { ...bin, env });
    assert.equal(fg.code, 1, fg.stderr);
    assert.equal(fg.stderr, `steward: ${NOPE_CAUSE}\n`);
  });

  test("a run directory under a file: the cause first, exit 69", async () => {
    requireBinary();
    await using box = sandbox("underfile");
    fs.writeFileSync(`${box.dir}/file`, "");
    const dir = `${box.dir}/file/run`;
    const { r, ms } = await timed(() =>
      runSteward(["lock", "run", "--run-dir", dir, "x", "--", "true"], bin)
    );
    assert.equal(r.code, 69, r.stderr);
    assert.equal(
      r.stderr,
      `steward: Cannot create the run directory ${dir}: ENOTDIR: not a directory\n`,
    );
    assert.ok(ms < AT_ONCE_MS, `failed after ${ms.toFixed(0)} ms`);
  });

  test("a dhcp command needing the lock manager: the cause, once, at once", async () => {
    requireBinary();
    const box = dhcpSandbox("starterr");
    try {
      const { r, ms } = await timed(() =>
        box.run(["dhcp", "dhtadm", "-P"], { env: { STEWARD_RUN_DIR: NOPE } })
      );
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, "");
      // dhtadm's own message for DSVC_NO_LOCKMGR, then the reason, and nothing said twice.
      assert.equal(r.stderr, `dhtadm: Cannot contact lock manager: ${NOPE_CAUSE}\n`);
      assert.ok(ms < AT_ONCE_MS, `failed after ${ms.toFixed(0)} ms`);
    } finally {
      await box.dispose();
    }
  });
});

describe("a lock manager that cannot start says why, at once (library)", () => {
  test("a run directory that cannot be made is NO_LOCKMGR with the cause, and nothing is started", async () => {
    await using box = sandbox("libfile");
    fs.writeFileSync(`${box.dir}/file`, "");
    const runDir = `${box.dir}/file/run`;
    // Below the file too, where connecting fails with ENOENT rather than ENOTDIR.
    for (const socketPath of [`${runDir}/lockd.sock`, `${box.dir}/sock/lockd.sock`]) {
      const client = new LockClient({ runDir, socketPath });
      try {
        const { r, ms } = await timed(() => client.acquire("x").then(() => undefined, (e) => e));
        assert.ok(r instanceof LockError && r.code === "NO_LOCKMGR", String(r));
        assert.equal(
          r.message,
          `Cannot create the run directory ${runDir}: ENOTDIR: not a directory`,
        );
        assert.ok(ms < WINDOW_MS / 2, `failed after ${ms.toFixed(0)} ms`);
      } finally {
        client.close();
      }
    }
    assert.equal(fs.existsSync(`${box.dir}/sock/.lockd.sock.starting`), false);
  });

  test("a daemon that exits at start is reported with its reason, not after a timeout", async () => {
    await using box = sandbox("libexit");
    // An idle time the daemon refuses: it exits at once with a usage error and a hint.
    const client = new LockClient({ runDir: box.dir, idleMinutes: Infinity });
    try {
      const { r, ms } = await timed(() => client.acquire("x").then(() => undefined, (e) => e));
      assert.ok(r instanceof LockError && r.code === "NO_LOCKMGR", String(r));
      assert.equal(
        r.message,
        "Cannot start the lock manager: Invalid --idle: not a number of minutes: Infinity",
      );
      assert.ok(ms < WINDOW_MS, `failed after ${ms.toFixed(0)} ms`);
      // The reason is the daemon's own, kept in the run directory.
      const kept = fs.readFileSync(path.join(box.dir, "lockd.stderr"), "utf8");
      assert.ok(kept.includes(r.message.replace(/^Cannot start the lock manager: /, "")), kept);
    } finally {
      client.close();
    }
  });
});

const skipUsers = isDeno()
  ? "runs processes as another user from Node only (the Node suite covers it)"
  : secondUserSkip() ||
    (!fs.existsSync(BINARY) ? `${BINARY} is missing: run 'npm run build' first` : false);

describe("a run directory another user owns, or with a bad mode, is refused by name", {
  skip: skipUsers,
}, () => {
  let user: { name: string; uid: number } | undefined;
  let shared = "";
  before(() => {
    const name = `stwe${process.pid % 100000}`;
    execFileSync(USERADD as string, ["-M", "-s", "/bin/sh", name], { stdio: "ignore" });
    user = { name, uid: Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim()) };
    // Outside .tmp/ (private to root): a directory the user can reach, made by a child process.
    shared = execFileSync("mktemp", ["-d", "/tmp/steward-starterr-XXXXXX"], { encoding: "utf8" })
      .trim();
    fs.chmodSync(shared, 0o755);
  });
  after(() => {
    if (shared) execFileSync("rm", ["-rf", shared]);
    if (user) {
      try {
        execFileSync("userdel", ["-f", user.name], { stdio: "ignore" });
      } catch { /* already gone */ }
    }
  });

  async function lockAs(
    runDir: string,
  ): Promise<{ code: number | null; stderr: string; ms: number }> {
    const u = user as { name: string };
    const t0 = performance.now();
    const child = spawn(RUNUSER as string, [
      "-u",
      u.name,
      "--",
      "env",
      "-i",
      "PATH=/usr/bin:/bin",
      BINARY,
      "lock",
      "run",
      "--run-dir",
      runDir,
      "x",
      "--",
      "true",
    ], { cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
    const out = collect(child);
    const r = await exited(child, 30_000);
    return { code: r.code, stderr: out.stderr(), ms: performance.now() - t0 };
  }

  test("a directory root owns, one the user may not write, one it may not create in", async () => {
    const u = user as { uid: number };
    const rootOwned = path.join(shared, "root-owned");
    fs.mkdirSync(rootOwned, { mode: 0o755 });
    const readOnly = path.join(shared, "read-only");
    fs.mkdirSync(readOnly, { mode: 0o500 });
    fs.chownSync(readOnly, u.uid, u.uid);
    const cases: Array<[string, string]> = [
      [rootOwned, `Run directory is owned by uid 0, not ${u.uid}: ${rootOwned}`],
      [readOnly, `Run directory is not writable by its owner (mode 0500): ${readOnly}`],
      [
        path.join(rootOwned, "run"),
        `Cannot create the run directory ${path.join(rootOwned, "run")}: EACCES: permission denied`,
      ],
    ];
    for (const [dir, reason] of cases) {
      const r = await lockAs(dir);
      assert.equal(r.code, 69, r.stderr);
      assert.equal(r.stderr, `steward: ${reason}\n`);
      // runuser and env add their own start-up time.
      assert.ok(r.ms < AT_ONCE_MS + 500, `${dir}: failed after ${r.ms.toFixed(0)} ms`);
    }
    assert.deepEqual(fs.readdirSync(readOnly), [], "nothing made in the read-only directory");
  });
});
