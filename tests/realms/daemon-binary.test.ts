/**
 * The realms daemon from the built binary: detached start, ps shows dtrealms, commands over
 * the socket, a manager restarted after kill -9, shutdown leaving nothing behind; dtrealms'
 * own option spelling; SIGTERM to the detached daemon.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  alive,
  collect,
  exited,
  requireBinary,
  runSteward,
  spawnSteward,
  tempDir,
  waitFor,
} from "../helpers.ts";
import { killLeftovers, pidsWith, send, statusPid, writeFixture } from "./daemon-helpers.ts";

test("the binary starts the daemon detached and it serves upstream clients", async () => {
  requireBinary();
  using tmp = tempDir("rbin");
  const dir = tmp.path;
  const fx = writeFixture(dir);
  try {
    const r = await runSteward(
      ["realms", "daemon", "--directory", dir, "--statedir", "state", "realms"],
      { via: "binary", timeoutMs: 20_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(fs.readFileSync(fx.idFile, "utf8"));
    assert.ok(alive(pid));
    // What an upstream realmctl checks: `ps -p <pid>` must mention dtrealms.
    assert.match(execFileSync("ps", ["-p", String(pid)], { encoding: "utf8" }), /dtrealms/);
    assert.equal(
      Number(execFileSync("ps", ["-o", "ppid=", "-p", String(pid)], { encoding: "utf8" })) ===
        process.pid,
      false,
      "the daemon is detached from the command that started it",
    );
    const again = await runSteward(
      ["realms", "daemon", "--directory", dir, "--statedir", "state", "realms"],
      { via: "binary", timeoutMs: 20_000 },
    );
    assert.equal(again.code, 4, again.stderr);
    assert.match(again.stderr, /another dtrealms is already running/);
    const status = await send(fx.socket, "realmcmd_realmstatus");
    const beta = statusPid(status, "beta") as number;
    assert.match(status, /^0 \r\nalpha\tactive\t1\/1\/1\/1\n/);
    process.kill(beta, "SIGKILL");
    await waitFor(
      async () => {
        const p = statusPid(await send(fx.socket, "realmcmd_realmstatus"), "beta");
        return p && p !== beta;
      },
      10_000,
      "beta to be restarted",
    );
    const missing = await runSteward(
      ["realms", "daemon", "--directory", dir, "--statedir", "state2", "nosuch"],
      { via: "binary" },
    );
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nosuch: does not exist/);
    assert.equal(await send(fx.socket, "realmcmd_shutdown"), "0 \r\ndtrealms shutting down \r\n");
    await waitFor(() => !alive(pid), 10_000, "the daemon to exit");
    assert.deepEqual(pidsWith(path.join(dir, "bin", "mgr")), []);
    assert.equal(fs.existsSync(fx.socket), false);
  } finally {
    // The detached daemon's command line shows only its title, so find it by its id file.
    try {
      const pid = Number(fs.readFileSync(fx.idFile, "utf8"));
      if (pid > 1 && alive(pid)) process.kill(pid, "SIGKILL");
    } catch { /* no id file: nothing left running */ }
    await killLeftovers(dir);
  }
});

