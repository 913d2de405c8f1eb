import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { runBatch } from "../../../lib/dhcp/admin/batch.ts";
import { runDhtadmCommand } from "../../../lib/dhcp/admin/dhtadm.ts";
import { OptionSet } from "../../../lib/dhcp/admin/getopt.ts";
import { AdminError, escapeDiagnostic } from "../../../lib/dhcp/admin/format.ts";
import { AdminSession, HOST_LOOKUP_CONCURRENCY } from "../../../lib/dhcp/admin/session.ts";
import { DSVC, DsvcError } from "../../../lib/dhcp/spi.ts";
import type { Datastore } from "../../../lib/dhcp/store-api.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { tempDir } from "../../helpers.ts";

/** A session whose store opener records what it was asked for and refuses to open. */
function session(dir: string, extra: Partial<ConstructorParameters<typeof AdminSession>[0]> = {}) {
  const opened: Datastore[] = [];
  let out = "";
  let err = "";
  const s = new AdminSession({
    confFile: path.join(dir, "dhcpsvc.conf"),
    openStore: (ds) => {
      opened.push(ds);
      return Promise.reject(new DsvcError(DSVC.NO_LOCATION, ds.location));
    },
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    networksFile: path.join(dir, "networks"),
    netmasksFiles: [path.join(dir, "netmasks")],
    ...extra,
  });
  return { s, opened, out: () => out, err: () => err };
}

