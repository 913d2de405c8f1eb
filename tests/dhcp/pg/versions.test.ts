/**
 * STEWpgsql container versions and conversion: two module versions share a schema without
 * seeing each other's tables, a table that is not a container of this version is refused, and
 * the example SUNWfiles store moves into PostgreSQL and back with every record and its order.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { convertStore } from "../../../lib/dhcp/convert.ts";
import { endAllClients } from "../../../lib/dhcp/modules/pg/client.ts";
import { createPgModule } from "../../../lib/dhcp/modules/pg/module.ts";
import { makeDnRec, makeDtRec } from "../../../lib/dhcp/records.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { ROOT, tempDir } from "../../helpers.ts";
import { rejectsWith } from "../conformance/suite.ts";
import { adminPool, dropSchemas, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

const skip = await pgSkipReason();
const tag = runTag("ver");
const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;

/** A container file without its signatures (they are new after a copy). */
function withoutSigs(text: string, sigField: number): string {
  return text.split("\n").map((l) => {
    if (l.startsWith("#") || l === "") return l;
    const f = l.split("|");
    f[sigField] = "SIG";
    return f.join("|");
  }).join("\n");
}

describe("STEWpgsql versions and conversion", { skip }, () => {
  after(async () => {
    await dropSchemas(tag);
    await endAllClients();
  });

  it("versions 1 and 2 keep their own tables in one schema; a foreign table is refused as INTERNAL", async () => {
    const schema = `${tag}_two`;
    const v1 = createPgModule(1);
    const v2 = createPgModule(2);
    v1.configure?.(PG_TEST_CONFIG);
    v2.configure?.(PG_TEST_CONFIG);
    await v1.mklocation(schema);
    const net = 0x0a140000;
    const mask = 0xffff0000;
    const d1 = await v1.openDn(schema, CRW, net, mask);
    const d2 = await v2.openDn(schema, CRW, net, mask);
    await v1.addDn(d1, makeDnRec({ cip: net + 1, sip: "10.20.0.1", macro: "one" }));
    await v2.addDn(d2, makeDnRec({ cip: net + 1, sip: "10.20.0.1", macro: "two" }));
    await (async () => {
      const t = await v2.openDt(schema, CRW);
      await v2.addDt(t, makeDtRec("Only2", "m", ":x:"));
    })();
    assert.deepEqual(await v1.listDn(schema), ["10.20.0.0"]);
    assert.deepEqual(await v2.listDn(schema), ["10.20.0.0"]);
    assert.deepEqual(await v1.listDt(schema), []);
    assert.deepEqual(await v2.listDt(schema), ["dhcptab"]);
    const all = { query: 0, partial: false, count: -1, countOnly: false };
    const r1 = await v1.lookupDn(d1, { ...all, target: makeDnRec({ cip: 0 }) });
    const r2 = await v2.lookupDn(d2, { ...all, target: makeDnRec({ cip: 0 }) });
    assert.deepEqual([r1.records[0]?.macro, r2.records[0]?.macro], ["one", "two"]);
    const a = adminPool();
    try {
      const t = await a.query("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", [
        schema,
      ]);
      assert.deepEqual(t.rows.map((x) => x.tablename), [
        "STEWpgsql1_10_20_0_0",
        "STEWpgsql2_10_20_0_0",
        "STEWpgsql2_dhcptab",
      ]);
      // A table of the right name that is not a version 1 container (no mark): refused.
      await a.query(`CREATE TABLE "${schema}"."STEWpgsql1_dhcptab" (x int)`);
    } finally {
      await a.end();
    }
    const e = await rejectsWith(v1.openDt(schema, DSVC_READ), DSVC.INTERNAL);
    assert.match(e.message, /not a STEWpgsql version 1 container/);
  });

  it("the example SUNWfiles store converts into PostgreSQL and back with its records in order", async () => {
    using tmp = tempDir("pg-convert");
    const src = path.join(tmp.path, "from");
    const example = path.join(ROOT, "examples", "dhcp", "var-dhcp");
    fs.mkdirSync(src);
    for (const f of fs.readdirSync(example)) {
      fs.copyFileSync(path.join(example, f), path.join(src, f));
    }
    const files = await openStore({ resource: "SUNWfiles", location: src }, { synchronizer: null });
    const pg = await openStore({
      resource: "STEWpgsql",
      location: `${tag}_conv`,
      config: PG_TEST_CONFIG,
    });
    await pg.mklocation();
    const there = await convertStore(files, pg, { keep: true, netmask: () => 24 });
    assert.deepEqual(there.containers.map((c) => c.name), ["dhcptab", "192.168.10.0"]);
    assert.deepEqual(await pg.listNetworks(), ["192.168.10.0"]);
    // And into a second schema, as a move of the store would.
    const pg2 = await openStore({
      resource: "STEWpgsql",
      location: `${tag}_conv2`,
      config: PG_TEST_CONFIG,
    });
    await pg2.mklocation();
    await convertStore(pg, pg2, { netmask: () => 24 });
    assert.deepEqual(await pg.listNetworks(), [], "the source containers were removed");
    const back = path.join(tmp.path, "back");
    fs.mkdirSync(back);
    const files2 = await openStore({ resource: "SUNWfiles", location: back }, {
      synchronizer: null,
    });
    const res = await convertStore(pg2, files2, { netmask: () => 24 });
    assert.deepEqual(res.containers, there.containers);
    for (
      const [name, sigField] of [["SUNWfiles1_dhcptab", 2], ["SUNWfiles1_192_168_10_0", 5]] as const
    ) {
      assert.equal(
        withoutSigs(fs.readFileSync(path.join(back, name), "utf8"), sigField),
        withoutSigs(fs.readFileSync(path.join(src, name), "utf8"), sigField),
        `${name} came back with the same records in the same order`,
      );
    }
    for (const s of [files, pg, pg2, files2]) await s.close();
  });
});
