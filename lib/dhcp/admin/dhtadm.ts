/**
 * dhtadm: the upstream dhcptab administration command, options and behaviour kept
 * (dhtadm(1M)): -C -R -P -A -M -D -B and -g, exit codes 0-4, `-P` output byte for byte.
 * Every definition is checked (macro syntax, symbols and values against the standard inittab
 * and the dhcptab's own symbols) before anything is written.
 * @module
 */
import { parseMacroValue, unquoteValue } from "../dhcptab/macro.ts";
import {
  checkName,
  checkSymbolAgainstInittab,
  DhcptabSyntaxError,
  formatSymbolDefinition,
  parseSymbolDefinition,
  type SymbolDefinition,
} from "../dhcptab/symbol.ts";
import { editMacro, SymbolTable, validateMacro } from "../dhcptab/validate.ts";
import { ipToString, makeDtRec, parseIp, parseNetmask } from "../records.ts";
import {
  DN_QMACRO,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  DT_DHCPTAB,
  DT_QKEY,
  DT_QTYPE,
  type DtRec,
  type DtType,
  qeq,
  qinit,
} from "../spi.ts";
import type { DtContainer } from "../store-api.ts";
import { adminFailure } from "./failure.ts";
import { ADMIN_EXIT, AdminError, formatDhcptab } from "./format.ts";
import { AdminUsageError, getopt, type OptionSet, splitFunction } from "./getopt.ts";
import type { AdminSession, DatastoreOverrides } from "./session.ts";

/** dhtadm's option string, as upstream (`B` takes an optional argument). */
export const DHTADM_OPTSTRING = "ACDIMPRvgr:p:u:s:m:n:e:d:B;";

/** dhtadm's usage text (printed after a usage error). */
export const DHTADM_USAGE =
  `dhtadm [-r (resource)] [-p (path)] [-u (uninterpreted data)] [-g] (options)

Where (options) is one of:

-C              Create the dhcptab

-A              Add symbol or macro. Sub-options:
                { -s (symbol name) | -m (macro name) } -d (definition)

-M              Modify symbol or macro. Sub-options:
                -s (old symbol name) {-n (new name) | -d (definition)}
                                Or
                -m (old macro name) {-n (new name) | -d (definition) | -e (symbol = value)}

-D              Delete symbol or macro definition. Sub-options:
                -s ( symbol name ) | -m ( macro name )

-R              Remove the dhcptab

-P              Display the dhcptab

-B [batchfile]  Run command in batch input mode.  Sub-options:
                [-v]    Output commands as they are processed.
`;

const COMMON = "rpug";
const ALLOWED: Record<string, string> = {
  A: `${COMMON}msd`,
  M: `${COMMON}msnde`,
  D: `${COMMON}ms`,
  C: COMMON,
  R: COMMON,
  P: COMMON,
  B: "v",
};

/** A dhtadm command line, parsed and checked. */
export interface DhtadmCommand {
  fn: "A" | "M" | "D" | "C" | "R" | "P" | "B";
  /** The batch file of -B. */
  arg: string | undefined;
  options: OptionSet;
  /**
   * Deleting a macro still named by a macro's Include or a network record: false refuses
   * (steward's `table delete` without --force), true or absent warns and deletes (dhtadm -D,
   * which upstream let through silently).
   */
  force?: boolean;
}

