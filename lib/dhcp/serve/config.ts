/**
 * The server's settings from dhcpsvc.conf: upstream's DHCP server keys where they exist
 * (INTERFACES, OFFER_CACHE_TIMEOUT, RESCAN_INTERVAL, RELAY_HOPS, BOOTP_COMPAT, OWNER_IP,
 * CACHE_TIMEOUT, RUN_MODE, DAEMON_ENABLED, VERBOSE) and steward's own STEWARD_SERVE_* keys
 * otherwise. Pure: parsing and checking only.
 * @module
 */
import type { DhcpsvcConf } from "../conf.ts";
import { parseIp, parseNetmask } from "../records.ts";
import { DSVC, DsvcError } from "../spi.ts";

/** A relayed network to serve: "10.77.0.0/16" or "10.77.0.0/255.255.0.0". */
export interface NetworkSpec {
  /** The network address, as a 32-bit number. */
  network: number;
  /** Its mask, as a 32-bit number. */
  netmask: number;
}

/** What the server is configured to do. */
export interface ServeConfig {
  /** INTERFACES: directly attached interfaces (empty: relayed networks only). */
  interfaces: string[];
  /** STEWARD_SERVE_NETWORKS: relayed networks; undefined = every network container of the store. */
  networks: NetworkSpec[] | undefined;
  /** OFFER_CACHE_TIMEOUT: seconds an offered address stays reserved for its client. */
  offerTimeout: number;
  /** CACHE_TIMEOUT: seconds a list of free or expired addresses read from the store is reused. */
  cacheTimeout: number;
  /** RESCAN_INTERVAL in minutes; 0 = only on SIGHUP. */
  rescanMinutes: number;
  /** RELAY_HOPS: relayed requests with more hops are dropped. */
  relayHops: number;
  /** BOOTP_COMPAT=automatic: BOOTP clients may get automatic addresses. */
  bootpAutomatic: boolean;
  /** OWNER_IP: the server addresses whose records this server answers for. */
  ownerIps: number[];
  /** VERBOSE: log every exchange. */
  verbose: boolean;
  /** STEWARD_SERVE_PORT (default 67). */
  port: number;
  /** STEWARD_SERVE_ADDRESS: the one local address to listen on (default all). */
  listen: string;
  /** STEWARD_SERVE_USER: user (and its group) to run as once the sockets are open. */
  user: string | undefined;
  /** STEWARD_SERVE_LOG: log file ("-" or unset: standard error). */
  logFile: string | undefined;
  /** STEWARD_SERVE_METRICS: "127.0.0.1:9167" style address of the metrics endpoint. */
  metrics: { host: string; port: number } | undefined;
  /** STEWARD_SERVE_BROADCAST: "directed" (the network's broadcast address) or "limited". */
  broadcast: "directed" | "limited";
  /** STEWARD_SERVE_SERVER_ID: server identifier for relayed networks (default: first address). */
  serverId: number | undefined;
  /** STEWARD_SERVE_MAX_INFLIGHT: requests handled at once; more are dropped (default 64). */
  maxInflight: number;
}

/** The steward keys the server reads, with their meaning (for docs and `dhcpconfig -P`). */
export const SERVE_KEYS: readonly { key: string; meaning: string; default?: string }[] = [
  {
    key: "STEWARD_SERVE_NETWORKS",
    meaning: "Relayed networks to serve, net/prefix, comma-separated",
    default: "every network container",
  },
  { key: "STEWARD_SERVE_PORT", meaning: "UDP port to listen on", default: "67" },
  {
    key: "STEWARD_SERVE_ADDRESS",
    meaning: "Local address of the broadcast socket",
    default: "0.0.0.0",
  },
  { key: "STEWARD_SERVE_USER", meaning: "User to switch to after the sockets are bound" },
  { key: "STEWARD_SERVE_LOG", meaning: "Log file; '-' for standard error", default: "-" },
  { key: "STEWARD_SERVE_METRICS", meaning: "host:port of the Prometheus metrics endpoint" },
  {
    key: "STEWARD_SERVE_BROADCAST",
    meaning: "directed or limited broadcast replies",
    default: "directed",
  },
  { key: "STEWARD_SERVE_SERVER_ID", meaning: "Server identifier on relayed networks" },
  { key: "STEWARD_SERVE_MAX_INFLIGHT", meaning: "Requests handled at once", default: "64" },
];

function bad(key: string, value: string, want: string): DsvcError {
  return new DsvcError(DSVC.INVAL, `dhcpsvc.conf ${key}=${value}: ${want}`);
}

