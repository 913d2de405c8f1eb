/**
 * The library's resources end with `await using`, and openConfiguredStore finds its
 * dhcpsvc.conf as the command line does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AdminSession, DSVC, DsvcError, openConfiguredStore } from "../../dhcp.ts";
import { LockClient } from "../../lockd.ts";
import { openRealmChannelServer, REALM_RC, RealmManagerClient } from "../../realms.ts";
import { RealmsDaemon } from "../../lib/realms/daemon.ts";
import { LockDaemon } from "../../lib/lockd/daemon.ts";
import { ROOT, tempDir, withEnv } from "../helpers.ts";

test("a lock manager and its client end with await using, releasing the lock", async () => {
  using tmp = tempDir("dispose");
  let socket = "";
  {
    await using daemon = await LockDaemon.start({ runDir: tmp.path, idleMinutes: 0 });
    socket = daemon.socketPath;
    await using client = new LockClient({ runDir: tmp.path, autoStart: false });
    {
      await using lock = await client.acquire("dispose/x", { mode: "exclusive" });
      assert.equal((await client.status()).locks[0]?.name, lock.name);
    }
    assert.deepEqual((await client.status()).locks, []);
  }
  assert.equal(fs.existsSync(socket), false, "the daemon's socket outlived its block");
});

test("a realm channel server ends with await using and answers until then", async () => {
  using tmp = tempDir("dispose");
  let socketPath = "";
  {
    await using server = await openRealmChannelServer({
      stateDir: tmp.path,
      handler: () => ({ code: REALM_RC.OKAY, message: "fine" }),
    });
    socketPath = server.path;
    const reply = await new RealmManagerClient({ stateDir: tmp.path }).send("realmcmd_status");
    assert.equal(reply.message, "fine");
  }
  assert.equal(fs.existsSync(socketPath), false);
});

test("AdminSession and RealmsDaemon are AsyncDisposable", () => {
  for (const cls of [AdminSession, RealmsDaemon]) {
    assert.equal(typeof cls.prototype[Symbol.asyncDispose], "function", cls.name);
  }
});

test("openConfiguredStore reads $STEWARD_DHCPSVC_CONF, and says when there is no file", async () => {
  using tmp = tempDir("conf");
  // A copy of examples/dhcp (file by file: Deno's cpSync wants read access above the tree).
  for (
    const f of ["dhcpsvc.conf", "var-dhcp/SUNWfiles1_dhcptab", "var-dhcp/SUNWfiles1_192_168_10_0"]
  ) {
    fs.mkdirSync(path.dirname(path.join(tmp.path, "dhcp", f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "examples", "dhcp", f), path.join(tmp.path, "dhcp", f));
  }
  const conf = path.join(tmp.path, "dhcp", "dhcpsvc.conf");
  const restore = withEnv({ STEWARD_DHCPSVC_CONF: conf });
  try {
    await using store = await openConfiguredStore({ synchronizer: null });
    // A PATH of ./var-dhcp is taken from the file's directory, as the command line takes it.
    assert.equal(store.datastore.location, path.join(tmp.path, "dhcp", "var-dhcp"));
    assert.deepEqual(await store.listNetworks(), ["192.168.10.0"]);
  } finally {
    restore();
  }
  const missing = path.join(tmp.path, "nowhere.conf");
  const restore2 = withEnv({ STEWARD_DHCPSVC_CONF: missing });
  try {
    await assert.rejects(openConfiguredStore({ synchronizer: null }), (e: unknown) => {
      assert.ok(e instanceof DsvcError);
      assert.equal(e.code, DSVC.BAD_RESOURCE);
      assert.match(e.message, new RegExp(`^No dhcpsvc\\.conf at ${missing.replace(/\./g, "\\.")}`));
      assert.doesNotMatch(e.message, /Malformed/);
      return true;
    });
  } finally {
    restore2();
  }
});
