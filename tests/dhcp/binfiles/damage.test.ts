/**
 * Damaged containers: truncated, zero-filled and bit-flipped SUNWbinfiles containers give a
 * clear error naming the container and the damage (never a crash or a hang); `network check`
 * repairs interrupted updates and broken chains without losing a record, reports what it did,
 * and reports SUNWfiles lines that do not parse. Also: other handles (other processes) see
 * every change on their next lookup.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { checkNetwork } from "../../../lib/dhcp/check.ts";
import { cidToHex, makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { changeLogFile } from "../../../lib/dhcp/modules/binfiles/network.ts";
import {
  DN_QCIP,
  type DnRec,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import type { DhcpStore, DnContainer } from "../../../lib/dhcp/store-api.ts";
import { stopLockd } from "../cli/helpers.ts";
import { runSteward, type TempDir, tempDir, testPermissions } from "../../helpers.ts";

const RW = DSVC_READ | DSVC_WRITE;
const NET = "10.0.0.0";
const FILE = "SUNWbinfiles1_10_0_0_0";

function rows(recs: DnRec[]): string[] {
  return recs.map((r) => `${r.cip}|${cidToHex(r.cid)}|${r.lease}|${r.macro}|${r.sig}`).sort();
}

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("SUNWbinfiles damage and network check", () => {
  let tmp: TempDir;
  let seq = 0;
  let fixture: string;
  let original: string[];
  const stores: DhcpStore[] = [];

  async function store(location: string, config?: string): Promise<DhcpStore> {
    const s = await openStore(
      { resource: "SUNWbinfiles", location, ...(config ? { config } : {}) },
      { synchronizer: null },
    );
    stores.push(s);
    return s;
  }

  async function fresh(bytes?: Buffer): Promise<{ s: DhcpStore; file: string }> {
    const loc = path.join(tmp.path, `l${++seq}`);
    fs.mkdirSync(loc);
    const file = path.join(loc, FILE);
    fs.writeFileSync(file, bytes ?? fs.readFileSync(fixture));
    return { s: await store(loc), file };
  }

  before(async () => {
    tmp = tempDir("bindmg");
    const loc = path.join(tmp.path, "fixture");
    fs.mkdirSync(loc);
    const s = await store(loc, "durability=relaxed");
    const dn = await s.openNetwork(NET, DSVC_CREATE | RW, { netmask: 26 });
    for (let i = 1; i <= 40; i++) {
      const cid = i % 3 === 0 ? "00" : `0108002000${i.toString(16).padStart(2, "0")}`;
      await dn.add(makeDnRec({ cip: 0x0a000000 + i, cid, lease: 1000 + i, macro: `m${i}` }));
    }
    original = rows((await dn.lookup(qinit(), {})).records);
    await dn.close();
    fixture = path.join(loc, FILE);
  });

  after(async () => {
    for (const s of stores) await s.close();
    tmp[Symbol.dispose]();
  });

  it("a truncated container is a clear error naming it, and check reports it", async () => {
    const { s, file } = await fresh(fs.readFileSync(fixture).subarray(0, 40_000));
    await assert.rejects(s.openNetwork(NET, RW), (e: unknown) => {
      assert.ok(e instanceof DsvcError);
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, /truncated: 40000 bytes, a container of this netmask has 50688/);
      return true;
    });
    const r = await checkNetwork(s, NET, { netmask: 26 });
    assert.equal(r.ok, false);
    assert.match(r.unrepaired.join(), /truncated/);
  });

  it("a zero-filled container is a clear error naming it", async () => {
    const { s, file } = await fresh(Buffer.alloc(50_688));
    await assert.rejects(s.openNetwork(NET, RW), (e: unknown) => {
      assert.ok(e instanceof DsvcError && e.message.includes(file));
      assert.match(e.message, /not a SUNWbinfiles network container: magic is 0x0/);
      return true;
    });
  });

  it("check finishes an interrupted update with the recovery pass and says so", async () => {
    const b = Buffer.from(fs.readFileSync(fixture));
    // Dirty, and the inactive image of record 5 and of a hash head garbled, as a crash leaves it.
    b[1] = 1;
    const image = b[2] as number;
    b.writeUInt32BE(33, 32768 + 280 * 5 + (1 - image) * 4);
    b.writeUInt32BE(7, 320 + 8 * 100 + 4 * (1 - image));
    const { s, file } = await fresh(b);
    const r = await checkNetwork(s, NET, { netmask: 26 });
    assert.equal(r.ok, true, r.unrepaired.join("; "));
    assert.match(r.problems.join(), /interrupted \(dirty flag set\)/);
    assert.match(r.repairs.join(), /recovery pass: 1 record pointer pair\(s\) and 1 hash head/);
    const after = fs.readFileSync(file);
    assert.equal(after[1], 0);
    assert.equal(after.readUInt32LE(296), 1, "dnh_checks counted, in native (x86) order");
    const dn = await s.openNetwork(NET, RW, { netmask: 26 });
    assert.deepEqual(rows((await dn.lookup(qinit(), {})).records), original);
    await dn.close();
  });

  it("bit flips: never a crash or a hang; check repairs broken chains without losing a record", async () => {
    const rnd = prng(20261202);
    const base = fs.readFileSync(fixture);
    const used = 32768 + 280 * 41;
    let opened = 0;
    let refused = 0;
    let rebuilt = 0;
    for (let i = 0; i < 120; i++) {
      const b = Buffer.from(base);
      // Half the flips in pointers (hash heads, record pointers), the rest anywhere in use.
      let at: number;
      if (i % 2 === 0) {
        const id = 2 + Math.floor(rnd() * 40); // hosts 1..40 are ids 2..41
        at = 32768 + 280 * (id - 1) + Math.floor(rnd() * 16);
      } else at = Math.floor(rnd() * used);
      b[at] = (b[at] as number) ^ (1 << Math.floor(rnd() * 8));
      const { s, file } = await fresh(b);
      let dn: DnContainer | undefined;
      try {
        dn = await s.openNetwork(NET, RW, { netmask: 26 });
        await dn.lookup(qinit(), {});
        opened++;
      } catch (e) {
        assert.ok(e instanceof DsvcError, `flip at ${at}: ${String(e)}`);
        assert.ok(e.message.includes(file), `flip at ${at}: ${e.message}`);
        refused++;
      } finally {
        await dn?.close();
      }
      const r = await checkNetwork(s, NET, { netmask: 26 });
      if (r.repairs.some((x) => x.startsWith("chains rebuilt"))) rebuilt++;
      const id = Math.floor((at - 32768) / 280) + 1;
      const pointerFlip = at >= 32768 && (at - 32768) % 280 < 16 && id >= 2 && id <= 41;
      if (pointerFlip) {
        // Only pointers were hit: every record comes back, unchanged.
        assert.equal(r.ok, true, `flip at ${at}: ${r.unrepaired.join("; ")}`);
        const again = await s.openNetwork(NET, RW, { netmask: 26 });
        assert.deepEqual(
          rows((await again.lookup(qinit(), {})).records),
          original,
          `flip at ${at}`,
        );
        await again.close();
      }
    }
    assert.ok(
      opened > 0 && refused > 0 && rebuilt > 0,
      `${opened} opened, ${refused} refused, ${rebuilt} rebuilt`,
    );
  });

  it("a bit-flipped or truncated dhcptab is a clear error naming it, never a crash", async () => {
    const loc = path.join(tmp.path, "dt");
    fs.mkdirSync(loc);
    const s = await store(loc);
    const dt = await s.openDhcptab(DSVC_CREATE | RW);
    for (let i = 0; i < 12; i++) await dt.add(makeDtRec(`Mac${i}`, "m", `:Include=x${i}:`));
    await dt.close();
    const file = path.join(loc, "SUNWbinfiles1_dhcptab");
    const good = fs.readFileSync(file);
    const rnd = prng(7);
    let failed = 0;
    for (let i = 0; i < 150; i++) {
      const b = Buffer.from(good);
      if (i % 10 === 9) {
        fs.writeFileSync(file, b.subarray(0, Math.floor(rnd() * b.length)));
      } else {
        const at = Math.floor(rnd() * b.length);
        b[at] = (b[at] as number) ^ (1 << Math.floor(rnd() * 8));
        fs.writeFileSync(file, b);
      }
      try {
        const h = await s.openDhcptab(RW);
        await h.lookup(qinit(), {});
        await h.close();
      } catch (e) {
        assert.ok(e instanceof DsvcError, String(e));
        assert.ok(e.message.includes(file), e.message);
        failed++;
      }
    }
    assert.ok(failed > 0);
  });

  it("check reports SUNWfiles lines that do not parse and addresses given twice", async () => {
    const loc = path.join(tmp.path, "files");
    fs.mkdirSync(loc);
    const s = await openStore({ resource: "SUNWfiles", location: loc }, { synchronizer: null });
    stores.push(s);
    const dn = await s.openNetwork(NET, DSVC_CREATE | RW, { netmask: 24 });
    await dn.add(makeDnRec({ cip: "10.0.0.1" }));
    await dn.close();
    const file = path.join(loc, "SUNWfiles1_10_0_0_0");
    const text = fs.readFileSync(file, "utf8");
    const line = text.split("\n").find((l) => l.startsWith("10.0.0.1|")) as string;
    fs.writeFileSync(file, `${text}this is not a record\n${line}\n`);
    const r = await checkNetwork(s, NET, { netmask: 24 });
    assert.equal(r.ok, false);
    const n = text.split("\n").length;
    assert.match(
      r.problems.join("\n"),
      new RegExp(`line ${n}: malformed record: expected 8 fields`),
    );
    assert.match(
      r.problems.join("\n"),
      new RegExp(`line ${n + 1}: client IP 10\\.0\\.0\\.1 again \\(first on line ${n - 1}\\)`),
    );
    assert.equal(r.records, 2);
  });

  it("steward dhcp network check --json reports on the configured store", async () => {
    const { file } = await fresh();
    const b = fs.readFileSync(file);
    b[1] = 1;
    fs.writeFileSync(file, b);
    const conf = path.join(tmp.path, "dhcpsvc.conf");
    fs.writeFileSync(conf, `RESOURCE=SUNWbinfiles\nPATH=${path.dirname(file)}\nCONVER=1\n`);
    const run = await runSteward(["dhcp", "network", "check", NET, "--netmask", "26", "--json"], {
      via: "source",
      env: { STEWARD_DHCPSVC_CONF: conf, STEWARD_RUN_DIR: path.join(tmp.path, "run") },
      permissions: testPermissions(tmp.path, {
        unixSockets: [path.join(tmp.path, "run", "lockd.sock")],
      }),
    });
    await stopLockd(path.join(tmp.path, "run"));
    assert.equal(run.code, 0, run.stderr);
    const rep = JSON.parse(run.stdout) as { ok: boolean; repairs: string[]; records: number };
    assert.equal(rep.ok, true);
    assert.equal(rep.records, 40);
    assert.match(rep.repairs.join(), /recovery pass/);
    assert.equal(fs.readFileSync(file)[1], 0);
  });

  it("another handle sees every change on its next lookup, also past the change log", async () => {
    const { s, file } = await fresh();
    const a = await s.openNetwork(NET, RW, { netmask: 26 });
    const b = await s.openNetwork(NET, RW, { netmask: 26 });
    const one = async (c: DnContainer, host: number) =>
      (await c.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a000000 + host })).records[0];
    assert.equal((await one(a, 5))?.lease, 1005);
    const r5 = (await one(b, 5)) as DnRec;
    await b.modify(r5, { ...r5, lease: 77 });
    assert.equal((await one(a, 5))?.lease, 77, "a modify");
    await b.add(makeDnRec({ cip: "10.0.0.50", cid: "01FE" }));
    await b.delete((await one(b, 6)) as DnRec);
    const r7 = (await one(b, 7)) as DnRec;
    await b.modify(r7, { ...r7, cip: 0x0a000033 });
    assert.equal(await one(a, 6), undefined, "a delete");
    assert.equal(await one(a, 7), undefined, "a move");
    assert.equal((await one(a, 51))?.macro, "m7");
    assert.equal(cidToHex(((await one(a, 50)) as DnRec).cid), "01FE", "an add");
    // More changes than the log holds, then with the log gone: full reloads, still right.
    let cur = (await one(b, 8)) as DnRec;
    for (let i = 0; i < 70; i++) cur = await b.modify(cur, { ...cur, lease: i });
    assert.equal((await one(a, 8))?.lease, 69);
    fs.rmSync(changeLogFile(file));
    cur = await b.modify(cur, { ...cur, lease: 1234 });
    assert.equal((await one(a, 8))?.lease, 1234);
    assert.deepEqual(
      rows((await a.lookup(qinit(), {})).records),
      rows((await b.lookup(qinit(), {})).records),
    );
    await a.close();
    await b.close();
  });
});
