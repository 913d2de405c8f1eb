/**
 * The conformance suite every store module passes: the cases of upstream's public-module test
 * specification (illumos-gate usr/src/lib/libdhcpsvc/tests/specs/public.txt — basic sanity
 * cases 1–19 and full cases 1–21), run through the framework on the specification's data set,
 * plus the framework's own validation rules. Call {@link conformanceSuite} from a test file with
 * a factory describing the module.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { loadModule } from "../modules.ts";
import {
  cidFromHex,
  cidToHex,
  ipToString,
  makeDnRec,
  makeDtRec,
  signatureCounter,
  signatureGeneration,
} from "../records.ts";
import {
  DHCP_PERM,
  DN_FAUTOMATIC,
  DN_FMANUAL,
  DN_QCID,
  DN_QCIP,
  DN_QFMANUAL,
  DN_QMACRO,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_PUBLIC_VERSION,
  DSVC_READ,
  DSVC_SYNCH_DSVCD,
  DSVC_SYNCH_NONE,
  DSVC_SYNCH_STRATMASK,
  DSVC_WRITE,
  type DsvcCode,
  dsvcCodeName,
  DsvcError,
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  qeq,
  qinit,
  qneq,
} from "../spi.ts";
import { openStore } from "../store.ts";
import type { DhcpStore, DnContainer, DtContainer } from "../store-api.ts";
import { withProcessLock } from "../sync.ts";
import { netPlus, netPlusText, TSPEC_NETWORK, tspecDhcptab, tspecNetwork } from "./tspec.ts";
import { runWorker, type TempDir, tempDir, type TestLockd, testLockd } from "./support.ts";

const RW = DSVC_READ | DSVC_WRITE;
const CRW = DSVC_CREATE | RW;

/** The module under test, as the framework opens it. */
export interface ModuleUnderTest {
  /** RESOURCE name of the module. */
  resource: string;
  /** Container version (default the module's current). */
  conver?: number;
  /** RESOURCE_CONFIG passed to the module. */
  config?: string;
  /** Module directories to load it from. */
  moduleDirs?: string[];
  /** A location the module must call invalid (default: a regular file inside `dir`). */
  invalidLocation?(dir: string): string;
  /** The n-th fresh location (default: the directory `loc<n>` inside `dir`). */
  newLocation?(dir: string, n: number): string;
  /** Make `location` disappear for case 1 (default: remove the directory). */
  removeLocation?(location: string): Promise<void>;
}

/** Sizes of the heavier cases. */
export interface ConformanceOptions {
  /** Last address of the network data set (default the specification's 172.21.12.6). */
  lastAddress?: string;
  /** Network prefix filled to capacity in case 21 (default 22: 1022 records). */
  capacityPrefix?: number;
  /** Case 20: processes × concurrent tasks per process, and rounds per task. */
  stress?: { processes: number; threads: number; rounds: number };
  /** Where the suite makes its temporary directory (default the system's temporary directory). */
  tempRoot?: string;
  /** Lock caching in the stores' lock client and in case 20's worker processes (default off). */
  lockCache?: boolean;
}

/** Throws unless `p` rejects with a DsvcError whose code is one of `codes`. */
export async function rejectsWith(p: Promise<unknown>, ...codes: DsvcCode[]): Promise<DsvcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DsvcError, `expected DsvcError, got ${String(e)}`);
    assert.ok(
      codes.includes(e.code),
      `expected ${codes.map(dsvcCodeName).join("|")}, got ${e.codeName}: ${e.message}`,
    );
    return e;
  }
  assert.fail(`expected ${codes.map(dsvcCodeName).join("|")}, but the call succeeded`);
}

function sortDt(rs: DtRec[]): Array<[string, string, string]> {
  return rs.map((r) => [r.key, r.type, r.value] as [string, string, string]).sort((a, b) =>
    `${a[0]}\0${a[1]}`.localeCompare(`${b[0]}\0${b[1]}`)
  );
}

