/**
 * SUNWbinfiles through the command line: `dhcp module list` shows it, `dhcp config` writes a
 * dhcpsvc.conf for it (and refuses a bad config string), and the network/table commands and
 * pntadm/dhtadm work on it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DN_QCIP, DSVC_READ, qeq, qinit } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { runSteward, type TempDir, tempDir, testPermissions } from "../../helpers.ts";
import { stopLockd } from "../cli/helpers.ts";

describe("SUNWbinfiles from the command line", () => {
  let tmp: TempDir;
  let env: Record<string, string>;
  let runDir: string;
  const run = (args: string[]) =>
    runSteward(args, {
      via: "source",
      env,
      permissions: testPermissions(tmp.path, { unixSockets: [path.join(runDir, "lockd.sock")] }),
    });

  before(() => {
    tmp = tempDir("bincli");
    runDir = path.join(tmp.path, "run");
    env = {
      STEWARD_DHCPSVC_CONF: path.join(tmp.path, "dhcpsvc.conf"),
      STEWARD_RUN_DIR: runDir,
      TZ: "UTC",
    };
  });
  after(async () => {
    await stopLockd(runDir);
    tmp[Symbol.dispose]();
  });

  it("module list, config, network, table, pntadm and dhtadm work on a SUNWbinfiles store", async () => {
    const list = await run(["dhcp", "module", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^SUNWbinfiles\t1\t1\tlock manager\tBinary files/m);
    const loc = path.join(tmp.path, "var-dhcp");
    const bad = await run([
      "dhcp",
      "config",
      "--resource",
      "SUNWbinfiles",
      "--path",
      loc,
      "--resource-config",
      "durability=sometimes",
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /durability=durable or durability=relaxed/);
    const conf = await run([
      "dhcp",
      "config",
      "--resource",
      "SUNWbinfiles",
      "--path",
      loc,
      "--resource-config",
      "durability=relaxed",
      "--create-location",
      "--create-dhcptab",
    ]);
    assert.equal(conf.code, 0, conf.stderr);
    assert.match(
      fs.readFileSync(env.STEWARD_DHCPSVC_CONF as string, "utf8"),
      /RESOURCE=SUNWbinfiles/,
    );
    for (
      const args of [
        ["dhcp", "network", "create", "192.168.7.0", "--netmask", "24"],
        [
          "dhcp",
          "network",
          "add",
          "192.168.7.0",
          "192.168.7.10",
          "--client-id",
          "01AABBCCDDEEFF",
          "--server",
          "192.168.7.1",
        ],
        ["dhcp", "pntadm", "-A", "192.168.7.11", "-s", "192.168.7.1", "192.168.7.0"],
        ["dhcp", "dhtadm", "-A", "-m", "Locale", "-d", ":UTCoffst=0:"],
      ]
    ) {
      const r = await run(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    assert.ok(fs.existsSync(path.join(loc, "SUNWbinfiles1_192_168_7_0")));
    assert.equal(fs.statSync(path.join(loc, "SUNWbinfiles1_192_168_7_0")).size, 32768 + 280 * 256);
    const show = await run(["dhcp", "network", "show", "192.168.7.0", "--json"]);
    assert.equal(show.code, 0, show.stderr);
    const recs = JSON.parse(show.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(recs.map((r) => r.clientIp).sort(), ["192.168.7.10", "192.168.7.11"]);
    const p = await run(["dhcp", "pntadm", "-P", "192.168.7.0"]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /01AABBCCDDEEFF\s+00\s+192\.168\.7\.10/);
    const d = await run(["dhcp", "dhtadm", "-P"]);
    assert.match(d.stdout, /Locale\s+Macro\s+:UTCoffst=0:/);
    const check = await run(["dhcp", "network", "check", "192.168.7.0"]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /records: 2\nok\n$/);

    // A busy process with the table open sees what an admin command in another process changed.
    const store = await openStore(
      { resource: "SUNWbinfiles", location: loc, config: "durability=relaxed" },
      { lockd: { runDir } },
    );
    try {
      const dn = await store.openNetwork("192.168.7.0", DSVC_READ, { netmask: 24 });
      const one = async () =>
        (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: 0xc0a8070a })).records[0];
      assert.equal((await one())?.comment, "");
      const m = await run(["dhcp", "pntadm", "-M", "192.168.7.10", "-c", "changed", "192.168.7.0"]);
      assert.equal(m.code, 0, m.stderr);
      assert.equal((await one())?.comment, "changed");
      const del = await run(["dhcp", "pntadm", "-D", "192.168.7.10", "192.168.7.0"]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(await one(), undefined);
      await dn.close();
    } finally {
      await store.close();
    }
  });
});
