/**
 * The one netmask rule of steward's dhcp commands and library, as upstream finds a network's
 * mask: the netmasks(4) database (`/etc/inet/netmasks`, else `/etc/netmasks`; the entry for
 * the network itself, else the entry for its classful network, which is how subnets are
 * listed), else the classful mask.
 * @module
 */
import fs from "node:fs";
import { classfulNetmask, ipToString, parseIp, parseNetmask } from "./records.ts";

/** The netmasks databases upstream reads, the first one found wins. */
export const NETMASKS_FILES: readonly string[] = ["/etc/inet/netmasks", "/etc/netmasks"];

/**
 * Names a netmasks file of steward's own, read before the system's (Linux has no
 * `/etc/inet/netmasks`): same format, `<network> <mask>` per line.
 */
export const NETMASKS_ENV = "STEWARD_NETMASKS";

/** The netmasks files in the order they are read: `$STEWARD_NETMASKS`, then upstream's. */
export function netmasksFiles(
  env: Record<string, string | undefined> = process.env,
): readonly string[] {
  const own = env[NETMASKS_ENV];
  return own ? [own, ...NETMASKS_FILES] : NETMASKS_FILES;
}

/** Largest netmasks file read. */
const MAX_NETMASKS_BYTES = 1024 * 1024;

/** A mask and where it came from: a netmasks file, or "classful". */
export interface FoundNetmask {
  /** The mask, as a 32-bit number. */
  mask: number;
  /** The netmasks file it came from, or "classful". */
  source: string;
}

/** The netmask of network `net` (host order) by the rule above. */
export function findNetmask(
  net: number,
  files: readonly string[] = netmasksFiles(),
): FoundNetmask {
  const classful = classfulNetmask(net);
  const classNet = (net & classful) >>> 0;
  for (const file of files) {
    let content: string;
    try {
      content = fs.readFileSync(file, "utf8").slice(0, MAX_NETMASKS_BYTES);
    } catch {
      continue;
    }
    let covering: number | undefined;
    for (const raw of content.split("\n")) {
      const [n, m] = raw.replace(/#.*/, "").trim().split(/\s+/);
      const ip = parseIp(n ?? "");
      const mask = parseNetmask(m ?? "");
      if (ip === undefined || mask === undefined) continue;
      if (ip === net) return { mask, source: file };
      if (ip === classNet) covering ??= mask;
    }
    if (covering !== undefined) return { mask: covering, source: file };
    break;
  }
  return { mask: classful, source: "classful" };
}

/** How a found mask is named in messages: "255.255.255.0 from /etc/inet/netmasks". */
export function describeNetmask(found: FoundNetmask): string {
  return found.source === "classful"
    ? `${ipToString(found.mask)} (the classful mask)`
    : `${ipToString(found.mask)} (from ${found.source})`;
}
