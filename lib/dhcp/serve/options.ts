/**
 * Options from the dhcptab (dhcptab(4), upstream in.dhcpd dhcptab.c and encode.c): symbol
 * definitions from the standard inittab and the dhcptab, macros expanded through `Include`,
 * values encoded as their symbol's type, granularity and maximum say, and the macro chain of
 * one client combined (client class, network, the record's macro, client ID: later wins).
 * Pure: the caller reads the records.
 * @module
 */
import type { DtRec } from "../spi.ts";
import { type InittabCategory, type OptionType, standardInittab } from "../dhcptab/inittab.ts";
import { parseMacroValue, unquoteValue } from "../dhcptab/macro.ts";
import { parseSymbolDefinition } from "../dhcptab/symbol.ts";

/** Most macro chains whose combined options one table keeps. */
export const CHAIN_CACHE_SIZE = 4096;

/** Deepest `Include` nesting followed (upstream has none; a loop must not hang the server). */
export const MAX_INCLUDE_DEPTH = 16;

/** A symbol the server can encode. */
export interface OptionSymbol {
  name: string;
  category: InittabCategory | "EXTEND";
  code: number;
  type: OptionType;
  granularity: number;
  maximum: number;
  /** Client classes of a vendor symbol. */
  vendorClasses: readonly string[];
}

/** One encoded macro item. */
export interface EncodedOption {
  symbol: OptionSymbol;
  value: Uint8Array;
}

/** An expanded macro: standard/site options by code, vendor options, fields and internals. */
export interface ExpandedMacro {
  /** Options (STANDARD, SITE, EXTEND) by code, in definition order. */
  options: Map<number, EncodedOption>;
  /** Vendor options, by "class\0code". */
  vendor: Map<string, { classes: readonly string[]; option: EncodedOption }>;
  /** FIELD symbols by name (BootSrvA, BootSrvN, BootFile). */
  fields: Map<string, EncodedOption>;
  /** INTERNAL symbols by name (LeaseNeg, Hostname, EchoVC, BootPath). */
  internal: Map<string, EncodedOption>;
}

const INT_SIZE: Partial<Record<OptionType, number>> = {
  UNUMBER8: 1,
  UNUMBER16: 2,
  UNUMBER32: 4,
  UNUMBER64: 8,
  SNUMBER8: 1,
  SNUMBER16: 2,
  SNUMBER32: 4,
  SNUMBER64: 8,
};

/** A value that its symbol cannot encode. */
export class OptionValueError extends Error {
  override name = "OptionValueError";
}

function parseIpv4(text: string): number | undefined {
  const p = text.split(".");
  if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)) return undefined;
  return p.reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
}

function checkCount(sym: OptionSymbol, n: number, unit: string): void {
  const g = sym.type === "NUMBER" ? 1 : Math.max(1, sym.granularity);
  if (n === 0) throw new OptionValueError(`${sym.name}: no ${unit} given`);
  if (n % g !== 0) throw new OptionValueError(`${sym.name}: ${n} ${unit}s, not groups of ${g}`);
  if (sym.maximum > 0 && n / g > sym.maximum) {
    throw new OptionValueError(`${sym.name}: more than ${sym.maximum} groups of ${unit}s`);
  }
}

