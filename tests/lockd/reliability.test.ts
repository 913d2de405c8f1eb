/**
 * Reliability promises of lockd (docs/lockd.md, "Reliability and security"): waiters follow the
 * lock manager to its successor; a huge table, an unencodable reply or a bug met while serving
 * one connection never takes the daemon down; connection caps answer; idle and trickling
 * connections are cut; what one closed connection writes to the log is bounded and escaped.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { LockClient, LockError } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { LockService, type ServiceTransport } from "../../lib/lockd/service.ts";
import { claimSocket } from "../../lib/ipc/socket.ts";
import { encodeFrame, FrameDecoder } from "../../lib/ipc/frames.ts";
import { Logger } from "../../lib/log/logger.ts";
import { startMarkerPath } from "../../lib/lockd/start.ts";
import { exited, waitFor } from "../helpers.ts";
import { processesNaming, sandbox, startDaemon } from "./harness.ts";

function captureLogger(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  return {
    log: new Logger("lockd", { sink: { write: (l) => void lines.push(l) }, level: "debug" }),
    text: () => lines.join(""),
  };
}

function rawConnect(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function isLockError(code: string, message?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof LockError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

describe("waiters and holders across a lock manager restart", () => {
  test("a blocking waiter reconnects to the next lock manager and gets the lock; the holder is told", async () => {
    await using box = sandbox("requeue");
    const d = await startDaemon(box);
    const holder = new LockClient({ runDir: box.dir, autoStart: false });
    const waiter = new LockClient({ runDir: box.dir, idleMinutes: 1 }); // starts the next one
    try {
      const events: string[] = [];
      holder.onEvent((e) => events.push(e.event));
      const lock = await holder.acquire("db");
      const waiting = waiter.acquire("db", { timeoutMs: 60_000 });
      await waitFor(async () => (await holder.status()).locks[0]?.waiters.length === 1);
      process.kill(d.pid, "SIGKILL");
      await exited(d.child);
      const granted = await waiting; // on the lock manager the waiter started on demand
      assert.equal(granted.held, true);
      assert.notEqual(waiter.daemonPid, d.pid);
      box.trackPid(waiter.daemonPid);
      await waitFor(() => events.includes("disconnected"), 5000, "the holder's notice");
      assert.equal(lock.held, false);
      const status = await waiter.status();
      assert.equal(status.locks[0]?.holders[0]?.pid, process.pid);
      await granted.release();
    } finally {
      holder.close();
      waiter.close();
    }
  });

  test("a waiter whose lock manager restarts still times out at its original deadline", async () => {
    await using box = sandbox("requeue-to");
    const d = await startDaemon(box);
    const holder = new LockClient({ runDir: box.dir, autoStart: false });
    const waiter = new LockClient({ runDir: box.dir, idleMinutes: 1 });
    const marker = startMarkerPath(box.socket);
    try {
      await holder.acquire("db");
      const t0 = performance.now();
      const waiting = waiter.acquire("db", { timeoutMs: 4000 });
      const outcome = waiting.then(() => undefined, (e: unknown) => e);
      await waitFor(async () => (await holder.status()).locks[0]?.waiters.length === 1);
      // The next lock manager is slow to come: another (live) starter claims to be starting it.
      fs.writeFileSync(marker, String(process.pid));
      process.kill(d.pid, "SIGKILL");
      await exited(d.child);
      const e = await outcome;
      const ms = performance.now() - t0;
      assert.ok(e instanceof LockError && e.code === "TIMEOUT", String(e));
      assert.ok(ms >= 3900 && ms < 9000, `timed out after ${ms.toFixed(0)} ms`);
    } finally {
      holder.close();
      waiter.close();
      fs.rmSync(marker, { force: true });
    }
  });
});

describe("one connection never takes the daemon down", () => {
  test("status of 540,000 locks is capped with a count of what was left out", () => {
    const sent: object[] = [];
    const transport: ServiceTransport = {
      send: (_c, m) => void sent.push(m),
      armTimer: () => {},
      disarmTimer: () => {},
      stop: () => {},
    };
    const svc = new LockService(transport, {
      info: () => ({
        pid: 1,
        version: "t",
        protocol: 1,
        socket: "/x",
        startedAt: "",
        idleMinutes: 0,
        runtime: "node",
      }),
    });
    const now = Date.now();
    for (let i = 0; i < 540_000; i++) {
      svc.table.acquire({ name: `lock/${i}`, mode: "shared", owner: 1, request: i, now });
    }
    svc.open(2);
    svc.frame(2, { ok: true, message: { id: 0, op: "hello", version: 1 } });
    svc.frame(2, { ok: true, message: { id: 1, op: "status" } });
    const reply = sent.at(-1) as { ok: boolean; status: Record<string, unknown> };
    assert.equal(reply.ok, true);
    const status = reply.status as {
      locks: unknown[];
      truncated: number;
      totals: { locks: number };
    };
    assert.equal(status.totals.locks, 540_000);
    assert.equal(status.locks.length + status.truncated, 540_000);
    assert.ok(status.locks.length <= 5000, `${status.locks.length} locks in one reply`);
    const bytes = encodeFrame(reply).length;
    assert.ok(bytes < 4 * 1024 * 1024, `${bytes} bytes in one reply`);
  });

  test("an unencodable reply and an exception close only that connection", async () => {
    await using box = sandbox("crash");
    const cap = captureLogger();
    const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, logger: cap.log });
    const holder = new LockClient({ runDir: box.dir, autoStart: false });
    const asker = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      const lock = await holder.acquire("kept");
      const real = d.service.status.bind(d.service);
      // A reply JSON cannot encode (as a string too long for the runtime once was).
      d.service.status = () => ({ ...real(), pid: 10n as unknown as number });
      await assert.rejects(asker.status(), isLockError("LIMIT", /could not be encoded/));
      // A bug met while serving one request.
      d.service.status = () => {
        throw new Error("boom");
      };
      await assert.rejects(asker.status(), isLockError("NO_LOCKMGR"));
      d.service.status = real;
      await lock.verify(); // the other connection and its lock are untouched
      assert.equal((await asker.status()).locks[0]?.name, "kept");
      assert.match(cap.text(), /closed after an internal error: boom/);
      await lock.release();
    } finally {
      holder.close();
      asker.close();
      await d.stop("request");
    }
  });
});

describe("connection limits and deadlines", () => {
  test("a full lock manager says so; the client reports it and starts no second one", async () => {
    await using box = sandbox("full");
    const d = await LockDaemon.start({
      runDir: box.dir,
      idleMinutes: 0,
      maxConnections: 8,
      maxConnectionsPerUid: 3,
    });
    const clients = [0, 1, 2].map(() => new LockClient({ runDir: box.dir, autoStart: false }));
    const extra = new LockClient({ runDir: box.dir }); // would start a daemon if it thought none ran
    try {
      for (const [i, c] of clients.entries()) await c.acquire(`l${i}`);
      const t0 = performance.now();
      await assert.rejects(extra.acquire("l9"), isLockError("LIMIT", /^Connection limit reached/));
      // A few retries with backoff (750 ms in all), then the refusal; no start attempts.
      assert.ok(performance.now() - t0 < 5000, "refused without start attempts");
      assert.equal(fs.existsSync(startMarkerPath(box.socket)), false);
      assert.deepEqual(processesNaming(`--run-dir ${box.dir}`), []);
      clients[0]?.close();
      await waitFor(() => d.connections === 2, 5000);
      await (await extra.acquire("l9")).release(); // a slot freed up: served again
    } finally {
      for (const c of clients) c.close();
      extra.close();
      await d.stop("request");
    }
  });

  test("an idle connection without locks is closed; one holding a lock is kept", async () => {
    await using box = sandbox("idleconn");
    const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, connectionIdleMs: 300 });
    const holder = new LockClient({ runDir: box.dir, autoStart: false });
    const looker = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      const events: string[] = [];
      looker.onEvent((e) => events.push(e.event));
      const lock = await holder.acquire("h");
      await looker.status();
      assert.equal(d.connections, 2);
      await waitFor(() => d.connections === 1, 10_000, "the idle connection to be closed");
      await lock.verify();
      assert.equal((await looker.status()).locks.length, 1); // reconnects on its own
      assert.deepEqual(events, [], "an idle close is not a lost lock manager");
      await lock.release();
    } finally {
      holder.close();
      looker.close();
      await d.stop("request");
    }
  });

  test("a greeted connection trickling a frame one byte at a time is cut at the deadline", async () => {
    await using box = sandbox("trickle");
    const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, frameTimeoutMs: 400 });
    const s = await rawConnect(box.socket);
    try {
      s.on("error", () => {});
      let closedAt = 0;
      s.once("close", () => (closedAt = performance.now()));
      s.write(encodeFrame({ id: 0, op: "hello", version: 1 }));
      const hello = await new Promise<unknown>((resolve) => {
        const dec = new FrameDecoder();
        s.once("data", (c) => resolve(dec.push(c)[0]));
      });
      assert.deepEqual((hello as { ok: boolean; message: { ok: boolean } }).message.ok, true);
      const t0 = performance.now();
      s.write(Buffer.from([0, 0, 0, 100]));
      for (let i = 0; i < 40 && closedAt === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (!s.destroyed) s.write(Buffer.from([0x20]));
      }
      assert.ok(closedAt > 0, "still open after 4 s of trickling");
      assert.ok(closedAt - t0 < 2500, `cut after ${(closedAt - t0).toFixed(0)} ms`);
    } finally {
      s.destroy();
      await d.stop("request");
    }
  });

  test("a reply too large is reported as such, not as a missing lock manager", async () => {
    await using box = sandbox("toolarge");
    const server = net.createServer((sock) => {
      sock.on("error", () => {});
      const dec = new FrameDecoder();
      sock.on("data", (c) => {
        for (const f of dec.push(c)) {
          const m = (f as { ok: true; message: { id: number; op: string } }).message;
          if (m.op === "hello") sock.write(encodeFrame({ id: m.id, ok: true, version: 1, pid: 1 }));
          else {
            const head = Buffer.alloc(4);
            head.writeUInt32BE(100 * 1024 * 1024);
            sock.write(head);
          }
        }
      });
    });
    const claimed = await claimSocket(server, box.socket);
    const c = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      await assert.rejects(c.status(), isLockError("LIMIT", /too large/));
    } finally {
      c.close();
      await claimed.close();
    }
  });
});

describe("logs", () => {
  test("a closed connection holding thousands of long names writes a few lines, escaped", async () => {
    await using box = sandbox("biglog");
    const cap = captureLogger();
    const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, logger: cap.log });
    const c = new LockClient({ runDir: box.dir, autoStart: false });
    try {
      const evil = "evil\x1b[31m\nforged line\x07";
      await c.acquire(evil);
      const long = "n".repeat(1000);
      await Promise.all(Array.from({ length: 4000 }, (_, i) => c.acquire(`${long}${i}`)));
      c.close();
      await waitFor(() => d.service.table.idle, 10_000, "the locks to be released");
      const text = cap.text();
      assert.ok(text.length < 8 * 1024, `${text.length} bytes logged for one connection`);
      assert.match(text, /went away holding 3996 more lock\(s\); unlocking/);
      assert.match(text, /while writing evil\\x1b\[31m\\x0aforged line\\x07; unlocking/);
      assert.ok(!text.includes("\x07") && !text.includes("\x1b"), "no raw control characters");
      assert.equal(text.split("\n").filter((l) => l.includes("forged line")).length, 1);
    } finally {
      c.close();
      await d.stop("request");
    }
  });

  test("SIGHUP reopens the log after logrotate moved it, and --log-max-size rotates it", async () => {
    await using box = sandbox("hup");
    const file = path.join(box.dir, "lockd.log");
    const d = await startDaemon(box, {
      extra: ["--log-file", file, "--log-max-size", "1k"], // inside the run directory
    });
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, "utf8").includes("Listening"));
    fs.renameSync(file, `${file}.old`); // what logrotate does before it sends SIGHUP
    process.kill(d.pid, "SIGHUP");
    await waitFor(() => fs.existsSync(file), 10_000, "the reopened log");
    await waitFor(() => fs.readFileSync(file, "utf8").includes("log file reopened"), 10_000);
    assert.doesNotMatch(fs.readFileSync(`${file}.old`, "utf8"), /reopened/);
    // Every SIGHUP writes a line: past 1 KiB the file is rotated to <file>.1.
    for (let i = 0; i < 40 && !fs.existsSync(`${file}.1`); i++) {
      const before = fs.readFileSync(file, "utf8").length;
      process.kill(d.pid, "SIGHUP");
      await waitFor(
        () =>
          !fs.existsSync(file) || fs.readFileSync(file, "utf8").length !== before ||
          fs.existsSync(`${file}.1`),
        10_000,
      );
    }
    assert.ok(fs.existsSync(`${file}.1`), "rotated");
    assert.ok(fs.statSync(`${file}.1`).size <= 1024);
    assert.equal(d.child.exitCode, null, "SIGHUP does not stop the daemon");
  });
});
