import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "../helpers.ts";
import { reply, startFakeRealmd } from "./fakerealmd.ts";
import { RealmManagerClient } from "../../lib/realms/client.ts";
import { sendRealmCommandNoWait } from "../../lib/realms/transport/client.ts";
import { claimRealmmgrId } from "../../lib/realms/idfile.ts";
import { RealmError } from "../../lib/realms/errors.ts";

const STATUS_BODY = 'dtrealms parameters:\n     realm file         "demo.realm"\n' +
  '     directory          "/srv"\n     logtz              "gmt"\n     active realms      1\n' +
  "     inactive realms    2\n";

interface Case {
  name: string;
  call: (c: RealmManagerClient) => Promise<unknown>;
  request: string;
  answer: string;
  result: unknown;
}

// Every command of the spec's table, with the bytes realmctl would send and dtrealms would answer.
const CASES: Case[] = [
  {
    name: "status",
    call: (c) => c.status(),
    request: "realmcmd_status \r\n \r\n",
    answer: reply(0, STATUS_BODY),
    result: {
      text: STATUS_BODY,
      parameters: [
        { label: "realm file", value: "demo.realm", quoted: true },
        { label: "directory", value: "/srv", quoted: true },
        { label: "logtz", value: "gmt", quoted: true },
        { label: "active realms", value: "1", quoted: false },
        { label: "inactive realms", value: "2", quoted: false },
      ],
    },
  },
  {
    name: "realmstatus",
    call: (c) => c.realmStatus(),
    request: "realmcmd_realmstatus \r\n \r\n",
    answer: reply(0, "alpha\tactive\t1/1/1/1\nbeta\tinactive\n"),
    result: [
      { name: "alpha", state: "active", counts: { normal: 1, zsk: 1, ksk: 1, kskPhase6: 1 } },
      { name: "beta", state: "inactive" },
    ],
  },
  {
    name: "startrealm",
    call: (c) => c.startRealm("beta"),
    request: "realmcmd_startrealm \r\nbeta \r\n",
    answer: reply(0, 'realm "beta" started'),
    result: 'realm "beta" started',
  },
  {
    name: "stoprealm",
    call: (c) => c.stopRealm("alpha"),
    request: "realmcmd_stoprealm \r\nalpha \r\n",
    answer: reply(0, 'realm "alpha" stopped'),
    result: 'realm "alpha" stopped',
  },
  {
    name: "startall",
    call: (c) => c.startAll(),
    request: "realmcmd_startall \r\n1 \r\n",
    answer: reply(0, "beta started\ngamma started"),
    result: [{ realm: "beta", ok: true }, { realm: "gamma", ok: true }],
  },
  {
    name: "stopall",
    call: (c) => c.stopAll(),
    request: "realmcmd_stopall \r\n0 \r\n",
    answer: reply(0, "alpha stopped"),
    result: [{ realm: "alpha", ok: true }],
  },
  {
    name: "shutdown",
    call: (c) => c.shutdown(),
    request: "realmcmd_shutdown \r\n \r\n",
    answer: reply(0, "dtrealms shutting down"),
    result: "dtrealms shutting down",
  },
  {
    name: "logfile",
    call: (c) => c.setLogFile("/var/log/dtrealms.log"),
    request: "realmcmd_logfile \r\n/var/log/dtrealms.log \r\n",
    answer: reply(0, 'logfile changed to "/var/log/dtrealms.log"'),
    result: 'logfile changed to "/var/log/dtrealms.log"',
  },
  {
    name: "loglevel",
    call: (c) => c.setLogLevel("phase"),
    request: "realmcmd_loglevel \r\nphase \r\n",
    answer: reply(0, 'loglevel changed from "info" to "phase"'),
    result: 'loglevel changed from "info" to "phase"',
  },
  {
    name: "logtz",
    call: (c) => c.setLogTz("local"),
    request: "realmcmd_logtz \r\nlocal \r\n",
    answer: reply(0, "new logging timezone set"),
    result: "new logging timezone set",
  },
  {
    name: "logmsg",
    call: (c) => c.logMessage("info", "backup done"),
    request: "realmcmd_logmsg \r\n(info)backup done \r\n",
    answer: reply(0, "message written to log"),
    result: "message written to log",
  },
  {
    name: "command",
    call: (c) => c.command("alpha", ["rollctl", "-zonestatus"]),
    request: "realmcmd_command \r\nalpha rollctl -zonestatus \r\n",
    answer: reply(0, "example.com/example.com\tZSK 2\n\nreturn code - 0\n"),
    result: { output: "example.com/example.com\tZSK 2\n", exitCode: 0 },
  },
  {
    name: "display",
    call: (c) => c.display(true),
    request: "realmcmd_display \r\n1 \r\n",
    answer: reply(0, "dtrealms display started"),
    result: "dtrealms display started",
  },
  {
    name: "nodisplay (display 0)",
    call: (c) => c.display(false),
    request: "realmcmd_display \r\n0 \r\n",
    answer: reply(0, "dtrealms display stopped"),
    result: "dtrealms display stopped",
  },
  {
    name: "realmcmd_nodisplay",
    call: (c) => c.send("realmcmd_nodisplay", "0"),
    request: "realmcmd_nodisplay \r\n0 \r\n",
    answer: reply(13, "realmcmd_nodisplay is not available yet"),
    result: { code: 13, message: "realmcmd_nodisplay is not available yet" },
  },
  {
    name: "getstatus",
    call: (c) => c.send("realmcmd_getstatus"),
    request: "realmcmd_getstatus \r\n \r\n",
    answer: reply(13, "realmcmd_getstatus is not available yet"),
    result: { code: 13, message: "realmcmd_getstatus is not available yet" },
  },
];

