/**
 * The server must survive: hostile datagrams while real exchanges go on, kill -9 at random
 * points under load, DECLINE and pool exhaustion — on the loopback of a private namespace.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cidToHex, parseIp } from "../../../lib/dhcp/records.ts";
import { DSVC_READ } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { alive, tempDir } from "../../helpers.ts";
import { stopLockd } from "../cli/helpers.ts";
import {
  fixtureClient,
  Namespaces,
  netnsSkipReason,
  runFixture,
  type ServerProc,
  startServer,
  startServerIn,
  steward,
  stopServer,
  writeConf,
} from "./netns.ts";

const skip = netnsSkipReason();

describe("dhcp serve survives", { skip: skip ?? false }, () => {
  const tmp = skip ? undefined : tempDir("serve-survive");
  const dir = tmp?.path ?? "";
  const env = {
    STEWARD_RUN_DIR: path.join(dir, "run"),
    STEWARD_DHCPSVC_CONF: path.join(dir, "dhcpsvc.conf"),
    TZ: "UTC",
  };
  const nss = new Namespaces("v");
  let ns = "";
  const servers: ServerProc[] = [];
  const clients: ChildProcess[] = [];
  const CLIENT = [
    "--server",
    "127.0.0.1",
    "--port",
    "67",
    "--bind",
    "127.0.0.2",
    "--giaddr",
    "127.0.0.2",
  ];

  before(() => {
    ns = nss.add("l");
    writeConf(dir, {
      STEWARD_SERVE_NETWORKS: "127.0.0.0/8",
      STEWARD_SERVE_ADDRESS: "127.0.0.1",
      STEWARD_SERVE_SERVER_ID: "127.0.0.1",
      STEWARD_SERVE_LOG: path.join(dir, "dhcpd.log"),
      OFFER_CACHE_TIMEOUT: "5",
      STEWARD_SERVE_METRICS: "127.0.0.1:9167",
    });
    const lines = [
      "dhtadm -C",
      "pntadm -C 127.0.0.0",
      "dhtadm -A -m 127.0.0.0 -d ':LeaseTim=3600:LeaseNeg:DNSdmain=\"lo.test\":'",
    ];
    for (let h = 0; h < 2; h++) {
      for (let l = 1; l <= 250; l++) lines.push(`pntadm -A 127.0.${h}.${l} -s 127.0.0.1 127.0.0.0`);
    }
    steward(["dhcp", "batch"], env, lines.join("\n") + "\n");
  });

  after(async () => {
    for (const s of servers) if (alive(s.pid)) s.child.kill("SIGKILL");
    for (const c of clients) if (c.pid && alive(c.pid)) c.kill("SIGKILL");
    nss.dispose();
    await stopLockd(env.STEWARD_RUN_DIR);
    tmp?.[Symbol.dispose]();
  });

  it("serve keeps serving well-formed clients through 100,000 hostile datagrams", async () => {
    const s = await startServer(ns, dir, env);
    servers.push(s);
    const out = await runFixture(ns, [
      "fuzz",
      ...CLIENT,
      "--count",
      "100000",
      "--good-every",
      "1000",
      "--mac-base",
      "1000",
      "--timeout",
      "1000",
      "--retries",
      "5",
    ], 80_000);
    const r = JSON.parse(out.trim().split("\n").at(-1)!);
    assert.equal(r.sent, 100000);
    assert.equal(r.hostileReplies, 0, "no hostile datagram was answered");
    assert.equal(r.served, r.good, `every well-formed client was served: ${out}`);
    assert.ok(alive(s.pid), "the server is still up");
    assert.ok(await stopServer(s), "the server stopped cleanly");
    const status = JSON.parse(fs.readFileSync(path.join(dir, "status.json"), "utf8"));
    assert.ok(status.received >= 100000, `the server read the flood: ${JSON.stringify(status)}`);
    assert.equal(status.replies.nak ?? 0, 0);
  });

  it("serve keeps every ACKed lease and binds no address twice across 50 kill -9", async () => {
    const load = fixtureClient(ns, [
      "dora",
      ...CLIENT,
      "--count",
      "300",
      "--concurrency",
      "6",
      "--mac-base",
      "50000",
      "--timeout",
      "250",
      "--retries",
      "200",
    ]);
    clients.push(load);
    let acks = "";
    load.stdout?.on("data", (d) => (acks += d));
    // Generous for a loaded machine: each cycle waits for the binary to start serving.
    const deadline = Date.now() + 180_000;
    let kills = 0;
    let seed = 42;
    try {
      for (; kills < 50 && Date.now() < deadline; kills++) {
        const s = await startServer(ns, dir, env);
        servers.push(s);
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        await sleep(20 + (seed % 180)); // the random point of the kill, not a synchronization
        const gone = new Promise((r) => s.child.once("exit", r));
        s.child.kill("SIGKILL");
        await gone;
      }
      assert.equal(kills, 50);
      servers.push(await startServer(ns, dir, env));
      await new Promise<void>((resolve) => {
        if (load.exitCode !== null) return resolve();
        const t = setTimeout(() => load.kill("SIGKILL"), 30_000);
        load.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
      });
    } finally {
      // The load client must not outlive this test: it would take the next tests' replies.
      if (load.exitCode === null && load.signalCode === null) load.kill("SIGKILL");
    }
    const last = servers.at(-1)!;
    assert.ok(await stopServer(last), "the server stopped cleanly");
    const acked = acks.split("\n").filter((l) => l.startsWith("ACK ")).map((l) => l.split(" "));
    assert.ok(acked.length > 50, `some clients were served during the kills (${acked.length})`);
    const byIp = new Map<string, string>();
    for (const [, mac, ip] of acked) {
      const other = byIp.get(ip!);
      assert.ok(other === undefined || other === mac, `${ip} ACKed to ${other} and ${mac}`);
      byIp.set(ip!, mac!);
    }
    await using store = await openStore({
      resource: "SUNWfiles",
      location: path.join(dir, "store"),
    }, {
      synchronizer: null,
    });
    const c = await store.openNetwork("127.0.0.0", DSVC_READ);
    const { records } = await c.lookup(0, {});
    assert.equal(records.length, 500, "the store opens with every record");
    const byCid = new Map<string, number>();
    for (const r of records) {
      const k = cidToHex(r.cid);
      if (k === "00") continue;
      byCid.set(k, (byCid.get(k) ?? 0) + 1);
    }
    for (const [k, n] of byCid) assert.equal(n, 1, `client ${k} holds ${n} addresses`);
    for (const [ip, mac] of byIp) {
      const rec = records.find((r) => r.cip === parseIp(ip));
      assert.equal(
        rec && cidToHex(rec.cid),
        `01${mac!.toUpperCase()}`,
        `ACKed lease of ${ip} is in the store`,
      );
    }
  });

  it("serve marks a DECLINEd address UNUSABLE in the store", async () => {
    const s = await startServer(ns, dir, env);
    servers.push(s);
    const out = await runFixture(ns, ["dora", ...CLIENT, "--count", "1", "--mac-base", "90000"]);
    const ip = out.split("\n").find((l) => l.startsWith("ACK "))!.split(" ")[2]!;
    await runFixture(ns, ["decline", ...CLIENT, "--mac-base", "90000", "--ip", ip]);
    const declined = () => {
      const row = steward(["dhcp", "pntadm", "-P", "127.0.0.0"], env).split("\n").find((l) =>
        l.split("\t")[2]?.trim() === ip
      );
      return row !== undefined && row.split("\t")[1]!.trim() === "04" ? row : undefined;
    };
    for (let i = 0; i < 100 && !declined(); i++) await sleep(50);
    assert.ok(declined(), `pntadm -P shows ${ip} UNUSABLE`);
    assert.ok(await stopServer(s), "the server stopped cleanly");
    assert.match(
      fs.readFileSync(path.join(dir, "dhcpd.log"), "utf8"),
      new RegExp(`DECLINED address: ${ip.replaceAll(".", "\\.")}`),
    );
  });

  it("serve reloads the dhcptab on SIGHUP and reports metrics", async () => {
    const s = await startServer(ns, dir, env);
    servers.push(s);
    const domainOf = async (n: number) => {
      const out = await runFixture(ns, [
        "dora",
        ...CLIENT,
        "--count",
        "1",
        "--mac-base",
        String(n),
      ]);
      return out.split("\n").find((l) => l.startsWith("ACK "))!.split(" ")[3];
    };
    assert.equal(await domainOf(95000), "lo.test");
    steward(["dhcp", "dhtadm", "-M", "-m", "127.0.0.0", "-e", 'DNSdmain="hup.test"'], env);
    assert.equal(await domainOf(95001), "lo.test", "the loaded dhcptab is used until SIGHUP");
    const log = path.join(dir, "dhcpd.log");
    const reloads = () =>
      (fs.readFileSync(log, "utf8").match(/Reloaded the dhcptab \(SIGHUP\)/g) ?? []).length;
    const before = reloads();
    process.kill(s.pid, "SIGHUP");
    for (let i = 0; i < 200 && reloads() === before; i++) await sleep(25);
    assert.equal(reloads(), before + 1);
    assert.equal(await domainOf(95002), "hup.test");
    const metrics = await runFixture(ns, ["metrics", "--url", "http://127.0.0.1:9167/metrics"]);
    assert.match(metrics, /^# TYPE steward_dhcp_leases_total counter$/m);
    const leases = Number(/^steward_dhcp_leases_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(leases >= 3, `leases counted: ${leases}`);
    assert.match(metrics, /^steward_dhcp_replies_total\{type="ack"\} \d+$/m);
    assert.ok(await stopServer(s), "the server stopped cleanly");
  });

  it("serve switches to STEWARD_SERVE_USER once its socket is bound and still writes leases", async (t) => {
    if (spawnSync("id", ["-u", "nobody"]).status !== 0) return t.skip("no user nobody");
    if ((globalThis as { Deno?: unknown }).Deno) {
      return t.skip(
        "the store a second user reaches lives outside the repository, which Deno's test permissions do not read",
      );
    }
    // The store must be reachable by nobody: outside the private .tmp, made by child processes.
    const base = spawnSync("mktemp", ["-d", "/tmp/steward-serve-XXXXXX"], { encoding: "utf8" })
      .stdout.trim();
    assert.ok(base.startsWith("/tmp/steward-serve-"));
    try {
      spawnSync("chmod", ["755", base]);
      const penv = { ...env, STEWARD_DHCPSVC_CONF: path.join(base, "dhcpsvc.conf") };
      const conf = [
        "RESOURCE=SUNWfiles",
        `PATH=${base}/store`,
        "CONVER=1",
        "STEWARD_SERVE_NETWORKS=127.0.0.0/8",
        "STEWARD_SERVE_ADDRESS=127.0.0.1",
        "STEWARD_SERVE_SERVER_ID=127.0.0.1",
        "STEWARD_SERVE_USER=nobody",
        "",
      ].join("\n");
      spawnSync("sh", ["-c", `mkdir "$1/store" && cat > "$1/dhcpsvc.conf"`, "sh", base], {
        input: conf,
      });
      steward(
        ["dhcp", "batch"],
        penv,
        "pntadm -C 127.0.0.0\npntadm -A 127.0.0.20 -s 127.0.0.1 127.0.0.0\n",
      );
      spawnSync("chown", ["-R", "nobody", `${base}/store`]);
      const s = await startServerIn(ns, base, penv, base);
      servers.push(s);
      const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${s.pid}/status`, "utf8"))?.[1];
      assert.equal(uid, spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout.trim());
      const out = await runFixture(ns, ["dora", ...CLIENT, "--count", "1", "--mac-base", "97000"]);
      assert.match(out, /^ACK 025e00017ae8 127\.0\.0\.20 /m);
      const row = steward(["dhcp", "pntadm", "-P", "127.0.0.0"], penv).split("\n").find((l) =>
        l.includes("127.0.0.20")
      );
      assert.match(row ?? "", /^01025E00017AE8/);
      assert.ok(await stopServer(s), "the server stopped cleanly");
    } finally {
      spawnSync("rm", ["-rf", base]);
    }
  });

  it("serve stays silent and logs the network when its pool is exhausted", async () => {
    const small = path.join(dir, "small");
    fs.mkdirSync(small);
    const senv = { ...env, STEWARD_DHCPSVC_CONF: path.join(small, "dhcpsvc.conf") };
    writeConf(small, {
      STEWARD_SERVE_NETWORKS: "127.0.0.0/8",
      STEWARD_SERVE_ADDRESS: "127.0.0.1",
      STEWARD_SERVE_SERVER_ID: "127.0.0.1",
      STEWARD_SERVE_LOG: path.join(small, "dhcpd.log"),
    });
    steward(
      ["dhcp", "batch"],
      senv,
      "pntadm -C 127.0.0.0\npntadm -A 127.0.0.10 -s 127.0.0.1 127.0.0.0\npntadm -A 127.0.0.11 -s 127.0.0.1 127.0.0.0\n",
    );
    const s = await startServer(ns, small, senv);
    servers.push(s);
    const out = await runFixture(ns, [
      "dora",
      ...CLIENT,
      "--count",
      "4",
      "--concurrency",
      "1",
      "--retries",
      "2",
      "--timeout",
      "300",
    ]);
    assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)!), { acked: 2, failed: 2 });
    assert.ok(alive(s.pid));
    assert.ok(await stopServer(s), "the server stopped cleanly");
    assert.match(
      fs.readFileSync(path.join(small, "dhcpd.log"), "utf8"),
      /No more IP addresses on 127\.0\.0\.0 network/,
    );
  });
});
