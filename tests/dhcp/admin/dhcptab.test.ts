import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../../helpers.ts";
import { INITTAB_TEXT } from "../../../lib/dhcp/dhcptab/inittab-data.ts";
import { parseInittab, standardInittab } from "../../../lib/dhcp/dhcptab/inittab.ts";
import { formatMacroValue, parseMacroValue } from "../../../lib/dhcp/dhcptab/macro.ts";
import {
  checkSymbolAgainstInittab,
  DhcptabSyntaxError,
  formatSymbolDefinition,
  parseSymbolDefinition,
} from "../../../lib/dhcp/dhcptab/symbol.ts";
import { editMacro, SymbolTable, validateMacro } from "../../../lib/dhcp/dhcptab/validate.ts";

import { createHash } from "node:crypto";

// SHA-256 of upstream usr/src/cmd/cmd-inet/etc/dhcp/inittab (the copy in the shared specs).
const INITTAB_SHA256 = "799da759cdd2512f763b265209cb88a76baf2ea507c2666cefcc22ca0ee1d27a";
// The record listing of upstream's public-module test specification.
const TSPEC = path.join(ROOT, "tests", "dhcp", "admin", "fixtures", "tspec-dhcptab-records.txt");

/** The upstream test data set, continuation lines joined. */
function tspecRecords(): { name: string; type: string; value: string }[] {
  const text = fs.readFileSync(TSPEC, "utf8").replace(/\\\n/g, "");
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").map((l) => {
    const m = /^(\S+)\s+([ms])\s+(.*)$/.exec(l);
    assert.ok(m, l);
    return { name: m[1] ?? "", type: m[2] ?? "", value: m[3] ?? "" };
  });
}

