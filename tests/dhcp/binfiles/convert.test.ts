/**
 * `steward dhcp convert` / convertConfigured: SUNWfiles ↔ SUNWbinfiles and version 0 → 1, the
 * configuration switched only when every container is complete, and interruptions at random
 * points (20 in process, plus kill -9 of the command) followed by reruns give exactly the
 * records of an uninterrupted conversion.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { datastoreFromConf, readDhcpsvcConf } from "../../../lib/dhcp/conf.ts";
import { convertConfigured, convertJournalFile } from "../../../lib/dhcp/convert-job.ts";
import { cidToHex, makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../../lib/dhcp/spi.ts";
import type { Datastore } from "../../../lib/dhcp/store-api.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import {
  exited,
  runSteward,
  spawnSteward,
  type TempDir,
  tempDir,
  testPermissions,
} from "../../helpers.ts";
import { stopLockd } from "../cli/helpers.ts";

const RWC = DSVC_CREATE | DSVC_READ | DSVC_WRITE;
const NETS = ["10.1.0.0", "10.2.0.0"];

/** Every record of every container of `ds`, in lookup order, without signatures. */
async function contents(ds: Datastore): Promise<Record<string, string[]>> {
  const s = await openStore(ds, { synchronizer: null });
  try {
    const out: Record<string, string[]> = {};
    if ((await s.listDhcptab()).length) {
      await using dt = await s.openDhcptab(DSVC_READ);
      out.dhcptab = (await dt.lookup(qinit(), {})).records.map((r) =>
        `${r.key}|${r.type}|${r.value}`
      );
    }
    for (const n of await s.listNetworks()) {
      await using dn = await s.openNetwork(n, DSVC_READ, { netmask: 24 });
      out[n] = (await dn.lookup(qinit(), {})).records.map((r) =>
        `${r.cip}|${cidToHex(r.cid)}|${r.flags}|${r.sip}|${r.lease}|${r.macro}|${r.comment}`
      );
    }
    return out;
  } finally {
    await s.close();
  }
}

