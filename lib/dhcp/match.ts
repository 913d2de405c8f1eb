/**
 * Query matching as the shipped modules do it, for module authors: numeric equality for
 * addresses and lease, same length and bytes for client IDs, case-sensitive names, and
 * `(flags & F) == (target.flags & F)` for each DN_QF* bit.
 * @module
 */
import { cidEqual } from "./records.ts";
import {
  DN_FAUTOMATIC,
  DN_FBOOTP_ONLY,
  DN_FDYNAMIC,
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
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  type Query,
} from "./spi.ts";

function field(query: Query, bit: number, equal: () => boolean): boolean {
  if ((query & bit) === 0) return true;
  const wantEqual = ((query >>> 16) & bit) !== 0;
  return equal() === wantEqual;
}

/** Whether dhcptab record `r` satisfies `query` against `target`. */
export function matchDtRec(r: DtRec, query: Query, target: DtRec): boolean {
  return field(query, DT_QKEY, () => r.key === target.key) &&
    field(query, DT_QTYPE, () => r.type === target.type);
}

const FLAG_QUERIES: ReadonlyArray<readonly [number, number]> = [
  [DN_QFDYNAMIC, DN_FDYNAMIC],
  [DN_QFAUTOMATIC, DN_FAUTOMATIC],
  [DN_QFMANUAL, DN_FMANUAL],
  [DN_QFUNUSABLE, DN_FUNUSABLE],
  [DN_QFBOOTP_ONLY, DN_FBOOTP_ONLY],
];

/** Whether network record `r` satisfies `query` against `target`. */
export function matchDnRec(r: DnRec, query: Query, target: DnRec): boolean {
  if (
    !field(query, DN_QCIP, () => r.cip === target.cip) ||
    !field(query, DN_QCID, () => cidEqual(r.cid, target.cid)) ||
    !field(query, DN_QSIP, () => r.sip === target.sip) ||
    !field(query, DN_QLEASE, () => r.lease === target.lease) ||
    !field(query, DN_QMACRO, () => r.macro === target.macro)
  ) return false;
  for (const [q, f] of FLAG_QUERIES) {
    if (!field(query, q, () => (r.flags & f) === (target.flags & f))) return false;
  }
  return true;
}
