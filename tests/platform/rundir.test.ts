import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { defaultRunDir, ensurePrivateDir, RunDirError } from "../../lib/platform/rundir.ts";
import { symlink, tempDir } from "../helpers.ts";

describe("run directories", () => {
  test("defaultRunDir honours STEWARD_RUN_DIR, then root, then XDG_RUNTIME_DIR", () => {
    assert.equal(defaultRunDir({ STEWARD_RUN_DIR: "/srv/x" }), "/srv/x");
    const d = defaultRunDir({ XDG_RUNTIME_DIR: "/run/user/1000" });
    assert.ok(d === "/run/steward" || d === "/run/user/1000/steward", d);
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
});
