import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tempDir, waitFor } from "../helpers.ts";
import {
  parseRealmsFile,
  readRealmsFile,
  RealmsFile,
  resolveRealmPaths,
  updateRealmsFile,
  writeRealmsFile,
} from "../../lib/realms/realmsfile.ts";
import { acquireRealmsLock } from "../../lib/realms/lock.ts";
import { realmLockFile } from "../../lib/realms/paths.ts";
import { RealmError } from "../../lib/realms/errors.ts";

// spec §9.4
const SPEC_EXAMPLE = `; realms for host ns1
realm "prod"
	state		"active"
	configdir	"/srv/realms/prod/conf"
	statedir	"/srv/realms/prod/state"
	realmdir	"/srv/realms/prod/zones"
	rollrec		"prod.rollrec"
	administrator	"hostmaster@example.net"
	display		"1"
	manager		"rollerd"
	args		"-sleep 3600 -loglevel phase -logfile log.prod"

realm "lab"
	state		"inactive"
	configdir	"/srv/realms/lab/conf"
	realmdir	"/srv/realms/lab/zones"
	rollrec		"lab.rollrec"
	args		"-loglevel tmi"
`;

// Shaped like upstream's demo file: relative directories, commented-out user lines.
const DEMO = `#
# Realms file for the dtrealms demo.
#

realm "example"
	state		"active"
	realmdir	"r-example"
	configdir	"configs/example"
	statedir	"states/example"
	rollrec		"demo-example.rollrec"
	administrator	"bob@example.com"
	display		"1"
#	user		"bob"
	manager		"rollerd"
	args		"-loglevel phase -logfile log.example -sleep 15"

realm "test"
	state		"inactive"
	realmdir	"r-test"
	configdir	"configs/test"
	rollrec		"demo-test.rollrec"
	display		"0"
;	user		"alice"
`;

test("the spec example parses with every field", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  assert.deepEqual(doc.names(), ["prod", "lab"]);
  assert.deepEqual(doc.get("prod"), {
    name: "prod",
    line: 2,
    fields: {
      state: "active",
      configdir: "/srv/realms/prod/conf",
      statedir: "/srv/realms/prod/state",
      realmdir: "/srv/realms/prod/zones",
      rollrec: "prod.rollrec",
      administrator: "hostmaster@example.net",
      display: "1",
      manager: "rollerd",
      args: "-sleep 3600 -loglevel phase -logfile log.prod",
    },
  });
  assert.equal(doc.value("lab", "statedir"), undefined);
  assert.equal(doc.warnings.length, 0);
});

test("a realms file is written back byte for byte when nothing changed", () => {
  for (const text of [SPEC_EXAMPLE, DEMO, "", "\n\n\n", 'realm "a"\n\tstate "active"']) {
    assert.equal(parseRealmsFile(text).toString(), text);
  }
});

test("setField replaces a value in place and keeps comments and layout", () => {
  const doc = parseRealmsFile(DEMO);
  doc.setField("example", "state", "inactive");
  assert.equal(doc.toString(), DEMO.replace('state\t\t"active"', 'state\t\t"inactive"'));
});

test("setField inserts a new field right after the realm line with upstream spacing", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  doc.setField("lab", "statedir", "/srv/realms/lab/state");
  doc.setField("lab", "user", "named");
  const lines = doc.toString().split("\n");
  const at = lines.indexOf('realm "lab"');
  assert.equal(lines[at + 1], '\tuser\t\t"named"');
  assert.equal(lines[at + 2], '\tstatedir\t"/srv/realms/lab/state"');
  assert.equal(doc.value("lab", "statedir"), "/srv/realms/lab/state");
});

test("setField on an unknown realm appends a stanza", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  doc.setField("new", "state", "inactive");
  assert.ok(
    doc.toString().endsWith('\targs\t\t"-loglevel tmi"\n\nrealm\t"new"\n\tstate\t\t"inactive"\n'),
  );
});

test("a new stanza never leaves two blank lines or a leading blank line", () => {
  const doc = parseRealmsFile('realm "a"\n\tstate "active"\n\n');
  doc.setField("b", "state", "inactive");
  assert.equal(
    doc.toString(),
    'realm "a"\n\tstate "active"\n\nrealm\t"b"\n\tstate\t\t"inactive"\n',
  );
  const empty = RealmsFile.empty();
  empty.setField("c", "manager", "sleep");
  assert.equal(empty.toString(), 'realm\t"c"\n\tmanager\t\t"sleep"\n');
});

