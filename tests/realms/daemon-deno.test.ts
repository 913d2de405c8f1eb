/**
 * The realms daemon under Deno with permissions scoped to its directories and socket, and
 * --allow-run limited to the programs it runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { denoPermissionFlags } from "../../lib/platform/runtime.ts";
import { realmsDaemonPermissions } from "../../lib/realms/permissions.ts";
import { readRealmsFileSync } from "../../lib/realms/realmsfile.ts";
import { alive, collect, exited, ROOT, tempDir, waitFor } from "../helpers.ts";
import { killLeftovers, pidsWith, send, statusPid, writeFixture } from "./daemon-helpers.ts";

const DENO = path.join(ROOT, "node_modules", ".bin", "deno");

test("the daemon runs under Deno with permissions scoped to its directories and socket", {
  skip: fs.existsSync(DENO) ? false : "deno is not installed in node_modules",
}, async () => {
  using tmp = tempDir("rdeno");
  const dir = tmp.path;
  const fx = writeFixture(dir);
  const permissions = realmsDaemonPermissions({
    directory: dir,
    stateDir: fx.stateDir,
    realmsFile: fx.realmsFile,
    realms: readRealmsFileSync(fx.realmsFile).realms(),
  });
  const flags = denoPermissionFlags(permissions);
  assert.ok(!flags.includes("--allow-all") && !flags.includes("--allow-run"));
  assert.ok(flags.some((f) => f.startsWith("--allow-run=") && f.includes(`${dir}/bin/mgr`)));
  // The status page's address (tests/realms/display/) may be listened on too.
  assert.ok(flags.includes(`--allow-net=unix:${fx.socket},127.0.0.1`));
  const child = spawn(DENO, [
    "run",
    "--quiet",
    "--no-prompt",
    `--config=${path.join(ROOT, "deno.json")}`,
    ...flags,
    path.join(ROOT, "cli", "main.ts"),
    "realms",
    "daemon",
    "--foreground",
    "--directory",
    dir,
    "--statedir",
    fx.stateDir,
    "realms",
  ], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  const out = collect(child);
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`daemon exited: ${out.stderr()}`);
        return fs.existsSync(fx.socket) && fs.existsSync(fx.idFile);
      },
      20_000,
      "the daemon under Deno",
    );
    const status = await send(fx.socket, "realmcmd_realmstatus");
    assert.match(status, /^0 \r\nalpha\tactive\t1\/1\/1\/1\nbeta\tactive\t\(running; pid \d+\)\n/);
    assert.equal(
      await send(fx.socket, "realmcmd_startrealm", "gamma"),
      '0 \r\nrealm "gamma" started \r\n',
    );
    assert.match(fs.readFileSync(fx.realmsFile, "utf8"), /realm "gamma"\n\tstate\t\t"active"/);
    assert.equal(
      await send(fx.socket, "realmcmd_stoprealm", "gamma"),
      '0 \r\nrealm "gamma" stopped \r\n',
    );
    assert.equal(
      await send(fx.socket, "realmcmd_command", "alpha echo scoped"),
      "0 \r\nscoped\n\nreturn code - 0\n \r\n",
    );
    // Outside its scope the daemon cannot write: an error reply, and it carries on.
    assert.equal(
      await send(fx.socket, "realmcmd_logfile", path.join(ROOT, "outside.log")),
      `2 \r\nunable to change logfile to "${path.join(ROOT, "outside.log")}" \r\n`,
    );
    assert.equal(fs.existsSync(path.join(ROOT, "outside.log")), false);
    const beta = statusPid(status, "beta") as number;
    process.kill(beta, "SIGKILL");
    await waitFor(
      async () => {
        const p = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "beta");
        return p && p !== beta;
      },
      10_000,
      "beta to be restarted under Deno",
    );
    assert.equal(await send(fx.socket, "realmcmd_shutdown"), "0 \r\ndtrealms shutting down \r\n");
    const r = await exited(child, 10_000);
    assert.equal(r.code, 0, out.stderr());
    assert.deepEqual(pidsWith(`${dir}/bin/mgr`).filter(alive), []);
  } finally {
    if (child.exitCode === null) process.kill(child.pid as number, "SIGKILL");
    await exited(child);
    await killLeftovers(dir);
  }
});
