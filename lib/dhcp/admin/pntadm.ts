/**
 * pntadm: the upstream network-table administration command, options and behaviour kept
 * (pntadm(1M)): -C -R -L -P -A -M -D -B, exit codes 0-4, `-P` output byte for byte.
 * @module
 */
import { cutBytes } from "../modules/files/lenient.ts";
import { dropNetmask, recordNetmask } from "../netmasks.ts";
import { cidFromHex, cidToHex, ipToString, makeDnRec, parseIp, parseNetmask } from "../records.ts";
import {
  DN_MAX_COMMENT_LEN,
  DN_QCID,
  DN_QCIP,
  type DnRec,
  DSVC_CREATE,
  DSVC_MAX_MACSYM_LEN,
  DSVC_READ,
  DSVC_WRITE,
  DT_QKEY,
  DT_QTYPE,
  qeq,
  qinit,
} from "../spi.ts";
import type { DhcpStore, DnContainer } from "../store-api.ts";
import { adminFailure, asDsvcError } from "./failure.ts";
import {
  ADMIN_EXIT,
  AdminError,
  formatNetworkTable,
  type LeaseStyle,
  parseFlags,
  parseLeaseDate,
} from "./format.ts";
import { AdminUsageError, getopt, type OptionSet, splitFunction } from "./getopt.ts";
import type { AdminSession, DatastoreOverrides } from "./session.ts";

/** pntadm's option string, as upstream (`B` takes an optional argument). */
export const PNTADM_OPTSTRING = "LPCRyavxA:D:M:r:p:u:s:i:f:e:m:c:n:B;";

/** pntadm's usage text (printed after a usage error). */
export const PNTADM_USAGE =
  `pntadm [-r (resource)] [-p (path)] [-u (uninterpreted data)] (options) [(network ip or name)]

Where (options) is one of:

 -C                     Create the named table

 -A (client ip or name) Add client entry. Sub-options:
                        [-c (comment)]
                        [-e (lease expiration)]
                        [-f (flags)]
                        [-i (client identifier)[-a]]
                        [-m (dhcptab macro reference)[-y]]
                        [-s (server ip or name)]

 -M (client ip or name) Modify client entry. Sub-options:
                        [-c (new comment)]
                        [-e (new lease expiration)]
                        [-f (new flags)]
                        [-i (new client identifier)[-a]]
                        [-m (new dhcptab macro reference)[-y]]
                        [-n (new client ip)]
                        [-s (new server ip or name)]

 -D (client ip or name) Delete client entry.

 -R                     Remove the named table

 -P                     Display the named table. Sub-options:
                        [-v]    Display lease time in full format.
                        [-x]    Display lease time in raw format.

 -L                     List the configured DHCP networks

 -B [batchfile]         Run command in batch input mode. Sub-options:
                        [-v]    Output commands as they are processed.

 The network ip or name argument is required for all options except -L and -B
`;

const COMMON = "rpu";
const ALLOWED: Record<string, string> = {
  A: `${COMMON}ceifamys`,
  M: `${COMMON}nceifamys`,
  D: `${COMMON}y`,
  C: COMMON,
  R: COMMON,
  P: `${COMMON}vx`,
  L: COMMON,
  B: "v",
};

/** A pntadm command line, parsed and checked. */
export interface PntadmCommand {
  fn: "A" | "M" | "D" | "C" | "R" | "P" | "L" | "B";
  /** The client (-A/-M/-D) or batch file (-B) argument. */
  arg: string | undefined;
  options: OptionSet;
  network: string | undefined;
  /** Netmask of the network (dotted or prefix length); default as the framework decides. */
  netmask?: string | undefined;
  /**
   * Use the network as given instead of masking it as upstream's pntadm does (steward's own
   * `network` commands, which refuse a network with host bits before they get here).
   */
  exact?: boolean;
  /** The lease as stored, parsed already (steward's `--lease`); takes the place of `-e`. */
  lease?: number;
}

