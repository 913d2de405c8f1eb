/**
 * DHCP serving benchmark: `steward dhcp serve` against ISC Kea (kea-dhcp4) on the same topology,
 * driven by ISC's perfdhcp in relay mode across a veth pair between two network namespaces, as
 * ISC measures Kea. Servers (`--servers`, in this order by default):
 *
 *   steward-binfiles-relaxed  SUNWbinfiles `durability=relaxed` (no fsync)  anchor: kea-memfile
 *   kea-memfile               Kea memfile, `persist: true` (appends, no fsync)
 *   steward-binfiles          SUNWbinfiles, durable (fdatasync per change)
 *   steward-pgsql             STEWpgsql on the local PostgreSQL               anchor: kea-pgsql
 *   kea-pgsql                 Kea's PostgreSQL lease backend, same server
 *   steward-files             SUNWfiles (text table; small networks only; not by default)
 *
 * For each server and request rate, REPEATS runs of PERIOD seconds each from a fresh server and
 * an empty lease store; a rate passes when the median DORA drop (1 - ACKs received / DISCOVERs
 * sent) is at most 2.5 %. Printed per run: leases per second and the CPU time per lease of the
 * server process, of its helper (steward's lock manager; the PostgreSQL backends serving the
 * server), and their sum; then the highest passing rate of each server and the ratios of each
 * steward server to its anchor.
 *
 * Needs root, ip(8), perfdhcp (kea-admin) and kea-dhcp4 (kea-dhcp4-server); the PostgreSQL
 * servers need a server reachable through its Unix socket (`--pg`, default
 * `host=/var/run/postgresql port=5432 user=postgres dbname=test`, trust authentication): steward's
 * tables go to a schema of their own in that database and Kea's to a database of its own made with
 * `kea-admin db-init`, both dropped at the end. Every packet stays inside the two namespaces it
 * creates and removes; every run is bounded by -p and a timeout.
 *
 * `--profile DIR` runs steward with `--cpu-prof` and leaves one .cpuprofile per run in DIR;
 * `--engine N` measures in this process, without sockets, N DORA exchanges through the protocol
 * engine and then the store calls alone (see engineBench), no root needed.
 * `--cli FILE` runs another tree's `cli/main.ts` (for before/after comparisons in one run).
 *
 * Usage: node scripts/bench/serve.ts [--quick] [--period S] [--repeats N] [--clients N]
 *          [--servers a,b,...] [--rates-<server> 500,1000,...] [--pg CONNINFO] [--profile DIR]
 *          [--cli FILE] [--max-inflight N]
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { makeDnRec, makeDtRec, newSignature } from "../../lib/dhcp/records.ts";
import { DSVC_CREATE, DSVC_READ, DSVC_WRITE } from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { endAllClients } from "../../lib/dhcp/modules/pg/client.ts";
import { dnHeader, encodeDn } from "../../lib/dhcp/modules/files/format.ts";
import { DN_QCID, DN_QFBOOTP_ONLY, qeq, qinit, qneq } from "../../lib/dhcp/spi.ts";
import { Pool } from "../../lib/dhcp/serve/allocate.ts";
import { Engine } from "../../lib/dhcp/serve/engine.ts";
import { OptionTable } from "../../lib/dhcp/serve/options.ts";
import { DHCP, encodeRequest, OPT } from "../../lib/dhcp/serve/packet.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const quick = flag("quick");
const PERIOD = Number(opt("period", quick ? "5" : "10"));
const REPEATS = Number(opt("repeats", quick ? "1" : "3"));
const CLIENTS = Number(opt("clients", "60000"));
const PG = opt("pg", "host=/var/run/postgresql port=5432 user=postgres dbname=test");
const PROFILE = opt("profile", "");
const MAX_INFLIGHT = opt("max-inflight", "");
// The steward to run (default this tree's; another tree's for before/after comparisons).
const CLI = path.resolve(opt("cli", path.join(root, "cli", "main.ts")));
const ratesOf = (s: string) => s.split(",").map(Number).filter((n) => n > 0);
const S = `sbs${process.pid % 10000}`;
const C = `sbc${process.pid % 10000}`;
fs.mkdirSync(path.join(root, ".tmp"), { recursive: true });
const work = fs.mkdtempSync(path.join(root, ".tmp", "bench-serve-"));
const PG_SCHEMA = `serve_bench_${process.pid}`;
const KEA_DB = `kea_bench_${process.pid}`;

interface Variant {
  name: string;
  kind: "steward" | "kea";
  /** steward: RESOURCE and RESOURCE_CONFIG; kea: lease database type. */
  resource: string;
  config?: string;
  rates: string;
  quickRates: string;
  /** The anchor this one is compared with. */
  anchor?: string;
  label: string;
}

