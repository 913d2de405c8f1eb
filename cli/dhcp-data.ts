/**
 * `steward dhcp network …` and `steward dhcp table …`: the pntadm/dhtadm functions with
 * readable option names, `--json` output and tables on a terminal.
 * @module
 */
import readline from "node:readline";
import type { Command } from "@commander-js/extra-typings";
import { runDhtadmCommand } from "../lib/dhcp/admin/dhtadm.ts";
import { inUserTerms } from "../lib/dhcp/admin/failure.ts";
import { AdminError, flagKeywords } from "../lib/dhcp/admin/format.ts";
import { OptionSet } from "../lib/dhcp/admin/getopt.ts";
import { formatLeaseTime, parseLeaseInput } from "../lib/dhcp/admin/lease.ts";
import { runPntadmCommand } from "../lib/dhcp/admin/pntadm.ts";
import type { AdminSession } from "../lib/dhcp/admin/session.ts";
import { cidToHex, ipToString, parseIp, parseNetmask } from "../lib/dhcp/records.ts";
import { DHCP_PERM, type DnRec, DSVC_READ, type DtRec, qinit } from "../lib/dhcp/spi.ts";
import { adminSession, cliFailure, type DhcpCommonOptions, withStore } from "./dhcp-common.ts";
import { CliError, EXIT, usageError } from "./errors.ts";
import { printJson, println, printTable, stdoutIsTty } from "./output.ts";

function options(pairs: Record<string, string | boolean | undefined>): OptionSet {
  const set = new OptionSet();
  for (const [k, v] of Object.entries(pairs)) {
    if (v === undefined || v === false) continue;
    set.set(k, v === true ? undefined : v);
  }
  return set;
}

/** Run `fn`; a store error it throws is said in the user's terms (the network, not a file). */
async function userTerms<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw inUserTerms(e);
  }
}

/** Ask a yes/no question on the terminal; only an answer starting with y or Y is yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      rl.once("close", () => resolve(""));
    });
    return /^y/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Run an admin function in a fresh session; its errors become `steward: …` with exit 1. */
async function run(
  common: DhcpCommonOptions,
  fn: (s: AdminSession) => Promise<number>,
): Promise<void> {
  const session = adminSession(common);
  try {
    const code = await fn(session);
    if (code !== 0) process.exitCode = EXIT.FAILURE;
  } catch (e) {
    if (e instanceof AdminError) throw new CliError(e.message, EXIT.FAILURE);
    throw cliFailure(e);
  } finally {
    await session.close();
  }
}

function maskOf(
  session: AdminSession,
  network: string,
  given: string | undefined,
): { netmask?: string } {
  const m = given ?? session.netmaskFor(network);
  return m ? { netmask: m } : {};
}

/**
 * `net` as the user typed it, refused when it has host bits under the mask that applies (pntadm
 * would mask it silently, as upstream; steward's own commands say so instead).
 */
function exactNetwork(session: AdminSession, net: string, given: string | undefined): string {
  const ip = parseIp(net);
  if (ip === undefined) return net;
  const found = given === undefined ? session.netmaskSource(net) : undefined;
  const mask = parseNetmask(given ?? found?.mask ?? "");
  if (mask !== undefined && ((ip & ~mask) >>> 0) !== 0) {
    const from = found
      ? (found.source === "classful" ? "the classful mask" : `the mask from ${found.source}`)
      : "--netmask";
    throw usageError(
      `Network ${net} has host bits set under ${ipToString(mask)} (${from}): ` +
        `give the network's address or --netmask`,
    );
  }
  return net;
}

/**
 * The mask an existing table is shown with, and where it came from: `--netmask` when given,
 * else the netmask rule (a netmasks file or "classful"); when the table's address has host bits
 * under that rule's mask (a table made with a narrower --netmask before masks were recorded),
 * the widest mask without host bits, "guessed".
 */