test("addRealm writes upstream field order, unknown fields after, and a blank line", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  doc.addRealm("dns", {
    args: "-x",
    restart_max: "5",
    state: "active",
    configdir: "/c",
    realmdir: "/r",
    manager: "sleep",
  });
  assert.ok(
    doc.toString().endsWith(
      '\targs\t\t"-loglevel tmi"\n\nrealm\t"dns"\n\tstate\t\t"active"\n\trealmdir\t"/r"\n' +
        '\tconfigdir\t"/c"\n\tmanager\t\t"sleep"\n\targs\t\t"-x"\n\trestart_max\t"5"\n\n',
    ),
  );
  assert.throws(() => doc.addRealm("dns"), { kind: "invalid" });
});

test("unknown fields survive reads and edits", () => {
  const text = 'realm "a"\n\tstate "active"\n\tautostart_backoff "2"\n\tDisplay "1"\n';
  const doc = parseRealmsFile(text);
  assert.equal(doc.value("a", "autostart_backoff"), "2");
  assert.equal(doc.value("a", "Display"), "1");
  doc.setField("a", "state", "inactive");
  assert.match(doc.toString(), /autostart_backoff "2"\n\tDisplay "1"\n$/);
});

test("removeRealm and renameRealm keep the other stanzas intact", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  doc.renameRealm("lab", "lab2");
  assert.deepEqual(doc.names(), ["prod", "lab2"]);
  assert.ok(doc.removeRealm("prod"));
  assert.equal(
    doc.toString(),
    "; realms for host ns1\n\n" + SPEC_EXAMPLE.split("\n\n")[1]?.replace('"lab"', '"lab2"'),
  );
  assert.equal(doc.removeRealm("nope"), false);
});

test("deleteField removes the field line only", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  assert.ok(doc.deleteField("prod", "display"));
  assert.equal(doc.toString(), SPEC_EXAMPLE.replace('\tdisplay\t\t"1"\n', ""));
  assert.equal(doc.deleteField("prod", "display"), false);
});

test("CRLF files and non-UTF-8 comment bytes survive an edit", () => {
  const text = '# caf\xe9 \xff\r\nrealm "a"\r\n\tstate\t\t"active"\r\n';
  const doc = parseRealmsFile(text);
  doc.setField("a", "state", "inactive");
  doc.setField("a", "user", "bob");
  assert.equal(
    doc.toString(),
    '# caf\xe9 \xff\r\nrealm "a"\r\n\tuser\t\t"bob"\r\n\tstate\t\t"inactive"\r\n',
  );
});

test("a byte order mark before the first line is kept and ignored", () => {
  const text = '\xef\xbb\xbfrealm "a"\n\tstate "active"\n';
  const doc = parseRealmsFile(text);
  assert.deepEqual(doc.names(), ["a"]);
  doc.renameRealm("a", "b");
  assert.equal(doc.toString(), '\xef\xbb\xbfrealm "b"\n\tstate "active"\n');
});

test("a bad line never refuses the file: what upstream drops is read or ignored, by number", () => {
  const text = [
    'state "active"', // 1: before any realm: ignored
    'realm "a"', // 2
    "\targs '-x'", // 3: single quotes: read unquoted, warning
    '\targs "-x=1 <in >out; @x"', // 4: characters upstream drops: read, warning
    "\tjust some words", // 5: unquoted value, warning
    '\tstate "active" trailing', // 6: warning only
    'realm "a"', // 7: duplicate: ignored
    '\tstate "inactive"', // 8: belongs to the ignored duplicate
    'realm ""', // 9: empty name: ignored
    'realm "bad=name"', // 10: read, warning
    '\tallowcommands "*"', // 11: read, warning
    '\tadministrator "h\xe9l\xe8ne@example.net"', // 12: non-ASCII, read, warning
    "!!!", // 13: not a keyword line: ignored
  ].join("\n");
  const doc = parseRealmsFile(text, { file: "x.realm" });
  const by = (sev: string) => doc.warnings.filter((i) => i.severity === sev).map((i) => i.line);
  assert.deepEqual(by("error"), [1, 7, 8, 9, 13]);
  assert.deepEqual(by("warning"), [3, 4, 4, 5, 6, 10, 11, 12]);
  assert.deepEqual(doc.names(), ["a", "bad=name"]);
  assert.equal(doc.value("a", "args"), "-x=1 <in >out; @x");
  assert.equal(doc.value("a", "just"), "some words");
  assert.equal(doc.value("a", "state"), "active");
  assert.equal(doc.value("bad=name", "allowcommands"), "*");
  // Edits keep every line they do not touch, the unreadable ones included.
  doc.setField("a", "state", "inactive");
  assert.equal(doc.toString(), text.replace('"active" trailing', '"inactive" trailing'));
});

