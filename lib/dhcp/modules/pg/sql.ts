/**
 * The SQL of the PostgreSQL module: container tables and their definitions, the checks on
 * schema (PATH) names, record ↔ row conversion, and lookup queries built from a query word.
 * Identifiers are built only from checked names and numbers and are always quoted; every value
 * travels as a parameter.
 * @internal
 * @module
 */
import {
  DN_FAUTOMATIC,
  DN_FBOOTP_ONLY,
  DN_FMANUAL,
  DN_FUNUSABLE,
  DN_QCID,
  DN_QCIP,
  DN_QFAUTOMATIC,
  DN_QFBOOTP_ONLY,
  DN_QFDYNAMIC,
  DN_QFMANUAL,
  DN_QFUNUSABLE,
  DN_QLEASE,
  DN_QMACRO,
  DN_QSIP,
  type DnRec,
  DSVC,
  DsvcError,
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  type DtType,
  type ModuleLookup,
  qiseq,
  type Query,
} from "../../spi.ts";
import { ipToString } from "../../records.ts";
import type { Statement } from "./client.ts";

/** Module name: steward's organisation prefix STEW, as SUNW was Sun's. */
export const PG_RESOURCE = "STEWpgsql";
/** Container version = version of the table layout below. */
export const PG_CONVER = 1;

/** Schema names steward accepts as PATH: lower-case letters, digits, `_`; not `pg_…`. */
export const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Why `schema` is not a usable PATH, or undefined. */
export function schemaProblem(schema: string): string | undefined {
  if (!SCHEMA_RE.test(schema)) {
    return `PATH must be a PostgreSQL schema name: a lower-case letter or '_', then lower-case letters, digits or '_', at most 63: ${
      JSON.stringify(schema)
    }`;
  }
  if (schema.startsWith("pg_") || schema === "information_schema") {
    return `PATH names a system schema: ${schema}`;
  }
  return undefined;
}

/** Throw DSVC_INVAL unless `schema` is a usable PATH. */
export function checkSchema(schema: string): string {
  const p = schemaProblem(schema);
  if (p) throw new DsvcError(DSVC.INVAL, p);
  return schema;
}

/** `"schema"."table"`. Both parts were checked, and are quoted anyway. */
export function qualified(schema: string, table: string): string {
  return `"${schema.replaceAll('"', '""')}"."${table.replaceAll('"', '""')}"`;
}

/** Table name of the dhcptab (`STEWpgsql1_dhcptab`). */
export function dtTable(conver: number): string {
  return `${PG_RESOURCE}${conver}_dhcptab`;
}

/** Table name of a network container (`STEWpgsql1_10_0_0_0`). */
export function dnTable(conver: number, net: number): string {
  return `${PG_RESOURCE}${conver}_${ipToString(net).replaceAll(".", "_")}`;
}

/** The table comment that marks a container and its version (checked on open, as a file header). */
export function dtMark(conver: number): string {
  return `${PG_RESOURCE}${conver} dhcptab`;
}

/** The mark of a network container; the netmask is informational. */
export function dnMark(conver: number, net: number, mask?: number): string {
  return `${PG_RESOURCE}${conver} network ${ipToString(net)}${
    mask === undefined ? "" : ` ${ipToString(mask)}`
  }`;
}

/**
 * DDL of a new dhcptab. `seq` orders rows by their last write, so lookups return records in
 * the order SUNWfiles would (newest write first) and a converted store keeps its order.
 */
export function dtCreate(schema: string, conver: number): string[] {
  const t = qualified(schema, dtTable(conver));
  return [
    `CREATE TABLE ${t} (
      key text COLLATE "C" NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
      type text COLLATE "C" NOT NULL CHECK (type IN ('s', 'm')),
      value text COLLATE "C" NOT NULL,
      sig bigint NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      PRIMARY KEY (key, type))`,
    `COMMENT ON TABLE ${t} IS '${dtMark(conver)}'`,
  ];
}

/** DDL of a new network container: the client IP is the key; client-ID lookups are indexed. */
export function dnCreate(schema: string, conver: number, net: number, mask: number): string[] {
  const name = dnTable(conver, net);
  const t = qualified(schema, name);
  return [
    `CREATE TABLE ${t} (
      cip bigint PRIMARY KEY CHECK (cip BETWEEN 0 AND 4294967295),
      cid bytea NOT NULL CHECK (length(cid) BETWEEN 1 AND 64),
      flags smallint NOT NULL CHECK (flags BETWEEN 0 AND 15),
      sip bigint NOT NULL CHECK (sip BETWEEN 0 AND 4294967295),
      lease bigint NOT NULL CHECK (lease BETWEEN 0 AND 4294967295),
      macro text COLLATE "C" NOT NULL CHECK (length(macro) <= 128),
      comment text COLLATE "C" NOT NULL CHECK (length(comment) <= 48),
      sig bigint NOT NULL,
      seq bigint GENERATED ALWAYS AS IDENTITY)`,
    `CREATE INDEX "${name}_cid" ON ${t} (cid, seq)`,
    `COMMENT ON TABLE ${t} IS '${dnMark(conver, net, mask)}'`,
  ];
}

/** A 64-bit unsigned signature as the signed bigint column holds it. */
export function sigParam(sig: bigint): string {
  return BigInt.asIntN(64, sig).toString();
}

/** A signature read from the column. */
export function sigValue(v: unknown): bigint {
  return BigInt.asUintN(64, BigInt(v as string));
}

