/**
 * The one netmask rule of steward's dhcp commands and library, as upstream finds a network's
 * mask — the netmasks(4) database: the entry for the network itself, else the entry for its
 * classful network (which is how subnets are listed), else the classful mask — with steward's
 * own netmasks file read before the system's (`/etc/inet/netmasks`, `/etc/netmasks`), and the
 * atomic updates of that file by which `steward dhcp network create --netmask` records a mask and
 * `network remove` drops it.
 * @module
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../platform/atomic.ts";
import { DHCPSVC_CONF_FILE } from "./conf.ts";
import { classfulNetmask, ipToString, parseIp, parseNetmask } from "./records.ts";

/** The netmasks databases of the system, read after steward's own file. */
export const NETMASKS_FILES: readonly string[] = ["/etc/inet/netmasks", "/etc/netmasks"];

/** Names steward's own netmasks file instead of the default `<dhcpsvc.conf>.netmasks`. */
export const NETMASKS_ENV = "STEWARD_NETMASKS";

/** The environment variable naming the dhcpsvc.conf in use (as lib/dhcp/store.ts reads it). */
const CONF_ENV = "STEWARD_DHCPSVC_CONF";

function environment(): Record<string, string | undefined> {
  try {
    return process.env;
  } catch {
    return {}; // Deno without --allow-env: the defaults apply
  }
}