/** Parse dhtadm's arguments (AdminUsageError on any usage problem). */
export function parseDhtadm(args: readonly string[]): DhtadmCommand {
  const { options: parsed, operands } = getopt(args, DHTADM_OPTSTRING);
  const { fn, options } = splitFunction(parsed, "AMDCRPB");
  if (operands.length > 0) throw new AdminUsageError(`Invalid argument - ${operands[0]}`);
  if (!fn) throw new AdminUsageError("Must specify one of 'C', 'A', 'M', 'D', 'R', 'P', or 'B'");
  options.allowOnly(ALLOWED[fn.letter] ?? "");
  const cmd: DhtadmCommand = { fn: fn.letter as DhtadmCommand["fn"], arg: fn.value, options };
  if (cmd.fn === "A" || cmd.fn === "M" || cmd.fn === "D") {
    if (options.has("m") && options.has("s")) {
      throw new AdminUsageError("Cannot specify both macro name and symbol name");
    }
    if (!options.has("m") && !options.has("s")) {
      throw new AdminUsageError("Must specify either macro name or symbol name");
    }
  }
  if (cmd.fn === "A" && !options.has("d")) {
    throw new AdminUsageError("Must specify macro or symbol definition");
  }
  return cmd;
}

function overrides(o: OptionSet): DatastoreOverrides {
  return { resource: o.get("r"), path: o.get("p"), config: o.get("u") };
}

/** Map a store error to the exit code for the function that got it. */
function failure(e: unknown, notFound: number, exists: number): AdminError {
  return adminFailure(e, { notFound, exists });
}

async function all(tab: DtContainer): Promise<DtRec[]> {
  return (await tab.lookup(qinit(), {})).records;
}

/**
 * Run `fn` on the dhcptab opened for update, under its update lock: the checks read the whole
 * table, so no other dhtadm may change it between the checks and the write.
 */
async function updateDhcptab(
  session: AdminSession,
  ds: DatastoreOverrides,
  fn: (tab: DtContainer) => Promise<void>,
): Promise<void> {
  const store = await session.store(ds);
  await store.serialize(DT_DHCPTAB, async () => {
    await using tab = await store.openDhcptab(DSVC_READ | DSVC_WRITE);
    await fn(tab);
  });
}

async function findEntry(tab: DtContainer, key: string, type: DtType): Promise<DtRec> {
  const found = await tab.lookup(qeq(qeq(qinit(), DT_QKEY), DT_QTYPE), { key, type }, { count: 1 });
  const rec = found.records[0];
  if (!rec) {
    throw new AdminError(
      `${type === "m" ? "Macro" : "Symbol"} ${key} does not exist in the dhcptab`,
      ADMIN_EXIT.ENOENT,
    );
  }
  return rec;
}

/** Classes two vendor symbols share. */
function sharedClasses(a: SymbolDefinition, b: SymbolDefinition): string[] {
  return a.vendorClasses.filter((c) => b.vendorClasses.includes(c));
}

/**
 * Check a symbol against the standard table and the dhcptab's other symbols: a Site or Extend
 * code used twice, or a vendor code used twice for the same client class, is refused.
 */
export function checkNewSymbol(
  name: string,
  value: string,
  existing: readonly DtRec[],
): SymbolDefinition {
  const def = parseSymbolDefinition(value);
  checkSymbolAgainstInittab(name, def);
  for (const r of existing) {
    if (r.type !== "s" || r.key === name) continue;
    let other: SymbolDefinition;
    try {
      other = parseSymbolDefinition(r.value);
    } catch {
      continue;
    }
    if (other.code !== def.code || other.context !== def.context) continue;
    if (def.context !== "Vendor") {
      throw new DhcptabSyntaxError(
        `Bad symbol '${name}': code ${def.code} is already used by symbol ${r.key} (${def.context})`,
      );
    }
    const shared = sharedClasses(def, other);
    if (shared.length > 0) {
      throw new DhcptabSyntaxError(
        `Bad symbol '${name}': vendor code ${def.code} is already used by symbol ${r.key} for class ${
          shared[0]
        }`,
      );
    }
  }
  return def;
}

/**
 * Who names macro `name`: macros that include it and network records whose macro it is
 * (`macro M`, `address A in network N`), for the dangling-reference checks.
 */
