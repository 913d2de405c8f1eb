import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LOCKD_PROTOCOL_VERSION, parseRequest } from "../../lib/lockd/protocol.ts";
import { LockService, type ServiceTransport } from "../../lib/lockd/service.ts";

type Sent = { conn: number; message: Record<string, unknown> };

function harness(maxPerConnection?: number) {
  const sent: Sent[] = [];
  const timers = new Map<string, number>();
  let stopped = 0;
  let clock = 1_700_000_000_000;
  const transport: ServiceTransport = {
    send: (conn, message) => sent.push({ conn, message: message as Record<string, unknown> }),
    armTimer: (conn, request, ms) => timers.set(`${conn}:${request}`, ms),
    disarmTimer: (conn, request) => timers.delete(`${conn}:${request}`),
    stop: () => stopped++,
  };
  const service = new LockService(transport, {
    info: () => ({
      pid: 4242,
      version: "0.0.0",
      protocol: LOCKD_PROTOCOL_VERSION,
      socket: "/x/lockd.sock",
      startedAt: "2023-11-14T22:13:20.000Z",
      idleMinutes: 15,
      runtime: "node",
    }),
    now: () => clock,
    ...(maxPerConnection !== undefined ? { maxPerConnection } : {}),
  });
  const send = (conn: number, message: unknown) => service.frame(conn, { ok: true, message });
  const open = (conn: number, pid = 100 + conn) => {
    service.open(conn);
    send(conn, { id: 0, op: "hello", version: LOCKD_PROTOCOL_VERSION, pid });
    assert.equal(take().message.ok, true);
  };
  const take = (): Sent => {
    const s = sent.shift();
    assert.ok(s, "a message was sent");
    return s;
  };
  return {
    service,
    sent,
    timers,
    send,
    open,
    take,
    stopped: () => stopped,
    tick: (ms: number) => (clock += ms),
  };
}

describe("parseRequest", () => {
  test("accepts a well-formed lock request and fills defaults", () => {
    assert.deepEqual(parseRequest({ id: 3, op: "lock", name: "a/b" }), {
      ok: true,
      request: {
        op: "lock",
        id: 3,
        name: "a/b",
        mode: "exclusive",
        nonblock: false,
        timeoutMs: undefined,
      },
    });
  });

  test("rejects non-objects, missing ids, wrong types and unknown ops with clear errors", () => {
    const cases: Array<[unknown, number | null, RegExp]> = [
      [[1, 2], null, /JSON object/],
      ["lock", null, /JSON object/],
      [{ op: "lock", name: "x" }, null, /id/],
      [{ id: -1, op: "ping" }, null, /id/],
      [{ id: 1.5, op: "ping" }, null, /id/],
      [{ id: 1, op: "lock", name: 5 }, 1, /string/],
      [{ id: 1, op: "lock", name: "" }, 1, /empty/],
      [{ id: 1, op: "lock", name: "x".repeat(1025) }, 1, /1024 bytes/],
      [{ id: 1, op: "lock", name: "é".repeat(513) }, 1, /1024 bytes/],
      [{ id: 1, op: "lock", name: "\ud800" }, 1, /Unicode/],
      [{ id: 1, op: "lock", name: "x", mode: "read" }, 1, /shared/],
      [{ id: 1, op: "lock", name: "x", nonblock: "yes" }, 1, /nonblock/],
      [{ id: 1, op: "lock", name: "x", timeoutMs: -5 }, 1, /timeoutMs/],
      [{ id: 1, op: "unlock", lock: "7" }, 1, /grant id/],
      [{ id: 1, op: "cancel" }, 1, /request id/],
      [{ id: 1, op: "hello", version: "1" }, 1, /version/],
      [{ id: 1, op: "hello", version: 1, pid: 0 }, 1, /pid/],
      [{ id: 1, op: "explode" }, 1, /Unknown op: explode/],
      [{ id: 1, op: 7 }, 1, /op must be a string/],
    ];
    for (const [message, id, error] of cases) {
      const r = parseRequest(message);
      assert.equal(r.ok, false, JSON.stringify(message));
      if (r.ok) continue;
      assert.equal(r.id, id);
      assert.equal(r.code, "PROTOCOL");
      assert.match(r.error, error);
    }
  });

  test("accepts names of exactly 1024 bytes", () => {
    assert.equal(parseRequest({ id: 1, op: "lock", name: "é".repeat(512) }).ok, true);
    assert.equal(parseRequest({ id: 1, op: "lock", name: "x".repeat(1024) }).ok, true);
  });
});

