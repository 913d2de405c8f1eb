/**
 * Helpers of the PostgreSQL module tests: the local server they use (127.0.0.1:5432, database
 * `test`, user postgres, or $STEWARD_TEST_PG), a reason to skip when it does not answer, schema
 * names private to one test run, and an administrator connection for setup and checks.
 */
import pg from "pg";
import { clientFor } from "../../../lib/dhcp/modules/pg/client.ts";
import { parsePgConfig } from "../../../lib/dhcp/modules/pg/config.ts";

/** RESOURCE_CONFIG of the test server. */
export const PG_TEST_CONFIG = process.env.STEWARD_TEST_PG ??
  "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3";

/** Why the PostgreSQL tests cannot run here, or undefined when the server answers. */
export async function pgSkipReason(): Promise<string | undefined> {
  try {
    const c = clientFor(parsePgConfig(`${PG_TEST_CONFIG} application_name=steward-probe`));
    await c.run("probe", true, (q) => q({ text: "SELECT 1" }));
    return undefined;
  } catch (e) {
    return `no PostgreSQL answers with ${PG_TEST_CONFIG}: ${(e as Error).message}`;
  }
}

/** A prefix for schema names no other test run uses (lower case, as PATH must be). */
export function runTag(what: string): string {
  return `t_${what}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

interface AdminPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(ev: "error", fn: (e: Error) => void): void;
}

/** A plain connection pool for test setup and checks (not the module's). */
export function adminPool(): AdminPool {
  const s = parsePgConfig(PG_TEST_CONFIG);
  const Pool = (pg as unknown as { Pool: new (c: Record<string, unknown>) => AdminPool }).Pool;
  const p = new Pool({
    host: s.host,
    port: s.port,
    database: s.database,
    user: s.user,
    max: 2,
    allowExitOnIdle: true,
    application_name: "steward-test-admin",
  });
  p.on("error", () => undefined);
  return p;
}

interface AdminClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(ev: "error", fn: (e: Error) => void): void;
}

/** One plain connection (for a transaction held open across statements). */
export function adminClient(): AdminClient {
  const s = parsePgConfig(PG_TEST_CONFIG);
  const Client = (pg as unknown as { Client: new (c: Record<string, unknown>) => AdminClient })
    .Client;
  const c = new Client({
    host: s.host,
    port: s.port,
    database: s.database,
    user: s.user,
    application_name: "steward-test-admin",
  });
  c.on("error", () => undefined);
  return c;
}

/** Drop every schema whose name starts with `prefix`. */
export async function dropSchemas(prefix: string): Promise<void> {
  const p = adminPool();
  try {
    const r = await p.query("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", [
      prefix,
    ]);
    for (const row of r.rows) {
      await p.query(`DROP SCHEMA "${String(row.nspname).replaceAll('"', '""')}" CASCADE`);
    }
  } finally {
    await p.end();
  }
}
