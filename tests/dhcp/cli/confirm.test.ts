/**
 * `steward dhcp network remove` asks before it removes a table when it runs on a terminal, and
 * does not ask when told `--yes` or when a script runs it (no terminal).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BINARY, requireBinary } from "../../helpers.ts";
import { dhcpSandbox } from "./helpers.ts";

function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const skip = hasScript() ? undefined : "script(1) from util-linux is not installed";
if (skip) console.log(`# skipping the confirmation test: ${skip}`);

describe("network remove on a terminal", { skip: skip ?? false }, () => {
  /** Run the binary on a pseudo-terminal made by script(1), typing `input`. */
  function onTerminal(args: string[], env: Record<string, string>, input: string) {
    const line = [BINARY, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    return spawnSync("script", ["-qec", line, "/dev/null"], {
      input,
      env: { ...process.env, ...env, NO_COLOR: "1" },
      encoding: "utf8",
      timeout: 30_000,
    });
  }

  it("asks first, keeps the table on no, and removes it on yes or with --yes", async () => {
    requireBinary();
    const sb = dhcpSandbox("confirm");
    try {
      const env = sb.env;
      const table = path.join(sb.store, "SUNWfiles1_192_168_10_0");
      assert.ok(fs.existsSync(table));

      const no = onTerminal(["dhcp", "network", "remove", "192.168.10.0"], env, "n\n");
      assert.match(no.stdout, /Remove network 192\.168\.10\.0 and every address in it\? \[y\/N\]/);
      assert.match(no.stdout, /Network 192\.168\.10\.0 not removed/);
      assert.notEqual(no.status, 0);
      assert.ok(fs.existsSync(table), "answering no keeps the table");

      const yes = onTerminal(["dhcp", "network", "remove", "192.168.10.0"], env, "y\n");
      assert.equal(yes.status, 0, yes.stdout);
      assert.ok(!fs.existsSync(table), "answering yes removes it");

      // Without a terminal (a script) and with --yes on one, nothing is asked.
      const add = await sb.run(["dhcp", "network", "create", "192.168.10.0"]);
      assert.equal(add.code, 0, add.stderr);
      const forced = onTerminal(["dhcp", "network", "remove", "--yes", "192.168.10.0"], env, "");
      assert.equal(forced.status, 0, forced.stdout);
      assert.doesNotMatch(forced.stdout, /\[y\/N\]/);
      assert.ok(!fs.existsSync(table));
      await sb.run(["dhcp", "network", "create", "192.168.10.0"]);
      const piped = await sb.run(["dhcp", "network", "remove", "192.168.10.0"]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.doesNotMatch(piped.stdout, /\[y\/N\]/);
      assert.ok(!fs.existsSync(table));
    } finally {
      await sb.dispose();
    }
  });
});
