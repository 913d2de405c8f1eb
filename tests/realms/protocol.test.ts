import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decodeRealmReply,
  decodeRealmRequest,
  encodeRealmReply,
  encodeRealmRequest,
  RealmReplyParser,
  RealmRequestParser,
} from "../../lib/realms/protocol/framing.ts";
import {
  encodeRealmCommandData,
  encodeRealmLogMessage,
  formatRealmManagerStatus,
  formatRealmStatusBody,
  formatRealmStatusLikeRealmctl,
  parseRealmBatchBody,
  parseRealmCommandData,
  parseRealmCommandOutput,
  parseRealmDisplayData,
  parseRealmLogLevel,
  parseRealmLogMessage,
  parseRealmLogTz,
  parseRealmManagerStatus,
  parseRealmStatusBody,
  REALM_REPLY,
  REALMCMD_DATA,
  realmManagerStatusBody,
} from "../../lib/realms/protocol/bodies.ts";
import {
  REALM_COMMANDS,
  REALM_RC,
  REALMCMD,
  realmReturnCodeName,
  realmReturnConstant,
  verifyRealmCommand,
} from "../../lib/realms/protocol/codes.ts";
import { RealmError } from "../../lib/realms/errors.ts";

const bytes = (s: string) => Buffer.from(s, "latin1");

test("encodeRealmRequest writes the upstream bytes", () => {
  assert.equal(
    encodeRealmRequest("realmcmd_status").toString("latin1"),
    "realmcmd_status \r\n \r\n",
  );
  assert.equal(
    encodeRealmRequest(REALMCMD.STOPREALM, "foo").toString("latin1"),
    "realmcmd_stoprealm \r\nfoo \r\n",
  );
  assert.equal(
    encodeRealmRequest(REALMCMD.COMMAND, "alpha rollctl -zonestatus").toString("latin1"),
    "realmcmd_command \r\nalpha rollctl -zonestatus \r\n",
  );
});

test("encodeRealmRequest refuses unknown commands, line breaks and over-long lines", () => {
  assert.throws(() => encodeRealmRequest("realmcmd_bogus"), { kind: "invalid" });
  assert.equal(
    encodeRealmRequest("realmcmd_bogus", "", { verify: false }).toString(),
    "realmcmd_bogus \r\n \r\n",
  );
  assert.throws(() => encodeRealmRequest(REALMCMD.LOGMSG, "a\nb"), { kind: "invalid" });
  assert.throws(() => encodeRealmRequest(REALMCMD.LOGMSG, "a\rb"), { kind: "invalid" });
  assert.throws(() => encodeRealmRequest(REALMCMD.LOGMSG, "x".repeat(9000)), { kind: "limit" });
});

test("the request parser accepts the upstream form byte by byte", () => {
  const p = new RealmRequestParser();
  const all = bytes("realmcmd_stoprealm \r\nfoo \r\n");
  let got;
  for (const b of all) got = p.push(Uint8Array.of(b)) ?? got;
  assert.deepEqual(got, { command: "realmcmd_stoprealm", data: "foo" });
  assert.deepEqual(decodeRealmRequest(bytes("realmcmd_status \r\n \r\n")), {
    command: "realmcmd_status",
    data: "",
  });
});

test("the request parser keeps data spaces and accepts looser line ends", () => {
  assert.deepEqual(decodeRealmRequest(bytes("realmcmd_logmsg \r\n(info)two  words  \r\n")), {
    command: "realmcmd_logmsg",
    data: "(info)two  words ",
  });
  assert.deepEqual(decodeRealmRequest(bytes("realmcmd_status\r\n\r\n")), {
    command: "realmcmd_status",
    data: "",
  });
  assert.deepEqual(decodeRealmRequest(bytes("realmcmd_startrealm\nalpha\n")), {
    command: "realmcmd_startrealm",
    data: "alpha",
  });
});

test("the request parser completes a request whose client stopped after the command line", () => {
  const p = new RealmRequestParser();
  assert.equal(p.push(bytes("realmcmd_status \r\n")), undefined);
  assert.deepEqual(p.end(), { command: "realmcmd_status", data: "" });
});

test("the request parser rejects empty, NUL and over-long requests", () => {
  assert.throws(() => new RealmRequestParser().end(), { kind: "protocol" });
  assert.throws(() => decodeRealmRequest(bytes(" \r\n \r\n")), { kind: "protocol" });
  assert.throws(() => decodeRealmRequest(bytes("realmcmd_status\0 \r\n \r\n")), {
    kind: "protocol",
  });
  const p = new RealmRequestParser({ maxLine: 64 });
  assert.throws(() => p.push(bytes("x".repeat(100))), { kind: "limit" });
  assert.throws(
    () => decodeRealmRequest(bytes(`realmcmd_status \r\n${"y".repeat(70)} \r\n`), { maxLine: 64 }),
    { kind: "limit" },
  );
});

