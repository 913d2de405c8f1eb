/**
 * SUNWfiles version 0 (legacy, Solaris 2.6–8) text format: `key<TAB>type<TAB>value` dhcptab
 * lines and `cid flags cip sip lease [macro] [#comment]` network lines, no headers, no
 * signatures.
 * @internal
 * @module
 */
import { cidToHex, ipToString } from "../../records.ts";
import {
  DN_MAX_COMMENT_LEN,
  type DnRec,
  DSVC,
  DSVC_MAX_MACSYM_LEN,
  DsvcError,
  type DtRec,
} from "../../spi.ts";
import { decodeDnFields, type RecordPlace } from "../files/format.ts";
import { cutBytes } from "../files/lenient.ts";

function malformed(at: RecordPlace, why: string): DsvcError {
  return new DsvcError(DSVC.INTERNAL, `${at.file} line ${at.lineNo}: malformed record: ${why}`);
}

function refuse(detail: string): DsvcError {
  return new DsvcError(DSVC.INVAL, `SUNWfiles version 0 cannot store ${detail}`);
}

/** Parse a legacy dhcptab line; undefined for comments and blank lines. */
export function decodeDt0(text: string, at: RecordPlace): DtRec | undefined {
  if (text.startsWith("#") || /^[ \t]*$/.test(text)) return undefined;
  const m = /^[ \t]*([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+(.*))?$/.exec(text);
  if (!m) throw malformed(at, "expected name, type and value separated by whitespace");
  const type = m[2];
  if (type !== "s" && type !== "m") {
    throw malformed(at, `type must be s or m: ${JSON.stringify(type)}`);
  }
  return { sig: 1n, key: m[1] as string, type, value: m[3] ?? "" };
}

/** A legacy dhcptab line. */
export function encodeDt0(r: DtRec): string {
  if (r.key === "" || /[ \t\n\r\0]/.test(r.key) || r.key.startsWith("#")) {
    throw refuse(`the name ${JSON.stringify(r.key)} (no whitespace, not starting with #)`);
  }
  if (/[\n\r\0]/.test(r.value) || r.value.endsWith("\\")) {
    throw refuse("a line break, NUL or trailing backslash in the value");
  }
  return `${r.key}\t${r.type}\t${r.value}\n`;
}

/** Parse a legacy network line; undefined for comments and blank lines. */
export function decodeDn0(text: string, _at: RecordPlace): DnRec | undefined {
  if (text.startsWith("#") || /^[ \t]*$/.test(text)) return undefined;
  const m =
    /^[ \t]*([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)[ \t]+([^ \t]+)(?:[ \t]+(.*))?$/
      .exec(text);
  // Upstream skips a line with fewer than the five required fields.
  if (!m) return undefined;
  const [, cidT, flagsT, cipT, sipT, leaseT] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const rest = m[6] ?? "";
  const fields = decodeDnFields({ cipT, cidT, flagsT, sipT, leaseT });
  if (!fields) return undefined;
  const { cid, flags, cip, sip, lease } = fields;
  // As upstream: the macro runs to whitespace or '#'; the comment follows the next '#'.
  let macro = rest;
  let comment = "";
  const stop = rest.search(/[ \t#]/);
  if (stop >= 0) {
    macro = rest.slice(0, stop);
    const hash = rest.indexOf("#", stop);
    comment = hash >= 0 ? rest.slice(hash + 1) : "";
  }
  return {
    sig: 1n,
    cid,
    flags,
    cip,
    sip,
    lease,
    macro: cutBytes(macro, DSVC_MAX_MACSYM_LEN),
    comment: cutBytes(comment, DN_MAX_COMMENT_LEN),
  };
}

/** A legacy network line (`%s %02hu %s %s %u %s[ #%s]\n`). */
export function encodeDn0(r: DnRec): string {
  if (/[ \t\n\r\0#]/.test(r.macro)) {
    throw refuse(`the macro ${JSON.stringify(r.macro)} (no whitespace or #)`);
  }
  if (/[\n\r\0]/.test(r.comment) || r.comment.endsWith("\\")) {
    throw refuse("a line break, NUL or trailing backslash in the comment");
  }
  const base = `${cidToHex(r.cid)} ${String(r.flags).padStart(2, "0")} ${ipToString(r.cip)} ${
    ipToString(r.sip)
  } ${r.lease >>> 0} ${r.macro}`;
  return r.comment ? `${base} #${r.comment}\n` : `${base}\n`;
}
