/**
 * Checks a macro against the symbols it may use: the standard inittab entries visible to the
 * DHCP manager, plus the Site, Vendor and Extend symbols defined in the dhcptab itself. Each
 * value must match its symbol's type, granularity and maximum.
 * @module
 */
import { type OptionType, standardInittab } from "./inittab.ts";
import { type MacroItem, MAX_MACRO_VALUE, parseMacroValue, unquoteValue } from "./macro.ts";
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

/** Bits of a number type as upstream's NumberOptionValue counts them (sign bit excluded). */
function numberBits(sym: KnownSymbol): { bits: number; unsigned: boolean } {
  switch (sym.type) {
    case "SNUMBER8":
      return { bits: 7, unsigned: false };
    case "UNUMBER8":
      return { bits: 8, unsigned: true };
    case "SNUMBER16":
      return { bits: 15, unsigned: false };
    case "UNUMBER16":
      return { bits: 16, unsigned: true };
    case "SNUMBER32":
      return { bits: 31, unsigned: false };
    case "UNUMBER32":
      return { bits: 32, unsigned: true };
    case "SNUMBER64":
      return { bits: 63, unsigned: false };
    case "UNUMBER64":
      return { bits: 64, unsigned: true };
    default: // NUMBER: granularity octets, either sign
      return { bits: sym.granularity * 8, unsigned: false };
  }
}

/**
 * One number of a value as NumberOptionValue reads it: `0x…` hexadecimal, a leading `0`
 * octal, else decimal; then `BigInteger(digits, radix)` (an optional sign, digits of the radix).
 */
function parseUpstreamNumber(token: string): bigint | undefined {
  let radix = 10;
  let s = token;
  if (/^0[xX]/.test(s)) {
    radix = 16;
    s = s.slice(2);
  } else if (s.startsWith("0") && s.length > 1) {
    radix = 8;
    s = s.slice(1);
  }
  const m = /^([+-]?)(.*)$/.exec(s) as RegExpExecArray;
  const digits = m[2] as string;
  const ok = radix === 16 ? /^[0-9a-fA-F]{1,64}$/ : radix === 8 ? /^[0-7]{1,64}$/ : /^[0-9]{1,64}$/;
  if (!ok.test(digits)) return undefined;
  const v = BigInt(radix === 16 ? `0x${digits}` : radix === 8 ? `0o${digits}` : digits);
  return m[1] === "-" ? -v : v;
}

/** Java's `BigInteger.bitLength()`: bits of the value, sign bit excluded. */
function bitLength(v: bigint): number {
  const x = v < 0n ? -v - 1n : v;
  return x === 0n ? 0 : x.toString(2).length;
}

/** IPAddress(String) of upstream for a numeric address: 4 parts of digits, each at most 255. */
function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,16}$/.test(p) && Number(p) <= 255);
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

/**
 * A value as upstream's `Macro.setValue` collects it before handing it to the option's class:
 * backslash escapes resolved (the backslash dropped), quotes kept.
 */
export function collectedValue(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === "\\" && i + 1 < raw.length) out += raw[++i];
    else if (ch !== "\\") out += ch;
  }
  return out;
}

/** The text of an ASCII value inside its quotes, or undefined when only one end is quoted. */
function asciiText(collected: string): string | undefined {
  const q1 = collected.startsWith('"');
  const q2 = collected.endsWith('"');
  if (q1 !== q2 || collected === '"') return undefined;
  return q1 ? collected.slice(1, -1) : collected;
}

function needsValue(macro: string, sym: KnownSymbol): DhcptabSyntaxError {
  return new DhcptabSyntaxError(
    `Bad value for ${sym.name} in macro ${macro}: ${sym.name} is of type ${sym.type} and needs a value`,
  );
}

/**
 * Check one item's value against its symbol, as the upstream OptionValue classes do (the value
 * as written: quotes and escapes kept). ASCII: in quotes at both ends or at neither, not empty,
 * at most `maximum` characters. IP: addresses separated by spaces, each four dotted numbers up
 * to 255. Numbers: separated by spaces, `0x` hexadecimal, leading `0` octal, within the bits of
 * the type (NUMBER: granularity octets, either sign). OCTET: pairs of hex digits (steward;
 * upstream took any text). Counts by granularity and maximum.
 */
