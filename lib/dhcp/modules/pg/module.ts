/**
 * The built-in PostgreSQL module, STEWpgsql container version 1: the dhcptab and each network
 * container are tables (`STEWpgsql1_dhcptab`, `STEWpgsql1_10_0_0_0`) in the schema named by
 * PATH, on the server RESOURCE_CONFIG names. It declares no lock-manager synchronization: each
 * update is one statement whose WHERE clause checks the key and the signature, so the
 * database's row locks serialize updates and COLLISION is exact between processes and hosts.
 * @module
 */
import { ipToString, newSignature, nextSignature } from "../../records.ts";
import { networkOfFileName } from "../../naming.ts";
import {
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_READ,
  DSVC_SYNCH_NONE,
  DSVC_WRITE,
  DsvcError,
  type DsvcModule,
  type DtRec,
  type LookupResult,
  type ModuleDescription,
  type ModuleHandle,
  type ModuleLookup,
} from "../../spi.ts";
import { clientFor, type PgClient, type Runner, type Statement } from "./client.ts";
import { checkPassfile, parsePgConfig, PgConfigError } from "./config.ts";
import {
  checkSchema,
  checkText,
  DN_COLUMNS,
  dnCreate,
  dnLookup,
  dnMark,
  dnRow,
  dnTable,
  dnValues,
  DT_COLUMNS,
  dtCreate,
  dtLookup,
  dtMark,
  dtRow,
  dtTable,
  PG_CONVER,
  PG_RESOURCE,
  qualified,
  schemaProblem,
  sigParam,
} from "./sql.ts";

export { PG_CONVER, PG_RESOURCE } from "./sql.ts";

