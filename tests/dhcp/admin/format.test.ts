import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_EXIT,
  AdminError,
  flagKeywords,
  formatDhcptab,
  formatFlags,
  formatLease,
  formatNetworkTable,
  parseFlags,
  parseLeaseDate,
} from "../../../lib/dhcp/admin/format.ts";
import { makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { DHCP_PERM } from "../../../lib/dhcp/spi.ts";

// Dates are printed in local time, as the Java tools did: pin the zone for these tests.
process.env.TZ = "UTC";

const HEADER =
  "Client ID\tFlags\tClient IP\tServer IP\tLease Expiration         \tMacro   \tComment\n\n";
const MAR_15_2001 = Date.UTC(2001, 2, 15) / 1000;

describe("pntadm -P output", () => {
  test("matches the upstream example row byte for byte", () => {
    const rec = makeDnRec({
      cid: "01AABBCCDDEEFF",
      flags: 1,
      cip: "10.0.0.5",
      sip: "10.0.0.1",
      lease: MAR_15_2001,
      macro: "UNKNOWN",
      comment: "Modified",
    });
    assert.equal(
      formatNetworkTable([rec], { style: "short" }),
      HEADER +
        "01AABBCCDDEEFF\t01  \t10.0.0.5\t10.0.0.1\t03/15/2001               \tUNKNOWN \tModified\n",
    );
  });

  test("an empty table prints the header and a blank line only", () => {
    assert.equal(formatNetworkTable([], { style: "short" }), HEADER);
  });

  test("zero and permanent leases, short fields padded, rows in the order given", () => {
    const free = makeDnRec({ cip: "172.21.0.6", sip: "172.21.0.1", macro: "atlantic" });
    const perm = makeDnRec({
      cid: "010800207E8A02",
      flags: 3,
      cip: "172.21.0.7",
      sip: "172.21.0.1",
      lease: DHCP_PERM,
      macro: "m",
      comment: "",
    });
    assert.equal(
      formatNetworkTable([perm, free], { style: "short" }),
      HEADER +
        "010800207E8A02\t03  \t172.21.0.7\t172.21.0.1\t Forever                 \tm       \t\n" +
        "00      \t00  \t172.21.0.6\t172.21.0.1\tZero                     \tatlantic\t\n",
    );
  });

  test("-x prints raw seconds and -1 for a permanent lease", () => {
    const a = makeDnRec({ cip: "10.0.0.9", sip: "10.0.0.1", lease: MAR_15_2001 });
    const b = makeDnRec({ cip: "10.0.0.8", sip: "10.0.0.1", lease: DHCP_PERM, flags: 1 });
    assert.equal(
      formatNetworkTable([a, b], { style: "raw" }),
      HEADER +
        `00      \t00  \t10.0.0.9\t10.0.0.1\t${String(MAR_15_2001).padEnd(25)}\t        \t\n` +
        `00      \t01  \t10.0.0.8\t10.0.0.1\t${"-1".padEnd(25)}\t        \t\n`,
    );
  });

  test("-v prints flag letters, host names and the long date form", () => {
    const a = makeDnRec({
      cip: "10.0.0.9",
      sip: "10.0.0.1",
      lease: MAR_15_2001 + 3661,
      flags: 0x0b,
    });
    const out = formatNetworkTable([a], {
      style: "verbose",
      hostName: (ip) => (ip === 0x0a000001 ? "server1" : undefined),
    });
    assert.equal(
      out,
      HEADER +
        `00      \tPMB \t10.0.0.9\tserver1 \t${"3/15/01 1:01:01 AM UTC".padEnd(25)}\t        \t\n`,
    );
  });
});

describe("dhtadm -P output", () => {
  test("an empty dhcptab prints exactly two lines", () => {
    const out = formatDhcptab([]);
    assert.equal(out, `Name                \tType    \tValue\n${"=".repeat(50)}\n`);
    assert.equal(out.split("\n").length - 1, 2);
  });

  test("macros come first, then symbols, each in lookup order", () => {
    const out = formatDhcptab([
      makeDtRec("MystatRt", "s", "Site,130,IP,2,0"),
      makeDtRec("Locale", "m", ":UTCoffst=-18000:"),
      makeDtRec("a-very-long-macro-name-here", "m", ":LeaseNeg:"),
    ]);
    assert.equal(
      out,
      `Name                \tType    \tValue\n${"=".repeat(50)}\n` +
        "Locale              \tMacro   \t:UTCoffst=-18000:\n" +
        "a-very-long-macro-name-here\tMacro   \t:LeaseNeg:\n" +
        "MystatRt            \tSymbol  \tSite,130,IP,2,0\n",
    );
  });
});

describe("flags and lease input", () => {
  test("flag keywords are case-insensitive and joined with +", () => {
    assert.equal(parseFlags("PERMANENT+MANUAL"), 3);
    assert.equal(parseFlags("bootp+unusable"), 12);
    assert.equal(parseFlags("DYNAMIC"), 0);
    assert.equal(parseFlags("05"), 5);
    assert.equal(formatFlags(5), "05");
    assert.equal(formatFlags(12), "12");
    assert.equal(formatFlags(0, true), "D");
    assert.equal(flagKeywords(3), "PERMANENT+MANUAL");
  });

  test("bad flags are refused with a warning exit code", () => {
    for (const bad of ["PERM", "16", "1x", "+"]) {
      assert.throws(() => parseFlags(bad), (e: unknown) => {
        assert.ok(e instanceof AdminError);
        assert.equal(e.exitCode, ADMIN_EXIT.WARNING);
        return true;
      }, bad);
    }
  });

  test("lease dates: mm/dd/yyyy at local midnight, 0 and -1", () => {
    assert.equal(parseLeaseDate("03/15/2001"), MAR_15_2001);
    assert.equal(parseLeaseDate("3/15/2001"), MAR_15_2001);
    assert.equal(parseLeaseDate("0"), 0);
    assert.equal(parseLeaseDate("-1"), DHCP_PERM);
    assert.equal(formatLease(parseLeaseDate("12/31/2030"), "short"), "12/31/2030");
    // Lenient as upstream's SimpleDateFormat: months and days roll over, trailing text ignored.
    const local = (y: number, m: number, d: number) => new Date(y, m - 1, d).getTime() / 1000;
    assert.equal(parseLeaseDate("13/45/2001"), local(2002, 2, 14));
    assert.equal(parseLeaseDate("02/30/2001"), local(2001, 3, 2));
    assert.equal(parseLeaseDate("00/01/2001"), local(2000, 12, 1));
    assert.equal(parseLeaseDate("03/15/2001 12:00"), MAR_15_2001);
    // Year 1 AD (yyyy read literally) is before the epoch: no lease can say that.
    for (const bad of ["2001-03-15", "3/15/01", "tomorrow", "/1/2001"]) {
      assert.throws(() => parseLeaseDate(bad), /Invalid lease expiration/, bad);
    }
  });
});
