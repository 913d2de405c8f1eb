/**
 * Daemon limits, with a daemon in this process: a connection that never says hello is closed,
 * connections beyond the limit are told why, replies follow requests in order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { LockClient } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { FrameDecoder } from "../../lib/ipc/frames.ts";
import { sandbox } from "./harness.ts";

function raw(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function closed(s: net.Socket): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => s.once("close", () => resolve(performance.now() - t0)));
}

test("a connection that never says hello is closed after the hello deadline", async () => {
  await using box = sandbox("hello");
  const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, helloTimeoutMs: 200 });
  try {
    const s = await raw(box.socket);
    const ms = await closed(s);
    assert.ok(ms >= 150 && ms < 2000, `closed after ${ms.toFixed(0)} ms`);
    assert.equal(d.connections, 0);
  } finally {
    await d.stop("request");
  }
});

test("connections beyond the limit get a LIMIT frame and are closed; others carry on", async () => {
  await using box = sandbox("limit");
  const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0, maxConnections: 2 });
  const client = new LockClient({ socketPath: box.socket, autoStart: false });
  try {
    const lock = await client.acquire("a");
    const filler = await raw(box.socket);
    const extra = await raw(box.socket);
    const decoder = new FrameDecoder();
    const frames: unknown[] = [];
    extra.on("data", (c) => frames.push(...decoder.push(c)));
    await closed(extra);
    assert.deepEqual(frames, [{
      ok: true,
      message: {
        id: null,
        ok: false,
        code: "LIMIT",
        error: "Connection limit reached: 2 connections",
      },
    }]);
    await lock.release();
    filler.destroy();
  } finally {
    client.close();
    await d.stop("request");
  }
});

test("an oversized frame closes only its own connection; names of 1024 bytes pass, 1025 do not", async () => {
  await using box = sandbox("limits");
  const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0 });
  const client = new LockClient({ socketPath: box.socket, autoStart: false });
  try {
    const big = await raw(box.socket);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(16 * 1024 + 1, 0);
    big.write(head);
    await closed(big);
    const s = await raw(box.socket);
    const decoder = new FrameDecoder();
    const replies: Array<Record<string, unknown>> = [];
    s.on("data", (c) => {
      for (const f of decoder.push(c)) if (f.ok) replies.push(f.message as Record<string, unknown>);
    });
    const send = (m: unknown) => {
      const body = Buffer.from(JSON.stringify(m));
      const h = Buffer.alloc(4);
      h.writeUInt32BE(body.length, 0);
      s.write(Buffer.concat([h, body]));
    };
    send({ id: 1, op: "hello", version: 1 });
    send({ id: 2, op: "lock", name: "n".repeat(1024) });
    send({ id: 3, op: "lock", name: "n".repeat(1025) });
    send({ id: 4, op: "frobnicate" });
    send({ id: 5, op: "lock", name: 42 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(replies.map((r) => [r.id, r.ok, r.code ?? null]), [
      [1, true, null],
      [2, true, null],
      [3, false, "PROTOCOL"],
      [4, false, "PROTOCOL"],
      [5, false, "PROTOCOL"],
    ]);
    assert.equal(replies[3]?.error, "Unknown op: frobnicate");
    s.destroy();
    await (await client.acquire("still-served")).release();
  } finally {
    client.close();
    await d.stop("request");
  }
});
