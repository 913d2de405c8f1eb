/**
 * PostgreSQL store benchmark: a /12 network container with 250,000 leased records (and 5,000
 * free ones) in STEWpgsql on the local PostgreSQL; lookups by client IP and by client ID,
 * first-free (the oldest free address, count 1) and renewals (modify with the signature from the
 * previous write), with 1 caller, 8 callers in one process and 8 callers in 2 processes (two
 * servers). Anchors in the same run: SQLite through node:sqlite (WAL, synchronous=FULL) with the
 * same table, indexes and statements, 1 caller and 8 callers (8 processes: its API is
 * synchronous); and a raw SELECT by primary key through the same client (`pg`).
 * Each measurement runs in fresh child processes that start together after a handshake.
 * Each figure is the median of ROUNDS runs (default 3) of S seconds (default 2).
 * Usage: node scripts/bench/dhcp-pg.ts [--records N] [--seconds S] [--rounds R]
 *   [--config 'host=… dbname=…']
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { endAllClients } from "../../lib/dhcp/modules/pg/client.ts";
import {
  DN_QCID,
  DN_QCIP,
  type DnRec,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), "..", "..");
const NET = 0x0a100000; // 10.16.0.0/12
const FREE = 5000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

type Op = "ip" | "cid" | "free" | "renew";
type Backend = "steward" | "sqlite" | "raw";

interface ChildJob {
  backend: Backend;
  op: Op;
  callers: number;
  /** Index of this process's first caller among all callers, and how many there are. */
  first: number;
  total: number;
  records: number;
  seconds: number;
  config: string;
  schema: string;
  sqliteFile: string;
}

interface ChildResult {
  ops: number;
  latenciesUs: number[];
}

function cidOf(i: number): Buffer {
  const b = Buffer.alloc(7);
  b[0] = 1;
  b[1] = 0x08;
  b[2] = 0x00;
  b.writeUInt32BE(i, 3);
  return b;
}

const FREE_CID = Buffer.from([0]);
const TABLE = "STEWpgsql1_10_16_0_0";

/** A uniformly random leased record index 1..n (a small fast generator; Math.random is fine here). */
function pick(n: number): number {
  return 1 + Math.floor(Math.random() * n);
}

// ---------------------------------------------------------------------------------------------
// Children: one backend, one operation, `callers` callers for `seconds` after "go".

