/**
 * dhcpsvc.conf: `KEY=VALUE` lines and `#` comments, read with line-numbered errors and limits,
 * edited in place (comments and order kept) and rewritten atomically; the datastore it names.
 * @module
 */
import fsp from "node:fs/promises";
import { writeFileAtomic } from "../platform/atomic.ts";
import { checkResourceName } from "./naming.ts";
import type { Datastore } from "./store-api.ts";
import { DSVC, DSVC_CUR_CONVER, DsvcError } from "./spi.ts";

/** Upstream's path of the file (DHCP_CONFOPT_FILE). */
export const DHCPSVC_CONF_FILE = "/etc/inet/dhcpsvc.conf";
/** Largest file read (bytes). */
export const DHCPSVC_CONF_MAX_BYTES = 256 * 1024;
/** Longest line (characters). */
export const DHCPSVC_CONF_MAX_LINE = 4096;
/** Most parameters in one file. */
export const DHCPSVC_CONF_MAX_KEYS = 256;

/** A documented dhcpsvc.conf parameter. */
export interface ConfKeyInfo {
  key: string;
  meaning: string;
  default?: string;
}

/** The parameters upstream documents (dhcp_svc_confkey.m4, dhcpsvc.conf(4)). */
export const DHCPSVC_CONF_KEYS: readonly ConfKeyInfo[] = [
  { key: "RESOURCE", meaning: "Data-store module name (e.g. SUNWfiles)" },
  { key: "PATH", meaning: "Location within the data store (a directory for the files modules)" },
  { key: "RESOURCE_CONFIG", meaning: "Module-specific configuration string passed to configure()" },
  { key: "CONVER", meaning: "Container version in use; not to be edited by hand" },
  { key: "RUN_MODE", meaning: "server or relay", default: "server" },
  { key: "DAEMON_ENABLED", meaning: "TRUE or FALSE", default: "TRUE" },
  { key: "VERBOSE", meaning: "TRUE or FALSE", default: "FALSE" },
  { key: "RELAY_HOPS", meaning: "Maximum relay hops", default: "4" },
  { key: "INTERFACES", meaning: "Comma-separated interfaces to monitor" },
  {
    key: "ICMP_VERIFY",
    meaning: "TRUE or FALSE: ping an address before offering it",
    default: "TRUE",
  },
  { key: "OFFER_CACHE_TIMEOUT", meaning: "Seconds an offer is cached", default: "10" },
  { key: "RESCAN_INTERVAL", meaning: "Minutes between dhcptab rescans" },
  { key: "LOGGING_FACILITY", meaning: "syslog local facility 0..7" },
  { key: "BOOTP_COMPAT", meaning: "automatic or manual" },
  { key: "RELAY_DESTINATIONS", meaning: "Comma-separated servers (relay mode)" },
  { key: "UPDATE_TIMEOUT", meaning: "DNS update timeout in seconds", default: "15" },
  { key: "HOSTS_RESOURCE", meaning: "files, nisplus or dns" },
  { key: "HOSTS_DOMAIN", meaning: "Domain for nisplus/dns hosts management" },
  { key: "MAX_THREADS", meaning: "Daemon tuning: maximum threads" },
  { key: "MAX_CLIENTS", meaning: "Daemon tuning: maximum clients" },
  { key: "LEASE_MIN_LRU", meaning: "Minimum lease LRU", default: "60" },
  { key: "CACHE_TIMEOUT", meaning: "Seconds the dhcptab cache is kept", default: "10" },
  { key: "SECONDARY_SERVER_TIMEOUT", meaning: "Seconds", default: "20" },
  { key: "OWNER_IP", meaning: "Additional owner addresses" },
  { key: "DEBUG_PORT_OFFSET", meaning: "Debug only" },
  { key: "DEBUG_MEMORY_NET", meaning: "Debug only" },
];

/** Parameter names: a letter or `_`, then letters, digits or `_`. */
export const CONF_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * One line of the file: a parameter, a comment (text after a `#` in column 1), a blank line, or
 * any other line (no `=`), which upstream's reader ignores and steward's writes keep as it is.
 */
export type DhcpsvcConfLine =
  | { kind: "param"; key: string; value: string }
  | { kind: "comment"; text: string }
  | { kind: "blank" }
  | { kind: "other"; text: string };

