import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { writeFileAtomic, writeFileAtomicSync } from "../../lib/platform/atomic.ts";
import { exited, tempDir, waitFor } from "../helpers.ts";

describe("writeFileAtomic", () => {
  test("replaces the content and keeps the mode of an existing file", async () => {
    using dirTmp = tempDir("atomic");
    const dir = dirTmp.path;
    const f = path.join(dir, "conf");
    fs.writeFileSync(f, "old\n", { mode: 0o640 });
    fs.chmodSync(f, 0o640);
    await writeFileAtomic(f, "new\n");
    assert.equal(fs.readFileSync(f, "utf8"), "new\n");
    assert.equal(fs.statSync(f).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ["conf"], "no temporary file is left behind");
  });

  test("creates a new file with the requested mode", async () => {
    using dirTmp = tempDir("atomic");
    const dir = dirTmp.path;
    const f = path.join(dir, "new");
    await writeFileAtomic(f, new Uint8Array([1, 2, 3]), { mode: 0o600 });
    assert.deepEqual([...fs.readFileSync(f)], [1, 2, 3]);
    assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  });

  test("leaves the old file untouched when the write fails", async () => {
    using dirTmp = tempDir("atomic");
    const dir = dirTmp.path;
    const f = path.join(dir, "missing-dir", "x");
    await assert.rejects(writeFileAtomic(f, "data"));
    const g = path.join(dir, "keep");
    fs.writeFileSync(g, "keep");
    fs.chmodSync(dir, 0o500);
    try {
      if (process.getuid?.() !== 0) await assert.rejects(writeFileAtomic(g, "lost"));
    } finally {
      fs.chmodSync(dir, 0o700);
    }
    assert.equal(fs.readFileSync(g, "utf8"), "keep");
  });

  test("the sync twin behaves the same", () => {
    using dirTmp = tempDir("atomic");
    const dir = dirTmp.path;
    const f = path.join(dir, "s");
    writeFileAtomicSync(f, "one");
    writeFileAtomicSync(f, "two");
    assert.equal(fs.readFileSync(f, "utf8"), "two");
    assert.deepEqual(fs.readdirSync(dir), ["s"]);
  });

  test("a writer killed at random instants leaves either the old or the new content", async () => {
    using dirTmp = tempDir("atomic");
    const dir = dirTmp.path;
    const f = path.join(dir, "data");
    const big = (c: string) => c.repeat(256 * 1024);
    fs.writeFileSync(f, big("a"));
    const script = path.join(dir, "writer.ts");
    const lib = path.resolve("lib/platform/atomic.ts");
    fs.writeFileSync(
      script,
      `import { writeFileAtomicSync } from ${JSON.stringify(lib)};\n` +
        `let i = 0;\nfor (;;) { writeFileAtomicSync(${
          JSON.stringify(f)
        }, String.fromCharCode(97 + (i++ % 26)).repeat(256 * 1024)); }\n`,
    );
    const runtime = (globalThis as { Deno?: { execPath(): string } }).Deno;
    for (let round = 0; round < 5; round++) {
      const child = runtime
        ? spawn(runtime.execPath(), ["run", "-A", script], { stdio: "ignore" })
        : spawn(process.execPath, [script], { stdio: "ignore" });
      await waitFor(() => child.pid, 5000, "writer start");
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
      process.kill(child.pid as number, "SIGKILL");
      await exited(child);
      const content = fs.readFileSync(f, "utf8");
      assert.equal(content.length, 256 * 1024, "the file is whole");
      assert.match(content, /^(.)\1*$/, "the file holds one complete version");
    }
  });
});