/** Encode one macro value (as written, quotes kept; null for a boolean) for its symbol. */
export function encodeOptionValue(sym: OptionSymbol, raw: string | null): Uint8Array {
  if (sym.type === "BOOLEAN") {
    if (raw !== null) throw new OptionValueError(`${sym.name}: a boolean takes no value`);
    return new Uint8Array(0);
  }
  if (raw === null) throw new OptionValueError(`${sym.name}: ${sym.type} needs a value`);
  const text = unquoteValue(raw);
  switch (sym.type) {
    case "ASCII": {
      const bytes = new TextEncoder().encode(text);
      const max = sym.maximum > 0 ? sym.maximum * Math.max(1, sym.granularity) : 255 * 4;
      if (bytes.length > max) throw new OptionValueError(`${sym.name}: longer than ${max} octets`);
      return bytes;
    }
    case "OCTET": {
      const hex = text.trim().replace(/^0x/i, "");
      if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
        throw new OptionValueError(`${sym.name}: '${hex}' is not hex octets`);
      }
      const out = new Uint8Array(hex.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      if (sym.maximum > 0 && out.length > sym.maximum * Math.max(1, sym.granularity)) {
        throw new OptionValueError(`${sym.name}: more than ${sym.maximum} octets`);
      }
      return out;
    }
    case "IP": {
      const words = text.trim().split(/[\s,]+/).filter((w) => w !== "");
      checkCount(sym, words.length, "address");
      const out = new Uint8Array(words.length * 4);
      words.forEach((w, i) => {
        const ip = parseIpv4(w);
        if (ip === undefined) throw new OptionValueError(`${sym.name}: '${w}' is not an address`);
        out[4 * i] = ip >>> 24;
        out[4 * i + 1] = (ip >>> 16) & 255;
        out[4 * i + 2] = (ip >>> 8) & 255;
        out[4 * i + 3] = ip & 255;
      });
      return out;
    }
    default: {
      const size = sym.type === "NUMBER" ? sym.granularity : INT_SIZE[sym.type]!;
      const signed = sym.type.startsWith("S");
      const words = text.trim().split(/[\s,]+/).filter((w) => w !== "");
      checkCount(sym, words.length, "number");
      const out = new Uint8Array(words.length * size);
      const bits = BigInt(8 * size);
      words.forEach((w, i) => {
        if (!/^[+-]?(\d{1,20}|0[xX][0-9a-fA-F]{1,16})$/.test(w)) {
          throw new OptionValueError(`${sym.name}: '${w}' is not a number`);
        }
        const neg = w.startsWith("-");
        let v = BigInt(w.replace(/^[+-]/, ""));
        if (neg) v = -v;
        const lo = signed ? -(1n << (bits - 1n)) : (sym.type === "NUMBER" ? -(1n << bits) : 0n);
        const hi = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
        if (v < lo || v > hi) throw new OptionValueError(`${sym.name}: ${w} is out of range`);
        v = BigInt.asUintN(8 * size, v);
        for (let k = size - 1; k >= 0; k--) {
          out[i * size + k] = Number(v & 0xffn);
          v >>= 8n;
        }
      });
      return out;
    }
  }
}

/** The dhcptab as the server uses it: symbols and macros, expanded on demand and cached. */
export class OptionTable {
  readonly #symbols = new Map<string, OptionSymbol>();
  readonly #macros = new Map<string, string>();
  readonly #expanded = new Map<string, ExpandedMacro | null>();
  /** Combined options by macro chain (see {@link OptionTable.chainOptions}). */
  readonly #chains = new Map<string, ClientOptions>();
  /** What could not be used, one line each (bad symbol definitions, bad values, loops). */
  readonly problems: string[] = [];

  /** Build from the dhcptab's records (symbols and macros). */
  constructor(records: readonly DtRec[] = []) {
    // Every entry: visibility letters differ between releases (LeaseNeg is "dm", BootFile "idm").
    for (const e of standardInittab()) {
      this.#symbols.set(e.name, { ...e, vendorClasses: [] });
    }
    for (const r of records) {
      if (r.type === "m") {
        this.#macros.set(r.key, r.value);
        continue;
      }
      try {
        const d = parseSymbolDefinition(r.value);
        this.#symbols.set(r.key, {
          name: r.key,
          category: d.context === "Site" ? "SITE" : d.context === "Vendor" ? "VENDOR" : "EXTEND",
          code: d.code,
          type: d.type,
          granularity: d.granularity,
          maximum: d.maximum,
          vendorClasses: d.vendorClasses,
        });
      } catch (e) {
        this.problems.push(`symbol ${r.key}: ${(e as Error).message}`);
      }
    }
  }

  /** Number of macros. */
  get macroCount(): number {
    return this.#macros.size;
  }

  /** Whether a macro called `name` exists. */
  hasMacro(name: string): boolean {
    return this.#macros.has(name);
  }

  /**
   * The combined options of `chain` for `classId`, as {@link clientOptions} makes them, made once
   * per table and chain: a table is replaced, never changed, when the dhcptab is reloaded, so
   * what it combined stays right for its lifetime. The result is shared: callers must not change
   * it. At most CHAIN_CACHE_SIZE chains are kept (the cache starts over beyond that, so that
   * client-chosen class names cannot grow it without bound).
   */
  chainOptions(chain: readonly (string | undefined)[], classId: string | undefined): ClientOptions {
    let key = classId === undefined ? "\u0001" : classId;
    for (const n of chain) key += `\u0000${n ?? ""}`;
    const hit = this.#chains.get(key);
    if (hit !== undefined) return hit;
    const o = clientOptions(this, chain, classId);
    if (this.#chains.size >= CHAIN_CACHE_SIZE) this.#chains.clear();
    this.#chains.set(key, o);
    return o;
  }

  /** The symbol called `name`. */
  symbol(name: string): OptionSymbol | undefined {
    return this.#symbols.get(name);
  }

  /** The expanded macro `name`, or undefined when there is none (or it cannot be parsed). */
  macro(name: string): ExpandedMacro | undefined {
    const hit = this.#expanded.get(name);
    if (hit !== undefined) return hit ?? undefined;
    if (!this.#macros.has(name)) return undefined;
    const out: ExpandedMacro = {
      options: new Map(),
      vendor: new Map(),
      fields: new Map(),
      internal: new Map(),
    };
    const ok = this.#expand(name, out, [], 0);
    this.#expanded.set(name, ok ? out : null);
    return ok ? out : undefined;
  }

  #expand(name: string, out: ExpandedMacro, stack: string[], depth: number): boolean {
    const value = this.#macros.get(name);
    if (value === undefined) {
      this.problems.push(`macro ${stack.at(-1) ?? name}: includes unknown macro ${name}`);
      return stack.length > 0;
    }
    if (stack.includes(name) || depth > MAX_INCLUDE_DEPTH) {
      this.problems.push(`macro ${stack[0]}: Include loop or nesting over ${MAX_INCLUDE_DEPTH}`);
      return true;
    }
    let items;
    try {
      items = parseMacroValue(value);
    } catch (e) {
      this.problems.push(`macro ${name}: ${(e as Error).message}`);
      return false;
    }
    for (const it of items) {
      if (it.name === "Include") {
        const target = it.value === null ? "" : unquoteValue(it.value).trim();
        this.#expand(target, out, [...stack, name], depth + 1);
        continue;
      }
      const sym = this.#symbols.get(it.name);
      if (!sym) {
        this.problems.push(`macro ${name}: unknown symbol ${it.name}`);
        continue;
      }
      let enc: EncodedOption;
      try {
        enc = { symbol: sym, value: encodeOptionValue(sym, it.value) };
      } catch (e) {
        this.problems.push(`macro ${name}: ${(e as Error).message}`);
        continue;
      }
      switch (sym.category) {
        case "VENDOR":
          for (const c of sym.vendorClasses) {
            out.vendor.set(`${c}\0${sym.code}`, { classes: sym.vendorClasses, option: enc });
          }
          break;
        case "FIELD":
          out.fields.set(sym.name, enc);
          break;
        case "INTERNAL":
          out.internal.set(sym.name, enc);
          break;
        default:
          // A later definition of the same code replaces the earlier one, in place of order.
          out.options.delete(sym.code);
          out.options.set(sym.code, enc);
      }
    }
    return true;
  }
}

