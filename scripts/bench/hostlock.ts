/**
 * Cross-host host lock benchmark: what one acquisition costs through the lock manager with each
 * primitive, measured in the same run. Two lock managers in this process, one holding host locks
 * through a flock(1) child per lock (the older primitive, the anchor) and one through its
 * long-lived perl helper (the default), both with no linger, so that every crosshost lock+unlock
 * pair takes and drops a real host lock. Also: the same pair without crosshost (the lock
 * manager's own floor), a contended hand-off between two "hosts" (a wait for the other host's
 * lock, then its release), and, under Deno, `Deno.FsFile.lock` in-process (not through a lock
 * manager: the floor of any flock(2) primitive). Rounds alternate the primitives; each figure is
 * the median of ROUNDS rounds.
 * Usage: node scripts/bench/hostlock.ts [--seconds N] [--rounds N]
 *        deno run -A scripts/bench/hostlock.ts   (adds the Deno.FsFile.lock line)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LockClient } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const SECONDS = arg("--seconds", 1.5);
const ROUNDS = arg("--rounds", 3);

type Primitive = "flock" | "helper";

/** Run `op` back to back for SECONDS (after a short warm-up); µs per op. */
async function rate(op: () => Promise<void>, seconds = SECONDS): Promise<number> {
  const warm = performance.now();
  while (performance.now() - warm < 150) await op();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await op();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function fmt(us: number): string {
  return us >= 100 ? us.toFixed(0) : us.toFixed(1);
}

const work = fs.mkdtempSync(path.join(root, ".tmp", "bench-hostlock-"));
fs.chmodSync(work, 0o700);
const loc = path.join(work, "loc");
fs.mkdirSync(loc);

interface Host {
  daemon: LockDaemon;
  client: LockClient;
}

async function host(name: string, primitive: Primitive): Promise<Host> {
  const runDir = path.join(work, name);
  const daemon = await LockDaemon.start({
    runDir,
    idleMinutes: 0,
    hostLockLingerMs: 0,
    hostLockPrimitive: primitive,
  });
  return { daemon, client: new LockClient({ runDir, autoStart: false }) };
}

const hosts: Record<Primitive, Host> = {
  flock: await host("flock", "flock"),
  helper: await host("helper", "helper"),
};
// A second "host" on the helper, for the contended hand-off.
const other: Record<Primitive, Host> = {
  flock: await host("flock2", "flock"),
  helper: await host("helper2", "helper"),
};

const results: Record<string, number[]> = {};
function record(key: string, us: number): void {
  (results[key] ??= []).push(us);
}

try {
  const name = path.join(loc, "SUNWfiles1_dhcptab");
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which primitive goes first, so drift in the machine's load hits both alike.
    const order: Primitive[] = round % 2 === 0 ? ["flock", "helper"] : ["helper", "flock"];
    for (const p of order) {
      const c = hosts[p].client;
      record(
        `${p} pair`,
        await rate(async () => {
          const h = await c.acquire(name, { crosshost: true });
          await h.release();
        }),
      );
    }
    const c = hosts.helper.client;
    record(
      "local pair",
      await rate(async () => {
        const h = await c.acquire("bench-local");
        await h.release();
      }),
    );
    for (const p of order) {
      const a = hosts[p].client;
      const b = other[p].client;
      const contended = path.join(loc, `SUNWfiles1_handoff_${p}`);
      record(
        `${p} handoff`,
        await rate(async () => {
          const ha = await a.acquire(contended, { crosshost: true });
          const wb = b.acquire(contended, { crosshost: true, timeoutMs: 10_000 });
          // Let the wait reach the other host's lock manager before the release.
          await new Promise((r) => setTimeout(r, 1));
          await ha.release();
          await (await wb).release();
        }, SECONDS),
      );
    }
  }
  const deno = (globalThis as { Deno?: DenoLock }).Deno;
  if (deno) {
    const file = path.join(loc, ".deno.lock");
    for (let round = 0; round < ROUNDS; round++) {
      record(
        "deno FsFile.lock",
        await rate(async () => {
          const f = await deno.open(file, { read: true, write: true, create: true });
          await f.lock(true);
          await f.unlock();
          f.close();
        }),
      );
    }
  }
} finally {
  for (const h of [...Object.values(hosts), ...Object.values(other)]) {
    h.client.close();
    await h.daemon.stop("request");
  }
  fs.rmSync(work, { recursive: true, force: true });
}

interface DenoLock {
  open(
    p: string,
    o: { read: boolean; write: boolean; create: boolean },
  ): Promise<{ lock(x: boolean): Promise<void>; unlock(): Promise<void>; close(): void }>;
  version: { deno: string };
}

const m = (k: string) => median(results[k] ?? [NaN]);
const runtime = (globalThis as { Deno?: DenoLock }).Deno
  ? `Deno ${(globalThis as { Deno?: DenoLock }).Deno?.version.deno}`
  : `Node ${process.versions.node}`;
console.log(
  `hostlock bench: ${runtime}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, load ${
    os.loadavg().map((x) => x.toFixed(2)).join(" ")
  }; median of ${ROUNDS} rounds of ${SECONDS} s`,
);
const rows: Array<[string, number]> = [
  ["crosshost lock+unlock, flock(1) child per lock (old)", m("flock pair")],
  ["crosshost lock+unlock, perl helper (new)", m("helper pair")],
  ["lock+unlock without crosshost (floor)", m("local pair")],
  ["hand-off between two hosts, flock(1) (old)", m("flock handoff")],
  ["hand-off between two hosts, perl helper (new)", m("helper handoff")],
];
if (results["deno FsFile.lock"]) {
  rows.push(["Deno.FsFile.lock open+lock+unlock+close, in-process", m("deno FsFile.lock")]);
}
for (const [what, us] of rows) {
  console.log(
    `${what.padEnd(56)} ${fmt(us).padStart(8)} µs  ${(1e6 / us).toFixed(0).padStart(7)}/s`,
  );
}
const hostOnly = (k: string) => m(k) - m("local pair");
console.log(
  `ratio flock(1)/helper, per pair: ${(m("flock pair") / m("helper pair")).toFixed(1)}×; ` +
    `host lock alone (pair − floor): ${fmt(hostOnly("flock pair"))} µs vs ${
      fmt(hostOnly("helper pair"))
    } µs = ${(hostOnly("flock pair") / hostOnly("helper pair")).toFixed(1)}×; ` +
    `hand-off: ${(m("flock handoff") / m("helper handoff")).toFixed(1)}×`,
);
