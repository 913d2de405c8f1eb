import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cidFromHex,
  cidToHex,
  classfulNetmask,
  ipToString,
  makeDnRec,
  makeDtRec,
  newSignature,
  nextSignature,
  parseIp,
  parseNetmask,
  parseSignature,
  signatureCounter,
  signatureGeneration,
} from "../../lib/dhcp/records.ts";
import {
  containerFileName,
  containerLockName,
  networkOfFileName,
  parseNetworkName,
} from "../../lib/dhcp/naming.ts";
import {
  DN_QALL,
  DN_QCID,
  DN_QCIP,
  DN_QMACRO,
  DSVC,
  DSVC_MESSAGES,
  dsvcCodeName,
  dsvcErrmsg,
  DsvcError,
  DT_QALL,
  qeq,
  qinit,
  qiseq,
  qisneq,
  qneq,
  queryIsValid,
} from "../../lib/dhcp/spi.ts";
import { matchDnRec } from "../../lib/dhcp/match.ts";

describe("DSVC codes", () => {
  it("carry the upstream numbers and messages", () => {
    assert.equal(DSVC.SUCCESS, 0);
    assert.equal(DSVC.COLLISION, 9);
    assert.equal(DSVC.NO_LOCKMGR, 21);
    assert.equal(DSVC.TABLE_EXISTS, 25);
    assert.equal(DSVC_MESSAGES.length, 26);
    assert.equal(dsvcErrmsg(DSVC.NO_TABLE), "Table does not exist");
    assert.equal(
      dsvcErrmsg(DSVC.UNAVAILABLE),
      "Underlying service required by public module is unavailable",
    );
    assert.equal(dsvcErrmsg(26), "<unknown error>");
    assert.equal(dsvcCodeName(5), "DSVC_BUSY");
  });

  it("DsvcError puts the detail after a colon and keeps the code", () => {
    const e = new DsvcError(DSVC.BUSY, "SUNWfiles1_10.0.0.0 is locked");
    assert.equal(e.message, "Busy: SUNWfiles1_10.0.0.0 is locked");
    assert.equal(e.code, 5);
    assert.equal(e.codeName, "DSVC_BUSY");
    assert.equal(new DsvcError(DSVC.INVAL).message, "Invalid arguments");
    assert.ok(e instanceof Error);
  });
});

describe("query words", () => {
  it("QEQ sets both halves, QNEQ only the low one, as the upstream macros", () => {
    let q = qinit();
    assert.equal(q, 0);
    q = qeq(q, DN_QCIP);
    assert.equal(q, 0x00020002);
    q = qneq(q, DN_QMACRO);
    assert.equal(q, 0x00020012);
    assert.ok(qiseq(q, DN_QCIP));
    assert.ok(qisneq(q, DN_QMACRO));
    assert.ok(!qiseq(q, DN_QCID) && !qisneq(q, DN_QCID));
    // Re-qualifying a field flips it.
    assert.ok(qisneq(qneq(qeq(0, DN_QCID), DN_QCID), DN_QCID));
  });

  it("QISEQ and QISNEQ mean any bit when asked about several fields, as the upstream macros", () => {
    // CIP tested for equality, MACRO for inequality: asked about both at once.
    const q = qneq(qeq(qinit(), DN_QCIP), DN_QMACRO);
    const both = DN_QCIP | DN_QMACRO;
    assert.ok(qiseq(q, both), "some bit of the two is selected and set in the equal half");
    assert.ok(!qisneq(q, both), "an equal-half bit is set, so not 'not equal'");
    const q2 = qneq(qneq(qinit(), DN_QCIP), DN_QMACRO);
    assert.ok(qisneq(q2, both) && !qiseq(q2, both));
    assert.ok(!qiseq(qinit(), both) && !qisneq(qinit(), both), "nothing selected");
  });

  it("bits outside the valid set in either half are invalid", () => {
    assert.ok(queryIsValid(qeq(0, DN_QALL), DN_QALL));
    assert.ok(!queryIsValid(0x0400, DN_QALL));
    assert.ok(!queryIsValid(0x04000000, DN_QALL));
    assert.ok(!queryIsValid(0x4, DT_QALL));
  });

  it("DN_QFDYNAMIC is always equal: QEQ matches everything, QNEQ nothing", () => {
    const r = makeDnRec({ cip: "10.0.0.5", flags: 3 });
    const t = makeDnRec({ cip: "10.0.0.6", flags: 0 });
    assert.ok(matchDnRec(r, qeq(0, 0x20), t));
    assert.ok(!matchDnRec(r, qneq(0, 0x20), t));
    assert.ok(!matchDnRec(r, qeq(0, 0x40), t));
    assert.ok(matchDnRec(r, qneq(0, 0x40), t));
  });
});