describe("dhcp convert", () => {
  let tmp: TempDir;
  let seq = 0;
  let source: string;

  before(async () => {
    tmp = tempDir("binconv");
    source = path.join(tmp.path, "source");
    fs.mkdirSync(source);
    const s = await openStore({ resource: "SUNWfiles", location: source }, { synchronizer: null });
    const dt = await s.openDhcptab(RWC);
    for (let i = 0; i < 12; i++) await dt.add(makeDtRec(`M${i}`, i % 3 ? "m" : "s", `:v=${i}:`));
    await dt.close();
    for (const [k, net] of NETS.entries()) {
      const dn = await s.openNetwork(net, RWC, { netmask: 24 });
      for (let h = 1; h <= 60; h++) {
        await dn.add(makeDnRec({
          cip: (10 << 24) + ((k + 1) << 16) + h,
          cid: h % 4 ? `01AB${h.toString(16).padStart(2, "0")}` : "00",
          lease: 1000 * h,
          macro: `m${h % 5}`,
          comment: h === 7 ? "seven" : "",
        }));
      }
      await dn.close();
    }
    await s.close();
  });
  after(() => tmp[Symbol.dispose]());

  /** A fresh copy of the source store and a dhcpsvc.conf naming it. */
  function setup(): { conf: string; from: Datastore; to: Datastore; dir: string } {
    const dir = path.join(tmp.path, `c${++seq}`);
    const loc = path.join(dir, "files");
    fs.mkdirSync(loc, { recursive: true });
    for (const f of fs.readdirSync(source)) {
      fs.copyFileSync(path.join(source, f), path.join(loc, f));
    }
    const conf = path.join(dir, "dhcpsvc.conf");
    fs.writeFileSync(
      conf,
      `DAEMON_ENABLED=TRUE\nRESOURCE=SUNWfiles\nRUN_MODE=server\nPATH=${loc}\nCONVER=1\n`,
    );
    return {
      conf,
      dir,
      from: { resource: "SUNWfiles", location: loc, conver: 1 },
      to: { resource: "SUNWbinfiles", location: path.join(dir, "bin"), conver: -1 },
    };
  }

  it("moves SUNWfiles to SUNWbinfiles and back, switching dhcpsvc.conf and removing the old tables", async () => {
    const before = await contents({ resource: "SUNWfiles", location: source, conver: 1 });
    const { conf, from, to, dir } = setup();
    const r = await convertConfigured({
      confFile: conf,
      from,
      to,
      netmask: () => 24,
      storeOptions: { synchronizer: null },
    });
    assert.deepEqual(r.containers.map((c) => [c.name, c.records]), [["dhcptab", 12], [
      "10.1.0.0",
      60,
    ], ["10.2.0.0", 60]]);
    assert.equal(r.removed, true);
    assert.deepEqual(fs.readdirSync(from.location), []);
    const ds = datastoreFromConf(await readDhcpsvcConf(conf));
    assert.deepEqual([ds.resource, ds.location, ds.conver], ["SUNWbinfiles", to.location, 1]);
    assert.ok(!fs.existsSync(convertJournalFile(conf)));
    const mid = await contents({ ...to, conver: 1 });
    // Upstream's order rule: records are added in lookup order, so lookups list them reversed.
    for (const k of Object.keys(before)) {
      assert.deepEqual([...(mid[k] as string[])].sort(), [...(before[k] as string[])].sort(), k);
    }
    assert.deepEqual(mid.dhcptab, [...(before.dhcptab as string[])].reverse());
    const back = path.join(dir, "files2");
    await convertConfigured({
      confFile: conf,
      from: { ...to, conver: 1 },
      to: { resource: "SUNWfiles", location: back, conver: 1 },
      netmask: () => 24,
      storeOptions: { synchronizer: null },
    });
    const after = await contents({ resource: "SUNWfiles", location: back, conver: 1 });
    // SUNWbinfiles lists by hash chain, so only the records, not their order, come back.
    assert.deepEqual(Object.keys(after), Object.keys(before));
    for (const k of Object.keys(before)) {
      assert.deepEqual([...(after[k] as string[])].sort(), [...(before[k] as string[])].sort(), k);
    }
  });

  it("interrupted at random points 20 times and rerun, it ends with the records of an uninterrupted run", async () => {
    const ref = setup();
    await convertConfigured({
      confFile: ref.conf,
      from: ref.from,
      to: ref.to,
      netmask: () => 24,
      storeOptions: { synchronizer: null },
    });
    const want = await contents({ ...ref.to, conver: 1 });
    let interruptions = 0;
    for (let round = 0; round < 40 && interruptions < 20; round++) {
      const { conf, from, to } = setup();
      let finished = false;
      for (let attempt = 0; attempt < 20 && !finished; attempt++) {
        let calls = 0;
        const stopAt = 1 + Math.floor(Math.random() * 140);
        try {
          await convertConfigured({
            confFile: conf,
            from: datastoreFromConf(await readDhcpsvcConf(conf)),
            to,
            netmask: () => 24,
            storeOptions: { synchronizer: null },
            progress: () => {
              if (++calls === stopAt) throw new Error("interrupted");
            },
          });
          finished = true;
        } catch (e) {
          assert.equal((e as Error).message, "interrupted");
          interruptions++;
          // Until the switch, the configured store is the source and still whole.
          const ds = datastoreFromConf(await readDhcpsvcConf(conf));
          if (ds.resource === "SUNWfiles") {
            const still = await contents(from);
            assert.equal(still["10.2.0.0"]?.length, 60);
          }
        }
      }
      assert.ok(finished, "the conversion finishes");
      assert.deepEqual(await contents({ ...to, conver: 1 }), want);
      assert.deepEqual(fs.readdirSync(from.location), []);
    }
    assert.ok(interruptions >= 20, `${interruptions} interruptions`);
  });

  it("steward dhcp convert survives kill -9 and prints one line per container without a terminal", async () => {
    const ref = setup();
    await convertConfigured({
      confFile: ref.conf,
      from: ref.from,
      to: ref.to,
      netmask: () => 24,
      storeOptions: { synchronizer: null },
    });
    const want = await contents({ ...ref.to, conver: 1 });
    const { conf, to, dir } = setup();
    // The networks are /24s, as the administrator's netmasks file says.
    const netmasks = path.join(dir, "netmasks");
    fs.writeFileSync(netmasks, NETS.map((n) => `${n}\t255.255.255.0\n`).join(""));
    const env = {
      STEWARD_DHCPSVC_CONF: conf,
      STEWARD_RUN_DIR: path.join(dir, "run"),
      STEWARD_NETMASKS: netmasks,
    };
    const permissions = testPermissions(tmp.path, {
      unixSockets: [path.join(dir, "run", "lockd.sock")],
    });
    const args = ["dhcp", "convert", "--resource", "SUNWbinfiles", "--path", to.location, "--json"];
    try {
      for (let k = 0; k < 2; k++) {
        const child = spawnSteward(args, { env, permissions });
        // Killed once it has copied something: after its first container line.
        await new Promise<void>((resolve) => {
          child.stderr?.on("data", (d: Buffer) => {
            if (d.toString().includes("records")) resolve();
          });
          child.on("exit", () => resolve());
        });
        child.kill("SIGKILL");
        await exited(child, 10_000);
      }
      const done = await runSteward(args, { env, permissions });
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /^10\.2\.0\.0: 60 records$/m);
      assert.match(done.stderr, /^dhcpsvc\.conf switched$/m);
      const res = JSON.parse(done.stdout) as { resumed: boolean; removed: boolean };
      assert.equal(res.removed, true);
      assert.deepEqual(await contents({ ...to, conver: 1 }), want);
      assert.match(fs.readFileSync(conf, "utf8"), /RESOURCE=SUNWbinfiles/);
    } finally {
      await stopLockd(path.join(dir, "run"));
    }
  });

  it("refuses a destination that already holds tables this conversion did not make", async () => {
    const { conf, from, to } = setup();
    const s = await openStore({ ...to }, { synchronizer: null });
    await s.mklocation();
    await (await s.openNetwork("10.1.0.0", RWC, { netmask: 24 })).close();
    await s.close();
    await assert.rejects(
      convertConfigured({
        confFile: conf,
        from,
        to,
        netmask: () => 24,
        storeOptions: { synchronizer: null },
      }),
      /already has 10\.1\.0\.0/,
    );
    assert.equal(datastoreFromConf(await readDhcpsvcConf(conf)).resource, "SUNWfiles");
    assert.equal((await contents(from))["10.1.0.0"]?.length, 60);
  });
});
