import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  datastoreFromConf,
  DhcpsvcConf,
  readDhcpsvcConf,
  setConfDatastore,
  setConfParam,
  writeDhcpsvcConf,
} from "../../lib/dhcp/conf.ts";
import { DSVC, DsvcError } from "../../lib/dhcp/spi.ts";
import { openConfiguredStore } from "../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";

const UPSTREAM =
  "#\n# This file is written by the DHCP tools\n#\nDAEMON_ENABLED=TRUE\nRESOURCE=SUNWfiles\n" +
  "RUN_MODE=server\nPATH=/var/dhcp\nCONVER=1\n";

function invalid(re: RegExp) {
  return (e: unknown) => e instanceof DsvcError && e.code === DSVC.INVAL && re.test(e.message);
}

describe("dhcpsvc.conf", () => {
  let tmp: TempDir;
  before(() => (tmp = tempDir("dhcp-conf-file")));
  after(() => tmp[Symbol.dispose]());

  it("reads upstream files and writes them back byte for byte", () => {
    const c = DhcpsvcConf.parse(UPSTREAM);
    assert.equal(c.get("resource"), "SUNWfiles");
    assert.equal(c.get("PATH"), "/var/dhcp");
    assert.equal(c.toString(), UPSTREAM);
    assert.deepEqual(datastoreFromConf(c), {
      resource: "SUNWfiles",
      location: "/var/dhcp",
      conver: 1,
    });
  });

  it("splits at the first '=' and trims nothing", () => {
    const c = DhcpsvcConf.parse("RESOURCE_CONFIG=a=b c \nX= y\n");
    assert.equal(c.get("RESOURCE_CONFIG"), "a=b c ");
    assert.equal(c.get("X"), " y");
  });

  it("edits keep comments and order; new keys are appended; PATH forces RUN_MODE=server", () => {
    const c = DhcpsvcConf.parse("# keep me\nRUN_MODE=relay\nRELAY_DESTINATIONS=10.0.0.1\n");
    setConfParam(c, "PATH", "/srv/dhcp");
    c.set("VERBOSE", "TRUE");
    c.delete("RELAY_DESTINATIONS");
    assert.equal(c.toString(), "# keep me\nRUN_MODE=server\nPATH=/srv/dhcp\nVERBOSE=TRUE\n");
    setConfDatastore(c, { resource: "SUNWfiles", location: "/x", conver: 1, config: "" });
    assert.equal(c.get("CONVER"), "1");
    assert.equal(c.has("RESOURCE_CONFIG"), false);
    assert.throws(() => c.set("BAD KEY", "x"), invalid(/malformed dhcpsvc\.conf key/));
    assert.throws(() => c.set("PATH", "a\nRESOURCE=evil"), invalid(/line break/));
  });

  it("reads as confopt.c: lines without = ignored, # in column 1 only, first key wins, any case", () => {
    const text = "RESOURCE=SUNWfiles\ngarbage line\n  # not a comment=kept as a key\n" +
      "path=/first\nPATH=/second\nCONVER=1\nPA TH=odd key\n";
    const c = DhcpsvcConf.parse(text, "/etc/inet/dhcpsvc.conf");
    assert.equal(c.get("PATH"), "/first", "the first occurrence wins, whatever its case");
    assert.equal(c.get("Resource"), "SUNWfiles");
    assert.equal(c.get("  # not a comment"), "kept as a key");
    assert.equal(c.get("PA TH"), "odd key");
    assert.deepEqual(c.entries().map(([k]) => k), [
      "RESOURCE",
      "  # not a comment",
      "path",
      "CONVER",
      "PA TH",
    ]);
    assert.equal(datastoreFromConf(c).location, "/first");
    // steward's own write keeps every other line, in order.
    c.set("PATH", "/new");
    c.set("VERBOSE", "TRUE");
    assert.equal(
      c.toString(),
      "RESOURCE=SUNWfiles\ngarbage line\n  # not a comment=kept as a key\n" +
        "path=/new\nPATH=/second\nCONVER=1\nPA TH=odd key\nVERBOSE=TRUE\n",
    );
    // Deleting a key deletes its later duplicates too, so that they do not take its place.
    assert.ok(c.delete("path"));
    assert.equal(c.get("PATH"), undefined);
  });

  it("limits give an error naming the line", () => {
    assert.throws(
      () => DhcpsvcConf.parse(`X=${"a".repeat(5000)}\n`, "/etc/inet/dhcpsvc.conf"),
      invalid(/\/etc\/inet\/dhcpsvc\.conf line 1: line longer than 4096/),
    );
    assert.throws(() => DhcpsvcConf.parse("X=\0\n"), invalid(/NUL/));
  });

  it("missing RESOURCE, PATH or CONVER are the upstream codes", () => {
    const code = (text: string) => {
      try {
        datastoreFromConf(DhcpsvcConf.parse(text));
      } catch (e) {
        return (e as DsvcError).code;
      }
      return 0;
    };
    assert.equal(code("RESOURCE=SUNWfiles\nPATH=/x\n"), DSVC.BAD_CONVER);
    assert.equal(code("RESOURCE=SUNWfiles\nPATH=/x\nCONVER=one\n"), DSVC.BAD_CONVER);
    assert.equal(code("PATH=/x\nCONVER=1\n"), DSVC.BAD_RESOURCE);
    assert.equal(code("RESOURCE=../../x\nPATH=/x\nCONVER=1\n"), DSVC.BAD_RESOURCE);
    assert.equal(code("RESOURCE=SUNWfiles\nCONVER=1\n"), DSVC.BAD_PATH);
  });

  it("is rewritten atomically and a bad file is left untouched", async () => {
    const file = path.join(tmp.path, "dhcpsvc.conf");
    fs.writeFileSync(file, UPSTREAM);
    const c = await readDhcpsvcConf(file);
    c.set("VERBOSE", "TRUE");
    await writeDhcpsvcConf(file, c);
    assert.equal(fs.readFileSync(file, "utf8"), `${UPSTREAM}VERBOSE=TRUE\n`);
    assert.deepEqual(fs.readdirSync(tmp.path), ["dhcpsvc.conf"]);
    const bad = path.join(tmp.path, "bad.conf");
    fs.writeFileSync(bad, `RESOURCE=SUNWfiles\nX=${"a".repeat(5000)}\n`);
    await assert.rejects(readDhcpsvcConf(bad), invalid(/bad\.conf line 2/));
    fs.writeFileSync(bad, Buffer.from([0x50, 0x3d, 0xff, 0xfe, 0x0a]));
    await assert.rejects(readDhcpsvcConf(bad), invalid(/not valid UTF-8/));
  });

  it("opens the store it names", async () => {
    const file = path.join(tmp.path, "store.conf");
    const loc = path.join(tmp.path, "loc");
    fs.writeFileSync(file, `RESOURCE=SUNWfiles\nPATH=${loc}\nCONVER=1\n`);
    await using s = await openConfiguredStore({ confFile: file, synchronizer: null });
    assert.deepEqual(s.datastore, { resource: "SUNWfiles", location: loc, conver: 1 });
    await rejectsWith(
      openConfiguredStore({ confFile: path.join(tmp.path, "missing.conf") }),
      DSVC.BAD_RESOURCE,
    );
  });
});
