/**
 * Lock caching in the dhcp framework (on by default for the framework's own lock client):
 * SUNWbinfiles passes the conformance suite with caching on (case 20 runs its worker processes
 * with caching too); another process's change is seen by a busy process on its next lookup; a
 * cached holder killed with SIGKILL releases at once; a cross-host lock (SUNWfiles) is never
 * kept; `verify()` of a grant the lock manager lost rejects.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeDnRec } from "../../../lib/dhcp/records.ts";
import { DN_QCIP, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qeq, qinit } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import type { DhcpStore, DnContainer } from "../../../lib/dhcp/store-api.ts";
import { LockClient } from "../../../lib/lockd/client.ts";
import {
  collect,
  exited,
  ROOT,
  runSteward,
  type TempDir,
  tempDir,
  testPermissions,
  waitFor,
} from "../../helpers.ts";
import { conformanceSuite } from "../conformance/suite.ts";
import { scriptCommand, type TestLockd, testLockd } from "../helpers.ts";

conformanceSuite("SUNWbinfiles version 1, lock caching on", () => ({
  resource: "SUNWbinfiles",
  conver: 1,
}), { lockCache: true });

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "cache-worker.ts");
const NET = 0x0a090000; // 10.9.0.0/24
const HOSTS = 16;
const ip = (n: number) => `10.9.0.${n}`;

describe("dhcp lock caching across processes", () => {
  let tmp: TempDir;
  let lockd: TestLockd;
  let location: string;
  let store: DhcpStore;
  let dn: DnContainer;
  let lockName: string;

  before(async () => {
    tmp = tempDir("bincache");
    lockd = testLockd(tmp.path);
    location = path.join(tmp.path, "store");
    fs.mkdirSync(location);
    // The framework's own lock client: caching is the default.
    store = await openStore({ resource: "SUNWbinfiles", location }, {
      lockd: { runDir: lockd.runDir },
    });
    dn = await store.openNetwork("10.9.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
      netmask: 24,
    });
    for (let i = 1; i <= HOSTS; i++) {
      await dn.add(
        makeDnRec({ cip: NET + i, cid: `01AA00${i.toString(16).padStart(2, "0")}`, lease: 1000 }),
      );
    }
    lockName = store.lockName(dn.name);
  });
  after(async () => {
    await store.close();
    await lockd.stop();
    tmp[Symbol.dispose]();
  });

  const holders = async () =>
    (await lockd.holder.status()).locks.find((l) => l.name === lockName)?.holders ?? [];
  const waiters = async () =>
    (await lockd.holder.status()).locks.find((l) => l.name === lockName)?.waiters ?? [];
  const lease = async (n: number) =>
    (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + n })).records[0]?.lease;

  it("caching is on by default: the container's lock stays with the process after a lookup", async () => {
    assert.equal(await lease(1), 1000);
    const h = await holders();
    assert.equal(h.length, 1, "the idle process still holds its cached grant");
    assert.equal(h[0]?.pid, process.pid);
  });

  it("a busy process sees another process's modification on its next lookup", async () => {
    const target = 2;
    let stop = false;
    let lookups = 0;
    const deadline = Date.now() + 20_000;
    // The busy process: lookups back to back, each value the old or the new one, never another.
    const busy = (async () => {
      while (!stop && Date.now() < deadline && lookups < 1_000_000) {
        const v = await lease(target);
        lookups++;
        assert.ok(v === 1000 || v === 4242, `unexpected lease ${String(v)}`);
        if (lookups % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const c = scriptCommand(worker, ["modify", location, lockd.runDir, ip(target), "4242"]);
    const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const out = collect(child);
    const r = await exited(child, 20_000);
    const before = lookups;
    try {
      assert.equal(r.code, 0, `modifier failed: ${out.stderr()}`);
      assert.equal(out.stdout().trim(), "ok");
      // The modification is acknowledged: the very next lookup must see it.
      assert.equal(await lease(target), 4242);
    } finally {
      stop = true;
      await busy;
    }
    assert.ok(before > 0, "the busy process looked up while the other process worked");
  });

  it("a busy process sees a change made by steward dhcp pntadm -M on its next lookup", async () => {
    const target = 4;
    const comment = async () =>
      (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + target })).records[0]?.comment;
    assert.equal(await comment(), "");
    let stop = false;
    let lookups = 0;
    const deadline = Date.now() + 30_000;
    let before = 0;
    const busy = (async () => {
      while (!stop && Date.now() < deadline && lookups < 1_000_000) {
        const c = await comment();
        lookups++;
        assert.ok(c === "" || c === "changed", `unexpected comment ${String(c)}`);
        if (lookups % 64 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const netmasks = path.join(tmp.path, "netmasks");
    fs.writeFileSync(netmasks, "10.9.0.0\t255.255.255.0\n");
    const r = await runSteward([
      "dhcp",
      "pntadm",
      "-r",
      "SUNWbinfiles",
      "-p",
      location,
      "-M",
      ip(target),
      "-c",
      "changed",
      "10.9.0.0",
    ], {
      env: {
        STEWARD_RUN_DIR: lockd.runDir,
        STEWARD_DHCPSVC_CONF: path.join(tmp.path, "no-dhcpsvc.conf"),
        // 10.9.0.0 is a /24 here, as the administrator's netmasks file says.
        STEWARD_NETMASKS: netmasks,
      },
      permissions: testPermissions(tmp.path, {
        unixSockets: [path.join(lockd.runDir, "lockd.sock")],
      }),
      timeoutMs: 30_000,
    }).finally(() => (before = lookups));
    try {
      assert.equal(r.code, 0, `pntadm failed: ${r.stderr}`);
      assert.equal(await comment(), "changed", "the next lookup sees the change");
    } finally {
      stop = true;
      await busy;
    }
    assert.ok(before > 0, "the busy process looked up while pntadm ran");
  });

  it("a cached holder killed with SIGKILL releases the lock at once", async () => {
    const c = scriptCommand(worker, ["hold", location, lockd.runDir, ip(3)]);
    const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    const out = collect(child);
    try {
      await waitFor(() => out.stdout().includes("held"), 20_000, `the holder (${out.stderr()})`);
      // The holder now keeps its (exclusive) grant; stopped, it cannot answer the revoke.
      const h = await holders();
      assert.deepEqual(h.map((x) => x.pid), [child.pid], "the holder caches the grant");
      process.kill(child.pid as number, "SIGSTOP");
      const looked = lease(3);
      await waitFor(async () => (await waiters()).length === 1, 10_000, "our lookup to queue");
      const t0 = Date.now();
      process.kill(child.pid as number, "SIGKILL");
      assert.equal(await looked, 1001, "the lookup ran after the holder's renewal");
      const ms = Date.now() - t0;
      assert.ok(ms < 3000, `granted ${ms} ms after the kill`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited(child);
    }
  });

  it("verify() of a cached grant rejects once the lock manager is gone", async () => {
    const runDir = path.join(tmp.path, "run2");
    fs.mkdirSync(runDir, { mode: 0o700 });
    const client = new LockClient({ runDir, cache: true });
    try {
      const h = await client.acquire("dhcp/verify-test", { mode: "exclusive" });
      await h.verify();
      await h.release();
      // Cached, not used: the next use shares the grant without a round trip.
      const again = await client.acquire("dhcp/verify-test", { mode: "exclusive" });
      await again.verify();
      process.kill(client.daemonPid, "SIGKILL");
      await waitFor(() => !again.held, 10_000, "the lost connection to be noticed");
      await assert.rejects(again.verify());
      await again.release().catch(() => {});
    } finally {
      client.close();
    }
  });

  it("a cross-host lock (SUNWfiles) is never kept after the operation", async () => {
    const floc = path.join(tmp.path, "files");
    fs.mkdirSync(floc);
    const fs1 = await openStore({ resource: "SUNWfiles", location: floc }, {
      lockd: { runDir: lockd.runDir },
    });
    try {
      const fdn = await fs1.openNetwork("10.9.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
        netmask: 24,
      });
      await fdn.add(makeDnRec({ cip: NET + 1, lease: 5 }));
      assert.equal((await fdn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + 1 })).count, 1);
      const name = fs1.lockName(fdn.name);
      const st = await lockd.holder.status();
      assert.equal(
        st.locks.find((l) => l.name === name),
        undefined,
        "nothing held after the lookup",
      );
      await fdn.close();
    } finally {
      await fs1.close();
    }
  });
});
