/**
 * The dhcp admin commands' errors speak the user's terms, from the built binary: the network
 * and address as typed (or, for pntadm, as upstream masks it), never a container's file or lock
 * name, no repeated prefix, the cause first; upstream's text where upstream has one.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { requireBinary, type RunResult } from "../../helpers.ts";
import { type DhcpSandbox, dhcpSandbox } from "./helpers.ts";

let sb: DhcpSandbox;
before(() => {
  requireBinary();
  sb = dhcpSandbox("dhcp-error-terms");
});
after(async () => {
  await sb.dispose();
});

/** One message line, in the user's terms, and nothing else on stderr. */
function saysOnly(r: RunResult, code: number, line: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `${what}: one line: ${r.stderr}`);
  const msg = lines[0] ?? "";
  assert.match(msg, line, what);
  assert.doesNotMatch(msg, /\/\.?SUNW\w*?\d+_/, `${what}: no container file or lock name`);
  assert.doesNotMatch(
    msg,
    /^(\w+: )(\w+: )?\1|\b(dhcp|pntadm|dhtadm|steward): \3:/,
    `${what}: one prefix`,
  );
  assert.doesNotMatch(msg, /Internal error/, `${what}: the cause, not "Internal error"`);
}

async function expect(args: string[], code: number, line: RegExp): Promise<void> {
  saysOnly(await sb.run(args), code, line, args.join(" "));
}