const VARIANTS: Variant[] = [
  {
    name: "steward-binfiles-relaxed",
    kind: "steward",
    resource: "SUNWbinfiles",
    config: "durability=relaxed",
    rates: "1000,2000,3000,4000,5000,6000",
    quickRates: "1000,2000,3000,4000",
    anchor: "kea-memfile",
    label: "SUNWbinfiles durability=relaxed",
  },
  {
    name: "kea-memfile",
    kind: "kea",
    resource: "memfile",
    rates: "2000,3000,4000,5000,6000,7000",
    quickRates: "2000,3000,4000",
    label: "memfile persist (CSV, no fsync)",
  },
  {
    name: "steward-binfiles",
    kind: "steward",
    resource: "SUNWbinfiles",
    rates: "250,500,1000,1500,2000,3000",
    quickRates: "500,1000,2000",
    anchor: "kea-memfile",
    label: "SUNWbinfiles durable (fdatasync)",
  },
  {
    name: "steward-pgsql",
    kind: "steward",
    resource: "STEWpgsql",
    rates: "200,400,600,800,1000,1500",
    quickRates: "200,400,800",
    anchor: "kea-pgsql",
    label: "STEWpgsql (PostgreSQL 15)",
  },
  {
    name: "kea-pgsql",
    kind: "kea",
    resource: "postgresql",
    rates: "200,400,600,800,1000,1500",
    quickRates: "200,400,800",
    label: "postgresql (PostgreSQL 15)",
  },
  {
    name: "steward-files",
    kind: "steward",
    resource: "SUNWfiles",
    rates: "25,50,100",
    quickRates: "25,50",
    label: "SUNWfiles (text table)",
  },
];
const DEFAULT_SERVERS =
  "steward-binfiles-relaxed,kea-memfile,steward-binfiles,steward-pgsql,kea-pgsql";

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

function need(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const c of ["ip", "perfdhcp"]) if (!have(c)) return `needs ${c}`;
  return undefined;
}

function setup(): void {
  teardown();
  for (const n of [S, C]) {
    ip("netns", "add", n);
    ip("-n", n, "link", "set", "lo", "up");
  }
  ip("link", "add", "bs0", "netns", S, "type", "veth", "peer", "name", "bc0", "netns", C);
  ip("-n", S, "addr", "add", "10.77.0.1/16", "dev", "bs0");
  ip("-n", C, "addr", "add", "10.77.0.2/16", "dev", "bc0");
  ip("-n", S, "link", "set", "bs0", "up");
  ip("-n", C, "link", "set", "bc0", "up");
}

function teardown(): void {
  for (const n of [S, C]) spawnSync("ip", ["netns", "del", n], { stdio: "ignore" });
}

