/**
 * Real DHCP clients (udhcpc, dhclient, dhcpcd) against the built binary in network namespaces:
 * three clients on a directly attached bridge and one behind a relay (dhcrelay), each getting
 * an address and its macro's options and renewing; the leases in `pntadm -P`; an admin's
 * `pntadm -M` seen by the next answer. Every packet stays inside the namespaces.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { alive, tempDir, waitFor } from "../../helpers.ts";
import { stopLockd } from "../cli/helpers.ts";
import {
  have,
  Namespaces,
  netnsSkipReason,
  type ServerProc,
  startServer,
  steward,
  stopServer,
  writeConf,
} from "./netns.ts";

const skip = netnsSkipReason() ??
  (["udhcpc", "dhclient", "dhcpcd", "dhcrelay"].every(have)
    ? undefined
    : "needs udhcpc, dhclient (isc-dhcp-client), dhcpcd (dhcpcd-base) and dhcrelay (isc-dhcp-relay)");

/** What a client's hook script logs: one line per event, key=value. */
interface Event {
  event: string;
  ip: string;
  mask: string;
  router: string;
  domain: string;
  lease: string;
}

function events(file: string): Event[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => {
    const o: Record<string, string> = {};
    for (const kv of l.split(" ")) {
      const i = kv.indexOf("=");
      if (i > 0) o[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return o as unknown as Event;
  });
}

// One hook for all three clients: udhcpc passes the event as $1 and uses $ip/$subnet/..., the
// ISC-style dhclient and dhcpcd use $reason and $new_*. The hook configures the address (so
// that renewals can be unicast) and logs.
// dhclient clears the environment of its script, so each client gets a hook naming its log.
const hookText = (log: string) =>
  `#!/bin/sh
LOG='${log}'
ev="\${reason:-$1}"; addr="\${ip:-$new_ip_address}"; mask="\${subnet:-$new_subnet_mask}"
case "$ev" in bound|renew|BOUND|RENEW|REBIND|REBOOT)
  ip addr replace "$addr/$mask" dev "$interface" 2>/dev/null
  gw="\${router:-$new_routers}"; [ -n "$gw" ] && ip route replace default via "\${gw%% *}" dev "$interface" 2>/dev/null
  echo "event=$ev ip=$addr mask=$mask router=\${router:-$new_routers} domain=\${domain:-$new_domain_name} lease=\${lease:-$new_dhcp_lease_time}" >> "$LOG";;
esac
exit 0
`;

describe("dhcp serve with real clients", { skip: skip ?? false }, () => {
  const tmp = skip ? undefined : tempDir("serve-clients");
  const dir = tmp?.path ?? "";
  const env = {
    STEWARD_RUN_DIR: path.join(dir, "run"),
    STEWARD_DHCPSVC_CONF: path.join(dir, "dhcpsvc.conf"),
    // The two served networks are /24s of 10/8, as the administrator's netmasks file says.
    STEWARD_NETMASKS: path.join(dir, "netmasks"),
    TZ: "UTC",
  };
  const nss = new Namespaces("c");
  const tag = String(process.pid % 10000);
  const ns: Record<string, string> = {};
  const procs: ChildProcess[] = [];
  let server: ServerProc | undefined;
  const hook = (n: string) => path.join(dir, `hook-${n}.sh`);
  const iface = (n: string) => `k${n}x${tag}`;

  function client(name: string, cmd: string[]): ChildProcess {
    // Output to a file, not a pipe: helpers a client forks must not hold the test open.
    const out = fs.openSync(path.join(dir, `${name}.out`), "a");
    const child = spawn("ip", ["netns", "exec", ns[name]!, ...cmd], {
      stdio: ["ignore", out, out],
    });
    fs.closeSync(out);
    procs.push(child);
    return child;
  }

  async function bound(name: string, what: string): Promise<Event> {
    const file = path.join(dir, `${name}.log`);
    try {
      return await waitFor(
        () => events(file).find((e) => /bound|BOUND|REBOOT/.test(e.event)),
        30_000,
        `${what} to bind`,
      );
    } catch (e) {
      const read = (f: string) => fs.existsSync(f) ? fs.readFileSync(f, "utf8").slice(-2000) : "";
      throw new Error(
        `${(e as Error).message}\n--- ${what}:\n${
          read(path.join(dir, `${name}.out`))
        }\n--- server log:\n${read(path.join(dir, "dhcpd.log"))}`,
      );
    }
  }

  before(async () => {
    for (const n of ["u", "d", "p", "q"]) {
      fs.writeFileSync(hook(n), hookText(path.join(dir, `${n}.log`)), { mode: 0o755 });
    }
    for (const n of ["s", "u", "d", "p", "r", "q"]) ns[n] = nss.add(n);
    // Server: a bridge with the three direct clients, and a link to the relay.
    nss.ip(ns.s!, "link", "add", "br0", "type", "bridge");
    nss.ip(ns.s!, "link", "set", "br0", "up");
    for (const c of ["u", "d", "p"]) {
      nss.veth(`s${c}x${tag}`, ns.s!, iface(c), ns[c]!);
      nss.ip(ns.s!, "link", "set", `s${c}x${tag}`, "master", "br0");
    }
    nss.ip(ns.s!, "addr", "add", "10.78.0.1/24", "dev", "br0");
    nss.veth(`sr${tag}`, ns.s!, `rs${tag}`, ns.r!);
    nss.ip(ns.s!, "addr", "add", "10.77.0.1/16", "dev", `sr${tag}`);
    nss.ip(ns.r!, "addr", "add", "10.77.0.2/16", "dev", `rs${tag}`);
    nss.veth(`rq${tag}`, ns.r!, iface("q"), ns.q!);
    nss.ip(ns.r!, "addr", "add", "10.79.0.1/24", "dev", `rq${tag}`);
    nss.ip(ns.s!, "route", "add", "10.79.0.0/24", "via", "10.77.0.2");
    nss.ip(ns.r!, "route", "add", "10.78.0.0/24", "via", "10.77.0.1");
    spawn("ip", ["netns", "exec", ns.r!, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    fs.writeFileSync(env.STEWARD_NETMASKS, "10.78.0.0\t255.255.255.0\n10.79.0.0\t255.255.255.0\n");
    writeConf(dir, {
      INTERFACES: "br0",
      STEWARD_SERVE_NETWORKS: "10.79.0.0/24",
      STEWARD_SERVE_LOG: path.join(dir, "dhcpd.log"),
    });
    const lines = [
      "dhtadm -C",
      "pntadm -C 10.78.0.0",
      "pntadm -C 10.79.0.0",
      `dhtadm -A -m 10.78.0.0 -d ':Subnet=255.255.255.0:Router=10.78.0.1:DNSserv=10.78.0.1:DNSdmain="direct.test":LeaseTim=30:T1Time=4:LeaseNeg:'`,
      `dhtadm -A -m 10.79.0.0 -d ':Subnet=255.255.255.0:Router=10.79.0.1:DNSdmain="relayed.test":LeaseTim=60:LeaseNeg:'`,
      `dhtadm -A -m special -d ':DNSdmain="admin.test":'`,
    ];
    for (let i = 100; i < 120; i++) lines.push(`pntadm -A 10.78.0.${i} -s 10.78.0.1 10.78.0.0`);
    for (let i = 100; i < 110; i++) lines.push(`pntadm -A 10.79.0.${i} -s 10.78.0.1 10.79.0.0`);
    steward(["dhcp", "batch"], env, lines.join("\n") + "\n");
    server = await startServer(ns.s!, dir, env);
  });

  after(async () => {
    // dhcpcd runs privilege-separated helpers: ask it to exit so that they go too.
    if (ns.p) {
      await new Promise((r) =>
        spawn("ip", ["netns", "exec", ns.p!, "dhcpcd", "-x", "-4", iface("p")], { stdio: "ignore" })
          .once("exit", r).once("error", r)
      );
    }
    for (const p of procs) if (p.pid && alive(p.pid)) p.kill("SIGKILL");
    if (server) await stopServer(server);
    nss.dispose();
    await stopLockd(env.STEWARD_RUN_DIR);
    // dhcpcd keeps its lease and sockets in the host's directories, named after the interface;
    // removed by a child process (under Deno the test may write only under .tmp).
    const p = iface("p");
    await new Promise((r) =>
      spawn("rm", [
        "-f",
        `/var/lib/dhcpcd/${p}.lease`,
        `/run/dhcpcd/${p}-4.pid`,
        `/run/dhcpcd/${p}-4.sock`,
        `/run/dhcpcd/${p}-4.unpriv.sock`,
      ], { stdio: "ignore" })
        .once("exit", r).once("error", r)
    );
    tmp?.[Symbol.dispose]();
  });

  it("udhcpc, dhclient and dhcpcd get an address and their macro's options, and renew", async () => {
    const u = client("u", [
      "udhcpc",
      "-i",
      iface("u"),
      "-f",
      "-t",
      "10",
      "-T",
      "1",
      "-s",
      hook("u"),
    ]);
    fs.writeFileSync(path.join(dir, "dhclient.conf"), "timeout 20;\n");
    client("d", [
      "dhclient",
      "-4",
      "-d",
      "-cf",
      path.join(dir, "dhclient.conf"),
      "-sf",
      hook("d"),
      "-lf",
      path.join(dir, "dhclient.leases"),
      "-pf",
      path.join(dir, "dhclient.pid"),
      iface("d"),
    ]);
    client("p", [
      "dhcpcd",
      "-4",
      "-B",
      "-A",
      "-t",
      "20",
      "-f",
      "/dev/null",
      "-c",
      hook("p"),
      iface("p"),
    ]);
    const got = new Map<string, Event>();
    for (const [n, what] of [["u", "udhcpc"], ["d", "dhclient"], ["p", "dhcpcd"]] as const) {
      const e = await bound(n, what);
      assert.match(e.ip, /^10\.78\.0\.1[01]\d$/, `${what} address`);
      assert.equal(e.router, "10.78.0.1", `${what} router`);
      assert.equal(e.domain, "direct.test", `${what} domain`);
      assert.equal(e.mask, "255.255.255.0");
      got.set(n, e);
    }
    assert.equal(new Set([...got.values()].map((e) => e.ip)).size, 3, "three different addresses");
    u.kill("SIGUSR1"); // udhcpc renews at lease/2; ask now
    for (const [n, what] of [["u", "udhcpc"], ["d", "dhclient"], ["p", "dhcpcd"]] as const) {
      const file = path.join(dir, `${n}.log`);
      const r = await waitFor(
        () => events(file).find((e) => /renew|RENEW|REBIND/.test(e.event)),
        30_000,
        `${what} to renew`,
      );
      assert.equal(r.ip, got.get(n)!.ip, `${what} renewed the same address`);
    }
    const table = steward(["dhcp", "pntadm", "-P", "10.78.0.0"], env);
    for (const [n, e] of got) {
      const row = table.split("\n").find((l) => l.split("\t")[2]?.trim() === e.ip);
      assert.ok(
        row && row.split("\t")[0]!.trim() !== "00",
        `pntadm -P shows the lease of ${n}: ${table}`,
      );
    }
  });

  it("an admin's pntadm -M is seen by the server's next answer", async () => {
    const file = path.join(dir, "u.log");
    const ip = events(file).find((e) => /bound/.test(e.event))!.ip;
    steward(["dhcp", "pntadm", "-M", ip, "-m", "special", "10.78.0.0"], env);
    const before = events(file).length;
    procs[0]!.kill("SIGUSR1");
    const r = await waitFor(
      () => events(file).slice(before).find((e) => e.event === "renew"),
      20_000,
      "udhcpc to renew",
    );
    assert.equal(r.domain, "admin.test");
    assert.equal(r.router, "10.78.0.1");
  });

  it("a client behind a relay gets an address and options of the relayed network", async () => {
    client("r", [
      "dhcrelay",
      "-4",
      "-d",
      "-q",
      "--no-pid",
      "-id",
      `rq${tag}`,
      "-iu",
      `rs${tag}`,
      "10.77.0.1",
    ]);
    const q = client("q", [
      "udhcpc",
      "-i",
      iface("q"),
      "-f",
      "-t",
      "20",
      "-T",
      "1",
      "-s",
      hook("q"),
    ]);
    const e = await bound("q", "the relayed udhcpc");
    assert.match(e.ip, /^10\.79\.0\.10\d$/);
    assert.equal(e.router, "10.79.0.1");
    assert.equal(e.domain, "relayed.test");
    // RENEWING goes unicast to the server, routed through the relay's host, not relayed
    q.kill("SIGUSR1");
    const file = path.join(dir, "q.log");
    const r = await waitFor(
      () => events(file).find((x) => x.event === "renew"),
      20_000,
      "the relayed udhcpc to renew",
    );
    assert.equal(r.ip, e.ip);
    const table = steward(["dhcp", "pntadm", "-P", "10.79.0.0"], env);
    assert.ok(
      table.split("\n").some((l) =>
        l.split("\t")[2]?.trim() === e.ip && l.split("\t")[0]!.trim() !== "00"
      ),
    );
  });
});