test("encodeRealmReply writes the upstream bytes", () => {
  assert.equal(
    encodeRealmReply({ code: 0, message: REALM_REPLY.realmStarted("beta") }).toString(),
    '0 \r\nrealm "beta" started \r\n',
  );
  assert.equal(
    encodeRealmReply({ code: 7, message: REALM_REPLY.noActiveRealms }).toString(),
    "7 \r\nno active realms \r\n",
  );
  assert.equal(
    encodeRealmReply({ code: 8, message: REALM_REPLY.incompleteCommand }).toString(),
    "8 \r\nincomplete realm-command; must have both realm and command arguments. \r\n",
  );
  assert.throws(() => encodeRealmReply({ code: -1, message: "" }), RealmError);
});

test("decodeRealmReply reads to EOF and strips one terminator", () => {
  assert.deepEqual(
    decodeRealmReply(bytes("0 \r\nalpha\tactive\t1/1/1/1\nbeta\tinactive\ngamma\tinactive\n \r\n")),
    { code: 0, message: "alpha\tactive\t1/1/1/1\nbeta\tinactive\ngamma\tinactive\n" },
  );
  assert.deepEqual(decodeRealmReply(bytes('4 \r\nunable to start realm "x" \r\n')), {
    code: 4,
    message: 'unable to start realm "x"',
  });
  assert.deepEqual(decodeRealmReply(bytes("0 \r\n \r\n")), { code: 0, message: "" });
});

test("decodeRealmReply reports an empty reply, a bad code and an oversized reply", () => {
  assert.throws(() => decodeRealmReply(new Uint8Array()), { kind: "no-reply" });
  assert.throws(() => decodeRealmReply(bytes("ok \r\nfine \r\n")), { kind: "protocol" });
  const p = new RealmReplyParser({ maxReply: 10 });
  assert.throws(() => p.push(bytes("0 \r\n0123456789")), { kind: "limit" });
});

test("command verification knows exactly upstream's fifteen command strings and steward's one", () => {
  assert.equal(REALM_COMMANDS.length, 16);
  assert.ok(REALM_COMMANDS.includes("realmcmd_supervision"));
  for (const c of REALM_COMMANDS) assert.ok(verifyRealmCommand(c), c);
  assert.equal(verifyRealmCommand("realmcmd_bogus"), false);
  assert.equal(verifyRealmCommand("REALMCMD_STATUS"), false);
  assert.equal(verifyRealmCommand("g-realmcmd_status"), false);
  assert.equal(verifyRealmCommand(""), false);
});

test("return codes keep the upstream numbers and names", () => {
  const upstream = [
    "OKAY",
    "BADLEVEL",
    "BADFILE",
    "BADSLEEP",
    "BADREALM",
    "BADTZ",
    "REALMOPEN",
    "NOREALMS",
    "BADREALMDATA",
    "DISPLAY",
    "NOARGS",
    "BADEVENT",
  ];
  upstream.forEach((name, code) => {
    assert.equal(REALM_RC[name as keyof typeof REALM_RC], code);
    assert.equal(realmReturnConstant(code), `REALMCMD_RC_${name}`);
  });
  assert.equal(realmReturnCodeName(12), "BADCOMMAND");
  assert.equal(realmReturnCodeName(99), undefined);
});

test("command data splits on whitespace like dtrealms", () => {
  assert.deepEqual(parseRealmCommandData("alpha rollctl  -zonestatus"), {
    realm: "alpha",
    argv: ["rollctl", "-zonestatus"],
  });
  assert.equal(parseRealmCommandData("alpha"), undefined);
  assert.equal(parseRealmCommandData("  "), undefined);
  assert.equal(encodeRealmCommandData("alpha", ["ls", "-l"]), "alpha ls -l");
  assert.throws(() => encodeRealmCommandData("alpha", ["a b"]), { kind: "invalid" });
  assert.throws(() => encodeRealmCommandData("alpha", []), { kind: "invalid" });
});

test("log levels, log messages and time zones parse as rolllog accepts them", () => {
  assert.deepEqual(parseRealmLogLevel("TMI"), { name: "tmi", level: 1 });
  assert.deepEqual(parseRealmLogLevel("6"), { name: "phase", level: 6 });
  for (const bad of ["2", "5", "7", "never", "always", "", "loud"]) {
    assert.equal(parseRealmLogLevel(bad), undefined, bad);
  }
  assert.equal(encodeRealmLogMessage("err", "disk full"), "(err)disk full");
  assert.throws(() => encodeRealmLogMessage("7", "x"), { kind: "invalid" });
  assert.deepEqual(parseRealmLogMessage("(info)hello (world)"), {
    level: "info",
    message: "hello (world)",
  });
  assert.equal(parseRealmLogMessage("hello"), undefined);
  assert.equal(parseRealmLogTz("GMT"), "gmt");
  assert.equal(parseRealmLogTz("local"), "local");
  assert.equal(parseRealmLogTz(""), "");
  assert.equal(parseRealmLogTz("utc"), undefined);
});

