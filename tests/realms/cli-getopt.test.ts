import { test } from "node:test";
import assert from "node:assert/strict";
import { getoptLong } from "../../lib/realms/tools/getopt.ts";

const SPEC = {
  status: "flag",
  startrealm: "flag",
  stoprealm: "flag",
  logfile: "required",
  loglevel: "optional",
  halt: "optional",
  help: "flag",
  statedir: "required",
} as const;

test("getoptLong takes single and double dashes, =values and operands anywhere", () => {
  const r = getoptLong(["a", "-startrealm", "b", "--logfile=/x", "c"], SPEC);
  assert.deepEqual([...r.options], [["startrealm", true], ["logfile", "/x"]]);
  assert.deepEqual(r.rest, ["a", "b", "c"]);
  assert.deepEqual(r.errors, []);
});

test("getoptLong resolves unique abbreviations and reports ambiguous ones", () => {
  assert.deepEqual([...getoptLong(["-stat"], SPEC, new Set(["statedir"])).options], [[
    "status",
    true,
  ]]);
  assert.deepEqual(getoptLong(["-st"], SPEC, new Set(["statedir"])).errors, [
    "Option st is ambiguous (startrealm, status, stoprealm)",
  ]);
  assert.deepEqual(getoptLong(["-h"], SPEC).errors, ["Option h is ambiguous (halt, help)"]);
  assert.deepEqual(getoptLong(["-Status"], SPEC).errors, ["Unknown option: Status"]);
});

test("exact-only options match only when spelled out", () => {
  assert.deepEqual(getoptLong(["-statedi", "x"], SPEC, new Set(["statedir"])).errors, [
    "Unknown option: statedi",
  ]);
  assert.equal(
    getoptLong(["-statedir", "x"], SPEC, new Set(["statedir"])).options.get("statedir"),
    "x",
  );
});

test("optional values are taken only when the next word is not an option", () => {
  assert.equal(getoptLong(["-halt", "now"], SPEC).options.get("halt"), "now");
  assert.equal(getoptLong(["-halt", "-status"], SPEC).options.get("halt"), "");
  assert.equal(getoptLong(["-loglevel"], SPEC).options.get("loglevel"), "");
});

test("required values take the next word even when it starts with a dash", () => {
  assert.equal(getoptLong(["-logfile", "-odd"], SPEC).options.get("logfile"), "-odd");
  assert.deepEqual(getoptLong(["-logfile"], SPEC).errors, ["Option logfile requires an argument"]);
  assert.deepEqual(getoptLong(["-status=1"], SPEC).errors, [
    "Option status does not take an argument",
  ]);
});

test("-- ends the options", () => {
  const r = getoptLong(["-cm", "--", "alpha", "rollctl", "-zonestatus"], { cmd: "flag" });
  assert.deepEqual([...r.options], [["cmd", true]]);
  assert.deepEqual(r.rest, ["alpha", "rollctl", "-zonestatus"]);
});