test("every command goes over the socket with the exact upstream bytes", async () => {
  using tmp = tempDir("client");
  let answer = "";
  const fake = await startFakeRealmd(tmp.path, () => answer);
  try {
    const client = new RealmManagerClient({ stateDir: tmp.path });
    for (const c of CASES) {
      answer = c.answer;
      fake.received.length = 0;
      assert.deepEqual(await c.call(client), c.result, c.name);
      assert.deepEqual(fake.received, [c.request], `${c.name}: one connection, exact bytes`);
    }
  } finally {
    await fake.close();
  }
});

test("a non-zero code becomes a RealmError carrying the upstream code", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => reply(4, 'unable to start realm "x"'));
  try {
    const client = new RealmManagerClient({ stateDir: tmp.path });
    await assert.rejects(client.startRealm("x"), (e: unknown) => {
      assert.ok(e instanceof RealmError);
      assert.equal(e.kind, "reply");
      assert.equal(e.code, 4);
      assert.equal(e.replyText, 'unable to start realm "x"');
      assert.equal(
        e.message,
        'realmcmd_startrealm failed (REALMCMD_RC_BADREALM): unable to start realm "x"',
      );
      return true;
    });
    assert.deepEqual(await client.send("realmcmd_startrealm", "x"), {
      code: 4,
      message: 'unable to start realm "x"',
    });
  } finally {
    await fake.close();
  }
});

test("the client says clearly when no daemon listens", async () => {
  using tmp = tempDir("client");
  const client = new RealmManagerClient({ stateDir: tmp.path });
  await assert.rejects(client.status(), {
    kind: "no-daemon",
    message:
      `The realm manager is not running: nothing listens on ${tmp.path}/dnssec-tools/realmmgr.socket`,
  });
});

test("an empty reply is an error, not the success upstream reported", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => "");
  try {
    await assert.rejects(new RealmManagerClient({ stateDir: tmp.path }).setLogFile("x"), {
      kind: "no-reply",
    });
  } finally {
    await fake.close();
  }
});

test("a daemon that never answers times out", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => "hang");
  try {
    const started = Date.now();
    await assert.rejects(
      new RealmManagerClient({ stateDir: tmp.path, timeoutMs: 200 }).status(),
      { kind: "timeout", message: "No reply from the realm manager within 200 ms" },
    );
    assert.ok(Date.now() - started < 2000);
  } finally {
    await fake.close();
  }
});

test("an abort signal cancels a waiting command", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => "hang");
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(
      new RealmManagerClient({ stateDir: tmp.path }).status({ signal: ac.signal }),
      { kind: "timeout" },
    );
  } finally {
    await fake.close();
  }
});

test("unknown commands and bad arguments are refused before anything is sent", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => reply(0, ""));
  try {
    const client = new RealmManagerClient({ stateDir: tmp.path });
    await assert.rejects(client.send("realmcmd_bogus"), { kind: "invalid" });
    await assert.rejects(client.setLogLevel("7"), { kind: "invalid" });
    await assert.rejects(client.setLogTz("mars"), { kind: "invalid" });
    await assert.rejects(client.command("alpha", []), { kind: "invalid" });
    await assert.rejects(client.logMessage("info", "two\nlines"), { kind: "invalid" });
    assert.deepEqual(fake.received, []);
    const loose = new RealmManagerClient({ stateDir: tmp.path, verify: false });
    assert.deepEqual(await loose.send("realmcmd_bogus"), { code: 0, message: "" });
    assert.deepEqual(fake.received, ["realmcmd_bogus \r\n \r\n"]);
  } finally {
    await fake.close();
  }
});

