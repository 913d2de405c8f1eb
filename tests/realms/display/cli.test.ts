/**
 * `steward realms display on|off|url` and `steward realms daemon --display` started detached
 * (which, under Deno, re-runs the daemon with the display's address in its net permission).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { runSteward, tempDir, testPermissions, waitFor } from "../../helpers.ts";
import { killLeftovers, writeFixture } from "../daemon-helpers.ts";
import { request } from "./helpers.ts";

test("display on, off and url drive a detached daemon's status page", async () => {
  using tmp = tempDir("rdcli");
  const fx = writeFixture(tmp.path);
  const perms = testPermissions(tmp.path, {
    unixSockets: [fx.socket],
    read: ["/proc", "/etc/passwd"],
  });
  const steward = (...args: string[]) =>
    runSteward(["realms", ...args], { permissions: perms, cwd: tmp.path });
  const sd = ["--statedir", fx.stateDir];
  try {
    const off = await steward("display", "url", ...sd);
    assert.equal(off.code, 200, off.stderr);
    assert.match(off.stderr, /^steward: The display is off: no .*display\.json\n$/);
    const bad = await steward("display", "on", "--listen", "nowhere:port", ...sd);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid --listen: expected HOST:PORT: nowhere:port/);
    const badPort = await steward("daemon", "--display-port", "70000", "realms", ...sd);
    assert.equal(badPort.code, 2, badPort.stderr);
    assert.match(badPort.stderr, /Invalid display address: :70000/);
    const start = await steward(
      "daemon",
      "--directory",
      tmp.path,
      "--display",
      "--display-port",
      "0",
      ...sd,
      "realms",
    );
    assert.equal(start.code, 0, start.stderr);
    const url = await waitFor(
      async () => {
        const r = await steward("display", "url", ...sd);
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      15_000,
      "the display URL",
    );
    const m = /^http:\/\/127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9_-]+)$/.exec(url);
    assert.ok(m, url);
    const port = Number(m[1]);
    const metrics = await request(port, "GET", "/metrics");
    assert.match(metrics.body, /^steward_realm_up\{realm="alpha"\} 1$/m);
    const stop = await request(port, "POST", "/api/realms/beta/stop", {
      Authorization: `Bearer ${m[2]}`,
    });
    assert.equal(JSON.parse(stop.body).message, 'realm "beta" stopped');
    const offNow = await steward("display", "off", ...sd);
    assert.deepEqual([offNow.code, offNow.stdout], [0, "dtrealms display stopped\n"]);
    const again = await steward("display", "off", ...sd);
    assert.deepEqual([again.code, again.stderr], [
      9,
      "steward: display status already as requested\n",
    ]);
    const on = await steward("display", "on", "--listen", "127.0.0.1:0", ...sd);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /^dtrealms display started\nurl: http:\/\/127\.0\.0\.1:\d+\/\n$/);
    assert.ok(!on.stdout.includes("token"), "the reply does not carry the token");
  } finally {
    await steward("shutdown", ...sd);
    await waitFor(() => !fs.existsSync(fx.idFile), 15_000, "the daemon to halt").catch(() => {});
    await killLeftovers(path.join(tmp.path));
  }
});
