import { after, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { runSteward, tempDir, testPermissions, waitFor } from "../helpers.ts";
import { type FakeRealmd, reply, startFakeRealmd } from "./fakerealmd.ts";

const bin = { via: "binary" as const };
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) {
    if (c.pid && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
});

function ctl(statedir: string, ...args: string[]) {
  return runSteward(["realms", "ctl", "-statedir", statedir, ...args], bin);
}

async function withFake<T>(
  answer: (request: string) => string | "hang",
  fn: (fake: FakeRealmd, statedir: string) => Promise<T>,
): Promise<T> {
  using tmp = tempDir("realmctl");
  const fake = await startFakeRealmd(tmp.path, answer);
  try {
    return await fn(fake, tmp.path);
  } finally {
    await fake.close();
  }
}

test("realms ctl without arguments prints realmctl's usage on stderr and exits 0", async () => {
  const r = await runSteward(["realms", "ctl"], bin);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "");
  assert.ok(
    r.stderr.startsWith(
      `usage:  realmctl [options] \n\t-allstart${" ".repeat(24)}start all realms\n`,
    ),
    r.stderr,
  );
});

test("realms ctl checks its options like realmctl", async () => {
  using tmp = tempDir("realmctl");
  const cases: [string[], number, string][] = [
    [["-status", "-realmstatus"], 3, "only one command argument may be specified per execution\n"],
    [["-quiet"], 5, "a command argument must be specified\n"],
    [
      ["-cmd", "--", "alpha"],
      4,
      "-command requires at least two arguments -- <realm> <command> <arguments>\n",
    ],
    [["-status"], 200, "dtrealms is not running\n"],
    [["-halt", "now"], 200, "dtrealms is not running\n"],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await ctl(tmp.path, ...args);
    assert.equal(r.code, code, args.join(" "));
    assert.equal(r.stderr, stderr, args.join(" "));
  }
  const ambiguous = await ctl(tmp.path, "-st");
  assert.equal(ambiguous.code, 0);
  assert.match(
    ambiguous.stderr,
    /^Option st is ambiguous \(startrealm, status, stoprealm\)\nusage:/,
  );
  const unknown = await ctl(tmp.path, "-bogus");
  assert.equal(unknown.code, 0);
  assert.match(unknown.stderr, /^Unknown option: bogus\nusage:/);
  const long = await runSteward(
    ["realms", "ctl", "-status", "-statedir", `/tmp/${"y".repeat(80)}`],
    bin,
  );
  assert.equal(long.code, 201);
  assert.equal(long.stderr, "realmctl:  configuration checks failed, can't send commands\n");
});

test("realms ctl -loglevel lists the levels; -Version prints the version", async () => {
  const r = await runSteward(["realms", "ctl", "-loglevel"], bin);
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    "valid dtrealms logging levels:\n\ttmi\t\t(1)\n\texpire\t\t(3)\n\tinfo\t\t(4)\n\tphase\t\t(6)\n" +
      "\terr\t\t(8)\n\tfatal\t\t(9)\n",
  );
  const v = await runSteward(["realms", "ctl", "-Version"], bin);
  assert.equal(v.code, 0);
  assert.match(v.stderr, /^realmctl version: \S+ \(steward\)\n$/);
});

