import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  LOCKD_DEFAULT_IDLE_MINUTES,
  parseCrosshostRoots,
  parseDefaults,
  parseIdleMinutes,
  readLockdDefaults,
} from "../../lib/lockd/defaults.ts";
import { sandbox } from "./harness.ts";

describe("lockd defaults file", () => {
  test("parses KEY=VALUE lines, skipping comments, blanks and lines without =", () => {
    const m = parseDefaults('# comment\n\nIDLE=30\nnoequals\n OTHER = a=b \nQ="5"\n');
    assert.deepEqual([...m], [["IDLE", "30"], ["OTHER", "a=b"], ["Q", "5"]]);
  });

  test("accepts whole and fractional minutes and refuses anything else", () => {
    assert.equal(parseIdleMinutes("15"), 15);
    assert.equal(parseIdleMinutes("0.5"), 0.5);
    assert.equal(parseIdleMinutes("0"), 0);
    for (const bad of ["", "-1", "abc", "1e3", "15m", "0x10"]) {
      assert.equal(parseIdleMinutes(bad), undefined, bad);
    }
  });

  test("reads IDLE from the file, and falls back to 15 when it is missing or bad", async () => {
    await using box = sandbox("defaults");
    const file = path.join(box.dir, "steward-lockd");
    assert.deepEqual(readLockdDefaults(file), {
      idleMinutes: LOCKD_DEFAULT_IDLE_MINUTES,
      crosshostRoots: [],
      source: "default",
      warnings: [],
    });
    fs.writeFileSync(file, "# lockd\nIDLE=3\n");
    assert.equal(readLockdDefaults(file).idleMinutes, 3);
    fs.writeFileSync(file, "IDLE=soon\n");
    const bad = readLockdDefaults(file);
    assert.equal(bad.idleMinutes, 15);
    assert.match(bad.warnings[0] ?? "", /Ignoring IDLE in .*: not a number of minutes: soon/);
  });

  test("reads CROSSHOST_ROOTS as colon-separated absolute directories, warning about others", async () => {
    await using box = sandbox("defaults");
    const file = path.join(box.dir, "steward-lockd");
    fs.writeFileSync(file, "CROSSHOST_ROOTS=/var/dhcp: relative/dir :/srv/dhcp\nIDLE=2\n");
    const d = readLockdDefaults(file);
    assert.deepEqual(d.crosshostRoots, ["/var/dhcp", "/srv/dhcp"]);
    assert.equal(d.idleMinutes, 2);
    assert.match(
      d.warnings[0] ?? "",
      /Ignoring CROSSHOST_ROOTS entry "relative\/dir": not an absolute path/,
    );
    assert.deepEqual(parseCrosshostRoots("").roots, []);
  });

  test("fails clearly when a file the user named is missing", async () => {
    await using box = sandbox("defaults");
    const file = path.join(box.dir, "missing");
    assert.throws(
      () => readLockdDefaults(file, { required: true }),
      (e: Error) => e.message === `Cannot read defaults file ${file}: ENOENT`,
    );
  });
});
