import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AcquireResult, type Grant, type LockMode, LockTable } from "../../lib/lockd/table.ts";

let nextRequest = 1;
function ask(
  t: LockTable,
  owner: number,
  mode: LockMode,
  opts: { name?: string; nonblock?: boolean } = {},
): AcquireResult & { request: number } {
  const request = nextRequest++;
  const r = t.acquire({
    name: opts.name ?? "L",
    mode,
    owner,
    request,
    nonblock: opts.nonblock ?? false,
    now: 1000,
  });
  return { ...r, request };
}

function granted(r: AcquireResult): Grant {
  assert.equal(r.status, "granted");
  return (r as { grant: Grant }).grant;
}

function owners(gs: Grant[]): number[] {
  return gs.map((g) => g.owner);
}

describe("LockTable", () => {
  test("admits many readers at once when nobody waits", () => {
    const t = new LockTable();
    granted(ask(t, 1, "shared"));
    granted(ask(t, 2, "shared"));
    granted(ask(t, 3, "shared"));
    assert.equal(t.held, 3);
  });

  test("admits a writer only when nobody holds the lock", () => {
    const t = new LockTable();
    const r = granted(ask(t, 1, "shared"));
    assert.equal(ask(t, 2, "exclusive").status, "queued");
    const rel = t.release(r.id, 1, 2000);
    assert.ok(rel.ok);
    assert.deepEqual(owners(rel.woken), [2]);
    assert.equal(rel.woken[0]?.mode, "exclusive");
    assert.equal(rel.woken[0]?.since, 2000);
  });

  test("queues a reader behind a waiting writer so writers are not starved", () => {
    const t = new LockTable();
    const r1 = granted(ask(t, 1, "shared"));
    assert.equal(ask(t, 2, "exclusive").status, "queued");
    assert.equal(ask(t, 3, "shared").status, "queued");
    const rel = t.release(r1.id, 1, 0);
    assert.ok(rel.ok);
    assert.deepEqual(owners(rel.woken), [2]);
  });

  test("wakes the head and then every reader right behind an admitted reader", () => {
    const t = new LockTable();
    const w = granted(ask(t, 1, "exclusive"));
    ask(t, 2, "shared");
    ask(t, 3, "shared");
    ask(t, 4, "exclusive");
    ask(t, 5, "shared");
    const rel = t.release(w.id, 1, 0);
    assert.ok(rel.ok);
    assert.deepEqual(owners(rel.woken), [2, 3]);
    assert.equal(t.waiting, 2);
    // The writer comes next once both readers leave; the last reader waits for it.
    const [a, b] = rel.woken as [Grant, Grant];
    const r2 = t.release(a.id, 2, 0);
    assert.ok(r2.ok);
    assert.deepEqual(r2.woken, []);
    const r3 = t.release(b.id, 3, 0);
    assert.ok(r3.ok);
    assert.deepEqual(owners(r3.woken), [4]);
    const r4 = t.release((r3.woken[0] as Grant).id, 4, 0);
    assert.ok(r4.ok);
    assert.deepEqual(owners(r4.woken), [5]);
  });

  test("serves waiting writers first-in first-out", () => {
    const t = new LockTable();
    let g = granted(ask(t, 1, "exclusive"));
    for (const o of [2, 3, 4, 5]) ask(t, o, "exclusive");
    const order: number[] = [];
    for (;;) {
      const rel = t.release(g.id, g.owner, 0);
      assert.ok(rel.ok);
      if (rel.woken.length === 0) break;
      assert.equal(rel.woken.length, 1);
      g = rel.woken[0] as Grant;
      order.push(g.owner);
    }
    assert.deepEqual(order, [2, 3, 4, 5]);
    assert.ok(t.idle);
    assert.deepEqual(t.list(), []);
  });

  test("answers busy at once to a nonblocking request that cannot be granted", () => {
    const t = new LockTable();
    granted(ask(t, 1, "exclusive"));
    assert.equal(ask(t, 2, "shared", { nonblock: true }).status, "busy");
    assert.equal(ask(t, 2, "exclusive", { nonblock: true }).status, "busy");
    assert.equal(t.waiting, 0);
  });

  test("answers busy to a nonblocking reader when a writer is queued", () => {
    const t = new LockTable();
    granted(ask(t, 1, "shared"));
    ask(t, 2, "exclusive");
    assert.equal(ask(t, 3, "shared", { nonblock: true }).status, "busy");
  });

  test("keeps locks of different names independent", () => {
    const t = new LockTable();
    granted(ask(t, 1, "exclusive", { name: "a" }));
    granted(ask(t, 2, "exclusive", { name: "b" }));
    assert.equal(t.list().length, 2);
  });

  test("refuses a second unlock of the same grant", () => {
    const t = new LockTable();
    const g = granted(ask(t, 1, "exclusive"));
    assert.ok(t.release(g.id, 1, 0).ok);
    assert.deepEqual(t.release(g.id, 1, 0), { ok: false, reason: "released" });
    assert.deepEqual(t.release(9999, 1, 0), { ok: false, reason: "unknown" });
  });

  test("refuses an unlock from another owner", () => {
    const t = new LockTable();
    const g = granted(ask(t, 1, "exclusive"));
    assert.deepEqual(t.release(g.id, 2, 0), { ok: false, reason: "not-owner" });
    assert.equal(t.held, 1);
  });

  test("releases everything of an owner whose connection closed and wakes the next", () => {
    const t = new LockTable();
    granted(ask(t, 1, "exclusive", { name: "a" }));
    granted(ask(t, 1, "shared", { name: "b" }));
    ask(t, 2, "exclusive", { name: "a" });
    ask(t, 1, "exclusive", { name: "c" }); // granted, c was free
    ask(t, 3, "exclusive", { name: "b" });
    ask(t, 1, "exclusive", { name: "a" }); // queued behind owner 2
    const r = t.releaseOwner(1, 5);
    assert.equal(r.released.length, 3);
    assert.equal(r.cancelled.length, 1);
    assert.deepEqual(owners(r.woken).sort(), [2, 3]);
    assert.equal(t.held, 2);
    assert.equal(t.waiting, 0);
  });

  test("lets readers in when the writer ahead of them withdraws", () => {
    const t = new LockTable();
    granted(ask(t, 1, "shared"));
    const w = ask(t, 2, "exclusive");
    ask(t, 3, "shared");
    ask(t, 4, "shared");
    const c = t.cancel(2, w.request, 0);
    assert.equal(c.waiter?.owner, 2);
    assert.deepEqual(owners(c.woken), [3, 4]);
    assert.equal(t.cancel(2, w.request, 0).waiter, undefined);
  });

  test("lists holders and waiters with pids and times", () => {
    const t = new LockTable();
    t.acquire({ name: "n", mode: "shared", owner: 1, request: 1, pid: 11, now: 100 });
    t.acquire({ name: "n", mode: "exclusive", owner: 2, request: 1, pid: 22, now: 200 });
    const [info] = t.list();
    assert.equal(info?.mode, "shared");
    assert.deepEqual(info?.holders.map((h) => [h.pid, h.since]), [[11, 100]]);
    assert.deepEqual(info?.waiters.map((w) => [w.pid, w.mode, w.since]), [[22, "exclusive", 200]]);
  });

  test("stays consistent under a long random mix of requests", () => {
    const t = new LockTable();
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const held = new Map<number, Grant>();
    const waits: Array<{ owner: number; request: number }> = [];
    const take = (gs: Grant[]) => gs.forEach((g) => held.set(g.id, g));
    for (let i = 0; i < 20_000; i++) {
      const op = rand(10);
      const owner = 1 + rand(8);
      if (op < 5) {
        const r = ask(t, owner, rand(2) ? "shared" : "exclusive", {
          name: `n${rand(3)}`,
          nonblock: rand(4) === 0,
        });
        if (r.status === "granted") held.set(r.grant.id, r.grant);
        if (r.status === "queued") waits.push({ owner, request: r.request });
      } else if (op < 8 && held.size > 0) {
        const ids = [...held.keys()];
        const g = held.get(ids[rand(ids.length)] as number) as Grant;
        const rel = t.release(g.id, g.owner, 0);
        assert.ok(rel.ok);
        held.delete(g.id);
        take(rel.woken);
      } else if (op === 8 && waits.length > 0) {
        const w = waits.splice(rand(waits.length), 1)[0] as { owner: number; request: number };
        take(t.cancel(w.owner, w.request, 0).woken);
      } else if (op === 9) {
        const r = t.releaseOwner(owner, 0);
        for (const g of r.released) held.delete(g.id);
        take(r.woken);
      }
      // Invariants: a writer holds alone; a free lock has nobody waiting.
      for (const l of t.list()) {
        if (l.holders.some((h) => h.mode === "exclusive")) assert.equal(l.holders.length, 1);
        if (l.holders.length === 0) assert.equal(l.waiters.length, 0);
      }
      assert.equal(t.held, held.size);
    }
  });
});
