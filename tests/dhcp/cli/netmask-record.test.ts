/**
 * `network create --netmask` records the mask in steward's own netmasks file (beside the
 * dhcpsvc.conf), every later command uses it, `network list`/`show` say which mask applies and
 * where it came from, and `network remove` drops the line: from the built binary.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { requireBinary } from "../../helpers.ts";
import { type DhcpSandbox, dhcpSandbox, snapshot } from "./helpers.ts";

let sb: DhcpSandbox;
let own: string;
before(() => {
  requireBinary();
  sb = dhcpSandbox("dhcp-netmask-record");
  own = `${sb.conf}.netmasks`;
});
after(async () => {
  await sb.dispose();
});

async function ok(args: string[]): Promise<string> {
  const r = await sb.run(args);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe("network create --netmask records the mask", () => {
  test("later commands use the recorded mask without --netmask, and remove drops it", async () => {
    await ok(["dhcp", "network", "create", "10.20.30.0", "--netmask", "24"]);
    assert.match(
      fs.readFileSync(own, "utf8"),
      /^#[^\n]*\n#[^\n]*\n10\.20\.30\.0\t255\.255\.255\.0\n$/,
    );

    // Without --netmask: add, pntadm -A (its operand masked with the recorded /24), show, list.
    await ok(["dhcp", "network", "add", "10.20.30.0", "10.20.30.5", "--server", "10.20.30.1"]);
    await ok(["dhcp", "pntadm", "-A", "10.20.30.6", "-s", "10.20.30.1", "10.20.30.77"]);
    const rows = JSON.parse(await ok(["dhcp", "network", "show", "10.20.30.0", "--json"])) as {
      clientIp: string;
      netmask: string;
      netmaskSource: string;
    }[];
    assert.deepEqual(rows.map((r) => [r.clientIp, r.netmask, r.netmaskSource]), [
      ["10.20.30.6", "255.255.255.0", own],
      ["10.20.30.5", "255.255.255.0", own],
    ]);
    // Off a terminal: the mask is the last field, after the (empty) comment.
    const tsv = await ok(["dhcp", "network", "show", "10.20.30.0"]);
    assert.equal(
      tsv.split("\n")[0],
      "10.20.30.6\t00\tDYNAMIC\t10.20.30.1\tnone\tUNKNOWN\t\t255.255.255.0",
    );
    const list = JSON.parse(await ok(["dhcp", "network", "list", "--json"])) as unknown[];
    assert.deepEqual(list, [
      { network: "10.20.30.0", addresses: 2, netmask: "255.255.255.0", netmaskSource: own },
      {
        network: "192.168.10.0",
        addresses: 4,
        netmask: "255.255.255.0",
        netmaskSource: "classful",
      },
    ]);
    assert.equal(
      await ok(["dhcp", "network", "list"]),
      `10.20.30.0\t2\t255.255.255.0\t${own}\n192.168.10.0\t4\t255.255.255.0\tclassful\n`,
    );
    const check = await ok(["dhcp", "network", "check", "10.20.30.0"]);
    assert.match(check, /records: 2\nok\n$/);

    // An address outside the recorded mask is refused, naming the mask and the file.
    const before = snapshot(sb.store);
    for (
      const args of [
        ["dhcp", "network", "add", "10.20.30.0", "10.20.31.5", "--server", "10.20.30.1"],
        ["dhcp", "pntadm", "-M", "10.20.30.5", "-n", "10.20.31.5", "10.20.30.0"],
      ]
    ) {
      const r = await sb.run(args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.ok(
        r.stderr.includes(
          `client IP 10.20.31.5 is not in network 10.20.30.0 under netmask 255.255.255.0 (from ${own})`,
        ),
        r.stderr,
      );
    }
    assert.deepEqual(snapshot(sb.store), before, "nothing is written");

    // A create contradicting the recorded entry is refused; nothing changes.
    const r = await sb.run(["dhcp", "network", "create", "10.20.30.0", "--netmask", "25"]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.includes(
        `Network 10.20.30.0 has the netmask 255.255.255.0 in ${own}, not 255.255.255.128`,
      ),
      r.stderr,
    );

    await ok(["dhcp", "network", "remove", "10.20.30.0", "--yes"]);
    assert.ok(!fs.existsSync(own), "the line is dropped, and the file steward made with it");
    assert.ok(!fs.existsSync(path.join(sb.store, "SUNWfiles1_10_20_30_0")));
  });

  test("a failed create takes its line back; hand-written lines and comments are kept", async () => {
    const hand = "# the lab\n172.16.0.0\t255.255.255.0\t# subnets of 172.16\n";
    fs.writeFileSync(own, hand);
    // The table exists already: refused, and the netmasks file is as it was.
    const r = await sb.run(["dhcp", "network", "create", "192.168.10.0", "--netmask", "25"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^steward: Table for 192\.168\.10\.0 already exists\.\n/);
    assert.equal(fs.readFileSync(own, "utf8"), hand);
    // A hand-written classful entry gives the mask; create --netmask adds the subnet's own line.
    await ok(["dhcp", "network", "create", "172.16.5.0"]);
    assert.equal(fs.readFileSync(own, "utf8"), hand, "no --netmask: nothing recorded");
    await ok(["dhcp", "network", "create", "172.16.6.0", "--netmask", "255.255.255.128"]);
    assert.equal(fs.readFileSync(own, "utf8"), `${hand}172.16.6.0\t255.255.255.128\n`);
    const list = await ok(["dhcp", "network", "list"]);
    assert.match(list, new RegExp(`^172\\.16\\.5\\.0\\t0\\t255\\.255\\.255\\.0\\t${own}$`, "m"));
    assert.match(list, /^172\.16\.6\.0\t0\t255\.255\.255\.128\t/m);
    // A table whose line is gone (made before masks were recorded, or edited away) is listed
    // with the widest mask its address allows, said to be guessed.
    await ok(["dhcp", "network", "create", "10.9.8.0", "--netmask", "24"]);
    fs.writeFileSync(own, `${hand}172.16.6.0\t255.255.255.128\n`);
    assert.match(
      await ok(["dhcp", "network", "list"]),
      /^10\.9\.8\.0\t0\t255\.255\.248\.0\tguessed$/m,
    );
    await ok(["dhcp", "network", "remove", "10.9.8.0", "--yes"]);
    await ok(["dhcp", "pntadm", "-R", "172.16.6.0"]);
    await ok(["dhcp", "network", "remove", "172.16.5.0", "--yes"]);
    assert.equal(fs.readFileSync(own, "utf8"), hand, "only the recorded line went");
    fs.rmSync(own);
  });

  test("$STEWARD_NETMASKS names steward's file; upstream's pntadm -C takes no netmask", async () => {
    const named = path.join(sb.dir, "masks");
    const env = { STEWARD_NETMASKS: named };
    let r = await sb.run(["dhcp", "network", "create", "10.7.0.0", "--netmask", "16"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(named, "utf8"), /\n10\.7\.0\.0\t255\.255\.0\.0\n$/);
    assert.ok(!fs.existsSync(own));
    r = await sb.run(["dhcp", "network", "show", "10.7.0.0"], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "remove", "10.7.0.0", "--yes"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(named));
    r = await sb.run(["dhcp", "pntadm", "-C", "-m", "255.255.255.0", "10.8.0.0"]);
    assert.equal(
      r.code,
      4,
      "a usage error, as upstream's CreateNetworkTable accepts only -r -p -u",
    );
    assert.ok(!fs.existsSync(path.join(sb.store, "SUNWfiles1_10_8_0_0")));
  });
});
