/** One netmask rule for the library and the commands: netmasks database, else classful. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describeNetmask, findNetmask } from "../../lib/dhcp/netmasks.ts";
import { makeDnRec, parseIp } from "../../lib/dhcp/records.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE } from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";

describe("netmasks", () => {
  it("the netmasks database gives the mask of a network or of its classful network, else classful", () => {
    using dir = tempDir("dhcp-netmasks");
    const inet = path.join(dir.path, "inet-netmasks");
    const etc = path.join(dir.path, "netmasks");
    fs.writeFileSync(inet, "# subnets\n10.0.0.0\t255.255.255.0\n172.16.4.0 255.255.252.0 # lab\n");
    fs.writeFileSync(etc, "192.168.0.0 255.255.255.128\n");
    const files = [inet, etc];
    const ip = (s: string) => parseIp(s) as number;
    assert.deepEqual(findNetmask(ip("172.16.4.0"), files), {
      mask: ip("255.255.252.0"),
      source: inet,
    });
    assert.deepEqual(findNetmask(ip("10.9.8.0"), files), {
      mask: ip("255.255.255.0"),
      source: inet,
    });
    // Only the first database found counts, as upstream's lookup order.
    assert.deepEqual(findNetmask(ip("192.168.0.0"), files), {
      mask: ip("255.255.255.0"),
      source: "classful",
    });
    assert.deepEqual(findNetmask(ip("192.168.0.0"), [path.join(dir.path, "none"), etc]), {
      mask: ip("255.255.255.128"),
      source: etc,
    });
    assert.equal(
      describeNetmask(findNetmask(ip("172.21.0.0"), [])),
      "255.255.0.0 (the classful mask)",
    );
  });

  it("the library refuses an address outside the network's mask, naming the mask and its source", async () => {
    using dir = tempDir("dhcp-netmasks");
    await using s = await openStore({ resource: "SUNWfiles", location: dir.path }, {
      synchronizer: null,
    });
    const net = await s.openNetwork("172.21.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    const e = await rejectsWith(net.add(makeDnRec({ cip: "172.22.0.5" })), DSVC.INVAL);
    assert.match(
      e.message,
      /172\.22\.0\.5 is not in network 172\.21\.0\.0 under netmask 255\.255\.0\.0 \(the classful mask\)/,
    );
    const e2 = await rejectsWith(s.openNetwork("10.20.30.0", DSVC_READ), DSVC.INVAL);
    assert.match(e2.message, /host bits set under netmask 255\.0\.0\.0 \(the classful mask\)/);
    const n24 = await s.openNetwork("10.20.30.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
      netmask: 24,
    });
    const e3 = await rejectsWith(n24.add(makeDnRec({ cip: "10.20.31.5" })), DSVC.INVAL);
    assert.match(e3.message, /under netmask 255\.255\.255\.0 \(as given\)/);
  });
});
