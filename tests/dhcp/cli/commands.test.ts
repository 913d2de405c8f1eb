/**
 * The readable `steward dhcp` commands from the built binary: config (flags, wizard,
 * show/set/delete), module list/info (with a third-party module), network and table, --json.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { requireBinary, ROOT } from "../../helpers.ts";
import { type DhcpSandbox, dhcpSandbox, snapshot } from "./helpers.ts";

let sb: DhcpSandbox;
let moduleDir: string;

// A third-party module as an administrator would install it: ds_<NAME>.<VERSION>.mjs.
const THIRD_PARTY = `
const unsupported = async () => {
  const e = new Error("Operation unsupported");
  e.code = 10;
  throw e;
};
export default {
  name: "ExampleDB",
  conver: 2,
  synchtype: 0,
  description: {
    summary: "Example database",
    pathHelp: "Name of the database, letters only",
    pathExample: "dhcp",
    configHelp: "user=NAME",
    validatePath: (p) => (/^[a-z]+$/.test(p) ? undefined : "use letters only"),
    validateConfig: (c) => (c.startsWith("user=") ? undefined : "expected user=NAME"),
  },
  version: () => 1,
  status: async () => {},
  mklocation: unsupported,
  listDt: unsupported, openDt: unsupported, closeDt: unsupported, removeDt: unsupported,
  lookupDt: unsupported, addDt: unsupported, modifyDt: unsupported, deleteDt: unsupported,
  listDn: unsupported, openDn: unsupported, closeDn: unsupported, removeDn: unsupported,
  lookupDn: unsupported, addDn: unsupported, modifyDn: unsupported, deleteDn: unsupported,
};
`;

before(() => {
  requireBinary();
  sb = dhcpSandbox("dhcp-cmds");
  moduleDir = path.join(sb.dir, "modules");
  fs.mkdirSync(moduleDir);
  fs.writeFileSync(path.join(moduleDir, "ds_ExampleDB.2.mjs"), THIRD_PARTY);
});
after(async () => {
  await sb.dispose();
});

describe("module", () => {
  test("list shows the built-in and the third-party modules, as JSON too", async () => {
    const r = await sb.run(["dhcp", "module", "list", "--json", "--module-dir", moduleDir]);
    assert.equal(r.code, 0, r.stderr);
    const mods = JSON.parse(r.stdout) as {
      name: string;
      synchronization: string;
      current: number;
    }[];
    const files = mods.find((m) => m.name === "SUNWfiles");
    assert.equal(files?.synchronization, "lock manager, cross-host");
    assert.equal(files?.current, 1);
    const ext = mods.find((m) => m.name === "ExampleDB");
    assert.equal(ext?.current, 2);
    assert.equal(ext?.synchronization, "none");
    const t = await sb.run(["dhcp", "module", "list", "--module-dir", moduleDir]);
    assert.match(t.stdout, /^ExampleDB\t2\t2\tnone\tExample database\t.*ds_ExampleDB\.2\.mjs$/m);
  });

  test("info tells what PATH and the config string mean", async () => {
    const r = await sb.run([
      "dhcp",
      "module",
      "info",
      "ExampleDB",
      "--json",
      "--module-dir",
      moduleDir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as { path: { meaning: string }; config: string };
    assert.equal(m.path.meaning, "Name of the database, letters only");
    assert.equal(m.config, "user=NAME");
    const f = await sb.run(["dhcp", "module", "info", "SUNWfiles"]);
    assert.match(f.stdout, /^PATH\tAbsolute path/m);
    const none = await sb.run(["dhcp", "module", "info", "Nope"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^steward: No such module: Nope/);
  });
});

describe("a third-party module's failures", () => {
  test("are reported with their DSVC code's message, not as internal errors", async () => {
    const conf = path.join(sb.dir, "ext.conf");
    const r = await sb.run([
      "dhcp",
      "--conf",
      conf,
      "--module-dir",
      moduleDir,
      "config",
      "--resource",
      "ExampleDB",
      "--path",
      "dhcp",
      "--create-location",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, "steward: Operation unsupported\n");
    assert.ok(!fs.existsSync(conf), "nothing written");
    const p = await sb.run([
      "dhcp",
      "--module-dir",
      moduleDir,
      "pntadm",
      "-L",
      "-r",
      "ExampleDB",
      "-p",
      "dhcp",
    ]);
    assert.equal(p.code, 3);
    assert.equal(p.stderr, "pntadm: Operation unsupported\n");
  });
});

describe("a third-party module in the module directory", () => {
  test("is configured and used by the binary for every command", async () => {
    const dir = path.join(ROOT, "tests", "dhcp", "fixtures", "modules");
    const conf = path.join(sb.dir, "json.conf");
    const store = path.join(sb.dir, "json-store");
    const with_ = (args: string[]) => ["dhcp", "--conf", conf, "--module-dir", dir, ...args];
    let r = await sb.run(with_([
      "config",
      "--resource",
      "SAMPLEjson",
      "--path",
      store,
      "--resource-config",
      "indent=2",
      "--create-location",
      "--create-dhcptab",
    ]));
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(conf, "utf8"), /^RESOURCE_CONFIG=indent=2$/m);
    r = await sb.run(with_(["batch"]), {
      input: [
        "dhtadm -A -m Locale -d ':UTCoffst=3600:'",
        "pntadm -C 10.1.0.0",
        "pntadm -A 10.1.0.7 -s 10.1.0.1 -m Locale -y -c json 10.1.0.0",
        "",
      ].join("\n"),
    });
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(with_(["pntadm", "-P", "10.1.0.0"]));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^00 {6}\t00 {2}\t10\.1\.0\.7\t10\.1\.0\.1\tZero {21}\tLocale {2}\tjson\n$/m,
    );
    r = await sb.run(with_(["table", "show", "--json"]));
    assert.deepEqual((JSON.parse(r.stdout) as { name: string }[]).map((x) => x.name), ["Locale"]);
    assert.ok(
      fs.readdirSync(store).some((f) => f.startsWith("SAMPLEjson1_") && f.endsWith(".json")),
    );
  });
});

describe("config", () => {
  test("flags write a new dhcpsvc.conf and create the location and dhcptab", async () => {
    const conf = path.join(sb.dir, "new", "dhcpsvc.conf");
    fs.mkdirSync(path.dirname(conf));
    const store = path.join(sb.dir, "new", "store");
    const r = await sb.run([
      "dhcp",
      "--conf",
      conf,
      "config",
      "--resource",
      "SUNWfiles",
      "--path",
      store,
      "--create-location",
      "--create-dhcptab",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(conf, "utf8");
    assert.match(text, /^RESOURCE=SUNWfiles$/m);
    assert.match(text, new RegExp(`^PATH=${store}$`, "m"));
    assert.match(text, /^CONVER=1$/m);
    assert.match(text, /^RUN_MODE=server$/m);
    assert.ok(fs.existsSync(path.join(store, "SUNWfiles1_dhcptab")));
    const p = await sb.run(["dhcp", "--conf", conf, "dhtadm", "-P"]);
    assert.equal(p.stdout.split("\n").length - 1, 2, "an empty dhcptab");
  });

  test("bad module, PATH or config string is refused and nothing is written", async () => {
    const before = fs.readFileSync(sb.conf, "utf8");
    const cases: [string[], RegExp][] = [
      [["--resource", "Nope", "--path", "/x"], /No such module: Nope/],
      [
        ["--resource", "SUNWfiles", "--path", "relative/dir"],
        /Bad PATH for SUNWfiles: PATH must be an absolute/,
      ],
      [
        ["--resource", "SUNWfiles", "--path", "/x", "--resource-config", "a"],
        /takes no config string/,
      ],
      [["--resource", "ExampleDB", "--path", "Bad1"], /Bad PATH for ExampleDB: use letters only/],
      [
        ["--resource", "ExampleDB", "--path", "dhcp", "--resource-config", "x"],
        /expected user=NAME/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await sb.run(["dhcp", "config", ...args, "--module-dir", moduleDir]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, message);
    }
    const nodir = path.join(sb.dir, "no-such-dir", "dhcpsvc.conf");
    for (
      const args of [["config", "set", "VERBOSE=TRUE"], [
        "config",
        "--resource",
        "SUNWfiles",
        "--path",
        sb.store,
      ]]
    ) {
      const r = await sb.run(["dhcp", "--conf", nodir, ...args]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, /^steward: Cannot write .*no-such-dir\/dhcpsvc\.conf: /);
    }
    const u = await sb.run(["dhcp", "config", "--path", "/x"]);
    assert.equal(u.code, 2);
    assert.equal(fs.readFileSync(sb.conf, "utf8"), before);
  });

  test("the wizard asks for module, PATH and config string, re-asking on bad answers", async () => {
    const conf = path.join(sb.dir, "wizard.conf");
    const r = await sb.run(
      ["dhcp", "--conf", conf, "--module-dir", moduleDir, "config", "--interactive"],
      { input: "Nope\nExampleDB\nBad1\nmydb\nnobody\nuser=dhcp\nn\nn\ny\n" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No module Nope/);
    assert.match(r.stdout, /Not usable: use letters only/);
    assert.match(r.stdout, /Not usable: expected user=NAME/);
    const text = fs.readFileSync(conf, "utf8");
    assert.match(
      text,
      /^RESOURCE=ExampleDB\nRUN_MODE=server\nPATH=mydb\nCONVER=2\nRESOURCE_CONFIG=user=dhcp\n/m,
    );
  });

  test("show, set and delete parameters keep comments and order", async () => {
    let r = await sb.run(["dhcp", "config", "set", "VERBOSE=TRUE", "OFFER_CACHE_TIMEOUT=20"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "config", "show", "--json"]);
    const all = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(all.VERBOSE, "TRUE");
    assert.equal(all.PATH, "./var-dhcp");
    r = await sb.run(["dhcp", "config", "show", "verbose"]);
    assert.match(r.stdout, /^VERBOSE\tTRUE\t/);
    r = await sb.run(["dhcp", "config", "set", "VERBOSE="]);
    assert.equal(r.code, 0);
    r = await sb.run(["dhcp", "config", "delete", "OFFER_CACHE_TIMEOUT"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "config", "delete", "OFFER_CACHE_TIMEOUT"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Not set in .*: OFFER_CACHE_TIMEOUT/);
    const text = fs.readFileSync(sb.conf, "utf8");
    assert.ok(text.startsWith("# Example DHCP service configuration for steward"));
    assert.ok(!/VERBOSE|OFFER_CACHE_TIMEOUT/.test(text));
    r = await sb.run(["dhcp", "config", "set", "bad key=1"]);
    assert.equal(r.code, 1);
    r = await sb.run(["dhcp", "config", "set", "novalue"]);
    assert.equal(r.code, 2);
  });
});

describe("network and table", () => {
  test("network create refuses an address with host bits unless --netmask is given", async () => {
    const before = snapshot(sb.store);
    let r = await sb.run(["dhcp", "network", "create", "10.9.8.7"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /Network 10\.9\.8\.7 has host bits set under 255\.0\.0\.0 \(the classful mask\): give the network's address or --netmask/,
    );
    assert.deepEqual(snapshot(sb.store), before, "nothing is written");
    r = await sb.run(["dhcp", "network", "create", "10.9.8.7", "--netmask", "32"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "remove", "10.9.8.7"]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("network add refuses the network and broadcast addresses", async () => {
    const before = snapshot(sb.store);
    let r = await sb.run([
      "dhcp",
      "network",
      "add",
      "192.168.10.0",
      "192.168.10.0",
      "--server",
      "192.168.10.1",
    ]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /192\.168\.10\.0 is the address of network 192\.168\.10\.0, not of a client/,
    );
    r = await sb.run([
      "dhcp",
      "network",
      "add",
      "192.168.10.0",
      "192.168.10.255",
      "--server",
      "192.168.10.1",
    ]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /is the broadcast address of network 192\.168\.10\.0 \(netmask 255\.255\.255\.0\)/,
    );
    assert.deepEqual(snapshot(sb.store), before, "nothing is written");
  });

  test("network commands manage addresses and print JSON", async () => {
    let r = await sb.run(["dhcp", "network", "create", "10.20.30.0", "--netmask", "24"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run([
      "dhcp",
      "network",
      "add",
      "10.20.30.0",
      "10.20.30.5",
      "--server",
      "10.20.30.1",
      "--client-ascii",
      "host5",
      "--flags",
      "MANUAL",
      "--lease",
      "-1",
      "--macro",
      "Locale",
      "--verify-macro",
      "--comment",
      "lab",
      "--netmask",
      "24",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run([
      "dhcp",
      "network",
      "modify",
      "10.20.30.0",
      "10.20.30.5",
      "--new-address",
      "10.20.30.6",
      "--comment",
      "moved",
      "--netmask",
      "24",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0", "--json", "--netmask", "24"]);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.deepEqual(rows.map((x) => ({ ...x, signature: "-" })), [{
      clientIp: "10.20.30.6",
      clientId: "686F737435",
      flags: 2,
      flagNames: ["MANUAL"],
      serverIp: "10.20.30.1",
      lease: -1,
      leaseExpires: null,
      macro: "Locale",
      comment: "moved",
      signature: "-",
      netmask: "255.255.255.0",
      netmaskSource: "--netmask",
    }]);
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0", "--netmask", "24"]);
    assert.equal(
      r.stdout,
      "10.20.30.6\t686F737435\tMANUAL\t10.20.30.1\tpermanent\tLocale\tmoved\t255.255.255.0\n",
    );
    r = await sb.run([
      "dhcp",
      "network",
      "modify",
      "10.20.30.0",
      "10.20.30.6",
      "--lease",
      "2026-12-31T18:00Z",
      "--netmask",
      "24",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0", "--netmask", "24"], {
      env: { TZ: "Asia/Kolkata" },
    });
    assert.match(r.stdout, /\t2026-12-31 23:30:00 \+0530\t/, "local zone");
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0", "--netmask", "24", "--utc"]);
    assert.match(r.stdout, /\t2026-12-31 18:00:00 UTC\t/);
    r = await sb.run(["dhcp", "network", "list", "--json"]);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { network: string }[]).map((n) => n.network).sort(),
      ["10.20.30.0", "192.168.10.0"],
    );
    r = await sb.run([
      "dhcp",
      "network",
      "add",
      "10.20.30.0",
      "10.20.30.6",
      "--server",
      "10.20.30.1",
      "--netmask",
      "24",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^steward: Already exists/);
    r = await sb.run(["dhcp", "network", "delete", "10.20.30.0", "10.20.30.6", "--netmask", "24"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "remove", "10.20.30.0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has host bits set under 255\.0\.0\.0 \(the classful mask\)/);
    r = await sb.run(["dhcp", "network", "show", "10.20.30.0", "--netmask", "24"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^steward: Table for 10\.20\.30\.0 does not exist\.$/m);
    r = await sb.run(["dhcp", "network", "show", "../../etc"]);
    assert.equal(r.code, 1, "a network name can never name a file");
  });

  test("table commands add, edit and delete macros and symbols", async () => {
    let r = await sb.run([
      "dhcp",
      "table",
      "add",
      "symbol",
      "SwapSrv",
      "Vendor=SUNW.i86pc,5,IP,1,1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run([
      "dhcp",
      "table",
      "add",
      "macro",
      "SUNW.i86pc",
      ":SwapSrv=192.168.10.2:Include=dhcpsrv:",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run([
      "dhcp",
      "table",
      "modify",
      "macro",
      "SUNW.i86pc",
      "--set",
      "SwapSrv=192.168.10.3",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "table", "modify", "macro", "SUNW.i86pc", "--set-flag", "LeaseNeg"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "table", "show", "--macros", "--json"]);
    const macros = JSON.parse(r.stdout) as { name: string; type: string; value: string }[];
    assert.ok(macros.every((m) => m.type === "macro"));
    assert.equal(
      macros.find((m) => m.name === "SUNW.i86pc")?.value,
      ":SwapSrv=192.168.10.3:Include=dhcpsrv:LeaseNeg:",
    );
    r = await sb.run(["dhcp", "table", "show", "--symbols"]);
    assert.match(r.stdout, /^SwapSrv\tsymbol\tVendor=SUNW\.i86pc,5,IP,1,1$/m);

    const before = snapshot(sb.store);
    r = await sb.run([
      "dhcp",
      "table",
      "modify",
      "macro",
      "SUNW.i86pc",
      "--set",
      "SwapSrv=1.2.3.4 5.6.7.8",
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^steward: Bad value for SwapSrv in macro SUNW\.i86pc: at most 1 address/,
    );
    r = await sb.run([
      "dhcp",
      "table",
      "modify",
      "macro",
      "SUNW.i86pc",
      "--set",
      "a=1",
      "--unset",
      "b",
    ]);
    assert.equal(r.code, 2);
    r = await sb.run(["dhcp", "table", "add", "thing", "x", "y"]);
    assert.equal(r.code, 2);
    assert.deepEqual(snapshot(sb.store), before);

    r = await sb.run(["dhcp", "table", "modify", "symbol", "SwapSrv", "--rename", "SwapIP"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "table", "delete", "macro", "SUNW.i86pc"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "table", "delete", "symbol", "SwapIP"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "table", "delete", "symbol", "SwapIP"]);
    assert.equal(r.code, 1);
  });
});
