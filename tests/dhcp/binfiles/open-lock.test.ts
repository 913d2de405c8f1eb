/**
 * Opening a SUNWbinfiles network loads its indexes from the container without the container's
 * lock (as upstream's open, which does not wait for a busy container), so it may read another
 * process's update half done. It must not call the container damaged for that: before, such an
 * open failed with "damaged: … on no chain" (seen in the kill -9 test). The first call, under the
 * lock, loads it again and reports only damage that is really there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Buffer } from "node:buffer";
import { makeDnRec } from "../../../lib/dhcp/records.ts";
import { DN_QCIP, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qeq, qinit } from "../../../lib/dhcp/spi.ts";
import { DN_HEADER_SIZE } from "../../../lib/dhcp/modules/binfiles/format.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../../helpers.ts";
import { type TestLockd, testLockd } from "../helpers.ts";

const NET = 0x0a000000;

describe("SUNWbinfiles open beside an update in progress", () => {
  let tmp: TempDir;
  let lockd: TestLockd;
  before(() => {
    tmp = tempDir("binopen");
    lockd = testLockd(tmp.path);
  });
  after(async () => {
    await lockd.stop();
    tmp[Symbol.dispose]();
  });

  it("an open racing another process's update is not refused; its first call sees the whole container", async () => {
    const location = path.join(tmp.path, "network");
    fs.mkdirSync(location, { mode: 0o755 });
    await using setup = await openStore({ resource: "SUNWbinfiles", location }, {
      synchronizer: lockd.client,
    });
    {
      await using dn = await setup.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE | DSVC_CREATE, {
        netmask: 26,
      });
      await dn.add(makeDnRec({ cip: NET + 5, comment: "kept" }));
    }
    const [file] = fs.readdirSync(location).filter((f) => f.startsWith("SUNWbinfiles"));
    assert.ok(file, `no container in ${location}`);
    const full = path.join(location, file);
    const good = fs.readFileSync(full);

    // Another process's update: it holds the exclusive lock, the records half written meanwhile
    // (here: every record slot zeroed, so the chains lead to records not in use).
    const update = await lockd.holder.acquire(setup.lockName("10.0.0.0"), { mode: "exclusive" });
    const torn = Buffer.from(good);
    torn.fill(0, DN_HEADER_SIZE);
    fs.writeFileSync(full, torn);

    await using reader = await openStore({ resource: "SUNWbinfiles", location }, {
      lockd: { runDir: lockd.runDir },
    });
    // As upstream's, the open does not wait for the busy container, and it must not call the
    // container damaged for what the update will finish.
    await using dn = await reader.openNetwork("10.0.0.0", DSVC_READ, { netmask: 26 });
    const looking = dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + 5 });
    // The update completes (the file whole again) and lets go; the lookup ran under the lock.
    fs.writeFileSync(full, good);
    await update.release();
    const found = (await looking).records;
    assert.equal(found.length, 1);
    assert.equal(found[0]?.comment, "kept");
  });

  it("damage that is really there is reported by the first call", async () => {
    const location = path.join(tmp.path, "damaged");
    fs.mkdirSync(location, { mode: 0o755 });
    await using setup = await openStore({ resource: "SUNWbinfiles", location }, {
      synchronizer: lockd.client,
    });
    {
      await using dn = await setup.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE | DSVC_CREATE, {
        netmask: 26,
      });
      await dn.add(makeDnRec({ cip: NET + 5 }));
    }
    const [file] = fs.readdirSync(location).filter((f) => f.startsWith("SUNWbinfiles"));
    const full = path.join(location, file as string);
    const torn = fs.readFileSync(full);
    torn.fill(0, DN_HEADER_SIZE);
    fs.writeFileSync(full, torn);
    await using reader = await openStore({ resource: "SUNWbinfiles", location }, {
      lockd: { runDir: lockd.runDir },
    });
    let opened: Awaited<ReturnType<typeof reader.openNetwork>> | undefined;
    try {
      opened = await reader.openNetwork("10.0.0.0", DSVC_READ, { netmask: 26 });
      await opened.lookup(qinit(), {});
      assert.fail("a damaged container answered");
    } catch (e) {
      assert.match((e as Error).message, /damaged: .*not in use/);
    } finally {
      await opened?.close();
    }
  });
});
