/** The C library readers upstream's SUNWfiles modules use on container lines. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  atoi32,
  atoll64,
  cutBytes,
  hexToOctets,
  INADDR_NONE,
  inetAddr,
} from "../../lib/dhcp/modules/files/lenient.ts";

describe("lenient readers", () => {
  it("inet_addr reads the short, octal and hex forms and gives INADDR_NONE for garbage", () => {
    assert.equal(inetAddr("172.21.0.5"), 0xac150005);
    assert.equal(inetAddr("10.1"), 0x0a000001, "a.b: b fills three bytes");
    assert.equal(inetAddr("10.1.2"), 0x0a010002, "a.b.c: c fills two bytes");
    assert.equal(inetAddr("167772161"), 0x0a000001, "one 32-bit number");
    assert.equal(inetAddr("0x0a.010.0.1"), 0x0a080001, "hex and octal parts");
    assert.equal(inetAddr("10.0.0.1 trailing"), 0x0a000001, "text after a blank is ignored");
    for (
      const bad of ["", "garbage", "10.0.0.256", "1.2.3.4.5", "08.0.0.1", "10..0.1", "10.0.0.1x"]
    ) {
      assert.equal(inetAddr(bad), INADDR_NONE, bad);
    }
  });

  it("atoi and atoll read leading digits, wrap, and give 0 for garbage", () => {
    assert.equal(atoi32("  42abc"), 42);
    assert.equal(atoi32("-1"), 0xffffffff);
    assert.equal(atoi32("4294967296"), 0);
    assert.equal(atoi32("0x10"), 0);
    assert.equal(atoi32("x"), 0);
    assert.equal(atoll64("18446744073709551617"), 1n);
    assert.equal(atoll64("12z"), 12n);
    assert.equal(atoll64(""), 0n);
  });

  it("client IDs are even-length hex of either case, empty allowed, at most 64 bytes", () => {
    assert.deepEqual(hexToOctets("0aFf"), new Uint8Array([10, 255]));
    assert.deepEqual(hexToOctets(""), new Uint8Array([]));
    assert.equal(hexToOctets("ABC"), undefined);
    assert.equal(hexToOctets("zz"), undefined);
    assert.equal(hexToOctets("00".repeat(65)), undefined);
  });

  it("fixed fields are cut to their size in bytes without splitting a character", () => {
    assert.equal(cutBytes("x".repeat(50), 48), "x".repeat(48));
    assert.equal(cutBytes("é".repeat(30), 48), "é".repeat(24));
    assert.equal(cutBytes(`${"x".repeat(47)}é`, 48), "x".repeat(47));
    assert.equal(cutBytes("short", 48), "short");
  });
});
