/**
 * How a failure of a store call ends a pntadm/dhtadm function: its exit code (0-4) and message.
 * @module
 */
import { DhcptabSyntaxError } from "../dhcptab/symbol.ts";
import { DSVC, DSVC_NERR, type DsvcCode, dsvcErrmsg, DsvcError } from "../spi.ts";
import { ADMIN_EXIT, AdminError } from "./format.ts";

/**
 * A store failure as a DsvcError: DsvcErrors as they are, and errors thrown by a third-party
 * module that carry an upstream DSVC_* number in `code` (modules loaded from the module
 * directory cannot share steward's DsvcError class). Undefined for anything else.
 */
export function asDsvcError(e: unknown): DsvcError | undefined {
  if (e instanceof DsvcError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (
    e instanceof Error && typeof code === "number" && Number.isInteger(code) && code > 0 &&
    code < DSVC_NERR
  ) {
    const detail = e.message === dsvcErrmsg(code) ? undefined : e.message;
    return new DsvcError(code as DsvcCode, detail, { cause: e });
  }
  return undefined;
}

const CRITICAL_CODES: readonly number[] = [
  DSVC.BAD_RESOURCE,
  DSVC.BAD_PATH,
  DSVC.BAD_CONVER,
  DSVC.MODULE_LOAD_ERR,
  DSVC.MODULE_VERSION,
  DSVC.MODULE_ERR,
  DSVC.MODULE_CFG_ERR,
];

/**
 * The AdminError ending a function that failed with `e`: a missing object exits `notFound`,
 * an existing one `exists`, an unusable configuration or module 4, anything else 3 (as
 * upstream). Errors that are not store or syntax errors are rethrown: they are bugs.
 */
export function adminFailure(e: unknown, codes: { notFound: number; exists: number }): AdminError {
  if (e instanceof AdminError) return e;
  if (e instanceof DhcptabSyntaxError) return new AdminError(e.message, ADMIN_EXIT.WARNING);
  const d = asDsvcError(e);
  if (!d) throw e;
  if (d.code === DSVC.NO_TABLE || d.code === DSVC.NOENT) {
    return new AdminError(d.message, codes.notFound);
  }
  if (d.code === DSVC.TABLE_EXISTS || d.code === DSVC.EXISTS) {
    return new AdminError(d.message, codes.exists);
  }
  if (CRITICAL_CODES.includes(d.code)) return new AdminError(d.message, ADMIN_EXIT.CRITICAL);
  return new AdminError(d.message, ADMIN_EXIT.WARNING);
}
