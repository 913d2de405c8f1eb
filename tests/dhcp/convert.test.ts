import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { convertStore } from "../../lib/dhcp/convert.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { cidToHex, ipToString } from "../../lib/dhcp/records.ts";
import { type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";

const V0_DHCPTAB =
  "Locale\tm\t:UTCoffst=-18000:\nSterm\ts\tVendor=SUNW.Ultra-1 SUNW.i86pc,15,ASCII,1,0\n";
const V0_NET = "01080020ABCDEF 01 172.21.0.7 172.21.0.1 4294967295 atlantic #printer\n" +
  "00 00 172.21.0.6 172.21.0.1 0 atlantic\n";

describe("converting a datastore", () => {
  let tmp: TempDir;
  let n = 0;
  before(() => (tmp = tempDir("dhcp-convert")));
  after(() => tmp[Symbol.dispose]());

  function legacy(): string {
    const loc = path.join(tmp.path, `loc${++n}`);
    fs.mkdirSync(loc);
    fs.writeFileSync(path.join(loc, "dhcptab"), V0_DHCPTAB);
    fs.writeFileSync(path.join(loc, "172_21_0_0"), V0_NET);
    return loc;
  }

  it("moves SUNWfiles version 0 containers to version 1 in place, keeping their order", async () => {
    const loc = legacy();
    await using v0 = await openStore({ resource: "SUNWfiles", location: loc, conver: 0 }, {
      synchronizer: null,
    });
    await using v1 = await openStore({ resource: "SUNWfiles", location: loc, conver: 1 }, {
      synchronizer: null,
    });
    const r = await convertStore(v0, v1);
    assert.deepEqual(r, {
      containers: [{ name: "dhcptab", records: 2 }, { name: "172.21.0.0", records: 2 }],
      removed: true,
    });
    assert.deepEqual(fs.readdirSync(loc).sort(), ["SUNWfiles1_172_21_0_0", "SUNWfiles1_dhcptab"]);
    const dt = await v1.openDhcptab(DSVC_READ);
    assert.deepEqual((await dt.lookup(qinit(), {})).records.map((x) => x.key), ["Sterm", "Locale"]);
    const net = await v1.openNetwork("172.21.0.0", DSVC_READ);
    const recs = (await net.lookup(qinit(), {})).records.reverse();
    assert.deepEqual(recs.map((x) => ipToString(x.cip)), ["172.21.0.7", "172.21.0.6"]);
    assert.equal(cidToHex(recs[0]?.cid as Uint8Array), "01080020ABCDEF");
    assert.equal(recs[0]?.comment, "printer");
    assert.ok(recs.every((x) => x.sig > 1n), "fresh signatures");
    const text = fs.readFileSync(path.join(loc, "SUNWfiles1_172_21_0_0"), "utf8");
    assert.match(
      text,
      /^# SUNWfiles1_172_21_0_0\n(#.*\n){3}172\.21\.0\.7\|01080020ABCDEF\|01\|172\.21\.0\.1\|4294967295\|\d+\|atlantic\|printer\n172\.21\.0\.6\|00\|00\|/,
    );
  });

  it("keeps the source with keep, and refuses a destination that already has the containers", async () => {
    const loc = legacy();
    await using v0 = await openStore({ resource: "SUNWfiles", location: loc, conver: 0 }, {
      synchronizer: null,
    });
    await using v1 = await openStore({ resource: "SUNWfiles", location: loc, conver: 1 }, {
      synchronizer: null,
    });
    await (await v1.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE)).close();
    await rejectsWith(convertStore(v0, v1), DSVC.TABLE_EXISTS);
    assert.equal(fs.readFileSync(path.join(loc, "dhcptab"), "utf8"), V0_DHCPTAB);
    await v1.removeDhcptab();
    const r = await convertStore(v0, v1, { keep: true });
    assert.equal(r.removed, false);
    assert.equal(fs.readFileSync(path.join(loc, "172_21_0_0"), "utf8"), V0_NET);
    await rejectsWith(convertStore(v1, v1), DSVC.INVAL);
  });
});