function confError(source: string, line: number | undefined, detail: string): DsvcError {
  return new DsvcError(DSVC.INVAL, `${source}${line ? ` line ${line}` : ""}: ${detail}`);
}

function checkValue(key: string, value: string): void {
  if (/[\n\r\0]/.test(value)) {
    throw new DsvcError(DSVC.INVAL, `value of ${key} contains a line break or NUL character`);
  }
  if (value.length > DHCPSVC_CONF_MAX_LINE - key.length - 1) {
    throw new DsvcError(DSVC.INVAL, `value of ${key} is longer than ${DHCPSVC_CONF_MAX_LINE}`);
  }
}

/** A parsed dhcpsvc.conf that can be edited and written back with comments and order kept. */
export class DhcpsvcConf {
  /** The lines, in file order. */
  readonly lines: DhcpsvcConfLine[];

  /** A configuration of `lines` (empty by default). */
  constructor(lines: DhcpsvcConfLine[] = []) {
    this.lines = lines;
  }

  /**
   * Parse file text as upstream's confopt.c reads it: a line is split at its first `=` into key
   * and value, nothing trimmed; `#` starts a comment only in column 1; a line without `=` is
   * ignored (and kept); a key may occur again, the first occurrence wins; keys are compared
   * without regard to case. Only the limits (size, line length, NUL, number of parameters) are
   * errors naming the line (DSVC_INVAL). `source` names the file in messages.
   */
  static parse(text: string, source = "dhcpsvc.conf"): DhcpsvcConf {
    if (text.length > DHCPSVC_CONF_MAX_BYTES) {
      throw confError(source, undefined, `larger than ${DHCPSVC_CONF_MAX_BYTES} bytes`);
    }
    const raw = text.split("\n");
    if (raw.length > 0 && raw[raw.length - 1] === "") raw.pop();
    const lines: DhcpsvcConfLine[] = [];
    const seen = new Set<string>();
    raw.forEach((l, i) => {
      const n = i + 1;
      if (l.length > DHCPSVC_CONF_MAX_LINE) {
        throw confError(source, n, `line longer than ${DHCPSVC_CONF_MAX_LINE} characters`);
      }
      if (l.includes("\0")) throw confError(source, n, "contains a NUL character");
      if (l === "") return void lines.push({ kind: "blank" });
      if (l.startsWith("#")) return void lines.push({ kind: "comment", text: l.slice(1) });
      const eq = l.indexOf("=");
      if (eq < 0) return void lines.push({ kind: "other", text: l });
      const key = l.slice(0, eq);
      seen.add(key.toUpperCase());
      if (seen.size > DHCPSVC_CONF_MAX_KEYS) {
        throw confError(source, n, `more than ${DHCPSVC_CONF_MAX_KEYS} parameters`);
      }
      lines.push({ kind: "param", key, value: l.slice(eq + 1) });
    });
    return new DhcpsvcConf(lines);
  }

  /** The parameter line for `key`, case-insensitive. */
  private find(key: string): (DhcpsvcConfLine & { kind: "param" }) | undefined {
    const k = key.toUpperCase();
    for (const l of this.lines) if (l.kind === "param" && l.key.toUpperCase() === k) return l;
    return undefined;
  }

  /** The value of `key` (case-insensitive), or undefined. */
  get(key: string): string | undefined {
    return this.find(key)?.value;
  }

  /** Whether `key` is set. */
  has(key: string): boolean {
    return this.find(key) !== undefined;
  }

  /** Set `key` in place, or append it; refuses malformed keys and values with line breaks. */
  set(key: string, value: string): void {
    if (!CONF_KEY_RE.test(key)) {
      throw new DsvcError(DSVC.INVAL, `malformed dhcpsvc.conf key: ${JSON.stringify(key)}`);
    }
    checkValue(key, value);
    const line = this.find(key);
    if (line) line.value = value;
    else this.lines.push({ kind: "param", key, value });
  }

