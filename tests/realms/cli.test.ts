import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { runSteward, tempDir, testPermissions } from "../helpers.ts";
import { type FakeRealmd, reply, startFakeRealmd } from "./fakerealmd.ts";

const bin = { via: "binary" as const };

async function withFake<T>(
  answer: (request: string) => string | "hang",
  fn: (fake: FakeRealmd, statedir: string) => Promise<T>,
): Promise<T> {
  using tmp = tempDir("realmscli");
  const fake = await startFakeRealmd(tmp.path, answer);
  try {
    return await fn(fake, tmp.path);
  } finally {
    await fake.close();
  }
}

interface VerbCase {
  args: string[];
  request: string[];
  answer: string;
  stdout: string;
  json: Record<string, unknown>;
}

const VERBS: VerbCase[] = [
  {
    args: ["info"],
    request: ["realmcmd_status \r\n \r\n"],
    answer: reply(
      0,
      'dtrealms parameters:\n     realm file         "r.realm"\n     active realms      1\n',
    ),
    stdout: 'dtrealms parameters:\n     realm file         "r.realm"\n     active realms      1\n',
    json: { code: 0, parameters: { "realm file": "r.realm", "active realms": "1" } },
  },
  {
    args: ["realmstatus"],
    request: ["realmcmd_realmstatus \r\n \r\n"],
    answer: reply(0, "alpha\tactive\t1/2/3/4\nbeta\tinactive\n"),
    stdout: "alpha\tactive\t1\t2\t3\t4\nbeta\tinactive\n",
    json: {
      code: 0,
      realms: [
        { name: "alpha", state: "active", counts: { normal: 1, zsk: 2, ksk: 3, kskPhase6: 4 } },
        { name: "beta", state: "inactive" },
      ],
    },
  },
  {
    args: ["startall"],
    request: ["realmcmd_startall \r\n1 \r\n"],
    answer: reply(0, "beta started"),
    stdout: "beta started\n",
    json: { code: 0, results: [{ realm: "beta", ok: true }] },
  },
  {
    args: ["stopall"],
    request: ["realmcmd_stopall \r\n0 \r\n"],
    answer: reply(0, "alpha stopped"),
    stdout: "alpha stopped\n",
    json: { code: 0, results: [{ realm: "alpha", ok: true }] },
  },
  {
    args: ["shutdown"],
    request: ["realmcmd_shutdown \r\n \r\n"],
    answer: reply(0, "dtrealms shutting down"),
    stdout: "dtrealms shutting down\n",
    json: { code: 0, message: "dtrealms shutting down" },
  },
  {
    args: ["logfile", "/var/log/d.log"],
    request: ["realmcmd_logfile \r\n/var/log/d.log \r\n"],
    answer: reply(0, 'logfile changed to "/var/log/d.log"'),
    stdout: 'logfile changed to "/var/log/d.log"\n',
    json: { code: 0, name: "OKAY" },
  },
  {
    args: ["loglevel", "phase"],
    request: ["realmcmd_loglevel \r\nphase \r\n"],
    answer: reply(0, 'loglevel changed from "info" to "phase"'),
    stdout: 'loglevel changed from "info" to "phase"\n',
    json: { code: 0, ok: true },
  },
  {
    args: ["logtz", "local"],
    request: ["realmcmd_logtz \r\nlocal \r\n"],
    answer: reply(0, "new logging timezone set"),
    stdout: "new logging timezone set\n",
    json: { code: 0, command: "realmcmd_logtz" },
  },
  {
    args: ["logmsg", "err", "disk", "full"],
    request: ["realmcmd_logmsg \r\n(err)disk full \r\n"],
    answer: reply(0, "message written to log"),
    stdout: "message written to log\n",
    json: { code: 0, message: "message written to log" },
  },
  {
    args: ["command", "alpha", "--", "rollctl", "-zonestatus"],
    request: ["realmcmd_command \r\nalpha rollctl -zonestatus \r\n"],
    answer: reply(0, "zone output\n\nreturn code - 0\n"),
    stdout: "zone output\n",
    json: { code: 0, output: "zone output\n", exit_code: 0 },
  },
  {
    args: ["start", "a", "b"],
    request: ["realmcmd_startrealm \r\na \r\n", "realmcmd_startrealm \r\nb \r\n"],
    answer: reply(0, "started"),
    stdout: "started\nstarted\n",
    json: { ok: true },
  },
  {
    args: ["stop", "a"],
    request: ["realmcmd_stoprealm \r\na \r\n"],
    answer: reply(0, 'realm "a" stopped'),
    stdout: 'realm "a" stopped\n',
    json: { ok: true },
  },
];

test("each readable verb sends the exact bytes and prints the reply (binary)", async () => {
  await withFake(() => "", async (fake, statedir) => {
    for (const c of VERBS) {
      fake.script = () => c.answer;
      fake.received.length = 0;
      const [verb, ...rest] = c.args;
      const r = await runSteward(["realms", verb as string, "--statedir", statedir, ...rest], bin);
      assert.equal(r.code, 0, `${c.args[0]}: ${r.stderr}`);
      assert.equal(r.stdout, c.stdout, c.args[0]);
      assert.deepEqual(fake.received, c.request, c.args[0]);
      const j = await runSteward(
        ["realms", verb as string, "--statedir", statedir, "--json", ...rest],
        bin,
      );
      assert.equal(j.code, 0);
      const parsed = JSON.parse(j.stdout) as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.json)) {
        assert.deepEqual(parsed[k], v, `${c.args[0]} ${k}`);
      }
    }
  });
});