/** Refuse text PostgreSQL cannot store (NUL) with a clear message, before it is sent. */
export function checkText(field: string, v: string): string {
  if (v.includes("\0")) {
    throw new DsvcError(
      DSVC.INVAL,
      `${field} contains a NUL character, which PostgreSQL text cannot hold`,
    );
  }
  return v;
}

/** A dhcptab row as a record. */
export function dtRow(r: Record<string, unknown>): DtRec {
  return {
    sig: sigValue(r.sig),
    key: r.key as string,
    type: r.type as DtType,
    value: r.value as string,
  };
}

/** A network row as a record. */
export function dnRow(r: Record<string, unknown>): DnRec {
  return {
    sig: sigValue(r.sig),
    cid: Uint8Array.from(r.cid as Uint8Array),
    flags: Number(r.flags),
    cip: Number(r.cip),
    sip: Number(r.sip),
    lease: Number(r.lease),
    macro: r.macro as string,
    comment: r.comment as string,
  };
}

/** Parameters of a network record, in the column order `cip, cid, flags, sip, lease, macro, comment, sig`. */
export function dnValues(r: DnRec, sig: bigint): unknown[] {
  return [
    r.cip,
    Buffer.from(r.cid),
    r.flags,
    r.sip,
    r.lease,
    checkText("macro", r.macro),
    checkText("comment", r.comment),
    sigParam(sig),
  ];
}

const DT_COLS = "key, type, value, sig";
const DN_COLS = "cip, cid, flags, sip, lease, macro, comment, sig";

class Where {
  parts: string[] = [];
  values: unknown[] = [];
  add(query: Query, bit: number, sql: (p: string) => string, value: unknown): void {
    if ((query & bit) === 0) return;
    this.values.push(value);
    const eq = ((query >>> 16) & bit) !== 0;
    const cond = sql(`$${this.values.length}`);
    this.parts.push(eq ? cond : `NOT (${cond})`);
  }
  /** A field that is always equal (DN_FDYNAMIC is 0): QEQ is true, QNEQ false. */
  always(query: Query, bit: number): void {
    if ((query & bit) === 0) return;
    this.parts.push(((query >>> 16) & bit) !== 0 ? "TRUE" : "FALSE");
  }
  text(): string {
    return this.parts.length ? ` WHERE ${this.parts.join(" AND ")}` : "";
  }
}

/**
 * The statement of a lookup. As SUNWfiles: with a count, the first `count` matches in write
 * order, returned newest first; without, every match newest first.
 */
function lookupStatement(
  table: string,
  cols: string,
  where: Where,
  req: { count: number; countOnly: boolean },
  unique = false,
): Statement {
  const w = where.text();
  const values = where.values;
  // At most one row (the primary key is given): no order to keep, no limit to apply.
  if (unique && !req.countOnly) return { text: `SELECT ${cols} FROM ${table}${w}`, values };
  if (req.countOnly) {
    const text = req.count < 0
      ? `SELECT count(*) AS n FROM ${table}${w}`
      : `SELECT count(*) AS n FROM (SELECT 1 FROM ${table}${w} LIMIT ${req.count}) AS l`;
    return { text, values };
  }
  if (req.count < 0) return { text: `SELECT ${cols} FROM ${table}${w} ORDER BY seq DESC`, values };
  return {
    text:
      `SELECT ${cols} FROM (SELECT ${cols}, seq FROM ${table}${w} ORDER BY seq LIMIT ${req.count}) AS l ORDER BY seq DESC`,
    values,
  };
}

/** The lookup statement of a dhcptab request. */
export function dtLookup(table: string, req: ModuleLookup<DtRec>): Statement {
  const w = new Where();
  w.add(req.query, DT_QKEY, (p) => `key = ${p}`, checkText("key", req.target.key));
  w.add(req.query, DT_QTYPE, (p) => `type = ${p}`, req.target.type);
  return lookupStatement(table, DT_COLS, w, req);
}

const FLAG_BITS: ReadonlyArray<readonly [number, number]> = [
  [DN_QFAUTOMATIC, DN_FAUTOMATIC],
  [DN_QFMANUAL, DN_FMANUAL],
  [DN_QFUNUSABLE, DN_FUNUSABLE],
  [DN_QFBOOTP_ONLY, DN_FBOOTP_ONLY],
];

/** The lookup statement of a network request. */
export function dnLookup(table: string, req: ModuleLookup<DnRec>): Statement {
  const t = req.target;
  const q = req.query;
  const w = new Where();
  w.add(q, DN_QCIP, (p) => `cip = ${p}`, t.cip);
  w.add(q, DN_QCID, (p) => `cid = ${p}`, Buffer.from(t.cid));
  w.add(q, DN_QSIP, (p) => `sip = ${p}`, t.sip);
  w.add(q, DN_QLEASE, (p) => `lease = ${p}`, t.lease);
  w.add(q, DN_QMACRO, (p) => `macro = ${p}`, checkText("macro", t.macro));
  w.always(q, DN_QFDYNAMIC);
  for (const [bit, flag] of FLAG_BITS) {
    w.add(q, bit, (p) => `(flags & ${flag}) = ${p}`, t.flags & flag);
  }
  return lookupStatement(table, DN_COLS, w, req, qiseq(q, DN_QCIP));
}

/** Column list of the network table in {@link dnValues} order. */
export const DN_COLUMNS = DN_COLS;
/** Column list of the dhcptab. */
export const DT_COLUMNS = DT_COLS;
