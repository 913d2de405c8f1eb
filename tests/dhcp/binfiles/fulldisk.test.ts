/**
 * A full disk during an update: a clear error naming the container, and the container left
 * exactly as it was. Needs root to mount a small tmpfs; skipped otherwise.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { changeLogFile } from "../../../lib/dhcp/modules/binfiles/network.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { type TempDir, tempDir } from "../../helpers.ts";
import { rejectsWith } from "../conformance/suite.ts";

const RW = DSVC_READ | DSVC_WRITE;

function tryMount(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", dir], {
      stdio: "pipe",
    });
    return undefined;
  } catch (e) {
    return `cannot mount a tmpfs: ${(e as Error).message.split("\n")[0]}`;
  }
}

describe("SUNWbinfiles on a full disk", () => {
  let tmp: TempDir;
  let mnt: string;
  let skip: string | undefined;

  before(() => {
    tmp = tempDir("binfull");
    mnt = path.join(tmp.path, "mnt");
    fs.mkdirSync(mnt);
    skip = tryMount(mnt);
  });
  after(() => {
    if (!skip) execFileSync("umount", ["-l", mnt]);
    tmp[Symbol.dispose]();
  });

  it("an update that meets a full disk fails clearly and leaves the container unchanged", async (t) => {
    if (skip) return t.skip(skip);
    const s = await openStore({ resource: "SUNWbinfiles", location: mnt }, { synchronizer: null });
    t.after(() => s.close());
    const dn = await s.openNetwork("10.0.0.0", DSVC_CREATE | RW, { netmask: 24 });
    const dt = await s.openDhcptab(DSVC_CREATE | RW);
    await dt.add(makeDtRec("Locale", "m", ":UTCoffst=0:"));
    for (let h = 1; h <= 5; h++) await dn.add(makeDnRec({ cip: 0x0a000000 + h, cid: "00" }));
    const file = path.join(mnt, "SUNWbinfiles1_10_0_0_0");
    // Fill the file system.
    const filler = fs.openSync(path.join(mnt, "filler"), "w");
    const block = Buffer.alloc(4096, 1);
    for (let i = 0; i < 100; i++) {
      try {
        fs.writeSync(filler, block);
      } catch {
        break;
      }
    }
    fs.closeSync(filler);
    const before = fs.readFileSync(file);
    const logBefore = fs.readFileSync(changeLogFile(file));
    // Host 200 lives on a page of the sparse file that was never written.
    const e = await rejectsWith(
      dn.add(makeDnRec({ cip: 0x0a0000c8, cid: "01AB" })),
      DSVC.NO_RESOURCES,
    );
    assert.ok(e.message.includes(file), e.message);
    assert.deepEqual(fs.readFileSync(file), before, "the container is unchanged");
    assert.deepEqual(fs.readFileSync(changeLogFile(file)), logBefore);
    assert.equal((await dn.lookup(qinit(), {})).count, 5);
    // The dhcptab's copy cannot be written either; the old one stays.
    const dtBefore = fs.readFileSync(path.join(mnt, "SUNWbinfiles1_dhcptab"));
    await rejectsWith(dt.add(makeDtRec("Big", "m", `:x=${"y".repeat(8000)}:`)), DSVC.NO_RESOURCES);
    assert.deepEqual(fs.readFileSync(path.join(mnt, "SUNWbinfiles1_dhcptab")), dtBefore);
    assert.ok(!fs.existsSync(path.join(mnt, "SUNWbinfiles1_dhcptab.new")));
    // With room again, the same update goes through.
    fs.rmSync(path.join(mnt, "filler"));
    await dn.add(makeDnRec({ cip: 0x0a0000c8, cid: "01AB" }));
    assert.equal((await dn.lookup(qinit(), {})).count, 6);
    assert.equal(fs.readFileSync(file)[1], 0);
  });
});
