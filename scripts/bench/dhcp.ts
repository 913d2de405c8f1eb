/**
 * DHCP data-store benchmark: lookup by client IP and by client ID, add, renew (modify with the
 * signature from the previous write) and delete on SUNWfiles network containers of 1,000 and
 * 10,000 records, with synchronization on (lock manager started on demand in a temporary run
 * directory; SUNWfiles is crosshost, so this includes the host lock, a flock(1) child per
 * acquisition), with the lock manager's local lock only, and off: the differences are the host
 * lock's and the lock manager's costs per operation. Anchors in the same run: a bare lock + unlock
 * pair through the lock manager, the same with the host lock, and a read of the container file.
 * Then the scale benchmark of scripts/bench/dhcp-scale.ts (SUNWbinfiles at 2^20 addresses against
 * SQLite and SUNWfiles).
 * Usage: node scripts/bench/dhcp.ts [--quick] [--scale-only | --no-scale]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { LockClient } from "../../lib/lockd/client.ts";
import { dnHeader, encodeDn } from "../../lib/dhcp/modules/files/format.ts";
import { makeDnRec, newSignature } from "../../lib/dhcp/records.ts";
import {
  DN_QCID,
  DN_QCIP,
  type DnRec,
  DSVC_READ,
  DSVC_WRITE,
  qeq,
  qinit,
} from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import type { DnContainer, Synchronizer } from "../../lib/dhcp/store-api.ts";
import { runScaleBench } from "./dhcp-scale.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const quick = process.argv.includes("--quick");
const scaleOnly = process.argv.includes("--scale-only");
const noScale = process.argv.includes("--no-scale");
const NET = 0x0a000000; // 10.0.0.0/16
const work = fs.mkdtempSync(path.join(root, ".tmp", "bench-dhcp-"));
const runDir = path.join(work, "run");
fs.mkdirSync(runDir, { mode: 0o700 });

function cidOf(i: number): Uint8Array {
  const c = new Uint8Array(7);
  c[0] = 1;
  c[1] = 0x08;
  c[2] = 0x00;
  c[3] = 0x20;
  c[4] = (i >> 16) & 255;
  c[5] = (i >> 8) & 255;
  c[6] = i & 255;
  return c;
}

/** A container of `n` records written directly in the SUNWfiles v1 format. */
function makeLocation(name: string, n: number): string {
  const loc = path.join(work, name);
  fs.mkdirSync(loc);
  const lines = [dnHeader("SUNWfiles", 1, NET)];
  for (let i = 1; i <= n; i++) {
    const r = makeDnRec({
      cip: NET + i,
      cid: cidOf(i),
      sip: "10.0.0.1",
      lease: 1_800_000_000,
      macro: "atlantic",
    });
    lines.push(encodeDn({ ...r, sig: newSignature() }));
  }
  fs.writeFileSync(path.join(loc, "SUNWfiles1_10_0_0_0"), lines.join(""));
  return loc;
}

interface Row {
  size: number;
  op: string;
  /** Full synchronization: host lock + local lock. */
  on: number;
  /** The lock manager's local lock only (no host lock). */
  local: number;
  off: number;
}

const WARMUP = 10;

/** Milliseconds per call of `fn` over `count` calls, after WARMUP calls; `fn` gets 0, 1, 2, … throughout. */
async function timed(count: number, fn: (k: number) => Promise<void>): Promise<number> {
  let k = 0;
  for (let i = 0; i < WARMUP; i++) await fn(k++);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await fn(k++);
  return (performance.now() - t0) / count;
}

/** One store under test and the state its operations carry from round to round. */
interface Bench {
  net: DnContainer;
  loc: string;
  added: DnRec[];
  cur: DnRec;
  close(): Promise<void>;
}

async function bench(size: number, sync: Synchronizer | null, tag: string): Promise<Bench> {
  const loc = makeLocation(`n${size}-${tag}`, size);
  const store = await openStore({ resource: "SUNWfiles", location: loc }, { synchronizer: sync });
  const net = await store.openNetwork("10.0.0.0", DSVC_READ | DSVC_WRITE, { netmask: 16 });
  const cur = (await net.lookup(qeq(qinit(), DN_QCIP), { cip: NET + 1 })).records[0] as DnRec;
  return { net, loc, added: [], cur, close: () => store.close() };
}

const OPS = [
  "lookup by client IP",
  "lookup by client ID",
  "add",
  "renew (modify with signature)",
  "delete",
  "anchor: read the container file",
] as const;