function int(conf: DhcpsvcConf, key: string, def: number, min: number, max: number): number {
  const v = conf.get(key);
  if (v === undefined || v.trim() === "") return def;
  if (!/^\d{1,9}$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
    throw bad(key, v, `expected a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

function bool(conf: DhcpsvcConf, key: string, def: boolean): boolean {
  const v = conf.get(key)?.trim().toUpperCase();
  if (v === undefined || v === "") return def;
  if (v === "TRUE") return true;
  if (v === "FALSE") return false;
  throw bad(key, v, "expected TRUE or FALSE");
}

function list(v: string | undefined): string[] {
  return (v ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** Parse "10.77.0.0/16" or "10.77.0.0/255.255.0.0". */
export function parseNetworkSpec(text: string): NetworkSpec | undefined {
  const [n, m] = text.split("/");
  const network = n === undefined ? undefined : parseIp(n.trim());
  const netmask = m === undefined ? undefined : parseNetmask(m.trim());
  if (network === undefined || netmask === undefined || ((network & ~netmask) >>> 0) !== 0) {
    return undefined;
  }
  return { network, netmask };
}

/** The server settings of a parsed dhcpsvc.conf; a bad value is a DSVC_INVAL naming the key. */
export function serveConfig(conf: DhcpsvcConf): ServeConfig {
  const mode = conf.get("RUN_MODE")?.trim().toLowerCase();
  if (mode !== undefined && mode !== "" && mode !== "server") {
    throw bad("RUN_MODE", mode, "steward serves only in server mode (no BOOTP relay agent)");
  }
  const bootp = conf.get("BOOTP_COMPAT")?.trim().toLowerCase();
  if (bootp !== undefined && bootp !== "" && bootp !== "automatic" && bootp !== "manual") {
    throw bad("BOOTP_COMPAT", bootp, "expected automatic or manual");
  }
  const nets = conf.get("STEWARD_SERVE_NETWORKS");
  let networks: NetworkSpec[] | undefined;
  if (nets !== undefined && nets.trim() !== "") {
    networks = list(nets).map((t) => {
      const s = parseNetworkSpec(t);
      if (!s) throw bad("STEWARD_SERVE_NETWORKS", t, "expected network/prefix such as 10.0.0.0/24");
      return s;
    });
  }
  const owner = list(conf.get("OWNER_IP")).map((t) => {
    const ip = parseIp(t);
    if (ip === undefined) throw bad("OWNER_IP", t, "expected IPv4 addresses");
    return ip;
  });
  let metrics: ServeConfig["metrics"];
  const m = conf.get("STEWARD_SERVE_METRICS")?.trim();
  if (m) {
    const mm = /^([0-9.]+|\[[0-9a-fA-F:]+\]|localhost):(\d{1,5})$/.exec(m);
    if (!mm || Number(mm[2]) > 65535) throw bad("STEWARD_SERVE_METRICS", m, "expected host:port");
    metrics = { host: mm[1]!.replace(/^\[|\]$/g, ""), port: Number(mm[2]) };
  }
  const bc = conf.get("STEWARD_SERVE_BROADCAST")?.trim().toLowerCase() || "directed";
  if (bc !== "directed" && bc !== "limited") {
    throw bad("STEWARD_SERVE_BROADCAST", bc, "expected directed or limited");
  }
  const sidText = conf.get("STEWARD_SERVE_SERVER_ID")?.trim();
  const serverId = sidText ? parseIp(sidText) : undefined;
  if (sidText && serverId === undefined) {
    throw bad("STEWARD_SERVE_SERVER_ID", sidText, "expected an IPv4 address");
  }
  const listen = conf.get("STEWARD_SERVE_ADDRESS")?.trim() || "0.0.0.0";
  if (parseIp(listen) === undefined) {
    throw bad("STEWARD_SERVE_ADDRESS", listen, "expected an IPv4 address");
  }
  const user = conf.get("STEWARD_SERVE_USER")?.trim() || undefined;
  const logFile = conf.get("STEWARD_SERVE_LOG")?.trim();
  return {
    interfaces: list(conf.get("INTERFACES")),
    networks,
    offerTimeout: int(conf, "OFFER_CACHE_TIMEOUT", 10, 1, 86400),
    cacheTimeout: int(conf, "CACHE_TIMEOUT", 10, 1, 86400),
    rescanMinutes: int(conf, "RESCAN_INTERVAL", 0, 0, 525600),
    relayHops: int(conf, "RELAY_HOPS", 4, 1, 16),
    bootpAutomatic: bootp === "automatic",
    ownerIps: owner,
    verbose: bool(conf, "VERBOSE", false),
    port: int(conf, "STEWARD_SERVE_PORT", 67, 1, 65535),
    listen,
    user,
    logFile: logFile === "-" || logFile === "" ? undefined : logFile,
    metrics,
    broadcast: bc,
    serverId,
    maxInflight: int(conf, "STEWARD_SERVE_MAX_INFLIGHT", 64, 1, 65536),
  };
}
