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
 * A container's file or lock name inside a message: `<dir>/<RESOURCE><version>_<a_b_c_d |
 * a.b.c.d | dhcptab>`, a leading dot and a suffix (`+update`, `.lock`, `.<random>.create`)
 * included. Group 1 is the directory, group 2 the container.
 */
const CONTAINER_NAME =
  /(\/(?:[^\s:'"]*\/)?)\.?[A-Za-z][A-Za-z0-9]*?\d+_(dhcptab|\d{1,3}[._]\d{1,3}[._]\d{1,3}[._]\d{1,3})(?:\+update|\.[A-Za-z0-9.]+)?/;

/** "dhcptab" or the dotted network a container name stands for. */
function containerSubject(container: string): string {
  return container === "dhcptab" ? "dhcptab" : container.replaceAll("_", ".");
}

/** An operating system error inside a message (`EIO: i/o error, read`): not damage. */
const SYSTEM_ERROR = /\bE[A-Z]{2,}\b:/;

/**
 * `e` with its message in the user's terms: the network ("network 10.0.0.0") or "the dhcptab"
 * instead of the container file or lock name the module gave, the cause first. A missing or
 * existing table gets upstream's bridge text ("Table for 10.0.0.0 does not exist."; bridge
 * ResourceBundle `no_table_exception`, `table_exists_exception`). Anything but a store error
 * naming a container is returned as it is; a rewritten one keeps its code.
 */
export function inUserTerms(e: unknown): unknown {
  const d = asDsvcError(e);
  const detail = d?.detail;
  if (!d || detail === undefined) return e;
  const m = CONTAINER_NAME.exec(detail);
  if (!m) return e;
  const dir = (m[1] ?? "/").replace(/(?<=.)\/$/, "");
  const name = containerSubject(m[2] ?? "");
  const subject = name === "dhcptab" ? "the dhcptab" : `network ${name}`;
  let message: string;
  if (d.code === DSVC.NO_TABLE) message = `Table for ${name} does not exist.`;
  else if (d.code === DSVC.TABLE_EXISTS) message = `Table for ${name} already exists.`;
  else {
    const global = new RegExp(CONTAINER_NAME.source, "g");
    const rest = detail
      // Node's "EACCES: permission denied, open '<file>'": the reason, and the directory.
      .replace(
        /\bE[A-Z]+: ([^,]+), \w+ '([^']*)'/g,
        (_all, why: string, file: string) =>
          CONTAINER_NAME.test(file) ? `${why} in ${dir}` : `${why} (${file})`,
      )
      .replace(global, "")
      .replace(/ +(?=[:,)]|$)/g, "")
      .replace(/^[\s:]+/, "");
    if (d.code === DSVC.INTERNAL && m.index === 0 && !SYSTEM_ERROR.test(detail)) {
      // The module blames the container's contents (bad header, malformed line, broken chain).
      const what = rest.replace(/^damaged: /, "");
      const check = name === "dhcptab" || /network check/.test(what)
        ? ""
        : ` (see 'steward dhcp network check ${name}')`;
      const table = name === "dhcptab" ? "The dhcptab" : `The table of network ${name}`;
      message = `${table} is damaged: ${what}${check}`;
    } else {
      message = `${dsvcErrmsg(d.code)}: ${subject}${rest ? `: ${rest}` : ""}`;
    }
  }
  const out = new DsvcError(d.code, detail, { cause: e });
  out.message = message;
  return out;
}

/**
 * The AdminError ending a function that failed with `e`: a missing object exits `notFound`,
 * an existing one `exists`, an unusable configuration or module 4, anything else 3 (as
 * upstream). Errors that are not store or syntax errors are rethrown: they are bugs.
 */
export function adminFailure(e: unknown, codes: { notFound: number; exists: number }): AdminError {
  if (e instanceof AdminError) return e;
  if (e instanceof DhcptabSyntaxError) return new AdminError(e.message, ADMIN_EXIT.WARNING);
  const d = asDsvcError(inUserTerms(e));
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
