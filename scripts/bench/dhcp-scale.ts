/**
 * DHCP at scale: a 2^20-address network (10.0.0.0/12) with 250,000 leased records (and 10,000
 * free ones) in SUNWbinfiles, against SQLite through node:sqlite with the same records (WAL,
 * indexes on client IP and client ID, synchronous=FULL durable / NORMAL relaxed) and against
 * SUNWfiles at 10,000 records, all in the same run. Open time, lookups by client IP, by client
 * ID and first free, renewals (lookup by client ID, then modify with the signature), add and
 * delete; 1 and 8 concurrent callers in one process, renewals from 2 processes; resident
 * memory. Run through scripts/bench/dhcp.ts (`--scale-only` for this part alone).
 * @module
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { LockClient } from "../../lib/lockd/client.ts";
import {
  cidHash,
  DN_CIDHASHSZ,
  DN_HASHHEAD,
  DN_HEADER_SIZE,
  DN_REC_SIZE,
  encodeFileRec,
  H,
  headOffset,
  newNetworkHeader,
} from "../../lib/dhcp/modules/binfiles/format.ts";
import { NetworkFile } from "../../lib/dhcp/modules/binfiles/network.ts";
import { dnHeader, encodeDn } from "../../lib/dhcp/modules/files/format.ts";
import { makeDnRec, newSignature } from "../../lib/dhcp/records.ts";
import {
  DN_QCID,
  DN_QCIP,
  type DnRec,
  DSVC,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  qeq,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import type { DhcpStore, DnContainer, Synchronizer } from "../../lib/dhcp/store-api.ts";

const NET = 0x0a000000;
const MASK = 0xfff00000; // /12
const LEASED = 250_000;
const FREE = 10_000;
const ADD_BASE = 400_000;
const LEASE = 1_800_000_000;
const self = fileURLToPath(import.meta.url);

function cidOf(i: number): Uint8Array {
  return Uint8Array.of(1, 8, 0, 0x20, (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

function recordOf(i: number): DnRec {
  const r = makeDnRec({
    cip: NET + i,
    cid: i <= LEASED ? cidOf(i) : Uint8Array.of(0),
    sip: "10.0.0.1",
    lease: i <= LEASED ? LEASE : 0,
    macro: "atlantic",
  });
  return { ...r, sig: newSignature() };
}

/** Write the SUNWbinfiles container directly (records inserted in host order, as adds would). */
function buildBinfiles(loc: string): void {
  const n = LEASED + FREE;
  const next = new Uint32Array(n + 2);
  const prev = new Uint32Array(n + 2);
  const heads = new Uint32Array(DN_CIDHASHSZ);
  const hashes = new Uint16Array(n + 2);
  for (let i = 1; i <= n; i++) {
    const id = i + 1; // RECID = host number + 1
    const h = cidHash(i <= LEASED ? cidOf(i) : Uint8Array.of(0));
    hashes[i] = h;
    const old = heads[h] as number;
    next[i] = old;
    prev[i] = DN_HASHHEAD;
    if (old) prev[old - 1] = id;
    heads[h] = id;
  }
  const header = newNetworkHeader(NET, MASK);
  header[H.version] = 1;
  for (let h = 0; h < DN_CIDHASHSZ; h++) {
    header.writeUInt32BE(heads[h] as number, headOffset(h, 0));
    header.writeUInt32BE(heads[h] as number, headOffset(h, 1));
  }
  const file = path.join(loc, "SUNWbinfiles1_10_0_0_0");
  const fd = fs.openSync(file, "w", 0o644);
  fs.writeSync(fd, header, 0, DN_HEADER_SIZE, 0);
  const per = 8192;
  const chunk = Buffer.alloc(per * DN_REC_SIZE);
  for (let first = 1; first <= n; first += per) {
    const count = Math.min(per, n - first + 1);
    chunk.fill(0);
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const nx = next[i] as number;
      const pv = prev[i] as number;
      encodeFileRec({ next: [nx, nx], prev: [pv, pv], rec: recordOf(i) }, chunk, k * DN_REC_SIZE);
    }
    // Host i lives in slot i + 1.
    fs.writeSync(fd, chunk, 0, count * DN_REC_SIZE, DN_HEADER_SIZE + DN_REC_SIZE * first);
  }
  fs.ftruncateSync(fd, DN_HEADER_SIZE + DN_REC_SIZE * 2 ** 20);
  fs.closeSync(fd);
}

