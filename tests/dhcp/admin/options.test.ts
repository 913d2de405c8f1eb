import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { splitWords } from "../../../lib/dhcp/admin/batch.ts";
import { parseDhtadm } from "../../../lib/dhcp/admin/dhtadm.ts";
import { AdminUsageError, getopt } from "../../../lib/dhcp/admin/getopt.ts";
import { asciiToHex, parsePntadm } from "../../../lib/dhcp/admin/pntadm.ts";

function usage(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AdminUsageError, String(e));
    assert.equal(e.message, message);
    return true;
  });
}

describe("the upstream getopt", () => {
  test("groups flags, attaches or separates arguments, stops at the first operand", () => {
    const r = getopt(["-Pv", "-r", "SUNWfiles", "-p/var/dhcp", "10.0.0.0", "-x"], "PvxAr:p:B;");
    assert.deepEqual(r.options, [
      { letter: "P", value: undefined },
      { letter: "v", value: undefined },
      { letter: "r", value: "SUNWfiles" },
      { letter: "p", value: "/var/dhcp" },
    ]);
    assert.deepEqual(r.operands, ["10.0.0.0", "-x"]);
  });

  test("an argument that is itself an option is missing; -1 is a value", () => {
    usage(() => getopt(["-m", "-y"], "ym:"), "Option requires an argument: m");
    assert.deepEqual(getopt(["-e", "-1"], "e:").options, [{ letter: "e", value: "-1" }]);
    assert.deepEqual(getopt(["-B", "-v"], "vB;").options, [
      { letter: "B", value: undefined },
      { letter: "v", value: undefined },
    ]);
  });

  test("illegal and grouped argument options are refused", () => {
    usage(() => getopt(["-h", "x"], "ym:"), "Illegal Option: h");
    usage(() => getopt(["-ym", "x"], "ym:"), "Option cannot be grouped with other options: m");
  });
});

describe("pntadm options", () => {
  test("add takes the client, its sub-options and the network", () => {
    const c = parsePntadm([
      "-A",
      "10.0.0.5",
      "-c",
      "a comment",
      "-e",
      "03/15/2001",
      "-f",
      "PERMANENT+MANUAL",
      "-i",
      "01AABB",
      "-m",
      "mac",
      "-y",
      "-s",
      "10.0.0.1",
      "10.0.0.0",
    ]);
    assert.equal(c.fn, "A");
    assert.equal(c.arg, "10.0.0.5");
    assert.equal(c.network, "10.0.0.0");
    assert.equal(c.options.get("c"), "a comment");
    assert.equal(c.options.get("f"), "PERMANENT+MANUAL");
    assert.ok(c.options.has("y"));
  });

  test("each usage error has the upstream message", () => {
    usage(
      () => parsePntadm(["10.0.0.0"]),
      "Must specify one of 'C', 'A', 'M', 'D', 'R', 'P', 'L' or 'B'.",
    );
    usage(() => parsePntadm(["-C", "-R", "10.0.0.0"]), "Options C and R cannot be used together.");
    usage(() => parsePntadm(["-C"]), "This function requires a network to be specified.");
    usage(
      () => parsePntadm(["-L", "10.0.0.0"]),
      "This function does not accept a network argument.",
    );
    usage(() => parsePntadm(["-P", "10.0.0.0", "extra"]), "Invalid arguments on command line.");
    usage(
      () => parsePntadm(["-P", "-v", "-x", "10.0.0.0"]),
      "Cannot specify both raw and verbose display modes.",
    );
    usage(
      () => parsePntadm(["-D", "10.0.0.5", "-c", "x", "10.0.0.0"]),
      "Illegal option for this function: c",
    );
    usage(
      () => parsePntadm(["-A", "10.0.0.5", "-c", "x", "-c", "y", "10.0.0.0"]),
      "Specify option c once per command.",
    );
    usage(
      () => parsePntadm(["-P", "-n", "10.0.0.9", "10.0.0.0"]),
      "Illegal option for this function: n",
    );
  });

  test("-a turns an ASCII client ID into uppercase hex", () => {
    assert.equal(asciiToHex("host1"), "686F737431");
  });
});

describe("dhtadm options", () => {
  test("add, modify and delete take a macro or a symbol", () => {
    const c = parseDhtadm(["-A", "-m", "Locale", "-d", ":UTCoffst=-18000:", "-g"]);
    assert.equal(c.fn, "A");
    assert.equal(c.options.get("d"), ":UTCoffst=-18000:");
    assert.ok(c.options.has("g"));
    assert.equal(parseDhtadm(["-M", "-s", "Sym", "-n", "New"]).options.get("n"), "New");
  });

  test("each usage error has the upstream message", () => {
    usage(() => parseDhtadm([]), "Must specify one of 'C', 'A', 'M', 'D', 'R', 'P', or 'B'");
    usage(
      () => parseDhtadm(["-A", "-m", "a", "-s", "b", "-d", ":x:"]),
      "Cannot specify both macro name and symbol name",
    );
    usage(() => parseDhtadm(["-D"]), "Must specify either macro name or symbol name");
    usage(() => parseDhtadm(["-A", "-m", "a"]), "Must specify macro or symbol definition");
    usage(() => parseDhtadm(["-P", "extra"]), "Invalid argument - extra");
    usage(() => parseDhtadm(["-P", "-d", "x"]), "Illegal option for this function: d");
  });
});

describe("batch word splitting", () => {
  test("quotes, escapes and variables work as in the shell", () => {
    assert.deepEqual(
      splitWords(`dhtadm -A -m 'Locale' -d ':UTCoffst=-18000:' "a b" c\\ d $HOME/x \${U}y`, {
        HOME: "/h",
        U: "u",
      }),
      ["dhtadm", "-A", "-m", "Locale", "-d", ":UTCoffst=-18000:", "a b", "c d", "/h/x", "uy"],
    );
    assert.deepEqual(splitWords('pntadm -c "say \\"hi\\"" x'), ["pntadm", "-c", 'say "hi"', "x"]);
    assert.deepEqual(splitWords("a \\\n b"), ["a", "b"]);
    assert.deepEqual(splitWords("a ''"), ["a", ""]);
  });

  test("command substitution, shell operators and open quotes are refused", () => {
    assert.throws(() => splitWords("pntadm $(rm -rf /)"), /command substitution is not allowed/);
    assert.throws(() => splitWords("pntadm `id`"), /command substitution is not allowed/);
    assert.throws(() => splitWords("pntadm -L; rm x"), /unquoted ';' is not allowed/);
    assert.throws(() => splitWords("pntadm 'x"), /unterminated single quote/);
  });
});
