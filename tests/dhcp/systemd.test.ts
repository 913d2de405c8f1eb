/**
 * The example lock-manager unit works with the documented /var/dhcp location: its sandbox
 * (ProtectSystem=strict) leaves the dhcp data directory writable, where the lock manager
 * creates the cross-host lock files, and systemd accepts the unit without a warning.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { requireBinary, ROOT, tempDir } from "../helpers.ts";

const UNIT = path.join(ROOT, "examples", "systemd", "steward-lockd.service");

function settings(text: string, key: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${key}=`)).flatMap((l) =>
    l.slice(key.length + 1).trim().split(/\s+/)
  );
}

describe("systemd unit of the lock manager", () => {
  it("lets the lock manager write the documented /var/dhcp under ProtectSystem=strict", () => {
    const text = fs.readFileSync(UNIT, "utf8");
    assert.deepEqual(settings(text, "ProtectSystem"), ["strict"]);
    const rw = settings(text, "ReadWritePaths").map((p) => p.replace(/^-/, ""));
    assert.ok(rw.includes("/var/dhcp"), `ReadWritePaths has /var/dhcp: ${rw.join(" ")}`);
    assert.ok(rw.includes("/run/steward"));
  });

  it("passes systemd-analyze verify without a warning", (t) => {
    const probe = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0) {
      t.skip("systemd-analyze is not installed");
      return;
    }
    using dir = tempDir("dhcp-systemd");
    // The unit names the installed binary; check it against the one built here.
    const unit = path.join(dir.path, "steward-lockd.service");
    fs.writeFileSync(
      unit,
      fs.readFileSync(UNIT, "utf8").replaceAll("/usr/local/bin/steward", requireBinary()),
    );
    const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const warnings = r.stderr.split("\n").filter((l) => l.includes(unit));
    assert.deepEqual(warnings, [], "no warning about the unit");
  });
});