/** Parse pntadm's arguments (AdminUsageError on any usage problem). */
export function parsePntadm(args: readonly string[]): PntadmCommand {
  const { options: parsed, operands } = getopt(args, PNTADM_OPTSTRING);
  const { fn, options } = splitFunction(parsed, "AMDCRPLB");
  if (operands.length > 1) throw new AdminUsageError("Invalid arguments on command line.");
  if (!fn) {
    throw new AdminUsageError("Must specify one of 'C', 'A', 'M', 'D', 'R', 'P', 'L' or 'B'.");
  }
  const network = operands[0];
  if (fn.letter === "L" || fn.letter === "B") {
    if (network !== undefined) {
      throw new AdminUsageError("This function does not accept a network argument.");
    }
  } else if (network === undefined) {
    throw new AdminUsageError("This function requires a network to be specified.");
  }
  options.allowOnly(ALLOWED[fn.letter] ?? "");
  if (fn.letter === "P" && options.has("v") && options.has("x")) {
    throw new AdminUsageError("Cannot specify both raw and verbose display modes.");
  }
  return { fn: fn.letter as PntadmCommand["fn"], arg: fn.value, options, network };
}

function netmaskOption(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string | undefined,
): { netmask?: string } {
  if (cmd.netmask !== undefined) return { netmask: cmd.netmask };
  const m = network !== undefined ? session.netmaskFor(network) : "";
  return m ? { netmask: m } : {};
}

/**
 * The network operand masked with its netmask, as upstream's bridge names the table
 * (`Network(addr, mask).toString()`): `pntadm -P 172.21.0.5` shows the 172.21.0.0 table.
 */
function maskedNetwork(session: AdminSession, cmd: PntadmCommand, network: string): string {
  const ip = parseIp(network);
  const mask = parseNetmask(cmd.netmask ?? session.netmaskFor(network));
  if (ip === undefined || mask === undefined) return network;
  return ipToString((ip & mask) >>> 0);
}

/**
 * Refuse a client address outside the network under its mask before the store is asked, naming
 * the mask and where it came from (a netmasks file, the classful rule, or the command's mask).
 */
function checkInNetwork(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string,
  ip: number,
): void {
  const net = parseIp(network);
  const found = cmd.netmask === undefined ? session.netmaskSource(network) : undefined;
  const mask = parseNetmask(cmd.netmask ?? found?.mask ?? "");
  if (net === undefined || mask === undefined || ((ip & mask) >>> 0) === net) return;
  const from = found === undefined
    ? "as given"
    : found.source === "classful"
    ? "the classful mask"
    : `from ${found.source}`;
  throw new AdminError(
    `Invalid arguments: client IP ${ipToString(ip)} is not in network ${network} under netmask ${
      ipToString(mask)
    } (${from})`,
    ADMIN_EXIT.WARNING,
  );
}

function overrides(o: OptionSet): DatastoreOverrides {
  return { resource: o.get("r"), path: o.get("p"), config: o.get("u") };
}

/** Map a store error to the exit code for the function that got it. */
function storeFailure(e: unknown, notFound: number, exists: number): AdminError {
  return adminFailure(e, { notFound, exists });
}

/** pntadm -a: the ASCII client ID as uppercase hex. */
export function asciiToHex(text: string): string {
  return [...new TextEncoder().encode(text)].map((b) =>
    b.toString(16).toUpperCase().padStart(2, "0")
  )
    .join("");
}

function clientId(o: OptionSet): string | undefined {
  let cid = o.get("i");
  if (o.has("a")) {
    if (cid === undefined) throw new AdminUsageError("Cannot verify undefined client ID");
    cid = asciiToHex(cid);
  }
  if (cid === undefined) return undefined;
  if (cid === "") return "00";
  if (cid.length > 128 || cid.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(cid)) {
    throw new AdminError(
      `Invalid client identifier: ${cid} (an even number of hex digits, at most 128)`,
      ADMIN_EXIT.WARNING,
    );
  }
  return cid.toUpperCase();
}

