/**
 * Checks a macro against the symbols it may use: the standard inittab entries visible to the
 * DHCP manager, plus the Site, Vendor and Extend symbols defined in the dhcptab itself. Each
 * value must match its symbol's type, granularity and maximum.
 * @module
 */
import { type OptionType, standardInittab } from "./inittab.ts";
import { type MacroItem, parseMacroValue, unquoteValue } from "./macro.ts";
import {
  checkName,
  DhcptabSyntaxError,
  parseSymbolDefinition,
  type SymbolDefinition,
} from "./symbol.ts";

/** What a macro item is checked against. */
export interface KnownSymbol {
  name: string;
  type: OptionType;
  granularity: number;
  maximum: number;
  /** Where the definition comes from: the standard inittab or the dhcptab. */
  origin: "inittab" | "dhcptab";
}

/** The symbols a macro may use. */
export class SymbolTable {
  readonly #byName = new Map<string, KnownSymbol>();

  /** A table of the standard inittab entries usable in macros (visibility includes 'm'). */
  static standard(): SymbolTable {
    const t = new SymbolTable();
    for (const e of standardInittab()) {
      if (e.category === "VENDOR" || e.category === "SITE" || !e.visibility.includes("m")) continue;
      t.#byName.set(e.name, { ...e, origin: "inittab" });
    }
    return t;
  }

  /**
   * The standard table plus the symbols of a dhcptab, given as (name, definition) pairs.
   * A dhcptab symbol whose definition does not parse is skipped: it cannot be used, and the
   * macro that uses it gets an "unknown symbol" error naming it.
   */
  static withDhcptab(symbols: Iterable<{ name: string; value: string }>): SymbolTable {
    const t = SymbolTable.standard();
    for (const s of symbols) {
      try {
        t.define(s.name, parseSymbolDefinition(s.value));
      } catch { /* unusable definition: see above */ }
    }
    return t;
  }

  /** Add (or replace) a dhcptab symbol. */
  define(name: string, def: SymbolDefinition): void {
    this.#byName.set(name, {
      name,
      type: def.type,
      granularity: def.granularity,
      maximum: def.maximum,
      origin: "dhcptab",
    });
  }

  /** The symbol called `name` (case-sensitive, as the modules compare). */
  get(name: string): KnownSymbol | undefined {
    return this.#byName.get(name);
  }
}