interface PgPool {
  query(q: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
  on(ev: "error", fn: (e: Error) => void): void;
}

function pgPool(config: string, max: number): PgPool {
  const kv = Object.fromEntries(
    config.split(/\s+/).filter(Boolean).map((p) => p.split("=") as [string, string]),
  );
  const Pool = (pg as unknown as { Pool: new (c: Record<string, unknown>) => PgPool }).Pool;
  const p = new Pool({
    host: kv.host,
    port: kv.port ? Number(kv.port) : undefined,
    database: kv.dbname,
    user: kv.user,
    max,
    allowExitOnIdle: true,
  });
  p.on("error", () => undefined);
  return p;
}

async function child(job: ChildJob): Promise<void> {
  let step: (caller: number) => Promise<void>;
  let close = async () => {};
  const n = job.records;
  if (job.backend === "steward") {
    const store = await openStore({
      resource: "STEWpgsql",
      location: job.schema,
      config: `${job.config} pool_max=${Math.max(job.callers, 1)}`,
    });
    const dn = await store.openNetwork("10.16.0.0", DSVC_READ | DSVC_WRITE, { netmask: 12 });
    const held = new Map<number, DnRec>();
    step = async (c) => {
      if (job.op === "ip") {
        const r = await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + pick(n) });
        if (r.count !== 1) throw new Error("lookup by IP found nothing");
      } else if (job.op === "cid") {
        const r = await dn.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(pick(n)) });
        if (r.count !== 1) throw new Error("lookup by client ID found nothing");
      } else if (job.op === "free") {
        const r = await dn.lookup(qeq(qinit(), DN_QCID), { cid: FREE_CID }, { count: 1 });
        if (r.count !== 1) throw new Error("no free address");
      } else {
        // Renewals of this caller's own records (index ≡ caller mod total), signature kept.
        const g = job.first + c;
        const i = 1 + ((g + job.total * Math.floor(Math.random() * (n / job.total - 1))) % n);
        let r = held.get(i);
        if (!r) {
          r = (await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + i })).records[0] as DnRec;
        }
        held.set(i, await dn.modify(r, { ...r, lease: r.lease + 1 }));
      }
    };
    close = async () => {
      await dn.close();
      await store.close();
      await endAllClients();
    };
  } else if (job.backend === "raw") {
    const pool = pgPool(job.config, Math.max(job.callers, 1));
    const text =
      `SELECT cip, cid, flags, sip, lease, macro, comment, sig FROM "${job.schema}"."${TABLE}" WHERE cip = $1`;
    step = async () => {
      const r = await pool.query({ name: "raw", text, values: [NET + pick(n)] });
      if (r.rows.length !== 1) throw new Error("raw select found nothing");
    };
    close = () => pool.end();
  } else {
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(job.sqliteFile);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000");
    const byIp = db.prepare(
      "SELECT cip, cid, flags, sip, lease, macro, comment, sig FROM dn WHERE cip = ?",
    );
    const byCid = db.prepare(
      "SELECT cip, cid, flags, sip, lease, macro, comment, sig FROM dn WHERE cid = ? ORDER BY seq DESC",
    );
    const free = db.prepare(
      "SELECT cip, cid, flags, sip, lease, macro, comment, sig FROM dn WHERE cid = ? ORDER BY seq LIMIT 1",
    );
    const renew = db.prepare(
      "UPDATE dn SET lease = ?, sig = ? WHERE cip = ? AND sig = ?",
    );
    // Signatures use all 64 bits.
    for (const st of [byIp, byCid, free]) st.setReadBigInts(true);
    step = (c) => {
      if (job.op === "ip") {
        if (!byIp.get(NET + pick(n))) throw new Error("sqlite lookup by IP found nothing");
      } else if (job.op === "cid") {
        if (byCid.all(cidOf(pick(n))).length !== 1) throw new Error("sqlite lookup by cid");
      } else if (job.op === "free") {
        if (!free.get(FREE_CID)) throw new Error("sqlite: no free address");
      } else {
        const g = job.first + c;
        const i = 1 + ((g + job.total * Math.floor(Math.random() * (n / job.total - 1))) % n);
        const r = byIp.get(NET + i) as { lease: bigint; sig: bigint };
        const res = renew.run(r.lease + 1n, BigInt.asIntN(64, r.sig + 1n), NET + i, r.sig);
        if (res.changes !== 1) throw new Error("sqlite renew collided");
      }
      return Promise.resolve();
    };
    close = () => {
      db.close();
      return Promise.resolve();
    };
  }
  // Warm up (connections, prepared statements, caches), then wait for the parent's "go".
  const warm = Date.now() + 300;
  while (Date.now() < warm) {
    await Promise.all(Array.from({ length: job.callers }, (_, c) => step(c)));
  }
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once("line", () => {
      rl.close();
      process.stdin.destroy();
      resolve();
    });
  });
  const end = performance.now() + job.seconds * 1000;
  const lat: number[] = [];
  let ops = 0;
  await Promise.all(Array.from({ length: job.callers }, async (_, c) => {
    while (performance.now() < end) {
      const t = performance.now();
      await step(c);
      lat.push((performance.now() - t) * 1000);
      ops++;
    }
  }));
  await close();
  // A sample of the latencies is enough for percentiles.
  const sample = lat.filter((_, i) => i % Math.max(1, Math.floor(lat.length / 5000)) === 0);
  process.stdout.write(JSON.stringify({ ops, latenciesUs: sample } satisfies ChildResult) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Parent.

function runChildren(
  jobs: ChildJob[],
): Promise<{ opsPerS: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    let ready = 0;
    const results: ChildResult[] = [];
    const kids = jobs.map((job) => {
      const k = spawn(process.execPath, ["--no-warnings", self, "--child", JSON.stringify(job)], {
        cwd: root,
        stdio: ["pipe", "pipe", "inherit"],
      });
      const rl = readline.createInterface({ input: k.stdout });
      rl.on("line", (line) => {
        if (line === "ready") {
          if (++ready === jobs.length) { for (const x of kids) x.stdin.end("go\n"); }
        } else if (line.startsWith("{")) results.push(JSON.parse(line) as ChildResult);
      });
      k.on("close", (code) => {
        if (code !== 0) reject(new Error(`a ${job.backend} ${job.op} child exited with ${code}`));
        else if (results.length === jobs.length) {
          const lat = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
          const ops = results.reduce((s, r) => s + r.ops, 0);
          resolve({
            opsPerS: ops / jobs[0]!.seconds,
            p50: lat[Math.floor(lat.length * 0.5)] ?? 0,
            p99: lat[Math.floor(lat.length * 0.99)] ?? 0,
          });
        }
      });
      return k;
    });
    setTimeout(() => {
      for (const k of kids) k.kill("SIGKILL");
      reject(new Error("a measurement took too long"));
    }, (jobs[0]!.seconds + 120) * 1000).unref();
  });
}

