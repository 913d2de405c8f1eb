/**
 * kill -9 of writers at random points of a multi-process renewal load, at least 100 times:
 * afterwards the container opens, passes `network check`, holds every acknowledged write, and
 * no client ID is bound to two addresses.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkNetwork } from "../../../lib/dhcp/check.ts";
import { cidToHex, makeDnRec } from "../../../lib/dhcp/records.ts";
import { DSVC_CREATE, DSVC_READ, DSVC_WRITE, qinit } from "../../../lib/dhcp/spi.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { ROOT, type TempDir, tempDir } from "../../helpers.ts";
import { scriptCommand, type TestLockd, testLockd } from "../helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const RENEW_HOSTS = 20;
const KILLS = 100;
const WRITERS = 3;
const DEADLINE_MS = 60_000;

describe("SUNWbinfiles under kill -9", () => {
  let tmp: TempDir;
  let lockd: TestLockd;
  let location: string;

  before(() => {
    tmp = tempDir("binkill");
    lockd = testLockd(tmp.path);
    location = path.join(tmp.path, "store");
    fs.mkdirSync(location);
  });
  after(async () => {
    await lockd.stop();
    tmp[Symbol.dispose]();
  });

  for (const config of ["durability=durable"]) {
    it(`${KILLS} writers killed at random points (${config}): every acknowledged write kept, no double binding`, async () => {
      const setup = await openStore({ resource: "SUNWbinfiles", location, config }, {
        synchronizer: lockd.client,
      });
      const dn = await setup.openNetwork("10.0.0.0", DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
        netmask: 26,
      });
      for (let h = 1; h <= 62; h++) {
        const cid = h <= RENEW_HOSTS ? `02${h.toString(16).padStart(2, "0")}` : "00";
        await dn.add(makeDnRec({ cip: 0x0a000000 + h, cid, lease: 1000 }));
      }
      await dn.close();

      const renewed = new Map<number, number>();
      const bound = new Map<string, number>(); // cid -> cip, acknowledged and not being freed
      let kills = 0;
      let writer = 0;
      const t0 = Date.now();
      const failures: string[] = [];
      const live = new Set<ChildProcess>();

      const runOne = () =>
        new Promise<void>((resolve) => {
          const c = scriptCommand(path.join(here, "renew-worker.ts"), [
            JSON.stringify({
              location,
              runDir: lockd.runDir,
              writer: ++writer,
              renewHosts: RENEW_HOSTS,
              config,
            }),
          ]);
          const child = spawn(c.command, c.args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
          live.add(child);
          let buf = "";
          let stderr = "";
          let acks = 0;
          let target = -1;
          const killAt = Math.floor(Math.random() * 6);
          child.stdout.on("data", (d: Buffer) => {
            buf += d.toString();
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              const [what, a, b] = line.split(" ");
              if (what === "renew") {
                renewed.set(Number(a), Math.max(renewed.get(Number(a)) ?? 0, Number(b)));
              } else if (what === "bind") bound.set(b as string, Number(a));
              else if (what === "try-free") bound.delete(b as string);
              if (what !== "ready") acks++;
              if (what === "ready" || acks === target) {
                if (target < 0) target = acks + killAt;
                if (acks === target) {
                  // A random instant inside the next operations.
                  setTimeout(() => child.kill("SIGKILL"), Math.random() * 3);
                }
              }
            }
          });
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          child.on("close", (code, signal) => {
            live.delete(child);
            if (signal === "SIGKILL") kills++;
            else failures.push(`writer exited ${code}: ${stderr.slice(0, 2000)}`);
            resolve();
          });
        });

      const lane = async () => {
        while (
          kills + live.size < KILLS && Date.now() - t0 < DEADLINE_MS && failures.length === 0
        ) {
          await runOne();
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, lane));
      assert.deepEqual(failures, []);
      assert.ok(kills >= KILLS || Date.now() - t0 >= DEADLINE_MS, `${kills} kills`);
      assert.ok(kills >= 25, `only ${kills} kills in ${DEADLINE_MS} ms`);

      const report = await checkNetwork(setup, "10.0.0.0", { netmask: 26 });
      assert.equal(report.ok, true, report.unrepaired.join("; "));
      const net = await setup.openNetwork("10.0.0.0", DSVC_READ, { netmask: 26 });
      const recs = (await net.lookup(qinit(), {})).records;
      await net.close();
      assert.equal(recs.length, 62, "every address still has its record");
      for (const [host, lease] of renewed) {
        const r = recs.find((x) => x.cip === 0x0a000000 + host);
        assert.ok(
          r && r.lease >= lease,
          `host ${host}: lease ${r?.lease} lost acknowledged ${lease}`,
        );
      }
      const byCid = new Map<string, number>();
      for (const r of recs) {
        const hex = cidToHex(r.cid);
        if (hex === "00") continue;
        assert.equal(byCid.get(hex), undefined, `client ID ${hex} bound twice`);
        byCid.set(hex, r.cip);
      }
      for (const [cid, cip] of bound) assert.equal(byCid.get(cid), cip, `binding ${cid} lost`);
      await setup.close();
    });
  }
});