const INT_RANGES: Partial<Record<OptionType, readonly [bigint, bigint]>> = {
  UNUMBER8: [0n, 0xffn],
  UNUMBER16: [0n, 0xffffn],
  UNUMBER32: [0n, 0xffffffffn],
  UNUMBER64: [0n, 0xffffffffffffffffn],
  SNUMBER8: [-0x80n, 0x7fn],
  SNUMBER16: [-0x8000n, 0x7fffn],
  SNUMBER32: [-0x80000000n, 0x7fffffffn],
  SNUMBER64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

function parseInt64(text: string): bigint | undefined {
  if (/^[+-]?\d{1,20}$/.test(text)) return BigInt(text);
  if (/^0[xX][0-9a-fA-F]{1,16}$/.test(text)) return BigInt(text);
  return undefined;
}

function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function countCheck(macro: string, sym: KnownSymbol, count: number, unit: string): void {
  const g = sym.type === "NUMBER" ? 1 : Math.max(sym.granularity, 1);
  if (count % g !== 0) {
    throw new DhcptabSyntaxError(
      `Bad value for ${sym.name} in macro ${macro}: ${count} ${unit}(s) given, but they come in groups of ${g}`,
    );
  }
  if (sym.maximum > 0 && count / g > sym.maximum) {
    throw new DhcptabSyntaxError(
      `Bad value for ${sym.name} in macro ${macro}: at most ${sym.maximum} ${
        g > 1 ? `group(s) of ${g} ` : ""
      }${unit}(s) allowed, ${count} given`,
    );
  }
}

/** Check one item's value against its symbol. */
export function checkItemValue(macro: string, item: MacroItem, sym: KnownSymbol): void {
  if (sym.type === "BOOLEAN") {
    if (item.value !== null) {
      throw new DhcptabSyntaxError(
        `Bad value for ${sym.name} in macro ${macro}: ${sym.name} is a boolean and takes no value`,
      );
    }
    return;
  }
  if (item.value === null || item.value === "") {
    throw new DhcptabSyntaxError(
      `Bad value for ${sym.name} in macro ${macro}: ${sym.name} is of type ${sym.type} and needs a value`,
    );
  }
  const text = unquoteValue(item.value);
  switch (sym.type) {
    case "ASCII": {
      if (sym.maximum > 0 && text.length > sym.maximum) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: longer than ${sym.maximum} characters`,
        );
      }
      return;
    }
    case "OCTET": {
      const hex = text.trim();
      if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: '${hex}' is not an even number of hex digits`,
        );
      }
      if (sym.maximum > 0 && hex.length / 2 > sym.maximum) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: longer than ${sym.maximum} octets`,
        );
      }
      return;
    }
    case "IP": {
      const addrs = text.trim().split(/[\s,]+/).filter((a) => a !== "");
      const bad = addrs.find((a) => !isIPv4(a));
      if (bad !== undefined || addrs.length === 0) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: '${bad ?? text}' is not an IPv4 address`,
        );
      }
      countCheck(macro, sym, addrs.length, "address");
      return;
    }
    default: {
      const nums = text.trim().split(/[\s,]+/).filter((a) => a !== "");
      const range = sym.type === "NUMBER"
        ? ([0n, (1n << BigInt(8 * sym.granularity)) - 1n] as const)
        : INT_RANGES[sym.type];
      for (const s of nums) {
        const v = parseInt64(s);
        if (v === undefined) {
          throw new DhcptabSyntaxError(
            `Bad value for ${sym.name} in macro ${macro}: '${s}' is not a number`,
          );
        }
        // Negative values of a NUMBER are stored in two's complement, as the old tools did.
        const min = sym.type === "NUMBER" ? -(range?.[1] ?? 0n) : range?.[0] ?? 0n;
        if (range && (v < min || v > range[1])) {
          throw new DhcptabSyntaxError(
            `Bad value for ${sym.name} in macro ${macro}: ${s} is outside ${range[0]}..${
              range[1]
            } (${sym.type})`,
          );
        }
      }
      if (nums.length === 0) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: no number given`,
        );
      }
      countCheck(macro, sym, nums.length, "number");
    }
  }
}

/**
 * Parse and check a macro definition: syntax, every symbol known, every value of the right
 * type and size, `Include=` naming a macro (and not the macro itself).
 */
export function validateMacro(name: string, value: string, symbols: SymbolTable): MacroItem[] {
  checkName(name, "macro");
  let items: MacroItem[];
  try {
    items = parseMacroValue(value);
  } catch (e) {
    if (e instanceof DhcptabSyntaxError) {
      throw new DhcptabSyntaxError(`${e.message.replace(/^Bad macro value/, `Bad macro ${name}`)}`);
    }
    throw e;
  }
  for (const item of items) {
    if (item.name === "Include") {
      const target = item.value === null ? "" : unquoteValue(item.value).trim();
      if (target === "") {
        throw new DhcptabSyntaxError(`Bad macro ${name}: Include needs a macro name`);
      }
      if (target === name) {
        throw new DhcptabSyntaxError(`Bad macro ${name}: it includes itself`);
      }
      continue;
    }
    const sym = symbols.get(item.name);
    if (!sym) {
      throw new DhcptabSyntaxError(
        `Bad macro ${name}: unknown symbol '${item.name}' (not in the standard inittab and not defined in the dhcptab)`,
      );
    }
    checkItemValue(name, item, sym);
  }
  return items;
}