/** utime + stime of a process, in clock ticks (100 per second). */
function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** Pids whose command line mentions `needle` (the lock manager of the benchmark's run directory). */
function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** Stop the lock manager a server started in `runDir` (it outlives the server until idle). */
function stopLockd(runDir: string): void {
  for (const p of pidsWith(runDir)) {
    try {
      process.kill(p, "SIGTERM");
    } catch { /* gone */ }
  }
}

// ------------------------------------------------------------------ PostgreSQL

function pgSettings(): pg.ClientConfig {
  const kv = Object.fromEntries(
    PG.split(/\s+/).filter(Boolean).map((p) => p.split("=") as [string, string]),
  );
  return {
    host: kv.host,
    port: Number(kv.port ?? 5432),
    user: kv.user,
    database: kv.dbname,
  };
}

async function pgQuery(sql: string, database?: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ ...pgSettings(), ...(database ? { database } : {}) });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Backend pids serving `database` for `application` (or any application when undefined). */
async function pgBackends(database: string, application?: string): Promise<number[]> {
  const r = await pgQuery(
    `SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()${
      application ? ` AND application_name = '${application}'` : ""
    }`,
  );
  return r.rows.map((x: { pid: number }) => Number(x.pid));
}

const STEWARD_PG_APP = `serve-bench-${process.pid}`;

// ------------------------------------------------------------------ stores

const POOL_FIRST = (10 << 24) + (77 << 16) + 256; // 10.77.1.0
const POOL_LAST = (10 << 24) + (77 << 16) + 65534; // 10.77.255.254
const NET = (10 << 24) + (77 << 16);
const MACROS = ":Router=10.77.0.1:LeaseTim=4000:LeaseNeg:";

async function pristineStore(v: Variant): Promise<string> {
  const dir = path.join(work, `pristine-${v.name}`);
  fs.mkdirSync(dir);
  const macros = makeDtRec("10.77.0.0", "m", MACROS);
  if (v.resource === "SUNWfiles") {
    // Written in the SUNWfiles v1 format directly: adding 65,000 records one by one copies the file each time.
    const lines = [dnHeader("SUNWfiles", 1, NET)];
    for (let a = POOL_FIRST; a <= POOL_LAST; a++) {
      const r = makeDnRec({ cip: a, sip: "10.77.0.1", macro: "10.77.0.0" });
      r.sig = newSignature();
      lines.push(encodeDn(r));
    }
    fs.writeFileSync(path.join(dir, "SUNWfiles1_10_77_0_0"), lines.join(""));
    const store = await openStore({ resource: "SUNWfiles", location: dir }, { synchronizer: null });
    const dt = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    await dt.add(macros);
    await store.close();
    return dir;
  }
  if (v.resource === "STEWpgsql") {
    const store = await openStore({ resource: "STEWpgsql", location: PG_SCHEMA, config: PG }, {
      synchronizer: null,
    });
    await store.mklocation();
    const dt = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    await dt.add(macros);
    await (await store.openNetwork("10.77.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
      netmask: 16,
    })).close();
    await store.close();
    await endAllClients();
    return dir;
  }
  const store = await openStore({
    resource: v.resource,
    location: dir,
    ...(v.config !== undefined ? { config: v.config } : {}),
  }, { synchronizer: null });
  const dt = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
  await dt.add(macros);
  const c = await store.openNetwork("10.77.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
    netmask: 16,
  });
  const batch: Promise<unknown>[] = [];
  for (let a = POOL_FIRST; a <= POOL_LAST; a++) {
    batch.push(c.add(makeDnRec({ cip: a, sip: "10.77.0.1", macro: "10.77.0.0" })));
    if (batch.length >= 256) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  await store.close();
  return dir;
}

/** Refill the STEWpgsql network table with the free pool (as pntadm -A of every address would). */
async function resetPgTable(): Promise<void> {
  const t = `"${PG_SCHEMA}"."STEWpgsql1_10_77_0_0"`;
  await pgQuery(`TRUNCATE ${t} RESTART IDENTITY;
    INSERT INTO ${t} (cip, cid, flags, sip, lease, macro, comment, sig)
      SELECT g, '\\x00'::bytea, 0, ${NET + 1}, 0, '10.77.0.0', '',
             ((1 + floor(random() * 32766))::bigint << 48) | 1
      FROM generate_series(${POOL_FIRST}::bigint, ${POOL_LAST}::bigint) AS g;
    ANALYZE ${t};`);
}

function copyDir(from: string, to: string): void {
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(to, { recursive: true });
  // cp keeps sparse files sparse (a SUNWbinfiles /16 is mostly holes).
  execFileSync("cp", ["-a", "--sparse=always", `${from}/.`, to]);
}

