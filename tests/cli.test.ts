import { describe, test } from "node:test";
import { spawn } from "node:child_process";
import { once } from "node:events";
import assert from "node:assert/strict";
import { buildProgram } from "../cli/program.ts";
import { requireBinary, runSteward } from "./helpers.ts";
import { VERSION } from "../lib/platform/version.ts";

type Cmd = ReturnType<typeof buildProgram>;
function allCommands(c: Cmd, prefix: string[] = []): string[][] {
  return c.commands.flatMap((s) => {
    const here = [...prefix, s.name()];
    return [here, ...allCommands(s as unknown as Cmd, here)];
  });
}

describe("the built binary", () => {
  test("prints its version with --version", async () => {
    requireBinary();
    const r = await runSteward(["--version"], { via: "binary" });
    assert.equal(r.code, 0);
    const [version, node, commit] = r.stdout.trim().split("\n");
    assert.equal(version, `steward ${VERSION}`);
    assert.match(node ?? "", /^Node v24\.\d+\.\d+ \(inside the binary\)$/);
    assert.match(commit ?? "", /^commit ([0-9a-f]{12}(-dirty)?|unknown)$/);
  });

  test("exits 2 with one line and a usage hint on an unknown option", async () => {
    const r = await runSteward(["--no-such-option"], { via: "binary" });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split("\n");
    assert.match(lines[0] ?? "", /^steward: unknown option '--no-such-option'/);
    assert.match(r.stderr, /--help/);
    assert.equal(r.stdout, "");
  });

  test("exits 2 on an unknown command and suggests one", async () => {
    const r = await runSteward(["lockdd"], { via: "binary" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'lockdd'/);
    assert.match(r.stderr, /lockd/);
  });
});

describe("output to a closed pipe", () => {
  test("a reader that goes away early gets no stack trace and the command keeps its status", async () => {
    for (const args of [["--help"], ["dhcp", "module", "list"]]) {
      const child = spawn(requireBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.destroy(); // as `steward … | head -0` does
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const [code] = await once(child, "exit");
      assert.equal(code, 0, `${args.join(" ")}: ${err}`);
      assert.doesNotMatch(err, /EPIPE|Unhandled/);
    }
  });
});

describe("usage errors", () => {
  test("a bad option value names the command whose help to read", async () => {
    const r = await runSteward(["lock", "run", "--timeout", "abc", "x", "--", "true"], {
      via: "binary",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^steward: .*abc/);
    assert.match(r.stderr, /\(run 'steward lock run --help' for usage\)/);
  });
});

describe("help", () => {
  test("every command answers --help with its usage and exit 0", async () => {
    const commands = allCommands(buildProgram());
    assert.ok(commands.length > 0);
    for (const path of commands) {
      const r = await runSteward([...path, "--help"], { via: "binary" });
      assert.equal(r.code, 0, `${path.join(" ")} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage: steward ${path.join(" ")}`), path.join(" "));
    }
  });
});
