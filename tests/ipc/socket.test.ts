import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { claimSocket, probeSocket, SocketInUseError } from "../../lib/ipc/socket.ts";
import { RpcClient } from "../../lib/ipc/client.ts";
import { FrameConnection } from "../../lib/ipc/connection.ts";
import { tempDir } from "../helpers.ts";

function echoServer(): net.Server {
  return net.createServer((s) => {
    new FrameConnection(s, (d, c) => {
      if (d.ok) c.send(d.message);
    }, { frameTimeoutMs: 200 });
  });
}

describe("claimSocket", () => {
  test("creates the socket with mode 0600 and removes it on close", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const claimed = await claimSocket(echoServer(), p);
    assert.equal(fs.statSync(p).mode & 0o777, 0o600);
    assert.equal(await probeSocket(p), "live");
    await claimed.close();
    assert.equal(fs.existsSync(p), false);
  });

  test("never displaces a live server and names it", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const first = await claimSocket(echoServer(), p);
    try {
      await assert.rejects(
        claimSocket(echoServer(), p, { identify: () => Promise.resolve("pid 4242") }),
        (e: Error) =>
          e instanceof SocketInUseError && /Already running \(pid 4242\)/.test(e.message),
      );
      assert.ok(first.stillOurs());
      assert.equal(await probeSocket(p), "live");
    } finally {
      await first.close();
    }
  });

  test("takes over a stale socket left by a dead server", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    // A socket file nobody listens on, as a kill -9 leaves it.
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(p, r));
    const copy = path.join(dir, "stale.sock");
    fs.renameSync(p, copy);
    await new Promise<void>((r) => dead.close(() => r()));
    fs.renameSync(copy, p);
    assert.equal(await probeSocket(p), "stale");
    const claimed = await claimSocket(echoServer(), p);
    assert.equal(await probeSocket(p), "live");
    await claimed.close();
  });

  test("of many simultaneous starters on a stale socket exactly one listens", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(p, r));
    fs.renameSync(p, p + ".x");
    await new Promise<void>((r) => dead.close(() => r()));
    fs.renameSync(p + ".x", p);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => claimSocket(echoServer(), p)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(r.reason instanceof SocketInUseError, String(r.reason));
      }
    }
    const winner =
      (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof claimSocket>>>).value;
    assert.ok(winner.stillOurs());
    await winner.close();
  });
});

describe("RpcClient and FrameConnection", () => {
  test("several requests in flight get their own replies", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const claimed = await claimSocket(echoServer(), p);
    const c = await RpcClient.connect(p);
    const replies = await Promise.all([1, 2, 3].map((n) => c.request({ n })));
    assert.deepEqual(replies.map((r) => r.n), [1, 2, 3]);
    c.close();
    await claimed.close();
  });

  test("a half-sent frame is dropped after the frame deadline and others are served", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const claimed = await claimSocket(echoServer(), p);
    const slow = net.connect(p);
    await new Promise((r) => slow.once("connect", r));
    slow.write(Buffer.from([0, 0, 0, 50, 0x7b]));
    const closed = new Promise((r) => slow.once("close", r));
    const c = await RpcClient.connect(p);
    assert.equal((await c.request({ hi: 1 })).hi, 1);
    await closed;
    c.close();
    await claimed.close();
  });

  test("a frame trickled one byte at a time is cut at its deadline from the first byte", async () => {
    using dirTmp = tempDir("sock");
    const p = path.join(dirTmp.path, "s.sock");
    const claimed = await claimSocket(echoServer(), p); // frame deadline 200 ms
    const slow = net.connect(p);
    try {
      await new Promise((r) => slow.once("connect", r));
      slow.on("error", () => {});
      let closedAt = 0;
      slow.once("close", () => (closedAt = performance.now()));
      const t0 = performance.now();
      slow.write(Buffer.from([0, 0, 0, 200]));
      // One byte every 50 ms for up to 2 s: each chunk used to restart the deadline.
      for (let i = 0; i < 40 && closedAt === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        if (!slow.destroyed) slow.write(Buffer.from([0x20]));
      }
      assert.ok(closedAt > 0, "still open after 2 s of trickling");
      assert.ok(closedAt - t0 < 1500, `cut after ${Math.round(closedAt - t0)} ms`);
    } finally {
      slow.destroy();
      await claimed.close();
    }
  });

  test("pending requests fail when the server goes away", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const silent = net.createServer((s) => setTimeout(() => s.destroy(), 20));
    const claimed = await claimSocket(silent, p);
    const c = await RpcClient.connect(p);
    await assert.rejects(c.request({ x: 1 }), /Connection closed/);
    await claimed.close();
  });

  test("a request times out and can be aborted", async () => {
    using dirTmp = tempDir("sock");
    const dir = dirTmp.path;
    const p = path.join(dir, "s.sock");
    const silent = net.createServer(() => {});
    const claimed = await claimSocket(silent, p);
    const c = await RpcClient.connect(p);
    await assert.rejects(c.request({ x: 1 }, { timeoutMs: 50 }), /No reply within 50 ms/);
    const ac = new AbortController();
    const pending = c.request({ x: 2 }, { signal: ac.signal });
    ac.abort(new Error("stop waiting"));
    await assert.rejects(pending, /stop waiting/);
    c.close();
    await claimed.close();
  });
});
