/**
 * Crash safety of SUNWfiles: a writer killed with SIGKILL at random points leaves a container
 * that opens, holding every acknowledged update (and at most the one in flight).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../lib/dhcp/spi.ts";
import { openStore } from "../../lib/dhcp/store.ts";
import { ROOT, type TempDir, tempDir } from "../helpers.ts";
import { CRASH_BASE, crashModel } from "./crash/model.ts";
import { scriptCommand } from "./helpers.ts";

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), "crash", "writer.ts");

function sameState(a: Map<number, number>, b: Map<number, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Run the writer from op `start`, kill it with SIGKILL after `ms`, return the ops it acknowledged. */
async function runAndKill(
  location: string,
  start: number,
  ms: number,
  kind: "dn" | "dt",
): Promise<number> {
  const c = scriptCommand(writer, [location, String(start), kind]);
  const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const closed = new Promise<void>((r) => child.on("close", () => r()));
  const deadline = Date.now() + 20_000;
  while (!out.includes("ready\n")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`writer did not start: ${err}`);
    }
    await sleep(5);
  }
  await sleep(ms);
  process.kill(child.pid as number, "SIGKILL");
  await closed;
  assert.equal(err, "", "the writer reported no error");
  const acks = out.split("\n").filter((l) => /^ack \d+$/.test(l)).map((l) => Number(l.slice(4)));
  acks.forEach((j, i) => assert.equal(j, start + i, "acknowledged in order"));
  return start + acks.length;
}

describe("SUNWfiles crash safety", () => {
  let tmp: TempDir;
  before(() => (tmp = tempDir("dhcp-crash")));
  after(() => tmp[Symbol.dispose]());

  for (const kind of ["dn", "dt"] as const) {
    const what = kind === "dn" ? "network table" : "dhcptab";
    it(`a ${what} writer killed with kill -9 at random points loses no acknowledged update`, async () => {
      const loc = path.join(tmp.path, kind);
      fs.mkdirSync(loc);
      {
        await using s = await openStore({ resource: "SUNWfiles", location: loc }, {
          synchronizer: null,
        });
        await (await s.openNetwork("10.0.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
          netmask: 16,
        })).close();
        await (await s.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE)).close();
      }
      let applied = 0;
      for (let round = 0; round < 6; round++) {
        const acked = await runAndKill(loc, applied, 80 + Math.floor(Math.random() * 400), kind);
        await using s = await openStore({ resource: "SUNWfiles", location: loc }, {
          synchronizer: null,
        });
        let found: Map<number, number>;
        if (kind === "dn") {
          const net = await s.openNetwork("10.0.0.0", DSVC_READ, { netmask: 16 });
          found = new Map(
            (await net.lookup(qinit(), {})).records.map((r) =>
              [r.cip, r.lease] as [number, number]
            ),
          );
        } else {
          const dt = await s.openDhcptab(DSVC_READ);
          found = new Map(
            (await dt.lookup(qinit(), {})).records.map((r) =>
              [CRASH_BASE + Number(r.key.slice(1)), Number(/^:v=(\d+):$/.exec(r.value)?.[1])] as [
                number,
                number,
              ]
            ),
          );
        }
        // Every acknowledged op is there; the one in flight may or may not have landed.
        if (sameState(found, crashModel(acked).state)) applied = acked;
        else if (sameState(found, crashModel(acked + 1).state)) applied = acked + 1;
        else assert.fail(`round ${round}: container matches neither ${acked} nor ${acked + 1} ops`);
      }
      assert.ok(applied > 6, `the writer made progress (${applied} ops)`);
    });
  }
});
