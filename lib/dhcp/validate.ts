/**
 * Record and query checks the framework makes before a module sees anything (upstream
 * private.c): add checks the whole record, modify the original's key and the new record in
 * full, delete the key only. Any failure is DSVC_INVAL naming the field.
 * @internal
 * @module
 */
import { ipToString, isIp, isSignature } from "./records.ts";
import {
  DN_FALL,
  DN_MAX_CID_LEN,
  DN_MAX_COMMENT_LEN,
  DN_QALL,
  DN_QCID,
  DN_QCIP,
  DN_QLEASE,
  DN_QMACRO,
  DN_QSIP,
  type DnRec,
  DSVC,
  DSVC_MAX_MACSYM_LEN,
  DsvcError,
  DT_QALL,
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  type Query,
  queryIsValid,
} from "./spi.ts";

function inval(detail: string): DsvcError {
  return new DsvcError(DSVC.INVAL, detail);
}

function checkSig(r: { sig?: unknown }): void {
  if (!isSignature(r.sig)) throw inval("signature must be a bigint in 0..2^64-1");
}

function checkDtKey(r: Partial<DtRec>): void {
  if (r.type !== "s" && r.type !== "m") {
    throw inval(`dhcptab record type must be 's' or 'm': ${JSON.stringify(r.type)}`);
  }
  if (typeof r.key !== "string" || r.key.length === 0 || r.key.length > DSVC_MAX_MACSYM_LEN) {
    throw inval(`dhcptab name must be 1..${DSVC_MAX_MACSYM_LEN} characters`);
  }
}

/** Check a whole dhcptab record (add, and the new record of modify). */
export function checkDtRec(r: DtRec): void {
  checkDtKey(r);
  checkSig(r);
  if (typeof r.value !== "string") throw inval(`value of ${r.key} must be a string`);
}

/** Check the key of a dhcptab record (delete, and the original of modify). */
export function checkDtKeyOnly(r: DtRec): void {
  checkDtKey(r);
  checkSig(r);
}

function checkCip(r: Partial<DnRec>, net: number, mask: number, maskName?: string): void {
  if (!isIp(r.cip)) throw inval("client IP must be a 32-bit unsigned number");
  if (((r.cip & mask) >>> 0) !== net) {
    throw inval(
      `client IP ${ipToString(r.cip)} is not in network ${ipToString(net)} under netmask ${
        maskName ?? ipToString(mask)
      }`,
    );
  }
}

/** Check a whole network record against its container's network. */
export function checkDnRec(r: DnRec, net: number, mask: number, maskName?: string): void {
  checkCip(r, net, mask, maskName);
  checkSig(r);
  if (!(r.cid instanceof Uint8Array) || r.cid.length < 1 || r.cid.length > DN_MAX_CID_LEN) {
    throw inval(`client ID must be 1..${DN_MAX_CID_LEN} bytes`);
  }
  if (!Number.isInteger(r.flags) || r.flags < 0 || (r.flags & ~DN_FALL) !== 0) {
    throw inval(`flags must be within 0x0F: ${String(r.flags)}`);
  }
  if (!isIp(r.sip)) throw inval("server IP must be a 32-bit unsigned number");
  if (!isIp(r.lease)) {
    throw inval("lease must be a 32-bit unsigned number (0xffffffff = permanent)");
  }
  if (typeof r.macro !== "string" || r.macro.length > DSVC_MAX_MACSYM_LEN) {
    throw inval(`macro must be at most ${DSVC_MAX_MACSYM_LEN} characters`);
  }
  if (typeof r.comment !== "string" || r.comment.length > DN_MAX_COMMENT_LEN) {
    throw inval(`comment must be at most ${DN_MAX_COMMENT_LEN} characters`);
  }
}

/** Check the key of a network record (delete, and the original of modify). */
export function checkDnKeyOnly(r: DnRec, net: number, mask: number, maskName?: string): void {
  checkCip(r, net, mask, maskName);
  checkSig(r);
}

/** Check a dhcptab query word and that the target holds every field it selects. */
export function checkDtQuery(query: Query, target: Partial<DtRec>): void {
  if (!queryIsValid(query, DT_QALL)) throw inval(`query word has bits outside DT_QALL: ${query}`);
  if ((query & DT_QKEY) && typeof target.key !== "string") {
    throw inval("query selects key but target has none");
  }
  if ((query & DT_QTYPE) && typeof target.type !== "string") {
    throw inval("query selects type but target has none");
  }
}

/** Check a network query word and that the target holds every field it selects. */
export function checkDnQuery(query: Query, target: Partial<DnRec>): void {
  if (!queryIsValid(query, DN_QALL)) throw inval(`query word has bits outside DN_QALL: ${query}`);
  if ((query & DN_QCID) && !(target.cid instanceof Uint8Array)) {
    throw inval("query selects client ID but target has none");
  }
  if ((query & DN_QCIP) && !isIp(target.cip)) {
    throw inval("query selects client IP but target has none");
  }
  if ((query & DN_QSIP) && !isIp(target.sip)) {
    throw inval("query selects server IP but target has none");
  }
  if ((query & DN_QLEASE) && !isIp(target.lease)) {
    throw inval("query selects lease but target has none");
  }
  if ((query & DN_QMACRO) && typeof target.macro !== "string") {
    throw inval("query selects macro but target has none");
  }
  if ((query & 0x3e0) && !Number.isInteger(target.flags)) {
    throw inval("query selects flags but target has none");
  }
}

/** A full dhcptab target from a partial one (fields the query does not select are ignored). */
export function fullDtTarget(t: Partial<DtRec>): DtRec {
  return { sig: t.sig ?? 0n, key: t.key ?? "", type: t.type ?? "m", value: t.value ?? "" };
}

/** A full network target from a partial one (fields the query does not select are ignored). */
export function fullDnTarget(t: Partial<DnRec>): DnRec {
  return {
    sig: t.sig ?? 0n,
    cid: t.cid ?? new Uint8Array(0),
    flags: t.flags ?? 0,
    cip: t.cip ?? 0,
    sip: t.sip ?? 0,
    lease: t.lease ?? 0,
    macro: t.macro ?? "",
    comment: t.comment ?? "",
  };
}
