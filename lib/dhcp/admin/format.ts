/**
 * Byte-exact output of `pntadm -P` and `dhtadm -P`, and the flag and lease forms the upstream
 * tools read and print.
 * @module
 */
import { cidToHex, ipToString } from "../records.ts";
import { DHCP_PERM, type DnRec, type DtRec } from "../spi.ts";

/** Exit codes of pntadm, dhtadm and batch mode (upstream DhcpCliProgram). */
export const ADMIN_EXIT = {
  SUCCESS: 0,
  /** The object already exists. */
  EXISTS: 1,
  /** The object does not exist. */
  ENOENT: 2,
  /** A non-critical error: the operation failed. */
  WARNING: 3,
  /** A critical error: bad usage, unusable configuration, version mismatch. */
  CRITICAL: 4,
} as const;

/** An error that ends a pntadm/dhtadm function with its exit code and `<tool>: message`. */
export class AdminError extends Error {
  override name = "AdminError";
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * `text` safe for a terminal: every control character except newline and tab (C0, DEL, C1)
 * becomes `\xNN`, so a message echoing request data (a comment, a macro value, a batch line)
 * never sends raw escape sequences to the administrator's terminal or log viewer. Applying it
 * twice changes nothing more.
 */
export function escapeDiagnostic(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Java's `%-Ns`: pad on the right to at least `n` characters. */
export function padRight(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

const FLAG_KEYWORDS: readonly [string, number][] = [
  ["DYNAMIC", 0x00],
  ["PERMANENT", 0x01],
  ["MANUAL", 0x02],
  ["UNUSABLE", 0x04],
  ["BOOTP", 0x08],
];

/**
 * Parse pntadm's `-f`: a number (00..15) or `+`-joined keywords DYNAMIC, PERMANENT, MANUAL,
 * UNUSABLE, BOOTP (any case).
 */
export function parseFlags(text: string): number {
  if (/^[0-9]/.test(text)) {
    if (!/^\d{1,3}$/.test(text) || Number(text) > 15) {
      throw new AdminError(
        `Invalid flags value: ${text} (a number 0..15 or keywords joined by '+')`,
        ADMIN_EXIT.WARNING,
      );
    }
    return Number(text);
  }
  let flags = 0;
  for (const word of text.split("+").filter((w) => w !== "")) {
    const kw = FLAG_KEYWORDS.find(([k]) => k === word.toUpperCase());
    if (!kw) {
      throw new AdminError(
        `Invalid flags keyword: ${word} (use DYNAMIC, PERMANENT, MANUAL, UNUSABLE or BOOTP)`,
        ADMIN_EXIT.WARNING,
      );
    }
    flags |= kw[1];
  }
  if (text.split("+").every((w) => w === "")) {
    throw new AdminError(`Invalid flags value: '${text}'`, ADMIN_EXIT.WARNING);
  }
  return flags;
}

/** Flags as pntadm prints them: `00`, `03`, `12`; with verbose the letters D/P/M/U/B. */
export function formatFlags(flags: number, verbose = false): string {
  if (!verbose) return flags < 10 ? `0${flags}` : String(flags);
  if (flags === 0) return "D";
  let s = "";
  if (flags & 0x01) s += "P";
  if (flags & 0x02) s += "M";
  if (flags & 0x04) s += "U";
  if (flags & 0x08) s += "B";
  return s;
}

/** Flags as keywords (`PERMANENT+MANUAL`, `DYNAMIC` for 0), for readable output. */
export function flagKeywords(flags: number): string {
  if (flags === 0) return "DYNAMIC";
  return FLAG_KEYWORDS.filter(([, v]) => v !== 0 && (flags & v) !== 0).map(([k]) => k).join("+");
}

/**
 * Parse pntadm's `-e`: `0` (no lease), `-1` (permanent), or a date `MM/dd/yyyy` meaning
 * midnight local time, read leniently as upstream's `SimpleDateFormat` does: out-of-range
 * months and days roll over (13/45/2001 is 02/14/2002) and text after the year is ignored.
 * Returns the lease as stored (seconds since the epoch, DHCP_PERM).
 */
export function parseLeaseDate(text: string): number {
  if (text === "0") return 0;
  if (text === "-1") return DHCP_PERM;
  const m = /^(\d{1,9})\/(\d{1,9})\/(\d{1,9})/.exec(text);
  const bad = () =>
    new AdminError(
      `Invalid lease expiration: ${text} (use mm/dd/yyyy, 0 or -1)`,
      ADMIN_EXIT.WARNING,
    );
  if (!m) throw bad();
  const d = new Date(0);
  d.setFullYear(Number(m[3]), Number(m[1]) - 1, Number(m[2]));
  d.setHours(0, 0, 0, 0);
  const secs = Math.floor(d.getTime() / 1000);
  if (!Number.isFinite(secs) || secs < 1 || secs >= DHCP_PERM) throw bad();
  return secs;
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** A lease as `MM/dd/yyyy` in local time (pntadm -P). */
export function formatShortDate(lease: number): string {
  const d = new Date(lease * 1000);
  return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${String(d.getFullYear()).padStart(4, "0")}`;
}

/** A lease as Java's en_US SHORT date + LONG time, e.g. `3/15/01 12:00:00 AM UTC` (pntadm -P -v). */
export function formatVerboseDate(lease: number): string {
  const d = new Date(lease * 1000);
  const h = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  const zone = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d)
    .find((p) => p.type === "timeZoneName")?.value ?? "UTC";
  return `${d.getMonth() + 1}/${d.getDate()}/${two(d.getFullYear() % 100)} ${h}:${
    two(d.getMinutes())
  }:${two(d.getSeconds())} ${d.getHours() < 12 ? "AM" : "PM"} ${zone}`;
}

/** How `pntadm -P` shows leases. */
export type LeaseStyle = "short" | "verbose" | "raw";

/** The lease column of `pntadm -P`. */
export function formatLease(lease: number, style: LeaseStyle): string {
  // The Java tools receive the lease as a signed 32-bit number: DHCP_PERM is -1.
  const signed = lease > 0x7fffffff ? lease - 0x100000000 : lease;
  if (style === "raw") return String(signed);
  if (signed === 0) return "Zero";
  if (signed < 0) return " Forever";
  return style === "verbose" ? formatVerboseDate(lease) : formatShortDate(lease);
}

/** Options of {@link formatNetworkTable}. */
export interface NetworkTableFormat {
  style: LeaseStyle;
  /** With -v: the host name of an address, or undefined to print it dotted. */
  hostName?: (ip: number) => string | undefined;
}

/** `pntadm -P` output for records in the order given (module lookup order), byte for byte. */
export function formatNetworkTable(records: readonly DnRec[], fmt: NetworkTableFormat): string {
  const verbose = fmt.style === "verbose";
  const host = (ip: number) => (verbose ? fmt.hostName?.(ip) : undefined) ?? ipToString(ip);
  let out = `${padRight("Client ID", 8)}\t${padRight("Flags", 4)}\t${padRight("Client IP", 8)}\t` +
    `${padRight("Server IP", 8)}\t${padRight("Lease Expiration", 25)}\t${
      padRight("Macro", 8)
    }\tComment\n\n`;
  for (const r of records) {
    // An empty client ID (a hand-edited line) shows as 00, as upstream's DhcpClientRecord.
    out +=
      `${padRight(r.cid.length > 0 ? cidToHex(r.cid) : "00", 8)}\t${
        padRight(formatFlags(r.flags, verbose), 4)
      }\t` +
      `${padRight(host(r.cip), 8)}\t${padRight(host(r.sip), 8)}\t` +
      `${padRight(formatLease(r.lease, fmt.style), 25)}\t${padRight(r.macro, 8)}\t${r.comment}\n`;
  }
  return out;
}

/** `dhtadm -P` output: header, rule, macros then symbols, each in the order given. */
export function formatDhcptab(records: readonly DtRec[]): string {
  let out = `${padRight("Name", 20)}\t${padRight("Type", 8)}\tValue\n${"=".repeat(50)}\n`;
  for (const type of ["m", "s"] as const) {
    for (const r of records) {
      if (r.type !== type) continue;
      out += `${padRight(r.key, 20)}\t${
        padRight(type === "m" ? "Macro" : "Symbol", 8)
      }\t${r.value}\n`;
    }
  }
  return out;
}
