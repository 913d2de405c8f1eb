/**
 * Behaving as dtrealms does with real realms files: which realms start, and bad lines that
 * never take the daemon (or the other realms) down.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { runSteward, tempDir } from "../helpers.ts";
import { killLeftovers, send, startDaemon, statusPid, writeFixture } from "./daemon-helpers.ts";

/** A stanza of a realm running the fixture's manager (`bin/mgr`), upstream layout. */
function stanza(name: string, fields: Record<string, string | undefined>): string {
  const lines = [`realm\t"${name}"`];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) lines.push(`\t${k}\t\t${v}`);
  return lines.join("\n") + "\n\n";
}

describe("which realms start", () => {
  test("only a state of exactly active starts; missing rollrec or configdir refuse the realm", async () => {
    using tmp = tempDir("rfid");
    const plain = (state: string | undefined) => ({ state, manager: '"bin/mgr"' });
    const roll = {
      state: '"active"',
      realmdir: '"alpha"',
      configdir: '"conf"',
      rollrec: '"alpha.rollrec"',
      manager: '"../bin/mgr"',
    };
    const fx = writeFixture(
      tmp.path,
      stanza("good", plain('"active"')) +
        stanza("upper", plain('"INACTIVE"')) +
        stanza("capital", plain('"Active"')) +
        stanza("paused", plain('"paused"')) +
        stanza("empty", plain('""')) +
        stanza("nostate", plain(undefined)) +
        stanza("roll", roll) +
        stanza("norollrec", { ...roll, rollrec: '"missing.rollrec"' }) +
        stanza("noconf", { ...roll, configdir: '"nosuchconf"' }) +
        stanza("nomanager", plain('"active"')).replace('"bin/mgr"', '"bin/nope"'),
    );
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      assert.ok(statusPid(status, "good"), status);
      assert.match(status, /roll\tactive\t/);
      for (const r of ["upper", "capital", "paused", "empty", "nostate"]) {
        assert.match(status, new RegExp(`\\n${r}\\tinactive\\n`), r);
      }
      for (const r of ["norollrec", "noconf", "nomanager"]) {
        assert.match(status, new RegExp(`\\n${r}\\tfailed\\t.*invalid realm definition`), r);
      }
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /capital: realm not started: its state is "Active", not "active"/);
      assert.match(log, /nostate: realm not started: its state is missing, not "active"/);
      assert.match(log, /norollrec: invalid rollrec - ".*missing\.rollrec"/);
      assert.match(log, /noconf: invalid config directory - "nosuchconf"/);
      assert.match(log, /nomanager: invalid manager - "bin\/nope"/);
      // A realm whose state upstream's validrealm refuses cannot be started by request either.
      assert.equal(
        await send(fx.socket, "realmcmd_startrealm", "paused"),
        '4 \r\nunable to start realm "paused" \r\n',
      );
      assert.match(fs.readFileSync(fx.logFile, "utf8"), /paused: .*invalid state - "paused"/);
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
    // check refuses exactly the realms the daemon refused.
    const r = await runSteward([
      "realms",
      "check",
      "-verbose",
      "--directory",
      tmp.path,
      fx.realmsFile,
    ]);
    for (
      const name of [
        "upper",
        "capital",
        "paused",
        "empty",
        "nostate",
        "norollrec",
        "noconf",
        "nomanager",
      ]
    ) {
      assert.match(r.stdout, new RegExp(`\\n  ${name}:  invalid realm\\n`), name);
    }
    for (const name of ["good", "roll"]) {
      assert.match(r.stdout, new RegExp(`\\n  ${name}:  valid realm\\n`), name);
    }
  });
});

describe("bad lines in the realms file", () => {
  test("lines upstream accepts or drops never stop the daemon or the other realms", async () => {
    using tmp = tempDir("rfid");
    const text = stanza("one", { state: '"active"', manager: '"bin/mgr"', args: '"-x=1 <in"' }) +
      "!!! this line means nothing\n" +
      stanza("two", {
        state: '"active"',
        manager: '"bin/mgr"',
        administrator: '"h\xe9l\xe8ne@example.net"',
        allowcommands: '"*"',
      }) +
      stanza("one", { state: '"active"', manager: '"bin/mgr"' }) +
      stanza("three", { state: "active", manager: "bin/mgr" });
    const fx = writeFixture(tmp.path, text);
    fs.writeFileSync(fx.realmsFile, Buffer.from(text, "latin1"));
    const d = await startDaemon(tmp.path);
    try {
      const status = await send(fx.socket, "realmcmd_realmstatus");
      for (const r of ["one", "two", "three"]) assert.ok(statusPid(status, r), `${r}: ${status}`);
      // allowcommands "*" parsed: any command runs in "two".
      assert.match(await send(fx.socket, "realmcmd_command", "two echo hi"), /^0 \r\nhi\n/);
      const log = fs.readFileSync(fx.logFile, "utf8");
      assert.match(log, /realms:6: Line ignored: not a comment/);
      assert.match(log, /realms:13: Duplicate realm name "one"/);
      assert.match(log, /realms:4: warning: Value of "args" contains characters/);
      assert.match(
        fs.readFileSync(path.join(tmp.path, "realm-logs", "one.log"), "utf8"),
        /-x=1 <in/,
      );
    } finally {
      await d.stop();
      await killLeftovers(tmp.path);
    }
  });
});