function buildSqlite(file: string, durable: boolean): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${durable ? "FULL" : "NORMAL"};`);
  db.exec(`PRAGMA busy_timeout=10000;`);
  db.exec(
    `CREATE TABLE IF NOT EXISTS dn (cip INTEGER PRIMARY KEY, cid BLOB NOT NULL, flags INTEGER, sip INTEGER, lease INTEGER, macro TEXT, comment TEXT, sig INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS dn_cid ON dn(cid);`,
  );
  const have = (db.prepare("SELECT count(*) AS n FROM dn").get() as { n: number }).n;
  if (have === 0) {
    const ins = db.prepare("INSERT INTO dn VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    db.exec("BEGIN");
    for (let i = 1; i <= LEASED + FREE; i++) {
      const r = recordOf(i);
      ins.run(
        r.cip,
        r.cid,
        r.flags,
        r.sip,
        r.lease,
        r.macro,
        r.comment,
        r.sig & 0x7fffffffffffffffn,
      );
    }
    db.exec("COMMIT");
  }
  return db;
}

/** Operations of one store, as closures over a caller number and a sequence number. */
interface Subject {
  name: string;
  ops: Partial<Record<OpName, (caller: number, k: number) => Promise<void> | void>>;
}

type OpName =
  | "lookup by client IP"
  | "lookup by client ID"
  | "first free (client ID 00, count 1)"
  | "renew (lookup by client ID, modify with signature)"
  | "add"
  | "delete";

const OPS: OpName[] = [
  "lookup by client IP",
  "lookup by client ID",
  "first free (client ID 00, count 1)",
  "renew (lookup by client ID, modify with signature)",
  "add",
  "delete",
];

const pick = (caller: number, k: number) => 1 + ((caller * 104_729 + k * 7919) % LEASED);

function binfilesSubject(name: string, dn: DnContainer, reads: boolean): Subject {
  const added: DnRec[][] = Array.from({ length: 8 }, () => []);
  let addSeq = 0;
  const ops: Subject["ops"] = {
    "renew (lookup by client ID, modify with signature)": async (c, k) => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const r = (await dn.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(pick(c, k)) })).records[0];
        if (!r) throw new Error("missed");
        try {
          await dn.modify(r, { ...r, lease: r.lease + 1 });
          return;
        } catch (e) {
          if (!(e instanceof DsvcError && e.code === DSVC.COLLISION)) throw e;
        }
      }
    },
    add: async (c) => {
      const i = ADD_BASE + addSeq++;
      (added[c] as DnRec[]).push(await dn.add(makeDnRec({ cip: NET + i, cid: cidOf(i) })));
    },
    delete: async (c) => {
      const r = (added[c] as DnRec[]).shift();
      if (r) await dn.delete(r);
    },
  };
  if (reads) {
    ops["lookup by client IP"] = async (c, k) => {
      if ((await dn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + pick(c, k) })).count !== 1) {
        throw new Error("missed");
      }
    };
    ops["lookup by client ID"] = async (c, k) => {
      if ((await dn.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(pick(c, k)) })).count !== 1) {
        throw new Error("missed");
      }
    };
    ops["first free (client ID 00, count 1)"] = async () => {
      const r = await dn.lookup(qeq(qinit(), DN_QCID), { cid: Uint8Array.of(0) }, { count: 1 });
      if (r.count !== 1) throw new Error("missed");
    };
  }
  return { name, ops };
}

function sqliteSubject(name: string, db: DatabaseSync, reads: boolean): Subject {
  const byCip = db.prepare("SELECT * FROM dn WHERE cip = ?");
  const byCid = db.prepare("SELECT * FROM dn WHERE cid = ?");
  const free = db.prepare("SELECT * FROM dn WHERE cid = x'00' LIMIT 1");
  const renew = db.prepare("UPDATE dn SET lease = ?, sig = sig + 1 WHERE cip = ? AND sig = ?");
  const ins = db.prepare("INSERT INTO dn VALUES (?, ?, 0, ?, 0, '', '', 1)");
  const del = db.prepare("DELETE FROM dn WHERE cip = ?");
  // Signatures are 64-bit: read them exactly.
  for (const st of [byCip, byCid, free]) st.setReadBigInts(true);
  const added: number[][] = Array.from({ length: 8 }, () => []);
  let addSeq = 0;
  const ops: Subject["ops"] = {
    "renew (lookup by client ID, modify with signature)": (c, k) => {
      const r = byCid.get(cidOf(pick(c, k))) as { cip: bigint; lease: bigint; sig: bigint };
      if (renew.run(r.lease + 1n, r.cip, r.sig).changes !== 1) throw new Error("collision");
    },
    add: (c) => {
      const i = ADD_BASE + addSeq++;
      ins.run(NET + i, cidOf(i), 0x0a000001);
      (added[c] as number[]).push(NET + i);
    },
    delete: (c) => {
      const cip = (added[c] as number[]).shift();
      if (cip !== undefined) del.run(cip);
    },
  };
  if (reads) {
    ops["lookup by client IP"] = (c, k) => {
      if (!byCip.get(NET + pick(c, k))) throw new Error("missed");
    };
    ops["lookup by client ID"] = (c, k) => {
      if (!byCid.get(cidOf(pick(c, k)))) throw new Error("missed");
    };
    ops["first free (client ID 00, count 1)"] = () => {
      if (!free.get()) throw new Error("missed");
    };
  }
  return { name, ops };
}

/** Operations per second of `fn` with `callers` concurrent callers, `total` operations in all. */
async function rate(
  callers: number,
  total: number,
  fn: (caller: number, k: number) => Promise<void> | void,
): Promise<number> {
  for (let i = 0; i < Math.min(20, total); i++) await fn(0, 1_000_000 + i);
  const per = Math.ceil(total / callers);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      for (let k = 0; k < per; k++) await fn(c, k);
    }),
  );
  return (per * callers) / ((performance.now() - t0) / 1000);
}

/** One row of results: ops/s per subject. */
interface Row {
  op: string;
  callers: number;
  values: Map<string, number>;
}

async function measureAll(subjects: Subject[], quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const op of OPS) {
    for (const callers of [1, 8]) {
      const row: Row = { op, callers, values: new Map() };
      for (const s of subjects) {
        const fn = s.ops[op];
        if (!fn) continue;
        const isWrite = op === "add" || op === "delete" || op.startsWith("renew");
        const total = quick ? (isWrite ? 100 : 2000) : isWrite ? 400 : 20_000;
        row.values.set(s.name, await rate(callers, total, fn));
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Renewals per second from `procs` processes at once, each for `ms`. */
async function multiProcess(
  kind: string,
  args: Record<string, unknown>,
  procs: number,
  ms: number,
): Promise<number> {
  const children = Array.from({ length: procs }, (_, p) => {
    const child = spawn(process.execPath, [
      self,
      "--child",
      JSON.stringify({ ...args, kind, proc: p, ms }),
    ], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const ready = new Promise<void>((resolve) => {
      const on = () => {
        if (out.includes("ready\n")) {
          child.stdout.off("data", on);
          resolve();
        }
      };
      child.stdout.on("data", on);
    });
    const done = new Promise<number>((resolve, reject) => {
      child.on("close", (code) => {
        const m = /ops (\d+) ms (\d+(?:\.\d+)?)/.exec(out);
        if (code !== 0 || !m) reject(new Error(`${kind} child failed: ${out}`));
        else resolve(Number(m[1]) / (Number(m[2]) / 1000));
      });
    });
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.end("go\n");
  const rates = await Promise.all(children.map((c) => c.done));
  return rates.reduce((a, b) => a + b, 0);
}

async function child(): Promise<void> {
  const o = JSON.parse(process.argv[process.argv.indexOf("--child") + 1] as string) as {
    kind: string;
    location?: string;
    runDir?: string;
    cache?: boolean;
    config?: string;
    db?: string;
    proc: number;
    ms: number;
  };
  let fn: (c: number, k: number) => Promise<void> | void;
  let close: () => Promise<void> = async () => {};
  if (o.kind === "sqlite") {
    const db = buildSqlite(o.db as string, o.config === "durability=durable");
    fn = sqliteSubject("sqlite", db, false)
      .ops["renew (lookup by client ID, modify with signature)"] as typeof fn;
    close = () => Promise.resolve(db.close());
  } else {
    const store = await openStore(
      { resource: "SUNWbinfiles", location: o.location as string, config: o.config as string },
      { lockd: { runDir: o.runDir as string, cache: o.cache === true } },
    );
    const dn = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 12 });
    fn = binfilesSubject("b", dn, false)
      .ops["renew (lookup by client ID, modify with signature)"] as typeof fn;
    close = () => store.close();
  }
  process.stdout.write("ready\n");
  for await (const _ of process.stdin) break;
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < o.ms) {
    // Each process renews its own records; collisions would only add retries.
    await fn(o.proc + 3, n++);
  }
  const ms = performance.now() - t0;
  await close();
  process.stdout.write(`ops ${n} ms ${ms}\n`);
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}

const fmt = (v: number | undefined) =>
  v === undefined ? "–" : Math.round(v).toLocaleString("en").replaceAll(",", " ");

/** Run the scale benchmark, printing its tables. */
export async function runScaleBench(
  o: { quick: boolean; work: string; client: LockClient },
): Promise<void> {
  const loc = path.join(o.work, "scale-binfiles");
  fs.mkdirSync(loc);
  let t = performance.now();
  buildBinfiles(loc);
  const buildMs = performance.now() - t;
  const runDir = path.join(o.work, "run");
  const sync: Synchronizer = o.client;

  const rssBefore = process.memoryUsage().rss;
  const open = async (config: string, s: Synchronizer | null) => {
    const t0 = performance.now();
    const store = await openStore({ resource: "SUNWbinfiles", location: loc, config }, {
      synchronizer: s,
    });
    const dn = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 12 });
    return { store, dn, ms: performance.now() - t0 };
  };
  // Cold-ish first open (the file was just written: in the page cache, as after a restart).
  const first = await open("durability=durable", sync);
  const openMs = first.ms;
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  const subjects: Subject[] = [binfilesSubject("binfiles durable, lockd per op", first.dn, true)];
  const rowsA = await measureAll(subjects, o.quick);
  await first.store.close();

  const relaxed = await open("durability=relaxed", sync);
  const rowsB = await measureAll([
    binfilesSubject("binfiles relaxed, lockd per op", relaxed.dn, false),
  ], o.quick);
  await relaxed.store.close();

  // Lock caching on (the framework's default): a grant is kept until another process asks.
  const cachedClient = new LockClient({ runDir, cache: true });
  const cachedDurable = await open("durability=durable", cachedClient);
  const rowsA2 = await measureAll([
    binfilesSubject("binfiles durable, lockd cached", cachedDurable.dn, true),
  ], o.quick);
  await cachedDurable.store.close();
  const cachedRelaxed = await open("durability=relaxed", cachedClient);
  const rowsB2 = await measureAll([
    binfilesSubject("binfiles relaxed, lockd cached", cachedRelaxed.dn, false),
  ], o.quick);
  await cachedRelaxed.store.close();
  cachedClient.close();

  const local = await open("durability=durable", null);
  const rowsC = await measureAll([
    binfilesSubject("binfiles durable, no inter-process lock", local.dn, true),
  ], o.quick);
  await local.store.close();
  const localRelaxed = await open("durability=relaxed", null);
  const rowsC2 = await measureAll(
    [binfilesSubject("binfiles relaxed, no inter-process lock", localRelaxed.dn, false)],
    o.quick,
  );
  await localRelaxed.store.close();

  // Profile: where a lookup's time goes, module alone vs through the framework.
  const nf = NetworkFile.open(path.join(loc, "SUNWbinfiles1_10_0_0_0"), NET, MASK, {
    writable: false,
    create: false,
    durable: false,
  });
  const reps = o.quick ? 5000 : 50_000;
  const target = makeDnRec({ cip: NET + 1 });
  let t1 = performance.now();
  for (let k = 0; k < reps; k++) {
    target.cip = NET + pick(0, k);
    nf.lookup({
      query: qeq(qinit(), DN_QCIP),
      target,
      partial: false,
      count: -1,
      countOnly: false,
    });
  }
  const moduleUs = ((performance.now() - t1) * 1000) / reps;
  const head = Buffer.alloc(308);
  const fd = fs.openSync(path.join(loc, "SUNWbinfiles1_10_0_0_0"), "r");
  t1 = performance.now();
  for (let k = 0; k < reps; k++) fs.readSync(fd, head, 0, 308, 0);
  const preadUs = ((performance.now() - t1) * 1000) / reps;
  fs.closeSync(fd);
  await nf.close();
  const early = (name: string) =>
    [rowsA, rowsC].map((rows) =>
      rows.find((x) => x.op === OPS[0] && x.callers === 1)?.values.get(name)
    )
      .find((v) => v !== undefined);
  const viaFramework = early("binfiles durable, no inter-process lock");
  const viaLockd = early("binfiles durable, lockd per op");
  const viaCached = rowsA2.find((x) => x.op === OPS[0] && x.callers === 1)?.values.get(
    "binfiles durable, lockd cached",
  );
  const lockPair = await rate(1, o.quick ? 500 : 5000, async (_, k) => {
    const h = await o.client.acquire(`bench/profile${k % 4}`, { mode: "shared" });
    await h.release();
  });

  // SQLite anchors, same records.
  t = performance.now();
  const dbFile = path.join(o.work, "scale.sqlite");
  const dbFull = buildSqlite(dbFile, true);
  const sqliteBuildMs = performance.now() - t;
  const rowsD = await measureAll([sqliteSubject("SQLite FULL (durable)", dbFull, true)], o.quick);
  dbFull.close();
  t = performance.now();
  const dbNormal = buildSqlite(dbFile, false);
  const sqliteOpenMs = performance.now() - t;
  const rowsE = await measureAll(
    [sqliteSubject("SQLite NORMAL (relaxed)", dbNormal, false)],
    o.quick,
  );
  dbNormal.close();

  // SUNWfiles at 10,000 records (synchronized, with its host lock), 1 caller.
  const floc = path.join(o.work, "scale-files");
  fs.mkdirSync(floc);
  const lines = [dnHeader("SUNWfiles", 1, NET)];
  for (let i = 1; i <= 10_000; i++) lines.push(encodeDn(recordOf(i)));
  fs.writeFileSync(path.join(floc, "SUNWfiles1_10_0_0_0"), lines.join(""));
  const fstore: DhcpStore = await openStore({ resource: "SUNWfiles", location: floc }, {
    synchronizer: sync,
  });
  const fdn = await fstore.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 12 });
  const filesRates = new Map<string, number>();
  const host = (k: number) => 1 + ((k * 7919) % 10_000);
  const n = o.quick ? 20 : 100;
  filesRates.set(
    "lookup by client IP",
    await rate(1, n, async (_, k) => {
      if ((await fdn.lookup(qeq(qinit(), DN_QCIP), { cip: NET + host(k) })).count !== 1) {
        throw new Error("missed");
      }
    }),
  );
  filesRates.set(
    "lookup by client ID",
    await rate(1, n, async (_, k) => {
      if ((await fdn.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(host(k)) })).count !== 1) {
        throw new Error("missed");
      }
    }),
  );
  filesRates.set(
    "renew (lookup by client ID, modify with signature)",
    await rate(1, n, async (_, k) => {
      const r = (await fdn.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(host(k)) })).records[0];
      if (!r) throw new Error("missed");
      await fdn.modify(r, { ...r, lease: r.lease + 1 });
    }),
  );
  await fstore.close();

  // Two processes renewing at once.
  const ms = o.quick ? 1000 : 3000;
  const twoBin = await multiProcess(
    "binfiles",
    { location: loc, runDir, cache: false, config: "durability=durable" },
    2,
    ms,
  );
  const twoBinRelaxed = await multiProcess(
    "binfiles",
    { location: loc, runDir, cache: false, config: "durability=relaxed" },
    2,
    ms,
  );
  // Both processes caching: every renewal of one asks the other's grant back (the worst case).
  const twoBinCached = await multiProcess(
    "binfiles",
    { location: loc, runDir, cache: true, config: "durability=durable" },
    2,
    ms,
  );
  const twoBinRelaxedCached = await multiProcess(
    "binfiles",
    { location: loc, runDir, cache: true, config: "durability=relaxed" },
    2,
    ms,
  );
  const twoSqlite = await multiProcess(
    "sqlite",
    { db: dbFile, config: "durability=durable" },
    2,
    ms,
  );
  const twoSqliteRelaxed = await multiProcess(
    "sqlite",
    { db: dbFile, config: "durability=relaxed" },
    2,
    ms,
  );

  const names = [
    "binfiles durable, lockd per op",
    "binfiles relaxed, lockd per op",
    "binfiles durable, lockd cached",
    "binfiles relaxed, lockd cached",
    "binfiles durable, no inter-process lock",
    "binfiles relaxed, no inter-process lock",
    "SQLite FULL (durable)",
    "SQLite NORMAL (relaxed)",
  ];
  const value = (op: string, callers: number, name: string) => {
    for (const rows of [rowsA, rowsB, rowsA2, rowsB2, rowsC, rowsC2, rowsD, rowsE]) {
      const r = rows.find((x) => x.op === op && x.callers === callers);
      const v = r?.values.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const w = (s: string) => process.stdout.write(s);
  w(`\nDHCP at scale: 10.0.0.0/12 (2^20 addresses), ${LEASED} leased + ${FREE} free records; Node ${process.versions.node}, ${os.cpus().length} cores (${
    os.cpus()[0]?.model
  }), ${mb(os.totalmem())}, load ${os.loadavg()[0]?.toFixed(2)}\n`);
  w(`container built in ${(buildMs / 1000).toFixed(1)} s (${
    mb(DN_HEADER_SIZE + DN_REC_SIZE * 2 ** 20)
  } sparse); SQLite database built in ${(sqliteBuildMs / 1000).toFixed(1)} s\n\n`);
  w(`| operation | callers | ${names.join(" | ")} | SUNWfiles 10k (1 caller) |\n`);
  w(`| --- | ---: |${" ---: |".repeat(names.length + 1)}\n`);
  for (const op of OPS) {
    for (const callers of [1, 8]) {
      const cells = names.map((n) => fmt(value(op, callers, n)));
      const f = callers === 1 ? fmt(filesRates.get(op)) : "–";
      w(`| ${op} | ${callers} | ${cells.join(" | ")} | ${f} |\n`);
    }
  }
  w(`| renew, 2 processes at once | 1 each | ${fmt(twoBin)} | ${fmt(twoBinRelaxed)} | ${
    fmt(twoBinCached)
  } | ${fmt(twoBinRelaxedCached)} | – | – | ${fmt(twoSqlite)} | ${fmt(twoSqliteRelaxed)} | – |\n`);
  w(`\nopen (load the indexes of ${LEASED + FREE} records): ${openMs.toFixed(0)} ms; SQLite open: ${
    sqliteOpenMs.toFixed(0)
  } ms\n`);
  w(`resident memory after the open: ${mb(rss)} (${mb(rss - rssBefore)} more than before; JS heap ${
    mb(heap)
  })\n\n`);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "–" : `${(a / b).toFixed(2)}×`;
  w(`| goal (synchronization on, same durability) | measured | goal | met |\n| --- | ---: | ---: | --- |\n`);
  const goals: Array<[string, number | undefined, number | undefined, number]> = [];
  for (
    const [how, durable, relaxedName] of [
      ["lockd per op", names[0], names[1]],
      ["lockd cached", names[2], names[3]],
    ] as Array<[string, string, string]>
  ) {
    goals.push(
      [
        `lookup by client IP vs SQLite, 1 caller (${how})`,
        value(OPS[0] as string, 1, durable),
        value(OPS[0] as string, 1, names[6] as string),
        3,
      ],
      [
        `lookup by client ID vs SQLite, 1 caller (${how})`,
        value(OPS[1] as string, 1, durable),
        value(OPS[1] as string, 1, names[6] as string),
        3,
      ],
      [
        `first free vs SQLite, 1 caller (${how})`,
        value(OPS[2] as string, 1, durable),
        value(OPS[2] as string, 1, names[6] as string),
        3,
      ],
      [
        `renewals vs SQLite FULL, 8 callers (durable, ${how})`,
        value(OPS[3] as string, 8, durable),
        value(OPS[3] as string, 8, names[6] as string),
        2,
      ],
      [
        `renewals vs SQLite NORMAL, 8 callers (relaxed, ${how})`,
        value(OPS[3] as string, 8, relaxedName),
        value(OPS[3] as string, 8, names[7] as string),
        2,
      ],
    );
  }
  for (const [label, a, b, goal] of goals) {
    w(`| ${label} | ${ratio(a, b)} | ${goal}× | ${
      a !== undefined && b !== undefined && a / b >= goal ? "yes" : "no"
    } |\n`);
  }
  w(`| open | ${openMs.toFixed(0)} ms | < 1000 ms | ${openMs < 1000 ? "yes" : "no"} |\n`);
  w(`| resident memory | ${mb(rss)} | < 300 MB | ${rss < 300 * 1024 * 1024 ? "yes" : "no"} |\n`);
  const us = (v: number | undefined) => (v === undefined ? "–" : (1e6 / v).toFixed(1));
  w(`\nprofile of a lookup by client IP (µs each): module alone ${
    moduleUs.toFixed(1)
  } (of which the header check, one 308-byte pread, ${
    preadUs.toFixed(1)
  }); through the framework without the inter-process lock ${
    us(viaFramework)
  }; with the lock manager ${us(viaLockd)}; with the lock cached ${
    us(viaCached)
  }; a bare shared lock + unlock pair through lockd ${us(lockPair)}\n`);
  w(`profile of a renewal, 1 caller (µs each): lockd + fsync ${
    us(value(OPS[3] as string, 1, names[0] as string))
  }, lockd only (relaxed) ${us(value(OPS[3] as string, 1, names[1] as string))}, fsync only ${
    us(value(OPS[3] as string, 1, names[4] as string))
  }, neither ${us(value(OPS[3] as string, 1, names[5] as string))}; cached lock + fsync ${
    us(value(OPS[3] as string, 1, names[2] as string))
  }\n`);
  w(`\nSUNWbinfiles vs SUNWfiles 10k, lookup by client ID: ${
    ratio(value(OPS[1] as string, 1, names[0] as string), filesRates.get(OPS[1] as string))
  }\n`);
}

if (process.argv.includes("--child")) await child();
