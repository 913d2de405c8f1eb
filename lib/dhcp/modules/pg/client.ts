/**
 * The PostgreSQL connection layer of the module: one pool per connection setting and process
 * (node-postgres `pg`, pure JavaScript), connection attempts retried with backoff while the
 * server is down or restarting, a statement timeout on every query, prepared statements, and
 * every failure turned into a DsvcError with the right DSVC code and the server's message.
 * @internal
 * @module
 */
import os from "node:os";
import pg from "pg";
import { DSVC, type DsvcCode, DsvcError } from "../../spi.ts";
import { describeSettings, lookupPassword, PgConfigError, type PgSettings } from "./config.ts";

/** The part of a pg query result the module reads. */
export interface PgResult {
  rows: Array<Record<string, unknown>>;
  rowCount: number | null;
}

interface PgPoolClient {
  query(q: { name?: string; text: string; values?: unknown[] }): Promise<PgResult>;
  release(destroy?: boolean | Error): void;
  on(event: "error", fn: (e: Error) => void): void;
  off(event: "error", fn: (e: Error) => void): void;
}

interface PgPool {
  connect(): Promise<PgPoolClient>;
  on(event: "error", fn: (e: Error) => void): void;
  on(event: "connect", fn: (c: PgPoolClient) => void): void;
  end(): Promise<void>;
  readonly totalCount: number;
}

type PoolCtor = new (config: Record<string, unknown>) => PgPool;

/** A query with its parameters; `values` only ever travel as parameters, never in the text. */
export interface Statement {
  text: string;
  values?: unknown[];
}

/** Run statements on one connection (inside a transaction when given by {@link PgClient.transaction}). */
export type Runner = (st: Statement) => Promise<PgResult>;

// SQLSTATE → DSVC code (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const SQLSTATE: ReadonlyArray<readonly [RegExp, DsvcCode]> = [
  [/^23505$/, DSVC.EXISTS], // unique_violation
  [/^42P07$/, DSVC.TABLE_EXISTS], // duplicate_table
  [/^42P06$/, DSVC.EXISTS], // duplicate_schema
  [/^42P01$/, DSVC.NO_TABLE], // undefined_table
  [/^3F000$/, DSVC.NO_LOCATION], // invalid_schema_name
  [/^3D000$/, DSVC.NO_LOCATION], // invalid_catalog_name (the database)
  [/^42501$/, DSVC.ACCESS], // insufficient_privilege
  [/^25006$/, DSVC.ACCESS], // read_only_sql_transaction (a standby)
  [/^28/, DSVC.NO_CRED], // invalid authorization / password
  [/^57014$/, DSVC.BUSY], // query_canceled (statement_timeout)
  [/^55P03$/, DSVC.BUSY], // lock_not_available (NONBLOCK)
  [/^40/, DSVC.BUSY], // serialization failure, deadlock: try again
  [/^53300$/, DSVC.NO_RESOURCES], // too_many_connections
  [/^53200$/, DSVC.NO_MEMORY], // out_of_memory
  [/^53/, DSVC.NO_RESOURCES], // disk full and other resources
  [/^57P0[1-5]$/, DSVC.UNAVAILABLE], // admin/crash shutdown, cannot connect now
  [/^08/, DSVC.UNAVAILABLE], // connection exceptions
  [/^22/, DSVC.INVAL], // data exceptions (e.g. a NUL character)
  [/^23/, DSVC.INVAL], // other integrity violations (check constraints)
];

const NET_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ENOENT", // a Unix socket path that is not there
]);

function sqlstate(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" && /^[0-9A-Z]{5}$/.test(c) ? c : undefined;
}

/** Whether `e` says the connection itself failed or was lost (so nothing more can run on it). */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && NET_ERRORS.has(code)) return true;
  const st = sqlstate(e);
  if (st && (/^08/.test(st) || /^57P0[1-5]$/.test(st))) return true;
  const msg = e instanceof Error ? e.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i
    .test(msg);
}

/** The DsvcError for a failure of `what`: the mapped code, then `what`, then the server's message. */
export function pgError(e: unknown, what: string): DsvcError {
  if (e instanceof DsvcError) return e;
  if (e instanceof PgConfigError) return new DsvcError(DSVC.NO_CRED, `${what}: ${e.message}`);
  const msg = e instanceof Error ? e.message : String(e);
  const st = sqlstate(e);
  let code: DsvcCode = DSVC.INTERNAL;
  if (st) code = SQLSTATE.find(([re]) => re.test(st))?.[1] ?? DSVC.INTERNAL;
  else if (isConnectionError(e)) code = DSVC.UNAVAILABLE;
  return new DsvcError(code, `${what}: ${msg}`, { cause: e });
}

const BACKOFF_FIRST_MS = 25;
const BACKOFF_MAX_MS = 1000;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A pool of connections to one server, shared by every store of the process with the same settings. */
export class PgClient {
  readonly settings: PgSettings;
  readonly target: string;
  #pool: PgPool;
  #names = new Map<string, string>();
  #lastPoolError: Error | undefined;