test("realms ctl sends each command with realmctl's bytes and prints its messages", async () => {
  await withFake(() => "", async (fake, statedir) => {
    const cases: {
      args: string[];
      answer: string;
      request: string[];
      code: number;
      stdout: string;
      stderr?: string;
    }[] = [
      {
        args: ["-status"],
        answer: reply(0, 'dtrealms parameters:\n     logtz              "gmt"\n'),
        request: ["realmcmd_status \r\n \r\n"],
        code: 0,
        stdout: 'dtrealms parameters:\n     logtz              "gmt"\n',
      },
      {
        args: ["-realm"], // a unique abbreviation of -realmstatus
        answer: reply(0, "alpha\tactive\t1/1/1/1\nbeta\tinactive\ngamma\tinactive\n"),
        request: ["realmcmd_realmstatus \r\n \r\n"],
        code: 0,
        stdout: "alpha    active      normal: 1    ZSK: 1    KSK: 1    KSK phase 6: 1\n" +
          "beta     inactive\ngamma    inactive\n",
      },
      {
        args: ["-startrealm", "a", "b"],
        answer: reply(0, "ok"),
        request: ["realmcmd_startrealm \r\na \r\n", "realmcmd_startrealm \r\nb \r\n"],
        code: 0,
        stdout: "realm a started\nrealm b started\n",
      },
      {
        args: ["-stoprealm", "a", "b"],
        answer: reply(4, 'unable to stop realm "x"'),
        request: ["realmcmd_stoprealm \r\na \r\n", "realmcmd_stoprealm \r\nb \r\n"],
        code: 2,
        stdout: "",
        stderr: 'unable to stop realm a:  "unable to stop realm "x""\n' +
          'unable to stop realm b:  "unable to stop realm "x""\n',
      },
      {
        args: ["-allstart"],
        answer: reply(0, "a started\nb started"),
        request: ["realmcmd_startall \r\n1 \r\n"],
        code: 0,
        stdout: "a started\nb started\n",
      },
      {
        args: ["-allstop"],
        answer: reply(7, "no active realms"),
        request: ["realmcmd_stopall \r\n0 \r\n"],
        code: 1,
        stdout: "",
        stderr: "no active realms\n",
      },
      {
        args: ["-command", "--", "alpha", "rollctl", "-zonestatus"],
        answer: reply(0, "out\n\nreturn code - 0\n"),
        request: ["realmcmd_command \r\nalpha rollctl -zonestatus \r\n"],
        code: 0,
        stdout: "command executed on realm\nreturned:\nout\n\nreturn code - 0\n",
      },
      {
        args: ["-cmd", "--", "alpha", "sleep", "99"],
        answer: reply(11, "realm command timed out"),
        request: ["realmcmd_command \r\nalpha sleep 99 \r\n"],
        code: 0,
        stdout: "realm command timed out\n",
      },
      {
        args: ["-logfile", "/var/log/x"],
        answer: reply(2, 'unable to change logfile to "/var/log/x"'),
        request: ["realmcmd_logfile \r\n/var/log/x \r\n"],
        code: 1,
        stdout: "",
        stderr: 'log-level set failed:  unable to change logfile to "/var/log/x"\n',
      },
      {
        args: ["-loglevel", "phase"],
        answer: reply(0, "x"),
        request: ["realmcmd_loglevel \r\nphase \r\n"],
        code: 0,
        stdout: "dtrealms log level set to phase\n",
      },
      {
        args: ["-loglevel", "7"],
        answer: reply(0, "x"),
        request: [],
        code: 1,
        stdout: "",
        stderr: "invalid dtrealms log level: 7\n",
      },
      {
        args: ["-logtz", "local"],
        answer: reply(0, "new logging timezone set"),
        request: ["realmcmd_logtz \r\nlocal \r\n"],
        code: 0,
        stdout: "dtrealms log timezone set to local\n",
      },
      {
        args: ["-display"],
        answer: reply(13, "realmcmd_display is not available yet"),
        request: ["realmcmd_display \r\n1 \r\n"],
        code: 1,
        stdout: "",
        stderr: "dtrealms display not started\n",
      },
      {
        args: ["-nodisplay"],
        answer: reply(13, "realmcmd_display is not available yet"),
        request: ["realmcmd_display \r\n0 \r\n"],
        code: 1,
        stdout: "",
        stderr: "dtrealms display not stopped\n",
      },
      {
        args: ["-halt"],
        answer: reply(0, "dtrealms shutting down"),
        request: ["realmcmd_shutdown \r\n \r\n"],
        code: 0,
        stdout: "dtrealms shutting down\n",
      },
      {
        args: ["-quiet", "-shutdown"],
        answer: reply(0, "dtrealms shutting down"),
        request: ["realmcmd_shutdown \r\n \r\n"],
        code: 0,
        stdout: "",
      },
      {
        args: ["--status"], // Getopt::Long takes double dashes too
        answer: reply(0, "s\n"),
        request: ["realmcmd_status \r\n \r\n"],
        code: 0,
        stdout: "s\n",
      },
    ];
    for (const c of cases) {
      fake.script = () => c.answer;
      fake.received.length = 0;
      const r = await ctl(statedir, ...c.args);
      const what = c.args.join(" ");
      assert.equal(r.code, c.code, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, c.stdout, what);
      assert.equal(r.stderr, c.stderr ?? "", what);
      // The running check connects without sending anything; only requests count here.
      assert.deepEqual(fake.received.filter((x) => x !== ""), c.request, what);
    }
  });
});

test("realms ctl -halt now without a pid file fails without signalling anything", async () => {
  await withFake(() => reply(0, ""), async (_fake, statedir) => {
    const r = await ctl(statedir, "-halt", "now");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "realmctl:  unable to send immediate SHUTDOWN\n");
  });
});

