/**
 * The managers registry file: every change is written durably (fsync of the file and of its
 * directory before and after the rename) and a failed write leaves the previous file intact.
 */
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ManagerRegistry, managersFile, readManagers } from "../../lib/realms/registry.ts";
import { tempDir } from "../helpers.ts";

test("the managers registry fsyncs its file and directory on every change", () => {
  using tmp = tempDir("rreg");
  const file = managersFile(tmp.path);
  const registry = new ManagerRegistry(file);
  const fsync = mock.method(fs, "fsyncSync");
  try {
    registry.set("alpha", { pid: process.pid, command: "/bin/mgr", args: ["-x"] });
    assert.ok(fsync.mock.callCount() >= 2, `fsync calls: ${fsync.mock.callCount()}`);
    const after = fsync.mock.callCount();
    registry.delete("alpha");
    assert.ok(fsync.mock.callCount() >= after + 2, "a delete is synced too");
  } finally {
    fsync.mock.restore();
  }
  assert.equal(registry.error, undefined);
  assert.deepEqual(readManagers(file), {});
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(tmp.path), [path.basename(file)]);
});

test("the managers registry keeps the previous file when a write fails", () => {
  using tmp = tempDir("rreg");
  const file = managersFile(tmp.path);
  const registry = new ManagerRegistry(file);
  registry.set("alpha", { pid: process.pid, command: "/bin/mgr", args: [] });
  const before = fs.readFileSync(file, "utf8");
  const fsync = mock.method(fs, "fsyncSync", () => {
    throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
  });
  try {
    registry.set("beta", { pid: process.pid, command: "/bin/mgr", args: [] });
  } finally {
    fsync.mock.restore();
  }
  assert.match(String(registry.error?.message), /no space left/);
  assert.equal(fs.readFileSync(file, "utf8"), before, "the old file is untouched");
  assert.deepEqual(fs.readdirSync(tmp.path), [path.basename(file)], "no temp file is left");
  assert.deepEqual(Object.keys(readManagers(file)), ["alpha"]);
  registry.delete("beta");
  assert.equal(registry.error, undefined, "the next write succeeds again");
  assert.deepEqual(Object.keys(readManagers(file)), ["alpha"]);
});