// ------------------------------------------------------------------ servers

interface Server {
  pid: number;
  /** Pids whose CPU counts as the server's helper (lock manager, database backends). */
  helperPids: () => Promise<number[]>;
  stop(): Promise<void>;
  /** After stop: what the server counted as dropped and failed (steward's status file). */
  notes?: () => string;
}

async function waitUdp(addr: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = spawnSync("ip", ["netns", "exec", S, "ss", "-lun"], { encoding: "utf8" });
    if (r.stdout.includes(addr)) return;
    await sleep(100);
  }
  throw new Error(`no server listening on ${addr}`);
}

function stopper(child: ReturnType<typeof spawn>): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null) return;
    const done = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 8000);
    await done;
    clearTimeout(t);
  };
}

let profileRun = 0;

async function startSteward(v: Variant, pristine: string): Promise<Server> {
  const dir = path.join(work, "steward");
  const pgStore = v.resource === "STEWpgsql";
  if (pgStore) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    await resetPgTable();
  } else copyDir(pristine, path.join(dir, "store"));
  const runDir = path.join(dir, "run");
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const config = pgStore ? `${PG} application_name=${STEWARD_PG_APP}` : v.config;
  fs.writeFileSync(
    path.join(dir, "dhcpsvc.conf"),
    [
      `RESOURCE=${v.resource}`,
      `PATH=${pgStore ? PG_SCHEMA : path.join(dir, "store")}`,
      ...(config !== undefined ? [`RESOURCE_CONFIG=${config}`] : []),
      "CONVER=1",
      "STEWARD_SERVE_NETWORKS=10.77.0.0/16",
      "STEWARD_SERVE_SERVER_ID=10.77.0.1",
      "STEWARD_SERVE_ADDRESS=10.77.0.1",
      ...(MAX_INFLIGHT ? [`STEWARD_SERVE_MAX_INFLIGHT=${MAX_INFLIGHT}`] : []),
      `STEWARD_SERVE_LOG=${path.join(dir, "dhcpd.log")}`,
      "",
    ].join("\n"),
  );
  const prof = PROFILE
    ? [
      "--cpu-prof",
      `--cpu-prof-dir=${path.resolve(PROFILE)}`,
      `--cpu-prof-name=${v.name}-${++profileRun}.cpuprofile`,
    ]
    : [];
  const child = spawn("ip", [
    "netns",
    "exec",
    S,
    process.execPath,
    ...prof,
    CLI,
    "dhcp",
    "serve",
    "--conf",
    path.join(dir, "dhcpsvc.conf"),
    "--pid-file",
    path.join(dir, "dhcpd.pid"),
    "--status-file",
    path.join(dir, "status.json"),
  ], {
    stdio: "ignore",
    env: { ...process.env, STEWARD_RUN_DIR: runDir },
  });
  await waitUdp("10.77.0.1:67");
  const dbName = pgSettings().database!;
  return {
    pid: child.pid!,
    helperPids: async () => pgStore ? await pgBackends(dbName, STEWARD_PG_APP) : pidsWith(runDir),
    stop: async () => {
      await stopper(child)();
      stopLockd(runDir);
    },
    notes: () => {
      try {
        const st = JSON.parse(fs.readFileSync(path.join(dir, "status.json"), "utf8")) as {
          drops?: Record<string, number>;
          errors?: Record<string, number>;
        };
        const top = (m: Record<string, number> | undefined) =>
          Object.entries(m ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 4)
            .map(([k, n]) => `${k} ${n}`).join(", ");
        const d = top(st.drops);
        const e = top(st.errors);
        return `${d ? `  drops: ${d}` : ""}${e ? `  errors: ${e}` : ""}`;
      } catch {
        return "";
      }
    },
  };
}