/** Milliseconds per op of `op` on `b` (a container of `size` records). */
function runOp(b: Bench, size: number, op: (typeof OPS)[number]): Promise<number> {
  const reads = quick ? 100 : size >= 10_000 ? 200 : 600;
  const writes = quick ? 20 : size >= 10_000 ? 60 : 150;
  const rnd = (k: number) => 1 + ((k * 7919) % size);
  switch (op) {
    case "lookup by client IP":
      return timed(reads, async (k) => {
        if ((await b.net.lookup(qeq(qinit(), DN_QCIP), { cip: NET + rnd(k) })).count !== 1) {
          throw new Error("missed");
        }
      });
    case "lookup by client ID":
      return timed(reads, async (k) => {
        if ((await b.net.lookup(qeq(qinit(), DN_QCID), { cid: cidOf(rnd(k)) })).count !== 1) {
          throw new Error("missed");
        }
      });
    case "add":
      return timed(writes, async () => {
        const i = size + 1 + b.added.length;
        b.added.push(await b.net.add(makeDnRec({ cip: NET + i, cid: cidOf(i), sip: "10.0.0.1" })));
      });
    case "renew (modify with signature)":
      // A server extends a lease with the signature of the record it wrote last.
      return timed(writes, async () => {
        b.cur = await b.net.modify(b.cur, { ...b.cur, lease: b.cur.lease + 3600 });
      });
    case "delete":
      return timed(writes, async () => {
        await b.net.delete(b.added.shift() as DnRec);
      });
    case "anchor: read the container file":
      return timed(reads, async () => {
        await fs.promises.readFile(path.join(b.loc, "SUNWfiles1_10_0_0_0"));
      });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** The lock manager without the host lock: the same calls with `crosshost` left out. */
function localOnly(sync: Synchronizer): Synchronizer {
  return {
    acquire: (name, o) =>
      sync.acquire(name, o.nonblock ? { mode: o.mode, nonblock: true } : { mode: o.mode }),
    close: () => {},
  };
}

/** Rounds alternate on, local-only and off so the machine's load falls on all alike; medians are kept. */
async function measure(size: number, sync: Synchronizer): Promise<Row[]> {
  const on = await bench(size, sync, "on");
  const local = await bench(size, localOnly(sync), "local");
  const off = await bench(size, null, "off");
  const rounds = quick ? 1 : 3;
  const rows: Row[] = [];
  try {
    for (const op of OPS) {
      const a: number[] = [];
      const l: number[] = [];
      const z: number[] = [];
      for (let r = 0; r < rounds; r++) {
        a.push(await runOp(on, size, op));
        l.push(await runOp(local, size, op));
        z.push(await runOp(off, size, op));
      }
      rows.push({ size, op, on: median(a), local: median(l), off: median(z) });
    }
  } finally {
    await on.close();
    await local.close();
    await off.close();
  }
  return rows;
}

const client = new LockClient({ runDir });
try {
  if (!scaleOnly) {
    // Anchor: the lock manager alone.
    await client.acquire("bench/warm").then((h) => h.release());
    const n = quick ? 300 : 3000;
    const lockMs = await timed(n, async (i) => {
      const h = await client.acquire(`bench/anchor${i % 8}`, {
        mode: i % 2 ? "shared" : "exclusive",
      });
      await h.release();
    });
    // Anchor: the same with the host lock on a real directory, a new name each time so that every
    // pair starts its own flock(1) child (the linger cannot help): the price of one acquisition.
    const hostDir = path.join(work, "hostlock");
    fs.mkdirSync(hostDir);
    const hostLockMs = await timed(quick ? 50 : 300, async (i) => {
      const h = await client.acquire(path.join(hostDir, `c${i}`), {
        mode: i % 2 ? "shared" : "exclusive",
        crosshost: true,
      });
      await h.release();
    });
    const rows: Row[] = [];
    for (const size of [1000, 10_000]) rows.push(...await measure(size, client));
    const fmt = (ms: number) => Math.round(1000 / ms).toLocaleString("en").replaceAll(",", " ");
    const us = (ms: number) => (ms * 1000).toFixed(0);
    process.stdout.write(
      `DHCP data store, SUNWfiles v1, Node ${process.versions.node}, ${os.cpus().length} cores, load ${
        os.loadavg()[0]?.toFixed(2)
      }\n\n`,
    );
    process.stdout.write(
      `| records | operation | ops/s sync on | ops/s local lock only | ops/s sync off | µs/op on | host lock µs/op | lock manager µs/op |\n`,
    );
    process.stdout.write(`| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n`);
    for (const r of rows) {
      const anchor = r.op.startsWith("anchor");
      const host = anchor ? "–" : us(Math.max(0, r.on - r.local));
      const cost = anchor ? "–" : us(Math.max(0, r.local - r.off));
      process.stdout.write(
        `| ${r.size} | ${r.op} | ${fmt(r.on)} | ${fmt(r.local)} | ${fmt(r.off)} | ${
          us(r.on)
        } | ${host} | ${cost} |\n`,
      );
    }
    process.stdout.write(
      `\nanchor: lock + unlock pair through the lock manager: ${fmt(lockMs)} pairs/s (${
        us(lockMs)
      } µs)\n`,
    );
    process.stdout.write(
      `anchor: the same with the host lock (crosshost, a new flock each): ${
        fmt(hostLockMs)
      } pairs/s (${us(hostLockMs)} µs)\n`,
    );
    process.stdout.write(
      `upstream dsvclockd reference: about 1 200 pairs/s on a 167 MHz Ultra 1\n`,
    );
  }
  if (!noScale) await runScaleBench({ quick, work, client });
} finally {
  const pid = client.daemonPid;
  client.close();
  if (pid) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
    await sleep(100);
  }
  fs.rmSync(work, { recursive: true, force: true });
}
