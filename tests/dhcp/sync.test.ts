/**
 * Container synchronization: in-process serialization, DSVC_NONBLOCK, lock-manager errors as
 * DSVC codes, and the lock names the framework uses in the real lock manager.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { makeDnRec } from "../../lib/dhcp/records.ts";
import {
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_READ,
  DSVC_WRITE,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import type { Synchronizer, SyncLock } from "../../lib/dhcp/store-api.ts";
import { MemorySynchronizer, withProcessLock } from "../../lib/dhcp/sync.ts";
import { LockClient } from "../../lib/lockd/client.ts";
import { type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";
import { type TestLockd, testLockd } from "./helpers.ts";

const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;

describe("container synchronization", () => {
  let tmp: TempDir;
  let lockd: TestLockd;
  let n = 0;
  before(() => {
    tmp = tempDir("dhcp-sync");
    lockd = testLockd(tmp.path);
  });
  after(async () => {
    await lockd.stop();
    tmp[Symbol.dispose]();
  });

  function loc(): string {
    const l = path.join(tmp.path, `loc${++n}`);
    fs.mkdirSync(l);
    return l;
  }

  it("with inter-process locking off, a busy container still gives BUSY to NONBLOCK calls in this process", async () => {
    await using s = await openStore({ resource: "SUNWfiles", location: loc() }, {
      synchronizer: null,
    });
    assert.equal(s.synchronized, false);
    const net = await s.openNetwork("10.0.0.0", CRW | DSVC_NONBLOCK, { netmask: 24 });
    let release!: () => void;
    const held = withProcessLock(
      s.lockName("10.0.0.0"),
      "shared",
      false,
      () => new Promise<void>((r) => (release = r)),
    );
    // A shared holder lets lookups through but not updates.
    assert.equal((await net.lookup(qinit(), {})).count, 0);
    await rejectsWith(net.add(makeDnRec({ cip: "10.0.0.5" })), DSVC.BUSY);
    release();
    await held;
    await net.add(makeDnRec({ cip: "10.0.0.5" }));
  });

  it("without NONBLOCK an update waits for the holder instead of failing", async () => {
    await using s = await openStore({ resource: "SUNWfiles", location: loc() }, {
      synchronizer: lockd.client,
    });
    const net = await s.openNetwork("10.0.0.0", CRW, { netmask: 24 });
    const h = await lockd.holder.acquire(s.lockName("10.0.0.0"), { mode: "exclusive" });
    let done = false;
    const add = net.add(makeDnRec({ cip: "10.0.0.6" })).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(done, false, "the add waits while the lock is held");
    await h.release();
    await add;
    assert.equal((await net.lookup(qinit(), {})).count, 1);
  });

  it("lock names are <realpath of the location>/<module><version>_<container>", async () => {
    const l = loc();
    // An alias of the same directory (symbolic links need unscoped permissions under Deno).
    const link = `${tmp.path}/./loc${n}/../loc${n}/`;
    await using s = await openStore({ resource: "SUNWfiles", location: link }, {
      synchronizer: lockd.client,
    });
    assert.equal(s.lockName("dhcptab"), `${fs.realpathSync(l)}/SUNWfiles1_dhcptab`);
    assert.equal(s.lockName("10.0.0.0"), `${fs.realpathSync(l)}/SUNWfiles1_10.0.0.0`);
    // The framework's own lock shows up in the lock manager under that name while it is held.
    const net = await s.openNetwork("10.0.0.0", CRW, { netmask: 24 });
    const seen: string[] = [];
    const spy: Synchronizer = {
      async acquire(name, o): Promise<SyncLock> {
        const h = await lockd.client.acquire(name, { mode: o.mode });
        const st = await lockd.client.status();
        seen.push(...st.locks.map((x: { name: string }) => x.name));
        return h;
      },
      close() {},
    };
    await using s2 = await openStore({ resource: "SUNWfiles", location: link }, {
      synchronizer: spy,
    });
    const net2 = await s2.openNetwork("10.0.0.0", DSVC_READ, { netmask: 24 });
    await net2.lookup(qinit(), {});
    assert.ok(seen.includes(s.lockName("10.0.0.0")), JSON.stringify(seen));
    await net.close();
  });

  it("an unreachable lock manager is NO_LOCKMGR and other lock errors are SYNCH_ERR", async () => {
    const dead = new LockClient({ runDir: path.join(tmp.path, "no-daemon"), autoStart: false });
    fs.mkdirSync(path.join(tmp.path, "no-daemon"), { mode: 0o700 });
    await using s = await openStore({ resource: "SUNWfiles", location: loc() }, {
      synchronizer: dead,
    });
    const dt = await s.openDhcptab(CRW);
    const down = await rejectsWith(dt.lookup(qinit(), {}), DSVC.NO_LOCKMGR);
    assert.equal(down.message.match(/Cannot contact lock manager/g)?.length, 1, down.message);
    const broken: Synchronizer = {
      acquire: () =>
        Promise.reject(Object.assign(new Error("protocol trouble"), { code: "PROTOCOL" })),
      close() {},
    };
    await using s2 = await openStore({ resource: "SUNWfiles", location: s.datastore.location }, {
      synchronizer: broken,
    });
    const dt2 = await s2.openDhcptab(DSVC_READ);
    const e = await rejectsWith(dt2.lookup(qinit(), {}), DSVC.SYNCH_ERR);
    assert.match(e.message, /protocol trouble/);
    dead.close();
  });

  it("a memory synchronizer serializes two stores of one process like the lock manager", async () => {
    const sync = new MemorySynchronizer();
    const l = loc();
    await using a = await openStore({ resource: "SUNWfiles", location: l }, { synchronizer: sync });
    await using b = await openStore({ resource: "SUNWfiles", location: l }, { synchronizer: sync });
    const na = await a.openNetwork("10.0.0.0", CRW, { netmask: 24 });
    const nb = await b.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 24 });
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 ? na : nb).add(makeDnRec({ cip: `10.0.0.${i + 1}` })),
      ),
    );
    assert.equal((await na.lookup(qinit(), {})).count, 20);
  });
});