async function macroUsers(
  session: AdminSession,
  ds: DatastoreOverrides,
  name: string,
  dhcptab: readonly DtRec[],
): Promise<string[]> {
  const users: string[] = [];
  for (const r of dhcptab) {
    if (r.type !== "m" || r.key === name) continue;
    if (includesOf(r.value).includes(name)) users.push(`macro ${r.key}`);
  }
  const store = await session.store(ds);
  for (const net of await store.listNetworks().catch(() => [] as string[])) {
    try {
      await using c = await store.openNetwork(net, DSVC_READ, {
        netmask: countingNetmask(session, net),
      });
      const found = await c.lookup(qeq(qinit(), DN_QMACRO), { macro: name }, { count: 6 });
      for (const r of found.records) users.push(`address ${ipToString(r.cip)} in network ${net}`);
    } catch { /* a table that cannot be read names nothing we can report */ }
  }
  return users;
}

/** The macro names a macro value includes (`Include=NAME`). */
function includesOf(value: string): string[] {
  try {
    return parseMacroValue(value).filter((i) => i.name === "Include" && i.value !== null).map((
      i,
    ) => unquoteValue(i.value ?? "").trim());
  } catch {
    return [];
  }
}

/** A mask that opens an existing table (its address has no host bits under it). */
function countingNetmask(session: AdminSession, net: string): string {
  const ip = parseIp(net) ?? 0;
  const mask = parseNetmask(session.netmaskFor(net)) ?? 0xffffffff;
  if (((ip & ~mask) >>> 0) === 0) return ipToString(mask);
  let prefix = 32;
  while (prefix > 0 && ((ip >>> (32 - prefix)) & 1) === 0) prefix--;
  return String(prefix);
}

/** Warn (on stderr) about Include targets of macro `name` that are not in the dhcptab. */
function warnMissingIncludes(
  session: AdminSession,
  name: string,
  value: string,
  existing: readonly DtRec[],
): void {
  for (const target of includesOf(value)) {
    if (!existing.some((r) => r.type === "m" && r.key === target)) {
      session.err(`dhtadm: Warning - macro ${name} includes macro ${target}, which does not exist`);
    }
  }
}

/** Check a macro against the dhcptab's symbols and the standard inittab. */
export function checkMacro(
  name: string,
  value: string,
  existing: readonly DtRec[],
  options: { stored?: boolean } = {},
): void {
  validateMacro(name, value, symbolsOf(existing), options);
}

/** The symbols a macro may use: the standard ones and those of the dhcptab `existing`. */
function symbolsOf(existing: readonly DtRec[]): SymbolTable {
  return SymbolTable.withDhcptab(
    existing.filter((r) => r.type === "s").map((r) => ({ name: r.key, value: r.value })),
  );
}

