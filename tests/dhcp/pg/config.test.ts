/**
 * STEWpgsql configuration: RESOURCE_CONFIG parsing, the refusal of passwords in it, password
 * files (mode checked, libpq .pgpass format), and the config wizard of the built binary with
 * its connection test against the local PostgreSQL.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  checkPassfile,
  lookupPassword,
  parsePgConfig,
} from "../../../lib/dhcp/modules/pg/config.ts";
import { PG_DESCRIPTION } from "../../../lib/dhcp/modules/pg/module.ts";
import { endAllClients, pgError } from "../../../lib/dhcp/modules/pg/client.ts";
import { DSVC } from "../../../lib/dhcp/spi.ts";
import { runSteward, tempDir } from "../../helpers.ts";
import { dropSchemas, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

const skip = await pgSkipReason();
const tag = runTag("cfg");

describe("STEWpgsql RESOURCE_CONFIG", () => {
  it("parse reads libpq key=value strings with quotes, and URIs", () => {
    const a = parsePgConfig(
      "host=db.example.org port=5433 dbname='dhcp data' user=dhcp pool_max=4 statement_timeout=2000",
    );
    assert.equal(a.host, "db.example.org");
    assert.equal(a.port, 5433);
    assert.equal(a.database, "dhcp data");
    assert.equal(a.user, "dhcp");
    assert.equal(a.poolMax, 4);
    assert.equal(a.statementTimeoutMs, 2000);
    const b = parsePgConfig(
      "postgresql://dhcp@[::1]:6000/leases?sslmode=require&connect_timeout=3",
    );
    assert.deepEqual([b.user, b.host, b.port, b.database, b.sslmode, b.connectTimeoutS], [
      "dhcp",
      "::1",
      6000,
      "leases",
      "require",
      3,
    ]);
    assert.equal(parsePgConfig(undefined).poolMax, 8);
  });

  it("parse refuses a password in either form, unknown keys and bad numbers, naming them", () => {
    for (const c of ["host=x password=secret", "postgresql://dhcp:secret@db/dhcp"]) {
      assert.throws(() => parsePgConfig(c), /must not hold a password; use passfile=/);
      assert.match(PG_DESCRIPTION.validateConfig?.(c) ?? "", /must not hold a password/);
    }
    assert.throws(() => parsePgConfig("hots=x"), /unknown key hots/);
    assert.throws(() => parsePgConfig("port=99999"), /port must be an integer 1\.\.65535/);
    assert.throws(() => parsePgConfig("pool_max=0"), /pool_max/);
    assert.throws(() => parsePgConfig("dbname='unterminated"), /unterminated/);
    assert.throws(() => parsePgConfig("host=a host=b"), /host given twice/);
    assert.throws(() => parsePgConfig("passfile=relative/file"), /passfile must be absolute/);
  });

  it("a password file must be a regular file of mode 0600; lookups follow the .pgpass format", () => {
    using dir = tempDir("pg-passfile");
    const file = path.join(dir.path, "dhcp.pgpass");
    fs.writeFileSync(
      file,
      "# comment\nother:5432:*:dhcp:nope\ndb.example.org:*:dhcp:dhcp:s3cr\\:et\\\\x\n*:*:*:*:fallback\n",
      { mode: 0o644 },
    );
    fs.chmodSync(file, 0o644);
    const s = parsePgConfig(`host=db.example.org dbname=dhcp user=dhcp passfile=${file}`);
    assert.throws(() => checkPassfile(s), /has mode 644; it must be 0600 \(chmod 600 /);
    assert.match(PG_DESCRIPTION.validateConfig?.(`passfile=${file}`) ?? "", /has mode 644/);
    const want = { host: "db.example.org", port: 5432, database: "dhcp", user: "dhcp" };
    assert.throws(() => lookupPassword(s, want), /has mode 644/);
    fs.chmodSync(file, 0o600);
    checkPassfile(s);
    assert.equal(PG_DESCRIPTION.validateConfig?.(`passfile=${file}`), undefined);
    assert.equal(lookupPassword(s, want), "s3cr:et\\x");
    assert.equal(lookupPassword(s, { ...want, host: "elsewhere" }), "fallback");
    assert.throws(
      () => checkPassfile(parsePgConfig(`passfile=${path.join(dir.path, "none")}`)),
      /cannot read password file/,
    );
  });
});

describe("STEWpgsql errors", () => {
  it("server errors map to DSVC codes by SQLSTATE, with the server's message after a colon", () => {
    const cases: Array<[string | undefined, string, number]> = [
      ["23505", "duplicate key value violates unique constraint", DSVC.EXISTS],
      ["42P01", 'relation "x" does not exist', DSVC.NO_TABLE],
      ["3F000", 'schema "x" does not exist', DSVC.NO_LOCATION],
      ["3D000", 'database "x" does not exist', DSVC.NO_LOCATION],
      ["42501", "permission denied for table x", DSVC.ACCESS],
      ["25006", "cannot execute UPDATE in a read-only transaction", DSVC.ACCESS],
      ["28P01", "password authentication failed", DSVC.NO_CRED],
      ["57014", "canceling statement due to statement timeout", DSVC.BUSY],
      ["55P03", "canceling statement due to lock timeout", DSVC.BUSY],
      ["40P01", "deadlock detected", DSVC.BUSY],
      ["53300", "sorry, too many clients already", DSVC.NO_RESOURCES],
      ["53200", "out of memory", DSVC.NO_MEMORY],
      ["57P01", "terminating connection due to administrator command", DSVC.UNAVAILABLE],
      ["22021", 'invalid byte sequence for encoding "UTF8": 0x00', DSVC.INVAL],
      ["XX000", "internal error", DSVC.INTERNAL],
      ["ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432", DSVC.UNAVAILABLE],
      [undefined, "Connection terminated unexpectedly", DSVC.UNAVAILABLE],
    ];
    for (const [code, msg, want] of cases) {
      const e = pgError(Object.assign(new Error(msg), code ? { code } : {}), "lookup in t");
      assert.equal(e.code, want, `${code} ${msg}`);
      assert.ok(e.message.endsWith(`: lookup in t: ${msg}`), e.message);
    }
  });
});

describe("steward dhcp config with STEWpgsql", { skip }, () => {
  after(async () => {
    await dropSchemas(tag);
    await endAllClients();
  });

  it("the wizard tests the connection, refuses a password, and writes a dhcpsvc.conf without secrets", async () => {
    using dir = tempDir("pg-wizard");
    const conf = path.join(dir.path, "dhcpsvc.conf");
    const schema = `${tag}_wiz`;
    const input = [
      "STEWpgsql",
      "Bad Schema",
      schema,
      `${PG_TEST_CONFIG} password=hunter2`,
      "host=127.0.0.1 port=1 connect_timeout=1",
      PG_TEST_CONFIG,
      "y",
      "y",
      "y",
      "",
    ].join("\n");
    const r = await runSteward(["dhcp", "--conf", conf, "config", "--interactive"], {
      via: "binary",
      input,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Not usable: PATH must be a PostgreSQL schema name/);
    assert.match(r.stdout, /Not usable: RESOURCE_CONFIG must not hold a password/);
    assert.match(r.stdout, /Not usable: service check failed: .*cannot connect to PostgreSQL/);
    assert.match(r.stdout, /Service check passed/);
    assert.match(r.stdout, /Created location/);
    assert.match(r.stdout, /Created an empty dhcptab/);
    const text = fs.readFileSync(conf, "utf8");
    assert.match(text, new RegExp(`^RESOURCE=STEWpgsql$`, "m"));
    assert.match(text, new RegExp(`^PATH=${schema}$`, "m"));
    assert.doesNotMatch(text, /hunter2|password=/);
    const list = await runSteward(["dhcp", "--conf", conf, "dhtadm", "-P"], { via: "binary" });
    assert.equal(list.code, 0, list.stderr);
  });
});