function vendorTable(): SymbolTable {
  return SymbolTable.withDhcptab(tspecRecords().filter((r) => r.type === "s"));
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DhcptabSyntaxError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe("the embedded inittab", () => {
  test("is byte for byte the standard table, licence header included", () => {
    assert.equal(createHash("sha256").update(INITTAB_TEXT).digest("hex"), INITTAB_SHA256);
    assert.match(INITTAB_TEXT, /CDDL HEADER START[\s\S]*CDDL HEADER END/);
  });

  test("parses into the standard, field, internal and vendor entries", () => {
    const all = standardInittab();
    const subnet = all.find((e) => e.name === "Subnet");
    assert.deepEqual(subnet, {
      name: "Subnet",
      category: "STANDARD",
      code: 1,
      type: "IP",
      granularity: 1,
      maximum: 1,
      visibility: "sdmi",
    });
    assert.equal(all.find((e) => e.name === "LeaseNeg")?.type, "BOOLEAN");
    assert.equal(all.filter((e) => e.category === "VENDOR").length, 17);
    assert.equal(all.find((e) => e.name === "FQDN")?.code, 89);
  });

  test("rejects a malformed line with its line number", () => {
    assert.throws(() => parseInittab("# c\nFoo STANDARD, 1, IP, 1\n"), /line 2: expected 6/);
    assert.throws(() => parseInittab("Foo STANDARD, x, IP, 1, 1, sdmi\n"), /code is not a number/);
    assert.throws(() => parseInittab("Foo BOGUS, 1, IP, 1, 1, sdmi\n"), /category 'BOGUS'/);
  });
});

describe("macro values", () => {
  test("split into items with booleans, Include and quoted values kept as written", () => {
    const items = parseMacroValue(
      ':Include=Locale:LeaseNeg:DNSdmain="a:b.com":Timeserv=1.2.3.4 5.6.7.8:',
    );
    assert.deepEqual(items, [
      { name: "Include", value: "Locale" },
      { name: "LeaseNeg", value: null },
      { name: "DNSdmain", value: '"a:b.com"' },
      { name: "Timeserv", value: "1.2.3.4 5.6.7.8" },
    ]);
    assert.equal(
      formatMacroValue(items),
      ':Include=Locale:LeaseNeg:DNSdmain="a:b.com":Timeserv=1.2.3.4 5.6.7.8:',
    );
  });

  test("a backslash escapes a colon and whitespace between items is skipped", () => {
    assert.deepEqual(parseMacroValue(":Rootpath=/a\\:b: \t :LeaseNeg:"), [
      { name: "Rootpath", value: "/a\\:b" },
      { name: "LeaseNeg", value: null },
    ]);
  });

  test("each syntax error names the bad part", () => {
    rejects(() => parseMacroValue("Subnet=1.2.3.4:"), /must start with ':'/);
    rejects(() => parseMacroValue(":Subnet=1.2.3.4"), /value of 'Subnet' is not followed by ':'/);
    rejects(() => parseMacroValue(':DNSdmain="abc:'), /value of 'DNSdmain' has no closing quote/);
    rejects(() => parseMacroValue(":LeaseNeg"), /'LeaseNeg' is not followed by ':'/);
    rejects(() => parseMacroValue(":=5:"), /bad symbol name ''/);
  });

  test("the whole upstream test data set validates", () => {
    const table = vendorTable();
    for (const r of tspecRecords()) {
      if (r.type === "m") validateMacro(r.name, r.value, table, { stored: true });
      else parseSymbolDefinition(r.value);
    }
  });

  test("an unknown symbol is named, and vendor symbols need a dhcptab definition", () => {
    rejects(
      () => validateMacro("m1", ":Subnet=255.0.0.0:Bogus=1:", SymbolTable.standard()),
      /Bad macro m1: unknown symbol 'Bogus'/,
    );
    rejects(
      () => validateMacro("m1", ":SrootIP4=1.2.3.4:", SymbolTable.standard()),
      /unknown symbol 'SrootIP4'/,
    );
    validateMacro("m1", ":SrootIP4=1.2.3.4:", vendorTable());
  });

  test("values are checked against type, granularity and maximum", () => {
    const t = SymbolTable.standard();
    rejects(
      () => validateMacro("m", ":Subnet=1.2.3:", t),
      /Subnet in macro m: '1.2.3' is not an IPv4/,
    );
    rejects(
      () => validateMacro("m", ":Subnet=1.2.3.4 5.6.7.8:", t),
      /Subnet in macro m: at most 1 address\(s\) allowed, 2 given/,
    );
    rejects(
      () => validateMacro("m", ":StaticRt=1.2.3.4:", t),
      /StaticRt in macro m: 1 address\(s\) given, but they come in groups of 2/,
    );
    rejects(() => validateMacro("m", ":LeaseTim=abc:", t), /'abc' is not a number/);
    rejects(() => validateMacro("m", ":IpTTL=256:", t), /256 is outside 0..255 \(UNUMBER8\)/);
    rejects(
      () => validateMacro("m", ":UTCoffst=3000000000:", t),
      /outside -2147483648..2147483647/,
    );
    rejects(
      () => validateMacro("m", ":LeaseNeg=1:", t),
      /LeaseNeg is a boolean and takes no value/,
    );
    rejects(() => validateMacro("m", ":Subnet:", t), /Subnet is of type IP and needs a value/);
    rejects(() => validateMacro("m", ":SLP_DA=abc:", t), /not an even number of hex digits/);
    rejects(
      () => validateMacro("m", `:TFTPsrvN="${"x".repeat(65)}":`, t),
      /longer than 64 characters/,
    );
    rejects(() => validateMacro("m", ":Include=m:", t), /Bad macro m: it includes itself/);
    rejects(
      () => validateMacro("bad ", ":LeaseNeg:", t),
      /Bad macro name 'bad ': leading or trailing space/,
    );
    validateMacro("m", ":SLP_DA=00c0a80105c0a80085:UTCoffst=-18000:MystatRt:", withSite(t));
  });

  test("dhtadm -e edits one pair: replace, add, delete, boolean", () => {
    const t = SymbolTable.standard();
    const e = (v: string, edit: string) => editMacro("m", v, edit, t);
    assert.equal(e(":Subnet=1.2.3.4:", "Subnet=5.6.7.8"), ":Subnet=5.6.7.8:");
    assert.equal(e(":Subnet=1.2.3.4:", "LeaseNeg=_NULL_VALUE_"), ":Subnet=1.2.3.4:LeaseNeg:");
    assert.equal(e(":Subnet=1.2.3.4:LeaseNeg:", "Subnet="), ":LeaseNeg:");
    rejects(() => e(":LeaseNeg:", "Subnet="), /it has no symbol 'Subnet'/);
    rejects(() => e(":LeaseNeg:", "novalue"), /it has no symbol 'novalue'/);
  });
});

function withSite(t: SymbolTable): SymbolTable {
  t.define("MystatRt", parseSymbolDefinition("Site,130,BOOL,0,0"));
  return t;
}

describe("symbol definitions", () => {
  test("parse Site and Vendor definitions and format them back", () => {
    const d = parseSymbolDefinition("Vendor=SUNW.Ultra-1 SUNW.i86pc,2,IP,1,1");
    assert.deepEqual(d, {
      context: "Vendor",
      vendorClasses: ["SUNW.Ultra-1", "SUNW.i86pc"],
      code: 2,
      type: "IP",
      granularity: 1,
      maximum: 1,
    });
    assert.equal(formatSymbolDefinition(d), "Vendor=SUNW.Ultra-1 SUNW.i86pc,2,IP,1,1");
    // Normalised as upstream stores it: blanks around fields gone, classes joined by one space,
    // a class with a blank quoted, BOOL spelled BOOL.
    assert.equal(
      formatSymbolDefinition(
        parseSymbolDefinition(' Vendor=  SUNW.i86pc   "My Class" , 7 , IP , 1 , 2 '),
      ),
      'Vendor=SUNW.i86pc "My Class",7,IP,1,2',
    );
    assert.equal(parseSymbolDefinition("Site,131,BOOL,0,0").type, "BOOLEAN");
    assert.equal(
      formatSymbolDefinition(parseSymbolDefinition("Site,131,BOOL,3,7")),
      "Site,131,BOOL,3,7",
    );
    assert.equal(parseSymbolDefinition("Extend,108,NUMBER,3,255").granularity, 3);
  });

  test("each bad field is named, by upstream's symbol rules", () => {
    rejects(() => parseSymbolDefinition("Site,130,IP,1"), /expected 5 comma-separated fields/);
    rejects(() => parseSymbolDefinition("Site,130,IP,1,1,1"), /expected 5 comma-separated fields/);
    rejects(() => parseSymbolDefinition("Local,130,IP,1,1"), /context 'Local' is not Site/);
    // Category and type names are case-sensitive; BOOLEAN is not a dhcptab type.
    rejects(() => parseSymbolDefinition("site,130,IP,1,1"), /context 'site' is not Site/);
    rejects(() => parseSymbolDefinition("Vendor,2,IP,1,1"), /context 'Vendor' is not Site/);
    rejects(() => parseSymbolDefinition("Site,130,ip,1,1"), /type 'ip' is not one of/);
    rejects(() => parseSymbolDefinition("Site,130,BOOLEAN,0,0"), /type 'BOOLEAN' is not one of/);
    rejects(
      () => parseSymbolDefinition("Site,12,IP,1,1"),
      /code 12 is outside 128..254 for context Site/,
    );
    rejects(
      () => parseSymbolDefinition("Extend,107,IP,1,1"),
      /code 107 is outside 108..127 for context Extend/,
    );
    rejects(() => parseSymbolDefinition("Extend,128,IP,1,1"), /outside 108..127/);
    rejects(() => parseSymbolDefinition("Vendor=X,255,IP,1,1"), /outside 1..254/);
    rejects(() => parseSymbolDefinition("Site,130,FLOAT,1,1"), /type 'FLOAT' is not one of/);
    rejects(() => parseSymbolDefinition("Site,130,IP,x,1"), /granularity 'x' is not a number/);
    rejects(() => parseSymbolDefinition("Site,130,IP,0,1"), /granularity must be greater than 0/);
    rejects(() => parseSymbolDefinition("Site,130,IP,256,1"), /granularity is above 255/);
    rejects(() => parseSymbolDefinition("Site,130,IP,1,256"), /maximum is above 255/);
  });

  test("a new symbol may not take a standard name or code", () => {
    rejects(
      () => checkSymbolAgainstInittab("subnet", parseSymbolDefinition("Site,130,IP,1,1")),
      /already used by the standard option Subnet/,
    );
    rejects(
      () => checkSymbolAgainstInittab("Mine", parseSymbolDefinition("Site,130,IP,1,1x")),
      /maximum '1x' is not a number/,
    );
    rejects(
      () => checkSymbolAgainstInittab("My Sym", parseSymbolDefinition("Site,130,IP,1,1")),
      /may not contain spaces/,
    );
    checkSymbolAgainstInittab("SrootIP4", parseSymbolDefinition("Vendor=SUNW.i86pc,2,IP,1,1"));
  });
});