async function startKea(v: Variant): Promise<Server> {
  const dir = path.join(work, "kea");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const pgDb = v.resource === "postgresql";
  if (pgDb) await pgQuery("TRUNCATE lease4", KEA_DB);
  const conf = {
    Dhcp4: {
      "interfaces-config": { interfaces: ["bs0"], "dhcp-socket-type": "raw" },
      "lease-database": pgDb
        ? { type: "postgresql", name: KEA_DB, host: pgSettings().host, user: pgSettings().user }
        : {
          type: "memfile",
          persist: true,
          name: path.join(dir, "leases4.csv"),
          "lfc-interval": 0,
        },
      "multi-threading": { "enable-multi-threading": false },
      "valid-lifetime": 4000,
      "renew-timer": 1000,
      "rebind-timer": 2000,
      subnet4: [{
        id: 1,
        subnet: "10.77.0.0/16",
        pools: [{ pool: "10.77.1.0 - 10.77.255.254" }],
        "option-data": [{ name: "routers", data: "10.77.0.1" }],
      }],
      loggers: [{
        name: "kea-dhcp4",
        output_options: [{ output: path.join(dir, "kea.log") }],
        severity: "WARN",
      }],
    },
  };
  fs.writeFileSync(path.join(dir, "kea.json"), JSON.stringify(conf));
  const child = spawn("ip", ["netns", "exec", S, "kea-dhcp4", "-c", path.join(dir, "kea.json")], {
    stdio: "ignore",
    env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
  });
  await waitUdp("10.77.0.1:67");
  return {
    pid: child.pid!,
    helperPids: async () => (pgDb ? await pgBackends(KEA_DB) : []),
    stop: stopper(child),
  };
}

// ------------------------------------------------------------------ one perfdhcp run

interface Run {
  rate: number;
  sent: number;
  acks: number;
  drop: number;
  leasesPerSecond: number;
  /** Server process CPU per lease, µs. */
  serverUs: number;
  /** Helper processes' CPU per lease, µs. */
  helperUs: number;
  usPerLease: number;
}

