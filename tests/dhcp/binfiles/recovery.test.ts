/**
 * SUNWbinfiles crash safety at every write (upstream's test-spec robustness requirement,
 * dhcp_network.c:77-94): each kind of update is cut short after its k-th write, for every k;
 * the container then reads as either the old or the new state, and the next update's recovery
 * pass leaves it clean, with both images equal and no phantom record (upstream flaw F1).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { cidFromHex, cidToHex, makeDnRec } from "../../../lib/dhcp/records.ts";
import { NetworkFile } from "../../../lib/dhcp/modules/binfiles/network.ts";
import { type DnRec, qinit } from "../../../lib/dhcp/spi.ts";
import { type TempDir, tempDir } from "../../helpers.ts";

const NET = 0x0a000000;
const MASK = 0xffffff00;

function snapshot(nf: NetworkFile): string[] {
  const all = nf.lookup({
    query: qinit(),
    target: makeDnRec({ cip: 0 }),
    partial: false,
    count: -1,
    countOnly: false,
  });
  return all.records.map((r) =>
    `${r.cip}|${cidToHex(r.cid)}|${r.flags}|${r.lease}|${r.macro}|${r.comment}`
  ).sort();
}

function rec(nf: NetworkFile, host: number): DnRec {
  const r = nf.lookup({
    query: 0x00020002,
    target: makeDnRec({ cip: NET + host }),
    partial: false,
    count: -1,
    countOnly: false,
  }).records[0];
  assert.ok(r, `record ${host} exists`);
  return { ...r, cid: Uint8Array.from(r.cid) };
}

type Op = (nf: NetworkFile) => void;

const OPS: Array<[string, Op]> = [
  [
    "add a free record (head of the cid-00 chain)",
    (nf) => nf.add(makeDnRec({ cip: NET + 30, cid: "00" })),
  ],
  ["add a client record", (nf) => nf.add(makeDnRec({ cip: NET + 31, cid: "01AABBCCDDEE01" }))],
  ["delete a chain's middle record", (nf) => nf.delete(rec(nf, 11))],
  ["delete a chain's head", (nf) => nf.delete(rec(nf, 14))],
  ["delete a chain's tail", (nf) => nf.delete(rec(nf, 10))],
  ["modify the lease (same slot, same chain)", (nf) => {
    const r = rec(nf, 20);
    nf.modify(r, { ...r, lease: r.lease + 3600 });
  }],
  ["modify the client ID (same slot, another chain)", (nf) => {
    const r = rec(nf, 12);
    nf.modify(r, { ...r, cid: cidFromHex("01DEADBEEF") as Uint8Array, lease: 99 });
  }],
  ["modify the address (another slot, same chain)", (nf) => {
    const r = rec(nf, 21);
    nf.modify(r, { ...r, cip: NET + 40 });
  }],
  ["modify address and client ID (another slot, another chain)", (nf) => {
    const r = rec(nf, 13);
    nf.modify(r, { ...r, cip: NET + 41, cid: cidFromHex("01CAFE") as Uint8Array });
  }],
];

describe("SUNWbinfiles recovery", () => {
  let tmp: TempDir;
  let fixture: string;
  let canPatch = true;
  const realWrite = fs.writeSync;

  before(() => {
    tmp = tempDir("binrec");
    fixture = path.join(tmp.path, "fixture");
    fs.mkdirSync(fixture);
    const nf = NetworkFile.open(path.join(fixture, "SUNWbinfiles1_10_0_0_0"), NET, MASK, {
      writable: true,
      create: true,
      durable: false,
    });
    for (let h = 10; h <= 14; h++) nf.add(makeDnRec({ cip: NET + h, cid: "00", macro: `m${h}` }));
    nf.add(makeDnRec({ cip: NET + 20, cid: "01AABBCCDDEE20", lease: 1000 }));
    nf.add(makeDnRec({ cip: NET + 21, cid: "01AABBCCDDEE21", comment: "c21" }));
    void nf.close();
    try {
      const f = fs as { writeSync: typeof fs.writeSync };
      f.writeSync = realWrite;
    } catch {
      canPatch = false;
    }
  });

  after(() => {
    (fs as { writeSync: typeof fs.writeSync }).writeSync = realWrite;
    tmp[Symbol.dispose]();
  });

  /** A fresh copy of the fixture; returns its container file. */
  let copies = 0;
  function copy(): string {
    const dir = path.join(tmp.path, `c${++copies}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, "SUNWbinfiles1_10_0_0_0");
    fs.copyFileSync(path.join(fixture, "SUNWbinfiles1_10_0_0_0"), file);
    return file;
  }

  function open(file: string): NetworkFile {
    return NetworkFile.open(file, NET, MASK, { writable: true, create: false, durable: false });
  }

  /** Run `op`, letting only the first `keep` writes through (Infinity: all); count them. */
  function run(file: string, op: Op, keep: number): number {
    const nf = open(file);
    let writes = 0;
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, ...rest: unknown[]) => {
      writes++;
      // A process killed here: nothing after this write reaches the file.
      if (writes > keep) return (rest[1] as number | undefined) ?? buf.length;
      return (realWrite as (...a: unknown[]) => number)(fd, buf, ...rest);
    };
    try {
      op(nf);
    } finally {
      (fs as { writeSync: typeof fs.writeSync }).writeSync = realWrite;
      void nf.close();
    }
    return writes;
  }

  for (const [name, op] of OPS) {
    it(`${name}: cut after every write, the container holds the old or the new state and recovers`, (t) => {
      if (!canPatch) {
        t.skip("fs.writeSync cannot be replaced in this runtime");
        return;
      }
      const ref = copy();
      const read = (f: string) => {
        const nf = open(f);
        const s = snapshot(nf);
        void nf.close();
        return s;
      };
      const old = read(ref);
      const writes = run(ref, op, Infinity);
      const next = read(ref);
      assert.notDeepEqual(next, old);
      assert.ok(writes >= 4, `${writes} writes`);
      for (let k = 0; k < writes; k++) {
        const file = copy();
        run(file, op, k);
        // Upstream recovers only a dirty container: whatever changed, the dirty byte says so.
        const cut = fs.readFileSync(file);
        if (!cut.equals(fs.readFileSync(path.join(fixture, "SUNWbinfiles1_10_0_0_0")))) {
          assert.equal(cut[1], 1, `cut after write ${k}: changed but not marked dirty`);
        }
        const seen = open(file);
        const s = snapshot(seen);
        assert.ok(
          JSON.stringify(s) === JSON.stringify(old) || JSON.stringify(s) === JSON.stringify(next),
          `cut after write ${k}: neither the old nor the new state:\n${s.join("\n")}`,
        );
        // The next update runs the recovery pass; afterwards everything is clean and equal.
        seen.add(makeDnRec({ cip: NET + 200, cid: "01FEEDFACE" }));
        void seen.close();
        const b = fs.readFileSync(file);
        assert.equal(b[1], 0, "clean after the next update");
        assert.equal(b[3], 0x80, "temporary record retired");
        const again = open(file);
        assert.equal(again.report.damage.length, 0, again.report.damage.join("; "));
        assert.equal(again.report.imageDiffs, 0, "both images equal");
        assert.equal(again.report.headDiffs, 0, "both hash-head images equal");
        const after = snapshot(again).filter((l) => !l.startsWith(`${NET + 200}|`));
        assert.ok(
          JSON.stringify(after) === JSON.stringify(s),
          `cut after write ${k}: recovery changed the visible state`,
        );
        // And a further update keeps it so (no phantom appears after the image flips).
        again.delete(rec(again, 200));
        void again.close();
        const last = open(file);
        assert.equal(last.report.damage.length, 0, last.report.damage.join("; "));
        assert.deepEqual(snapshot(last), s);
        void last.close();
      }
    });
  }
});
