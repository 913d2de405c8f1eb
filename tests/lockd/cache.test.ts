/**
 * Lock caching (opt-in): a client keeps a lock after use until another client asks for it,
 * shares one grant among its own concurrent operations, and still loses it when it goes away.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LockClient, LockError } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { waitFor } from "../helpers.ts";
import { sandbox } from "./harness.ts";

async function setup(prefix: string) {
  const box = sandbox(prefix);
  const d = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0 });
  const cached = new LockClient({ runDir: box.dir, autoStart: false, cache: true });
  const other = new LockClient({ runDir: box.dir, autoStart: false });
  return {
    d,
    cached,
    other,
    holders: async (name: string) =>
      (await other.status()).locks.find((l) => l.name === name)?.holders ?? [],
    async [Symbol.asyncDispose]() {
      cached.close();
      other.close();
      await d.stop("request");
      await box[Symbol.asyncDispose]();
    },
  };
}

test("a cached lock outlives its release and serves the next operation without a new grant", async () => {
  await using t = await setup("cache1");
  const first = await t.cached.acquire("db");
  const [grant] = await t.holders("db");
  await first.release();
  assert.equal((await t.holders("db"))[0]?.lock, grant?.lock, "kept after release");
  const second = await t.cached.acquire("db");
  assert.equal(second.held, true);
  await second.verify();
  assert.deepEqual((await t.holders("db")).map((h) => h.lock), [grant?.lock]);
  await second.release();
});

test("another client's request makes the caching client give the lock back", async () => {
  await using t = await setup("cache2");
  await (await t.cached.acquire("db")).release(); // cached, idle
  const t0 = performance.now();
  const theirs = await t.other.acquire("db", { timeoutMs: 10_000 });
  assert.ok(performance.now() - t0 < 5000);
  // Now the caching client waits like anyone else.
  await assert.rejects(
    t.cached.acquire("db", { nonblock: true }),
    (e: unknown) => e instanceof LockError && e.code === "BUSY",
  );
  const mine = t.cached.acquire("db", { timeoutMs: 10_000 });
  await theirs.release();
  await (await mine).release();
});

test("a cached lock in use is given back when its operation ends", async () => {
  await using t = await setup("cache3");
  const inUse = await t.cached.acquire("db");
  let granted = false;
  const theirs = t.other.acquire("db", { timeoutMs: 10_000 }).then((h) => {
    granted = true;
    return h;
  });
  await waitFor(async () => (await t.other.status()).locks[0]?.waiters.length === 1);
  assert.equal(granted, false, "not taken from under a running operation");
  await inUse.release();
  await (await theirs).release();
});

test("concurrent operations of one client share one grant; writers take turns", async () => {
  await using t = await setup("cache4");
  const readers = await Promise.all([1, 2, 3].map(() => t.cached.acquire("r", { mode: "shared" })));
  assert.equal((await t.holders("r")).length, 1, "one grant for three readers");
  for (const r of readers) await r.release();
  const order: string[] = [];
  const w1 = await t.cached.acquire("w");
  const w2p = t.cached.acquire("w", { timeoutMs: 10_000 }).then((h) => {
    order.push("w2");
    return h;
  });
  await new Promise((r) => setTimeout(r, 50));
  order.push("w1 done");
  assert.equal((await t.holders("w")).length, 1);
  await w1.release();
  const w2 = await w2p;
  assert.deepEqual(order, ["w1 done", "w2"]);
  await assert.rejects(
    t.cached.acquire("w", { nonblock: true }),
    (e: unknown) => e instanceof LockError && e.code === "BUSY",
  );
  await w2.release();
});

test("a caching client that goes away releases its cached locks at once", async () => {
  await using t = await setup("cache5");
  await (await t.cached.acquire("db")).release();
  assert.equal((await t.holders("db")).length, 1);
  t.cached.close(); // what its death does: the connection closes
  const t0 = performance.now();
  const theirs = await t.other.acquire("db", { timeoutMs: 10_000 });
  assert.ok(performance.now() - t0 < 2000);
  await theirs.release();
});
