import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pidState, sendSignal } from "../../lib/platform/pid.ts";
import {
  DaemonStartError,
  startDetached,
  startErrorReason,
} from "../../lib/platform/start-wait.ts";
import { tempDir, waitFor } from "../helpers.ts";

function sh(script: string, stderrFile?: string) {
  return { command: "/bin/sh", args: ["-c", script], stderrFile };
}

describe("startDetached", () => {
  test("resolves with the pid once ready says so; the daemon runs on, detached", async () => {
    using tmp = tempDir("startwait");
    const flag = path.join(tmp.path, "ready");
    const pid = await startDetached({
      ...sh(`echo starting >&2; : > '${flag}'; exec sleep 30`, path.join(tmp.path, "err")),
      ready: () => fs.existsSync(flag),
    });
    try {
      assert.equal(pidState(pid), "alive");
      assert.equal(fs.readFileSync(path.join(tmp.path, "err"), "utf8"), "starting\n");
    } finally {
      assert.equal(sendSignal(pid, "SIGKILL"), true);
    }
    await waitFor(() => pidState(pid) === "gone", 5000, "the daemon to go");
  });

  test("a daemon that exits first is reported with its exit code and standard error", async () => {
    using tmp = tempDir("startwait");
    const err = path.join(tmp.path, "err");
    const e = await startDetached({
      ...sh("echo 'steward: Cannot frob: EFROB' >&2; echo '(run x --help)' >&2; exit 3", err),
      ready: () => false,
    }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof DaemonStartError, String(e));
    assert.equal(e.failure, "exit");
    assert.equal(e.exitCode, 3);
    assert.equal(e.stderr, "steward: Cannot frob: EFROB\n(run x --help)");
    assert.equal(e.message, e.stderr);
    assert.equal(startErrorReason(e.stderr), "Cannot frob: EFROB");
  });

  test("without a standard error file the exit code is all there is to say", async () => {
    const e = await startDetached({ ...sh("echo lost >&2; exit 2"), ready: () => false })
      .then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof DaemonStartError && e.failure === "exit", String(e));
    assert.equal(e.exitCode, 2);
    assert.equal(e.stderr, "");
    assert.equal(e.message, "daemon exited with code 2");
  });

  test("one not ready in time is a timeout, and killed when asked", async () => {
    const e = await startDetached({
      ...sh("exec sleep 30"),
      ready: () => false,
      timeoutMs: 200,
      killOnTimeout: true,
    }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof DaemonStartError && e.failure === "timeout", String(e));
    assert.match(e.message, /did not start within 0 s \(pid \d+\)/);
    const pid = e.pid as number;
    await waitFor(() => pidState(pid) === "gone", 5000, "the killed daemon to go");
  });

  test("what ready throws ends the wait and is thrown on", async () => {
    let seen = 0;
    await assert.rejects(
      startDetached({
        ...sh("exec sleep 30"),
        ready: (pid) => {
          seen = pid;
          throw new Error("refused");
        },
      }),
      /^Error: refused$/,
    );
    assert.ok(seen > 0);
    assert.equal(sendSignal(seen, "SIGKILL"), true);
  });

  test("a program that cannot be run is a spawn failure", async () => {
    await assert.rejects(
      startDetached({ command: "/nonexistent/daemon", args: [], ready: () => false }),
      (e: unknown) => e instanceof DaemonStartError ? e.failure === "spawn" : e instanceof Error,
    );
  });

  test("startErrorReason takes the last line that is not a usage hint", () => {
    assert.equal(startErrorReason(""), undefined);
    assert.equal(startErrorReason("\n(run 'steward x --help' for usage)\n"), undefined);
    assert.equal(startErrorReason("info: starting\nsteward: lockd: bad\n"), "lockd: bad");
  });
});
