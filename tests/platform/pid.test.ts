import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { pidAlive, pidState, sendSignal } from "../../lib/platform/pid.ts";
import { exited } from "../helpers.ts";

describe("pid liveness and signals", () => {
  test("this process is alive; no pid, zero and negatives are gone", () => {
    assert.equal(pidState(process.pid), "alive");
    assert.equal(pidAlive(process.pid), true);
    for (const pid of [0, -1, Number.NaN, 1.5, 2 ** 60]) assert.equal(pidState(pid), "gone");
    // pid 1 is somebody's (perhaps another user's: EPERM still means it exists).
    assert.equal(pidState(1), "alive");
  });

  test("a signal reaches a live process; a reaped one is gone and cannot be signalled", async () => {
    const child = spawn("/bin/sh", ["-c", "exec sleep 30"], { stdio: "ignore" });
    const pid = child.pid as number;
    assert.equal(pidState(pid), "alive");
    assert.equal(sendSignal(pid, "SIGTERM"), true);
    const r = await exited(child);
    assert.equal(r.signal, "SIGTERM");
    assert.equal(pidState(pid), "gone");
    assert.equal(pidAlive(pid, { unknown: true }), false);
    assert.equal(sendSignal(pid, "SIGTERM"), false);
  });
});