function tableMask(
  session: AdminSession,
  net: string,
  given?: string,
): { mask: string; source: string } {
  if (given !== undefined) {
    const m = parseNetmask(given);
    return { mask: m === undefined ? given : ipToString(m), source: "--netmask" };
  }
  const ip = parseIp(net);
  const found = session.netmaskSource(net);
  const mask = parseNetmask(found.mask);
  if (ip === undefined || mask === undefined || ((ip & ~mask) >>> 0) === 0) return found;
  let prefix = 32;
  while (prefix > 0 && ((ip >>> (32 - prefix)) & 1) === 0) prefix--;
  return { mask: ipToString(parseNetmask(String(prefix)) ?? 0), source: "guessed" };
}

/** A mask's source in words, for the line above `network show`'s table. */
function sourceWords(source: string): string {
  if (source === "classful") return "the classful mask";
  if (source === "--netmask") return "as given";
  if (source === "guessed") return "guessed from the table's address: no netmasks entry";
  return `from ${source}`;
}

/** Refuse the network's own address and its broadcast address as a client address. */
function checkClientAddress(
  session: AdminSession,
  net: string,
  addr: string,
  given: string | undefined,
): void {
  const ip = parseIp(addr);
  const n = parseIp(net);
  const mask = parseNetmask(given ?? session.netmaskFor(net));
  if (ip === undefined || n === undefined || mask === undefined || mask >= 0xfffffffe) return;
  if (ip === n) throw usageError(`${addr} is the address of network ${net}, not of a client`);
  if (ip === ((n | ~mask) >>> 0)) {
    throw usageError(
      `${addr} is the broadcast address of network ${net} (netmask ${
        ipToString(mask)
      }), not of a client`,
    );
  }
}

/** What --netmask defaults to, as AdminSession.netmaskFor finds it. */
const NETMASK_HELP = "netmask (dotted or prefix length); default: the netmasks files " +
  "(steward's <dhcpsvc.conf>.netmasks, /etc/inet/netmasks, /etc/netmasks), else classful";

