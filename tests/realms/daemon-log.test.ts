/**
 * The daemon log: upstream levels, line format, time zone switch, bad paths.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  formatLogLine,
  LogFileError,
  logLevelName,
  logTimestamp,
  RollLog,
} from "../../lib/realms/rolllog.ts";
import { parseRealmLogLevel, parseRealmLogTz } from "../../lib/realms/protocol/bodies.ts";
import { tempDir } from "../helpers.ts";

describe("daemon log", () => {
  test("timestamps are ctime without the weekday, day padded with a space", () => {
    const d = new Date(Date.UTC(2026, 10, 1, 7, 9, 3));
    assert.equal(logTimestamp(d, "gmt"), "Nov  1 07:09:03 2026");
    assert.equal(
      logTimestamp(new Date(Date.UTC(2026, 10, 21, 17, 19, 43)), "gmt"),
      "Nov 21 17:19:43 2026",
    );
  });

  test("local time follows the process time zone", () => {
    const d = new Date(2026, 0, 5, 23, 59, 58);
    assert.equal(logTimestamp(d, "local"), "Jan  5 23:59:58 2026");
  });

  test("lines carry an optional field", () => {
    const time = new Date(Date.UTC(2026, 10, 21, 7, 19, 43));
    assert.equal(
      formatLogLine({ time, tz: "gmt", field: "alpha", message: "starting realm" }),
      "Nov 21 07:19:43 2026: alpha: starting realm\n",
    );
    assert.equal(
      formatLogLine({ time, tz: "gmt", message: "dtrealms starting" }),
      "Nov 21 07:19:43 2026: dtrealms starting\n",
    );
  });

  test("levels are accepted by name in any case or by number, 2 5 7 are not levels", () => {
    assert.equal(parseRealmLogLevel("TMI")?.level, 1);
    assert.equal(parseRealmLogLevel("phase")?.level, 6);
    assert.equal(parseRealmLogLevel("8")?.level, 8);
    for (const bad of ["2", "5", "7", "never", "always", "", "infox"]) {
      assert.equal(parseRealmLogLevel(bad), undefined, bad);
    }
    assert.equal(logLevelName(4), "info");
    assert.equal(parseRealmLogTz("LOCAL"), "local");
    assert.equal(parseRealmLogTz("utc"), undefined);
  });

  test("messages below the level are dropped and the time zone switch applies", () => {
    using dir = tempDir("rolllog");
    const file = path.join(dir.path, "log");
    const log = new RollLog({ level: 4, now: () => new Date(Date.UTC(2026, 10, 21, 7, 0, 0)) });
    log.open(file);
    log.log(1, "alpha", "too much information");
    log.log(6, "alpha", "phase message");
    log.tz = "local";
    log.log(8, undefined, "error message");
    log.close();
    const lines = fs.readFileSync(file, "utf8").split("\n");
    assert.equal(lines[0], "Nov 21 07:00:00 2026: alpha: phase message");
    assert.match(lines[1] ?? "", /^Nov 21 \d\d:00:00 2026: error message$/);
    assert.equal(lines.length, 3);
  });

  test("a log file that cannot be opened is an error and the old log stays", () => {
    using dir = tempDir("rolllog");
    const file = path.join(dir.path, "log");
    const log = new RollLog();
    log.open(file);
    assert.throws(() => log.open(path.join(dir.path, "missing", "x.log")), LogFileError);
    assert.throws(() => log.open(dir.path), LogFileError);
    assert.equal(log.file, file);
    log.log(9, undefined, "still here");
    log.close();
    assert.match(fs.readFileSync(file, "utf8"), /still here/);
  });
});