test("repeated fields are accepted with a warning and the last value wins", () => {
  const doc = parseRealmsFile('realm "a"\n\tstate "active"\n\tstate "inactive"\n');
  assert.equal(doc.value("a", "state"), "inactive");
  assert.equal(doc.warnings[0]?.line, 3);
});

test("an edit that would break the file is refused and changes nothing", () => {
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  assert.throws(() => doc.setField("prod", "args", "-x=1"), { kind: "invalid" });
  assert.throws(() => doc.setField("prod", "args", 'a"b'), { kind: "invalid" });
  assert.throws(() => doc.setField("prod", "bad key", "x"), { kind: "invalid" });
  assert.throws(() => doc.setField("prod", "realm", "x"), { kind: "invalid" });
  assert.throws(() => doc.renameRealm("prod", "lab"), { kind: "invalid" });
  assert.equal(doc.toString(), SPEC_EXAMPLE);
});

test("resolveRealmPaths resolves in memory with upstream defaults", () => {
  const doc = parseRealmsFile(DEMO);
  assert.deepEqual(resolveRealmPaths(doc.get("example")!, "/base"), {
    realmdir: "/base/r-example",
    configdir: "/base/configs/example",
    statedir: "/base/states/example",
    rollrec: "/base/r-example/demo-example.rollrec",
  });
  assert.equal(resolveRealmPaths(doc.get("test")!, "/base").statedir, "/base/r-test");
  assert.equal(doc.toString(), DEMO);
});

test("updateRealmsFile rewrites atomically and keeps the file's mode", async () => {
  using tmp = tempDir("realmsfile");
  const dir = tmp.path;
  const file = path.join(dir, "demo.realm");
  fs.writeFileSync(file, DEMO, { mode: 0o640 });
  const inode = fs.statSync(file).ino;
  await updateRealmsFile(file, (d) => d.setField("test", "state", "active"), { stateDir: dir });
  assert.equal(
    fs.readFileSync(file, "latin1"),
    DEMO.replace('state\t\t"inactive"', 'state\t\t"active"'),
  );
  assert.notEqual(fs.statSync(file).ino, inode, "replaced by rename, not rewritten in place");
  assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  assert.ok(fs.existsSync(realmLockFile(dir)), "the realms lock file exists");
  assert.deepEqual(fs.readdirSync(dir).sort(), ["demo.realm", "dnssec-tools"]);
});

test("updateRealmsFile saves a change beside lines it cannot read, and nothing when the edit throws", async () => {
  using tmp = tempDir("realmsfile");
  const dir = tmp.path;
  const file = path.join(dir, "bad.realm");
  const bad = DEMO + "!!! broken line\n";
  fs.writeFileSync(file, bad);
  await updateRealmsFile(file, (d) => d.setField("test", "state", "active"), { stateDir: dir });
  assert.equal(
    fs.readFileSync(file, "latin1"),
    bad.replace('state\t\t"inactive"', 'state\t\t"active"'),
  );
  const good = path.join(dir, "good.realm");
  fs.writeFileSync(good, DEMO);
  await assert.rejects(
    updateRealmsFile(good, (d) => {
      d.setField("test", "state", "active");
      throw new Error("changed my mind");
    }, { stateDir: dir }),
    /changed my mind/,
  );
  assert.equal(fs.readFileSync(good, "latin1"), DEMO);
});

