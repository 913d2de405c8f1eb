import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import net from "node:net";
import {
  defaultRunDir,
  ensurePrivateDir,
  errnoText,
  RunDirError,
  untrustedSocket,
  userRunDir,
} from "../../lib/platform/rundir.ts";
import { symlink, tempDir } from "../helpers.ts";

describe("run directories", () => {
  test("defaultRunDir honours STEWARD_RUN_DIR, and never XDG_RUNTIME_DIR or TMPDIR", () => {
    assert.equal(defaultRunDir({ STEWARD_RUN_DIR: "/srv/x" }), "/srv/x");
    const cron = defaultRunDir({ HOME: "/nonexistent" });
    const login = defaultRunDir({ XDG_RUNTIME_DIR: "/run/user/1000", TMPDIR: "/var/tmp" });
    assert.equal(cron, login);
    if (process.getuid?.() === 0) assert.equal(cron, "/run/steward");
  });

  test("userRunDir takes /run/user/<uid> when the uid owns it, else the home, else /tmp", () => {
    using tmp = tempDir("userrun");
    const uid = fs.statSync(tmp.path).uid;
    const runtimeRoot = path.join(tmp.path, "run-user");
    const home = path.join(tmp.path, "home");
    fs.mkdirSync(home);
    const opts = { runtimeRoot, home, host: "h1" };
    assert.equal(userRunDir(uid, opts), path.join(home, ".cache", "steward", "run-h1"));
    fs.mkdirSync(path.join(runtimeRoot, String(uid)), { recursive: true, mode: 0o700 });
    assert.equal(userRunDir(uid, opts), path.join(runtimeRoot, String(uid), "steward"));
    // Not the uid's own: neither is used.
    assert.equal(userRunDir(uid + 1, opts), `/tmp/steward-${uid + 1}`);
    assert.equal(
      userRunDir(uid, { runtimeRoot, home: undefined }),
      path.join(runtimeRoot, String(uid), "steward"),
    );
    fs.rmSync(runtimeRoot, { recursive: true });
    assert.equal(userRunDir(uid, { runtimeRoot, home: undefined }), `/tmp/steward-${uid}`);
    // A home so deep that the socket path would not fit a socket address.
    const deep = path.join(home, "d".repeat(100));
    fs.mkdirSync(deep);
    assert.equal(userRunDir(uid, { runtimeRoot, home: deep }), `/tmp/steward-${uid}`);
  });

  test("untrustedSocket names a loose directory, a symlink, a non-socket and a foreign owner", async () => {
    using tmp = tempDir("trust");
    const uid = fs.statSync(tmp.path).uid;
    const dir = path.join(tmp.path, "run");
    fs.mkdirSync(dir, { mode: 0o700 });
    const sock = path.join(dir, "lockd.sock");
    assert.equal(untrustedSocket(sock, uid), undefined); // nothing there yet
    assert.equal(untrustedSocket(path.join(tmp.path, "absent", "lockd.sock"), uid), undefined);
    fs.chmodSync(dir, 0o777);
    assert.match(untrustedSocket(sock, uid) ?? "", /writable by others \(mode 0777\): .*\/run$/);
    fs.chmodSync(dir, 0o700);
    symlink(dir, path.join(tmp.path, "link"));
    assert.match(
      untrustedSocket(path.join(tmp.path, "link", "lockd.sock"), uid) ?? "",
      /is a symbolic link: .*\/link$/,
    );
    fs.writeFileSync(sock, "");
    assert.match(untrustedSocket(sock, uid) ?? "", /socket is not a socket: .*lockd\.sock$/);
    fs.rmSync(sock);
    // Root's own directories are trusted by everyone; another user's are not.
    if (uid !== 0) {
      assert.match(
        untrustedSocket(sock, uid + 1) ?? "",
        new RegExp(`owned by uid ${uid}, not ${uid + 1}`),
      );
    }
    if (process.getuid?.() === 0 && !(globalThis as { Deno?: unknown }).Deno) {
      const server = net.createServer();
      await new Promise<void>((r) => server.listen(sock, r));
      try {
        fs.lchownSync(sock, 65534, 65534);
        assert.match(untrustedSocket(sock, 0) ?? "", /socket is owned by uid 65534, not 0: /);
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    }
  });

  test("ensurePrivateDir creates a 0700 directory and tightens a loose one", () => {
    using dirTmp = tempDir("rundir");
    const dir = dirTmp.path;
    const run = path.join(dir, "a", "run");
    ensurePrivateDir(run);
    assert.equal(fs.statSync(run).mode & 0o777, 0o700);
    fs.chmodSync(run, 0o777);
    ensurePrivateDir(run);
    assert.equal(fs.statSync(run).mode & 0o022, 0);
  });

  test("ensurePrivateDir refuses a symlink or a file", () => {
    using dirTmp = tempDir("rundir");
    const dir = dirTmp.path;
    fs.mkdirSync(path.join(dir, "real"));
    symlink(path.join(dir, "real"), path.join(dir, "link"));
    assert.throws(() => ensurePrivateDir(path.join(dir, "link")), RunDirError);
    fs.writeFileSync(path.join(dir, "file"), "");
    assert.throws(() => ensurePrivateDir(path.join(dir, "file")), /not a directory/);
  });

  test("ensurePrivateDir refuses a directory owned by someone else", {
    skip: process.getuid?.() !== 0 && "needs root to chown",
  }, () => {
    using dirTmp = tempDir("rundir");
    const dir = dirTmp.path;
    const run = path.join(dir, "foreign");
    fs.mkdirSync(run, { mode: 0o700 });
    fs.chownSync(run, 65534, 65534);
    assert.throws(() => ensurePrivateDir(run), /owned by uid 65534/);
  });

  test("ensurePrivateDir says why a directory cannot be made: the path, the code, its meaning", () => {
    using dirTmp = tempDir("rundir");
    const file = path.join(dirTmp.path, "file");
    fs.writeFileSync(file, "");
    for (const run of [path.join(file, "run"), path.join(file, "a", "run")]) {
      assert.throws(
        () => ensurePrivateDir(run),
        (e: unknown) =>
          e instanceof RunDirError &&
          e.message === `Cannot create the run directory ${run}: ENOTDIR: not a directory`,
      );
    }
  });

  test("ensurePrivateDir refuses a directory its owner cannot write", {
    skip: process.getuid?.() === 0 && "root writes anywhere (tests/lockd/start-errors covers it)",
  }, () => {
    using dirTmp = tempDir("rundir");
    const run = path.join(dirTmp.path, "ro");
    fs.mkdirSync(run, { mode: 0o500 });
    try {
      assert.throws(
        () => ensurePrivateDir(run),
        /^RunDirError: Run directory is not writable by its owner \(mode 0500\)/,
      );
    } finally {
      fs.chmodSync(run, 0o700);
    }
  });

  test("errnoText keeps the code and its meaning, not the system call", () => {
    const e = Object.assign(new Error("ENOENT: no such file or directory, mkdir '/proc/nope'"), {
      code: "ENOENT",
    });
    assert.equal(errnoText(e), "ENOENT: no such file or directory");
    assert.equal(errnoText(Object.assign(new Error("odd"), { code: "EODD" })), "EODD");
    assert.equal(errnoText(new Error("plain")), "plain");
  });
});
