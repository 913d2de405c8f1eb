/**
 * lockd benchmark: lock+unlock pairs per second and the latency of a pair, for 1, 8 and 64
 * concurrent clients, on one name and on distinct names. Anchors measured in the same run: a raw
 * request/response ping-pong between two Node processes over a Unix socket (the floor), and Redis
 * locks (SET NX PX + DEL) through the `redis` client against 127.0.0.1:6379 (skipped with a
 * message when no Redis answers).
 * Usage: node scripts/bench/lockd.ts [--seconds N]
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { identifyLockd, LockClient } from "../../lib/lockd/client.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const secondsArg = process.argv.indexOf("--seconds");
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 2;
const WARMUP_MS = 300;

interface Result {
  what: string;
  clients: number;
  names: "one" | "distinct" | "-";
  pairs: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

/** Run `clients` loops of `pair` for SECONDS after a warm-up; latency in µs. */
async function measure(
  what: string,
  clients: number,
  names: Result["names"],
  pair: (client: number) => Promise<boolean>,
  seconds = SECONDS,
): Promise<Result> {
  let recording = false;
  let stop = false;
  const lat: number[] = [];
  let count = 0;
  const loops = Array.from({ length: clients }, async (_, i) => {
    while (!stop) {
      const t0 = performance.now();
      const ok = await pair(i);
      if (ok && recording) {
        lat.push((performance.now() - t0) * 1000);
        count++;
      }
    }
  });
  await sleep(WARMUP_MS);
  recording = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  recording = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  lat.sort((a, b) => a - b);
  return {
    what,
    clients,
    names,
    pairs: count,
    perSecond: count / elapsed,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
  };
}

