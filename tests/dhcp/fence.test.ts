/**
 * A write whose lock was lost must not commit: every container write checks its lock's fence
 * right before the rename (or unlink) that makes it visible, and only replaces the version of
 * the file it read. With the lock manager killed with SIGKILL again and again under a
 * multi-process write load, every acknowledged update is in the container exactly once.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { dnHeader } from "../../lib/dhcp/modules/files/format.ts";
import { ipToString, makeDnRec, makeDtRec } from "../../lib/dhcp/records.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../lib/dhcp/spi.ts";
import type { Synchronizer, SyncLock } from "../../lib/dhcp/store-api.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { alive, requireBinary, ROOT, type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";
import { scriptCommand, testLockd } from "./helpers.ts";

const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;
const RW = DSVC_READ | DSVC_WRITE;
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "fence", "load-worker.ts");

/** A synchronizer granting every lock, whose locks run `onVerify` and then pass or fail. */
function fakeSync(onVerify: () => Promise<void>): Synchronizer {
  return {
    acquire: (): Promise<SyncLock> =>
      Promise.resolve({ release: () => Promise.resolve(), verify: onVerify }),
    close() {},
  };
}

const lost = () =>
  Promise.reject(Object.assign(new Error("the lock manager went away"), { code: "SYNCH_ERR" }));

function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

