/**
 * `steward dhcp network remove` asks before it removes a table when it runs on a terminal, and
 * does not ask when told `--yes` or when a script runs it (no terminal).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BINARY, requireBinary, ROOT, runSteward, tempDir } from "../../helpers.ts";

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

function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) copyTree(src, dst);
    else if (e.isFile()) fs.writeFileSync(dst, fs.readFileSync(src));
  }
}

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
    using tmp = tempDir("confirm");
    copyTree(path.join(ROOT, "examples", "dhcp"), tmp.path);
    const env = {
      STEWARD_DHCPSVC_CONF: path.join(tmp.path, "dhcpsvc.conf"),
      STEWARD_RUN_DIR: path.join(tmp.path, "run"),
    };
    const table = path.join(tmp.path, "var-dhcp", "SUNWfiles1_192_168_10_0");
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
    const add = await runSteward(["dhcp", "network", "create", "192.168.10.0"], {
      via: "binary",
      env,
    });
    assert.equal(add.code, 0, add.stderr);
    const forced = onTerminal(["dhcp", "network", "remove", "--yes", "192.168.10.0"], env, "");
    assert.equal(forced.status, 0, forced.stdout);
    assert.doesNotMatch(forced.stdout, /\[y\/N\]/);
    assert.ok(!fs.existsSync(table));
    await runSteward(["dhcp", "network", "create", "192.168.10.0"], { via: "binary", env });
    const piped = await runSteward(["dhcp", "network", "remove", "192.168.10.0"], {
      via: "binary",
      env,
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout, /\[y\/N\]/);
    assert.ok(!fs.existsSync(table));
  });
});
