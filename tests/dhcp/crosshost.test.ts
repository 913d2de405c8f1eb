/**
 * SUNWfiles declares DSVC_SYNCH_CROSSHOST: two stores whose lock managers run in different run
 * directories stand for two hosts sharing one location (over NFS in production); only the host
 * lock `<location>/.SUNWfiles1_<container>.lock` keeps their updates apart.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeDnRec, parseIp } from "../../lib/dhcp/records.ts";
import {
  DN_QCIP,
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";
import { runScript, type TestLockd, testLockd } from "./helpers.ts";

const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;
const here = path.dirname(fileURLToPath(import.meta.url));

describe("crosshost synchronization of SUNWfiles", () => {
  let tmp: TempDir;
  let hostA: TestLockd;
  let hostB: TestLockd;
  let n = 0;
  before(() => {
    tmp = tempDir("dhcp-crosshost");
    fs.mkdirSync(path.join(tmp.path, "a"));
    fs.mkdirSync(path.join(tmp.path, "b"));
    hostA = testLockd(path.join(tmp.path, "a"));
    hostB = testLockd(path.join(tmp.path, "b"));
  });
  after(async () => {
    await Promise.all([hostA.stop(), hostB.stop()]);
    tmp[Symbol.dispose]();
  });

  function loc(): string {
    const l = path.join(tmp.path, `loc${++n}`);
    fs.mkdirSync(l);
    return l;
  }

  it("a host lock held by another host makes a NONBLOCK update BUSY; the lock file sits in the location", async () => {
    const location = loc();
    await using a = await openStore({ resource: "SUNWfiles", location }, {
      synchronizer: hostA.client,
    });
    await using b = await openStore({ resource: "SUNWfiles", location }, {
      synchronizer: hostB.client,
    });
    assert.equal(a.crosshost, true);
    const net = await b.openNetwork("10.0.0.0", CRW | DSVC_NONBLOCK, { netmask: 24 });
    await net.add(makeDnRec({ cip: "10.0.0.5" }));
    const file = path.join(fs.realpathSync(location), ".SUNWfiles1_10.0.0.0.lock");
    assert.equal(fs.lstatSync(file).mode & 0o777, 0o600);
    // Host A's lock manager holds the container; host B's has never heard of it.
    const h = await hostA.holder.acquire(a.lockName("10.0.0.0"), { crosshost: true });
    await rejectsWith(net.add(makeDnRec({ cip: "10.0.0.6" })), DSVC.BUSY);
    await rejectsWith(net.lookup(qinit(), {}), DSVC.BUSY);
    await h.release();
    // Without NONBLOCK: host A may keep its unused host lock for a short linger.
    const wait = await b.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE);
    await wait.add(makeDnRec({ cip: "10.0.0.6" }));
    assert.equal((await wait.lookup(qinit(), {})).count, 2);
    await wait.close();
    await net.close();
    assert.ok(fs.existsSync(file), "the lock file stays");
  });

  it("two hosts incrementing one record with modify and retry on COLLISION lose no update", async () => {
    const location = loc();
    {
      await using s = await openStore({ resource: "SUNWfiles", location }, {
        synchronizer: hostA.client,
      });
      const net = await s.openNetwork("10.0.0.0", CRW, { netmask: 24 });
      await net.add(makeDnRec({ cip: "10.0.0.9", lease: 0 }));
      await net.close();
    }
    const tasks = 3;
    const rounds = 20;
    const worker = path.join(here, "fixtures", "crosshost-worker.ts");
    const results = await Promise.all(
      [hostA.runDir, hostB.runDir].map((runDir) =>
        runScript(worker, [location, runDir, "10.0.0.0", "10.0.0.9", String(tasks), String(rounds)])
      ),
    );
    let done = 0;
    for (const r of results) {
      assert.equal(r.code, 0, `worker failed: ${r.stderr}`);
      done += JSON.parse(r.stdout.trim().split("\n").pop() as string).done as number;
    }
    assert.equal(done, 2 * tasks * rounds);
    await using s = await openStore({ resource: "SUNWfiles", location }, { synchronizer: null });
    const net = await s.openNetwork("10.0.0.0", DSVC_READ);
    const found = await net.lookup(qeq(qinit(), DN_QCIP), { cip: parseIp("10.0.0.9") as number });
    assert.equal(found.records[0]?.lease, 2 * tasks * rounds, "every increment landed");
    await net.close();
    assert.ok(fs.existsSync(path.join(fs.realpathSync(location), ".SUNWfiles1_10.0.0.0.lock")));
  });
});
