/**
 * End to end with the built binary: a third-party store module dropped into a module directory
 * is listed by `steward dhcp module list` and used by the admin commands.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requireBinary, runSteward, type TempDir, tempDir } from "../helpers.ts";
import { type TestLockd, testLockd } from "./helpers.ts";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "modules");

describe("third-party store module in the binary", () => {
  let tmp: TempDir;
  let moduleDir: string;
  let env: Record<string, string>;
  let lockd: TestLockd;

  before(() => {
    requireBinary();
    tmp = tempDir("dhcp-3p");
    moduleDir = path.join(tmp.path, "modules");
    fs.mkdirSync(moduleDir);
    // Dropped in by an administrator: a copy, not the repository file.
    fs.copyFileSync(
      path.join(fixtures, "ds_SAMPLEjson.1.mjs"),
      path.join(moduleDir, "ds_SAMPLEjson.1.mjs"),
    );
    // The same module as CommonJS, under another name.
    const cjs = fs.readFileSync(path.join(fixtures, "ds_SAMPLEjson.1.mjs"), "utf8")
      .replace(/^import (\w+) from ("node:[^"]+");$/gm, "const $1 = require($2);")
      .replace(/^import \{ (\w+) \} from ("node:[^"]+");$/gm, "const { $1 } = require($2);")
      .replace("export default function createModule", "module.exports = function createModule")
      .replaceAll("SAMPLEjson", "SAMPLEcjs");
    fs.writeFileSync(path.join(moduleDir, "ds_SAMPLEcjs.1.cjs"), cjs);
    const loc = path.join(tmp.path, "json");
    fs.mkdirSync(loc);
    const conf = path.join(tmp.path, "dhcpsvc.conf");
    fs.writeFileSync(conf, `# test\nRESOURCE=SAMPLEjson\nPATH=${loc}\nCONVER=1\nRUN_MODE=server\n`);
    lockd = testLockd(tmp.path);
    env = {
      STEWARD_DHCPSVC_CONF: conf,
      STEWARD_DHCP_MODULE_PATH: moduleDir,
      STEWARD_RUN_DIR: lockd.runDir,
    };
  });

  after(async () => {
    await lockd.stop();
    tmp[Symbol.dispose]();
  });

  it("module list shows the module with its version, synchronization and description", async () => {
    const r = await runSteward(["dhcp", "module", "list", "--json"], { via: "binary", env });
    assert.equal(r.code, 0, r.stderr);
    const mods = JSON.parse(r.stdout) as Array<
      { name: string; versions: number[]; source: string }
    >;
    const m = mods.find((x) => x.name === "SAMPLEjson");
    assert.ok(m, r.stdout);
    assert.deepEqual(m.versions, [1]);
    assert.equal(m.source, path.join(moduleDir, "ds_SAMPLEjson.1.mjs"));
    assert.ok(mods.some((x) => x.name === "SUNWfiles"));
    const c = mods.find((x) => x.name === "SAMPLEcjs") as
      | { versions: number[]; error?: string }
      | undefined;
    assert.ok(c, "the CommonJS module is listed");
    assert.equal(c.error, undefined);
    assert.deepEqual(c.versions, [1]);
  });

  it("pntadm creates, fills and prints a network through the third-party module", async () => {
    const run = (args: string[]) => runSteward(["dhcp", "pntadm", ...args], { via: "binary", env });
    let r = await run(["-C", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run([
      "-A",
      "10.0.0.5",
      "-i",
      "01AABBCCDDEEFF",
      "-m",
      "UNKNOWN",
      "-s",
      "10.0.0.1",
      "10.0.0.0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["-P", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /01AABBCCDDEEFF\s+00\s+10\.0\.0\.5\s+10\.0\.0\.1/);
    const file = path.join(tmp.path, "json", "SAMPLEjson1_10_0_0_0.json");
    const stored = JSON.parse(fs.readFileSync(file, "utf8")) as { records: Array<{ cid: string }> };
    assert.deepEqual(stored.records.map((x) => x.cid), ["01AABBCCDDEEFF"]);
    r = await run(["-A", "10.0.0.5", "10.0.0.0"]);
    assert.equal(r.code, 1, "an existing entry is exit 1");
  });
});
