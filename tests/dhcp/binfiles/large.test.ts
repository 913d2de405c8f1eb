/**
 * Networks larger than a /12 are loaded chain by chain: creating and opening a classful /8
 * (a 4.7 GB sparse container) takes moments, and damage on a chain is still found.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cidToHex, makeDnRec } from "../../../lib/dhcp/records.ts";
import {
  DN_QCID,
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../../helpers.ts";
import { rejectsWith } from "../conformance/suite.ts";

describe("SUNWbinfiles, a /8 network", () => {
  let tmp: TempDir;
  before(() => (tmp = tempDir("binbig")));
  after(() => tmp[Symbol.dispose]());

  it("creates, fills, reopens and refuses a broken chain in a /8 without reading it whole", async () => {
    const s = await openStore({
      resource: "SUNWbinfiles",
      location: tmp.path,
      config: "durability=relaxed",
    }, {
      synchronizer: null,
    });
    const t0 = performance.now();
    const dn = await s.openNetwork("10.0.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    assert.equal(dn.netmask, 0xff000000, "classful");
    const hosts = [1, 70_000, 9_000_000, 16_777_214];
    for (const h of hosts) {
      await dn.add(makeDnRec({ cip: 0x0a000000 + h, cid: `01${h.toString(16).padStart(8, "0")}` }));
    }
    const r =
      (await dn.lookup(qeq(qinit(), DN_QCID), { cid: Uint8Array.of(1, 0, 0x89, 0x54, 0x40) }))
        .records[0];
    assert.ok(r);
    await dn.modify(r, { ...r, lease: 5 });
    await dn.close();
    const again = await s.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE);
    const all = (await again.lookup(qinit(), {})).records;
    assert.deepEqual(all.map((x) => x.cip - 0x0a000000).sort((a, b) => a - b), hosts);
    assert.equal(all.find((x) => x.lease === 5)?.cip, 0x0a000000 + 9_000_000);
    assert.equal(cidToHex(all[0]?.cid as Uint8Array).length, 10);
    await again.close();
    assert.ok(performance.now() - t0 < 20_000, "no whole-file reads");
    // Break a chain: the record of host 70000 points back to a record that does not exist.
    const file = path.join(tmp.path, "SUNWbinfiles1_10_0_0_0");
    const fd = fs.openSync(file, "r+");
    const at = 32768 + 280 * 70_000;
    const b = Buffer.alloc(16);
    fs.readSync(fd, b, 0, 16, at);
    b.writeUInt32BE(12345, 8);
    b.writeUInt32BE(12345, 12);
    fs.writeSync(fd, b, 0, 16, at);
    fs.closeSync(fd);
    // The open reads without the lock, so it leaves what looks damaged to the first call, which
    // loads the container again under the lock and refuses it.
    const broken = await s.openNetwork("10.0.0.0", DSVC_READ);
    const e = await rejectsWith(broken.lookup(qinit(), {}, { count: 1 }), DSVC.INTERNAL);
    assert.match(e.message, /damaged: record 70001 points back to 12345/);
    await s.close();
  });
});
