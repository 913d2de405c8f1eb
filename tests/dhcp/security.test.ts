/**
 * No privilege crossed through the dhcp data directory: a PATH outside the configured roots is
 * refused by every command before anything is created, and a symbolic link planted by another
 * local user in a data directory that user can write never makes a root writer read or write
 * the file it points to.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { makeDnRec, makeDtRec } from "../../lib/dhcp/records.ts";
import { DHCP_ROOTS_ENV } from "../../lib/dhcp/roots.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { isDeno } from "../../lib/platform/runtime.ts";
import { runSteward, type TempDir, tempDir } from "../helpers.ts";
import { rejectsWith } from "./conformance/suite.ts";

/** A symbolic link made by `ln` (Deno grants symlink(2) only with unscoped permissions). */
function plantLink(target: string, link: string): void {
  execFileSync("ln", ["-s", target, link]);
}

const CRW = DSVC_CREATE | DSVC_READ | DSVC_WRITE;
const RW = DSVC_READ | DSVC_WRITE;

function hasCommand(name: string): boolean {
  return ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].some((d) => fs.existsSync(path.join(d, name)));
}

describe("dhcp data directory security", () => {
  let tmp: TempDir;
  before(() => (tmp = tempDir("dhcp-security")));
  after(() => tmp[Symbol.dispose]());

  it("a PATH outside the configured roots is refused by every command and nothing is created", async () => {
    const allowed = path.join(tmp.path, "allowed");
    const outside = path.join(tmp.path, "outside");
    fs.mkdirSync(allowed);
    fs.mkdirSync(outside);
    // A link inside the roots that leads out of them is outside too.
    plantLink(outside, path.join(allowed, "escape"));
    const env = {
      [DHCP_ROOTS_ENV]: allowed,
      STEWARD_DHCPSVC_CONF: path.join(tmp.path, "none.conf"),
      STEWARD_RUN_DIR: path.join(tmp.path, "run"),
    };
    const conf = path.join(tmp.path, "w.conf");
    const configured = path.join(tmp.path, "outside.conf");
    fs.writeFileSync(configured, `RESOURCE=SUNWfiles\nPATH=${outside}\nCONVER=1\n`);
    const commands = (p: string) => [
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", p, "-C", "10.0.0.0"],
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", p, "-A", "10.0.0.5", "10.0.0.0"],
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", p, "-P", "10.0.0.0"],
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", p, "-R", "10.0.0.0"],
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", p, "-L"],
      ["dhcp", "dhtadm", "-r", "SUNWfiles", "-p", p, "-C"],
      ["dhcp", "dhtadm", "-r", "SUNWfiles", "-p", p, "-P"],
      ["dhcp", "network", "create", "10.0.0.0", "--netmask", "24", "--conf", configured],
      ["dhcp", "table", "create", "--conf", configured],
      [
        "dhcp",
        "config",
        "--conf",
        conf,
        "--resource",
        "SUNWfiles",
        "--path",
        p,
        "--create-location",
      ],
    ];
    const runs = [
      ...commands(outside),
      ...commands(path.join(allowed, "escape")).slice(0, 2),
    ].map(async (args) => ({ args, r: await runSteward(args, { env, via: "binary" }) }));
    for (const { args, r } of await Promise.all(runs)) {
      assert.notEqual(r.code, 0, `${args.join(" ")} is refused`);
      assert.match(r.stderr, /outside the allowed data directories/, args.join(" "));
    }
    assert.deepEqual(fs.readdirSync(outside), [], "nothing was created outside the roots");
    assert.ok(!fs.existsSync(conf), "no configuration naming it was written");
    await rejectsWith(
      openStore({ resource: "SUNWfiles", location: outside }, { roots: [allowed] }),
      DSVC.BAD_PATH,
    );
    // Inside the roots everything works.
    const r = await runSteward(
      ["dhcp", "pntadm", "-r", "SUNWfiles", "-p", allowed, "-C", "10.0.0.0"],
      { env, via: "binary" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(allowed, "SUNWfiles1_10_0_0_0")));
  });

  it("a symbolic link planted by another local user never makes a root write go through it", async (t) => {
    if (isDeno()) {
      t.skip("under Deno the test may only write below .tmp/, which a second user cannot reach");
      return;
    }
    if (process.getuid?.() !== 0) {
      t.skip("needs root to create a second local user (useradd)");
      return;
    }
    if (!hasCommand("useradd") || !hasCommand("userdel") || !hasCommand("runuser")) {
      t.skip("needs useradd, userdel and runuser");
      return;
    }
    const user = `stw${randomBytes(4).toString("hex")}`;
    execFileSync("useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", "-d", "/nonexistent", user]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steward-symlink-"));
    try {
      fs.chmodSync(dir, 0o755);
      // A data directory the second user may write (a delegated /var/dhcp).
      const location = path.join(dir, "dhcp");
      fs.mkdirSync(location, { mode: 0o755 });
      const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
      fs.chownSync(location, uid, -1);
      const victim = path.join(dir, "victim");
      fs.writeFileSync(victim, "root-only secret\n", { mode: 0o600 });
      const asUser = (...args: string[]) => execFileSync("runuser", ["-u", user, "--", ...args]);

      await using s = await openStore({ resource: "SUNWfiles", location }, {
        synchronizer: null,
        roots: null,
      });
      await (await s.openNetwork("10.0.0.0", CRW, { netmask: 24 })).close();
      await (await s.openNetwork("10.1.0.0", CRW, { netmask: 24 })).close();
      const net0 = path.join(location, "SUNWfiles1_10_0_0_0");
      const net1 = path.join(location, "SUNWfiles1_10_1_0_0");

      // 1. The container itself replaced by a link to a root-only file.
      asUser("ln", "-sfn", victim, net0);
      const dn0 = await s.openNetwork("10.0.0.0", RW, { netmask: 24 }).catch((e) => e);
      assert.ok(dn0 instanceof Error, "opening a container through a link is refused");
      assert.match(dn0.message, /symbolic link/);
      assert.ok(fs.lstatSync(net0).isSymbolicLink(), "the link is left as it was");

      // 2. The fixed temporary name of earlier versions planted as a link.
      asUser("ln", "-s", victim, `${net1}.new`);
      const dn1 = await s.openNetwork("10.1.0.0", RW, { netmask: 24 });
      await dn1.add(makeDnRec({ cip: "10.1.0.5", sip: "10.1.0.1" }));
      assert.equal((await dn1.lookup(qinit(), {})).count, 1);
      assert.ok(!fs.lstatSync(net1).isSymbolicLink());

      // 3. A link where a new dhcptab would be created.
      asUser("ln", "-s", victim, path.join(location, "SUNWfiles1_dhcptab"));
      await rejectsWith(s.openDhcptab(CRW), DSVC.TABLE_EXISTS);
      await rejectsWith(s.openDhcptab(RW), DSVC.ACCESS);
      // Its removal unlinks the link, never the file it names.
      await s.removeDhcptab();
      const dt = await s.openDhcptab(CRW);
      await dt.add(makeDtRec("Locale", "m", ":UTCoffst=0:"));

      assert.equal(
        fs.readFileSync(victim, "utf8"),
        "root-only secret\n",
        "the victim is untouched",
      );
      assert.equal(fs.statSync(victim).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      execFileSync("userdel", [user]);
    }
  });
});