describe("signatures", () => {
  it("are 16-bit random generation and 48-bit counter, modified keeps the generation", () => {
    const s = newSignature();
    assert.equal(signatureCounter(s), 1n);
    const n = nextSignature(s);
    assert.equal(n, s + 1n);
    assert.equal(signatureGeneration(n), signatureGeneration(s));
    const wrap = (0xabcdn << 48n) | ((1n << 48n) - 1n);
    assert.equal(nextSignature(wrap), (0xabcdn << 48n) | 1n);
  });

  it("survive text round trips exactly, up to 2^64-1", () => {
    for (const v of [0n, 1n, 281474976710657n, 18446744073709551615n, 9007199254740993n]) {
      assert.equal(parseSignature(v.toString()), v);
    }
    assert.equal(parseSignature("18446744073709551616"), undefined);
    assert.equal(parseSignature("-1"), undefined);
    assert.equal(parseSignature("12a"), undefined);
    assert.equal(parseSignature(""), undefined);
  });
});

describe("addresses, client IDs and record makers", () => {
  it("parse strict dotted quads and netmasks", () => {
    assert.equal(parseIp("172.21.0.6"), 0xac150006);
    assert.equal(ipToString(0xac150006), "172.21.0.6");
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", ""]) {
      assert.equal(parseIp(bad), undefined);
    }
    assert.equal(parseNetmask("255.255.255.0"), 0xffffff00);
    assert.equal(parseNetmask("/22"), 0xfffffc00);
    assert.equal(parseNetmask("255.0.255.0"), undefined);
    assert.equal(classfulNetmask(parseIp("10.1.2.3") as number), 0xff000000);
    assert.equal(classfulNetmask(parseIp("172.21.0.0") as number), 0xffff0000);
    assert.equal(classfulNetmask(parseIp("192.168.1.0") as number), 0xffffff00);
  });

  it("client IDs are hex either case in, uppercase out, 1..64 bytes", () => {
    assert.equal(cidToHex(cidFromHex("01aabbccddeeff") as Uint8Array), "01AABBCCDDEEFF");
    assert.equal(cidFromHex("0"), undefined);
    assert.equal(cidFromHex("0g"), undefined);
    assert.equal(cidFromHex("00".repeat(65)), undefined);
    assert.equal(cidFromHex("00".repeat(64))?.length, 64);
  });

  it("record makers start at signature 0 and truncate like alloc_*", () => {
    const d = makeDnRec({ cip: "10.0.0.5", comment: "c".repeat(60), macro: "m".repeat(200) });
    assert.equal(d.sig, 0n);
    assert.equal(d.comment.length, 48);
    assert.equal(d.macro.length, 128);
    assert.equal(cidToHex(d.cid), "00");
    assert.throws(() => makeDnRec({ cip: "10.0.0.500" }), DsvcError);
    assert.equal(makeDtRec("k", "s", "v").sig, 0n);
  });
});

describe("container names", () => {
  it("follow upstream and keep every request inside the location", () => {
    assert.equal(containerFileName("SUNWfiles", 1, "dhcptab"), "SUNWfiles1_dhcptab");
    assert.equal(containerFileName("SUNWfiles", 1, "10.0.0.0"), "SUNWfiles1_10_0_0_0");
    assert.equal(networkOfFileName("SUNWfiles", 1, "SUNWfiles1_172_21_0_0"), "172.21.0.0");
    assert.equal(networkOfFileName("SUNWfiles", 1, "SUNWfiles0_172_21_0_0"), undefined);
    assert.equal(networkOfFileName("SUNWfiles", 1, "SUNWbinfiles1_172_21_0_0"), undefined);
    assert.equal(
      containerLockName("/var/dhcp", "SUNWfiles", 1, "10.0.0.0"),
      "/var/dhcp/SUNWfiles1_10.0.0.0",
    );
    for (
      const bad of [
        "../../etc/passwd",
        "10.0.0.0/../x",
        "10_0_0_0",
        "/etc",
        "10.0.0",
        "255.255.255.255",
      ]
    ) {
      assert.throws(
        () => parseNetworkName(bad),
        (e: unknown) => e instanceof DsvcError && e.code === DSVC.INVAL,
        bad,
      );
      assert.throws(() => containerFileName("SUNWfiles", 1, bad), DsvcError);
    }
    assert.throws(
      () => containerFileName("../x", 1, "dhcptab"),
      (e: unknown) => e instanceof DsvcError && e.code === DSVC.BAD_RESOURCE,
    );
  });
});
