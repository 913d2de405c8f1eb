import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PathGuard, PathGuardError } from "../../lib/platform/guard.ts";
import { symlink, tempDir } from "../helpers.ts";

describe("PathGuard", () => {
  test("allows files inside its root, existing or not", () => {
    using dirTmp = tempDir("guard");
    const dir = dirTmp.path;
    fs.mkdirSync(path.join(dir, "sub"));
    const g = new PathGuard([dir]);
    assert.equal(g.resolve("sub/file"), path.join(fs.realpathSync(dir), "sub", "file"));
    assert.equal(
      g.resolve(path.join(dir, "new", "deeper")),
      path.join(fs.realpathSync(dir), "new", "deeper"),
    );
  });

  test("refuses dot-dot escapes and absolute paths outside the root", () => {
    using dirTmp = tempDir("guard");
    const dir = dirTmp.path;
    const g = new PathGuard([dir]);
    assert.throws(() => g.resolve("../outside"), PathGuardError);
    assert.throws(() => g.resolve("/etc/passwd"), /Path refused: \/etc\/passwd: outside/);
    assert.equal(g.allows("a/../../b"), false);
  });

  test("refuses a symlink that points outside the root", () => {
    using dirTmp = tempDir("guard");
    const dir = dirTmp.path;
    using otherTmp = tempDir("other");
    const other = otherTmp.path;
    symlink(other, path.join(dir, "link"));
    const g = new PathGuard([dir]);
    assert.throws(() => g.resolve("link/secret"), PathGuardError);
    assert.throws(() => g.resolve("link"), PathGuardError);
  });

  test("refuses NUL bytes", () => {
    using dirTmp = tempDir("guard");
    const dir = dirTmp.path;
    assert.throws(() => new PathGuard([dir]).resolve("a\0b"), /NUL byte/);
  });

  test("accepts any of several roots", () => {
    using aTmp = tempDir("guard");
    const a = aTmp.path;
    using bTmp = tempDir("guard");
    const b = bTmp.path;
    const g = new PathGuard([a, b]);
    assert.ok(g.allows(path.join(b, "x")));
    assert.ok(g.allows(path.join(a, "y")));
  });
});