/** Define the conformance suite for the module `factory(dir)` describes. */
export function conformanceSuite(
  name: string,
  factory: (dir: string) => ModuleUnderTest,
  options: ConformanceOptions = {},
): void {
  const dtData = tspecDhcptab();
  const dnData = tspecNetwork(undefined, options.lastAddress);

  describe(`conformance: ${name}`, () => {
    let tmp: TempDir;
    let dir: string;
    let lockd: TestLockd;
    let mut: ModuleUnderTest;
    let seq = 0;
    const stores: DhcpStore[] = [];

    before(() => {
      tmp = tempDir("dhcp-conf", options.tempRoot);
      dir = tmp.path;
      lockd = testLockd(dir, { cache: options.lockCache === true });
      mut = factory(dir);
    });

    after(async () => {
      for (const s of stores) await s.close();
      await lockd.stop();
      tmp[Symbol.dispose]();
    });

    async function store(location?: string): Promise<DhcpStore> {
      ++seq;
      const loc = location ?? mut.newLocation?.(dir, seq) ?? path.join(dir, `loc${seq}`);
      const s = await openStore(
        {
          resource: mut.resource,
          location: loc,
          conver: mut.conver ?? -1,
          ...(mut.config !== undefined ? { config: mut.config } : {}),
        },
        { synchronizer: lockd.client, ...(mut.moduleDirs ? { moduleDirs: mut.moduleDirs } : {}) },
      );
      stores.push(s);
      if (location === undefined) await s.mklocation();
      return s;
    }

    /** Make the container busy: hold its exclusive lock from elsewhere until release(). */
    async function hold(s: DhcpStore, container: string): Promise<() => Promise<void>> {
      const name = s.lockName(container);
      if (s.synchronized) {
        const h = await lockd.holder.acquire(name, { mode: "exclusive" });
        return () => h.release();
      }
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let granted!: () => void;
      const ready = new Promise<void>((r) => (granted = r));
      const done = withProcessLock(name, "exclusive", false, () => {
        granted();
        return held;
      });
      await ready;
      return async () => {
        release();
        await done;
      };
    }

    async function loadDt(s: DhcpStore): Promise<DtContainer> {
      const dt = await s.openDhcptab(CRW);
      for (const r of dtData) await dt.add({ ...r });
      return dt;
    }

    async function loadDn(s: DhcpStore, records = dnData): Promise<DnContainer> {
      const dn = await s.openNetwork(TSPEC_NETWORK, CRW);
      for (const r of records) await dn.add({ ...r, cid: Uint8Array.from(r.cid) });
      return dn;
    }

    async function oneDt(dt: DtContainer, key: string, type?: "s" | "m"): Promise<DtRec> {
      let q = qeq(qinit(), DT_QKEY);
      if (type) q = qeq(q, DT_QTYPE);
      const r = await dt.lookup(q, { key, ...(type ? { type } : {}) });
      assert.equal(r.count, 1, `${key} found ${r.count} times`);
      return r.records[0] as DtRec;
    }

    async function oneDn(dn: DnContainer, cip: number): Promise<DnRec> {
      const r = await dn.lookup(qeq(qinit(), DN_QCIP), { cip });
      assert.equal(r.count, 1, `${ipToString(cip)} found ${r.count} times`);
      return r.records[0] as DnRec;
    }

    // -----------------------------------------------------------------------------------------
    describe("basic sanity (public.txt cases 1-19)", () => {
      let s: DhcpStore;
      let dt: DtContainer;
      let dn: DnContainer;

      before(async () => {
        s = await store();
      });

      it("case 1: status of the location succeeds", async () => {
        await s.status();
      });

      it("case 2: version() reports the public API version 1", async () => {
        const m = await loadModule(mut.resource, mut.conver ?? -1, {
          ...(mut.moduleDirs ? { moduleDirs: mut.moduleDirs } : {}),
          config: mut.config,
        });
        assert.equal(await m.module.version(), DSVC_PUBLIC_VERSION);
      });

      it("case 3: the module declares its capabilities (synchronization, container version, description)", () => {
        const m = s.module.module;
        assert.ok([DSVC_SYNCH_NONE, DSVC_SYNCH_DSVCD].includes(m.synchtype & DSVC_SYNCH_STRATMASK));
        assert.equal(m.conver, s.datastore.conver);
        assert.ok(m.description.summary.length > 0);
        assert.equal(m.description.validatePath(s.datastore.location), undefined);
      });

      it("case 4: list on an empty location succeeds with no containers", async () => {
        assert.deepEqual(await s.listDhcptab(), []);
        assert.deepEqual(await s.listNetworks(), []);
      });

      it("case 5: a new dhcptab record has signature 0 and a key cut to 128 characters", () => {
        const r = makeDtRec("x".repeat(200), "m", ":a:");
        assert.equal(r.sig, 0n);
        assert.equal(r.key.length, 128);
      });

      it("case 6: open_dt with CREATE|READ|WRITE creates the dhcptab", async () => {
        dt = await s.openDhcptab(CRW);
        assert.deepEqual(await s.listDhcptab(), ["dhcptab"]);
      });

      it("case 7: add_dt stores the test records; adding SbootRS or 172.21.0.0 again is EXISTS", async () => {
        for (const r of dtData) {
          const stored = await dt.add({ ...r });
          assert.notEqual(stored.sig, 0n);
          assert.equal(signatureCounter(stored.sig), 1n);
        }
        assert.deepEqual(await s.listDhcptab(), ["dhcptab"]);
        await rejectsWith(dt.add(makeDtRec("SbootRS", "s", "Vendor=x,9,NUMBER,2,1")), DSVC.EXISTS);
        await rejectsWith(dt.add(makeDtRec("172.21.0.0", "m", ":x:")), DSVC.EXISTS);
      });

      it("case 8.1: lookup with QINIT and count -1 returns exactly the test data", async () => {
        const r = await dt.lookup(qinit(), {}, { count: -1 });
        assert.equal(r.count, dtData.length);
        assert.deepEqual(sortDt(r.records), sortDt(dtData));
      });

      it("case 8.2: lookups by type, by key, and by key and not-type", async () => {
        const syms = await dt.lookup(qeq(qinit(), DT_QTYPE), { type: "s" });
        assert.equal(syms.count, 15);
        assert.ok(syms.records.every((r) => r.type === "s"));
        const macs = await dt.lookup(qeq(qinit(), DT_QTYPE), { type: "m" });
        assert.equal(macs.count, 10);
        assert.ok(macs.records.every((r) => r.type === "m"));
        const atl = await oneDt(dt, "atlantic");
        assert.equal(atl.value, dtData.find((r) => r.key === "atlantic")?.value);
        const i86 = await dt.lookup(qneq(qeq(qinit(), DT_QKEY), DT_QTYPE), {
          key: "i86pc",
          type: "s",
        });
        assert.equal(i86.count, 1);
        assert.equal(i86.records[0]?.type, "m");
      });

      it("case 9: modify_dt renames Sterm to sTERM and changes the Solaris value", async () => {
        const sterm = await oneDt(dt, "Sterm");
        const renamed = await dt.modify(sterm, { ...sterm, key: "sTERM" });
        assert.equal(renamed.sig, sterm.sig + 1n);
        assert.equal((await dt.lookup(qeq(qinit(), DT_QKEY), { key: "Sterm" })).count, 0);
        await oneDt(dt, "sTERM");
        const sol = await oneDt(dt, "Solaris");
        const value = ':SrootIP4=129.148.174.27:SrootNM="atlantic":' +
          ':SinstIP4=129.148.174.27:SinstNM="atlantic":' +
          ':sTERM="sun-cmd":BootSrvA=129.148.174.27:';
        await dt.modify(sol, { ...sol, value });
        assert.equal((await oneDt(dt, "Solaris")).value, value);
      });

      it("case 10: delete_dt removes SUNW.Ultra-1", async () => {
        await dt.delete(await oneDt(dt, "SUNW.Ultra-1"));
        assert.equal((await dt.lookup(qeq(qinit(), DT_QKEY), { key: "SUNW.Ultra-1" })).count, 0);
      });

      it("cases 11-12: close_dt succeeds and remove_dt removes the dhcptab", async () => {
        await dt.close();
        await s.removeDhcptab();
        assert.deepEqual(await s.listDhcptab(), []);
      });

      it("case 13: open_dn with CREATE|READ|WRITE creates the network container", async () => {
        dn = await s.openNetwork(TSPEC_NETWORK, CRW);
        assert.deepEqual(await s.listNetworks(), [TSPEC_NETWORK]);
      });

      it(`case 14: add_dn stores the ${dnData.length} test records; 172.21.0.254 again is EXISTS`, async () => {
        for (const r of dnData) await dn.add({ ...r, cid: Uint8Array.from(r.cid) });
        assert.deepEqual(await s.listNetworks(), [TSPEC_NETWORK]);
        await rejectsWith(
          dn.add(makeDnRec({ cip: "172.21.0.254", sip: "172.21.0.1" })),
          DSVC.EXISTS,
        );
      });

      it("case 15: lookup_dn returns every record, one by client IP, all by macro", async () => {
        const all = await dn.lookup(qinit(), {});
        assert.equal(all.count, dnData.length);
        assert.equal(new Set(all.records.map((r) => r.cip)).size, dnData.length);
        const one = await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(100) });
        assert.equal(one.count, 1);
        assert.equal(one.records[0]?.cip, netPlus(100));
        const byMacro = await dn.lookup(qeq(qinit(), DN_QMACRO), { macro: "atlantic" });
        assert.equal(byMacro.count, dnData.length);
      });

      it("case 16: modify_dn changes lease and flags, then every field of the MANUAL record", async () => {
        const r10 = await oneDn(dn, netPlus(10));
        const lease2000 = Date.UTC(2000, 0, 1) / 1000;
        await dn.modify(r10, { ...r10, lease: lease2000, flags: DN_FMANUAL });
        const got = await oneDn(dn, netPlus(10));
        assert.equal(got.lease, lease2000);
        assert.equal(got.flags, DN_FMANUAL);
        const manual = await dn.lookup(qeq(qinit(), DN_QFMANUAL), { flags: DN_FMANUAL });
        assert.equal(manual.count, 1);
        const m = manual.records[0] as DnRec;
        await dn.modify(m, {
          ...m,
          cid: cidFromHex("01080020FFFFFF") as Uint8Array,
          flags: DN_FMANUAL | DN_FAUTOMATIC,
          sip: 0xac17004d,
          lease: DHCP_PERM,
          macro: "happy",
          comment: "This is a test",
        });
        const after = await oneDn(dn, netPlus(10));
        assert.equal(cidToHex(after.cid), "01080020FFFFFF");
        assert.equal(after.flags, 3);
        assert.equal(ipToString(after.sip), "172.23.0.77");
        assert.equal(after.lease, DHCP_PERM);
        assert.equal(after.macro, "happy");
        assert.equal(after.comment, "This is a test");
      });

      it("case 17: delete_dn removes <network>+101", async () => {
        await dn.delete(await oneDn(dn, netPlus(101)));
        assert.equal((await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(101) })).count, 0);
      });

      it("cases 18-19: close_dn succeeds and remove_dn removes the container", async () => {
        await dn.close();
        await s.removeNetwork(TSPEC_NETWORK);
        assert.deepEqual(await s.listNetworks(), []);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe("full test (public.txt cases 1-19, 21)", () => {
      let s: DhcpStore;
      let dt: DtContainer;
      let dn: DnContainer;

      before(async () => {
        s = await store();
        dt = await loadDt(s);
        dn = await loadDn(s);
      });

      it("case 1: with the data service gone (location removed) every call fails", async () => {
        const gone = await store();
        const loc = gone.datastore.location;
        if (mut.removeLocation) await mut.removeLocation(loc);
        else fs.rmSync(loc, { recursive: true });
        const down = [DSVC.NO_LOCATION, DSVC.INTERNAL, DSVC.MODULE_ERR, DSVC.UNAVAILABLE] as const;
        await rejectsWith(gone.status(), ...down);
        await rejectsWith(gone.listDhcptab(), ...down);
        await rejectsWith(gone.listNetworks(), ...down);
        await rejectsWith(gone.openDhcptab(RW), ...down);
        await rejectsWith(gone.openNetwork(TSPEC_NETWORK, RW), ...down);
        await rejectsWith(gone.removeDhcptab(), ...down, DSVC.NO_TABLE);
        await rejectsWith(gone.removeNetwork(TSPEC_NETWORK), ...down, DSVC.NO_TABLE);
      });

      it("cases 2.1/11.1: list on an invalid location is INVAL", async () => {
        const bad = mut.invalidLocation?.(dir) ?? path.join(dir, "a-regular-file");
        if (!mut.invalidLocation) fs.writeFileSync(bad, "not a directory\n");
        const b = await store(bad);
        await rejectsWith(b.listDhcptab(), DSVC.INVAL);
        await rejectsWith(b.listNetworks(), DSVC.INVAL);
      });

      it("cases 2.2/11.2: list with no containers succeeds with none", async () => {
        const e = await store();
        assert.deepEqual(await e.listDhcptab(), []);
        assert.deepEqual(await e.listNetworks(), []);
      });

      it("cases 3.1/12.1: opening a container that does not exist is NO_TABLE", async () => {
        const e = await store();
        await rejectsWith(e.openDhcptab(RW), DSVC.NO_TABLE, DSVC.NOENT);
        await rejectsWith(e.openNetwork(TSPEC_NETWORK, RW), DSVC.NO_TABLE, DSVC.NOENT);
      });

      it("cases 3.2/12.2: open with NONBLOCK succeeds, even while the container is locked", async () => {
        const e = await store();
        await (await e.openDhcptab(CRW | DSVC_NONBLOCK)).close();
        await (await e.openNetwork(TSPEC_NETWORK, CRW | DSVC_NONBLOCK)).close();
        const release = await hold(e, "dhcptab");
        try {
          await (await e.openDhcptab(RW | DSVC_NONBLOCK)).close();
        } finally {
          await release();
        }
      });

      it("cases 3.3/12.3: creating an existing container is TABLE_EXISTS", async () => {
        await rejectsWith(s.openDhcptab(CRW), DSVC.TABLE_EXISTS, DSVC.EXISTS);
        await rejectsWith(s.openNetwork(TSPEC_NETWORK, CRW), DSVC.TABLE_EXISTS, DSVC.EXISTS);
      });

      it("cases 4.1/13.1: adding an existing record is EXISTS", async () => {
        await rejectsWith(dt.add({ ...(dtData[3] as DtRec) }), DSVC.EXISTS);
        await rejectsWith(dn.add({ ...(dnData[5] as DnRec) }), DSVC.EXISTS);
      });

      it("cases 4.2/13.2: add on a NONBLOCK handle is BUSY while locked, then succeeds", async () => {
        const dtn = await s.openDhcptab(RW | DSVC_NONBLOCK);
        const dnn = await s.openNetwork(TSPEC_NETWORK, RW | DSVC_NONBLOCK);
        let release = await hold(s, "dhcptab");
        await rejectsWith(dtn.add(makeDtRec("Busy42", "m", ":x:")), DSVC.BUSY);
        await release();
        await dtn.add(makeDtRec("Busy42", "m", ":x:"));
        release = await hold(s, TSPEC_NETWORK);
        await rejectsWith(dnn.add(makeDnRec({ cip: netPlus(4000), sip: "172.21.0.1" })), DSVC.BUSY);
        await release();
        await dnn.add(makeDnRec({ cip: netPlus(4000), sip: "172.21.0.1" }));
        await dtn.close();
        await dnn.close();
      });

      it("cases 4.3/13.3: add on a read-only handle is ACCESS", async () => {
        const ro = await s.openDhcptab(DSVC_READ);
        await rejectsWith(ro.add(makeDtRec("ReadOnly", "m", ":x:")), DSVC.ACCESS);
        await ro.close();
        const rn = await s.openNetwork(TSPEC_NETWORK, DSVC_READ);
        await rejectsWith(
          rn.add(makeDnRec({ cip: netPlus(4001), sip: "172.21.0.1" })),
          DSVC.ACCESS,
        );
        await rn.close();
      });

      it("cases 5.1/14.1: a lookup that matches nothing succeeds with 0 records", async () => {
        const a = await dt.lookup(qeq(qinit(), DT_QKEY), { key: "no-such-macro" });
        assert.deepEqual(a, { records: [], count: 0 });
        const b = await dn.lookup(qeq(qinit(), DN_QMACRO), { macro: "no-such-macro" });
        assert.deepEqual(b, { records: [], count: 0 });
      });

      it("cases 5.2/14.2: lookup on a NONBLOCK handle is BUSY while locked, then succeeds", async () => {
        const dtn = await s.openDhcptab(RW | DSVC_NONBLOCK);
        const dnn = await s.openNetwork(TSPEC_NETWORK, RW | DSVC_NONBLOCK);
        let release = await hold(s, "dhcptab");
        await rejectsWith(dtn.lookup(qeq(qinit(), DT_QKEY), { key: "Locale" }), DSVC.BUSY);
        await release();
        assert.equal((await oneDt(dtn, "Locale")).value, ":UTCoffst=-18000:");
        release = await hold(s, TSPEC_NETWORK);
        await rejectsWith(dnn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(6) }), DSVC.BUSY);
        await release();
        assert.equal((await oneDn(dnn, netPlus(6))).macro, "atlantic");
        await dtn.close();
        await dnn.close();
      });

      it("cases 5.3/14.3: lookup on a write-only handle is ACCESS", async () => {
        const wo = await s.openDhcptab(DSVC_WRITE);
        await rejectsWith(wo.lookup(qinit(), {}), DSVC.ACCESS);
        await wo.close();
        const wn = await s.openNetwork(TSPEC_NETWORK, DSVC_WRITE);
        await rejectsWith(wn.lookup(qinit(), {}), DSVC.ACCESS);
        await wn.close();
      });

      it("case 5.4: a symbol and a macro with the same name are two records", async () => {
        const opt = await oneDt(dt, "SrootOpt");
        await dt.modify(opt, { ...opt, key: "sun4u" });
        const r = await dt.lookup(qeq(qinit(), DT_QKEY), { key: "sun4u" });
        assert.equal(r.count, 2);
        assert.deepEqual(r.records.map((x) => x.type).sort(), ["m", "s"]);
        assert.equal(r.records.find((x) => x.type === "s")?.value, opt.value);
        assert.equal(
          r.records.find((x) => x.type === "m")?.value,
          ":Include=Solaris:Include=sparc:",
        );
      });

      it("case 14.4: 216 records with client ID 01BADDCAFE are all found", async () => {
        const bad = cidFromHex("01BADDCAFE") as Uint8Array;
        for (let n = 6; n < 6 + 216; n++) {
          const r = await oneDn(dn, netPlus(n));
          await dn.modify(r, { ...r, cid: bad });
        }
        const r = await dn.lookup(qeq(qinit(), DN_QCID), { cid: bad });
        assert.equal(r.count, 216);
        const cips = r.records.map((x) => x.cip - netPlus(0)).sort((a, b) => a - b);
        assert.deepEqual(cips, Array.from({ length: 216 }, (_, i) => i + 6));
        const limited = await dn.lookup(qeq(qinit(), DN_QCID), { cid: bad }, { count: 10 });
        assert.equal(limited.count, 10);
        assert.equal(limited.records.length, 10);
        const counted = await dn.lookup(qeq(qinit(), DN_QCID), { cid: bad }, { countOnly: true });
        assert.deepEqual(counted, { records: [], count: 216 });
      });

      it("cases 6.1/15.1: modifying a record that does not exist is NOENT", async () => {
        const ghost = { ...makeDtRec("NoSuchMacro", "m", ":x:"), sig: 5n };
        await rejectsWith(dt.modify(ghost, { ...ghost, value: ":y:" }), DSVC.NOENT);
        const g = { ...makeDnRec({ cip: netPlus(5000), sip: "172.21.0.1" }), sig: 5n };
        await rejectsWith(dn.modify(g, { ...g, lease: 5 }), DSVC.NOENT);
      });

      it("cases 6.2/15.2: modifying with a stale signature is COLLISION and changes nothing", async () => {
        const loc = await oneDt(dt, "Locale");
        await rejectsWith(
          dt.modify({ ...loc, sig: loc.sig + 7n }, { ...loc, value: ":stale:" }),
          DSVC.COLLISION,
        );
        assert.equal((await oneDt(dt, "Locale")).value, ":UTCoffst=-18000:");
        const r = await oneDn(dn, netPlus(300));
        await rejectsWith(
          dn.modify({ ...r, sig: r.sig ^ 1n }, { ...r, lease: 99 }),
          DSVC.COLLISION,
        );
        assert.equal((await oneDn(dn, netPlus(300))).lease, 0);
      });

      it("cases 6.3/15.3: renaming onto an existing key is EXISTS", async () => {
        const loc = await oneDt(dt, "Locale");
        await rejectsWith(dt.modify(loc, { ...loc, key: "atlantic" }), DSVC.EXISTS);
        const r = await oneDn(dn, netPlus(301));
        await rejectsWith(dn.modify(r, { ...r, cip: netPlus(302) }), DSVC.EXISTS);
        assert.equal((await oneDn(dn, netPlus(301))).sig, r.sig);
      });

      it("cases 6.4/15.4: modify on a NONBLOCK handle is BUSY while locked, then succeeds", async () => {
        const dtn = await s.openDhcptab(RW | DSVC_NONBLOCK);
        const loc = await oneDt(dtn, "Locale");
        let release = await hold(s, "dhcptab");
        await rejectsWith(dtn.modify(loc, { ...loc, value: ":UTCoffst=3600:" }), DSVC.BUSY);
        await release();
        await dtn.modify(loc, { ...loc, value: ":UTCoffst=3600:" });
        assert.equal((await oneDt(dtn, "Locale")).value, ":UTCoffst=3600:");
        const dnn = await s.openNetwork(TSPEC_NETWORK, RW | DSVC_NONBLOCK);
        const r = await oneDn(dnn, netPlus(303));
        release = await hold(s, TSPEC_NETWORK);
        await rejectsWith(dnn.modify(r, { ...r, lease: 77 }), DSVC.BUSY);
        await release();
        await dnn.modify(r, { ...r, lease: 77 });
        assert.equal((await oneDn(dnn, netPlus(303))).lease, 77);
        await dtn.close();
        await dnn.close();
      });

      it("cases 6.5/15.5: modify on a read-only handle is ACCESS", async () => {
        const ro = await s.openDhcptab(DSVC_READ);
        const loc = await oneDt(ro, "atlantic");
        await rejectsWith(ro.modify(loc, { ...loc, value: ":x:" }), DSVC.ACCESS);
        await ro.close();
        const rn = await s.openNetwork(TSPEC_NETWORK, DSVC_READ);
        const r = await oneDn(rn, netPlus(304));
        await rejectsWith(rn.modify(r, { ...r, lease: 1 }), DSVC.ACCESS);
        await rn.close();
      });

      it("cases 7/16: lookup results are independent copies", async () => {
        const a = await oneDt(dt, "atlantic");
        a.value = "mutated";
        assert.notEqual((await oneDt(dt, "atlantic")).value, "mutated");
        const b = await oneDn(dn, netPlus(305));
        b.cid[0] = 0x77;
        b.macro = "mutated";
        const again = await oneDn(dn, netPlus(305));
        assert.equal(cidToHex(again.cid), "00");
        assert.equal(again.macro, "atlantic");
      });

      it("cases 8.1/17.1: deleting a record that does not exist is NOENT", async () => {
        await rejectsWith(dt.delete(makeDtRec("NoSuchSymbol", "s", "")), DSVC.NOENT);
        await rejectsWith(dn.delete(makeDnRec({ cip: netPlus(5001) })), DSVC.NOENT);
      });

      it("cases 8.2/17.2: delete on a NONBLOCK handle is BUSY while locked, then succeeds", async () => {
        const dtn = await s.openDhcptab(RW | DSVC_NONBLOCK);
        const sym = await oneDt(dtn, "SswapPTH");
        let release = await hold(s, "dhcptab");
        await rejectsWith(dtn.delete(sym), DSVC.BUSY);
        await release();
        await dtn.delete(sym);
        assert.equal((await dtn.lookup(qeq(qinit(), DT_QKEY), { key: "SswapPTH" })).count, 0);
        const dnn = await s.openNetwork(TSPEC_NETWORK, RW | DSVC_NONBLOCK);
        const r = await oneDn(dnn, netPlus(306));
        release = await hold(s, TSPEC_NETWORK);
        await rejectsWith(dnn.delete(r), DSVC.BUSY);
        await release();
        await dnn.delete(r);
        assert.equal((await dnn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(306) })).count, 0);
        await dtn.close();
        await dnn.close();
      });

      it("cases 8.3/17.3: delete on a read-only handle is ACCESS", async () => {
        const ro = await s.openDhcptab(DSVC_READ);
        await rejectsWith(ro.delete(await oneDt(ro, "Stz")), DSVC.ACCESS);
        await ro.close();
        const rn = await s.openNetwork(TSPEC_NETWORK, DSVC_READ);
        await rejectsWith(rn.delete(await oneDn(rn, netPlus(307))), DSVC.ACCESS);
        await rn.close();
      });

      it("delete with signature 0 skips the collision check; a stale non-zero one is COLLISION", async () => {
        const r = await oneDn(dn, netPlus(308));
        await rejectsWith(dn.delete({ ...r, sig: r.sig + 1n }), DSVC.COLLISION);
        await dn.delete({ ...r, sig: 0n });
        const sym = await oneDt(dt, "SsysidCF");
        await rejectsWith(dt.delete({ ...sym, sig: sym.sig + 1n }), DSVC.COLLISION);
        await dt.delete({ ...sym, sig: 0n });
      });

      it("cases 9/18: close on a NONBLOCK handle never waits for the lock", async () => {
        const e = await store();
        const h = await e.openDhcptab(CRW | DSVC_NONBLOCK);
        const n = await e.openNetwork(TSPEC_NETWORK, CRW | DSVC_NONBLOCK);
        const r1 = await hold(e, "dhcptab");
        const r2 = await hold(e, TSPEC_NETWORK);
        await h.close();
        await n.close();
        await r1();
        await r2();
      });

      it("cases 10/19: remove with nonblock is BUSY while locked, then removes", async () => {
        const e = await store();
        await (await e.openDhcptab(CRW)).close();
        await (await e.openNetwork(TSPEC_NETWORK, CRW)).close();
        let release = await hold(e, "dhcptab");
        await rejectsWith(e.removeDhcptab({ nonblock: true }), DSVC.BUSY);
        await release();
        await e.removeDhcptab({ nonblock: true });
        assert.deepEqual(await e.listDhcptab(), []);
        release = await hold(e, TSPEC_NETWORK);
        await rejectsWith(e.removeNetwork(TSPEC_NETWORK, { nonblock: true }), DSVC.BUSY);
        await release();
        await e.removeNetwork(TSPEC_NETWORK, { nonblock: true });
        assert.deepEqual(await e.listNetworks(), []);
      });

      it("signatures: a new record has a random generation and counter 1; modify keeps the generation", async () => {
        const gens = new Set<number>();
        for (let i = 0; i < 8; i++) {
          const r = await dt.add(makeDtRec(`SigGen${i}`, "m", ":x:"));
          assert.equal(signatureCounter(r.sig), 1n);
          gens.add(signatureGeneration(r.sig));
        }
        assert.ok(gens.size > 1, "generations are random");
        const r = await oneDt(dt, "SigGen0");
        let cur = r;
        for (let i = 0; i < 3; i++) cur = await dt.modify(cur, { ...cur, value: `:v${i}:` });
        assert.equal(signatureGeneration(cur.sig), signatureGeneration(r.sig));
        assert.equal(signatureCounter(cur.sig), 4n);
        assert.equal((await oneDt(dt, "SigGen0")).sig, cur.sig);
      });

      it("the framework refuses malformed records, queries and flags with INVAL before the module", async () => {
        const rec = makeDnRec({ cip: netPlus(4100), sip: "172.21.0.1" });
        await rejectsWith(dn.add({ ...rec, cip: 0x0a000001 }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, cid: new Uint8Array(0) }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, cid: new Uint8Array(65) }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, flags: 0x10 }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, lease: -2 }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, comment: "c".repeat(49) }), DSVC.INVAL);
        await rejectsWith(dn.add({ ...rec, macro: "m".repeat(129) }), DSVC.INVAL);
        await rejectsWith(dt.add({ ...makeDtRec("X", "m", ":x:"), type: "x" as "m" }), DSVC.INVAL);
        await rejectsWith(dt.add(makeDtRec("", "m", ":x:")), DSVC.INVAL);
        await rejectsWith(dt.lookup(0x4, {}), DSVC.INVAL);
        await rejectsWith(dn.lookup(0x0400, {}), DSVC.INVAL);
        await rejectsWith(dn.lookup(qeq(qinit(), DN_QCIP), {}), DSVC.INVAL);
        await rejectsWith(dn.lookup(qinit(), {}, { count: -2 }), DSVC.INVAL);
        await rejectsWith(s.openDhcptab(DSVC_CREATE | DSVC_READ), DSVC.INVAL);
        await rejectsWith(s.openDhcptab(0x10 | DSVC_READ), DSVC.INVAL);
        await rejectsWith(s.openNetwork("../../etc", RW), DSVC.INVAL);
        await rejectsWith(s.openNetwork("172.21.0.1", RW, { netmask: 16 }), DSVC.INVAL);
        await rejectsWith(s.openNetwork("255.255.255.255", RW), DSVC.INVAL);
        assert.equal((await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(4100) })).count, 0);
        assert.deepEqual(await dn.lookup(qinit(), {}, { count: 0 }), { records: [], count: 0 });
      });

      it("overlapping calls in one process never interleave an update with anything else", async () => {
        const base = await oneDn(dn, netPlus(400));
        // Many concurrent read-modify-write cycles with retry: every increment must survive.
        const workers = Array.from({ length: 8 }, async () => {
          let done = 0;
          while (done < 5) {
            const cur = await oneDn(dn, netPlus(400));
            try {
              await dn.modify(cur, { ...cur, lease: cur.lease + 1 });
              done++;
            } catch (e) {
              if (!(e instanceof DsvcError && e.code === DSVC.COLLISION)) throw e;
            }
          }
        });
        const readers = Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 10; i++) {
            assert.equal((await dn.lookup(qeq(qinit(), DN_QCIP), { cip: netPlus(400) })).count, 1);
          }
        });
        await Promise.all([...workers, ...readers]);
        assert.equal((await oneDn(dn, netPlus(400))).lease, base.lease + 40);
      });
    });

    // -----------------------------------------------------------------------------------------
    const stress = options.stress ?? { processes: 3, threads: 3, rounds: 4 };
    it(`case 20: multi-access stress, ${stress.processes} processes x ${stress.threads} tasks: no lost update, no duplicate key`, async () => {
      const s = await store();
      // 20.x.1/20.x.2 in the parent (the workers repeat them and must meet EXISTS).
      await loadDt(s).then((c) => c.close());
      await loadDn(s, tspecNetwork(undefined, netPlusText(1010))).then((c) => c.close());
      const args = JSON.stringify({
        resource: mut.resource,
        conver: mut.conver ?? -1,
        config: mut.config,
        moduleDirs: mut.moduleDirs,
        location: s.datastore.location,
        runDir: lockd.runDir,
        cache: options.lockCache === true,
        threads: stress.threads,
        rounds: stress.rounds,
        barrier: path.join(dir, `barrier${++seq}`),
        parties: stress.processes * stress.threads,
      });
      const results = await Promise.all(
        Array.from(
          { length: stress.processes },
          () => runWorker(args, dir, 120_000),
        ),
      );
      let dtMods = 0;
      let dnMods = 0;
      let dtDeletes = 0;
      let dnDeletes = 0;
      let raceWins = 0;
      for (const r of results) {
        assert.equal(r.code, 0, `worker failed: ${r.stderr}`);
        const out = JSON.parse(r.stdout.trim().split("\n").pop() as string) as Record<
          string,
          number
        >;
        dtMods += out.dtMods as number;
        dnMods += out.dnMods as number;
        dtDeletes += out.dtDeletes as number;
        dnDeletes += out.dnDeletes as number;
        raceWins += out.raceWins as number;
      }
      // Epilogue 20.1.7 / 20.2.7.
      const dt = await s.openDhcptab(DSVC_READ);
      const all = await dt.lookup(qinit(), {});
      const keys = all.records.map((r) => `${r.key}/${r.type}`);
      assert.equal(new Set(keys).size, keys.length, "no duplicate dhcptab key");
      assert.equal(dtDeletes, 1, "exactly one worker deleted SjumpsCF");
      assert.equal(raceWins, 2, "exactly one worker added each contended record");
      assert.deepEqual(
        sortDt(all.records.filter((r) => r.key !== "atlantic" && r.key !== "RaceMacro")),
        sortDt(dtData.filter((r) => r.key !== "atlantic" && r.key !== "SjumpsCF")),
      );
      const atl = (await oneDt(dt, "atlantic")).value;
      assert.ok(dtMods > 0);
      assert.equal(
        atl,
        `:Timeserv=129.148.174.28:LeaseTim=${
          86400 + dtMods - 1
        }:Hostname:DNSdmain="east.sun.com":DNSserv=172.23.3.3:`,
        "no lost dhcptab update",
      );
      const dn = await s.openNetwork(TSPEC_NETWORK, DSVC_READ);
      const recs = await dn.lookup(qinit(), {});
      const cips = recs.records.map((r) => r.cip);
      assert.equal(new Set(cips).size, cips.length, "no duplicate client IP");
      assert.equal(dnDeletes, 1, "exactly one worker deleted <network>+1001");
      assert.equal(
        recs.count,
        1010 - 6 + 1 - 1 + 1,
        "every record but +1001, plus the contended one",
      );
      const r102 = await oneDn(dn, netPlus(102));
      assert.ok(dnMods > 0);
      assert.equal(r102.lease, 941619403 + dnMods - 1, "no lost network update");
      assert.equal(cidToHex(r102.cid), "01DEADBEEF");
      assert.equal(r102.flags, 3);
      assert.equal(r102.macro, "Solaris");
      await dt.close();
      await dn.close();
    });

    // -----------------------------------------------------------------------------------------
    const prefix = options.capacityPrefix ?? 22;
    it(`case 21: capacity: a /${prefix} network filled, overfilled, modified, looked up and emptied`, async () => {
      const s = await store();
      const size = 2 ** (32 - prefix) - 2;
      const net = "10.0.0.0";
      const dn = await s.openNetwork(net, CRW, { netmask: prefix });
      const dt = await s.openDhcptab(CRW);
      // 21.1: fill every host address; a third as many dhcptab records.
      for (let i = 1; i <= size; i++) {
        await dn.add(makeDnRec({ cip: 0x0a000000 + i, sip: "10.0.0.1", macro: `m${i}` }));
      }
      for (let i = 0; i < Math.floor(size / 3); i++) {
        await dt.add(makeDtRec(`Cap${i}`, i % 2 ? "s" : "m", `:v=${i}:`));
      }
      // 21.3: the network is full: any further address is outside it.
      await rejectsWith(
        dn.add(makeDnRec({ cip: 0x0a000000 + 2 ** (32 - prefix), sip: "10.0.0.1" })),
        DSVC.INVAL,
      );
      await rejectsWith(dn.add(makeDnRec({ cip: 0x0a000001, sip: "10.0.0.1" })), DSVC.EXISTS);
      // 21.2: modify every lease to its sequence number.
      const all = await dn.lookup(qinit(), {});
      assert.equal(all.count, size);
      let n = 0;
      for (const r of all.records) await dn.modify(r, { ...r, lease: ++n });
      // 21.4: lookups validated against the records' construction.
      for (let i = 1; i <= size; i += Math.max(1, Math.floor(size / 50))) {
        const r = await oneDn(dn, 0x0a000000 + i);
        assert.equal(r.macro, `m${i}`);
      }
      const leases = (await dn.lookup(qinit(), {})).records.map((r) => r.lease).sort((a, b) =>
        a - b
      );
      assert.deepEqual(leases, Array.from({ length: size }, (_, i) => i + 1));
      assert.equal((await oneDt(dt, "Cap7", "s")).value, ":v=7:");
      // 21.5: delete everything through lookup + delete.
      for (const r of (await dn.lookup(qinit(), {})).records) await dn.delete(r);
      for (const r of (await dt.lookup(qinit(), {})).records) await dt.delete(r);
      assert.equal((await dn.lookup(qinit(), {}, { countOnly: true })).count, 0);
      assert.equal((await dt.lookup(qinit(), {}, { countOnly: true })).count, 0);
      await dn.close();
      await dt.close();
    });
  });
}
