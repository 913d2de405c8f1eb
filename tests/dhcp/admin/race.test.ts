/**
 * dhtadm's checks read the whole dhcptab before they write: two adds racing with the same
 * symbol code must not both pass them, in one process or in two.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parseDhtadm, runDhtadmCommand } from "../../../lib/dhcp/admin/dhtadm.ts";
import { AdminError } from "../../../lib/dhcp/admin/format.ts";
import { AdminSession } from "../../../lib/dhcp/admin/session.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { tempDir } from "../../helpers.ts";
import { dhcpSandbox } from "../cli/helpers.ts";

function session(conf: string): { s: AdminSession; err: () => string } {
  let err = "";
  const s = new AdminSession({
    confFile: conf,
    // Each session its own store: only the store's update lock can keep them apart.
    openStore: (ds) => openStore(ds, { synchronizer: null }),
    stdout: () => {},
    stderr: (t) => (err += t),
  });
  return { s, err: () => err };
}

async function dhtadm(s: AdminSession, argv: string[]): Promise<number> {
  try {
    return await runDhtadmCommand(s, parseDhtadm(argv));
  } catch (e) {
    if (!(e instanceof AdminError)) throw e;
    s.err(e.message);
    return e.exitCode;
  }
}

describe("dhtadm under concurrency", () => {
  test("two sessions adding symbols with one code at once: exactly one succeeds", async () => {
    using dir = tempDir("dhtadm-race");
    const conf = path.join(dir.path, "dhcpsvc.conf");
    fs.writeFileSync(conf, "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\n");
    fs.mkdirSync(path.join(dir.path, "store"));
    const setup = session(conf);
    assert.equal(await dhtadm(setup.s, ["-C"]), 0, setup.err());
    await setup.s.close();
    for (let round = 0; round < 5; round++) {
      const a = session(conf);
      const b = session(conf);
      const code = 130 + round;
      const results = await Promise.all([
        dhtadm(a.s, ["-A", "-s", `SymA${round}`, "-d", `Site,${code},IP,1,0`]),
        dhtadm(b.s, ["-A", "-s", `SymB${round}`, "-d", `Site,${code},IP,1,0`]),
      ]);
      await Promise.all([a.s.close(), b.s.close()]);
      assert.deepEqual(
        [...results].sort(),
        [0, 3],
        `round ${round}: ${results.join(", ")} ${a.err()}${b.err()}`,
      );
      assert.match(a.err() + b.err(), new RegExp(`code ${code} is already used by symbol Sym`));
    }
  });

  test("dhtadm processes racing on one symbol code: one add wins each round", async () => {
    const sb = dhcpSandbox("dhtadm-procs");
    try {
      for (let round = 0; round < 3; round++) {
        const code = 140 + round;
        const runs = await Promise.all(
          ["P", "Q", "R"].map((x) =>
            sb.run(["dhcp", "dhtadm", "-A", "-s", `Sym${x}${round}`, "-d", `Site,${code},IP,1,0`])
          ),
        );
        const codes = runs.map((r) => r.code).sort();
        assert.deepEqual(codes, [0, 3, 3], runs.map((r) => r.stderr).join(""));
      }
      const listing = (await sb.run(["dhcp", "dhtadm", "-P"])).stdout;
      for (let round = 0; round < 3; round++) {
        const found = listing.match(new RegExp(`Site,${140 + round},IP,1,0`, "g")) ?? [];
        assert.equal(found.length, 1, listing);
      }
    } finally {
      await sb.dispose();
    }
  });
});