/** `--lease` parsed, as the command's lease (nothing when not given). */
function leaseOf(o: { lease?: string }): { lease?: number } {
  if (o.lease === undefined) return {};
  try {
    return { lease: parseLeaseInput(o.lease) };
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

function dnJson(r: DnRec): Record<string, unknown> {
  return {
    clientIp: ipToString(r.cip),
    clientId: cidToHex(r.cid),
    flags: r.flags,
    flagNames: flagKeywords(r.flags).split("+"),
    serverIp: ipToString(r.sip),
    lease: r.lease === DHCP_PERM ? -1 : r.lease,
    leaseExpires: r.lease === 0 || r.lease === DHCP_PERM
      ? null
      : new Date(r.lease * 1000).toISOString(),
    macro: r.macro,
    comment: r.comment,
    signature: r.sig.toString(),
  };
}

function dtJson(r: DtRec): Record<string, unknown> {
  return {
    name: r.key,
    type: r.type === "m" ? "macro" : "symbol",
    value: r.value,
    signature: r.sig.toString(),
  };
}

interface RecordOptions {
  clientId?: string;
  clientAscii?: string;
  flags?: string;
  server?: string;
  lease?: string;
  macro?: string;
  verifyMacro?: boolean;
  comment?: string;
  netmask?: string;
}

function addRecordOptions<C extends Command<[string, string], Record<string, never>, never>>(
  cmd: C,
  verb: string,
) {
  return cmd
    .option(
      "--client-id <hex>",
      `client identifier in hex (${verb === "add" ? "default 00 = free" : "new value"})`,
    )
    .option(
      "--client-ascii <text>",
      "client identifier as ASCII text (stored as hex, like pntadm -a)",
    )
    .option(
      "--flags <flags>",
      "a number 0-15 or keywords joined by '+': DYNAMIC, PERMANENT, MANUAL, UNUSABLE, BOOTP",
    )
    .option("--server <address>", "server owning the address (default: this host's address)")
    .option(
      "--lease <when>",
      "lease expiration: 0 (none), -1 (permanent), mm/dd/yyyy, an ISO 8601 date or time (2026-12-31, 2026-12-31T18:00Z) or a duration from now (+7d, +12h)",
    )
    .option("--macro <name>", "dhcptab macro for the address (default UNKNOWN)")
    .option("--verify-macro", "refuse a macro that is not in the dhcptab")
    .option("--comment <text>", "comment, at most 48 characters")
    .option("--netmask <mask>", NETMASK_HELP);
}

function recordOptionSet(
  o: RecordOptions,
  extra: Record<string, string | undefined> = {},
): OptionSet {
  if (o.clientId !== undefined && o.clientAscii !== undefined) {
    throw usageError("Give --client-id or --client-ascii, not both");
  }
  return options({
    i: o.clientId ?? o.clientAscii,
    a: o.clientAscii !== undefined,
    f: o.flags,
    s: o.server,
    m: o.macro,
    y: o.verifyMacro === true,
    c: o.comment,
    ...extra,
  });
}

/** Add `steward dhcp network …`. */
export function registerDhcpNetwork(dhcp: Command, common: () => DhcpCommonOptions): void {
  const network = dhcp.command("network")
    .description("Manage per-network address tables (the role of pntadm)");

  network.command("create")
    .description("Create an empty table for a network")
    .argument("<network>", "network address, e.g. 10.0.0.0")
    .option(
      "--netmask <mask>",
      "netmask (dotted or prefix length), recorded in steward's netmasks file for later commands; " +
        "default: the netmasks files, else classful",
    )
    .action(async (net, o) => {
      await run(common(), (s) => {
        return runPntadmCommand(s, {
          fn: "C",
          arg: undefined,
          options: new OptionSet(),
          network: exactNetwork(s, net, o.netmask),
          exact: true,
          netmask: o.netmask,
        });
      });
    });

  network.command("remove")
    .description(
      "Remove a network's table and every address in it (asks first on a terminal, unless --yes)",
    )
    .argument("<network>", "network address")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (net, o) => {
      if (o.yes !== true && process.stdin.isTTY === true && process.stdout.isTTY === true) {
        if (!await confirm(`Remove network ${net} and every address in it? [y/N] `)) {
          throw new CliError(`Network ${net} not removed`);
        }
      }
      await run(
        common(),
        (s) =>
          runPntadmCommand(s, {
            fn: "R",
            arg: undefined,
            options: new OptionSet(),
            network: net,
            exact: true,
          }),
      );
    });

  network.command("list")
    .description(
      "List the networks that have a table, with their number of addresses and their netmask",
    )
    .option("--json", "print JSON")
    .action(async (o) => {
      const rows = await withStore(common(), (store, session) =>
        userTerms(async () => {
          const out: {
            network: string;
            addresses: number;
            netmask: string;
            netmaskSource: string;
          }[] = [];
          for (const n of await store.listNetworks()) {
            const m = tableMask(session, n);
            await using c = await store.openNetwork(n, DSVC_READ, { netmask: m.mask });
            out.push({
              network: n,
              addresses: (await c.lookup(qinit(), {}, { countOnly: true })).count,
              netmask: m.mask,
              netmaskSource: m.source,
            });
          }
          return out;
        }));
      if (o.json) return printJson(rows);
      printTable(rows, [
        { header: "NETWORK", value: (r) => r.network },
        { header: "ADDRESSES", value: (r) => String(r.addresses), align: "right" },
        { header: "NETMASK", value: (r) => r.netmask },
        { header: "FROM", value: (r) => r.netmaskSource },
      ]);
    });

  network.command("show")
    .description("Show a network's netmask and addresses (lookup order, as pntadm -P)")
    .argument("<network>", "network address")
    .option("--netmask <mask>", NETMASK_HELP)
    .option("--utc", "show lease times in UTC instead of the local zone")
    .option("--json", "print JSON (lease as epoch seconds, -1 permanent)")
    .action(async (net, o) => {
      const { records, mask } = await withStore(
        common(),
        (store, session) =>
          userTerms(async () => {
            exactNetwork(session, net, o.netmask);
            const mask = tableMask(session, net, o.netmask);
            await using c = await store.openNetwork(
              net,
              DSVC_READ,
              maskOf(session, net, o.netmask),
            );
            return { records: (await c.lookup(qinit(), {})).records, mask };
          }),
      );
      if (o.json) {
        return printJson(
          records.map((r) => ({ ...dnJson(r), netmask: mask.mask, netmaskSource: mask.source })),
        );
      }
      const tty = stdoutIsTty();
      if (tty) println(`Network ${net}, netmask ${mask.mask} (${sourceWords(mask.source)})`);
      printTable(records, [
        { header: "CLIENT IP", value: (r) => ipToString(r.cip) },
        { header: "CLIENT ID", value: (r) => cidToHex(r.cid) },
        { header: "FLAGS", value: (r) => flagKeywords(r.flags) },
        { header: "SERVER IP", value: (r) => ipToString(r.sip) },
        { header: "LEASE", value: (r) => formatLeaseTime(r.lease, o.utc === true) },
        { header: "MACRO", value: (r) => r.macro },
        { header: "COMMENT", value: (r) => r.comment },
        // Off a terminal, where the line above is not printed: the mask as a last field.
        ...(tty ? [] : [{ header: "NETMASK", value: () => mask.mask }]),
      ]);
    });

  addRecordOptions(
    network.command("add")
      .description("Add an address to a network's table")
      .argument("<network>", "network address")
      .argument("<address>", "client address or host name"),
    "add",
  ).action(async (net, addr, o: RecordOptions) => {
    const opts = recordOptionSet(o);
    await run(
      common(),
      (s) => {
        checkClientAddress(s, net, addr, o.netmask);
        return runPntadmCommand(s, {
          fn: "A",
          arg: addr,
          options: opts,
          ...leaseOf(o),
          network: exactNetwork(s, net, o.netmask),
          exact: true,
          netmask: o.netmask,
        });
      },
    );
  });

  addRecordOptions(
    network.command("modify")
      .description("Change fields of an address; fields not given keep their values")
      .argument("<network>", "network address")
      .argument("<address>", "client address or host name"),
    "modify",
  ).option("--new-address <address>", "move the record to another address")
    .action(async (net, addr, o: RecordOptions & { newAddress?: string }) => {
      const opts = recordOptionSet(o, { n: o.newAddress });
      await run(
        common(),
        (s) =>
          runPntadmCommand(s, {
            fn: "M",
            arg: addr,
            options: opts,
            ...leaseOf(o),
            network: exactNetwork(s, net, o.netmask),
            exact: true,
            netmask: o.netmask,
          }),
      );
    });

  network.command("delete")
    .description("Delete an address from a network's table")
    .argument("<network>", "network address")
    .argument("<address>", "client address or host name")
    .option("--netmask <mask>", NETMASK_HELP)
    .action(async (net, addr, o) => {
      await run(
        common(),
        (s) =>
          runPntadmCommand(s, {
            fn: "D",
            arg: addr,
            options: new OptionSet(),
            network: exactNetwork(s, net, o.netmask),
            exact: true,
            netmask: o.netmask,
          }),
      );
    });
}

function kindLetter(kind: string): "m" | "s" {
  if (kind === "macro") return "m";
  if (kind === "symbol") return "s";
  throw usageError(`Expected 'macro' or 'symbol', got '${kind}'`);
}

/** Add `steward dhcp table …`. */
export function registerDhcpTable(dhcp: Command, common: () => DhcpCommonOptions): void {
  const table = dhcp.command("table")
    .description("Manage the dhcptab: macros and symbols (the role of dhtadm)");

  table.command("create")
    .description("Create an empty dhcptab")
    .action(async () => {
      await run(
        common(),
        (s) => runDhtadmCommand(s, { fn: "C", arg: undefined, options: new OptionSet() }),
      );
    });

  table.command("remove")
    .description("Remove the dhcptab and every macro and symbol in it")
    .action(async () => {
      await run(
        common(),
        (s) => runDhtadmCommand(s, { fn: "R", arg: undefined, options: new OptionSet() }),
      );
    });

  table.command("show")
    .description("Show the macros, then the symbols")
    .option("--macros", "only macros")
    .option("--symbols", "only symbols")
    .option("--json", "print JSON")
    .action(async (o) => {
      const records = await withStore(common(), (store) =>
        userTerms(async () => {
          await using t = await store.openDhcptab(DSVC_READ);
          return (await t.lookup(qinit(), {})).records;
        }));
      const wanted = records.filter((r) =>
        (o.macros || o.symbols) ? (r.type === "m" ? o.macros === true : o.symbols === true) : true
      );
      const sorted = [
        ...wanted.filter((r) => r.type === "m"),
        ...wanted.filter((r) => r.type === "s"),
      ];
      if (o.json) return printJson(sorted.map(dtJson));
      printTable(sorted, [
        { header: "NAME", value: (r) => r.key },
        { header: "TYPE", value: (r) => (r.type === "m" ? "macro" : "symbol") },
        { header: "VALUE", value: (r) => r.value },
      ]);
    });

  table.command("add")
    .description(
      "Add a macro (value ':sym=value:...:') or a symbol (definition 'Context,Code,Type,Granularity,Maximum')",
    )
    .argument("<kind>", "macro or symbol")
    .argument("<name>", "its name")
    .argument("<value>", "macro value or symbol definition")
    .action(async (kind, name, value) => {
      const k = kindLetter(kind);
      await run(
        common(),
        (s) =>
          runDhtadmCommand(s, {
            fn: "A",
            arg: undefined,
            options: options({ [k]: name, d: value }),
          }),
      );
    });

  table.command("modify")
    .description("Change a macro or symbol: give exactly one of the options")
    .argument("<kind>", "macro or symbol")
    .argument("<name>", "its name")
    .option("--value <value>", "new macro value or symbol definition")
    .option("--rename <new-name>", "new name")
    .option("--set <symbol=value>", "macro only: set one symbol's value")
    .option("--set-flag <symbol>", "macro only: add a boolean symbol")
    .option("--unset <symbol>", "macro only: remove a symbol")
    .action(async (kind, name, o) => {
      const k = kindLetter(kind);
      const edits = [
        o.set,
        o.setFlag === undefined ? undefined : `${o.setFlag}=_NULL_VALUE_`,
        o.unset === undefined ? undefined : `${o.unset}=`,
      ]
        .filter((x) => x !== undefined);
      const given = [o.value, o.rename, ...edits].filter((x) => x !== undefined).length;
      if (given !== 1) {
        throw usageError("Give exactly one of --value, --rename, --set, --set-flag, --unset");
      }
      if (k === "s" && edits.length > 0) {
        throw usageError("--set, --set-flag and --unset apply to macros only");
      }
      const opts = options({ [k]: name, d: o.value, n: o.rename, e: edits[0] });
      await run(common(), (s) => runDhtadmCommand(s, { fn: "M", arg: undefined, options: opts }));
    });

  table.command("delete")
    .description("Delete a macro or symbol")
    .argument("<kind>", "macro or symbol")
    .argument("<name>", "its name")
    .option("--force", "delete a macro even while macros or addresses still name it")
    .action(async (kind, name, o) => {
      const k = kindLetter(kind);
      await run(
        common(),
        (s) =>
          runDhtadmCommand(s, {
            fn: "D",
            arg: undefined,
            options: options({ [k]: name }),
            force: o.force === true,
          }),
      );
    });
}