describe("LockService", () => {
  test("requires hello before anything but ping", () => {
    const h = harness();
    h.service.open(1);
    h.send(1, { id: 1, op: "lock", name: "x" });
    assert.deepEqual(h.take().message.code, "PROTOCOL");
    h.send(1, { id: 2, op: "ping" });
    assert.deepEqual(h.take().message, { id: 2, ok: true });
  });

  test("refuses an unknown protocol version and names the one it speaks", () => {
    const h = harness();
    h.service.open(1);
    h.send(1, { id: 1, op: "hello", version: 99 });
    const m = h.take().message;
    assert.equal(m.code, "VERSION");
    assert.deepEqual(m.versions, [LOCKD_PROTOCOL_VERSION]);
    assert.equal(h.service.greeted(1), false);
  });

  test("answers a frame that is not JSON with a PROTOCOL error and keeps serving", () => {
    const h = harness();
    h.open(1);
    h.service.frame(1, { ok: false, error: "Frame is not valid JSON" });
    assert.deepEqual(h.take().message, {
      id: null,
      ok: false,
      code: "PROTOCOL",
      error: "Frame is not valid JSON",
    });
    h.send(1, { id: 5, op: "lock", name: "x" });
    assert.equal(h.take().message.ok, true);
  });

  test("grants, queues and hands the lock over on unlock with several requests in flight", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    const grant = h.take().message;
    assert.equal(grant.ok, true);
    h.send(2, { id: 7, op: "lock", name: "x" });
    h.send(2, { id: 8, op: "lock", name: "y", mode: "shared" });
    assert.deepEqual(h.take(), { conn: 2, message: { id: 8, ok: true, lock: 2 } });
    assert.equal(h.sent.length, 0, "request 7 waits");
    h.send(1, { id: 2, op: "unlock", lock: grant.lock });
    // The next holder is told first: it is on the critical path of a contended lock.
    assert.deepEqual(h.take(), { conn: 2, message: { id: 7, ok: true, lock: 3 } });
    assert.deepEqual(h.take(), { conn: 1, message: { id: 2, ok: true } });
  });

  test("answers a second unlock of the same grant with SYNCH_ERR", () => {
    const h = harness();
    h.open(1);
    h.send(1, { id: 1, op: "lock", name: "x" });
    const lock = h.take().message.lock;
    h.send(1, { id: 2, op: "unlock", lock });
    h.take();
    h.send(1, { id: 3, op: "unlock", lock });
    const m = h.take().message;
    assert.equal(m.code, "SYNCH_ERR");
    assert.match(String(m.error), /already released/);
  });

  test("does not let one connection unlock another's grant", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    const lock = h.take().message.lock;
    h.send(2, { id: 1, op: "unlock", lock });
    assert.match(String(h.take().message.error), /another connection/);
  });

  test("answers BUSY to nonblock and TIMEOUT when the wait timer fires", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    h.take();
    h.send(2, { id: 1, op: "lock", name: "x", nonblock: true });
    assert.equal(h.take().message.code, "BUSY");
    h.send(2, { id: 2, op: "lock", name: "x", timeoutMs: 50 });
    assert.equal(h.timers.get("2:2"), 50);
    h.service.expire(2, 2);
    const m = h.take().message;
    assert.equal(m.id, 2);
    assert.equal(m.code, "TIMEOUT");
    assert.equal(h.service.table.waiting, 0);
  });

  test("disarms the wait timer when the lock is granted", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    const lock = h.take().message.lock;
    h.send(2, { id: 1, op: "lock", name: "x", timeoutMs: 1000 });
    assert.equal(h.timers.size, 1);
    h.send(1, { id: 2, op: "unlock", lock });
    assert.deepEqual(h.take(), { conn: 2, message: { id: 1, ok: true, lock: 2 } });
    assert.deepEqual(h.take(), { conn: 1, message: { id: 2, ok: true } });
    assert.equal(h.timers.size, 0);
  });

  test("cancels a queued request: ABORTED for it, then the cancel reply", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    h.take();
    h.send(2, { id: 4, op: "lock", name: "x" });
    h.send(2, { id: 5, op: "cancel", request: 4 });
    assert.equal(h.take().message.code, "ABORTED");
    assert.deepEqual(h.take().message, { id: 5, ok: true, cancelled: true });
    h.send(2, { id: 6, op: "cancel", request: 4 });
    assert.deepEqual(h.take().message, { id: 6, ok: true, cancelled: false });
  });

  test("releases a closed connection's locks and wakes the next waiter", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x" });
    h.take();
    h.send(2, { id: 1, op: "lock", name: "x", timeoutMs: 10_000 });
    const released = h.service.closed(1);
    assert.equal(released.length, 1);
    assert.equal(released[0]?.pid, 101);
    assert.deepEqual(h.take(), { conn: 2, message: { id: 1, ok: true, lock: 2 } });
    assert.equal(h.timers.size, 0);
  });

  test("refuses a reused request id while it waits, and too many locks on a connection", () => {
    const h = harness(2);
    h.open(1);
    h.open(2);
    h.send(2, { id: 1, op: "lock", name: "x" });
    h.take();
    h.send(1, { id: 9, op: "lock", name: "x" });
    h.send(1, { id: 9, op: "lock", name: "x" });
    assert.match(String(h.take().message.error), /already waiting/);
    h.send(1, { id: 10, op: "lock", name: "y" });
    h.take();
    h.send(1, { id: 11, op: "lock", name: "z" });
    assert.equal(h.take().message.code, "LIMIT");
  });

  test("reports holders and waiters with pids and times in status", () => {
    const h = harness();
    h.open(1);
    h.open(2);
    h.send(1, { id: 1, op: "lock", name: "x", mode: "shared" });
    h.take();
    h.tick(1000);
    h.send(2, { id: 1, op: "lock", name: "x", mode: "exclusive" });
    h.send(2, { id: 2, op: "status" });
    const s = h.take().message.status as Record<string, unknown>;
    assert.equal(s.pid, 4242);
    assert.equal(s.connections, 2);
    assert.deepEqual(s.locks, [{
      name: "x",
      mode: "shared",
      holders: [{
        lock: 1,
        pid: 101,
        since: "2023-11-14T22:13:20.000Z",
        command: null,
        commandPid: null,
      }],
      waiters: [{ pid: 102, mode: "exclusive", since: "2023-11-14T22:13:21.000Z", command: null }],
    }]);
  });

  test("replies to stop before asking the daemon to stop", () => {
    const h = harness();
    h.open(1);
    h.send(1, { id: 3, op: "stop" });
    assert.deepEqual(h.take().message, { id: 3, ok: true });
    assert.equal(h.stopped(), 1);
  });
});