async function resolveIp(session: AdminSession, text: string, what: string): Promise<number> {
  const ip = await session.resolveHost(text);
  if (ip === undefined) throw new AdminError(`Invalid ${what}: ${text}`, ADMIN_EXIT.WARNING);
  return ip;
}

/**
 * An over-long macro or comment cut as upstream's fixed record fields cut it (128 and 48
 * characters), with a warning: upstream cut silently, an administrator deserves to know.
 */
function cutField(session: AdminSession, what: string, value: string, max: number): string {
  const cut = cutBytes(value, max);
  if (cut !== value) {
    session.err(
      `pntadm: Warning - the ${what} is longer than ${max} characters; stored cut to: ${cut}`,
    );
  }
  return cut;
}

async function verifyMacro(store: DhcpStore, o: OptionSet): Promise<void> {
  if (!o.has("y")) return;
  const macro = o.get("m");
  if (macro === undefined) throw new AdminUsageError("Cannot verify undefined macro.");
  let found = 0;
  try {
    await using tab = await store.openDhcptab(DSVC_READ);
    found =
      (await tab.lookup(qeq(qeq(qinit(), DT_QKEY), DT_QTYPE), { key: macro, type: "m" })).count;
  } catch (e) {
    if (!asDsvcError(e)) throw e;
  }
  if (found === 0) throw new AdminError("Cannot find macro in dhcptab.", ADMIN_EXIT.WARNING);
}

/** Warn when client ID `cid` (given by the command) is also bound to another address. */
async function warnSharedClientId(
  session: AdminSession,
  net: DnContainer,
  cid: string | undefined,
  cip: number,
): Promise<void> {
  if (cid === undefined || /^0*$/.test(cid)) return;
  const bytes = cidFromHex(cid);
  if (!bytes) return;
  const others = (await net.lookup(qeq(qinit(), DN_QCID), { cid: bytes }, { count: 6 })).records
    .filter((r) => r.cip !== cip).map((r) => ipToString(r.cip));
  if (others.length > 0) {
    session.err(
      `pntadm: Warning - client ID ${cid} is also bound to ${
        others.join(", ")
      } in network ${net.name}`,
    );
  }
}

async function findClient(net: DnContainer, cip: number, text: string): Promise<DnRec> {
  const found = await net.lookup(qeq(qinit(), DN_QCIP), { cip }, { count: 1 });
  const rec = found.records[0];
  if (!rec) {
    throw new AdminError(`Entry does not exist: ${text} in network ${net.name}`, ADMIN_EXIT.ENOENT);
  }
  return rec;
}