async function loadPg(config: string, schema: string, n: number): Promise<void> {
  const store = await openStore({ resource: "STEWpgsql", location: schema, config });
  await store.mklocation();
  await (await store.openNetwork("10.16.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
    netmask: 12,
  })).close();
  await store.close();
  await endAllClients();
  const pool = pgPool(config, 1);
  const t = `"${schema}"."${TABLE}"`;
  // Leased records (client IDs all different), then free ones after them.
  await pool.query({
    text: `INSERT INTO ${t} (cip, cid, flags, sip, lease, macro, comment, sig)
           SELECT $1::bigint + g, '\\x010800'::bytea || int4send(g), 0, $1::bigint + 1, 1800000000,
                  'atlantic', '', ((1 + floor(random() * 32766))::bigint << 48) | 1
           FROM generate_series(1, $2::int) AS g`,
    values: [NET, n],
  });
  await pool.query({
    text: `INSERT INTO ${t} (cip, cid, flags, sip, lease, macro, comment, sig)
           SELECT $1::bigint + g, '\\x00'::bytea, 0, $1::bigint + 1, 0, 'atlantic', '',
                  ((1 + floor(random() * 32766))::bigint << 48) | 1
           FROM generate_series($2::int + 1, $2::int + $3::int) AS g`,
    values: [NET, n, FREE],
  });
  await pool.query({ text: `ANALYZE ${t}` });
  await pool.end();
}