function lookupEnv(env: Record<string, string | undefined>, name: string): string | undefined {
  try {
    const v = env[name];
    return v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

/**
 * Steward's own netmasks file: `$STEWARD_NETMASKS`, else beside the dhcpsvc.conf in use
 * (`confFile`, else `$STEWARD_DHCPSVC_CONF`, else /etc/inet/dhcpsvc.conf) with `.netmasks`
 * appended: `/etc/inet/dhcpsvc.conf.netmasks`. Same format as netmasks(4).
 */
export function ownNetmasksFile(
  env: Record<string, string | undefined> = environment(),
  confFile?: string,
): string {
  const own = lookupEnv(env, NETMASKS_ENV);
  if (own !== undefined) return path.resolve(own);
  const conf = confFile ?? lookupEnv(env, CONF_ENV);
  return `${conf !== undefined ? path.resolve(conf) : DHCPSVC_CONF_FILE}.netmasks`;
}

/** The netmasks files in the order they are read: steward's own, then the system's. */
export function netmasksFiles(
  env: Record<string, string | undefined> = environment(),
  confFile?: string,
): readonly string[] {
  return [ownNetmasksFile(env, confFile), ...NETMASKS_FILES];
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

/** The (network, mask) entries of a netmasks file's text, in file order. */
function entries(content: string): { net: number; mask: number }[] {
  const out: { net: number; mask: number }[] = [];
  for (const raw of content.slice(0, MAX_NETMASKS_BYTES).split("\n")) {
    const [n, m] = raw.replace(/#.*/, "").trim().split(/\s+/);
    const net = parseIp(n ?? "");
    const mask = parseNetmask(m ?? "");
    if (net !== undefined && mask !== undefined) out.push({ net, mask });
  }
  return out;
}

function readEntries(file: string): { net: number; mask: number }[] | undefined {
  try {
    return entries(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** The entry of the files that names network `net` itself (the first file that has one). */
export function exactNetmask(
  net: number,
  files: readonly string[] = netmasksFiles(),
): FoundNetmask | undefined {
  for (const file of files) {
    const e = readEntries(file)?.find((x) => x.net === net);
    if (e) return { mask: e.mask, source: file };
  }
  return undefined;
}

/**
 * The netmask of address or network `net` (host order), as upstream's `getnetmaskbyaddr`
 * (libsocket/inet/netmasks.c) and `get_netmask4` find it: the longest prefix whose network
 * (`net` under it) has an entry with exactly that mask (variable-length subnets), else the
 * entry for the classful network whatever its mask, else the classful mask. The files are
 * layers: for each network looked up, the first file that has an entry for it answers.
 */
export function findNetmask(
  net: number,
  files: readonly string[] = netmasksFiles(),
): FoundNetmask {
  const lists = files.map((file) => ({ file, list: readEntries(file) ?? [] }));
  const lookup = (key: number): FoundNetmask | undefined => {
    for (const { file, list } of lists) {
      const e = list.find((x) => x.net === key);
      if (e) return { mask: e.mask, source: file };
    }
    return undefined;
  };
  for (let prefix = 32; prefix > 0; prefix--) {
    const maskoff = prefix === 32 ? 0xffffffff : (~(0xffffffff >>> prefix)) >>> 0;
    const e = lookup((net & maskoff) >>> 0);
    if (e && e.mask === maskoff) return e;
  }
  const classful = classfulNetmask(net);
  return lookup((net & classful) >>> 0) ?? { mask: classful, source: "classful" };
}

/** How a found mask is named in messages: "255.255.255.0 (from /etc/inet/netmasks)". */
export function describeNetmask(found: FoundNetmask): string {
  return found.source === "classful"
    ? `${ipToString(found.mask)} (the classful mask)`
    : `${ipToString(found.mask)} (from ${found.source})`;
}

/** Longest wait for another process's update of a netmasks file. */
const LOCK_WAIT_MS = 5000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run `fn` holding `<file>.lock` (created exclusively, holding this process's id), so that two
 * commands updating the file at once do not lose each other's line; a lock left by a process
 * that is gone is taken over.
 */
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const h = await fsp.open(lock, "wx", 0o644);
      try {
        await h.writeFile(`${process.pid}\n`);
      } finally {
        await h.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder = NaN;
      try {
        holder = Number((await fsp.readFile(lock, "utf8")).slice(0, 16).trim());
      } catch { /* removed meanwhile: try again */ }
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await fsp.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${lock} is held by process ${Number.isNaN(holder) ? "?" : holder}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { force: true });
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(file);
    if (st.size > MAX_NETMASKS_BYTES) throw new Error(`${file} is larger than 1 MiB`);
    return await fsp.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The network of a netmasks line (comments and blanks are not entries). */
function lineNetwork(line: string): number | undefined {
  const [n, m] = line.replace(/#.*/, "").trim().split(/\s+/);
  return parseNetmask(m ?? "") === undefined ? undefined : parseIp(n ?? "");
}

/** Header of a netmasks file steward creates. */
const HEADER =
  "# Netmasks recorded by 'steward dhcp network create --netmask' (netmasks(4) format:\n" +
  "# <network> <netmask>). 'steward dhcp network remove' drops a network's line.\n";

/**
 * Record `mask` for network `net` in `file` (steward's own netmasks file), atomically (temporary
 * file and rename; the file's other lines and comments kept byte for byte). Returns false when
 * the file names `net` with that mask already; throws when it names it with another.
 */
export async function recordNetmask(file: string, net: number, mask: number): Promise<boolean> {
  return await withFileLock(file, async () => {
    const text = await readText(file);
    const has = entries(text ?? "").find((e) => e.net === net);
    if (has && has.mask === mask) return false;
    if (has) {
      throw new Error(
        `${file} already gives network ${ipToString(net)} the netmask ${ipToString(has.mask)}`,
      );
    }
    const base = text === undefined
      ? HEADER
      : text === "" || text.endsWith("\n")
      ? text
      : `${text}\n`;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${base}${ipToString(net)}\t${ipToString(mask)}\n`);
    return true;
  });
}

/**
 * Drop the lines naming network `net` from `file`, atomically, other lines and comments kept (a
 * file left with nothing but the header steward wrote is removed).
 * Returns the mask that was dropped, or undefined when the file has no line for `net`.
 */
export async function dropNetmask(file: string, net: number): Promise<number | undefined> {
  if (!fs.existsSync(file)) return undefined;
  return await withFileLock(file, async () => {
    const text = await readText(file);
    if (text === undefined) return undefined;
    const dropped = entries(text).find((e) => e.net === net);
    if (!dropped) return undefined;
    const kept = text.split(/(?<=\n)/).filter((line) => lineNetwork(line) !== net).join("");
    // A file steward made and that records nothing any more goes.
    if (kept === HEADER) await fsp.rm(file, { force: true });
    else await writeFileAtomic(file, kept);
    return dropped.mask;
  });
}
