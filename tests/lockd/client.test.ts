/**
 * LockClient against a daemon running in this process: modes, waits, timeouts, cancellation,
 * release rules, several requests in flight on one connection, events.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { LockClient, LockError, type LockErrorCode } from "../../lib/lockd/client.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { type LockdSandbox, sandbox } from "./harness.ts";

function code(c: LockErrorCode) {
  return (e: unknown) => e instanceof LockError && e.code === c;
}

describe("LockClient", () => {
  let box: LockdSandbox;
  let daemon: LockDaemon;
  const clients: LockClient[] = [];
  const client = () => {
    const c = new LockClient({ socketPath: box.socket, autoStart: false });
    clients.push(c);
    return c;
  };

  before(async () => {
    box = sandbox("client");
    daemon = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await daemon.stop("request");
    await box[Symbol.asyncDispose]();
  });

  test("holds an exclusive lock until released, and `await using` releases it", async () => {
    const a = client();
    const b = client();
    {
      await using _held = await a.acquire("job");
      await assert.rejects(b.acquire("job", { nonblock: true }), code("BUSY"));
    }
    const again = await b.acquire("job", { nonblock: true });
    assert.equal(again.name, "job");
    assert.equal(again.mode, "exclusive");
    await again.release();
  });

  test("verify confirms a held lock and refuses once it is released", async () => {
    const a = client();
    const held = await a.acquire("verified");
    assert.equal(held.held, true);
    await held.verify();
    await held.release();
    assert.equal(held.held, false);
    await assert.rejects(held.verify(), code("SYNCH_ERR"));
  });

  test("shares a shared lock and keeps writers out", async () => {
    const [a, b, c] = [client(), client(), client()];
    const r1 = await a.acquire("data", { mode: "shared" });
    const r2 = await b.acquire("data", { mode: "shared" });
    await assert.rejects(c.acquire("data", { nonblock: true }), code("BUSY"));
    const writer = c.acquire("data");
    // A reader arriving after a queued writer waits behind it.
    await assert.rejects(a.acquire("data", { mode: "shared", nonblock: true }), code("BUSY"));
    await r1.release();
    await r2.release();
    await (await writer).release();
  });

  test("gives up with TIMEOUT after timeoutMs and leaves nothing queued", async () => {
    const a = client();
    const b = client();
    const held = await a.acquire("slow");
    const t0 = performance.now();
    await assert.rejects(b.acquire("slow", { timeoutMs: 150 }), code("TIMEOUT"));
    const ms = performance.now() - t0;
    assert.ok(ms >= 140 && ms < 1000, `${ms} ms`);
    assert.deepEqual((await a.status()).locks[0]?.waiters, []);
    await held.release();
  });

  test("cancels a wait with an AbortSignal; a lock granted before is unaffected", async () => {
    const a = client();
    const b = client();
    const held = await a.acquire("abort");
    const ac = new AbortController();
    const waiting = b.acquire("abort", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(waiting, code("ABORTED"));
    assert.deepEqual((await a.status()).locks[0]?.waiters, []);
    await held.release();
    const ac2 = new AbortController();
    const mine = await b.acquire("abort", { signal: ac2.signal });
    ac2.abort();
    assert.equal((await a.status()).locks[0]?.holders.length, 1);
    await mine.release();
    await assert.rejects(b.acquire("abort", { signal: AbortSignal.abort() }), code("ABORTED"));
  });

  test("throws SYNCH_ERR on a second release", async () => {
    const a = client();
    const lock = await a.acquire("twice");
    await lock.release();
    await assert.rejects(lock.release(), code("SYNCH_ERR"));
    await lock[Symbol.asyncDispose](); // already released: nothing to do, no error
  });

  test("serves several requests in flight on one connection", async () => {
    const a = client();
    const names = Array.from({ length: 50 }, (_, i) => `many/${i}`);
    const locks = await Promise.all(names.map((n) => a.acquire(n, { mode: "shared" })));
    assert.deepEqual(locks.map((l) => l.name), names);
    assert.equal((await a.status()).locks.length, 50);
    await Promise.all(locks.map((l) => l.release()));
    assert.equal((await a.status()).locks.length, 0);
  });

  test("refuses bad names before sending them", async () => {
    const a = client();
    await assert.rejects(a.acquire(""), code("PROTOCOL"));
    await assert.rejects(a.acquire("x".repeat(1025)), code("PROTOCOL"));
    const ok = await a.acquire("/var/dhcp/SUNWfiles1_dhcptab" + "é".repeat(400));
    await ok.release();
  });

  test("releases the locks of a closed client", async () => {
    const a = client();
    const b = client();
    await a.acquire("closing");
    const waiting = b.acquire("closing");
    a.close();
    await (await waiting).release();
    await assert.rejects(a.acquire("closing"), code("ABORTED"));
  });

  test("fails with NO_LOCKMGR when no daemon answers and auto-start is off", async () => {
    const c = new LockClient({ socketPath: `${box.dir}/nobody.sock`, autoStart: false });
    await assert.rejects(
      c.acquire("x"),
      (e: unknown) =>
        e instanceof LockError && e.code === "NO_LOCKMGR" &&
        /Cannot contact lock manager: ENOENT/.test(e.message),
    );
    c.close();
  });

  test("lists holders with this process's pid", async () => {
    const a = client();
    const lock = await a.acquire("mine");
    const s = await a.status();
    assert.equal(s.pid, process.pid);
    assert.equal(s.locks[0]?.holders[0]?.pid, process.pid);
    assert.match(s.locks[0]?.holders[0]?.since ?? "", /^\d{4}-\d\d-\d\dT/);
    await lock.release();
  });
});

describe("LockHandle.verify", () => {
  test("verify rejects with SYNCH_ERR when the lock manager is gone", async () => {
    await using box = sandbox("verify");
    const daemon = await LockDaemon.start({ runDir: box.dir, idleMinutes: 0 });
    const c = new LockClient({ socketPath: box.socket, autoStart: false });
    try {
      const held = await c.acquire("doomed");
      await held.verify();
      await daemon.stop("request");
      await assert.rejects(
        held.verify(),
        (e: unknown) => e instanceof LockError && e.code === "SYNCH_ERR" && /lost/.test(e.message),
      );
      assert.equal(held.held, false);
    } finally {
      c.close();
    }
  });
});
