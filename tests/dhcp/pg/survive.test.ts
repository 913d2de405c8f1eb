/**
 * What STEWpgsql must survive: two server processes allocating free addresses concurrently,
 * its connections killed by the server in the middle of a load, and hostile text in every field
 * an admin command takes. Against the local PostgreSQL; skipped with the reason when none answers.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runAdminTool } from "../../../lib/dhcp/admin/batch.ts";
import { AdminSession } from "../../../lib/dhcp/admin/session.ts";
import { endAllClients } from "../../../lib/dhcp/modules/pg/client.ts";
import { cidFromHex, cidToHex, makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import {
  DN_QCIP,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  DT_QKEY,
  qeq,
  qinit,
} from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { tempDir } from "../../helpers.ts";
import { runScript } from "../helpers.ts";
import { rejectsWith } from "../conformance/suite.ts";
import {
  adminClient,
  adminPool,
  dropSchemas,
  PG_TEST_CONFIG,
  pgSkipReason,
  runTag,
} from "./helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const skip = await pgSkipReason();
const tag = runTag("survive");
const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;

describe("STEWpgsql under pressure", { skip }, () => {
  after(async () => {
    await dropSchemas(tag);
    await endAllClients();
  });

  it("two servers allocating 10,000 addresses concurrently never bind one twice nor lose a binding", async (t) => {
    using tmp = tempDir("pg-alloc");
    const location = `${tag}_alloc`;
    const store = await openStore({ resource: "STEWpgsql", location, config: PG_TEST_CONFIG });
    await store.mklocation();
    const net = 0x0a100000; // 10.16.0.0/18
    const free = 10_400;
    (await store.openNetwork("10.16.0.0", CRW, { netmask: 18 })).close();
    const admin = adminPool();
    try {
      // Free addresses (client ID 00) loaded in one statement; signatures as the module makes them.
      await admin.query(
        `INSERT INTO "${location}"."STEWpgsql1_10_16_0_0" (cip, cid, flags, sip, lease, macro, comment, sig)
         SELECT $1::bigint + g, '\\x00'::bytea, 0, $1::bigint + 1, 0, 'm', '',
                ((1 + floor(random() * 32766))::bigint << 48) | 1
         FROM generate_series(2, $2::int + 1) AS g`,
        [net, free],
      );
    } finally {
      await admin.end();
    }
    const per = 5000;
    const runs = [1, 2].map((server) =>
      runScript(
        path.join(here, "alloc-worker.ts"),
        [JSON.stringify({
          config: PG_TEST_CONFIG,
          location,
          network: "10.16.0.0",
          netmask: 18,
          server,
          total: per,
          callers: 4,
          out: path.join(tmp.path, `acks${server}`),
          deadlineMs: 150_000,
        })],
        180_000,
      )
    );
    const results = await Promise.all(runs);
    for (const r of results) assert.equal(r.code, 0, `worker failed: ${r.stderr}`);
    t.diagnostic(`workers: ${results.map((r) => r.stdout.trim()).join(", ")}`);
    const acks = [1, 2].flatMap((s) =>
      fs.readFileSync(path.join(tmp.path, `acks${s}`), "utf8").trim().split("\n")
    ).map((l) => l.split(" ") as [string, string]);
    assert.equal(acks.length, 2 * per);
    const byCip = new Map<number, string>();
    for (const [cip, cid] of acks) {
      assert.ok(!byCip.has(Number(cip)), `address ${cip} was bound to two clients`);
      byCip.set(Number(cip), cid);
    }
    const dn = await store.openNetwork("10.16.0.0", DSVC_READ, { netmask: 18 });
    const all = (await dn.lookup(qinit(), {})).records;
    const bound = all.filter((r) => cidToHex(r.cid) !== "00");
    assert.equal(bound.length, 2 * per, "exactly the acknowledged bindings are in the table");
    for (const r of bound) assert.equal(cidToHex(r.cid), byCip.get(r.cip), "binding kept");
    const clients = new Set(bound.map((r) => cidToHex(r.cid)));
    assert.equal(clients.size, 2 * per, "no client holds two addresses");
    await dn.close();
    await store.close();
  });

  it("connections killed 20 times in the middle of a load: calls succeed or fail with DSVC_UNAVAILABLE, nothing acknowledged is lost", async (t) => {
    const app = `${tag}_kill`.slice(0, 60);
    const config = `${PG_TEST_CONFIG} application_name=${app} pool_max=4`;
    const location = `${tag}_kill`;
    const store = await openStore({ resource: "STEWpgsql", location, config });
    await store.mklocation();
    const dn = await store.openNetwork("10.17.0.0", CRW, { netmask: 16 });
    const callers = 4;
    for (let c = 0; c < callers; c++) {
      await dn.add(makeDnRec({ cip: 0x0a110001 + c, sip: "10.17.0.1", lease: 0 }));
    }
    let ops = 0;
    let waiter: { at: number; resolve: () => void } | undefined;
    const progress = () => {
      ops++;
      if (waiter && ops >= waiter.at) {
        waiter.resolve();
        waiter = undefined;
      }
    };
    let stop = false;
    const failures: DsvcError[] = [];
    const counters = Array.from({ length: callers }, () => ({ acked: 0, uncertain: 0 }));
    const added: number[] = [];
    const unknownAdds: number[] = [];
    const fail = (e: unknown) => {
      if (!(e instanceof DsvcError) || e.code !== DSVC.UNAVAILABLE) throw e;
      failures.push(e);
    };
    const load = Array.from({ length: callers }, async (_, c) => {
      const cip = 0x0a110001 + c;
      let nextAdd = 0x0a110100 + c * 0x1000;
      for (let i = 0; !stop && i < 100_000; i++) {
        try {
          const r = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip })).records[0] as DnRec;
          try {
            await dn.modify(r, { ...r, lease: r.lease + 1 });
            counters[c]!.acked++;
          } catch (e) {
            fail(e);
            counters[c]!.uncertain++;
          }
          const a = nextAdd++;
          try {
            await dn.add(makeDnRec({ cip: a, sip: "10.17.0.1" }));
            added.push(a);
          } catch (e) {
            fail(e);
            unknownAdds.push(a);
          }
        } catch (e) {
          fail(e);
        }
        progress();
      }
    });
    const admin = adminPool();
    let kills = 0;
    const started = Date.now();
    try {
      for (
        let attempt = 0;
        kills < 24 && attempt < 300 && Date.now() - started < 60_000;
        attempt++
      ) {
        // Handshake: the load made progress since the last kill (so the module reconnected).
        await new Promise<void>((resolve) => (waiter = { at: ops + 5, resolve }));
        const r = await admin.query(
          "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1",
          [app],
        );
        if (Number(r.rows[0]?.n) > 0) kills++;
      }
      await new Promise<void>((resolve) => (waiter = { at: ops + 20, resolve }));
    } finally {
      stop = true;
      waiter?.resolve();
      await Promise.all(load);
      await admin.end();
    }
    t.diagnostic(
      `${kills} kills, ${ops} rounds, ${failures.length} calls failed, e.g. ${
        failures[0]?.message
      }`,
    );
    assert.ok(kills >= 20, `only ${kills} kills hit a connection`);
    assert.ok(failures.length > 0, "some calls were in flight when their connection was killed");
    for (const f of failures) {
      assert.match(f.message, /^Underlying service required by public module is unavailable: /);
      assert.match(f.message, /terminat|connection/i);
    }
    const check = await store.openNetwork("10.17.0.0", DSVC_READ, { netmask: 16 });
    for (let c = 0; c < callers; c++) {
      const r = (await check.lookup(qeq(qinit(), DN_QCIP), { cip: 0x0a110001 + c })).records[0];
      const { acked, uncertain } = counters[c]!;
      assert.ok(
        r && r.lease >= acked && r.lease <= acked + uncertain,
        `counter ${c}: ${r?.lease} for ${acked}+${uncertain}`,
      );
    }
    const have = new Set((await check.lookup(qinit(), {})).records.map((r) => r.cip));
    for (const a of added) assert.ok(have.has(a), "an acknowledged add survived");
    assert.equal(have.size, callers + added.length + unknownAdds.filter((a) => have.has(a)).length);
    await check.close();
    await dn.close();
    await store.close();
  });

  it("a row held by another transaction makes a NONBLOCK update BUSY at once and a blocking one BUSY at the statement timeout", async () => {
    const location = `${tag}_busy`;
    const config = `${PG_TEST_CONFIG} statement_timeout=300`;
    const store = await openStore({ resource: "STEWpgsql", location, config });
    await store.mklocation();
    const dn = await store.openNetwork("10.21.0.0", CRW, { netmask: 16 });
    const rec = await dn.add(makeDnRec({ cip: "10.21.0.5", sip: "10.21.0.1" }));
    const nb = await store.openNetwork("10.21.0.0", DSVC_READ | DSVC_WRITE | DSVC_NONBLOCK, {
      netmask: 16,
    });
    const holder = adminClient();
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(
        `SELECT 1 FROM "${location}"."STEWpgsql1_10_21_0_0" WHERE cip = $1 FOR UPDATE`,
        [rec.cip],
      );
      const t0 = performance.now();
      const a = await rejectsWith(nb.modify(rec, { ...rec, lease: 1 }), DSVC.BUSY);
      assert.match(
        a.message,
        /^Busy: modify 10\.21\.0\.5 .*: canceling statement due to lock timeout/,
      );
      assert.ok(performance.now() - t0 < 250, "NONBLOCK did not wait for the statement timeout");
      const b = await rejectsWith(dn.modify(rec, { ...rec, lease: 2 }), DSVC.BUSY);
      assert.match(b.message, /canceling statement due to statement timeout/);
      // Lookups are not held up by the row lock.
      assert.equal((await nb.lookup(qeq(qinit(), DN_QCIP), { cip: rec.cip })).count, 1);
      await holder.query("COMMIT");
    } finally {
      await holder.end();
    }
    const done = await nb.modify(rec, { ...rec, lease: 3 });
    assert.equal(done.lease, 3);
    await nb.close();
    await dn.close();
    await store.close();
  });

  describe("hostile text through every admin field", () => {
    const location = `${tag}_inj`;
    let out = "";
    let err = "";
    let session: AdminSession;
    // 10.18.0.0 is a /16 here, as a netmasks entry says (the classful rule would make it 10/8).
    const masks = tempDir("pg-inj-netmasks");
    after(() => masks[Symbol.dispose]());
    const admin = (tool: "pntadm" | "dhtadm", ...args: string[]) =>
      runAdminTool(session, tool, [
        "-r",
        "STEWpgsql",
        "-p",
        location,
        "-u",
        PG_TEST_CONFIG,
        ...args,
      ]);

    before(async () => {
      const s = await openStore({ resource: "STEWpgsql", location, config: PG_TEST_CONFIG });
      await s.mklocation();
      await (await s.openDhcptab(CRW)).close();
      await s.close();
      session = new AdminSession({
        confFile: path.join(here, "no-such-dhcpsvc.conf"),
        openStore: (ds) => openStore(ds),
        stdout: (t) => (out += t),
        stderr: (t) => (err += t),
        serverAddress: () => Promise.resolve(0x0a120001),
        resolveHost: () => Promise.resolve(undefined),
        networksFile: path.join(here, "no-such-networks"),
        netmasksFiles: [path.join(masks.path, "netmasks")],
      });
      fs.writeFileSync(path.join(masks.path, "netmasks"), "10.18.0.0\t255.255.0.0\n");
    });

    const evil = [
      `it's`,
      `x'; DROP TABLE "STEWpgsql1_dhcptab"; --`,
      `a"b;c`,
      `\\'; SELECT pg_sleep(10); --`,
      `$1 $$ $tag$`,
    ];

    it("macro names, symbol names and values with quotes and semicolons are stored and read back intact", async () => {
      for (const [i, name] of evil.entries()) {
        assert.equal(await admin("dhtadm", "-A", "-m", name, "-d", `:UTCoffst=${i}:`), 0, err);
      }
      const sym = `S';--`;
      assert.equal(await admin("dhtadm", "-A", "-s", sym, "-d", "Site,140,ASCII,1,0"), 0, err);
      const value = `:${sym}="semi;colon 'quote' -- \\"dq\\"":`;
      assert.equal(await admin("dhtadm", "-A", "-m", "Quoted", "-d", value), 0, err);
      const renamed = `ren'; DELETE FROM x; --`;
      assert.equal(await admin("dhtadm", "-M", "-m", "Quoted", "-n", renamed), 0, err);
      const s = await openStore({ resource: "STEWpgsql", location, config: PG_TEST_CONFIG });
      const dt = await s.openDhcptab(DSVC_READ);
      for (const [i, name] of evil.entries()) {
        const r = await dt.lookup(qeq(qinit(), DT_QKEY), { key: name });
        assert.equal(r.count, 1, name);
        assert.equal(r.records[0]?.value, `:UTCoffst=${i}:`);
      }
      const q = await dt.lookup(qeq(qinit(), DT_QKEY), { key: renamed });
      assert.equal(q.records[0]?.value, value);
      assert.equal((await dt.lookup(qinit(), {})).count, evil.length + 2);
      await dt.close();
      await s.close();
    });

    it("network records with hostile macros and comments are stored intact; hostile addresses, networks and PATHs are refused", async () => {
      assert.equal(await admin("pntadm", "-C", "10.18.0.0"), 0, err);
      const macro = evil[1] as string;
      const comment = `c'; DROP SCHEMA x; --"`;
      assert.equal(
        await admin(
          "pntadm",
          "-A",
          "10.18.0.5",
          "-m",
          macro,
          "-c",
          comment,
          "-i",
          "01ab'",
          "10.18.0.0",
        ),
        3,
      );
      assert.equal(
        await admin(
          "pntadm",
          "-A",
          "10.18.0.5",
          "-m",
          macro,
          "-c",
          comment,
          "-i",
          "01ABCDEF",
          "-f",
          "MANUAL",
          "-e",
          "-1",
          "-s",
          "10.18.0.1",
          "10.18.0.0",
        ),
        0,
        err,
      );
      const newComment = `x";'--;`;
      assert.equal(await admin("pntadm", "-M", "10.18.0.5", "-c", newComment, "10.18.0.0"), 0, err);
      err = "";
      assert.notEqual(await admin("pntadm", "-A", "10.18.0.6'; DROP TABLE x; --", "10.18.0.0"), 0);
      assert.notEqual(await admin("pntadm", "-C", "10.19.0.0; DROP SCHEMA public"), 0);
      assert.notEqual(await admin("pntadm", "-A", "10.18.0.7", "10.18.0.0'; --"), 0);
      assert.notEqual(
        await runAdminTool(session, "pntadm", [
          "-r",
          "STEWpgsql",
          "-p",
          `${location}"; DROP SCHEMA public; --`,
          "-u",
          PG_TEST_CONFIG,
          "-L",
        ]),
        0,
      );
      assert.match(err, /PostgreSQL schema name/);
      const s = await openStore({ resource: "STEWpgsql", location, config: PG_TEST_CONFIG });
      const dn = await s.openNetwork("10.18.0.0", DSVC_READ, { netmask: 16 });
      const all = (await dn.lookup(qinit(), {})).records;
      assert.equal(all.length, 1);
      assert.equal(all[0]?.macro, macro);
      assert.equal(all[0]?.comment, newComment);
      assert.equal(cidToHex(all[0]!.cid), "01ABCDEF");
      assert.deepEqual(await s.listNetworks(), ["10.18.0.0"]);
      await dn.close();
      await s.close();
      const a = adminPool();
      try {
        const t = await a.query(
          "SELECT count(*) AS n FROM pg_tables WHERE schemaname = $1",
          [location],
        );
        assert.equal(
          Number(t.rows[0]?.n),
          2,
          "the dhcptab and the one network table, nothing dropped",
        );
        const pub = await a.query("SELECT 1 FROM pg_namespace WHERE nspname = 'public'");
        assert.equal(pub.rows.length, 1);
      } finally {
        await a.end();
      }
    });

    it("NUL characters are refused with a clear error; a hostile RESOURCE_CONFIG reaches no SQL", async () => {
      const s = await openStore({ resource: "STEWpgsql", location, config: PG_TEST_CONFIG });
      const dt = await s.openDhcptab(DSVC_READ | DSVC_WRITE);
      const e = await rejectsWith(dt.add(makeDtRec("nul\0name", "m", ":x:")), DSVC.INVAL);
      assert.match(e.message, /key contains a NUL character/);
      await rejectsWith(dt.add(makeDtRec("nulvalue", "m", ":a\0b:")), DSVC.INVAL);
      const dn = await s.openNetwork("10.18.0.0", DSVC_READ | DSVC_WRITE, { netmask: 16 });
      const c = await rejectsWith(
        dn.add(
          makeDnRec({ cip: "10.18.0.9", cid: cidFromHex("01") as Uint8Array, comment: "a\0b" }),
        ),
        DSVC.INVAL,
      );
      assert.match(c.message, /comment contains a NUL character/);
      await dt.close();
      await dn.close();
      await s.close();
      const bad = await openStore({
        resource: "STEWpgsql",
        location,
        config: `${PG_TEST_CONFIG.replace(/dbname=\S+/, "")} dbname='test; DROP DATABASE test'`,
      });
      const n = await rejectsWith(bad.status(), DSVC.NO_LOCATION);
      assert.match(n.message, /database "test; DROP DATABASE test" does not exist/);
      await bad.close();
      await assert.rejects(
        openStore({ resource: "STEWpgsql", location, config: `${PG_TEST_CONFIG} password=secret` }),
        (e: DsvcError) =>
          e.code === DSVC.MODULE_CFG_ERR && /must not hold a password/.test(e.message),
      );
    });
  });
});
