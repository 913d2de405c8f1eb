/**
 * SUNWbinfiles durability settings: durable (the default) flushes before an update is
 * acknowledged, and concurrent updates share one flush (group commit); relaxed never flushes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { makeDnRec } from "../../../lib/dhcp/records.ts";
import {
  DN_QCIP,
  type DnRec,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../../helpers.ts";

type Cb = (e: Error | null) => void;

describe("SUNWbinfiles durability", () => {
  let tmp: TempDir;
  const real = fs.fdatasync;
  let flushes = 0;
  let hold = false;
  const pending: Array<() => void> = [];

  before(() => {
    tmp = tempDir("bindur");
    // Count flushes, and hold each one until the test lets it finish.
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: Cb) => {
      flushes++;
      if (hold) pending.push(() => real(fd, cb));
      else real(fd, cb);
    };
  });
  after(() => {
    (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = real;
    tmp[Symbol.dispose]();
  });

  async function renewals(config: string): Promise<{ flushes: number; acked: number[] }> {
    const location = path.join(tmp.path, config);
    fs.mkdirSync(location);
    const s = await openStore({ resource: "SUNWbinfiles", location, config }, {
      synchronizer: null,
    });
    const dn = await s.openNetwork("10.0.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
      netmask: 24,
    });
    hold = false;
    for (let h = 1; h <= 8; h++) await dn.add(makeDnRec({ cip: 0x0a000000 + h, cid: `01${h}0` }));
    flushes = 0;
    hold = true;
    const acked: number[] = [];
    const all = Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const r = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a000001 + i }))
          .records[0] as DnRec;
        await dn.modify(r, { ...r, lease: 99 });
        acked.push(i);
      }),
    );
    // Let the updates run; no acknowledgement may come before a flush completes.
    for (let spin = 0; spin < 200 && pending.length === 0 && acked.length < 8; spin++) {
      await new Promise((r) => setImmediate(r));
    }
    if (config === "durability=durable") {
      assert.deepEqual(acked, [], "acknowledged before the flush");
    }
    // Release each held flush as it is asked for, until every update is acknowledged. Turns of
    // a short timer, not of setImmediate: a group commit may wait for a timer before it flushes,
    // and on a loaded machine that timer can come after any number of immediate turns.
    const deadline = Date.now() + 20_000;
    while (acked.length < 8) {
      assert.ok(Date.now() < deadline, `only ${acked.length} of 8 updates acknowledged`);
      while (pending.length) (pending.shift() as () => void)();
      await new Promise((r) => setTimeout(r, 1));
    }
    await all;
    hold = false;
    const n = flushes;
    assert.equal((await dn.lookup(qinit(), {})).records.filter((r) => r.lease === 99).length, 8);
    await s.close();
    return { flushes: n, acked };
  }

  it("durable: eight concurrent updates are acknowledged after flushes they share", async () => {
    const r = await renewals("durability=durable");
    assert.equal(r.acked.length, 8);
    assert.ok(r.flushes >= 1 && r.flushes <= 3, `${r.flushes} flushes for 8 updates`);
  });

  it("relaxed: updates never wait for a flush", async () => {
    const r = await renewals("durability=relaxed");
    assert.equal(r.flushes, 0);
  });
});