  /** Remove `key` (every occurrence: a later duplicate must not take its place); whether it was there. */
  delete(key: string): boolean {
    const k = key.toUpperCase();
    const before = this.lines.length;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i] as DhcpsvcConfLine;
      if (l.kind === "param" && l.key.toUpperCase() === k) this.lines.splice(i, 1);
    }
    return this.lines.length !== before;
  }

  /** The parameters in file order, each key once (its first occurrence, the one that counts). */
  entries(): Array<[string, string]> {
    const seen = new Set<string>();
    return this.lines.flatMap((l) => {
      if (l.kind !== "param" || seen.has(l.key.toUpperCase())) return [];
      seen.add(l.key.toUpperCase());
      return [[l.key, l.value] as [string, string]];
    });
  }

  /** The file text: `KEY=VALUE\n`, `#comment\n` and blank lines in stored order. */
  toString(): string {
    return this.lines.map((l) =>
      l.kind === "param"
        ? `${l.key}=${l.value}\n`
        : l.kind === "comment"
        ? `#${l.text}\n`
        : l.kind === "other"
        ? `${l.text}\n`
        : "\n"
    ).join("");
  }
}

/** Set a parameter the way upstream's tools do: PATH/RESOURCE force RUN_MODE=server, RELAY_DESTINATIONS forces relay. */
export function setConfParam(conf: DhcpsvcConf, key: string, value: string): void {
  conf.set(key, value);
  const k = key.toUpperCase();
  if (k === "PATH" || k === "RESOURCE") conf.set("RUN_MODE", "server");
  if (k === "RELAY_DESTINATIONS") conf.set("RUN_MODE", "relay");
}

/** Read and parse a dhcpsvc.conf (DSVC_INVAL with the line on malformed content; fs errors as is). */
export async function readDhcpsvcConf(file: string = DHCPSVC_CONF_FILE): Promise<DhcpsvcConf> {
  const fh = await fsp.open(file, "r");
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw confError(file, undefined, "not a regular file");
    if (st.size > DHCPSVC_CONF_MAX_BYTES) {
      throw confError(file, undefined, `larger than ${DHCPSVC_CONF_MAX_BYTES} bytes`);
    }
    const buf = await fh.readFile();
    const text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
    return DhcpsvcConf.parse(text, file);
  } catch (e) {
    if (e instanceof TypeError) throw confError(file, undefined, "not valid UTF-8 text");
    throw e;
  } finally {
    await fh.close();
  }
}

/** Write `conf` to `file` atomically (temp file, fsync, rename); new files get mode 0644. */
export async function writeDhcpsvcConf(
  file: string,
  conf: DhcpsvcConf,
): Promise<void> {
  await writeFileAtomic(file, conf.toString(), { mode: 0o644 });
}

/**
 * The datastore a dhcpsvc.conf names (upstream confopt_to_datastore): RESOURCE
 * (DSVC_BAD_RESOURCE), PATH (DSVC_BAD_PATH) and CONVER (DSVC_BAD_CONVER) are required;
 * RESOURCE_CONFIG is optional.
 */
export function datastoreFromConf(conf: DhcpsvcConf): Required<Omit<Datastore, "config">> & {
  config?: string;
} {
  const conver = conf.get("CONVER");
  if (conver === undefined || !/^-?[0-9]{1,9}$/.test(conver)) {
    throw new DsvcError(
      DSVC.BAD_CONVER,
      conver === undefined ? "CONVER is not set" : `CONVER=${conver}`,
    );
  }
  const resource = conf.get("RESOURCE");
  if (resource === undefined || resource === "") {
    throw new DsvcError(DSVC.BAD_RESOURCE, "RESOURCE is not set");
  }
  checkResourceName(resource);
  const location = conf.get("PATH");
  if (location === undefined || location === "") {
    throw new DsvcError(DSVC.BAD_PATH, "PATH is not set");
  }
  const n = Number(conver);
  const config = conf.get("RESOURCE_CONFIG");
  return {
    resource,
    location,
    conver: n < 0 ? DSVC_CUR_CONVER : n,
    ...(config !== undefined ? { config } : {}),
  };
}

/** Record a datastore in `conf` (RESOURCE, PATH, CONVER, RESOURCE_CONFIG; RUN_MODE=server). */
export function setConfDatastore(
  conf: DhcpsvcConf,
  ds: { resource: string; location: string; conver: number; config?: string | undefined },
): void {
  checkResourceName(ds.resource);
  setConfParam(conf, "RESOURCE", ds.resource);
  setConfParam(conf, "PATH", ds.location);
  conf.set("CONVER", String(ds.conver));
  if (ds.config === undefined || ds.config === "") conf.delete("RESOURCE_CONFIG");
  else conf.set("RESOURCE_CONFIG", ds.config);
}