test("realms ctl counts an empty reply as a failure, unlike upstream", async () => {
  await withFake(() => "", async (_fake, statedir) => {
    const c = await ctl(statedir, "-cmd", "--", "alpha", "ls");
    assert.equal(c.code, 1);
    assert.equal(c.stdout, "");
    assert.equal(
      c.stderr,
      "realmctl:  The realm manager closed the connection without a reply\n",
    );
    const r = await ctl(statedir, "-logtz", "gmt");
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "log-tz set failed:  The realm manager closed the connection without a reply\n",
    );
  });
});

test("realms ctl nudges the daemon with SIGHUP and -halt now sends SIGINT", async () => {
  await withFake(() => reply(0, "ok\n"), async (_fake, statedir) => {
    const daemon = spawn(
      "sh",
      [
        "-c",
        'trap "echo HUP" HUP; trap "echo INT; exit 0" INT; while :; do sleep 0.05; done',
        "dtrealms",
      ],
    );
    children.push(daemon);
    let out = "";
    daemon.stdout?.on("data", (d) => (out += d));
    await new Promise((r) => setTimeout(r, 100));
    fs.mkdirSync(path.join(statedir, "run"), { recursive: true });
    fs.writeFileSync(path.join(statedir, "run", "realmmgr.pid"), `${daemon.pid}\n`);
    const s = await ctl(statedir, "-status");
    assert.equal(s.code, 0);
    await waitFor(() => out.includes("HUP"), 3000, "SIGHUP after the request");
    const h = await ctl(statedir, "-halt", "now");
    assert.equal(h.code, 0);
    assert.equal(h.stderr, "realmctl:  immediate SHUTDOWN notice sent to dtrealms\n");
    await waitFor(() => out.includes("INT"), 3000, "SIGINT");
  });
});

test("realms ctl from source, with only the kill program allowed to run, still signals", async () => {
  await withFake(() => reply(0, "ok\n"), async (fake, statedir) => {
    const daemon = spawn("sh", [
      "-c",
      'trap "echo HUP" HUP; trap "echo INT; exit 0" INT; while :; do sleep 0.05; done',
      "dtrealms",
    ]);
    children.push(daemon);
    let out = "";
    daemon.stdout?.on("data", (d) => (out += d));
    await new Promise((r) => setTimeout(r, 100));
    fs.mkdirSync(path.join(statedir, "run"), { recursive: true });
    fs.writeFileSync(path.join(statedir, "run", "realmmgr.pid"), `${daemon.pid}\n`);
    const permissions = testPermissions(statedir, {
      unixSockets: [fake.socketPath],
      run: ["kill"],
    });
    const s = await runSteward(["realms", "ctl", "-statedir", statedir, "-status"], {
      permissions,
    });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, "ok\n");
    await waitFor(() => out.includes("HUP"), 3000, "SIGHUP after the request");
    const h = await runSteward(["realms", "ctl", "-statedir", statedir, "-halt", "now"], {
      permissions,
    });
    assert.equal(h.code, 0, h.stderr);
    await waitFor(() => out.includes("INT"), 3000, "SIGINT");
  });
});

test("realms ctl makes no probe connection, so an upstream dtrealms sees only the request", async () => {
  await withFake(() => reply(0, "dtrealms parameters:\n"), async (fake, statedir) => {
    const r = await ctl(statedir, "-status");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.received, ["realmcmd_status \r\n \r\n"], "exactly one connection");
  });
});

test("realms ctl says a timed-out request may still run later, and a stale socket is not running", async () => {
  await withFake(() => "hang", async (_fake, statedir) => {
    const r = await ctl(statedir, "-timeout", "0.5", "-stoprealm", "a");
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /within 500 ms; the request was sent and may still be carried out later/,
    );
  });
  using tmp = tempDir("realmctl");
  const fake = await startFakeRealmd(tmp.path, () => "");
  await fake.close(); // the socket file stays, nobody listens
  const sock = path.join(tmp.path, "dnssec-tools", "realmmgr.socket");
  if (!fs.existsSync(sock)) {
    // Some runtimes remove the path on close: make a stale one.
    const net = await import("node:net");
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(sock, resolve));
    fs.linkSync(sock, `${sock}.keep`);
    await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.renameSync(`${sock}.keep`, sock);
  }
  const r = await ctl(tmp.path, "-status");
  assert.equal(r.code, 200);
  assert.equal(r.stderr, "dtrealms is not running\n");
});