/** Run one parsed dhtadm command; returns the exit code (messages already written). */
export async function runDhtadmCommand(session: AdminSession, cmd: DhtadmCommand): Promise<number> {
  const o = cmd.options;
  const ds = overrides(o);
  switch (cmd.fn) {
    case "C":
      try {
        const tab = await (await session.store(ds)).openDhcptab(
          DSVC_CREATE | DSVC_READ | DSVC_WRITE,
        );
        await tab.close();
      } catch (e) {
        throw failure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      return ADMIN_EXIT.SUCCESS;
    case "R":
      try {
        await (await session.store(ds)).removeDhcptab();
      } catch (e) {
        throw failure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      return ADMIN_EXIT.SUCCESS;
    case "P": {
      let records: DtRec[];
      try {
        await using tab = await (await session.store(ds)).openDhcptab(DSVC_READ);
        records = await all(tab);
      } catch (e) {
        throw failure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.EXISTS);
      }
      session.out(formatDhcptab(records));
      return ADMIN_EXIT.SUCCESS;
    }
    case "A":
      try {
        await updateDhcptab(session, ds, async (tab) => {
          const existing = await all(tab);
          const def = o.get("d") ?? "";
          const sym = o.get("s");
          if (sym !== undefined) {
            // Stored normalised, as upstream stores Option.getValue() of the parsed symbol.
            const parsed = checkNewSymbol(sym, def, existing);
            await tab.add(makeDtRec(sym, "s", formatSymbolDefinition(parsed)));
          } else {
            const mac = o.get("m") ?? "";
            checkMacro(mac, def, existing);
            warnMissingIncludes(session, mac, def, existing);
            await tab.add(makeDtRec(mac, "m", def));
          }
        });
      } catch (e) {
        throw failure(e, ADMIN_EXIT.WARNING, ADMIN_EXIT.EXISTS);
      }
      return ADMIN_EXIT.SUCCESS;
    case "M":
      return await modifyEntry(session, cmd);
    case "D":
      try {
        await updateDhcptab(session, ds, async (tab) => {
          const sym = o.get("s");
          const orig = await findEntry(tab, sym ?? o.get("m") ?? "", sym !== undefined ? "s" : "m");
          if (orig.type === "m") {
            const users = await macroUsers(session, ds, orig.key, await all(tab));
            if (users.length > 0) {
              const who = `${users.slice(0, 5).join(", ")}${
                users.length > 5 ? ` and ${users.length - 5} more` : ""
              }`;
              if (cmd.force === false) {
                throw new AdminError(
                  `Macro ${orig.key} is still named by ${who}: change those first, or give --force`,
                  ADMIN_EXIT.WARNING,
                );
              }
              session.err(`dhtadm: Warning - deleted macro ${orig.key} is still named by ${who}`);
            }
          }
          await tab.delete(orig);
        });
      } catch (e) {
        throw failure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.WARNING);
      }
      return ADMIN_EXIT.SUCCESS;
    case "B":
      throw new AdminUsageError("Batch mode cannot be nested.");
  }
}

async function modifyEntry(session: AdminSession, cmd: DhtadmCommand): Promise<number> {
  const o = cmd.options;
  const sym = o.get("s");
  const name = sym ?? o.get("m") ?? "";
  const type: DtType = sym !== undefined ? "s" : "m";
  if (o.has("e") && type === "s") throw new AdminError("Cannot edit symbols", ADMIN_EXIT.CRITICAL);
  const subs = ["n", "d", "e"].filter((l) => o.has(l)).length;
  if (subs !== 1) {
    throw new AdminError("Only one of '-d', '-e', '-n' can be defined", ADMIN_EXIT.CRITICAL);
  }
  try {
    await updateDhcptab(session, overrides(o), async (tab) => {
      const existing = await all(tab);
      const orig = await findEntry(tab, name, type);
      let key = orig.key;
      let value = orig.value;
      if (o.has("n")) {
        key = o.get("n") ?? "";
        checkName(key, type === "s" ? "symbol" : "macro");
      }
      if (o.has("d")) value = o.get("d") ?? "";
      if (o.has("e")) {
        value = editMacro(orig.key, orig.value, o.get("e") ?? "", symbolsOf(existing));
      }
      const others = existing.filter((r) => !(r.key === orig.key && r.type === orig.type));
      if (type === "s") value = formatSymbolDefinition(checkNewSymbol(key, value, others));
      // Renamed, the stored definition is checked again (Macro.setValue, as upstream), read
      // as the server reads it: the blanks a hand-edited continuation leaves are not refused.
      else if (o.has("n")) checkMacro(key, value, existing, { stored: true });
      // Every symbol deleted: upstream writes ':', which the definition check would refuse.
      else if (o.has("e") && value === ":") checkName(key, "macro");
      else {
        checkMacro(key, value, existing);
        warnMissingIncludes(session, key, value, existing);
      }
      await tab.modify(orig, makeDtRec(key, type, value));
    });
  } catch (e) {
    throw failure(e, ADMIN_EXIT.ENOENT, ADMIN_EXIT.WARNING);
  }
  return ADMIN_EXIT.SUCCESS;
}
