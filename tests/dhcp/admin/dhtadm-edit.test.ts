/**
 * `dhtadm -M -m NAME -e EDIT` and macro definitions, form by form as upstream's Macro.java
 * (setValue, setOption, getValue) and OptionValue classes treat them. The cases are in
 * fixtures/dhtadm-edit.txt; each runs through the library and, all in one batch, through the
 * built binary on a SUNWfiles dhcptab written by hand, whose bytes are then compared.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DhcptabSyntaxError } from "../../../lib/dhcp/dhcptab/symbol.ts";
import { editMacro, SymbolTable, validateMacro } from "../../../lib/dhcp/dhcptab/validate.ts";
import { BINARY, ROOT } from "../../helpers.ts";
import { dhcpSandbox } from "../cli/helpers.ts";

interface Case {
  form: string;
  stored?: string;
  edit?: string;
  define?: string;
  result?: string;
  error?: string;
}

function cases(): Case[] {
  const text = fs.readFileSync(
    path.join(ROOT, "tests/dhcp/admin/fixtures/dhtadm-edit.txt"),
    "utf8",
  );
  const out: Case[] = [];
  for (const block of text.split(/\n\n+/)) {
    const c: Record<string, string> = {};
    for (const line of block.split("\n")) {
      if (line.startsWith("#") || line === "") continue;
      const m = /^(form|stored|edit|define|result|error): (.*)$/.exec(line);
      assert.ok(m, `bad fixture line: ${line}`);
      c[m[1] as string] = m[2] as string;
    }
    if (Object.keys(c).length === 0) continue;
    assert.ok(c.form && (c.result !== undefined) !== (c.error !== undefined), block);
    assert.ok((c.edit !== undefined && c.stored !== undefined) || c.define !== undefined, block);
    out.push(c as unknown as Case);
  }
  return out;
}

const CASES = cases();

function outcome(fn: () => string): { result?: string; error?: string } {
  try {
    return { result: fn() };
  } catch (e) {
    assert.ok(e instanceof DhcptabSyntaxError, String(e));
    return { error: e.message };
  }
}

function expect(c: Case, got: { result?: string; error?: string }, where: string): void {
  if (c.error !== undefined) {
    assert.ok(got.error !== undefined, `${where} ${c.form}: accepted as ${got.result}`);
    assert.match(got.error, new RegExp(c.error), `${where} ${c.form}`);
  } else {
    assert.equal(got.error, undefined, `${where} ${c.form}`);
    assert.equal(got.result, c.result, `${where} ${c.form}`);
  }
}

describe("dhtadm macro edits and definitions, form by form", () => {
  test("the fixture covers every form once", () => {
    assert.ok(CASES.filter((c) => c.edit !== undefined).length >= 30);
    assert.ok(CASES.filter((c) => c.define !== undefined).length >= 20);
    const forms = new Set(CASES.map((c) => c.form));
    assert.equal(forms.size, CASES.length, "one case per form");
  });

  test("in the library", () => {
    const t = SymbolTable.standard();
    for (const c of CASES) {
      if (c.edit !== undefined) {
        expect(c, outcome(() => editMacro("m", c.stored ?? "", c.edit ?? "", t)), "editMacro:");
      } else {
        expect(
          c,
          outcome(() => (validateMacro("m", c.define ?? "", t), "ok")),
          "validateMacro:",
        );
      }
    }
  });

  test("through the binary: dhtadm -M -e and -A -d in one batch", {
    skip: fs.existsSync(BINARY) ? false : `${BINARY} is missing: run 'npm run build' first`,
  }, async () => {
    const sb = dhcpSandbox("dhtadm-edit");
    try {
      const file = path.join(sb.store, "SUNWfiles1_dhcptab");
      const head = fs.readFileSync(file, "utf8");
      // The fixture's stored macros, written by hand as an administrator would.
      const records = CASES.map((
        c,
        i,
      ) => (c.stored !== undefined ? `e${i}|m|1|${c.stored}\n` : ""));
      fs.writeFileSync(file, head + records.join(""));
      const lines = CASES.map((c, i) =>
        c.edit !== undefined
          ? `dhtadm -M -m e${i} -e '${c.edit}'`
          : `dhtadm -A -m d${i} -d '${c.define}'`
      );
      for (const l of lines) assert.ok(!/'.*'.*'/.test(l), `no quote in a case: ${l}`);
      const batch = path.join(sb.dir, "cases.batch");
      fs.writeFileSync(batch, lines.join("\n") + "\n");
      const r = await sb.run(["dhcp", "batch", batch]);
      assert.notEqual(r.code, 0, "some cases are refused");
      const stored = new Map<string, string>();
      for (const l of fs.readFileSync(file, "utf8").split("\n")) {
        const m = /^([^#|][^|]*)\|m\|\d+\|(.*)$/.exec(l);
        if (m) stored.set(m[1] as string, m[2] as string);
      }
      const errors = r.stderr.split("\n");
      CASES.forEach((c, i) => {
        const key = c.edit !== undefined ? `e${i}` : `d${i}`;
        const said = errors.filter((l) => l.startsWith(`${batch}:${i + 1}: `)).join("\n");
        if (c.error !== undefined) {
          assert.match(said, new RegExp(c.error), `dhtadm ${c.form}: ${said}`);
          assert.equal(stored.get(key), c.stored, `dhtadm ${c.form}: unchanged`);
        } else {
          assert.ok(!/dhtadm: (?!Warning)/.test(said), `dhtadm ${c.form}: ${said}`);
          assert.equal(
            stored.get(key),
            c.result === "ok" ? c.define : c.result,
            `dhtadm ${c.form}`,
          );
        }
      });
    } finally {
      await sb.dispose();
    }
  });
});
