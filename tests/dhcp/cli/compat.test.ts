/**
 * pntadm, dhtadm and batch mode from the built binary on a copy of the example store: output
 * byte for byte, exit codes 0-4, and bad input that changes nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { requireBinary } from "../../helpers.ts";
import { type DhcpSandbox, dhcpSandbox, snapshot } from "./helpers.ts";

const HEADER =
  "Client ID\tFlags\tClient IP\tServer IP\tLease Expiration         \tMacro   \tComment\n\n";
const DT_HEADER = `Name                \tType    \tValue\n${"=".repeat(50)}\n`;

let sb: DhcpSandbox;
before(() => {
  requireBinary();
  sb = dhcpSandbox("dhcp-compat");
});
after(async () => {
  await sb.dispose();
});

describe("pntadm from the binary", () => {
  test("-P prints the example network in reverse file order", async () => {
    const r = await sb.run(["dhcp", "pntadm", "-P", "192.168.10.0"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      HEADER +
        "01080020ABCDEF\t03  \t192.168.10.20\t192.168.10.1\t Forever                 \tdhcpsrv \toffice printer\n" +
        "00      \t00  \t192.168.10.12\t192.168.10.1\tZero                     \tdhcpsrv \t\n" +
        "00      \t00  \t192.168.10.11\t192.168.10.1\tZero                     \tdhcpsrv \t\n" +
        "00      \t00  \t192.168.10.10\t192.168.10.1\tZero                     \tdhcpsrv \t\n",
    );
  });

  test("create, add, modify, delete and remove a network with upstream exit codes", async () => {
    let r = await sb.run(["dhcp", "pntadm", "-C", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "pntadm", "-C", "10.0.0.0"]);
    assert.equal(r.code, 1, "creating an existing table: exists");
    assert.match(r.stderr, /^pntadm: Table for 10\.0\.0\.0 already exists\.$/m);

    r = await sb.run([
      "dhcp",
      "pntadm",
      "-A",
      "10.0.0.5",
      "-i",
      "01aabbccddeeff",
      "-f",
      "permanent",
      "-e",
      "03/15/2001",
      "-s",
      "10.0.0.1",
      "-c",
      "Modified",
      "10.0.0.0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "pntadm", "-A", "10.0.0.5", "-s", "10.0.0.1", "10.0.0.0"]);
    assert.equal(r.code, 1, "duplicate address: exists");
    r = await sb.run([
      "dhcp",
      "pntadm",
      "-A",
      "10.0.0.6",
      "-s",
      "10.0.0.1",
      "-m",
      "nosuch",
      "-y",
      "10.0.0.0",
    ]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, "pntadm: Cannot find macro in dhcptab.\n");
    r = await sb.run([
      "dhcp",
      "pntadm",
      "-A",
      "10.0.0.7",
      "-s",
      "10.0.0.1",
      "-m",
      "Locale",
      "-y",
      "-e",
      "-1",
      "-f",
      "1",
      "10.0.0.0",
    ]);
    assert.equal(r.code, 0, r.stderr);

    r = await sb.run(["dhcp", "pntadm", "-P", "10.0.0.0"]);
    assert.equal(
      r.stdout,
      HEADER +
        "00      \t01  \t10.0.0.7\t10.0.0.1\t Forever                 \tLocale  \t\n" +
        "01AABBCCDDEEFF\t01  \t10.0.0.5\t10.0.0.1\t03/15/2001               \tUNKNOWN \tModified\n",
    );

    // A modify keeps what is not given and moves the record to the end of the file.
    r = await sb.run([
      "dhcp",
      "pntadm",
      "-M",
      "10.0.0.5",
      "-n",
      "10.0.0.9",
      "-f",
      "MANUAL+BOOTP",
      "10.0.0.0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "pntadm", "-P", "-x", "10.0.0.0"]);
    assert.equal(
      r.stdout,
      HEADER +
        `01AABBCCDDEEFF\t10  \t10.0.0.9\t10.0.0.1\t${
          "984614400".padEnd(25)
        }\tUNKNOWN \tModified\n` +
        `00      \t01  \t10.0.0.7\t10.0.0.1\t${"-1".padEnd(25)}\tLocale  \t\n`,
    );
    r = await sb.run(["dhcp", "pntadm", "-P", "-v", "10.0.0.0"]);
    assert.match(r.stdout, /\tMB {2}\t/);
    assert.match(r.stdout, /\tP {3}\t/);

    r = await sb.run(["dhcp", "pntadm", "-M", "10.0.0.5", "-c", "x", "10.0.0.0"]);
    assert.equal(r.code, 2, "modify of a missing address: does not exist");
    r = await sb.run(["dhcp", "pntadm", "-M", "10.0.0.9", "-n", "10.0.0.7", "10.0.0.0"]);
    assert.equal(r.code, 3, "moving onto a taken address: warning, as upstream");
    r = await sb.run(["dhcp", "pntadm", "-D", "10.0.0.9", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "pntadm", "-D", "10.0.0.9", "10.0.0.0"]);
    assert.equal(r.code, 2);

    r = await sb.run(["dhcp", "pntadm", "-L"]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ["10.0.0.0", "192.168.10.0"]);
    r = await sb.run(["dhcp", "pntadm", "-R", "10.0.0.0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "pntadm", "-P", "10.0.0.0"]);
    assert.equal(r.code, 2, "display of a missing table: does not exist");
    assert.equal(r.stdout, "");
  });

  test("usage errors exit 4 with the message, a blank line and the usage", async () => {
    const r = await sb.run(["dhcp", "pntadm", "-P", "-v", "-x", "192.168.10.0"]);
    assert.equal(r.code, 4);
    assert.match(
      r.stderr,
      /^pntadm: Cannot specify both raw and verbose display modes\.\n\npntadm \[-r \(resource\)\]/,
    );
    const h = await sb.run(["dhcp", "pntadm", "-h", "192.168.10.0"]);
    assert.equal(h.code, 4);
    assert.match(h.stderr, /^pntadm: Illegal Option: h\n/);
  });

  test("-A and -M cut an over-long comment and macro as upstream, with a warning", async () => {
    const long = "c".repeat(60);
    let r = await sb.run([
      "dhcp",
      "pntadm",
      "-A",
      "192.168.10.31",
      "-s",
      "192.168.10.1",
      "-c",
      long,
      "-m",
      "M".repeat(130),
      "192.168.10.0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning - the comment is longer than 48 characters/);
    assert.match(r.stderr, /Warning - the macro is longer than 128 characters/);
    r = await sb.run(["dhcp", "pntadm", "-P", "-x", "192.168.10.0"]);
    const row = r.stdout.split("\n").find((l) => l.includes("192.168.10.31")) ?? "";
    assert.ok(row.endsWith(`\t${"c".repeat(48)}`), row);
    assert.ok(row.includes(`\t${"M".repeat(128)}\t`), row);
    // The network operand is masked: a host address of the network names its table.
    r = await sb.run(["dhcp", "pntadm", "-D", "192.168.10.31", "192.168.10.77"]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("bad values exit 3 and change nothing", async () => {
    const before = snapshot(sb.store);
    const cases: [string[], RegExp][] = [
      [["-f", "PERM"], /Invalid flags keyword: PERM/],
      [["-e", "2001-03-15"], /Invalid lease expiration: 2001-03-15/],
      [["-i", "XYZ"], /Invalid client identifier: XYZ/],
    ];
    for (const [opts, message] of cases) {
      const r = await sb.run([
        "dhcp",
        "pntadm",
        "-A",
        "192.168.10.30",
        "-s",
        "192.168.10.1",
        ...opts,
        "192.168.10.0",
      ]);
      assert.equal(r.code, 3, opts.join(" "));
      assert.match(r.stderr, message);
    }
    const outside = await sb.run([
      "dhcp",
      "pntadm",
      "-A",
      "10.9.9.9",
      "-s",
      "192.168.10.1",
      "192.168.10.0",
    ]);
    assert.equal(outside.code, 3, "an address outside the network is refused");
    assert.deepEqual(snapshot(sb.store), before);
  });
});

describe("dhtadm from the binary", () => {
  test("-P prints macros then symbols, each in lookup order", async () => {
    const r = await sb.run(["dhcp", "dhtadm", "-P"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      DT_HEADER +
        "192.168.10.0        \tMacro   \t:Subnet=255.255.255.0:Router=192.168.10.1:Broadcst=192.168.10.255:\n" +
        'dhcpsrv             \tMacro   \t:Include=Locale:Timeserv=192.168.10.1:LeaseTim=86400:LeaseNeg:DNSdmain="example.org":DNSserv=192.168.10.1:TftpSrvr="boot.example.org":\n' +
        "Locale              \tMacro   \t:UTCoffst=0:\n" +
        "TftpSrvr            \tSymbol  \tSite,150,ASCII,1,0\n",
    );
  });

  test("adds, edits, renames and deletes macros and symbols", async () => {
    let r = await sb.run(["dhcp", "dhtadm", "-A", "-s", "MystatRt", "-d", "Site,130,IP,2,0"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run([
      "dhcp",
      "dhtadm",
      "-A",
      "-m",
      "10netnis",
      "-d",
      ":MystatRt=3.0.0.0 10.0.0.30:",
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "dhtadm", "-A", "-m", "10netnis", "-d", ":LeaseNeg:"]);
    assert.equal(r.code, 1, "an existing macro: exists");
    r = await sb.run(["dhcp", "dhtadm", "-M", "-m", "10netnis", "-e", "LeaseNeg=_NULL_VALUE_"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "dhtadm", "-M", "-m", "10netnis", "-e", "MystatRt="]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "dhtadm", "-M", "-m", "10netnis", "-n", "nisnet"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "dhtadm", "-P"]);
    assert.match(r.stdout, /^nisnet {14}\tMacro {3}\t:LeaseNeg:$/m);
    assert.match(r.stdout, /^MystatRt {12}\tSymbol {2}\tSite,130,IP,2,0$/m);
    r = await sb.run(["dhcp", "dhtadm", "-M", "-s", "MystatRt", "-e", "x=1"]);
    assert.equal(r.code, 4);
    assert.equal(r.stderr, "dhtadm: Cannot edit symbols\n");
    r = await sb.run(["dhcp", "dhtadm", "-D", "-m", "nisnet"]);
    assert.equal(r.code, 0, r.stderr);
    r = await sb.run(["dhcp", "dhtadm", "-D", "-m", "nisnet"]);
    assert.equal(r.code, 2);
    r = await sb.run(["dhcp", "dhtadm", "-D", "-s", "MystatRt"]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("bad definitions exit 3 with a message naming the bad part and change nothing", async () => {
    const before = snapshot(sb.store);
    const cases: [string[], RegExp][] = [
      [
        ["-A", "-m", "m1", "-d", "Subnet=255.0.0.0:"],
        /Bad macro m1 'Subnet=255.0.0.0:': it must start with ':'/,
      ],
      [["-A", "-m", "m1", "-d", ":Bogus=1:"], /unknown symbol 'Bogus'/],
      [
        ["-A", "-m", "m1", "-d", ":Router=1.2.3:"],
        /Bad value for Router in macro m1: '1.2.3' is not an IPv4 address/,
      ],
      [["-A", "-m", "m1", "-d", ':DNSdmain="x:'], /value of 'DNSdmain' has no closing quote/],
      [["-A", "-s", "Subnet2", "-d", "Site,12,IP,1,1"], /code 12 is outside 128..254/],
      [
        ["-A", "-s", "router", "-d", "Site,140,IP,1,1"],
        /already used by the standard option Router/,
      ],
      [["-A", "-s", "Dup", "-d", "Site,150,IP,1,1"], /code 150 is already used by symbol TftpSrvr/],
      [["-M", "-m", "Locale", "-e", "UTCoffst=abc"], /'abc' is not a number/],
    ];
    for (const [args, message] of cases) {
      const r = await sb.run(["dhcp", "dhtadm", ...args]);
      assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split("\n").length, 2, "one line");
    }
    assert.deepEqual(snapshot(sb.store), before);
  });

  test("-g reports a server it cannot signal with exit 3 after the change is made", async () => {
    const r = await sb.run(["dhcp", "dhtadm", "-A", "-m", "gtest", "-d", ":LeaseNeg:", "-g"], {
      env: { STEWARD_DHCPD_PIDFILE: path.join(sb.dir, "no-such.pid") },
    });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^dhtadm: Unable to signal the daemon to reload the dhcptab/);
    const p = await sb.run(["dhcp", "dhtadm", "-P"]);
    assert.match(p.stdout, /^gtest /m);
    assert.equal((await sb.run(["dhcp", "dhtadm", "-D", "-m", "gtest"])).code, 0);
  });
});

describe("batch mode from the binary", () => {
  test("runs an upstream batch file, reports failures and goes on", async () => {
    const file = path.join(sb.dir, "work.batch");
    fs.writeFileSync(
      file,
      [
        "# a comment",
        "",
        "pntadm -C 172.21.0.0",
        "pntadm -A 172.21.0.6 -s 172.21.0.1 \\",
        "  -m atlantic -c 'first one' 172.21.0.0",
        "dhtadm -A -m atlantic -d ':Include=Locale:LeaseTim=3600:LeaseNeg:'",
        "pntadm -A 172.21.0.6 -s 172.21.0.1 172.21.0.0",
        "frobnicate now",
        "pntadm -A 172.21.0.7 -s 172.21.0.1 -m atlantic -y 172.21.0.0",
        "",
      ].join("\n"),
    );
    const r = await sb.run(["dhcp", "batch", "-v", file]);
    assert.equal(r.code, 4, "the invalid command line makes the batch critical");
    assert.match(r.stdout, /^> pntadm -C 172\.21\.0\.0$/m);
    // Each message names the file and the line of its command (upstream named neither).
    assert.match(r.stderr, /^.*work\.batch:7: pntadm: Already exists/m);
    assert.match(r.stderr, /^.*work\.batch:8: dhcpbatch: Invalid command - frobnicate$/m);
    const p = await sb.run(["dhcp", "pntadm", "-P", "172.21.0.0"]);
    assert.match(p.stdout, /172\.21\.0\.6\t172\.21\.0\.1\tZero {21}\tatlantic\tfirst one\n/);
    assert.match(p.stdout, /172\.21\.0\.7\t/);
  });

  test("pntadm -B reads standard input and returns 0 when every command succeeds", async () => {
    const r = await sb.run(["dhcp", "pntadm", "-B"], {
      input: "pntadm -A 172.21.0.8 -s 172.21.0.1 172.21.0.0\npntadm -D 172.21.0.8 172.21.0.0\n",
    });
    assert.equal(r.code, 0, r.stderr);
    const missing = await sb.run(["dhcp", "batch", path.join(sb.dir, "nope.batch")]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /^dhcpbatch: File not found - /);
  });
});

describe("configuration problems", () => {
  test("a malformed dhcpsvc.conf is a critical error naming the line, for every tool", async () => {
    const conf = path.join(sb.dir, "bad.conf");
    fs.writeFileSync(conf, `RESOURCE=SUNWfiles\nX=${"y".repeat(5000)}\n`);
    const r = await sb.run(["dhcp", "pntadm", "-L"], { env: { STEWARD_DHCPSVC_CONF: conf } });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^pntadm: Cannot use .*bad\.conf: .*line 2/);
    const n = await sb.run(["dhcp", "--conf", conf, "network", "list"]);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /line 2/);
  });

  test("a missing configuration needs -r and -p; an old CONVER needs conversion", async () => {
    const none = path.join(sb.dir, "none.conf");
    let r = await sb.run(["dhcp", "dhtadm", "-P"], { env: { STEWARD_DHCPSVC_CONF: none } });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /No DHCP configuration file exists/);
    r = await sb.run(["dhcp", "dhtadm", "-P", "-r", "SUNWfiles", "-p", sb.store], {
      env: { STEWARD_DHCPSVC_CONF: none },
    });
    assert.equal(r.code, 0, r.stderr);
    const old = path.join(sb.dir, "old.conf");
    fs.writeFileSync(old, `RESOURCE=SUNWfiles\nPATH=${sb.store}\nCONVER=0\n`);
    r = await sb.run(["dhcp", "pntadm", "-L"], { env: { STEWARD_DHCPSVC_CONF: old } });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /version mismatch/);
    r = await sb.run(["dhcp", "pntadm", "-L", "-r", "NoSuchModule"]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^pntadm: Error loading public module/);
  });
});