describe("dhcp errors in the user's terms", () => {
  test("a network without a table, an existing table, a missing dhcptab", async () => {
    // pntadm masks its operand as upstream (10.9.0.0 is in 10.0.0.0/8): upstream's bridge text.
    await expect(
      ["dhcp", "pntadm", "-P", "10.9.0.0"],
      2,
      /^pntadm: Table for 10\.0\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "pntadm", "-R", "10.9.0.0"],
      2,
      /^pntadm: Table for 10\.0\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "pntadm", "-A", "10.9.0.5", "-s", "10.9.0.1", "10.9.0.0"],
      3,
      /^pntadm: Table for 10\.0\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "network", "show", "10.9.0.0", "--netmask", "16"],
      1,
      /^steward: Table for 10\.9\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "network", "remove", "10.9.0.0", "--yes"],
      1,
      /^steward: Table for 10\.9\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "network", "add", "10.9.0.0", "10.9.0.5", "--server", "10.9.0.1", "--netmask", "16"],
      1,
      /^steward: Table for 10\.9\.0\.0 does not exist\.$/,
    );
    await expect(
      ["dhcp", "pntadm", "-C", "192.168.10.0"],
      1,
      /^pntadm: Table for 192\.168\.10\.0 already exists\.$/,
    );
    await expect(
      ["dhcp", "network", "create", "192.168.10.0"],
      1,
      /^steward: Table for 192\.168\.10\.0 already exists\.$/,
    );
    await expect(["dhcp", "dhtadm", "-C"], 1, /^dhtadm: Table for dhcptab already exists\.$/);
    await expect(["dhcp", "table", "create"], 1, /^steward: Table for dhcptab already exists\.$/);
    const tab = path.join(sb.store, "SUNWfiles1_dhcptab");
    fs.renameSync(tab, `${tab}.away`);
    try {
      await expect(["dhcp", "dhtadm", "-P"], 2, /^dhtadm: Table for dhcptab does not exist\.$/);
      await expect(["dhcp", "table", "show"], 1, /^steward: Table for dhcptab does not exist\.$/);
      await expect(
        ["dhcp", "dhtadm", "-A", "-m", "X", "-d", ":LeaseTim=1:"],
        3,
        /^dhtadm: Table for dhcptab does not exist\.$/,
      );
    } finally {
      fs.renameSync(`${tab}.away`, tab);
    }
  });

  test("an address not in the table, a duplicate, an unknown macro", async () => {
    await expect(
      ["dhcp", "pntadm", "-D", "192.168.10.99", "192.168.10.0"],
      2,
      /^pntadm: Entry does not exist: 192\.168\.10\.99 in network 192\.168\.10\.0$/,
    );
    await expect(
      ["dhcp", "network", "modify", "192.168.10.0", "192.168.10.99", "--comment", "x"],
      1,
      /^steward: Entry does not exist: 192\.168\.10\.99 in network 192\.168\.10\.0$/,
    );
    await expect(
      ["dhcp", "pntadm", "-A", "192.168.10.10", "-s", "192.168.10.1", "192.168.10.0"],
      1,
      /^pntadm: Already exists: client IP 192\.168\.10\.10$/,
    );
    await expect(
      ["dhcp", "network", "add", "192.168.10.0", "192.168.10.10", "--server", "192.168.10.1"],
      1,
      /^steward: Already exists: client IP 192\.168\.10\.10$/,
    );
    await expect(
      [
        "dhcp",
        "pntadm",
        "-A",
        "192.168.10.98",
        "-m",
        "NoSuch",
        "-y",
        "-s",
        "192.168.10.1",
        "192.168.10.0",
      ],
      3,
      /^pntadm: Cannot find macro in dhcptab\.$/,
    );
    await expect(
      ["dhcp", "dhtadm", "-D", "-m", "NoSuch"],
      2,
      /^dhtadm: Macro NoSuch does not exist in the dhcptab$/,
    );
    await expect(
      ["dhcp", "table", "delete", "macro", "NoSuch"],
      1,
      /^steward: Macro NoSuch does not exist in the dhcptab$/,
    );
  });

  test("a damaged container names the network or the dhcptab and the damage", async () => {
    const file = path.join(sb.store, "SUNWfiles1_192_168_10_0");
    const saved = fs.readFileSync(file);
    fs.writeFileSync(file, "garbage\n");
    try {
      const damaged =
        /: The table of network 192\.168\.10\.0 is damaged: not a SUNWfiles version 1 container: first line is "garbage", .*\(see 'steward dhcp network check 192\.168\.10\.0'\)$/;
      await expect(["dhcp", "pntadm", "-P", "192.168.10.0"], 3, damaged);
      await expect(
        ["dhcp", "pntadm", "-A", "192.168.10.77", "-s", "192.168.10.1", "192.168.10.0"],
        3,
        damaged,
      );
      await expect(["dhcp", "network", "show", "192.168.10.0"], 1, damaged);
      await expect(["dhcp", "network", "list"], 1, damaged);
    } finally {
      fs.writeFileSync(file, saved);
    }
    const tab = path.join(sb.store, "SUNWfiles1_dhcptab");
    const savedTab = fs.readFileSync(tab);
    fs.writeFileSync(tab, "#v1\n");
    try {
      const damaged =
        /: The dhcptab is damaged: not a SUNWfiles version 1 container: first line is "#v1", expected "# SUNWfiles1_dhcptab"$/;
      await expect(["dhcp", "dhtadm", "-P"], 3, damaged);
      await expect(["dhcp", "table", "show"], 1, damaged);
    } finally {
      fs.writeFileSync(tab, savedTab);
    }
  });

  test("a damaged SUNWbinfiles container names the network and the damage", async () => {
    const loc = path.join(sb.dir, "bin");
    fs.mkdirSync(loc);
    const bin = ["dhcp", "pntadm", "-r", "SUNWbinfiles", "-p", loc];
    const r = await sb.run([...bin, "-C", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(loc, "SUNWbinfiles1_10_0_0_0");
    const fd = fs.openSync(file, "r+");
    fs.writeSync(fd, Buffer.from([0, 0, 0, 0]), 0, 4, 0);
    fs.closeSync(fd);
    await expect(
      [...bin, "-P", "10.0.0.0"],
      3,
      /^pntadm: The table of network 10\.0\.0\.0 is damaged: \S.* \(see 'steward dhcp network check 10\.0\.0\.0'\)$/,
    );
    fs.truncateSync(file, 100);
    await expect(
      [...bin, "-P", "10.0.0.0"],
      3,
      /^pntadm: The table of network 10\.0\.0\.0 is damaged: truncated: 100 bytes/,
    );
  });

  test("a store directory that cannot be written: the cause and the network", async (t) => {
    // Root ignores permissions: make the directory immutable instead (ext4 and most others).
    const root = process.getuid?.() === 0;
    const lock = (on: boolean) =>
      root
        ? spawnSync("chattr", [on ? "+i" : "-i", sb.store]).status === 0
        : (fs.chmodSync(sb.store, on ? 0o555 : 0o755), true);
    if (!lock(true)) {
      t.skip("chattr +i is not available here, and root can write a read-only directory");
      return;
    }
    try {
      const denied =
        /^(pntadm|steward): Access denied: network 10\.0\.0\.0: (operation not permitted|permission denied) in \//;
      await expect(["dhcp", "pntadm", "-C", "10.0.0.0"], 3, denied);
      await expect(["dhcp", "network", "create", "10.0.0.0", "--netmask", "8"], 1, denied);
      await expect(
        ["dhcp", "pntadm", "-A", "192.168.10.77", "-s", "192.168.10.1", "192.168.10.0"],
        3,
        /^pntadm: Access denied: network 192\.168\.10\.0: (.*: )?(operation not permitted|permission denied) in \//,
      );
    } finally {
      lock(false);
    }
    assert.ok(
      !fs.existsSync(`${sb.conf}.netmasks`),
      "the failed create took its netmask line back",
    );
  });
});
