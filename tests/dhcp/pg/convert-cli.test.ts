/**
 * `steward dhcp convert` from the built binary moves the example store into PostgreSQL and back,
 * switching dhcpsvc.conf each time, with every record as it was.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { dhcpSandbox } from "../cli/helpers.ts";
import { adminPool, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

const skip = await pgSkipReason();
if (skip) console.log(`# skipping the PostgreSQL convert test: ${skip}`);

describe("steward dhcp convert with PostgreSQL", { skip: skip ?? false }, () => {
  const schema = runTag("convert");
  after(async () => {
    const pool = adminPool();
    pool.on("error", () => {});
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
  });

  it("moves the example store into PostgreSQL and back from the built binary", async () => {
    const sb = dhcpSandbox("pg-convert");
    try {
      const conf = sb.conf;
      const run = async (...args: string[]) => {
        const r = await sb.run(["dhcp", ...args]);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      const snapshot = async () => ({
        networks: await run("network", "list"),
        addresses: await run("pntadm", "-P", "192.168.10.0"),
        table: await run("dhtadm", "-P"),
      });
      const before = await snapshot();
      assert.match(before.addresses, /192\.168\.10\./);

      const into = JSON.parse(
        await run(
          "convert",
          "--resource",
          "STEWpgsql",
          "--path",
          schema,
          "--config",
          PG_TEST_CONFIG,
          "--json",
        ),
      ) as { to: { resource: string }; removed: boolean };
      assert.equal(into.to.resource, "STEWpgsql");
      assert.equal(into.removed, true);
      const text = fs.readFileSync(conf, "utf8");
      assert.match(text, /^RESOURCE=STEWpgsql$/m);
      assert.match(text, new RegExp(`^PATH=${schema}$`, "m"));
      // Records are added in lookup order (upstream's conversion rule), so PostgreSQL lists them
      // in another order: the same lines, sorted.
      const sorted = (o: Record<string, string>) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.split("\n").sort()]));
      assert.deepEqual(sorted(await snapshot()), sorted(before), "the same records, in PostgreSQL");

      const back = path.join(sb.dir, "var-dhcp-again");
      await run("convert", "--resource", "SUNWfiles", "--path", back);
      const again = fs.readFileSync(conf, "utf8");
      assert.match(again, /^RESOURCE=SUNWfiles$/m);
      assert.doesNotMatch(
        again,
        /^RESOURCE_CONFIG=/m,
        "the connection string went with the module",
      );
      assert.deepEqual(await snapshot(), before, "the same records, back in text files");
      assert.ok(fs.readdirSync(back).some((f) => f.startsWith("SUNWfiles1_")));
    } finally {
      await sb.dispose();
    }
  });
});