test("writeRealmsFile writes through a symbolic link to its target", async () => {
  using tmp = tempDir("realmsfile");
  const dir = tmp.path;
  const target = path.join(dir, "real.realm");
  const link = path.join(dir, "link.realm");
  fs.writeFileSync(target, SPEC_EXAMPLE);
  execFileSync("ln", ["-s", target, link]); // Deno refuses symlinkSync with scoped permissions
  const doc = await readRealmsFile(link);
  doc.setField("lab", "state", "active");
  await writeRealmsFile(link, doc, { stateDir: dir });
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  assert.match(fs.readFileSync(target, "latin1"), /realm "lab"\n\tstate\t\t"active"/);
});

test("readRealmsFile reports a missing file clearly", async () => {
  using tmp = tempDir("realmsfile");
  const file = path.join(tmp.path, "x.realm");
  await assert.rejects(readRealmsFile(file), {
    kind: "io",
    message: `Cannot read realms file ${file}: does not exist`,
  });
});

test("the realms lock excludes another process holding flock on realm.lock", async () => {
  using tmp = tempDir("realmslock");
  const dir = tmp.path;
  const file = path.join(dir, "a.realm");
  fs.writeFileSync(file, SPEC_EXAMPLE);
  const lock = await acquireRealmsLock(dir);
  // A second process (as an upstream tool would) cannot take it while we hold it.
  const probe = spawn("flock", ["--exclusive", "--nonblock", realmLockFile(dir), "true"]);
  const code = await new Promise<number | null>((r) => probe.on("exit", (c) => r(c)));
  assert.equal(code, 1);
  let done = false;
  const update = updateRealmsFile(file, (d) => d.setField("lab", "state", "active"), {
    stateDir: dir,
  }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(done, false, "the update waits for the lock");
  await lock.release();
  await update;
  await waitFor(() => done);
  const after = spawn("flock", ["--exclusive", "--nonblock", realmLockFile(dir), "true"]);
  assert.equal(await new Promise<number | null>((r) => after.on("exit", (c) => r(c))), 0);
});

test("an empty RealmsFile grows realms that parse back", () => {
  const doc = RealmsFile.empty();
  doc.addRealm("one", { state: "inactive", manager: "sleep" });
  assert.equal(doc.toString(), 'realm\t"one"\n\tstate\t\t"inactive"\n\tmanager\t\t"sleep"\n\n');
  assert.deepEqual(parseRealmsFile(doc.toString()).names(), ["one"]);
});

test("without flock(1) the realms lock falls back to a pid lock file", async () => {
  using tmp = tempDir("realmslock");
  const saved = process.env.PATH;
  process.env.PATH = "/nonexistent";
  try {
    const first = await acquireRealmsLock(tmp.path);
    const pidFile = `${realmLockFile(tmp.path)}.pid`;
    assert.equal(fs.readFileSync(pidFile, "utf8"), `${process.pid}\n`);
    let second = false;
    const next = acquireRealmsLock(tmp.path, { timeoutMs: 2000 }).then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(second, false, "the second holder waits");
    await first.release();
    const l2 = await next;
    await l2.release();
    assert.equal(fs.existsSync(pidFile), false);
    // A lock file left by a dead holder is taken over.
    fs.writeFileSync(pidFile, "999999999\n");
    const l3 = await acquireRealmsLock(tmp.path, { timeoutMs: 2000 });
    await l3.release();
  } finally {
    process.env.PATH = saved;
  }
});

test("random edits of a realms file either apply completely or leave it unchanged", () => {
  let s = 7;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const doc = parseRealmsFile(SPEC_EXAMPLE);
  const values = ["active", "x=y", "a b", "", "/p/q", 'bad"quote', "tab\there", "@x"];
  const keys = ["state", "args", "user", "bad key", "realm", "Custom_field"];
  const realms = ["prod", "lab", "new", ""];
  for (let i = 0; i < 500; i++) {
    const before = doc.toString();
    try {
      const op = Math.floor(rnd() * 4);
      if (op === 0) doc.setField(pick(realms), pick(keys), pick(values));
      else if (op === 1) doc.deleteField(pick(realms), pick(keys));
      else if (op === 2) doc.removeRealm(pick(realms));
      else doc.addRealm(pick(realms) + String(i % 3), { state: pick(values) });
    } catch (e) {
      assert.ok(e instanceof RealmError, String(e));
      assert.equal(doc.toString(), before, "a refused edit changes nothing");
    }
    // Whatever happened, the text still parses to the same realms.
    assert.deepEqual(parseRealmsFile(doc.toString()).names(), doc.names());
  }
});
