/**
 * SUNWbinfiles byte compatibility: containers built byte by byte in the test from the upstream
 * layout (not with the module's encoder) open and read as upstream would, and containers the
 * module writes hold exactly the bytes upstream's code would write.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  cidFromHex,
  cidToHex,
  ipToString,
  makeDnRec,
  makeDtRec,
} from "../../../lib/dhcp/records.ts";
import { cidHash } from "../../../lib/dhcp/modules/binfiles/format.ts";
import {
  DN_QCID,
  DN_QCIP,
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  DT_QKEY,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import type { DhcpStore } from "../../../lib/dhcp/store-api.ts";
import { type TempDir, tempDir } from "../../helpers.ts";
import { rejectsWith } from "../conformance/suite.ts";

const RW = DSVC_READ | DSVC_WRITE;

/** Bytes of a big-endian u32. */
function be32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

/** A 280-byte upstream dn_filerec_t, laid out by hand from dhcp_network.h. */
function handRecord(o: {
  next: [number, number];
  prev: [number, number];
  sig: bigint;
  cip: number;
  sip: number;
  lease: number;
  macro: string;
  comment: string;
  cid: number[];
  flags: number;
  junk?: number;
}): Buffer {
  // Upstream leaves bytes after NULs uninitialized: fill with junk a reader must ignore.
  const b = Buffer.alloc(280, o.junk ?? 0);
  b.set([...be32(o.next[0]), ...be32(o.next[1]), ...be32(o.prev[0]), ...be32(o.prev[1])], 0);
  b.set([...be32(Number(o.sig >> 32n)), ...be32(Number(o.sig & 0xffffffffn))], 16);
  b.set([...be32(o.cip), ...be32(o.sip), ...be32(o.lease)], 24);
  b.write(`${o.macro}\0`, 36, "latin1");
  b.write(`${o.comment}\0`, 165, "latin1");
  b.set(o.cid, 214);
  b[278] = o.cid.length;
  b[279] = o.flags;
  return b;
}

/** A hand-built 10.0.0.0/24 header: version 1, given image, hash heads. */
function handHeader(image: number, heads: Array<[number, number, number]>): Buffer {
  const h = Buffer.alloc(32768);
  h[0] = 1;
  h[1] = 0;
  h[2] = image;
  h[3] = 0x80;
  h.set([0x0d, 0x6c, 0x92, 0xe4, 10, 0, 0, 0, 255, 255, 255, 0], 4);
  for (const [bucket, img, id] of heads) h.set(be32(id), 320 + 8 * bucket + 4 * img);
  return h;
}

