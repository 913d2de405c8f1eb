import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { runSteward, tempDir } from "../helpers.ts";

const bin = { via: "binary" as const };

// The spec's example (§9.4), with its directories under a temporary root.
function specExample(root: string): string {
  return `; realms for host ns1
realm "prod"
	state		"active"
	configdir	"${root}/prod/conf"
	statedir	"${root}/prod/state"
	realmdir	"${root}/prod/zones"
	rollrec		"prod.rollrec"
	administrator	"hostmaster@example.net"
	display		"1"
	manager		"rollerd"
	args		"-sleep 3600 -loglevel phase -logfile log.prod"

realm "lab"
	state		"inactive"
	configdir	"${root}/lab/conf"
	realmdir	"${root}/lab/zones"
	rollrec		"lab.rollrec"
	args		"-loglevel tmi"
`;
}

/** A `rollerd` on PATH, since check (like the daemon) refuses a manager it cannot find. */
function withRollerd(root: string): { via: "binary"; env: Record<string, string> } {
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  fs.writeFileSync(path.join(root, "bin", "rollerd"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return { ...bin, env: { PATH: `${path.join(root, "bin")}:${process.env.PATH ?? ""}` } };
}

function makeTrees(root: string): void {
  for (const d of ["prod/conf", "prod/state", "prod/zones", "lab/conf", "lab/zones"]) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.writeFileSync(path.join(root, "prod/zones/prod.rollrec"), "");
  fs.writeFileSync(path.join(root, "lab/zones/lab.rollrec"), "");
}

test("realms check passes a valid file like realmchk", async () => {
  using tmp = tempDir("realmchk");
  makeTrees(tmp.path);
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(file, specExample(tmp.path));
  const r = await runSteward(["realms", "check", file], withRollerd(tmp.path));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${file}:  valid realm file\n`);
  const q = await runSteward(["realms", "check", "-quiet", file], withRollerd(tmp.path));
  assert.equal(q.stdout, "");
  assert.equal(q.code, 0);
});

test("realms check refuses a manager the daemon could not start", async () => {
  using tmp = tempDir("realmchk");
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(
    file,
    'realm "a"\n\tstate "active"\n\tmanager "bin/nope"\n\nrealm "b"\n\tstate "active"\n' +
      '\tmanager "sleep"\n',
  );
  const r = await runSteward(["realms", "check", "-verbose", file], bin);
  assert.equal(r.code, 1);
  assert.ok(
    r.stdout.includes('    a:  checking realm definition\n\tinvalid manager - "bin/nope"\n'),
    r.stdout,
  );
  assert.ok(r.stdout.includes("  b:  valid realm\n"), r.stdout);
});

test("realms check -verbose lists each problem and exits with the number of errors", async () => {
  using tmp = tempDir("realmchk");
  makeTrees(tmp.path);
  fs.rmSync(path.join(tmp.path, "lab/zones/lab.rollrec"));
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(
    file,
    specExample(tmp.path).replace('state\t\t"inactive"', 'state\t\t"sleeping"') +
      'realm "nouser"\n\tstate "active"\n\tmanager "sleep"\n\tuser "no-such-user-here"\n',
  );
  const r = await runSteward(["realms", "check", "-verbose", file], withRollerd(tmp.path));
  assert.equal(r.code, 3);
  assert.equal(
    r.stdout,
    `${file}:  checking realm file\n` +
      "    lab:  checking realm definition\n" +
      '\tinvalid state - "sleeping"\n' +
      `\tinvalid rollrec - "${tmp.path}/lab/zones/lab.rollrec"\n` +
      "  lab:  invalid realm\n" +
      "    nouser:  checking realm definition\n" +
      '\tinvalid user - "no-such-user-here"\n' +
      "  nouser:  invalid realm\n" +
      "    prod:  checking realm definition\n" +
      "  prod:  valid realm\n" +
      `${file}:  invalid realm file\n \n`,
  );
  const j = await runSteward(["realms", "check", "--json", file], withRollerd(tmp.path));
  assert.equal(j.code, 3);
  const report = JSON.parse(j.stdout);
  assert.equal(report.errors, 3);
  assert.deepEqual(report.files[0].realms[0], {
    name: "lab",
    problems: [
      'invalid state - "sleeping"',
      `invalid rollrec - "${tmp.path}/lab/zones/lab.rollrec"`,
    ],
  });
});

test("realms check reads what upstream drops with a warning and counts lines it ignores", async () => {
  using tmp = tempDir("realmchk");
  const file = path.join(tmp.path, "bad.realm");
  fs.writeFileSync(
    file,
    'realm "a"\n\tstate "active"\n\tmanager "sleep"\n\targs \'-x\'\n\tfoo "a=b"\n!!!\n' +
      'realm "a"\n\tstate "inactive"\n',
  );
  const r = await runSteward(["realms", "check", file], bin);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, `${file}:  invalid realm file\n`);
  assert.equal(
    r.stderr,
    `${file}:4: warning: Value of "args" is not in double quotes; upstream tools ignore this line\n` +
      `${file}:5: warning: Value of "foo" contains characters upstream's parser does not ` +
      `accept ("="); upstream tools ignore this line\n` +
      `${file}:6: Line ignored: not a comment, a blank line or a keyword with a value\n` +
      `${file}:7: Duplicate realm name "a" (first on line 1); this second definition is ignored\n` +
      `${file}:8: Field "state" ignored with the realm of line 7\n`,
  );
});

test("realms check warns about lines upstream accepts but that are probably mistakes", async () => {
  using tmp = tempDir("realmchk");
  const file = path.join(tmp.path, "w.realm");
  fs.writeFileSync(file, 'realm "a"\n\tstate "active"\n\tmanager "sleep"\n\tstate "inactive" x\n');
  const r = await runSteward(["realms", "check", file], bin);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${file}:  valid realm file\n`);
  assert.equal(
    r.stderr,
    `${file}:4: warning: Text after the closing quote is ignored: x\n` +
      `${file}:4: warning: Field "state" of realm "a" repeats line 2; the last value wins\n`,
  );
});

test("realms check takes realmchk's options and refuses -quiet with -verbose", async () => {
  const r = await runSteward(["realms", "check", "-q", "-v", "x"], bin);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "-quiet and -verbose may not be given together\n");
  const h = await runSteward(["realms", "check", "-help"], bin);
  assert.equal(h.code, 1);
  assert.ok(h.stderr.startsWith("usage:  realmchk [options]"), h.stderr);
});

test("realms list prints lsrealm's default, terse, count and header layouts", async () => {
  using tmp = tempDir("lsrealm");
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(file, specExample("/srv/realms"));
  const run = async (...args: string[]) => {
    const r = await runSteward(["realms", "list", ...args, file], bin);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  assert.equal(await run(), "lab     inactive\nprod    active\n");
  assert.equal(await run("-terse"), "lab\nprod\n");
  assert.equal(await run("-count"), "2 matching records\n");
  assert.equal(await run("-count", "-terse"), "2\n");
  assert.equal(await run("-active"), "prod    active\n");
  assert.equal(
    await run("-headers", "-manager"),
    "Name    Realm State    Rollover Manager\n" +
      "lab     inactive       (defmgr)\n" +
      "prod    active         rollerd\n",
  );
  assert.equal(
    await run("-terse", "-configdir", "-args"),
    'lab     conf    "-loglevel tmi"\n' +
      'prod    conf    "-sleep 3600 -loglevel phase -logfile log.prod"\n',
  );
  assert.equal(
    await run("-terse", "-fullpaths", "-configdir"),
    "lab     /srv/realms/lab/conf\nprod    /srv/realms/prod/conf\n",
  );
});

test("realms list --json gives every field, and bad input gets lsrealm's answers", async () => {
  using tmp = tempDir("lsrealm");
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(file, specExample("/srv/realms"));
  const j = await runSteward(["realms", "list", "--json", "-inactive", file], bin);
  assert.equal(j.code, 0);
  assert.deepEqual(JSON.parse(j.stdout), [{
    name: "lab",
    file,
    line: 13,
    fields: {
      state: "inactive",
      configdir: "/srv/realms/lab/conf",
      realmdir: "/srv/realms/lab/zones",
      rollrec: "lab.rollrec",
      args: "-loglevel tmi",
    },
  }]);
  const both = await runSteward(["realms", "list", "-active", "-inactive", file], bin);
  assert.equal(both.code, 0);
  assert.equal(both.stderr, "please select only one of -active and -inactive\n");
  const none = await runSteward(["realms", "list"], bin);
  assert.equal(none.code, 1);
  assert.ok(none.stderr.startsWith("usage:  lsrealm [options] <realm-file>"), none.stderr);
  const bad = path.join(tmp.path, "bad.realm");
  fs.writeFileSync(bad, 'realm "a"\n\tstate active\n');
  const b = await runSteward(["realms", "list", bad], bin);
  assert.equal(b.code, 0, "an unquoted value is read, not a reason to refuse the file");
  assert.equal(b.stdout, "a    active\n");
  const missing = await runSteward(["realms", "list", path.join(tmp.path, "nope")], bin);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);
});

test("realms check and list run from source too", async () => {
  using tmp = tempDir("lsrealm");
  const file = path.join(tmp.path, "r.realm");
  fs.writeFileSync(file, specExample("/srv/realms"));
  const r = await runSteward(["realms", "list", "-terse", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "lab\nprod\n");
});
