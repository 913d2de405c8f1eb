/**
 * realms benchmark: round-trip latency (p50/p99) and commands per second of realmcmd_status
 * through the library client (RealmManagerClient) and through the binary (`steward realms
 * send`), and the wall time to start and to stop 200 realms (startall / stopall). Anchor
 * measured in the same run: a raw Unix-socket round trip between two Node processes with the
 * same shape as the protocol (connect, send a request, read the reply, close), and, for
 * reference, a ping-pong on one open connection.
 * Usage: node scripts/bench/realms.ts [--seconds N] [--realms N]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { RealmManagerClient } from "../../lib/realms/client.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg("--seconds", 2);
const REALMS = arg("--realms", 200);
const node = process.execPath;
const binary = path.join(root, "dist", "steward");

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

interface Row {
  what: string;
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Run `op` back to back for SECONDS after a short warm-up; latency in µs. */
async function measure(what: string, op: () => Promise<void>, seconds = SECONDS): Promise<Row> {
  const end0 = Date.now() + 200;
  while (Date.now() < end0) await op();
  const lat: number[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    const s = performance.now();
    await op();
    lat.push((performance.now() - s) * 1000);
  }
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    what,
    n: lat.length,
    perSecond: lat.length / elapsed,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
  };
}

// The anchor server: a second Node process that answers each connection like the daemon does.
const ANCHOR = `
const net = require("node:net");
const [p] = process.argv.slice(1);
const reply = Buffer.from("0 \\r\\n" + "x".repeat(400) + " \\r\\n");
net.createServer({ allowHalfOpen: true }, (s) => {
  let buf = "";
  s.on("data", (d) => {
    buf += d;
    if (buf === "ping") { buf = ""; s.write("pong"); return; }
    if (buf.split("\\n").length > 2) s.end(reply);
  });
  s.on("error", () => {});
}).listen(p, () => process.stdout.write("ready\\n"));
`;

function oneShot(socket: string, request: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket, () => s.write(request));
    s.on("data", () => {});
    s.once("error", reject);
    s.once("close", () => resolve());
  });
}