describe("SUNWbinfiles format", () => {
  let tmp: TempDir;
  const stores: DhcpStore[] = [];
  let seq = 0;

  before(() => {
    tmp = tempDir("binfmt");
  });
  after(async () => {
    for (const s of stores) await s.close();
    tmp[Symbol.dispose]();
  });

  async function store(): Promise<DhcpStore> {
    const location = path.join(tmp.path, `loc${++seq}`);
    fs.mkdirSync(location);
    const s = await openStore({ resource: "SUNWbinfiles", location }, { synchronizer: null });
    stores.push(s);
    return s;
  }

  it("cidHash gives the specification's check values", () => {
    const cases: Array<[string, number]> = [
      ["00", 3975],
      ["010800207E8A02", 380],
      ["01080020FFFFFF", 1330],
      ["01AABBCCDDEEFF", 3818],
    ];
    for (const [hex, want] of cases) assert.equal(cidHash(cidFromHex(hex) as Uint8Array), want);
    assert.equal(cidHash(new Uint8Array(0)), 639);
  });

  it("pntadm -C then -A writes the bytes of the worked example", async () => {
    const s = await store();
    const dn = await s.openNetwork("10.0.0.0", DSVC_CREATE | RW, { netmask: 24 });
    const file = path.join(s.datastore.location, "SUNWbinfiles1_10_0_0_0");
    let b = fs.readFileSync(file);
    assert.equal(b.length, 104_448);
    assert.deepEqual([...b.subarray(0, 16)], [
      1,
      0,
      0,
      0x80,
      0x0d,
      0x6c,
      0x92,
      0xe4,
      10,
      0,
      0,
      0,
      255,
      255,
      255,
      0,
    ]);
    assert.ok(b.subarray(16).every((x) => x === 0), "everything else of a new container is zero");
    const added = await dn.add(
      makeDnRec({ cip: "10.0.0.5", cid: "01AABBCCDDEEFF", sip: "10.0.0.1", macro: "UNKNOWN" }),
    );
    b = fs.readFileSync(file);
    assert.deepEqual([...b.subarray(0, 4)], [1, 0, 1, 0x80], "clean, image flipped to 1");
    assert.deepEqual([...b.subarray(30864, 30872)], [0, 0, 0, 6, 0, 0, 0, 6]);
    const want = handRecord({
      next: [0, 0],
      prev: [0xfffffffe, 0xfffffffe],
      sig: added.sig,
      cip: 0x0a000005,
      sip: 0x0a000001,
      lease: 0,
      macro: "UNKNOWN",
      comment: "",
      cid: [1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
      flags: 0,
    });
    assert.deepEqual(b.subarray(34168, 34168 + 280), want);
    assert.equal(added.sig & 0xffffffffffffn, 1n, "counter 1");
    // Only the header's defined fields, the hash heads and the change counter hold data.
    const other = Buffer.from(b);
    other.fill(0, 0, 16);
    other.fill(0, 30864, 30872);
    other.fill(0, 304, 308);
    other.fill(0, 34168, 34168 + 280);
    assert.ok(other.every((x) => x === 0), "no other byte written");
    // A modify of the lease leaves the record in place, the temporary record retired.
    const mod = await dn.modify(added, { ...added, lease: 0x12345678 });
    b = fs.readFileSync(file);
    assert.deepEqual([...b.subarray(0, 4)], [1, 0, 0, 0x80]);
    assert.deepEqual([...b.subarray(34168 + 32, 34168 + 36)], [0x12, 0x34, 0x56, 0x78]);
    assert.equal(b.readBigUInt64BE(34168 + 16), mod.sig);
    assert.equal(mod.sig, added.sig + 1n);
    await dn.close();
  });

  it("a hand-built container opens and answers in upstream's order", async () => {
    const s = await store();
    const file = path.join(s.datastore.location, "SUNWbinfiles1_10_0_0_0");
    // Bucket 3975 (cid 00): ids 11 -> 12 -> 13 (head first), built in image 1; bucket 3818: id 6.
    const hdr = handHeader(1, [[3975, 0, 11], [3975, 1, 11], [3818, 0, 6], [3818, 1, 6]]);
    const file0 = Buffer.alloc(104_448);
    hdr.copy(file0, 0);
    const put = (id: number, r: Buffer) => r.copy(file0, 32768 + 280 * (id - 1));
    const free = (id: number, next: number, prev: number) =>
      handRecord({
        next: [next, next],
        prev: [prev, prev],
        sig: (0xabcdn << 48n) | BigInt(id),
        cip: 0x0a000000 + id - 1,
        sip: 0x0a000001,
        lease: 0,
        macro: "atlantic",
        comment: `free ${id}`,
        cid: [0],
        flags: 0,
        junk: 0xa5,
      });
    put(11, free(11, 12, 0xfffffffe));
    put(12, free(12, 13, 11));
    put(13, free(13, 0, 12));
    put(
      6,
      handRecord({
        next: [0, 0],
        prev: [0xfffffffe, 0xfffffffe],
        sig: 7n,
        cip: 0x0a000005,
        sip: 0x0a000001,
        lease: 0xffffffff,
        macro: "UNKNOWN",
        comment: "client",
        cid: [1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
        flags: 3,
        junk: 0x5a,
      }),
    );
    // An unused slot with stale data (a deleted record): never returned.
    put(
      20,
      handRecord({
        next: [0, 0],
        prev: [0, 0],
        sig: 9n,
        cip: 0x0a000013,
        sip: 0,
        lease: 0,
        macro: "gone",
        comment: "",
        cid: [0],
        flags: 0,
      }),
    );
    fs.writeFileSync(file, file0);
    const dn = await s.openNetwork("10.0.0.0", RW, { netmask: 24 });
    const all = await dn.lookup(qinit(), {});
    // Walk: bucket 3818 (id 6), then 3975 (11, 12, 13); prepended: 13, 12, 11, 6.
    assert.deepEqual(all.records.map((r) => ipToString(r.cip)), [
      "10.0.0.12",
      "10.0.0.11",
      "10.0.0.10",
      "10.0.0.5",
    ]);
    const c = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a000005 })).records[0];
    assert.ok(c);
    assert.equal(cidToHex(c.cid), "01AABBCCDDEEFF");
    assert.equal(c.lease, 0xffffffff);
    assert.equal(c.flags, 3);
    assert.equal(c.macro, "UNKNOWN");
    assert.equal(c.comment, "client");
    assert.equal(c.sig, 7n);
    const first = await dn.lookup(qeq(qinit(), DN_QCID), { cid: Uint8Array.of(0) }, { count: 1 });
    assert.equal(ipToString((first.records[0] as { cip: number }).cip), "10.0.0.10", "chain head");
    assert.equal((await dn.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a000013 })).count, 0);
    // An update on it keeps both images equal and the chain linked.
    const r12 = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a00000b })).records[0];
    assert.ok(r12);
    await dn.delete(r12);
    const b = fs.readFileSync(file);
    const rec = (id: number, off: number) => b.readUInt32BE(32768 + 280 * (id - 1) + off);
    assert.deepEqual([rec(11, 0), rec(11, 4)], [13, 13], "11.next skips 12 in both images");
    assert.deepEqual([rec(13, 8), rec(13, 12)], [11, 11], "13.prev is 11 in both images");
    assert.deepEqual([rec(12, 8), rec(12, 12)], [0, 0], "12 unused");
    assert.equal(b[2], 0, "image flipped back to 0");
    await dn.close();
  });

  it("a container of another network, a bad magic or a version-0 container is a clear error", async () => {
    const s = await store();
    const file = path.join(s.datastore.location, "SUNWbinfiles1_10_0_0_0");
    const good = Buffer.alloc(104_448);
    handHeader(0, []).copy(good);
    const cases: Array<[(b: Buffer) => void, RegExp]> = [
      [(b) => b.set([10, 0, 1, 0], 8), /holds network 10\.0\.1\.0, not 10\.0\.0\.0/],
      [(b) => (b[4] = 0), /not a SUNWbinfiles network container: magic/],
      [(b) => (b[0] = 0), /version is 0, not 1 \(its creation was interrupted\)/],
    ];
    for (const [spoil, msg] of cases) {
      const b = Buffer.from(good);
      spoil(b);
      fs.writeFileSync(file, b);
      const e = await rejectsWith(s.openNetwork("10.0.0.0", RW, { netmask: 24 }), DSVC.INTERNAL);
      assert.match(e.message, msg);
      assert.ok(e.message.includes(file), "names the container");
    }
  });

  it("the dhcptab holds upstream's header and packed records, the modified one at the end", async () => {
    const s = await store();
    const dt = await s.openDhcptab(DSVC_CREATE | RW);
    const file = path.join(s.datastore.location, "SUNWbinfiles1_dhcptab");
    const a = await dt.add(makeDtRec("Locale", "m", ":UTCoffst=-18000:"));
    const b2 = await dt.add(makeDtRec("Sx", "s", "Vendor=SUNW,1,ASCII,1,0"));
    const hand = (sig: bigint, key: string, type: string, value: string) => {
      const r = Buffer.alloc(148 + value.length + 1);
      r.writeBigUInt64BE(sig, 0);
      r.write(key, 12, "latin1");
      r.write(type, 141, "latin1");
      r.set(be32(value.length + 1), 144);
      r.write(value, 148, "latin1");
      return r;
    };
    const head = Buffer.from([1, 0, 0, 0, 0x0d, 0x6c, 0x94, 0xab, ...new Array(16).fill(0)]);
    assert.deepEqual(
      fs.readFileSync(file),
      Buffer.concat([
        head,
        hand(a.sig, "Locale", "m", ":UTCoffst=-18000:"),
        hand(b2.sig, "Sx", "s", "Vendor=SUNW,1,ASCII,1,0"),
      ]),
    );
    const m = await dt.modify(a, { ...a, value: ":x:" });
    assert.deepEqual(
      fs.readFileSync(file),
      Buffer.concat([
        head,
        hand(b2.sig, "Sx", "s", "Vendor=SUNW,1,ASCII,1,0"),
        hand(m.sig, "Locale", "m", ":x:"),
      ]),
    );
    await dt.close();
  });

  it("a dhcptab whose last value is shorter than 3 characters reads (upstream flaw F2 fixed)", async () => {
    const s = await store();
    const file = path.join(s.datastore.location, "SUNWbinfiles1_dhcptab");
    const r = Buffer.alloc(148 + 2);
    r.writeBigUInt64BE(5n, 0);
    r.write("Short", 12, "latin1");
    r.write("m", 141, "latin1");
    r.set(be32(2), 144);
    r.write("x", 148, "latin1");
    fs.writeFileSync(
      file,
      Buffer.concat([
        Buffer.from([1, 0, 0, 0, 0x0d, 0x6c, 0x94, 0xab, ...new Array(16).fill(0)]),
        r,
      ]),
    );
    const dt = await s.openDhcptab(RW);
    const got = await dt.lookup(qeq(qinit(), DT_QKEY), { key: "Short" });
    assert.equal(got.count, 1);
    assert.equal(got.records[0]?.value, "x");
    assert.equal(got.records[0]?.sig, 5n);
    // A truncated record is a clear error naming the file.
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 24 + 100));
    const e = await rejectsWith(dt.lookup(qinit(), {}), DSVC.INTERNAL);
    assert.match(e.message, /SUNWbinfiles1_dhcptab: damaged: record at offset 24: truncated/);
    await dt.close();
  });
});
