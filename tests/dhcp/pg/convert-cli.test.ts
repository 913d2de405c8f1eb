/**
 * `steward dhcp convert` from the built binary moves the example store into PostgreSQL and back,
 * switching dhcpsvc.conf each time, with every record as it was.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, runSteward, tempDir, testPermissions } from "../../helpers.ts";
import { adminPool, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

/** Copy a directory tree file by file (Deno's cpSync wants read access above the source). */
function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) copyTree(src, dst);
    else if (e.isFile()) fs.writeFileSync(dst, fs.readFileSync(src));
  }
}

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
    using tmp = tempDir("pg-convert");
    copyTree(path.join(ROOT, "examples", "dhcp"), tmp.path);
    const conf = path.join(tmp.path, "dhcpsvc.conf");
    const env = { STEWARD_DHCPSVC_CONF: conf, STEWARD_RUN_DIR: path.join(tmp.path, "run") };
    const permissions = testPermissions(tmp.path, {
      unixSockets: [path.join(tmp.path, "run", "lockd.sock")],
    });
    const run = async (...args: string[]) => {
      const r = await runSteward(["dhcp", ...args], { via: "binary", env, permissions });
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

    const back = path.join(tmp.path, "var-dhcp-again");
    await run("convert", "--resource", "SUNWfiles", "--path", back);
    const again = fs.readFileSync(conf, "utf8");
    assert.match(again, /^RESOURCE=SUNWfiles$/m);
    assert.doesNotMatch(again, /^RESOURCE_CONFIG=/m, "the connection string went with the module");
    assert.deepEqual(await snapshot(), before, "the same records, back in text files");
    assert.ok(fs.readdirSync(back).some((f) => f.startsWith("SUNWfiles1_")));
  });
});