test("the status body has dtrealms' layout and parses back", () => {
  const text = formatRealmManagerStatus([
    { label: "realm file", value: "demo.realm", quoted: true },
    { label: "directory", value: "/srv", quoted: true },
    { label: "active realms", value: "2", quoted: false },
  ]);
  assert.equal(
    text,
    'dtrealms parameters:\n     realm file         "demo.realm"\n     directory          "/srv"\n' +
      "     active realms      2\n",
  );
  assert.deepEqual(parseRealmManagerStatus(text), [
    { label: "realm file", value: "demo.realm", quoted: true },
    { label: "directory", value: "/srv", quoted: true },
    { label: "active realms", value: "2", quoted: false },
  ]);
});

test("the daemon's status body: upstream's labels in upstream's order, counts unquoted", () => {
  const text = realmManagerStatusBody({
    realmsFile: "demo.realm",
    directory: ".",
    configFile: "/usr/local/etc/dnssec-tools/dnssec-tools.conf",
    logFile: "log.dtrealms",
    logLevel: "4",
    logTz: "GMT",
    runningAs: "dt",
    activeRealms: 1,
    inactiveRealms: 2,
  });
  assert.equal(
    text,
    "dtrealms parameters:\n" +
      '     realm file         "demo.realm"\n' +
      '     directory          "."\n' +
      '     config file        "/usr/local/etc/dnssec-tools/dnssec-tools.conf"\n' +
      '     logfile            "log.dtrealms"\n' +
      '     loglevel           "4"\n' +
      '     logtz              "GMT"\n' +
      '     running as         "dt"\n' +
      "     active realms      1\n" +
      "     inactive realms    2\n",
  );
});

test("display data: 1, 1 HOST:PORT or 0, and nothing else", () => {
  assert.equal(REALMCMD_DATA.display(true), "1");
  assert.equal(REALMCMD_DATA.display(true, " 127.0.0.1:9000 "), "1 127.0.0.1:9000");
  assert.equal(REALMCMD_DATA.display(true, ""), "1");
  assert.equal(REALMCMD_DATA.display(false, "ignored:1"), "0");
  assert.deepEqual(parseRealmDisplayData(" 1 "), { on: true, listen: "" });
  assert.deepEqual(parseRealmDisplayData("1 [::1]:80"), { on: true, listen: "[::1]:80" });
  assert.deepEqual(parseRealmDisplayData("0"), { on: false, listen: "" });
  for (const bad of ["", "2", "on", "0 h:1", "1 h:1 x"]) {
    assert.equal(parseRealmDisplayData(bad), undefined, JSON.stringify(bad));
  }
});

test("the realmstatus body round-trips and prints like realmctl", () => {
  const body = formatRealmStatusBody([
    { name: "alpha", state: "active", counts: { normal: 1, zsk: 1, ksk: 1, kskPhase6: 1 } },
    { name: "beta", state: "inactive" },
    { name: "gamma", state: "active", detail: "(no data available)" },
  ]);
  assert.equal(
    body,
    "alpha\tactive\t1/1/1/1\nbeta\tinactive\ngamma\tactive\t(no data available)\n",
  );
  assert.deepEqual(parseRealmStatusBody(body)[0], {
    name: "alpha",
    state: "active",
    counts: { normal: 1, zsk: 1, ksk: 1, kskPhase6: 1 },
  });
  assert.equal(formatRealmStatusBody([]), "no managed realms");
  assert.deepEqual(parseRealmStatusBody("no managed realms"), []);
  assert.equal(
    formatRealmStatusLikeRealmctl("alpha\tactive\t1/2/3/4\nbe\tinactive\n"),
    "alpha    active      normal: 1    ZSK: 2    KSK: 3    KSK phase 6: 4\nbe       inactive\n",
  );
  assert.equal(formatRealmStatusLikeRealmctl("no managed realms"), "no managed realms\n");
});

test("batch bodies and command output parse", () => {
  assert.deepEqual(parseRealmBatchBody("a started\nb not started"), [
    { realm: "a", ok: true },
    { realm: "b", ok: false },
  ]);
  assert.deepEqual(parseRealmCommandOutput(REALM_REPLY.commandOutput("hi\nthere", 3)), {
    output: "hi\nthere",
    exitCode: 3,
  });
});

// A small deterministic generator, so that a failure can be replayed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("random bytes never make the parsers throw anything but a RealmError", () => {
  const rnd = prng(42);
  const alphabet = Buffer.from("realmcmd_status \r\n\t\0\xff(info)0123456789 ", "latin1");
  for (let i = 0; i < 2000; i++) {
    const len = Math.floor(rnd() * 200);
    const bytes = Buffer.alloc(len);
    for (let j = 0; j < len; j++) {
      bytes[j] = rnd() < 0.8
        ? alphabet[Math.floor(rnd() * alphabet.length)]!
        : Math.floor(rnd() * 256);
    }
    for (
      const parse of [
        () => decodeRealmRequest(bytes, { maxLine: 64 }),
        () => decodeRealmReply(bytes),
      ]
    ) {
      try {
        parse();
      } catch (e) {
        assert.ok(e instanceof RealmError, `unexpected ${String(e)} for ${bytes.toString("hex")}`);
      }
    }
  }
});