/** The options of one client: its macro chain combined. */
export interface ClientOptions {
  /** Options by code (STANDARD, SITE, EXTEND), later macros winning. */
  options: Map<number, Uint8Array>;
  /** The encapsulated vendor options (option 43's content) for the client's class. */
  vendor: Map<number, Uint8Array>;
  siaddr?: number;
  sname?: Uint8Array;
  file?: Uint8Array;
  leaseNeg: boolean;
  echoVendorClass: boolean;
  /** Names of the macros that were found and applied. */
  applied: string[];
}

/**
 * Combine the macros named in `chain` (upstream order: client class, network, the record's
 * macro, client ID; missing ones are skipped), keeping vendor options of `classId` only.
 */
export function clientOptions(
  table: OptionTable,
  chain: readonly (string | undefined)[],
  classId: string | undefined,
): ClientOptions {
  const out: ClientOptions = {
    options: new Map(),
    vendor: new Map(),
    leaseNeg: false,
    echoVendorClass: false,
    applied: [],
  };
  const seen = new Set<string>();
  for (const name of chain) {
    if (name === undefined || name === "" || seen.has(name)) continue;
    seen.add(name);
    const m = table.macro(name);
    if (!m) continue;
    out.applied.push(name);
    for (const [code, o] of m.options) {
      out.options.delete(code);
      out.options.set(code, o.value);
    }
    if (classId !== undefined) {
      for (const [key, v] of m.vendor) {
        if (key.startsWith(`${classId}\0`)) out.vendor.set(v.option.symbol.code, v.option.value);
      }
    }
    const a = m.fields.get("BootSrvA");
    if (a && a.value.length === 4) {
      out.siaddr =
        ((a.value[0]! << 24) | (a.value[1]! << 16) | (a.value[2]! << 8) | a.value[3]!) >>>
        0;
    }
    const n = m.fields.get("BootSrvN");
    if (n) out.sname = n.value;
    const f = m.fields.get("BootFile");
    if (f) out.file = f.value;
    if (m.internal.has("LeaseNeg")) out.leaseNeg = true;
    if (m.internal.has("EchoVC")) out.echoVendorClass = true;
  }
  return out;
}

/** Option 43's bytes from the vendor options (code, length, value each; at most 255 bytes). */
export function vendorOptionBytes(vendor: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const parts: number[] = [];
  for (const [code, v] of vendor) {
    if (v.length > 253 || parts.length + 2 + v.length > 255) continue;
    parts.push(code, v.length, ...v);
  }
  return Uint8Array.from(parts);
}
