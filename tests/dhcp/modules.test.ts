import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listModules, loadModule, MODULE_PATH_ENV, synchTypeName } from "../../lib/dhcp/modules.ts";
import {
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_SYNCH_CROSSHOST,
  DSVC_SYNCH_DSVCD,
  DSVC_WRITE,
  DT_QKEY,
  qeq,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { makeDtRec } from "../../lib/dhcp/records.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { type TempDir, tempDir, withEnv } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "modules");
const sample = fs.readFileSync(path.join(fixtures, "ds_SAMPLEjson.1.mjs"), "utf8");

describe("module discovery and loading", () => {
  let tmp: TempDir;
  let dir: string;

  before(() => {
    tmp = tempDir("dhcp-mod");
    dir = path.join(tmp.path, "modules");
    fs.mkdirSync(dir);
    const put = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
    put(
      "ds_BADversion.1.mjs",
      sample.replaceAll("SAMPLEjson", "BADversion").replace("version: () => 1", "version: () => 2"),
    );
    put(
      "ds_BADmissing.1.mjs",
      "export default { name: 'BADmissing', conver: 1, version: () => 1 };\n",
    );
    put("ds_BADsyntax.1.mjs", "export default {{{\n");
    put("ds_BADname.1.mjs", sample);
    put(
      "ds_CJSmod.2.cjs",
      `module.exports = ${"require"}('${path.join(fixtures, "ds_SAMPLEjson.1.mjs")}').default;\n`,
    );
    put("README.txt", "not a module\n");
    put(
      "ds_BADrecords.1.mjs",
      sample.replaceAll("SAMPLEjson", "BADrecords")
        .replace(
          "fromJson: (j) => ({ sig: BigInt(j.sig), key",
          "fromJson: (j) => ({ sig: j.sig, key",
        )
        .replace(
          'if (e.code === "EEXIST") throw fail(EXISTS, location);',
          'if (e.code === "EEXIST") throw new Error("plain failure");',
        ),
    );
    put("ds_SUNWfiles.7.mjs", sample);
  });

  after(() => tmp[Symbol.dispose]());

  it("listModules shows the built-in SUNWfiles versions 0 and 1", async () => {
    const mods = await listModules({ moduleDirs: [] });
    const files = mods.find((m) => m.name === "SUNWfiles");
    assert.ok(files);
    assert.deepEqual(files.versions, [0, 1]);
    assert.equal(files.current, 1);
    assert.equal(files.source, "builtin");
    assert.equal(files.synchtype, DSVC_SYNCH_DSVCD | DSVC_SYNCH_CROSSHOST);
    assert.equal(synchTypeName(files.synchtype), "lock manager, cross-host");
    assert.equal(files.description.summary, "Text files");
    assert.equal(files.description.validatePath("relative/dir")?.includes("absolute"), true);
    assert.equal(files.description.validatePath("/var/dhcp"), undefined);
  });

  it("a third-party module in a module directory is found, described and used", async () => {
    const mods = await listModules({ moduleDirs: [fixtures] });
    const m = mods.find((x) => x.name === "SAMPLEjson");
    assert.ok(m);
    assert.equal(m.error, undefined);
    assert.deepEqual(m.versions, [1]);
    assert.equal(m.source, path.join(fixtures, "ds_SAMPLEjson.1.mjs"));
    assert.equal(synchTypeName(m.synchtype), "lock manager");
    assert.match(m.description.configHelp ?? "", /indent/);
    assert.equal(m.description.validateConfig?.("indent=2"), undefined);
    assert.ok(m.description.validateConfig?.("bogus"));

    const loc = path.join(tmp.path, "json");
    await using store = await openStore(
      { resource: "SAMPLEjson", location: loc, config: "indent=2" },
      { moduleDirs: [fixtures], synchronizer: null },
    );
    await store.mklocation();
    const dt = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    await dt.add(makeDtRec("Locale", "m", ":UTCoffst=-18000:"));
    assert.equal((await dt.lookup(qeq(qinit(), DT_QKEY), { key: "Locale" })).count, 1);
    // configure() saw the config string: the file is pretty-printed.
    assert.match(
      fs.readFileSync(path.join(loc, "SAMPLEjson1_dhcptab.json"), "utf8"),
      /\n {2}"records"/,
    );
  });

  it("the module path comes from STEWARD_DHCP_MODULE_PATH when no directory is given", async () => {
    const restore = withEnv({
      [MODULE_PATH_ENV]: `${path.join(tmp.path, "nowhere")}:${fixtures}`,
    });
    try {
      assert.ok((await listModules()).some((m) => m.name === "SAMPLEjson"));
    } finally {
      restore();
    }
  });

  it("a CommonJS module file loads too", async () => {
    const loaded = await loadModule("CJSmod", 2, { moduleDirs: [dir] }).catch((e) => e);
    // The file re-exports SAMPLEjson, which declares another name and version: refused clearly.
    assert.equal(loaded.code, DSVC.MODULE_ERR);
    assert.match(loaded.message, /declares SAMPLEjson version 1, not CJSmod version 2/);
  });

  it("broken modules fail with the upstream codes and are listed with their error", async () => {
    await rejectsWith(loadModule("BADversion", -1, { moduleDirs: [dir] }), DSVC.MODULE_VERSION);
    const missing = await rejectsWith(
      loadModule("BADmissing", 1, { moduleDirs: [dir] }),
      DSVC.MODULE_ERR,
    );
    assert.match(missing.message, /missing functions: status, mklocation/);
    await rejectsWith(loadModule("BADsyntax", 1, { moduleDirs: [dir] }), DSVC.MODULE_LOAD_ERR);
    await rejectsWith(loadModule("BADname", 1, { moduleDirs: [dir] }), DSVC.MODULE_ERR);
    await rejectsWith(loadModule("NoSuchModule", -1, { moduleDirs: [dir] }), DSVC.MODULE_LOAD_ERR);
    await rejectsWith(
      loadModule("SAMPLEjson", 9, { moduleDirs: [fixtures] }),
      DSVC.MODULE_LOAD_ERR,
    );
    await rejectsWith(loadModule("SUNWfiles", 7, { moduleDirs: [dir] }), DSVC.MODULE_LOAD_ERR);
    await rejectsWith(loadModule("../etc", -1, { moduleDirs: [dir] }), DSVC.BAD_RESOURCE);
    const mods = await listModules({ moduleDirs: [dir] });
    for (const name of ["BADversion", "BADmissing", "BADsyntax", "BADname"]) {
      assert.ok(mods.find((m) => m.name === name)?.error, `${name} listed with an error`);
    }
    assert.match(
      mods.find((m) => m.name === "SUNWfiles" && m.source !== "builtin")?.error ?? "",
      /built-in/,
    );
    assert.equal(
      mods.find((m) => m.name === "SUNWfiles" && m.source === "builtin")?.error,
      undefined,
    );
  });

  it("a third-party module's coded errors keep their code; anything else is MODULE_ERR", async () => {
    const loc = path.join(tmp.path, "bad-records");
    await using s = await openStore({ resource: "BADrecords", location: loc }, {
      moduleDirs: [dir],
      synchronizer: null,
    });
    await s.mklocation();
    const e = await rejectsWith(s.mklocation(), DSVC.MODULE_ERR);
    assert.match(e.message, /mklocation: plain failure/);
    const dt = await s.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    await dt.add(makeDtRec("Locale", "m", ":x:"));
    // EXISTS thrown as { code: 1 } by the module arrives as DsvcError EXISTS.
    await rejectsWith(dt.add(makeDtRec("Locale", "m", ":x:")), DSVC.EXISTS);
    const bad = await rejectsWith(dt.lookup(qinit(), {}), DSVC.MODULE_ERR);
    assert.match(bad.message, /malformed record/);
  });

  it("a configure() refusal is MODULE_CFG_ERR", async () => {
    const e = await rejectsWith(
      openStore({ resource: "SAMPLEjson", location: tmp.path, config: "colour=blue" }, {
        moduleDirs: [fixtures],
      }),
      DSVC.MODULE_CFG_ERR,
    );
    assert.match(e.message, /expected indent=0\.\.8: colour=blue/);
  });
});