/** Run one parsed pntadm command; returns the exit code (messages already written). */
export async function runPntadmCommand(session: AdminSession, cmd: PntadmCommand): Promise<number> {
  const o = cmd.options;
  const ds = overrides(o);
  const network = cmd.network === undefined
    ? undefined
    : cmd.exact
    ? session.resolveNetwork(cmd.network)
    : maskedNetwork(session, cmd, session.resolveNetwork(cmd.network));
  switch (cmd.fn) {
    case "L": {
      let nets: string[];
      try {
        nets = await (await session.store(ds)).listNetworks();
      } catch (e) {
        throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      if (nets.length > 0) session.out(nets.map((n) => `${n}\n`).join(""));
      return ADMIN_EXIT.SUCCESS;
    }
    case "C":
      return await createTable(session, cmd, network ?? "");
    case "R": {
      try {
        await (await session.store(ds)).removeNetwork(network ?? "");
      } catch (e) {
        throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      await dropRecordedNetmask(session, network ?? "");
      return ADMIN_EXIT.SUCCESS;
    }
    case "P": {
      const style: LeaseStyle = o.has("x") ? "raw" : o.has("v") ? "verbose" : "short";
      let records: DnRec[];
      try {
        await using net = await (await session.store(ds)).openNetwork(
          network ?? "",
          DSVC_READ,
          netmaskOption(session, cmd, network),
        );
        records = (await net.lookup(qinit(), {})).records;
      } catch (e) {
        throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      const names = style === "verbose"
        ? await session.hostNames(records.flatMap((r) => [r.cip, r.sip]))
        : new Map<number, string>();
      session.out(formatNetworkTable(records, { style, hostName: (ip) => names.get(ip) }));
      return ADMIN_EXIT.SUCCESS;
    }
    case "A":
      return await addClient(session, cmd, network ?? "");
    case "M":
      return await modifyClient(session, cmd, network ?? "");
    case "D":
      return await deleteClient(session, cmd, network ?? "");
    case "B":
      throw new AdminUsageError("Batch mode cannot be nested.");
  }
}

/**
 * pntadm -C, and `steward dhcp network create [--netmask M]`. A mask given (steward's command;
 * upstream's -C takes none) is recorded in steward's own netmasks file before the table is made,
 * so that every later command finds it, unless a netmasks entry names the network with that mask
 * already; an entry naming it with another mask is refused. A failed create takes back the line
 * it recorded.
 */
async function createTable(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string,
): Promise<number> {
  const store = await (async () => {
    try {
      return await session.store(overrides(cmd.options));
    } catch (e) {
      throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
    }
  })();
  const net = parseIp(network);
  const mask = cmd.netmask === undefined ? undefined : parseNetmask(cmd.netmask);
  let recorded: string | undefined;
  if (net !== undefined && mask !== undefined) {
    const listed = session.exactNetmask(network);
    if (listed !== undefined && listed.mask !== ipToString(mask)) {
      throw new AdminError(
        `Network ${network} has the netmask ${listed.mask} in ${listed.source}, not ${
          ipToString(mask)
        }: give that netmask, or change that entry first`,
        ADMIN_EXIT.WARNING,
      );
    }
    if (listed === undefined) {
      const file = session.ownNetmasksFile;
      try {
        if (await recordNetmask(file, net, mask)) recorded = file;
      } catch (e) {
        throw new AdminError(
          `Cannot record the netmask ${ipToString(mask)} of network ${network} in ${file}: ${
            (e as Error).message
          }; nothing was created`,
          ADMIN_EXIT.WARNING,
        );
      }
    }
  }
  try {
    const c = await store.openNetwork(
      network,
      DSVC_CREATE | DSVC_READ | DSVC_WRITE,
      netmaskOption(session, cmd, network),
    );
    await c.close();
  } catch (e) {
    if (recorded !== undefined && net !== undefined) {
      await dropNetmask(recorded, net).catch(() => undefined);
    }
    throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
  }
  return ADMIN_EXIT.SUCCESS;
}

/** After a table is removed: drop the line `network create --netmask` recorded for it. */
async function dropRecordedNetmask(session: AdminSession, network: string): Promise<void> {
  const net = parseIp(network);
  if (net === undefined) return;
  const file = session.ownNetmasksFile;
  try {
    await dropNetmask(file, net);
  } catch (e) {
    throw new AdminError(
      `The table of network ${network} was removed, but its netmask line in ${file} was not: ${
        (e as Error).message
      }`,
      ADMIN_EXIT.WARNING,
    );
  }
}

/** The network's table opened for update, once the store is open and -y has checked the macro. */
async function openForUpdate(session: AdminSession, cmd: PntadmCommand, network: string) {
  const store = await session.store(overrides(cmd.options));
  await verifyMacro(store, cmd.options);
  return await store.openNetwork(
    network,
    DSVC_READ | DSVC_WRITE,
    netmaskOption(session, cmd, network),
  );
}

async function addClient(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string,
): Promise<number> {
  const o = cmd.options;
  const cid = clientId(o);
  const cip = await resolveIp(session, cmd.arg ?? "", "client IP address");
  checkInNetwork(session, cmd, network, cip);
  const flags = o.has("f") ? parseFlags(o.get("f") ?? "") : 0;
  const sipText = o.get("s");
  const sip = sipText !== undefined
    ? await resolveIp(session, sipText, "server IP address")
    : await session.serverAddress(network);
  const lease = cmd.lease ?? (o.has("e") ? parseLeaseDate(o.get("e") ?? "") : 0);
  const macro = cutField(session, "macro", o.get("m") ?? "UNKNOWN", DSVC_MAX_MACSYM_LEN);
  const comment = cutField(session, "comment", o.get("c") ?? "", DN_MAX_COMMENT_LEN);
  try {
    await using net = await openForUpdate(session, cmd, network);
    await net.add(makeDnRec({ cid: cid ?? "00", flags, cip, sip, lease, macro, comment }));
    await warnSharedClientId(session, net, cid, cip);
  } catch (e) {
    throw storeFailure(e, ADMIN_EXIT.WARNING, ADMIN_EXIT.EXISTS);
  }
  return ADMIN_EXIT.SUCCESS;
}

async function modifyClient(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string,
): Promise<number> {
  const o = cmd.options;
  const cid = clientId(o);
  const cip = await resolveIp(session, cmd.arg ?? "", "client IP address");
  const newIpText = o.get("n");
  const newIp = newIpText !== undefined
    ? await resolveIp(session, newIpText, "new client IP address")
    : undefined;
  if (newIp !== undefined) checkInNetwork(session, cmd, network, newIp);
  const flags = o.has("f") ? parseFlags(o.get("f") ?? "") : undefined;
  const sipText = o.get("s");
  const sip = sipText !== undefined
    ? await resolveIp(session, sipText, "server IP address")
    : undefined;
  const lease = cmd.lease ?? (o.has("e") ? parseLeaseDate(o.get("e") ?? "") : undefined);
  const macroText = o.get("m");
  const commentText = o.get("c");
  const macro = macroText === undefined
    ? undefined
    : cutField(session, "macro", macroText, DSVC_MAX_MACSYM_LEN);
  const comment = commentText === undefined
    ? undefined
    : cutField(session, "comment", commentText, DN_MAX_COMMENT_LEN);
  try {
    await using net = await openForUpdate(session, cmd, network);
    const orig = await findClient(net, cip, cmd.arg ?? "");
    const rec = makeDnRec({
      // An empty client ID read from a hand-edited line is 00, as upstream's record shows it.
      cid: cid ?? (orig.cid.length > 0 ? cidToHex(orig.cid) : "00"),
      flags: flags ?? orig.flags,
      cip: newIp ?? orig.cip,
      sip: sip ?? orig.sip,
      lease: lease ?? orig.lease,
      macro: macro ?? orig.macro,
      comment: comment ?? orig.comment,
    });
    await net.modify(orig, rec);
    await warnSharedClientId(session, net, cid, rec.cip);
  } catch (e) {
    // As upstream: a missing entry is ENOENT, anything else (collision, new IP taken) a warning.
    throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.WARNING);
  }
  return ADMIN_EXIT.SUCCESS;
}

async function deleteClient(
  session: AdminSession,
  cmd: PntadmCommand,
  network: string,
): Promise<number> {
  const o = cmd.options;
  const cip = await resolveIp(session, cmd.arg ?? "", "client IP address");
  try {
    await using net = await (await session.store(overrides(o))).openNetwork(
      network,
      DSVC_READ | DSVC_WRITE,
      netmaskOption(session, cmd, network),
    );
    const orig = await findClient(net, cip, cmd.arg ?? "");
    await net.delete(orig);
  } catch (e) {
    throw storeFailure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.WARNING);
  }
  if (o.has("y")) {
    session.err(
      `pntadm: Warning - steward does not manage the hosts table; the entry was deleted but no hosts entry was removed (${
        ipToString(cip)
      })`,
    );
  }
  return ADMIN_EXIT.SUCCESS;
}