async function perfdhcp(server: Server, rate: number): Promise<Run> {
  const helpers0 = new Map<number, number>();
  for (const p of await server.helperPids()) helpers0.set(p, cpuTicks(p));
  const s0 = cpuTicks(server.pid);
  const r = spawnSync("timeout", [
    String(PERIOD + 15),
    "ip",
    "netns",
    "exec",
    C,
    "perfdhcp",
    "-4",
    "-l",
    "bc0",
    "-r",
    String(rate),
    "-R",
    String(CLIENTS),
    "-p",
    String(PERIOD),
    "-g",
    "single",
    "10.77.0.1",
  ], { encoding: "utf8", maxBuffer: 16 << 20 });
  const s1 = cpuTicks(server.pid);
  let helperTicks = 0;
  for (const p of new Set([...helpers0.keys(), ...await server.helperPids()])) {
    const t = cpuTicks(p);
    if (t > 0) helperTicks += t - (helpers0.get(p) ?? 0);
  }
  let section = "";
  const sent: Record<string, number> = {};
  const recv: Record<string, number> = {};
  for (const line of r.stdout.split("\n")) {
    if (line.includes("Statistics for: DISCOVER-OFFER")) section = "do";
    if (line.includes("Statistics for: REQUEST-ACK")) section = "ra";
    const s = /^sent packets: (\d+)/.exec(line);
    if (s) sent[section] = Number(s[1]);
    const v = /^received packets: (\d+)/.exec(line);
    if (v) recv[section] = Number(v[1]);
  }
  const discovers = sent.do ?? 0;
  const acks = recv.ra ?? 0;
  const per = (ticks: number) => (acks > 0 ? ticks * 10_000 / acks : 0);
  return {
    rate,
    sent: discovers,
    acks,
    drop: discovers > 0 ? 100 * (discovers - acks) / discovers : 100,
    leasesPerSecond: acks / PERIOD,
    serverUs: per(s1 - s0),
    helperUs: per(helperTicks),
    usPerLease: per(s1 - s0 + helperTicks),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

interface Step {
  rate: number;
  drops: number[];
  medianDrop: number;
  leasesPerSecond: number;
  serverUs: number;
  helperUs: number;
  usPerLease: number;
}

const n0 = (x: number, w: number) => x.toFixed(0).padStart(w);

async function ladder(v: Variant, start: () => Promise<Server>): Promise<Step[]> {
  const rates = ratesOf(opt(`rates-${v.name}`, quick ? v.quickRates : v.rates));
  const steps: Step[] = [];
  for (const rate of rates) {
    const runs: Run[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const srv = await start();
      try {
        runs.push(await perfdhcp(srv, rate));
      } finally {
        await srv.stop();
      }
      const x = runs.at(-1)!;
      const notes = srv.notes?.() ?? "";
      console.log(
        `${v.name.padEnd(25)} rate ${n0(rate, 5)}  sent ${n0(x.sent, 6)}  acks ${
          n0(x.acks, 6)
        }  drop ${x.drop.toFixed(2).padStart(6)} %  ${
          n0(x.leasesPerSecond, 5)
        } leases/s  CPU µs/lease ${n0(x.usPerLease, 5)} (server ${n0(x.serverUs, 5)} + helper ${
          n0(x.helperUs, 4)
        })  load ${os.loadavg()[0]!.toFixed(2)}${notes}`,
      );
    }
    const step = {
      rate,
      drops: runs.map((r) => r.drop),
      medianDrop: median(runs.map((r) => r.drop)),
      leasesPerSecond: median(runs.map((r) => r.leasesPerSecond)),
      serverUs: median(runs.map((r) => r.serverUs)),
      helperUs: median(runs.map((r) => r.helperUs)),
      usPerLease: median(runs.map((r) => r.usPerLease)),
    };
    steps.push(step);
    if (step.medianDrop > 10) break;
  }
  return steps;
}

function best(steps: Step[]): Step | undefined {
  let b: Step | undefined;
  for (const s of steps) {
    if (s.medianDrop > 2.5) break;
    b = s;
  }
  return b;
}

// ------------------------------------------------------------------ in-process engine

/** A perfdhcp-like relayed DISCOVER or REQUEST of client `n`. */
function dora(type: number, n: number, offered?: number): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x02, 0x42, 0, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const ipb = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  const options: [number, Uint8Array][] = [[OPT.MESSAGE_TYPE, Uint8Array.of(type)]];
  if (offered !== undefined) {
    options.push([OPT.SERVER_ID, ipb(NET + 1)], [OPT.REQUESTED_IP, ipb(offered)]);
  }
  options.push([OPT.PARAMETER_LIST, Uint8Array.of(1, 28, 2, 3, 15, 6, 12)]);
  return encodeRequest({
    xid: n,
    flags: 0,
    htype: 1,
    hlen: 6,
    chaddr,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: NET + 2,
    options,
  });
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * `--engine N`: the protocol engine and the store in this process, no sockets: N DORA exchanges
 * (8 clients at a time) through Engine.handle on a fresh copy of each store, then the store
 * calls alone that the engine makes per DORA (lookup by client ID, modify; the free-record
 * batch lookup of every 256th), so that engine = total - store. CPU of this process and of the
 * lock manager it starts, per lease.
 */
async function engineBench(n: number): Promise<void> {
  const wantedStores = opt("servers", "steward-binfiles-relaxed,steward-binfiles,steward-pgsql")
    .split(",").filter((w) => w.startsWith("steward-"));
  let pgOk = false;
  if (wantedStores.includes("steward-pgsql")) {
    pgOk = await pgQuery("SELECT 1").then(() => true, () => false);
  }
  console.log(
    `in-process engine: ${n} DORA exchanges, 8 clients at a time; load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }; node ${process.version}`,
  );
  for (const name of wantedStores) {
    const v = VARIANTS.find((x) => x.name === name);
    if (!v || (v.resource === "STEWpgsql" && !pgOk)) continue;
    const pristine = await pristineStore(v);
    for (const phase of ["engine+store", "store alone"] as const) {
      const dir = path.join(work, `engine-${v.name}`);
      const runDir = path.join(dir, "run");
      const pgStore = v.resource === "STEWpgsql";
      if (pgStore) {
        fs.rmSync(dir, { recursive: true, force: true });
        await resetPgTable();
      } else copyDir(pristine, path.join(dir, "store"));
      fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const store = await openStore({
        resource: v.resource,
        location: pgStore ? PG_SCHEMA : path.join(dir, "store"),
        ...(pgStore ? { config: PG } : v.config !== undefined ? { config: v.config } : {}),
      }, { lockd: { runDir } });
      const c = await store.openNetwork("10.77.0.0", DSVC_READ | DSVC_WRITE, { netmask: 16 });
      const owners = new Set([NET + 1]);
      const pool = new Pool(c, { owners, offerTimeout: 10, cacheTimeout: 10 });
      const engine = new Engine({
        networks: [{
          pool,
          name: "10.77.0.0",
          network: NET,
          netmask: 0xffff0000,
          serverId: NET + 1,
          direct: false,
        }],
        table: new OptionTable([makeDtRec("10.77.0.0", "m", MACROS)]),
        serverIds: owners,
      });
      // Warm up (JIT, the lock grant, the free cache) on clients not counted.
      const one = async (k: number) => {
        if (phase === "engine+store") {
          const offer = await engine.handle({
            data: dora(DHCP.DISCOVER, k),
            address: "",
            port: 67,
          });
          if (!offer) throw new Error(`no OFFER: ${JSON.stringify(engine.stats.toJSON())}`);
          const yi = Buffer.from(offer.data).readUInt32BE(16);
          const ack = await engine.handle({
            data: dora(DHCP.REQUEST, k, yi),
            address: "",
            port: 67,
          });
          if (!ack || ack.data[242] !== DHCP.ACK) {
            throw new Error(`no ACK: ${JSON.stringify(engine.stats.toJSON())}`);
          }
        } else {
          const cid = Uint8Array.of(1, 0x02, 0x42, 0, (k >>> 16) & 255, (k >>> 8) & 255, k & 255);
          const q = qneq(qeq(qinit(), DN_QCID), DN_QFBOOTP_ONLY);
          await c.lookup(q, { cid, flags: 0 });
          const free = await pool.select(cid, Math.floor(Date.now() / 1000), { bootp: false });
          if (!free) throw new Error("pool exhausted");
          await pool.write(
            free,
            Pool.bind(free, cid, Math.floor(Date.now() / 1000) + 4000),
            () => undefined,
          );
        }
      };
      const run = async (from: number, count: number) => {
        let next = from;
        await Promise.all(Array.from({ length: Number(process.env.CONC ?? 8) }, async () => {
          while (next < from + count) await one(next++);
        }));
      };
      await run(1_000_000, 500);
      const lockd = () => pidsWith(runDir).reduce((a, p) => a + cpuTicks(p), 0);
      const l0 = lockd();
      const c0 = cpuUs();
      const t0 = performance.now();
      await run(1, n);
      const us = cpuUs() - c0;
      const wall = performance.now() - t0;
      const lockdUs = (lockd() - l0) * 10_000;
      console.log(
        `  ${v.name.padEnd(25)} ${phase.padEnd(13)} ${n0(us / n, 5)} µs CPU/lease in process + ${
          n0(lockdUs / n, 4)
        } lock manager; ${n0(n / (wall / 1000), 6)} leases/s (one process, no sockets)`,
      );
      await c.close();
      await store.close();
      stopLockd(runDir);
      if (pgStore) await endAllClients();
    }
  }
}

// ------------------------------------------------------------------ main

if (flag("engine")) {
  try {
    await engineBench(Number(opt("engine", "20000")));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await pgQuery(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`).catch(() => {});
  }
  process.exit(0);
}
const missing = need();
if (missing) {
  console.log(`serve benchmark skipped: ${missing}`);
  process.exit(0);
}
const wanted = opt("servers", DEFAULT_SERVERS).split(",").filter(Boolean);
for (const w of wanted) {
  if (!VARIANTS.some((v) => v.name === w)) {
    console.error(`unknown server ${w}; known: ${VARIANTS.map((v) => v.name).join(", ")}`);
    process.exit(2);
  }
}
let pgUp = false;
if (wanted.some((w) => w.endsWith("pgsql"))) {
  pgUp = await pgQuery("SELECT 1").then(() => true, (e: Error) => {
    console.log(`PostgreSQL servers skipped: cannot connect with '${PG}': ${e.message}`);
    return false;
  });
}
const variants = VARIANTS.filter((v) => wanted.includes(v.name)).filter((v) => {
  if (v.name.endsWith("pgsql") && !pgUp) return false;
  if (v.kind === "kea" && !have("kea-dhcp4")) {
    console.log(`${v.name} skipped: no kea-dhcp4`);
    return false;
  }
  if (v.name === "kea-pgsql" && !have("kea-admin")) {
    console.log(`${v.name} skipped: no kea-admin`);
    return false;
  }
  return true;
}).sort((a, b) => wanted.indexOf(a.name) - wanted.indexOf(b.name));
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
    (os.totalmem() / 2 ** 30).toFixed(1)
  } GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; node ${process.version}`,
);
console.log(
  `perfdhcp -g single -R ${CLIENTS} -p ${PERIOD}, ${REPEATS} run(s) per rate; helper CPU: ` +
    "steward's lock manager (SUNW*) or the PostgreSQL backends serving the server (*pgsql)",
);
if (PROFILE) fs.mkdirSync(PROFILE, { recursive: true });
let pgSchemaMade = false;
let keaDbMade = false;
const cleanup = () => teardown();
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
const results = new Map<string, Step | undefined>();
try {
  setup();
  for (const v of variants) {
    let start: () => Promise<Server>;
    if (v.kind === "steward") {
      if (v.resource === "STEWpgsql") pgSchemaMade = true;
      const pristine = await pristineStore(v);
      start = () => startSteward(v, pristine);
    } else {
      if (v.resource === "postgresql" && !keaDbMade) {
        await pgQuery(`CREATE DATABASE ${KEA_DB}`);
        keaDbMade = true;
        execFileSync("kea-admin", [
          "db-init",
          "pgsql",
          "-u",
          pgSettings().user ?? "postgres",
          "-n",
          KEA_DB,
          "-h",
          "127.0.0.1",
        ], { stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
      }
      start = () => startKea(v);
    }
    results.set(v.name, best(await ladder(v, start)));
  }
  console.log("\nhighest rate with median DORA drop <= 2.5 %:");
  for (const v of variants) {
    const b = results.get(v.name);
    console.log(
      `  ${v.name.padEnd(25)} ${
        b
          ? `${b.rate} /s: ${b.leasesPerSecond.toFixed(0)} leases/s, ${
            b.usPerLease.toFixed(0)
          } µs CPU/lease (server ${b.serverUs.toFixed(0)} + helper ${b.helperUs.toFixed(0)})`
          : "none of the rates tried"
      }`,
    );
  }
  for (const v of variants) {
    const b = results.get(v.name);
    const a = v.anchor ? results.get(v.anchor) : undefined;
    if (!b || !a) continue;
    console.log(
      `  ratio ${v.name}/${v.anchor}: leases/s ${
        (b.leasesPerSecond / a.leasesPerSecond).toFixed(2)
      }×, CPU per lease ${(b.usPerLease / a.usPerLease).toFixed(2)}× (server alone ${
        (b.serverUs / (a.serverUs || 1)).toFixed(2)
      }×)`,
    );
  }
} finally {
  teardown();
  fs.rmSync(work, { recursive: true, force: true });
  if (pgSchemaMade) {
    await pgQuery(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`).catch((e: Error) =>
      console.error(`cannot drop schema ${PG_SCHEMA}: ${e.message}`)
    );
  }
  if (keaDbMade) {
    await pgQuery(`DROP DATABASE IF EXISTS ${KEA_DB} WITH (FORCE)`).catch((e: Error) =>
      console.error(`cannot drop database ${KEA_DB}: ${e.message}`)
    );
  }
}
