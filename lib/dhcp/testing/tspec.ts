/**
 * The upstream public-module test specification's data set (public.txt), read from the record
 * listings copied next to this file: 15 vendor symbols and 10 macros in presentation form
 * (`name type value`, `\` continuations), and the network template
 * `00 00 172.21.0.6 <Server IP> 0 atlantic` … `172.21.12.6`.
 * @internal
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ipToString, makeDnRec, makeDtRec, parseIp } from "../records.ts";
import type { DnRec, DtRec, DtType } from "../spi.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The test network (container name). */
export const TSPEC_NETWORK = "172.21.0.0";
/** Its address as a number. */
export const TSPEC_NET = parseIp(TSPEC_NETWORK) as number;
/** The server IP used for `<Server IP>`. */
export const TSPEC_SERVER = "172.21.0.1";
/** First and last client addresses of the template. */
export const TSPEC_FIRST = "172.21.0.6";
export const TSPEC_LAST = "172.21.12.6";

/** The 25 dhcptab records, in listing order. */
export function tspecDhcptab(): DtRec[] {
  const text = fs.readFileSync(path.join(here, "tspec-dhcptab-records.txt"), "utf8");
  const logical: string[] = [];
  let cur = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (cur === "" && line === "") continue;
    const part = line.endsWith("\\") ? line.slice(0, -1).trimEnd() : line;
    // Continuations join a value's ":a=b:" groups; ": \" + ":c=d:" is one ":" in the value.
    if (cur === "") cur = part;
    else if (cur.endsWith(":") && part.startsWith(":")) cur += part.slice(1);
    else cur += ` ${part}`;
    if (!line.endsWith("\\")) {
      logical.push(cur);
      cur = "";
    }
  }
  return logical.map((l) => {
    const m = /^(\S+)\s+([sm])\s+(.*)$/.exec(l);
    if (!m) throw new Error(`bad fixture line: ${l}`);
    return makeDtRec(m[1] as string, m[2] as DtType, m[3] as string);
  });
}

/** Network records of the template from `first` to `last` (inclusive, default the whole template). */
export function tspecNetwork(first = TSPEC_FIRST, last = TSPEC_LAST): DnRec[] {
  const a = parseIp(first) as number;
  const b = parseIp(last) as number;
  const out: DnRec[] = [];
  for (let ip = a; ip <= b; ip++) {
    out.push(
      makeDnRec({ cid: "00", flags: 0, cip: ip, sip: TSPEC_SERVER, lease: 0, macro: "atlantic" }),
    );
  }
  return out;
}

/** `<network address>+n` as a number. */
export function netPlus(n: number): number {
  return TSPEC_NET + n;
}

/** `<network address>+n` dotted. */
export function netPlusText(n: number): string {
  return ipToString(TSPEC_NET + n);
}
