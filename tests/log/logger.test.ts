/** The logger: control characters escaped, size-capped rotation, reopen after logrotate. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { escapeControl, fileSink, Logger, parseLogSize } from "../../lib/log/logger.ts";
import { tempDir } from "../helpers.ts";

test("logger escapes terminal control characters in messages", () => {
  const lines: string[] = [];
  const log = new Logger("t", { sink: { write: (l) => lines.push(l) } });
  log.info("name \x1b[31mred\x1b[0m\nnext\r\x07 \x9b back\\slash");
  assert.equal(lines.length, 1);
  const line = lines[0] ?? "";
  assert.match(line, /name \\x1b\[31mred\\x1b\[0m\\x0anext\\x0d\\x07 \\x9b back\\\\slash\n$/);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line.slice(0, -1), /[\x00-\x1f\x7f-\x9f]/);
  assert.equal(escapeControl("plain text"), "plain text");
});

test("file sink rotates to .1 when the file would pass its maximum size", () => {
  using tmp = tempDir("log");
  const file = path.join(tmp.path, "d.log");
  const sink = fileSink(file, { maxSize: 100 });
  for (let i = 0; i < 30; i++) sink.write(`line ${String(i).padStart(3, "0")} ..........\n`);
  sink.close();
  assert.ok(fs.statSync(file).size <= 100);
  assert.ok(fs.statSync(`${file}.1`).size <= 100);
  assert.match(fs.readFileSync(file, "utf8"), /line 029/);
});

test("file sink reopens the path after the file was moved away", () => {
  using tmp = tempDir("log");
  const file = path.join(tmp.path, "d.log");
  const sink = fileSink(file);
  sink.write("before\n");
  fs.renameSync(file, `${file}.old`);
  sink.write("still old\n");
  sink.reopen();
  sink.write("after\n");
  sink.close();
  assert.equal(fs.readFileSync(`${file}.old`, "utf8"), "before\nstill old\n");
  assert.equal(fs.readFileSync(file, "utf8"), "after\n");
});

test("log sizes parse with k, M and G suffixes and refuse garbage", () => {
  assert.equal(parseLogSize("10M"), 10 * 1024 * 1024);
  assert.equal(parseLogSize("512k"), 512 * 1024);
  assert.equal(parseLogSize("2048"), 2048);
  assert.equal(parseLogSize("1G"), 1024 ** 3);
  assert.equal(parseLogSize("ten"), undefined);
  assert.equal(parseLogSize("-1"), undefined);
});