describe("commit fence", () => {
  let tmp: TempDir;
  let n = 0;
  before(() => (tmp = tempDir("dhcp-fence")));
  after(() => tmp[Symbol.dispose]());

  function loc(): string {
    const l = path.join(tmp.path, `loc${++n}`);
    fs.mkdirSync(l);
    return l;
  }

  it("a writer whose lock is lost before its rename does not commit and leaves the container untouched", async () => {
    const location = loc();
    {
      await using s = await openStore({ resource: "SUNWfiles", location }, { synchronizer: null });
      const dn = await s.openNetwork("10.0.0.0", CRW, { netmask: 24 });
      await dn.add(makeDnRec({ cip: "10.0.0.5", sip: "10.0.0.1" }));
      const dt = await s.openDhcptab(CRW);
      await dt.add(makeDtRec("Locale", "m", ":UTCoffst=0:"));
    }
    const before = new Map(
      listing(location).map((f) => [f, fs.readFileSync(path.join(location, f))]),
    );
    await using s = await openStore({ resource: "SUNWfiles", location }, {
      synchronizer: fakeSync(lost),
    });
    const dn = await s.openNetwork("10.0.0.0", RW, { netmask: 24 });
    const dt = await s.openDhcptab(RW);
    const rec = (await dn.lookup(qinit(), {})).records[0];
    assert.ok(rec);
    const mac = (await dt.lookup(qinit(), {})).records[0];
    assert.ok(mac);
    await rejectsWith(dn.add(makeDnRec({ cip: "10.0.0.6", sip: "10.0.0.1" })), DSVC.SYNCH_ERR);
    await rejectsWith(dn.modify(rec, { ...rec, lease: 99 }), DSVC.SYNCH_ERR);
    await rejectsWith(dn.delete(rec), DSVC.SYNCH_ERR);
    await rejectsWith(dt.add(makeDtRec("Other", "m", ":Hostname:")), DSVC.SYNCH_ERR);
    await rejectsWith(dt.modify(mac, { ...mac, value: ":UTCoffst=1:" }), DSVC.SYNCH_ERR);
    await rejectsWith(dt.delete(mac), DSVC.SYNCH_ERR);
    await rejectsWith(s.removeNetwork("10.0.0.0"), DSVC.SYNCH_ERR);
    await rejectsWith(s.removeDhcptab(), DSVC.SYNCH_ERR);
    assert.deepEqual(listing(location), [...before.keys()], "no file added or removed");
    for (const [f, content] of before) {
      assert.deepEqual(fs.readFileSync(path.join(location, f)), content, `${f} unchanged`);
    }
  });

  it("a write refuses to replace a container another writer changed after it was read", async () => {
    const location = loc();
    const file = path.join(location, "SUNWfiles1_10_0_0_0");
    {
      await using s0 = await openStore({ resource: "SUNWfiles", location }, {
        synchronizer: null,
      });
      await (await s0.openNetwork("10.0.0.0", CRW, { netmask: 24 })).close();
    }
    // The fence passes, but meanwhile a writer that believes it holds the lock commits its copy.
    const theirs = "10.0.0.7|00|00|10.0.0.1|0|281474976710657||\n";
    await using s = await openStore({ resource: "SUNWfiles", location }, {
      synchronizer: fakeSync(() => {
        fs.writeFileSync(`${file}.other`, fs.readFileSync(file, "utf8") + theirs);
        fs.renameSync(`${file}.other`, file);
        return Promise.resolve();
      }),
    });
    const dn = await s.openNetwork("10.0.0.0", RW, { netmask: 24 });
    const e = await rejectsWith(
      dn.add(makeDnRec({ cip: "10.0.0.8", sip: "10.0.0.1" })),
      DSVC.SYNCH_ERR,
    );
    assert.match(e.message, /changed by another writer/);
    assert.ok(fs.readFileSync(file, "utf8").endsWith(theirs), "the other writer's record survives");
    assert.doesNotMatch(fs.readFileSync(file, "utf8"), /10\.0\.0\.8/, "ours is not written");
    assert.deepEqual(fs.readdirSync(location).filter((f) => f.endsWith(".new")), []);
  });

  it("a write whose lock manager is killed after granting the lock fails with DSVC_SYNCH_ERR", async () => {
    const location = loc();
    const lockd = testLockd(location);
    try {
      // Kill the lock manager right after it grants, before the writer reaches its rename.
      const sync: Synchronizer = {
        async acquire(name, options) {
          const h = await lockd.client.acquire(name, options);
          const pid = lockd.client.daemonPid;
          assert.ok(pid > 0 && alive(pid));
          process.kill(pid, "SIGKILL");
          for (let i = 0; i < 500 && h.held; i++) await sleep(10);
          return h;
        },
        close() {},
      };
      {
        await using s0 = await openStore({ resource: "SUNWfiles", location }, {
          synchronizer: null,
        });
        await (await s0.openNetwork("10.0.0.0", CRW, { netmask: 24 })).close();
      }
      const file = path.join(location, "SUNWfiles1_10_0_0_0");
      const content = fs.readFileSync(file);
      await using s = await openStore({ resource: "SUNWfiles", location }, { synchronizer: sync });
      const dn = await s.openNetwork("10.0.0.0", RW, { netmask: 24 });
      const e = await rejectsWith(
        dn.add(makeDnRec({ cip: "10.0.0.9", sip: "10.0.0.1" })),
        DSVC.SYNCH_ERR,
      );
      assert.match(e.message, /lock was lost/);
      assert.deepEqual(fs.readFileSync(file), content, "the container is untouched");
    } finally {
      await lockd.stop();
    }
  });

  it("every update acknowledged while the lock manager is killed with SIGKILL 50 times is stored exactly once", async () => {
    const location = loc();
    const runDir = path.join(location, "run");
    fs.mkdirSync(runDir, { mode: 0o700 });
    // A large container: 20,000 records in 10.0.0.0/16, ~1.3 MB rewritten by every update.
    const prefill = 20_000;
    const lines: string[] = [dnHeader("SUNWfiles", 1, (10 << 24) >>> 0)];
    for (let i = 0; i < prefill; i++) {
      const ip = ipToString(((10 << 24) | (100 << 8) + i) >>> 0);
      lines.push(`${ip}|00|00|10.0.0.1|0|${281474976710657n + BigInt(i)}|pre|\n`);
    }
    fs.writeFileSync(path.join(location, "SUNWfiles1_10_0_0_0"), lines.join(""));
    const workers = 4;
    const procs = Array.from({ length: workers }, (_, w) => {
      const c = scriptCommand(worker, [location, runDir, String(w + 1)]);
      const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
      const state = { out: "", err: "", child };
      child.stdout.on("data", (d) => (state.out += d));
      child.stderr.on("data", (d) => (state.err += d));
      return state;
    });
    const closed = procs.map((p) => new Promise<void>((r) => p.child.on("close", () => r())));
    const acked = () => procs.reduce((k, p) => k + (p.out.match(/^(add|mod) /gm)?.length ?? 0), 0);
    // The test runs the lock managers itself, from the binary (it starts in a fraction of the
    // time a source start takes on a loaded machine), and kills each one with SIGKILL once it
    // has served at least one acknowledged write.
    const binary = requireBinary();
    let kills = 0;
    const deadline = Date.now() + 100_000;
    try {
      while (kills < 50) {
        const seen = acked();
        const lockd = spawn(binary, ["lockd", "--foreground", "--run-dir", runDir], {
          stdio: "ignore",
        });
        const gone = new Promise<void>((r) => lockd.on("exit", () => r()));
        while (acked() <= seen && lockd.exitCode === null && Date.now() < deadline) {
          const dead = procs.find((p) => p.child.exitCode !== null);
          if (dead) assert.fail(`a writer exited: ${dead.err.slice(0, 2000)}`);
          await sleep(5);
        }
        if (acked() <= seen) {
          lockd.kill("SIGKILL");
          await gone;
          assert.fail(`no progress after ${kills} kills (${acked()} acknowledged)`);
        }
        await sleep(Math.floor(Math.random() * 30));
        lockd.kill("SIGKILL");
        await gone;
        kills++;
      }
    } finally {
      for (const p of procs) p.child.stdin.end();
      const stop = setTimeout(() => procs.forEach((p) => p.child.kill("SIGKILL")), 20_000);
      await Promise.all(closed);
      clearTimeout(stop);
    }
    // What the writers were told succeeded, in order per writer (each owns its addresses).
    const adds = new Set<string>();
    const leases = new Map<string, number>();
    let fails = 0;
    for (const p of procs) {
      assert.match(p.out, /^done$/m, `writer finished cleanly: ${p.err.slice(0, 2000)}`);
      for (const line of p.out.split("\n")) {
        const [what, ip, lease] = line.split(" ");
        if (what === "add") adds.add(ip as string);
        if (what === "mod") leases.set(ip as string, Number(lease));
        if (what === "fail") {
          fails++;
          assert.doesNotMatch(line, /^fail 1 /, `an add that failed had landed: ${line}`);
        }
      }
    }
    const raw = fs.readFileSync(path.join(location, "SUNWfiles1_10_0_0_0"), "utf8");
    const cips = raw.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) =>
      l.slice(0, l.indexOf("|"))
    );
    assert.equal(new Set(cips).size, cips.length, "no address is stored twice");
    await using s = await openStore({ resource: "SUNWfiles", location }, { synchronizer: null });
    const dn = await s.openNetwork("10.0.0.0", DSVC_READ, { netmask: 16 });
    const stored = new Map(
      (await dn.lookup(qinit(), {})).records.map((r) => [ipToString(r.cip), r]),
    );
    assert.equal(stored.size, prefill + adds.size, "exactly the prefill and the acknowledged adds");
    for (const ip of adds) assert.ok(stored.has(ip), `acknowledged add ${ip} is stored`);
    for (const [ip, lease] of leases) {
      assert.equal(stored.get(ip)?.lease, lease, `last acknowledged lease of ${ip}`);
    }
    assert.ok(adds.size > 20, `the writers made progress (${adds.size} adds, ${fails} refused)`);
    assert.deepEqual(fs.readdirSync(location).filter((f) => f.endsWith(".new")), []);
  });
});
