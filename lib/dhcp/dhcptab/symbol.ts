/**
 * dhcptab symbol definitions (`Context,Code,Type,Granularity,Maximum`, dhcptab(4)) and record
 * names: parsing, formatting and the checks an administrator expects before anything is written.
 * @module
 */
import { type OptionType, standardInittab } from "./inittab.ts";

/** A dhcptab value or name that is not valid; the message names the bad part. */
export class DhcptabSyntaxError extends Error {
  /** The error class name. */
  override name = "DhcptabSyntaxError";
}

/** Where a site-defined symbol lives. */
export type SymbolContext = "Site" | "Vendor" | "Extend";

/** A parsed symbol definition. */
export interface SymbolDefinition {
  /** Where the option lives: Site, Vendor=…, Extend, Field, Internal. */
  context: SymbolContext;
  /** Client classes of a Vendor symbol (empty for other contexts). */
  vendorClasses: string[];
  /** Option code. */
  code: number;
  /** Value type. */
  type: OptionType;
  /** Values per item. */
  granularity: number;
  /** Most items (0 = no limit). */
  maximum: number;
}

/** Longest macro or symbol name (DSVC_MAX_MACSYM_LEN). */
export const MAX_NAME_LENGTH = 128;

/** Code ranges of each context. */
export const CONTEXT_CODES: Readonly<Record<SymbolContext, readonly [number, number]>> = {
  Site: [128, 254],
  Vendor: [1, 254],
  // DHCP_LAST_STD + 1 .. DHCP_SITE_OPT - 1 (upstream dhcp_symbol.c; dhcp.h DHCP_LAST_STD = 107).
  Extend: [108, 127],
};

/** Check a macro or symbol name: printable ASCII, 1..128 characters, no trailing space. */
export function checkName(name: string, what: "macro" | "symbol"): void {
  if (name.length === 0) throw new DhcptabSyntaxError(`Bad ${what} name: it is empty`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new DhcptabSyntaxError(
      `Bad ${what} name '${name.slice(0, 20)}…': longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  const bad = /[^\x20-\x7e]/.exec(name);
  if (bad) {
    throw new DhcptabSyntaxError(
      `Bad ${what} name '${JSON.stringify(name).slice(1, -1)}': only printable ASCII is allowed`,
    );
  }
  if (name.startsWith(" ") || name.endsWith(" ")) {
    throw new DhcptabSyntaxError(`Bad ${what} name '${name}': leading or trailing space`);
  }
  if (what === "symbol" && /[:=\s"\\]/.test(name)) {
    throw new DhcptabSyntaxError(
      `Bad symbol name '${name}': it may not contain spaces, ':', '=', '"' or '\\'`,
    );
  }
}

function splitVendorClasses(text: string, def: string): string[] {
  const classes: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === " " || text[i] === "\t") i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) {
        throw new DhcptabSyntaxError(
          `Bad symbol definition '${def}': unterminated quote in the vendor class list`,
        );
      }
      classes.push(text.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== " " && text[j] !== "\t") j++;
      classes.push(text.slice(i, j));
      i = j;
    }
  }
  return classes.filter((c) => c !== "");
}

function splitFields(def: string): string[] {
  // Commas inside a quoted vendor class do not separate fields.
  const fields: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of def) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      fields.push(cur);
      cur = "";
    } else cur += ch;
  }
  fields.push(cur);
  return fields;
}

function integerField(text: string, what: string, def: string): number {
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) {
    throw new DhcptabSyntaxError(`Bad symbol definition '${def}': ${what} '${t}' is not a number`);
  }
  return Number(t);
}

/** The dhcptab type names, spelled exactly (upstream compares them case-sensitively). */
const DHCPTAB_TYPES: Readonly<Record<string, OptionType>> = {
  ASCII: "ASCII",
  OCTET: "OCTET",
  IP: "IP",
  NUMBER: "NUMBER",
  BOOL: "BOOLEAN",
  UNUMBER8: "UNUMBER8",
  UNUMBER16: "UNUMBER16",
  UNUMBER32: "UNUMBER32",
  UNUMBER64: "UNUMBER64",
  SNUMBER8: "SNUMBER8",
  SNUMBER16: "SNUMBER16",
  SNUMBER32: "SNUMBER32",
  SNUMBER64: "SNUMBER64",
};

/**
 * Parse a symbol definition `Context,Code,Type,Granularity,Maximum` as upstream's symbol parser
 * (libdhcputil dsym) does: exactly five fields, blanks around a field trimmed; the context
 * `Site`, `Extend` or `Vendor=<classes>` and the type (ASCII, OCTET, IP, NUMBER, BOOL,
 * UNUMBER8-64, SNUMBER8-64) spelled with that case; codes Site 128-254, Vendor 1-254, Extend
 * 108-127; granularity 0-255, 0 only for BOOL; maximum 0-255.
 */
export function parseSymbolDefinition(def: string): SymbolDefinition {
  const fields = splitFields(def);
  if (fields.length !== 5) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': expected 5 comma-separated fields (Context,Code,Type,Granularity,Maximum), found ${fields.length}`,
    );
  }
  const [ctx, codeText, typeText, granText, maxText] = fields as [
    string,
    string,
    string,
    string,
    string,
  ];
  const ctxTrim = ctx.trim();
  let context: SymbolContext;
  let vendorClasses: string[] = [];
  if (ctxTrim === "Site") context = "Site";
  else if (ctxTrim === "Extend") context = "Extend";
  else if (ctxTrim.startsWith("Vendor=")) {
    context = "Vendor";
    vendorClasses = splitVendorClasses(ctxTrim.slice("Vendor=".length), def);
    if (vendorClasses.length === 0) {
      throw new DhcptabSyntaxError(
        `Bad symbol definition '${def}': the vendor class list is empty`,
      );
    }
  } else {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': context '${ctxTrim}' is not Site, Vendor=<classes> or Extend (spelled with that case)`,
    );
  }
  const code = integerField(codeText, "code", def);
  const [lo, hi] = CONTEXT_CODES[context];
  if (code < lo || code > hi) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': code ${code} is outside ${lo}..${hi} for context ${context}`,
    );
  }
  const type = DHCPTAB_TYPES[typeText.trim()];
  if (!type || !Object.hasOwn(DHCPTAB_TYPES, typeText.trim())) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': type '${typeText.trim()}' is not one of ASCII, OCTET, IP, NUMBER, BOOL, UNUMBER8/16/32/64, SNUMBER8/16/32/64 (spelled with that case)`,
    );
  }
  const granularity = integerField(granText, "granularity", def);
  const maximum = integerField(maxText, "maximum", def);
  if (granularity > 255) {
    throw new DhcptabSyntaxError(`Bad symbol definition '${def}': granularity is above 255`);
  }
  if (maximum > 255) {
    throw new DhcptabSyntaxError(`Bad symbol definition '${def}': maximum is above 255`);
  }
  if (type !== "BOOLEAN" && granularity === 0) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': granularity must be greater than 0 (only a BOOL may have 0)`,
    );
  }
  return { context, vendorClasses, code, type, granularity, maximum };
}