test("send prints the reply and exits with its return code", async () => {
  await withFake(() => reply(4, 'unable to start realm "x"'), async (fake, statedir) => {
    const r = await runSteward([
      "realms",
      "send",
      "realmcmd_startrealm",
      "x",
      "--statedir",
      statedir,
    ], bin);
    assert.equal(r.code, 4);
    assert.equal(r.stdout, 'unable to start realm "x"\n');
    assert.equal(r.stderr, "");
    assert.deepEqual(fake.received, ["realmcmd_startrealm \r\nx \r\n"]);
    const j = await runSteward(
      ["realms", "send", "realmcmd_startrealm", "x", "--statedir", statedir, "--json"],
      bin,
    );
    assert.equal(j.code, 4);
    assert.deepEqual(JSON.parse(j.stdout), {
      command: "realmcmd_startrealm",
      code: 4,
      name: "BADREALM",
      ok: false,
      message: 'unable to start realm "x"',
    });
  });
});

test("send refuses unknown commands unless --no-verify", async () => {
  await withFake(() => reply(12, 'unknown command "realmcmd_bogus"'), async (fake, statedir) => {
    const r = await runSteward(["realms", "send", "realmcmd_bogus", "--statedir", statedir], bin);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown realm manager command: realmcmd_bogus/);
    assert.deepEqual(fake.received, []);
    const n = await runSteward(
      ["realms", "send", "realmcmd_bogus", "--no-verify", "--statedir", statedir],
      bin,
    );
    assert.equal(n.code, 12);
    assert.deepEqual(fake.received, ["realmcmd_bogus \r\n \r\n"]);
  });
});

test("start exits with the highest return code and reports each realm", async () => {
  await withFake(
    (req) => req.includes("\r\nbad ") ? reply(4, 'unable to start realm "bad"') : reply(0, "ok"),
    async (_fake, statedir) => {
      const r = await runSteward(["realms", "start", "good", "bad", "--statedir", statedir], bin);
      assert.equal(r.code, 4);
      assert.equal(r.stdout, "ok\n");
      assert.equal(r.stderr, 'steward: unable to start realm "bad"\n');
    },
  );
});

test("client commands say when no daemon runs, the state dir is too long or no answer comes", async () => {
  using tmp = tempDir("realmscli");
  const none = await runSteward(["realms", "status", "--statedir", tmp.path], bin);
  assert.equal(none.code, 200);
  assert.equal(
    none.stderr,
    `steward: The realm manager is not running: nothing listens on ${tmp.path}/dnssec-tools/realmmgr.socket\n`,
  );
  const long = await runSteward(["realms", "status", "--statedir", `/tmp/${"x".repeat(90)}`], bin);
  assert.equal(long.code, 201);
  assert.match(long.stderr, /Communications socket name was longer than allowed/);
  await withFake(() => "hang", async (_fake, statedir) => {
    const r = await runSteward(
      ["realms", "status", "--statedir", statedir, "--timeout", "0.3"],
      bin,
    );
    assert.equal(r.code, 202);
    assert.match(r.stderr, /No reply from the realm manager within 300 ms/);
  });
  await withFake(() => "", async (_fake, statedir) => {
    const r = await runSteward(["realms", "logfile", "x", "--statedir", statedir], bin);
    assert.equal(r.code, 202);
    assert.match(r.stderr, /closed the connection without a reply/);
  });
});

test("client commands with --json print running false on stdout when no daemon runs", async () => {
  using tmp = tempDir("realmscli");
  const socket = `${tmp.path}/dnssec-tools/realmmgr.socket`;
  const error = `The realm manager is not running: nothing listens on ${socket}`;
  for (
    const [args, command] of [
      [["info"], "realmcmd_status"],
      [["status"], "realmcmd_supervision"],
      [["realmstatus"], "realmcmd_realmstatus"],
      [["start", "alpha"], "realmcmd_startrealm"],
      [["stopall"], "realmcmd_stopall"],
      [["shutdown"], "realmcmd_shutdown"],
      [["send", "realmcmd_status"], "realmcmd_status"],
    ] as const
  ) {
    const r = await runSteward(["realms", ...args, "--json", "--statedir", tmp.path], bin);
    assert.equal(r.code, 200, args.join(" "));
    assert.deepEqual(JSON.parse(r.stdout), { command, running: false, socket, error });
    assert.equal(r.stderr, `steward: ${error}\n`);
  }
  const plain = await runSteward(["realms", "realmstatus", "--statedir", tmp.path], bin);
  assert.equal(plain.code, 200);
  assert.equal(plain.stdout, "", "without --json stdout stays empty");
});

test("bad values are usage errors and nothing is sent", async () => {
  await withFake(() => reply(0, ""), async (fake, statedir) => {
    for (
      const args of [
        ["loglevel", "7"],
        ["logtz", "mars"],
        ["logmsg", "loud", "x"],
        ["command", "alpha"],
        ["status", "--timeout", "soon"],
      ]
    ) {
      const r = await runSteward(["realms", ...args, "--statedir", statedir], bin);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    }
    assert.deepEqual(fake.received, []);
  });
});

test("loglevel without a level lists the levels", async () => {
  const r = await runSteward(["realms", "loglevel", "--json"], bin);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout).map((l: { name: string }) => l.name), [
    "tmi",
    "expire",
    "info",
    "phase",
    "err",
    "fatal",
  ]);
});

test("DT_STATEDIR locates the daemon when --statedir is absent (from source)", async () => {
  await withFake(() => reply(0, "hello"), async (fake, statedir) => {
    const r = await runSteward(["realms", "send", "realmcmd_status"], {
      env: { DT_STATEDIR: statedir },
      permissions: testPermissions(statedir, { unixSockets: [fake.socketPath] }),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
    assert.equal(path.dirname(fake.socketPath), path.join(statedir, "dnssec-tools"));
  });
});