export function checkItemValue(macro: string, item: MacroItem, sym: KnownSymbol): void {
  if (sym.type === "BOOLEAN") {
    if (item.value !== null) {
      throw new DhcptabSyntaxError(
        `Bad value for ${sym.name} in macro ${macro}: ${sym.name} is a boolean and takes no value`,
      );
    }
    return;
  }
  if (item.value === null || item.value === "") throw needsValue(macro, sym);
  const collected = collectedValue(item.value);
  switch (sym.type) {
    case "ASCII": {
      const text = asciiText(collected);
      if (text === undefined) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: a quoted value must start and end with '"'`,
        );
      }
      if (text === "") throw needsValue(macro, sym);
      if (sym.maximum > 0 && text.length > sym.maximum) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: longer than ${sym.maximum} characters`,
        );
      }
      return;
    }
    case "OCTET": {
      const hex = unquoteValue(item.value).trim();
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
      const addrs = collected.split(" ").filter((a) => a !== "");
      const bad = addrs.find((a) => !isIPv4(a));
      if (bad !== undefined || addrs.length === 0) {
        throw new DhcptabSyntaxError(
          `Bad value for ${sym.name} in macro ${macro}: '${
            bad ?? collected
          }' is not an IPv4 address`,
        );
      }
      countCheck(macro, sym, addrs.length, "address");
      return;
    }
    default: {
      const nums = collected.split(" ").filter((a) => a !== "");
      const { bits, unsigned } = numberBits(sym);
      const max = (1n << BigInt(bits)) - 1n;
      // Upstream let a NUMBER of n octets go down to -2^(8n) (Java's bitLength); steward stops
      // at -(2^(8n) - 1), the most negative value whose two's complement fits.
      const min = unsigned ? 0n : sym.type === "NUMBER" ? -max : -(1n << BigInt(bits));
      for (const s of nums) {
        const v = parseUpstreamNumber(s);
        if (v === undefined) {
          throw new DhcptabSyntaxError(
            `Bad value for ${sym.name} in macro ${macro}: '${s}' is not a number`,
          );
        }
        if (bitLength(v) > bits || v < min) {
          throw new DhcptabSyntaxError(
            `Bad value for ${sym.name} in macro ${macro}: ${s} is outside ${min}..${max} (${sym.type})`,
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

function show(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value;
}

/**
 * Split a macro definition as upstream's `Macro.setValue(definition, false, true)` does (the
 * parse of `dhtadm -A -m` and `-M -m -d`), refusing what it refuses: the text must start with
 * `:` and hold more than it; a name runs to `=` or `:` (blanks included, so a name with a blank
 * is an unknown symbol) and may not be empty (`::`); a value runs to a `:` outside quotes,
 * with `\` escaping the next character; the text must end outside a value. steward also
 * refuses a last name without its closing `:` (upstream dropped it unchecked) and `sym=` with
 * nothing after `=`.
 */
export function splitMacroDefinition(macro: string, value: string): MacroItem[] {
  const bad = (why: string) =>
    new DhcptabSyntaxError(`Bad macro ${macro} '${show(value)}': ${why}`);
  if (value.length > MAX_MACRO_VALUE) {
    throw new DhcptabSyntaxError(`Bad macro ${macro}: longer than ${MAX_MACRO_VALUE} characters`);
  }
  if (!value.startsWith(":")) throw bad("it must start with ':'");
  if (value.length === 1) throw bad("it holds no symbol");
  const items: MacroItem[] = [];
  let name = "";
  let inValue = false;
  let vstart = 0;
  let quoted = false;
  for (let i = 1; i < value.length; i++) {
    const ch = value[i] as string;
    if (!inValue) {
      if (ch === "=") {
        if (name === "") throw bad(`a value without a symbol name at offset ${i}`);
        inValue = true;
        vstart = i + 1;
      } else if (ch === ":") {
        if (name === "") throw bad(`an empty symbol name ('::') at offset ${i - 1}`);
        items.push({ name, value: null });
        name = "";
      } else name += ch;
      continue;
    }
    if (ch === "\\") i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === ":" && !quoted) {
      const raw = value.slice(vstart, i);
      if (raw === "") throw bad(`'${name}=' has no value (a boolean is written without '=')`);
      items.push({ name, value: raw });
      name = "";
      inValue = false;
    }
  }
  if (inValue) {
    throw bad(
      quoted
        ? `the value of '${name}' has no closing quote`
        : `the value of '${name}' is not followed by ':' (a macro ends with ':')`,
    );
  }
  if (name !== "") throw bad(`'${name}' is not followed by ':' (a macro ends with ':')`);
  return items;
}

/** A stored macro's items, read as the server reads them (blanks left by continuations skipped). */
function storedItems(name: string, value: string): MacroItem[] {
  try {
    return parseMacroValue(value);
  } catch (e) {
    if (e instanceof DhcptabSyntaxError) {
      throw new DhcptabSyntaxError(`${e.message.replace(/^Bad macro value/, `Bad macro ${name}`)}`);
    }
    throw e;
  }
}

/**
 * Parse and check a macro definition as upstream's dhtadm does before it writes one: the forms
 * of {@link splitMacroDefinition}, every symbol known, every value of the right type and size,
 * `Include=` naming a macro (and not the macro itself). With `stored`, the text is a stored
 * macro (read from a dhcptab, where continuation lines leave blanks between items): it is split
 * as the server reads it, and only its items are checked.
 */
export function validateMacro(
  name: string,
  value: string,
  symbols: SymbolTable,
  options: { stored?: boolean } = {},
): MacroItem[] {
  checkName(name, "macro");
  const items = options.stored ? storedItems(name, value) : splitMacroDefinition(name, value);
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

/** `name=value` with the value as written, for an item the serialiser cannot retype. */
function asWritten(item: MacroItem): string {
  return item.value === null ? item.name : `${item.name}=${item.value}`;
}

/**
 * One item as upstream's `OptionValue.toString()` writes it back (Macro.getValue): ASCII
 * `name="…"` with `\` and `"` escaped, IP addresses dotted and joined by one space, numbers
 * joined by one space (as written: upstream lost `0x` and `0` prefixes, a bug not copied),
 * booleans bare, Include and OCTET as collected. An item the symbol table cannot type is kept
 * as written (the check of the whole macro then names it).
 */
function serializeItem(item: MacroItem, symbols: SymbolTable): string {
  if (item.value === null) return item.name;
  const collected = collectedValue(item.value);
  const plain = (text: string) => (/[:"\\]/.test(text) ? asWritten(item) : `${item.name}=${text}`);
  if (item.name === "Include") return plain(collected);
  const sym = symbols.get(item.name);
  if (!sym) return asWritten(item);
  switch (sym.type) {
    case "BOOLEAN":
      return asWritten(item);
    case "ASCII": {
      const text = asciiText(collected);
      return text === undefined
        ? asWritten(item)
        : `${item.name}="${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    }
    case "OCTET":
      return plain(collected);
    case "IP": {
      const addrs = collected.split(" ").filter((a) => a !== "");
      if (addrs.length === 0 || !addrs.every(isIPv4)) return asWritten(item);
      return `${item.name}=${addrs.map((a) => a.split(".").map(Number).join(".")).join(" ")}`;
    }
    default:
      return plain(collected.split(" ").filter((a) => a !== "").join(" "));
  }
}

/**
 * `dhtadm -M -m MACRO -e EDIT` as upstream's `Macro.editOption`: EDIT is `sym=value`, the name
 * running to the first `=` and the value to the end (`:` included; `\` escapes, quotes kept).
 * An empty value (`sym=`, or `sym` alone) deletes the first `sym` of the macro (refused when
 * there is none); `sym=_NULL_VALUE_` adds the boolean `sym` unless the macro has it; any other
 * value replaces the value of the first `sym`, or appends `sym=value` — refused for an unknown
 * symbol, for a boolean, and for a value its type does not take. The macro is then written back
 * from its items ({@link serializeItem}), `:` before each and one at the end.
 */
export function editMacro(
  macro: string,
  stored: string,
  edit: string,
  symbols: SymbolTable,
): string {
  const eq = edit.indexOf("=");
  const name = eq < 0 ? edit : edit.slice(0, eq);
  const raw = eq < 0 ? "" : edit.slice(eq + 1);
  const value = collectedValue(raw);
  const items = parseMacroValue(stored);
  const index = items.findIndex((it) => it.name === name);
  const unknown = () =>
    new DhcptabSyntaxError(
      `Bad edit of macro ${macro}: unknown symbol '${name}' (not in the standard inittab and not defined in the dhcptab)`,
    );
  if (value === "") {
    if (index < 0) {
      throw new DhcptabSyntaxError(`Bad edit of macro ${macro}: it has no symbol '${name}'`);
    }
    items.splice(index, 1);
  } else if (value === BOOLEAN_EDIT_VALUE) {
    const sym = symbols.get(name);
    if (!sym) throw unknown();
    if (sym.type !== "BOOLEAN") {
      throw new DhcptabSyntaxError(
        `Bad edit of macro ${macro}: ${name} is of type ${sym.type}, not a boolean: give ${name}=VALUE`,
      );
    }
    if (index < 0) items.push({ name, value: null });
  } else {
    // The value as an item of the macro: its collected text, escaped again where it must be.
    const item: MacroItem = { name, value: raw };
    if (name === "Include") {
      if (/[:"\\]/.test(value)) {
        throw new DhcptabSyntaxError(
          `Bad edit of macro ${macro}: Include names a macro; '${value}' holds ':', '"' or '\\'`,
        );
      }
      if (value.trim() === macro) {
        throw new DhcptabSyntaxError(`Bad macro ${macro}: it includes itself`);
      }
    } else {
      const sym = symbols.get(name);
      if (!sym) throw unknown();
      if (sym.type === "BOOLEAN") {
        throw new DhcptabSyntaxError(
          `Bad edit of macro ${macro}: ${name} is a boolean: give ${name}=${BOOLEAN_EDIT_VALUE} ` +
            `to set it, ${name}= to remove it`,
        );
      }
      checkItemValue(macro, item, sym);
    }
    const written = serializeItem(item, symbols);
    const replaced = { name, value: written.slice(name.length + 1) };
    if (index < 0) items.push(replaced);
    else items[index] = replaced;
  }
  return `:${items.map((it) => serializeItem(it, symbols)).map((t) => `${t}:`).join("")}`;
}

/** The value that sets a boolean symbol with `dhtadm -M -e` (upstream BOOLEAN_EDIT_VALUE). */
export const BOOLEAN_EDIT_VALUE = "_NULL_VALUE_";