test("CHANNEL_CLOSE sends and closes without reading", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, () => reply(0, "ignored"));
  try {
    await sendRealmCommandNoWait("realmcmd_stoprealm", "alpha", { stateDir: tmp.path });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(fake.received, ["realmcmd_stoprealm \r\nalpha \r\n"]);
  } finally {
    await fake.close();
  }
});

test("CHANNEL_CLOSE refuses a bad request before connecting, and reports a missing daemon", async () => {
  using tmp = tempDir("client");
  await assert.rejects(sendRealmCommandNoWait("realmcmd_bogus", "", { stateDir: tmp.path }), {
    kind: "invalid",
  });
  await assert.rejects(sendRealmCommandNoWait("realmcmd_status", "", { stateDir: tmp.path }), {
    kind: "no-daemon",
  });
});

test("with nudge the client sends SIGHUP to the pid in the id file after the request", async () => {
  using tmp = tempDir("client");
  let hups = 0;
  const onHup = () => hups++;
  process.on("SIGHUP", onHup);
  const fake = await startFakeRealmd(tmp.path, () => reply(0, "ok"));
  try {
    // This test process stands in for the daemon: its command line names tests/realms/.
    await claimRealmmgrId({ stateDir: tmp.path, ownsSocket: true });
    await new RealmManagerClient({ stateDir: tmp.path, nudge: true }).send("realmcmd_status");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hups, 1);
    await new RealmManagerClient({ stateDir: tmp.path }).send("realmcmd_status");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(hups, 1, "no nudge by default");
  } finally {
    process.off("SIGHUP", onHup);
    await fake.close();
  }
});

test("supervisionReport falls back to realmstatus for a daemon without supervision", async () => {
  using tmp = tempDir("client");
  const fake = await startFakeRealmd(tmp.path, (req) =>
    // An upstream dtrealms answers nothing to a command it does not know.
    req.startsWith("realmcmd_supervision") ? "" : reply(
      0,
      "alpha\tactive\t1/0/0/0\nbeta\tinactive\n",
    ));
  try {
    const c = new RealmManagerClient({ stateDir: tmp.path });
    const all = await c.supervisionReport();
    assert.deepEqual(all.realms.map((r) => [r.name, r.state]), [
      ["alpha", "running"],
      ["beta", "stopped"],
    ]);
    assert.deepEqual((await c.supervisionReport("beta")).realms.map((r) => r.name), ["beta"]);
    await assert.rejects(c.supervisionReport("nosuch"), (e: unknown) => {
      assert.ok(e instanceof RealmError && e.kind === "reply");
      assert.equal(e.code, 4);
      assert.equal(e.replyText, 'no realm named "nosuch"');
      return true;
    });
    assert.deepEqual(fake.received.slice(0, 2), [
      "realmcmd_supervision \r\n \r\n",
      "realmcmd_realmstatus \r\n \r\n",
    ]);
  } finally {
    await fake.close();
  }
});

test("restart stops a running realm then starts it, and says why when it cannot", async () => {
  using tmp = tempDir("client");
  const record = (name: string, state: string) =>
    JSON.stringify({ realms: [{ name, state, restarts: 0, failures: 0 }] });
  const fake = await startFakeRealmd(tmp.path, (req) => {
    const [command = "", data = ""] = req.split(" \r\n");
    if (command === "realmcmd_supervision") {
      if (data === "gone") return reply(4, 'no realm named "gone"');
      return reply(0, record(data, data === "idle" ? "stopped" : "running"));
    }
    if (command === "realmcmd_stoprealm" && data === "stuck") {
      return reply(4, 'unable to stop realm "stuck": state not saved: EROFS');
    }
    return reply(0, `${command} ${data}`);
  });
  try {
    const c = new RealmManagerClient({ stateDir: tmp.path });
    assert.deepEqual(await c.restart("busy"), { code: 0, message: "realmcmd_startrealm busy" });
    assert.deepEqual(fake.received.splice(0), [
      "realmcmd_supervision \r\nbusy \r\n",
      "realmcmd_stoprealm \r\nbusy \r\n",
      "realmcmd_startrealm \r\nbusy \r\n",
    ]);
    assert.deepEqual(await c.restart("idle"), { code: 0, message: "realmcmd_startrealm idle" });
    assert.deepEqual(fake.received.splice(0).map((r) => r.split(" ")[0]), [
      "realmcmd_supervision",
      "realmcmd_startrealm",
    ], "a stopped realm is only started");
    assert.deepEqual(await c.restart("stuck"), {
      code: 4,
      message: 'unable to stop realm "stuck": state not saved: EROFS',
    });
    assert.deepEqual(await c.restart("gone"), { code: 4, message: 'no realm named "gone"' });
  } finally {
    await fake.close();
  }
});