async function anchors(dir: string): Promise<Row[]> {
  const socket = path.join(dir, "anchor.sock");
  const child = spawn(node, ["-e", ANCHOR, socket], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((r) => child.stdout?.once("data", () => r()));
  const rows = [
    await measure(
      "raw: connect, request, reply, close",
      () => oneShot(socket, "realmcmd_status \r\n \r\n"),
    ),
  ];
  const conn = net.connect(socket);
  await new Promise((r) => conn.once("connect", r));
  rows.push(
    await measure("raw: ping-pong on one connection", () =>
      new Promise<void>((resolve) => {
        conn.once("data", () => resolve());
        conn.write("ping");
      })),
  );
  conn.destroy();
  child.kill();
  return rows;
}

function realmsFile(count: number): string {
  let text = "; benchmark realms\n";
  text += 'realm "r000"\n\tstate\t\t"active"\n\tmanager\t\t"/bin/sleep"\n\targs\t\t"100000"\n';
  for (let i = 1; i <= count; i++) {
    text += `realm "b${String(i).padStart(3, "0")}"\n\tstate\t\t"inactive"\n` +
      '\tmanager\t\t"/bin/sleep"\n\targs\t\t"100000"\n\tstoptimeout\t"3"\n';
  }
  return text;
}

async function startDaemon(
  dir: string,
): Promise<{ child: ChildProcess; client: RealmManagerClient }> {
  const stateDir = path.join(dir, "state");
  const child = spawn(node, [
    path.join(root, "cli", "main.ts"),
    "realms",
    "daemon",
    "--foreground",
    "--directory",
    dir,
    "--statedir",
    stateDir,
    "--loglevel",
    "err",
    "realms",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  const client = new RealmManagerClient({ stateDir, timeoutMs: 30_000 });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await client.status();
      break;
    } catch (e) {
      if (Date.now() > deadline || child.exitCode !== null) throw e;
      await sleep(20);
    }
  }
  return { child, client };
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

async function main(): Promise<void> {
  fs.mkdirSync(path.join(root, ".tmp"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, ".tmp", "bench-realms-"));
  let daemon: ChildProcess | undefined;
  try {
    fs.writeFileSync(path.join(dir, "realms"), realmsFile(REALMS));
    const raw = await anchors(dir);
    const d = await startDaemon(dir);
    daemon = d.child;
    const lib = await measure("status via RealmManagerClient", async () => {
      await d.client.status();
    });
    const direct = await measure(
      "status, raw bytes to the daemon",
      () =>
        oneShot(
          path.join(dir, "state", "dnssec-tools", "realmmgr.socket"),
          "realmcmd_status \r\n \r\n",
        ),
    );
    const rows: Row[] = [...raw, direct, lib];
    if (fs.existsSync(binary)) {
      const row = await measure(
        "status via the binary (steward realms send)",
        () =>
          new Promise<void>((resolve, reject) => {
            const c = spawn(binary, [
              "realms",
              "send",
              "--statedir",
              path.join(dir, "state"),
              "realmcmd_status",
            ], { stdio: "ignore" });
            c.once("error", reject);
            c.once(
              "exit",
              (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))),
            );
          }),
        Math.min(SECONDS, 2),
      ).catch((e: Error) => {
        process.stdout.write(`(the binary row is skipped: ${e.message})\n`);
        return undefined;
      });
      if (row) rows.push(row);
    } else {
      process.stdout.write(`(${binary} is missing: run 'npm run build' to measure the binary)\n`);
    }

    const t0 = performance.now();
    const started = await d.client.startAll();
    const startMs = performance.now() - t0;
    const running = Number(
      execFileSync("sh", ["-c", `pgrep -c -P ${daemon.pid} sleep || true`], {
        encoding: "utf8",
      }).trim(),
    );
    const t1 = performance.now();
    const stopped = await d.client.stopAll();
    const stopMs = performance.now() - t1;
    const left = Number(
      execFileSync("sh", ["-c", `pgrep -c -P ${daemon.pid} sleep || true`], {
        encoding: "utf8",
      }).trim(),
    );

    process.stdout.write(
      `realms benchmark — ${SECONDS} s per row, node ${process.versions.node}, ` +
        `${os_cpus()} cores\n\n`,
    );
    process.stdout.write(
      "| what | ops | ops/s | p50 µs | p99 µs |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    for (const r of rows) {
      process.stdout.write(
        `| ${r.what} | ${r.n} | ${fmt(r.perSecond)} | ${fmt(r.p50)} | ${fmt(r.p99)} |\n`,
      );
    }
    const anchor = raw[0] as Row;
    process.stdout.write("\n| goal | measured | goal | ratio |\n| --- | ---: | ---: | ---: |\n");
    process.stdout.write(
      `| status round trip (library) vs raw round trip, p50 | ${fmt(lib.p50)} µs vs ${
        fmt(anchor.p50)
      } µs | ≤ 2× | ${fmt(lib.p50 / anchor.p50, 2)}× |\n`,
    );
    process.stdout.write(
      `| status round trip (library) vs raw round trip, p99 | ${fmt(lib.p99)} µs vs ${
        fmt(anchor.p99)
      } µs | ≤ 2× | ${fmt(lib.p99 / anchor.p99, 2)}× |\n`,
    );
    process.stdout.write(
      `| start ${REALMS} realms (startall) | ${
        fmt(startMs)
      } ms (${started.length} started, ${running} running) | < 2000 ms | ${
        fmt(startMs / 2000, 2)
      } of budget |\n`,
    );
    process.stdout.write(
      `| stop ${REALMS} realms (stopall) | ${
        fmt(stopMs)
      } ms (${stopped.length} stopped, ${left} left) | < 3000 ms | ${
        fmt(stopMs / 3000, 2)
      } of budget |\n`,
    );
    await d.client.shutdown().catch(() => "");
    await new Promise((r) => daemon?.once("exit", r));
  } finally {
    if (daemon && daemon.exitCode === null) daemon.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function os_cpus(): number {
  try {
    return Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    return NaN;
  }
}

await main();