/**
 * The normalised text of a symbol definition, as upstream stores and shows it
 * (`Option.getValue()`): the context (vendor classes joined by one space, quoted when they
 * hold a blank), code, type name (`BOOL`), granularity and maximum, without spaces.
 */
export function formatSymbolDefinition(d: SymbolDefinition): string {
  const ctx = d.context === "Vendor"
    ? `Vendor=${d.vendorClasses.map((c) => (/[\s,]/.test(c) ? `"${c}"` : c)).join(" ")}`
    : d.context;
  const type = d.type === "BOOLEAN" ? "BOOL" : d.type;
  return `${ctx},${d.code},${type},${d.granularity},${d.maximum}`;
}

/** A standard (STANDARD, FIELD or INTERNAL) inittab name equal to `name`, ignoring case. */
export function standardNameClash(name: string): string | undefined {
  const lower = name.toLowerCase();
  return standardInittab().find((e) =>
    e.category !== "VENDOR" && e.category !== "SITE" && e.name.toLowerCase() === lower
  )?.name;
}

/**
 * Check a new symbol against the standard table: a Site or Extend symbol may not reuse a
 * standard name (names are not case-sensitive in the inittab).
 */
export function checkSymbolAgainstInittab(name: string, def: SymbolDefinition): void {
  checkName(name, "symbol");
  const clash = standardNameClash(name);
  if (clash !== undefined || name.toLowerCase() === "include") {
    throw new DhcptabSyntaxError(
      `Bad symbol '${name}': the name is already used by the standard option ${clash ?? "Include"}`,
    );
  }
  if (def.context === "Extend") {
    const used = standardInittab().find((e) => e.category === "STANDARD" && e.code === def.code);
    if (used) {
      throw new DhcptabSyntaxError(
        `Bad symbol '${name}': code ${def.code} is already used by the standard option ${used.name}`,
      );
    }
  }
}