function startDaemon(runDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [
    path.join(root, "cli", "main.ts"),
    "lockd",
    "--foreground",
    "--run-dir",
    runDir,
    "--idle",
    "0",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  const socket = path.join(runDir, "lockd.sock");
  return (async () => {
    for (let i = 0; i < 200; i++) {
      if ((await identifyLockd(socket, 200)) === child.pid) return child;
      await sleep(25);
    }
    child.kill("SIGKILL");
    throw new Error("lockd did not start");
  })();
}

async function benchSteward(runDir: string): Promise<Result[]> {
  const out: Result[] = [];
  const socketPath = path.join(runDir, "lockd.sock");
  for (const n of [1, 8, 64]) {
    for (const names of ["one", "distinct"] as const) {
      const clients = Array.from(
        { length: n },
        () => new LockClient({ socketPath, autoStart: false }),
      );
      await Promise.all(clients.map(async (c) => (await c.acquire("warm")).release()));
      const r = await measure("steward lockd", n, names, async (i) => {
        const c = clients[i] as LockClient;
        const lock = await c.acquire(names === "one" ? "bench" : `bench/${i}`);
        await lock.release();
        return true;
      });
      for (const c of clients) c.close();
      out.push(r);
    }
  }
  return out;
}

const ECHO_SERVER = `
const net = require("node:net");
const server = net.createServer((s) => {
  s.setNoDelay?.(true);
  s.on("data", (d) => s.write(d));
});
server.listen(process.argv[1], () => process.stdout.write("ready\\n"));
`;

interface RawAnchor {
  round(seconds?: number): Promise<Result>;
  /** One round trip. */
  ping(): Promise<boolean>;
  stop(): void;
}

async function startRaw(dir: string): Promise<RawAnchor> {
  const sock = path.join(dir, "echo.sock");
  const child = spawn(process.execPath, ["-e", ECHO_SERVER, sock], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
  const s = net.connect(sock);
  await new Promise((r) => s.once("connect", r));
  // A request the size of a lock request: 4-byte length + ~48 bytes of body.
  const msg = Buffer.alloc(52, 0x61);
  msg.writeUInt32BE(48, 0);
  let waiting: (() => void) | undefined;
  let got = 0;
  s.on("data", (d: Buffer) => {
    got += d.length;
    if (got >= msg.length) {
      got -= msg.length;
      waiting?.();
    }
  });
  const ping = () =>
    new Promise<boolean>((resolve) => {
      waiting = () => resolve(true);
      s.write(msg);
    });
  return {
    ping,
    round: (seconds = SECONDS) =>
      measure("raw Unix-socket ping-pong (1 round trip)", 1, "-", ping, seconds),
    stop: () => {
      s.destroy();
      child.kill("SIGKILL");
    },
  };
}

/**
 * The latency goal compares two small numbers on a virtual machine whose wake-up latency changes
 * with how long a process slept (hypervisor halt polling), so each side is measured in steady
 * state, back to back, in alternating short rounds (raw, steward, raw, …); the medians of the
 * per-round p50s are compared.
 */
async function alternating(
  raw: RawAnchor,
  socketPath: string,
  rounds = 9,
): Promise<{ raw: number; steward: number }> {
  const c = new LockClient({ socketPath, autoStart: false });
  const rawP50: number[] = [];
  const stewardP50: number[] = [];
  for (let i = 0; i < rounds; i++) {
    rawP50.push((await raw.round(0.3)).p50 * 2);
    const r = await measure("steward", 1, "distinct", async () => {
      await (await c.acquire("alternating")).release();
      return true;
    }, 0.3);
    stewardP50.push(r.p50);
  }
  c.close();
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  return { raw: median(rawP50), steward: median(stewardP50) };
}

async function benchRedis(): Promise<Result[] | string> {
  let createClient: typeof import("redis").createClient;
  try {
    ({ createClient } = await import("redis"));
  } catch (e) {
    return `redis client not installed: ${(e as Error).message}`;
  }
  const probe = net.connect(6379, "127.0.0.1");
  const up = await new Promise<boolean>((resolve) => {
    probe.once("connect", () => resolve(true));
    probe.once("error", () => resolve(false));
  });
  probe.destroy();
  if (!up) return "no Redis answers on 127.0.0.1:6379";
  const out: Result[] = [];
  for (const n of [1, 8, 64]) {
    for (const names of ["one", "distinct"] as const) {
      const clients = await Promise.all(Array.from({ length: n }, async () => {
        const c = createClient({ url: "redis://127.0.0.1:6379" });
        c.on("error", () => {});
        await c.connect();
        return c;
      }));
      const prefix = `steward-bench:${process.pid}`;
      const r = await measure("Redis SET NX PX + DEL", n, names, async (i) => {
        const c = clients[i] as (typeof clients)[number];
        const key = names === "one" ? `${prefix}:one` : `${prefix}:${i}`;
        // A busy lock is retried at once: the best throughput a Redis lock user can get.
        while ((await c.set(key, `t${i}`, { NX: true, PX: 10_000 })) !== "OK") { /* retry */ }
        await c.del(key);
        return true;
      });
      await Promise.all(clients.map((c) => c.quit()));
      out.push(r);
    }
  }
  return out;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

async function main(): Promise<void> {
  fs.mkdirSync(path.join(root, ".tmp"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, ".tmp", "bench-lockd-"));
  const daemon = await startDaemon(dir);
  try {
    const rawBench = await startRaw(dir);
    const raw = await rawBench.round();
    const steward = await benchSteward(dir);
    // After the rows above, so that both processes run JIT-compiled code.
    const paired = await alternating(rawBench, path.join(dir, "lockd.sock"));
    rawBench.stop();
    const redis = await benchRedis();
    const rows = [raw, ...steward, ...(Array.isArray(redis) ? redis : [])];
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    console.log(
      `lockd benchmark: ${os.cpus().length} cores (${cpu}), Node ${process.versions.node}, ` +
        `${SECONDS} s per row; latency of one lock+unlock pair (or one raw round trip)`,
    );
    console.log("");
    console.log("| what | clients | names | pairs/s | p50 µs | p99 µs |");
    console.log("| --- | ---: | --- | ---: | ---: | ---: |");
    for (const r of rows) {
      console.log(
        `| ${r.what} | ${r.clients} | ${r.names} | ${fmt(r.perSecond)} | ${fmt(r.p50)} | ${
          fmt(r.p99)
        } |`,
      );
    }
    console.log("");
    if (!Array.isArray(redis)) console.log(`Redis anchor skipped: ${redis}`);
    const floor = paired.raw;
    const ratio = paired.steward / floor;
    console.log(
      `goal: one uncontended pair ≤ 1.5× two raw round trips (medians of 9 alternating rounds): ` +
        `${fmt(paired.steward, 1)} µs / ${fmt(floor, 1)} µs = ` +
        `${ratio.toFixed(2)}× ${ratio <= 1.5 ? "(met)" : "(MISSED)"}`,
    );
    // The same goal read off the table's rows, measured minutes apart: it differs from the
    // paired figure when the machine's wake-up latency mode changed in between.
    const single = steward.find((r) => r.clients === 1 && r.names === "distinct") as Result;
    const tableRatio = single.p50 / (2 * raw.p50);
    console.log(
      `same goal from the table rows (not paired): ${fmt(single.p50, 1)} µs / (2 × ${
        fmt(raw.p50, 1)
      } µs) = ${tableRatio.toFixed(2)}× ${tableRatio <= 1.5 ? "(met)" : "(MISSED)"}`,
    );
    if (Array.isArray(redis)) {
      for (const names of ["distinct", "one"] as const) {
        const s = steward.find((r) => r.clients === 8 && r.names === names) as Result;
        const q = redis.find((r) => r.clients === 8 && r.names === names) as Result;
        const x = s.perSecond / q.perSecond;
        console.log(
          `goal: 8 clients, ${names} name(s), steward pairs/s ≥ Redis: ${fmt(s.perSecond)} / ` +
            `${fmt(q.perSecond)} = ${x.toFixed(2)}× ${x >= 1 ? "(met)" : "(MISSED)"}`,
        );
      }
    }
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
