import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { bold, printJson, printTable, useColor } from "../../cli/output.ts";

const saved = { ...process.env };
let written = "";
let restoreWrite: () => void = () => {};
let restoreTty: () => void = () => {};

function fakeStdout(isTTY: boolean): void {
  const original = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    return true;
  }) as typeof process.stdout.write;
  restoreWrite = () => {
    process.stdout.write = original;
  };
  const desc = Object.getOwnPropertyDescriptor(process.stdout, "isTTY");
  Object.defineProperty(process.stdout, "isTTY", {
    value: isTTY,
    configurable: true,
    writable: true,
  });
  restoreTty = () => {
    if (desc) Object.defineProperty(process.stdout, "isTTY", desc);
    else delete (process.stdout as { isTTY?: boolean }).isTTY;
  };
}

const rows = [{ name: "alpha", n: 7 }, { name: "b", n: 1234 }];
const columns = [
  { header: "NAME", value: (r: typeof rows[number]) => r.name },
  { header: "COUNT", value: (r: typeof rows[number]) => String(r.n), align: "right" as const },
];

describe("printing", () => {
  beforeEach(() => {
    written = "";
    for (const k of ["NO_COLOR", "FORCE_COLOR", "TERM"]) delete process.env[k];
  });
  afterEach(() => {
    restoreWrite();
    restoreTty();
    for (const k of ["NO_COLOR", "FORCE_COLOR", "TERM"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  test("a table on a terminal is aligned under a bold header", () => {
    fakeStdout(true);
    printTable(rows, columns);
    assert.equal(written, "\x1b[1mNAME   COUNT\x1b[22m\nalpha      7\nb       1234\n");
  });

  test("off a terminal a table is tab-separated lines without header or colour", () => {
    fakeStdout(false);
    printTable(rows, columns);
    assert.equal(written, "alpha\t7\nb\t1234\n");
  });

  test("off a terminal a row whose last fields are empty has no trailing tabs", () => {
    fakeStdout(false);
    type Row = { a: string; b: string; c: string };
    const rows3: Row[] = [{ a: "x", b: "", c: "" }, { a: "y", b: "", c: "z" }];
    printTable(rows3, [
      { header: "A", value: (r: Row) => r.a },
      { header: "B", value: (r: Row) => r.b },
      { header: "C", value: (r: Row) => r.c },
    ]);
    assert.equal(written, "x\ny\t\tz\n");
  });

  test("NO_COLOR turns colour off even on a terminal, and FORCE_COLOR turns it on off one", () => {
    fakeStdout(true);
    process.env.NO_COLOR = "1";
    assert.equal(useColor(), false);
    assert.equal(bold("x"), "x");
    printTable(rows, columns);
    assert.equal(written.split("\n")[0], "NAME   COUNT");
    restoreTty();
    fakeStdout(false);
    delete process.env.NO_COLOR;
    process.env.FORCE_COLOR = "1";
    assert.equal(useColor(), true);
    process.env.TERM = "dumb";
    delete process.env.FORCE_COLOR;
    assert.equal(useColor(), false);
  });

  test("JSON output is indented and parses back", () => {
    fakeStdout(false);
    printJson({ a: [1, "x"] });
    assert.deepEqual(JSON.parse(written), { a: [1, "x"] });
    assert.match(written, /\n {2}"a"/);
  });
});
