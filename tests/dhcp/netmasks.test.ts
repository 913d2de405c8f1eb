/** One netmask rule for the library and the commands: netmasks database, else classful. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  describeNetmask,
  dropNetmask,
  findNetmask,
  netmasksFiles,
  ownNetmasksFile,
  recordNetmask,
} from "../../lib/dhcp/netmasks.ts";
import { makeDnRec, parseIp } from "../../lib/dhcp/records.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE } from "../../lib/dhcp/spi.ts";
import { openConfiguredStore, openStore } from "../../lib/dhcp/store.ts";
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
    // Every file is a layer: a file without an entry passes on to the next.
    assert.deepEqual(findNetmask(ip("192.168.0.0"), files), {
      mask: ip("255.255.255.128"),
      source: etc,
    });
    // The network's own entry in a later file beats a classful network's entry in an earlier one.
    fs.writeFileSync(etc, "10.9.8.0 255.255.255.128\n");
    assert.deepEqual(findNetmask(ip("10.9.8.0"), files), {
      mask: ip("255.255.255.128"),
      source: etc,
    });
    // As upstream's getnetmaskbyaddr: an address finds its subnet's entry (longest prefix whose
    // entry has exactly that mask); outside every subnet and classful entry, the classful mask.
    assert.deepEqual(findNetmask(ip("10.9.8.77"), files), {
      mask: ip("255.255.255.128"),
      source: etc,
    });
    assert.deepEqual(findNetmask(ip("172.16.7.9"), files), {
      mask: ip("255.255.252.0"),
      source: inet,
    });
    assert.deepEqual(findNetmask(ip("172.16.8.9"), files), {
      mask: ip("255.255.0.0"),
      source: "classful",
    });
    fs.writeFileSync(etc, "192.168.0.0 255.255.255.128\n");
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

  it("a store opened from a dhcpsvc.conf reads the netmasks file beside it, and names it in refusals", async () => {
    using dir = tempDir("dhcp-netmasks");
    const conf = path.join(dir.path, "dhcpsvc.conf");
    fs.mkdirSync(path.join(dir.path, "store"));
    fs.writeFileSync(conf, `RESOURCE=SUNWfiles\nPATH=${path.join(dir.path, "store")}\nCONVER=1\n`);
    fs.writeFileSync(`${conf}.netmasks`, "10.20.30.0\t255.255.255.0\n");
    await using s = await openConfiguredStore({ confFile: conf, synchronizer: null });
    await using net = await s.openNetwork("10.20.30.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    assert.equal(net.netmask, parseIp("255.255.255.0"));
    await net.add(makeDnRec({ cip: "10.20.30.5" }));
    const e = await rejectsWith(net.add(makeDnRec({ cip: "10.20.31.5" })), DSVC.INVAL);
    assert.ok(
      e.message.includes(
        `10.20.31.5 is not in network 10.20.30.0 under netmask 255.255.255.0 (from ${conf}.netmasks)`,
      ),
      e.message,
    );
  });

  it("steward's own file is beside the dhcpsvc.conf in use unless $STEWARD_NETMASKS names one", () => {
    assert.equal(ownNetmasksFile({}), "/etc/inet/dhcpsvc.conf.netmasks");
    assert.equal(ownNetmasksFile({ STEWARD_DHCPSVC_CONF: "/srv/d.conf" }), "/srv/d.conf.netmasks");
    assert.equal(ownNetmasksFile({}, "/srv/x/dhcpsvc.conf"), "/srv/x/dhcpsvc.conf.netmasks");
    assert.equal(
      ownNetmasksFile({ STEWARD_NETMASKS: "/srv/m", STEWARD_DHCPSVC_CONF: "/srv/d.conf" }),
      "/srv/m",
    );
    assert.deepEqual(netmasksFiles({ STEWARD_NETMASKS: "/srv/m" }), [
      "/srv/m",
      "/etc/inet/netmasks",
      "/etc/netmasks",
    ]);
  });

  it("records and drops a network's line atomically, keeping the other lines and comments", async () => {
    using dir = tempDir("dhcp-netmasks");
    const file = path.join(dir.path, "own");
    const ip = (s: string) => parseIp(s) as number;
    // A new file gets a header comment; the line is found afterwards.
    assert.equal(await recordNetmask(file, ip("10.20.30.0"), ip("255.255.255.0")), true);
    assert.match(fs.readFileSync(file, "utf8"), /^# .*\n# .*\n10\.20\.30\.0\t255\.255\.255\.0\n$/);
    assert.deepEqual(findNetmask(ip("10.20.30.0"), [file]), {
      mask: ip("255.255.255.0"),
      source: file,
    });
    // Other lines, comments and a last line without newline are kept byte for byte.
    const hand = "# mine\n172.16.0.0  255.255.0.0   # lab\n\n10.1.0.0 255.255.0.0";
    fs.writeFileSync(file, hand);
    assert.equal(await recordNetmask(file, ip("10.20.30.0"), ip("255.255.255.0")), true);
    assert.equal(fs.readFileSync(file, "utf8"), `${hand}\n10.20.30.0\t255.255.255.0\n`);
    // The same mask again changes nothing; another mask is refused.
    assert.equal(await recordNetmask(file, ip("10.20.30.0"), ip("255.255.255.0")), false);
    await assert.rejects(
      recordNetmask(file, ip("10.20.30.0"), ip("255.255.255.128")),
      /already gives network 10\.20\.30\.0 the netmask 255\.255\.255\.0/,
    );
    assert.equal(await dropNetmask(file, ip("10.20.30.0")), ip("255.255.255.0"));
    assert.equal(fs.readFileSync(file, "utf8"), `${hand}\n`);
    assert.equal(await dropNetmask(file, ip("10.20.30.0")), undefined);
    assert.deepEqual(fs.readdirSync(dir.path), ["own"], "no temporary or lock file is left");
    // A file steward made and that records nothing any more is removed.
    const made = path.join(dir.path, "made");
    await recordNetmask(made, ip("10.0.0.0"), ip("255.255.0.0"));
    await dropNetmask(made, ip("10.0.0.0"));
    assert.ok(!fs.existsSync(made));
  });

  it("waits for another process's update and takes over a lock whose process is gone", async () => {
    using dir = tempDir("dhcp-netmasks");
    const file = path.join(dir.path, "own");
    const ip = (s: string) => parseIp(s) as number;
    // A lock of a process that no longer exists (pid 2^22 + 1 is above Linux's pid_max default).
    fs.writeFileSync(`${file}.lock`, "4194305\n");
    assert.equal(await recordNetmask(file, ip("10.20.30.0"), ip("255.255.255.0")), true);
    assert.ok(!fs.existsSync(`${file}.lock`));
    // Concurrent records of different networks lose no line.
    await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) => recordNetmask(file, ip(`10.0.${i}.0`), ip("255.255.255.0")),
      ),
    );
    for (let i = 0; i < 8; i++) {
      assert.equal(findNetmask(ip(`10.0.${i}.0`), [file]).source, file, `10.0.${i}.0 is recorded`);
    }
  });
});
