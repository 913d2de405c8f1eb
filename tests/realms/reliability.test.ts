/**
 * Reliability of the realms daemon: state changes that cannot be saved are refused and change
 * nothing, connections beyond the limit are answered, and logs stay bounded and readable.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { symlink, tempDir, waitFor } from "../helpers.ts";
import { sendRealmCommand } from "../../lib/realms/transport/client.ts";
import { REALM_RC } from "../../lib/realms/protocol/codes.ts";
import { killLeftovers, send, startDaemon, statusPid, writeFixture } from "./daemon-helpers.ts";

const root = typeof process.geteuid === "function" && process.geteuid() === 0;

/** Fill the file system holding `dir` (a small tmpfs) until a write fails with ENOSPC. */
function fill(dir: string): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  const fd = fs.openSync(path.join(dir, "filler"), "w");
  try {
    for (let i = 0; i < 10_000; i++) fs.writeSync(fd, chunk);
    throw new Error("the tmpfs never filled up");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    fs.closeSync(fd);
  }
  // Smaller pieces, so that not even a one-block temp file fits.
  for (let i = 0; i < 1000; i++) {
    try {
      fs.appendFileSync(path.join(dir, "filler"), Buffer.alloc(512, 1));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
      throw e;
    }
  }
}

describe("realms state changes on a full disk", () => {
  test("start and stop that cannot be saved reply failure and keep the previous state", async () => {
    using tmp = tempDir("rfull");
    const fx = writeFixture(tmp.path);
    const full = path.join(tmp.path, "full");
    fs.mkdirSync(full);
    let mounted = false;
    if (root) {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", full]);
      mounted = true;
    }
    const file = path.join(full, "realms");
    fs.writeFileSync(file, fs.readFileSync(fx.realmsFile));
    fs.rmSync(fx.realmsFile);
    symlink(file, fx.realmsFile);
    let d: Awaited<ReturnType<typeof startDaemon>> | undefined;
    try {
      d = await startDaemon(tmp.path);
      const before = await send(fx.socket, "realmcmd_realmstatus");
      const beta = statusPid(before, "beta");
      assert.ok(beta, before);
      const text = fs.readFileSync(file, "utf8");
      // A full disk as root; without root, a directory the daemon cannot write to.
      if (mounted) fill(full);
      else fs.chmodSync(full, 0o555);
      assert.match(
        await send(fx.socket, "realmcmd_stoprealm", "beta"),
        /^4 \r\nunable to stop realm "beta": state not saved: /,
      );
      assert.match(
        await send(fx.socket, "realmcmd_startrealm", "gamma"),
        /^4 \r\nunable to start realm "gamma": state not saved: /,
      );
      const after = await send(fx.socket, "realmcmd_realmstatus");
      assert.equal(statusPid(after, "beta"), beta, "beta keeps running with the same manager");
      assert.match(after, /gamma\tinactive/);
      assert.equal(fs.readFileSync(file, "utf8"), text, "the realms file is unchanged");
      assert.match(
        fs.readFileSync(fx.logFile, "utf8"),
        /beta: unable to stop realm: state not saved: /,
      );
      // Once there is room again, the same requests succeed and are saved.
      if (mounted) fs.rmSync(path.join(full, "filler"));
      else fs.chmodSync(full, 0o755);
      assert.equal(
        await send(fx.socket, "realmcmd_stoprealm", "beta"),
        '0 \r\nrealm "beta" stopped \r\n',
      );
      assert.match(fs.readFileSync(file, "utf8"), /realm "beta"\n\tstate\t\t"inactive"/);
    } finally {
      await d?.stop();
      await killLeftovers(tmp.path);
      if (mounted) execFileSync("umount", ["-l", full]);
      else fs.chmodSync(full, 0o755);
    }
  });
});

describe("realms daemon under many clients", () => {
  test("200 parallel clients beyond the connection limit all get their reply", async () => {
    using tmp = tempDir("rbusy");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path, { args: ["--max-connections", "2"] });
    try {
      const opts = { socketPath: fx.socket, timeoutMs: 60_000 };
      const replies = await Promise.all(
        Array.from({ length: 200 }, () => sendRealmCommand("realmcmd_status", "", opts)),
      );
      assert.deepEqual(replies.filter((r) => r.code !== 0), []);
      // Without retrying, the clients beyond the queue are told to retry, never dropped.
      const once = await Promise.all(
        Array.from(
          { length: 200 },
          () => sendRealmCommand("realmcmd_status", "", { ...opts, retryBusy: false }),
        ),
      );
      assert.ok(once.some((r) => r.code === REALM_RC.BUSY), "some clients were told to retry");
      for (const r of once) {
        if (r.code === 0) continue;
        assert.equal(r.code, REALM_RC.BUSY);
        assert.match(r.message, /^busy, retry/);
      }
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});

describe("realms daemon log bounds", () => {
  test("unknown commands are logged truncated, counted and capped", async () => {
    using tmp = tempDir("rlogcap");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path);
    try {
      const junk = `realmcmd_${"x".repeat(900)}`;
      for (let i = 0; i < 40; i++) {
        assert.match(await send(fx.socket, junk), /^12 \r\nunknown command/);
      }
      const lines = fs.readFileSync(fx.logFile, "utf8").split("\n")
        .filter((l) => l.includes("request refused: unknown command"));
      assert.equal(lines.length, 20, "at most 20 refused requests are logged per minute");
      assert.match(lines[0] as string, /"realmcmd_x{55}\.\.\. \(909 chars\)" \(#1\)$/);
      assert.match(lines[19] as string, /\(#20\)$/);
      for (const l of lines) assert.ok(l.length < 300, l);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });

  test("the log rotates at --log-max-size and is reopened on SIGHUP", async () => {
    using tmp = tempDir("rlogrot");
    const fx = writeFixture(tmp.path);
    const d = await startDaemon(tmp.path, { args: ["--log-max-size", "8k"] });
    try {
      for (let i = 0; i < 60; i++) {
        await send(fx.socket, "realmcmd_logmsg", `(err)message ${i} ${"y".repeat(100)}`);
      }
      assert.ok(fs.existsSync(`${fx.logFile}.1`), "rotated to .1");
      assert.ok(fs.statSync(fx.logFile).size <= 8192);
      assert.ok(fs.statSync(`${fx.logFile}.1`).size <= 8192);
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /message 59 /);
      // logrotate moves the file away, then sends SIGHUP.
      fs.renameSync(fx.logFile, `${fx.logFile}.old`);
      process.kill(d.pid, "SIGHUP");
      await waitFor(() => fs.existsSync(fx.logFile), 10_000, "the reopened log");
      assert.match(await send(fx.socket, "realmcmd_logmsg", "(err)after rotation"), /^0 /);
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /after rotation/);
      assert.doesNotMatch(fs.readFileSync(`${fx.logFile}.old`, "utf8"), /after rotation/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