async function loadSqlite(file: string, n: number): Promise<void> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
    CREATE TABLE dn (cip INTEGER PRIMARY KEY, cid BLOB NOT NULL, flags INTEGER NOT NULL,
      sip INTEGER NOT NULL, lease INTEGER NOT NULL, macro TEXT NOT NULL, comment TEXT NOT NULL,
      sig INTEGER NOT NULL, seq INTEGER NOT NULL);
    CREATE INDEX dn_cid ON dn (cid, seq);`);
  const ins = db.prepare("INSERT INTO dn VALUES (?, ?, 0, ?, ?, 'atlantic', '', ?, ?)");
  db.exec("BEGIN");
  for (let i = 1; i <= n + FREE; i++) {
    const leased = i <= n;
    ins.run(
      NET + i,
      leased ? cidOf(i) : FREE_CID,
      NET + 1,
      leased ? 1_800_000_000 : 0,
      (BigInt(1 + Math.floor(Math.random() * 32766)) << 48n) | 1n, // positive in 64 bits
      i,
    );
  }
  db.exec("COMMIT");
  db.exec("ANALYZE");
  db.close();
}

async function main(): Promise<void> {
  const records = Number(arg("--records") ?? 250_000);
  const seconds = Number(arg("--seconds") ?? 2);
  const rounds = Number(arg("--rounds") ?? 3);
  const config = arg("--config") ?? process.env.STEWARD_BENCH_PG ??
    "host=127.0.0.1 port=5432 dbname=test user=postgres";
  const schema = `bench_${process.pid}`;
  const work = fs.mkdtempSync(path.join(root, ".tmp", "bench-dhcp-pg-"));
  const sqliteFile = path.join(work, "dn.sqlite");
  const base = { records, seconds, config, schema, sqliteFile };
  console.log(
    `machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "?"}, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`,
  );
  let t = performance.now();
  await loadPg(config, schema, records);
  console.log(
    `loaded ${records} + ${FREE} records into PostgreSQL in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s`,
  );
  t = performance.now();
  await loadSqlite(sqliteFile, records);
  console.log(`loaded them into SQLite in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  type Shape = { name: string; procs: number; per: number };
  const shapes: Record<Backend, Shape[]> = {
    steward: [
      { name: "1 caller", procs: 1, per: 1 },
      { name: "8 callers", procs: 1, per: 8 },
      { name: "2 processes x 4", procs: 2, per: 4 },
    ],
    // node:sqlite is synchronous: 8 callers are 8 processes.
    sqlite: [{ name: "1 caller", procs: 1, per: 1 }, { name: "8 callers", procs: 8, per: 1 }],
    raw: [{ name: "1 caller", procs: 1, per: 1 }, { name: "8 callers", procs: 1, per: 8 }],
  };
  const results = new Map<string, { opsPerS: number; p50: number; p99: number }>();
  const rows: string[] = [];
  const ops: Op[] = ["ip", "cid", "free", "renew"];
  const opName: Record<Op, string> = {
    ip: "lookup by client IP",
    cid: "lookup by client ID",
    free: "first free address",
    renew: "renew (modify with signature)",
  };
  try {
    for (const op of ops) {
      for (const backend of ["steward", "sqlite", "raw"] as Backend[]) {
        if (backend === "raw" && op !== "ip") continue;
        for (const s of shapes[backend]) {
          const jobs = Array.from({ length: s.procs }, (_, p) => ({
            ...base,
            backend,
            op,
            callers: s.per,
            first: p * s.per,
            total: s.procs * s.per,
          }));
          // The median of `rounds` runs: this machine's load varies from one second to the next.
          const runs: Array<{ opsPerS: number; p50: number; p99: number }> = [];
          for (let i = 0; i < rounds; i++) runs.push(await runChildren(jobs));
          runs.sort((x, y) => x.opsPerS - y.opsPerS);
          const r = runs[Math.floor(runs.length / 2)] as (typeof runs)[number];
          results.set(`${backend}/${op}/${s.name}`, r);
          const label = backend === "steward"
            ? "STEWpgsql"
            : backend === "sqlite"
            ? "anchor: SQLite FULL"
            : "anchor: raw SELECT by key (pg)";
          const row = `| ${opName[op]} | ${label} | ${s.name} | ${Math.round(r.opsPerS)} | ${
            Math.round(r.p50)
          } | ${Math.round(r.p99)} |`;
          rows.push(row);
          console.log(row);
        }
      }
    }
  } finally {
    const pool = pgPool(config, 1);
    await pool.query({ text: `DROP SCHEMA IF EXISTS "${schema}" CASCADE` });
    await pool.end();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const get = (k: string) => results.get(k) as { opsPerS: number; p50: number };
  console.log("\n| operation | store | callers | ops/s | p50 µs | p99 µs |");
  console.log("| --- | --- | --- | ---: | ---: | ---: |");
  for (const r of rows) console.log(r);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log("\n| goal | measured | ratio |\n| --- | --- | ---: |");
  for (const shape of ["8 callers", "1 caller"]) {
    const a = get(`steward/renew/${shape}`).opsPerS;
    const b = get(`sqlite/renew/${shape}`).opsPerS;
    console.log(
      `| renewals, ${shape}: STEWpgsql at least as fast as SQLite synchronous=FULL | ${
        Math.round(a)
      } vs ${Math.round(b)} ops/s | ${ratio(a, b)} |`,
    );
  }
  console.log(
    `| renewals, 2 processes x 4 vs one process x 8 | ${
      Math.round(get("steward/renew/2 processes x 4").opsPerS)
    } vs ${Math.round(get("steward/renew/8 callers").opsPerS)} ops/s | ${
      ratio(get("steward/renew/2 processes x 4").opsPerS, get("steward/renew/8 callers").opsPerS)
    } |`,
  );
  for (const shape of ["1 caller", "8 callers"]) {
    const a = get(`steward/ip/${shape}`).p50;
    const b = get(`raw/ip/${shape}`).p50;
    console.log(
      `| lookup by IP within 2× a raw SELECT by key, ${shape} (p50) | ${Math.round(a)} vs ${
        Math.round(b)
      } µs | ${ratio(a, b)} |`,
    );
    const c = get(`steward/cid/${shape}`).p50;
    console.log(
      `| lookup by client ID vs the raw SELECT by key, ${shape} (p50) | ${Math.round(c)} vs ${
        Math.round(b)
      } µs | ${ratio(c, b)} |`,
    );
  }
}

if (process.argv[2] === "--child") await child(JSON.parse(process.argv[3] as string) as ChildJob);
else await main();