/** What administrators are told about the module. */
export const PG_DESCRIPTION: ModuleDescription = {
  summary: "PostgreSQL database (several servers may share it)",
  pathHelp:
    "Name of the PostgreSQL schema holding the tables (STEWpgsql1_dhcptab, STEWpgsql1_<network>)",
  pathExample: "dhcp",
  configHelp:
    "Connection string, e.g. 'host=db.example.org dbname=dhcp user=dhcp passfile=/etc/steward/dhcp.pgpass' " +
    "or postgresql://dhcp@db.example.org/dhcp; a password is never written here: use passfile= " +
    "(mode 0600), $PGPASSFILE or ~/.pgpass. Optional: pool_max=8 statement_timeout=15000 (ms) " +
    "connect_timeout=10 (s) idle_timeout=30 (s) sslmode=disable|require|verify-full",
  validatePath: schemaProblem,
  validateConfig(config: string): string | undefined {
    try {
      checkPassfile(parsePgConfig(config));
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  },
};

interface Handle {
  kind: "dt" | "dn";
  schema: string;
  /** Qualified table name. */
  table: string;
  /** Unqualified, for messages. */
  name: string;
  flags: number;
}

function need(h: Handle, flag: number): void {
  if (!(h.flags & flag)) {
    throw new DsvcError(
      DSVC.ACCESS,
      `${h.name} was opened ${flag === DSVC_READ ? "without DSVC_READ" : "without DSVC_WRITE"}`,
    );
  }
}

function asHandle(h: ModuleHandle, kind: "dt" | "dn"): Handle {
  const x = h as Partial<Handle>;
  if (x.kind !== kind) {
    throw new DsvcError(
      DSVC.INVAL,
      kind === "dt" ? "not a dhcptab handle" : "not a network handle",
    );
  }
  return x as Handle;
}

/** A fresh STEWpgsql module (its configure() picks the server; pools are shared per process). */
export function createPgModule(conver: number = PG_CONVER): DsvcModule {
  let client: PgClient | undefined;

  function db(): PgClient {
    client ??= clientFor(parsePgConfig(undefined));
    return client;
  }

  /** The schema exists (else NO_LOCATION), inside the same connection. */
  async function schemaExists(q: Runner, schema: string): Promise<void> {
    const r = await q({ text: "SELECT 1 FROM pg_namespace WHERE nspname = $1", values: [schema] });
    if (!r.rowCount) throw new DsvcError(DSVC.NO_LOCATION, `no schema ${schema} on ${db().target}`);
  }

  /** The comment of `schema.table`, null when it has none, undefined when there is no such table. */
  async function tableMark(
    q: Runner,
    schema: string,
    table: string,
  ): Promise<string | null | undefined> {
    const r = await q({
      text: `SELECT n.oid IS NOT NULL AS ns, c.oid IS NOT NULL AS tb,
               obj_description(c.oid, 'pg_class') AS mark
             FROM (SELECT 1) AS one
             LEFT JOIN pg_namespace n ON n.nspname = $1
             LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2 AND c.relkind = 'r'`,
      values: [schema, table],
    });
    const row = r.rows[0] ?? {};
    if (!row.ns) throw new DsvcError(DSVC.NO_LOCATION, `no schema ${schema} on ${db().target}`);
    if (!row.tb) return undefined;
    return (row.mark as string | null) ?? null;
  }

  async function tables(location: string): Promise<string[]> {
    checkSchema(location);
    return await db().run(`list ${location}`, true, async (q) => {
      const r = await q({
        text: `SELECT n.oid AS ns, c.relname AS name FROM pg_namespace n
               LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind = 'r'
               WHERE n.nspname = $1`,
        values: [location],
      });
      if (!r.rowCount) {
        throw new DsvcError(DSVC.NO_LOCATION, `no schema ${location} on ${db().target}`);
      }
      return r.rows.map((x) => x.name).filter((n): n is string => typeof n === "string");
    });
  }

  async function open(
    location: string,
    flags: number,
    kind: "dt" | "dn",
    name: string,
    mark: string,
    ddl: string[],
  ): Promise<Handle> {
    checkSchema(location);
    const h: Handle = { kind, schema: location, table: qualified(location, name), name, flags };
    if (flags & DSVC_CREATE) {
      await db().transaction(`create ${location}.${name}`, false, async (q) => {
        // Concurrent creators of one container: the first creates it, the others see it.
        await q({ text: "SELECT pg_advisory_xact_lock(hashtext($1))", values: [h.table] });
        if ((await tableMark(q, location, name)) !== undefined) {
          throw new DsvcError(DSVC.TABLE_EXISTS, `${location}.${name}`);
        }
        for (const text of ddl) await q({ text });
      });
      return h;
    }
    const found = await db().run(
      `open ${location}.${name}`,
      true,
      (q) => tableMark(q, location, name),
    );
    if (found === undefined) throw new DsvcError(DSVC.NO_TABLE, `${location}.${name}`);
    if (found === null || (found !== mark && !found.startsWith(`${mark} `))) {
      throw new DsvcError(
        DSVC.INTERNAL,
        `${location}.${name}: not a ${PG_RESOURCE} version ${conver} container: its comment is ${
          JSON.stringify(found)
        }, expected "${mark}"`,
      );
    }
    return h;
  }

  async function remove(location: string, name: string): Promise<void> {
    checkSchema(location);
    await db().run(`remove ${location}.${name}`, false, async (q) => {
      await schemaExists(q, location);
      await q({ text: `DROP TABLE ${qualified(location, name)}` });
    });
  }

  /**
   * Run one update statement on `h`. A NONBLOCK handle waits at most 1 ms for a row lock held
   * by another transaction (then DSVC_BUSY), as upstream's NONBLOCK does for the container lock.
   */
  function write<T>(h: Handle, what: string, fn: (q: Runner) => Promise<T>): Promise<T> {
    if (!(h.flags & DSVC_NONBLOCK)) return db().run(what, false, fn);
    return db().transaction(what, false, async (q) => {
      await q({ text: "SET LOCAL lock_timeout = '1ms'" });
      return await fn(q);
    });
  }

  /** After an update matched no row: NOENT when the key is gone, else COLLISION. */
  async function missOrCollision(q: Runner, probe: Statement, what: string): Promise<never> {
    const r = await q(probe);
    if (!r.rowCount) throw new DsvcError(DSVC.NOENT, what);
    throw new DsvcError(DSVC.COLLISION, `${what} changed since it was read`);
  }

  async function lookup<R>(
    h: Handle,
    st: Statement,
    req: ModuleLookup<R>,
    row: (r: Record<string, unknown>) => R,
  ): Promise<LookupResult<R>> {
    need(h, DSVC_READ);
    const r = await db().run(`lookup in ${h.schema}.${h.name}`, true, (q) => q(st));
    if (req.countOnly) return { records: [], count: Number(r.rows[0]?.n ?? 0) };
    const records = r.rows.map(row);
    return { records, count: records.length };
  }

  const dtKeyProbe = (h: Handle, r: DtRec): Statement => ({
    text: `SELECT 1 FROM ${h.table} WHERE key = $1 AND type = $2`,
    values: [r.key, r.type],
  });
  const dnKeyProbe = (h: Handle, r: DnRec): Statement => ({
    text: `SELECT 1 FROM ${h.table} WHERE cip = $1`,
    values: [r.cip],
  });

  return {
    name: PG_RESOURCE,
    conver,
    synchtype: DSVC_SYNCH_NONE,
    concurrent: true,
    description: PG_DESCRIPTION,

    configure(config: string | undefined): void {
      try {
        const settings = parsePgConfig(config);
        checkPassfile(settings);
        client = clientFor(settings);
      } catch (e) {
        if (e instanceof PgConfigError) throw new DsvcError(DSVC.MODULE_CFG_ERR, e.message);
        throw e;
      }
    },

    mkloctoken(location: string): string {
      return `postgresql://${db().target}/${location}`;
    },

    async status(location?: string): Promise<void> {
      if (location !== undefined) checkSchema(location);
      await db().run("status", true, async (q) => {
        if (location === undefined) await q({ text: "SELECT 1" });
        else await schemaExists(q, location);
      });
    },

    version: () => 1,

    async mklocation(location: string): Promise<void> {
      checkSchema(location);
      await db().run(`create schema ${location}`, false, async (q) => {
        await q({ text: `CREATE SCHEMA "${location}"` });
      });
    },

    async listDt(location: string): Promise<string[]> {
      return (await tables(location)).includes(dtTable(conver)) ? ["dhcptab"] : [];
    },

    openDt(location: string, flags: number): Promise<ModuleHandle> {
      return open(
        location,
        flags,
        "dt",
        dtTable(conver),
        dtMark(conver),
        dtCreate(location, conver),
      );
    },

    closeDt(handle: ModuleHandle): Promise<void> {
      asHandle(handle, "dt");
      return Promise.resolve();
    },

    removeDt(location: string): Promise<void> {
      return remove(location, dtTable(conver));
    },

    lookupDt(handle: ModuleHandle, req: ModuleLookup<DtRec>): Promise<LookupResult<DtRec>> {
      const h = asHandle(handle, "dt");
      return lookup(h, dtLookup(h.table, req), req, dtRow);
    },

    async addDt(handle: ModuleHandle, rec: DtRec): Promise<void> {
      const h = asHandle(handle, "dt");
      need(h, DSVC_WRITE);
      const sig = newSignature();
      await write(h, `add ${rec.key} to ${h.name}`, (q) =>
        q({
          text: `INSERT INTO ${h.table} (${DT_COLUMNS}) VALUES ($1, $2, $3, $4)`,
          values: [
            checkText("key", rec.key),
            rec.type,
            checkText("value", rec.value),
            sigParam(sig),
          ],
        }));
      rec.sig = sig;
    },

    async modifyDt(handle: ModuleHandle, orig: DtRec, rec: DtRec): Promise<void> {
      const h = asHandle(handle, "dt");
      need(h, DSVC_WRITE);
      const sig = nextSignature(orig.sig);
      const what = `${orig.key} (${orig.type}) in ${h.name}`;
      await write(h, `modify ${what}`, async (q) => {
        const r = await q({
          text: `UPDATE ${h.table} SET key = $1, type = $2, value = $3, sig = $4, seq = DEFAULT
                 WHERE key = $5 AND type = $6 AND sig = $7`,
          values: [
            checkText("key", rec.key),
            rec.type,
            checkText("value", rec.value),
            sigParam(sig),
            checkText("key", orig.key),
            orig.type,
            sigParam(orig.sig),
          ],
        });
        if (!r.rowCount) await missOrCollision(q, dtKeyProbe(h, orig), what);
      });
      rec.sig = sig;
    },

    async deleteDt(handle: ModuleHandle, rec: DtRec): Promise<void> {
      const h = asHandle(handle, "dt");
      need(h, DSVC_WRITE);
      const what = `${rec.key} (${rec.type}) in ${h.name}`;
      await write(h, `delete ${what}`, async (q) => {
        const key = [checkText("key", rec.key), rec.type];
        const r = rec.sig === 0n
          ? await q({ text: `DELETE FROM ${h.table} WHERE key = $1 AND type = $2`, values: key })
          : await q({
            text: `DELETE FROM ${h.table} WHERE key = $1 AND type = $2 AND sig = $3`,
            values: [...key, sigParam(rec.sig)],
          });
        if (!r.rowCount) await missOrCollision(q, dtKeyProbe(h, rec), what);
      });
    },

    async listDn(location: string): Promise<string[]> {
      return (await tables(location))
        .map((n) => networkOfFileName(PG_RESOURCE, conver, n))
        .filter((n): n is string => n !== undefined)
        .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    },

    openDn(location: string, flags: number, net: number, mask: number): Promise<ModuleHandle> {
      return open(
        location,
        flags,
        "dn",
        dnTable(conver, net),
        dnMark(conver, net),
        dnCreate(location, conver, net, mask),
      );
    },

    closeDn(handle: ModuleHandle): Promise<void> {
      asHandle(handle, "dn");
      return Promise.resolve();
    },

    removeDn(location: string, net: number): Promise<void> {
      return remove(location, dnTable(conver, net));
    },

    lookupDn(handle: ModuleHandle, req: ModuleLookup<DnRec>): Promise<LookupResult<DnRec>> {
      const h = asHandle(handle, "dn");
      return lookup(h, dnLookup(h.table, req), req, dnRow);
    },

    async addDn(handle: ModuleHandle, rec: DnRec): Promise<void> {
      const h = asHandle(handle, "dn");
      need(h, DSVC_WRITE);
      const sig = newSignature();
      await write(h, `add ${ipToString(rec.cip)} to ${h.name}`, (q) =>
        q({
          text: `INSERT INTO ${h.table} (${DN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          values: dnValues(rec, sig),
        }));
      rec.sig = sig;
    },

    async modifyDn(handle: ModuleHandle, orig: DnRec, rec: DnRec): Promise<void> {
      const h = asHandle(handle, "dn");
      need(h, DSVC_WRITE);
      const sig = nextSignature(orig.sig);
      const what = `${ipToString(orig.cip)} in ${h.name}`;
      await write(h, `modify ${what}`, async (q) => {
        const r = await q({
          text: `UPDATE ${h.table} SET cip = $1, cid = $2, flags = $3, sip = $4, lease = $5,
                   macro = $6, comment = $7, sig = $8, seq = DEFAULT
                 WHERE cip = $9 AND sig = $10`,
          values: [...dnValues(rec, sig), orig.cip, sigParam(orig.sig)],
        });
        if (!r.rowCount) await missOrCollision(q, dnKeyProbe(h, orig), what);
      });
      rec.sig = sig;
    },

    async deleteDn(handle: ModuleHandle, rec: DnRec): Promise<void> {
      const h = asHandle(handle, "dn");
      need(h, DSVC_WRITE);
      const what = `${ipToString(rec.cip)} in ${h.name}`;
      await write(h, `delete ${what}`, async (q) => {
        const r = rec.sig === 0n
          ? await q({ text: `DELETE FROM ${h.table} WHERE cip = $1`, values: [rec.cip] })
          : await q({
            text: `DELETE FROM ${h.table} WHERE cip = $1 AND sig = $2`,
            values: [rec.cip, sigParam(rec.sig)],
          });
        if (!r.rowCount) await missOrCollision(q, dnKeyProbe(h, rec), what);
      });
    },
  };
}