describe("the admin session", () => {
  test("takes the datastore from dhcpsvc.conf, with -r/-p/-u overrides", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\nRESOURCE_CONFIG=x\n",
    );
    const { s } = session(dir.path);
    assert.deepEqual(await s.datastore(), {
      resource: "SUNWfiles",
      location: path.join(dir.path, "store"),
      conver: 1,
      config: "x",
    });
    assert.deepEqual(await s.datastore({ path: "/var/dhcp" }), {
      resource: "SUNWfiles",
      location: "/var/dhcp",
      conver: 1,
      config: "x",
    });
    assert.deepEqual(await s.datastore({ resource: "Other", path: "db" }), {
      resource: "Other",
      location: "db",
      conver: -1,
    });
  });

  test("without a configuration needs both -r and -p (a critical error)", async () => {
    using dir = tempDir("dhcp-session");
    const { s, err } = session(dir.path);
    await assert.rejects(s.datastore(), (e: unknown) => {
      assert.ok(e instanceof AdminError);
      assert.equal(e.exitCode, 4);
      assert.match(e.message, /No DHCP configuration file exists/);
      return true;
    });
    assert.equal((await s.datastore({ resource: "SUNWfiles", path: "/x" })).location, "/x");
    assert.equal(
      err(),
      "\nWarning: No DHCP configuration file exists. There is no way to verify the\n" +
        "data store version for this operation.\n\n",
      "upstream's warning, once",
    );
    await s.datastore({ resource: "SUNWfiles", path: "/x" });
    assert.equal(err().split("Warning").length, 2);
  });

  test("refuses a store whose CONVER is not the module's current version", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=/x\nCONVER=0\n",
    );
    const { s, opened } = session(dir.path, { currentVersion: () => Promise.resolve(1) });
    await assert.rejects(s.store(), /version mismatch/);
    assert.equal(opened.length, 0, "the store is not even opened");
  });

  test("opens each datastore once for a whole batch", async () => {
    using dir = tempDir("dhcp-session");
    const store = path.join(dir.path, "store");
    fs.mkdirSync(store);
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      `RESOURCE=SUNWfiles\nPATH=${store}\nCONVER=1\n`,
    );
    let opens = 0;
    const { s, out, err } = session(dir.path, {
      openStore: (ds) => {
        opens++;
        // In-process serialization only: this test starts no lock manager.
        return openStore(ds, { synchronizer: null });
      },
    });
    try {
      const code = await runBatch(s, {
        readBatch: () =>
          Promise.resolve(
            `# one store for all\npntadm -C 10.0.0.0\npntadm -A 10.0.0.1 -s 10.0.0.254 10.0.0.0\npntadm -L\n`,
          ),
      });
      assert.equal(err(), "");
      assert.equal(code, 0);
      assert.equal(out(), "10.0.0.0\n");
      assert.equal(opens, 1);
    } finally {
      await s.close();
    }
  });

  test("diagnostics escape control characters that came with the request", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\n",
    );
    fs.mkdirSync(path.join(dir.path, "store"));
    const { s, out, err } = session(dir.path, {
      openStore: (ds) => openStore(ds, { synchronizer: null }),
    });
    try {
      const code = await runBatch(s, {
        verbose: true,
        readBatch: () =>
          Promise.resolve(
            "pntadm -C 10.0.0.0\n" +
              "pntadm -A 10.0.0.1 -s 10.0.0.254 -m '\x1b]0;owned\x07\x1b[2J' -y 10.0.0.0\n" +
              "bogus\x1b[31m\n",
          ),
      });
      assert.notEqual(code, 0);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(out() + err(), /[\x00-\x08\x0b-\x1f\x7f]/, "no raw control character");
      assert.match(
        out(),
        /> pntadm -A .*\\x1b\]0;owned\\x07\\x1b\[2J/,
        "the echo shows them escaped",
      );
      assert.match(err(), /\\x1b\[31m/, "so does the error naming the bad command");
    } finally {
      await s.close();
    }
    assert.equal(
      escapeDiagnostic("tab\tand\nnewline stay, \\ too, \u009b not"),
      "tab\tand\nnewline stay, \\ too, \\x9b not",
    );
  });

  test("dhtadm stores and shows symbol definitions normalised, as upstream", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\n",
    );
    fs.mkdirSync(path.join(dir.path, "store"));
    const { s, out, err } = session(dir.path, {
      openStore: (ds) => openStore(ds, { synchronizer: null }),
    });
    try {
      const code = await runBatch(s, {
        readBatch: () =>
          Promise.resolve(
            "dhtadm -C\n" +
              "dhtadm -A -s MySym -d ' Vendor=  A.b   C.d , 7 , IP , 1 , 2 '\n" +
              "dhtadm -A -s Other -d 'Site,130,BOOL,0,0'\n" +
              "dhtadm -M -s Other -d 'Site, 131,BOOL,0,0'\n" +
              "dhtadm -P\n",
          ),
      });
      assert.equal(err(), "");
      assert.equal(code, 0);
      assert.match(out(), /^MySym {15}\tSymbol {2}\tVendor=A\.b C\.d,7,IP,1,2$/m);
      assert.match(out(), /^Other {15}\tSymbol {2}\tSite,131,BOOL,0,0$/m);
    } finally {
      await s.close();
    }
  });

  test("the default server address is this host's address on the network, never loopback", async () => {
    using dir = tempDir("dhcp-session");
    const iface = (address: string, netmask: string, internal = false) => ({
      address,
      netmask,
      internal,
      family: "IPv4" as const,
      mac: "00:00:00:00:00:00",
      cidr: null,
    });
    const interfaces = () => ({
      lo: [iface("127.0.0.1", "255.0.0.0", true)],
      eth0: [iface("10.1.2.3", "255.255.255.0")],
      eth1: [iface("192.168.5.9", "255.255.255.0")],
    });
    // The host's name resolves to a loopback address, as on many Debian hosts (127.0.1.1).
    const { s } = session(dir.path, { interfaces, resolveHost: () => Promise.resolve(0x7f000101) });
    assert.equal(await s.serverAddress("192.168.5.0"), 0xc0a80509);
    assert.equal(
      await s.serverAddress("10.0.0.0"),
      0x0a010203,
      "classful 10.0.0.0/8 holds 10.1.2.3",
    );
    await assert.rejects(
      s.serverAddress("172.16.0.0"),
      /give the server's address \(-s, or --server\)/,
    );
    const one = session(dir.path, {
      interfaces: () => ({ eth0: [iface("10.1.2.3", "255.255.255.0")] }),
      resolveHost: () => Promise.resolve(0x7f000101),
    });
    assert.equal(await one.s.serverAddress("172.16.0.0"), 0x0a010203, "the only address there is");
  });

  test("reverse lookups for -P -v run concurrently with a bound, once per address, each bounded in time", async () => {
    using dir = tempDir("dhcp-session");
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    const { s } = session(dir.path, {
      hostName: async (ip) => {
        calls++;
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        // One name server never answers for this address.
        if (ip === 7) return await new Promise<string>(() => {});
        return `h${ip}`;
      },
    });
    const ips = Array.from({ length: 400 }, (_, i) => i + 1);
    const started = Date.now();
    const names = await s.hostNames([...ips, ...ips]);
    assert.ok(Date.now() - started < 20_000, "the stuck lookup did not hold the others up long");
    assert.equal(names.get(1), "h1");
    assert.equal(names.has(7), false, "an address whose lookup timed out shows as dotted");
    assert.equal(calls, 400, "each address looked up once");
    assert.ok(most > 1 && most <= HOST_LOOKUP_CONCURRENCY, `concurrent, bounded: ${most}`);
    await s.hostNames(ips);
    assert.equal(calls, 400, "the second display is served from the cache");
  });

  test("batch errors name the file and the line of the command, continuation lines included", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\n",
    );
    fs.mkdirSync(path.join(dir.path, "store"));
    const { s, out, err } = session(dir.path, {
      openStore: (ds) => openStore(ds, { synchronizer: null }),
    });
    try {
      const code = await runBatch(s, {
        file: "/srv/nets.batch",
        verbose: true,
        readBatch: () =>
          Promise.resolve(
            "# setup\npntadm -C 10.0.0.0\n\npntadm -A 10.0.0.1 -s 10.0.0.254 \\\n  -f BOGUS 10.0.0.0\nnonsense\n",
          ),
      });
      assert.equal(code, 4);
      assert.match(err(), /^\/srv\/nets\.batch:4: pntadm: Invalid flags keyword: BOGUS/m);
      assert.match(err(), /^\/srv\/nets\.batch:6: dhcpbatch: Invalid command - nonsense/m);
      assert.match(out(), /^> pntadm -C 10\.0\.0\.0$/m, "-v echoes each command as upstream");
    } finally {
      await s.close();
    }
  });

  test("dangling references are reported: missing includes, deleted macros still named, shared client IDs", async () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(
      path.join(dir.path, "dhcpsvc.conf"),
      "RESOURCE=SUNWfiles\nPATH=./store\nCONVER=1\n",
    );
    fs.mkdirSync(path.join(dir.path, "store"));
    const { s, err } = session(dir.path, {
      openStore: (ds) => openStore(ds, { synchronizer: null }),
    });
    try {
      const code = await runBatch(s, {
        readBatch: () =>
          Promise.resolve(
            [
              "dhtadm -C",
              "dhtadm -A -m Base -d ':LeaseNeg:'",
              "dhtadm -A -m Top -d ':Include=Base:'",
              "dhtadm -A -m Dangling -d ':Include=Nope:'",
              "pntadm -C 10.0.0.0",
              "pntadm -A 10.0.0.1 -s 10.0.0.254 -m Base -i 0102 10.0.0.0",
              "pntadm -A 10.0.0.2 -s 10.0.0.254 -i 0102 10.0.0.0",
              "",
            ].join("\n"),
          ),
      });
      assert.equal(code, 0, err());
      assert.match(err(), /macro Dangling includes macro Nope, which does not exist/);
      assert.match(err(), /client ID 0102 is also bound to 10\.0\.0\.1 in network 10\.0\.0\.0/);
      // steward's `table delete` refuses while Base is named, and says by whom.
      const baseOnly = new OptionSet();
      baseOnly.set("m", "Base");
      const refused = await runDhtadmCommand(s, {
        fn: "D",
        arg: undefined,
        options: baseOnly,
        force: false,
      }).catch((e: Error) => e);
      assert.ok(refused instanceof Error);
      assert.match(
        refused.message,
        /Macro Base is still named by macro Top, address 10\.0\.0\.1 in network 10\.0\.0\.0: change those first, or give --force/,
      );
      // dhtadm -D deletes it, as upstream, with a warning.
      const code2 = await runBatch(s, { readBatch: () => Promise.resolve("dhtadm -D -m Base\n") });
      assert.equal(code2, 0);
      assert.match(err(), /Warning - deleted macro Base is still named by macro Top/);
    } finally {
      await s.close();
    }
  });

  test("finds networks by name and netmasks in the system databases", () => {
    using dir = tempDir("dhcp-session");
    fs.writeFileSync(path.join(dir.path, "networks"), "# networks\nlab 10.20 labnet\n");
    fs.writeFileSync(path.join(dir.path, "netmasks"), "10.20.0.0 255.255.0.0\n");
    const { s } = session(dir.path);
    assert.equal(s.resolveNetwork("lab"), "10.20.0.0");
    assert.equal(s.resolveNetwork("labnet"), "10.20.0.0");
    assert.equal(s.resolveNetwork("192.168.1.0"), "192.168.1.0");
    assert.throws(
      () => s.resolveNetwork("nowhere"),
      /Could not determine correct network table name/,
    );
    assert.equal(s.netmaskFor("10.20.0.0"), "255.255.0.0");
    assert.equal(s.netmaskFor("10.0.0.0"), "255.0.0.0", "classful");
    assert.equal(s.netmaskFor("192.168.10.64"), "255.255.255.0", "classful: no guessing");
    assert.equal(s.netmaskFor("172.16.4.0"), "255.255.0.0");
    assert.deepEqual(s.netmaskSource("10.20.0.0"), {
      mask: "255.255.0.0",
      source: path.join(dir.path, "netmasks"),
    });
    // A subnetted class A listed under its classful network number, as netmasks(4) does.
    fs.writeFileSync(path.join(dir.path, "netmasks"), "10.0.0.0 255.255.255.0\n");
    assert.equal(s.netmaskFor("10.9.8.0"), "255.255.255.0");
    assert.deepEqual(s.netmaskSource("172.16.0.0"), { mask: "255.255.0.0", source: "classful" });
  });
});
