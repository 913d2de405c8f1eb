/**
 * Under Deno the daemon and the client run with permissions scoped to the run directory and the
 * socket (no --allow-all): the client starts the daemon on demand, and the daemon cannot read
 * outside its scope.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { lockdPermissions } from "../../lib/lockd/start.ts";
import { denoPermissionFlags } from "../../lib/platform/runtime.ts";
import { ROOT } from "../helpers.ts";
import { sandbox } from "./harness.ts";

const DENO = path.join(ROOT, "node_modules", ".bin", "deno");

function denoRun(
  flags: string[],
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      DENO,
      [
        "run",
        "--quiet",
        "--no-prompt",
        `--config=${path.join(ROOT, "deno.json")}`,
        ...flags,
        script,
        ...args,
      ],
      { cwd: ROOT, timeout: 30_000 },
      (_e, stdout, stderr) => resolve({ code: child.exitCode ?? -1, stdout, stderr }),
    );
  });
}

test("the client and the daemon run under Deno with permissions scoped to the run directory", async () => {
  await using box = sandbox("deno");
  const scope = { runDir: box.dir, socketPath: box.socket };
  const flags = denoPermissionFlags({
    ...lockdPermissions(scope),
    // The client may start the daemon: Deno itself is the one program it may run.
    run: [fs.realpathSync(DENO)],
    // Deno's node:child_process reads this one variable when it spawns.
    env: ["NODE_V8_COVERAGE"],
  });
  assert.ok(
    !flags.some((f) => f === "--allow-all" || f === "-A" || /^--allow-(read|write|net)$/.test(f)),
  );
  const r = await denoRun(flags, path.join(ROOT, "tests", "lockd", "fixtures", "client.ts"), [
    box.dir,
    "scoped",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout);
  box.trackPid(status.pid);
  assert.equal(status.runtime, "deno", "the daemon started on demand runs under Deno");
  assert.equal(status.socket, box.socket);
  assert.equal(status.locks[0].name, "scoped");
});

test("a Deno daemon cannot read a defaults file outside its scope", async () => {
  await using box = sandbox("denoscope");
  const flags = denoPermissionFlags(lockdPermissions({ runDir: box.dir, socketPath: box.socket }));
  const r = await denoRun(flags, path.join(ROOT, "cli", "main.ts"), [
    "lockd",
    "--foreground",
    "--run-dir",
    box.dir,
    "--defaults",
    path.join(ROOT, "package.json"),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^steward: Cannot read defaults file .*package\.json/);
});