test("the binary's daemon takes dtrealms' single-dash options and their abbreviations", async () => {
  requireBinary();
  using tmp = tempDir("rbin");
  const dir = tmp.path;
  const fx = writeFixture(dir);
  const bin = { via: "binary" as const };
  const version = await runSteward(["realms", "daemon", "-Version"], bin);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stderr, /^dtrealms version: \S+ \(steward\)\n$/);
  const help = await runSteward(["realms", "daemon", "-help"], bin);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: steward realms daemon \[options\] <realmsfile>/);
  assert.match(help.stdout, /--directory <dir>/);
  for (
    const [args, message] of [
      [["-d", dir, "realms"], /Option d is ambiguous \(directory, display\)/],
      [["-nosuch", "realms"], /Unknown option: nosuch/],
      [["-allow", "realms"], /Unknown option: allow/],
      [["-directory", dir], /Missing the realms file argument/],
      [["-foreground", "-loglevel", "loud", "realms"], /Invalid log level: loud/],
    ] as const
  ) {
    const r = await runSteward(["realms", "daemon", ...args], bin);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(fs.existsSync(fx.stateDir), false, "no usage error started anything");
  const child = spawnSteward([
    "realms",
    "daemon",
    "-directory",
    dir,
    "-statedir",
    "state",
    "-fore",
    "-logf",
    "my.log",
    "-logl",
    "tmi",
    "-logtz=local",
    "-verbose",
    "-display",
    "-display-port",
    "0",
    "realms",
  ], bin);
  const output = collect(child);
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`daemon exited: ${output.stderr()}`);
        try {
          return Number(fs.readFileSync(fx.idFile, "utf8")) === child.pid &&
            (await send(fx.socket, "realmcmd_status")).startsWith("0 \r\n");
        } catch {
          return false;
        }
      },
      15_000,
      "the daemon to serve its socket",
    );
    const status = await send(fx.socket, "realmcmd_status");
    assert.match(status, /\n {5}directory {10}"[^"]*rbin[^"]*"\n/);
    assert.match(status, /\n {5}logfile {12}"[^"]*my\.log"\n/);
    assert.match(status, /\n {5}loglevel {11}"tmi"\n/);
    assert.match(status, /\n {5}logtz {14}"local"\n/);
    assert.ok(fs.existsSync(path.join(dir, "my.log")), "-logf is relative to -directory");
    assert.match(await send(fx.socket, "realmcmd_realmstatus"), /^0 \r\nalpha\tactive\t/);
    process.kill(child.pid as number, "SIGTERM");
    assert.deepEqual(await exited(child, 10_000), { code: 0, signal: null });
    assert.deepEqual(pidsWith(path.join(dir, "bin", "mgr")), []);
  } finally {
    if (child.exitCode === null) process.kill(child.pid as number, "SIGKILL");
    await killLeftovers(dir);
  }
});

test("the binary's detached daemon stopped with SIGTERM exits cleanly and leaves nothing", async () => {
  requireBinary();
  using tmp = tempDir("rbin");
  const dir = tmp.path;
  const fx = writeFixture(dir);
  let pid = 0;
  try {
    // Started the upstream way: single dashes, abbreviations, no -foreground.
    const r = await runSteward(
      ["realms", "daemon", "-dir", dir, "-state", "state", "-logfile", "log.dtrealms", "realms"],
      { via: "binary", timeoutMs: 20_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    pid = Number(fs.readFileSync(fx.idFile, "utf8"));
    assert.ok(alive(pid));
    const managers = await waitFor(
      () => {
        const p = pidsWith(path.join(dir, "bin", "mgr"));
        return p.length === 2 ? p : undefined;
      },
      10_000,
      "alpha's and beta's managers",
    );
    process.kill(pid, "SIGTERM");
    await waitFor(() => !alive(pid), 10_000, "the daemon to exit");
    assert.equal(fs.existsSync(fx.socket), false, "the socket is removed");
    assert.equal(fs.existsSync(fx.idFile), false, "the pid file is removed");
    for (const m of managers) assert.equal(alive(m), false, `manager ${m} is gone`);
    assert.deepEqual(pidsWith(path.join(dir, "bin", "mgr")), []);
    const log = fs.readFileSync(fx.logFile, "utf8");
    assert.match(log, /SIGTERM received; shutting down child realms\n/);
    assert.match(log, /dtrealms: halted\n$/, "every realm stopped");
    const stderr = path.join(fx.stateDir, "dnssec-tools", "daemon.stderr");
    assert.equal(fs.readFileSync(stderr, "utf8"), "", "the daemon wrote no error");
  } finally {
    if (pid > 1 && alive(pid)) process.kill(pid, "SIGKILL");
    await killLeftovers(dir);
  }
});