  constructor(settings: PgSettings) {
    this.settings = settings;
    this.target = describeSettings(settings);
    const Pool = (pg as unknown as { Pool: PoolCtor }).Pool;
    const s = settings;
    this.#pool = new Pool({
      ...(s.host !== undefined ? { host: s.host } : {}),
      ...(s.port !== undefined ? { port: s.port } : {}),
      ...(s.database !== undefined ? { database: s.database } : {}),
      ...(s.user !== undefined ? { user: s.user } : {}),
      // Asked for only when the server wants one; never stored in dhcpsvc.conf.
      password: (p: { host?: string; port?: number; database?: string; user?: string }) => {
        const user = p.user ?? os.userInfo().username;
        const pw = lookupPassword(s, {
          host: p.host ?? "localhost",
          port: p.port ?? 5432,
          database: p.database ?? user,
          user,
        });
        if (pw === undefined) {
          throw new PgConfigError(
            `the server asks for a password for ${user} and no password file has one (passfile=, $PGPASSFILE, ~/.pgpass)`,
          );
        }
        return pw;
      },
      ssl: s.sslmode === "disable" ? false : { rejectUnauthorized: s.sslmode === "verify-full" },
      max: s.poolMax,
      idleTimeoutMillis: s.idleTimeoutS * 1000,
      connectionTimeoutMillis: s.connectTimeoutS * 1000,
      // Idle connections do not keep a finished command or test process alive.
      allowExitOnIdle: true,
      application_name: s.applicationName,
      ...(s.statementTimeoutMs > 0
        ? {
          statement_timeout: s.statementTimeoutMs,
          // The client gives up too when the server stops answering altogether.
          query_timeout: s.statementTimeoutMs + 5000,
        }
        : {}),
      // 64-bit signatures come back as text and are read exactly (pg's default for int8).
    });
    // A pooled connection that dies while idle (server restart, pg_terminate_backend) is
    // dropped by the pool; without a listener that would end the process.
    this.#pool.on("error", (e) => {
      this.#lastPoolError = e;
    });
    // And every connection always has a listener of its own, whatever state the pool has it in
    // (checked out, being released or removed), so that a late error event never goes unheard.
    this.#pool.on("connect", (c) => {
      c.on("error", (e) => {
        this.#lastPoolError = e;
      });
    });
  }

  /** The last error an idle connection reported (for diagnostics). */
  get lastPoolError(): Error | undefined {
    return this.#lastPoolError;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#pool.totalCount;
  }

  #name(text: string): string {
    let n = this.#names.get(text);
    if (!n) {
      n = `stew${this.#names.size}`;
      // Bounded: container tables come and go; past the bound statements are not named.
      if (this.#names.size < 4096) this.#names.set(text, n);
    }
    return n;
  }

  async #connect(what: string): Promise<PgPoolClient> {
    const deadline = Date.now() + this.settings.connectTimeoutS * 1000;
    let wait = BACKOFF_FIRST_MS;
    for (;;) {
      try {
        return await this.#pool.connect();
      } catch (e) {
        // Server down, restarting, or every connection slot taken: retry until the deadline.
        const st = sqlstate(e);
        const retry = isConnectionError(e) || st === "57P03" || st === "53300";
        if (!retry || Date.now() + wait > deadline) {
          const err = pgError(e, `${what}: cannot connect to PostgreSQL at ${this.target}`);
          throw err.code === DSVC.INTERNAL
            ? new DsvcError(DSVC.UNAVAILABLE, err.detail, { cause: e })
            : err;
        }
        await delay(wait);
        wait = Math.min(wait * 2, BACKOFF_MAX_MS);
      }
    }
  }

  /**
   * Run `fn` with one connection. A lost connection is destroyed, not returned to the pool.
   * `idempotent` work (reads, checks) is retried once on a fresh connection when the first
   * one was lost; updates are not, since the server may have applied them.
   */
  async run<T>(what: string, idempotent: boolean, fn: (run: Runner) => Promise<T>): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const client = await this.#connect(what);
      let broken = false;
      // A connection lost between two statements is reported as an event on the checked-out
      // client; unheard, it would end the process. The next statement then fails as well.
      const lost = (e: Error) => {
        broken = true;
        this.#lastPoolError = e;
      };
      client.on("error", lost);
      const runner: Runner = (st) =>
        client.query({
          ...(st.values && st.values.length ? { name: this.#name(st.text) } : {}),
          text: st.text,
          ...(st.values ? { values: st.values } : {}),
        });
      try {
        return await fn(runner);
      } catch (e) {
        broken ||= isConnectionError(e);
        if (broken && idempotent && attempt === 0) continue;
        if (broken && !idempotent) {
          throw new DsvcError(
            DSVC.UNAVAILABLE,
            `${what}: the connection to PostgreSQL was lost; the change may or may not have been applied: ${
              e instanceof Error ? e.message : String(e)
            }`,
            { cause: e },
          );
        }
        throw pgError(e, what);
      } finally {
        client.off("error", lost);
        client.release(broken ? true : undefined);
      }
    }
  }

  /** Run `fn` inside BEGIN … COMMIT on one connection (ROLLBACK when it throws). */
  transaction<T>(what: string, idempotent: boolean, fn: (run: Runner) => Promise<T>): Promise<T> {
    return this.run(what, idempotent, async (q) => {
      await q({ text: "BEGIN" });
      try {
        const v = await fn(q);
        await q({ text: "COMMIT" });
        return v;
      } catch (e) {
        if (!isConnectionError(e)) await q({ text: "ROLLBACK" }).catch(() => undefined);
        throw e;
      }
    });
  }

  /** Close every connection (the pool cannot be used afterwards). */
  end(): Promise<void> {
    return this.#pool.end();
  }
}

const clients = new Map<string, PgClient>();

/** The shared client for `settings` (one pool per distinct setting in a process). */
export function clientFor(settings: PgSettings): PgClient {
  const key = JSON.stringify(settings);
  let c = clients.get(key);
  if (!c) {
    c = new PgClient(settings);
    clients.set(key, c);
  }
  return c;
}

/** Close every pool of the process (tests and benchmarks that want to finish at once). */
export async function endAllClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.allSettled(all.map((c) => c.end()));
}
