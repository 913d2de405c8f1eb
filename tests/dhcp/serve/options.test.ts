import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { makeDtRec } from "../../../lib/dhcp/records.ts";
import {
  clientOptions,
  encodeOptionValue,
  OptionTable,
  OptionValueError,
  vendorOptionBytes,
} from "../../../lib/dhcp/serve/options.ts";

const table = (recs: [string, "m" | "s", string][]) =>
  new OptionTable(recs.map(([k, t, v]) => makeDtRec(k, t, v)));

describe("options from the dhcptab", () => {
  it("clientOptions applies network, record and client macros in order, later winning", () => {
    const t = table([
      ["Locale", "m", ":UTCoffst=-18000:"],
      ["10.0.0.0", "m", ':Include=Locale:Router=10.0.0.1:LeaseTim=3600:DNSdmain="net.test":'],
      ["srv", "m", ":LeaseTim=600:LeaseNeg:"],
      ["01020000000007", "m", ':DNSdmain="client.test":'],
    ]);
    const o = clientOptions(t, [undefined, "10.0.0.0", "srv", "01020000000007"], undefined);
    assert.deepEqual([...o.options.get(3)!], [10, 0, 0, 1]);
    assert.deepEqual([...o.options.get(51)!], [0, 0, 2, 88]);
    assert.equal(new TextDecoder().decode(o.options.get(15)), "client.test");
    // UTCoffst is SNUMBER32: -18000 in two's complement
    assert.deepEqual([...o.options.get(2)!], [0xff, 0xff, 0xb9, 0xb0]);
    assert.equal(o.leaseNeg, true);
    assert.deepEqual(o.applied, ["10.0.0.0", "srv", "01020000000007"]);
  });

  it("clientOptions keeps vendor options of the client's class only and encodes them in option 43", () => {
    const t = table([
      ["SrootIP4", "s", "Vendor=SUNW.Ultra-1 SUNW.i86pc,2,IP,1,1"],
      ["SrootNM", "s", "Vendor=SUNW.i86pc,3,ASCII,1,0"],
      ["net", "m", ':SrootIP4=10.0.0.9:SrootNM="boot":'],
    ]);
    const sun = clientOptions(t, ["net"], "SUNW.Ultra-1");
    assert.deepEqual([...vendorOptionBytes(sun.vendor)], [2, 4, 10, 0, 0, 9]);
    const pc = clientOptions(t, ["net"], "SUNW.i86pc");
    assert.deepEqual([...vendorOptionBytes(pc.vendor)], [
      2,
      4,
      10,
      0,
      0,
      9,
      3,
      4,
      98,
      111,
      111,
      116,
    ]);
    assert.equal(clientOptions(t, ["net"], undefined).vendor.size, 0);
  });

  it("encodeOptionValue follows type, granularity and maximum of the symbol", () => {
    const t = table([["Pairs", "s", "Site,132,IP,2,1"], ["N16", "s", "Site,133,NUMBER,2,0"]]);
    const pairs = t.symbol("Pairs")!;
    assert.deepEqual([...encodeOptionValue(pairs, "1.2.3.4 5.6.7.8")], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.throws(() => encodeOptionValue(pairs, "1.2.3.4"), OptionValueError);
    assert.throws(
      () => encodeOptionValue(pairs, "1.2.3.4 5.6.7.8 1.1.1.1 2.2.2.2"),
      OptionValueError,
    );
    assert.deepEqual([...encodeOptionValue(t.symbol("N16")!, "1 0x102")], [0, 1, 1, 2]);
    assert.deepEqual([...encodeOptionValue(t.symbol("MTU")!, "1500")], [5, 220]);
    assert.throws(() => encodeOptionValue(t.symbol("MTU")!, "70000"), OptionValueError);
    assert.deepEqual([...encodeOptionValue(t.symbol("LeaseNeg")!, null)], []);
  });

  it("OptionTable reports bad values and Include loops and still serves the rest", () => {
    const t = table([
      ["a", "m", ":Include=b:Router=10.0.0.1:"],
      ["b", "m", ":Include=a:MTU=99999:DNSserv=10.0.0.2:"],
      ["bad", "s", "Site,300,IP,1,1"],
    ]);
    const o = clientOptions(t, ["a"], undefined);
    assert.deepEqual([...o.options.get(3)!], [10, 0, 0, 1]);
    assert.deepEqual([...o.options.get(6)!], [10, 0, 0, 2]);
    assert.equal(o.options.has(26), false);
    assert.ok(t.problems.some((p) => p.includes("Include loop")));
    assert.ok(t.problems.some((p) => p.includes("MTU")));
    assert.ok(t.problems.some((p) => p.startsWith("symbol bad")));
  });

  it("clientOptions reads BootFile, BootSrvA and EchoVC from the macros", () => {
    const t = table([["net", "m", ':BootFile="pxelinux.0":BootSrvA=10.0.0.5:EchoVC:']]);
    const o = clientOptions(t, ["net"], undefined);
    assert.equal(new TextDecoder().decode(o.file), "pxelinux.0");
    assert.equal(o.siaddr, 0x0a000005);
    assert.equal(o.echoVendorClass, true);
  });
});
