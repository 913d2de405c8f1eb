/**
 * dhcptab symbol definitions (`Context,Code,Type,Granularity,Maximum`, dhcptab(4)) and record
 * names: parsing, formatting and the checks an administrator expects before anything is written.
 * @module
 */
import { type OptionType, parseOptionType, standardInittab } from "./inittab.ts";

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
  Extend: [77, 127],
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

/**
 * Parse a symbol definition `Context,Code,Type,Granularity,Maximum` and check it on its own:
 * context and code range, type, granularity (0 for BOOLEAN, > 0 otherwise), maximum.
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
  const eq = ctxTrim.indexOf("=");
  const ctxName = (eq < 0 ? ctxTrim : ctxTrim.slice(0, eq)).trim().toLowerCase();
  let context: SymbolContext;
  let vendorClasses: string[] = [];
  if (ctxName === "site") context = "Site";
  else if (ctxName === "extend") context = "Extend";
  else if (ctxName === "vendor") {
    context = "Vendor";
    if (eq < 0) {
      throw new DhcptabSyntaxError(
        `Bad symbol definition '${def}': context Vendor needs client classes (Vendor=<class> …)`,
      );
    }
    vendorClasses = splitVendorClasses(ctxTrim.slice(eq + 1), def);
    if (vendorClasses.length === 0) {
      throw new DhcptabSyntaxError(
        `Bad symbol definition '${def}': the vendor class list is empty`,
      );
    }
  } else {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': context '${ctxTrim}' is not Site, Vendor=<classes> or Extend`,
    );
  }
  if (context !== "Vendor" && eq >= 0) {
    throw new DhcptabSyntaxError(`Bad symbol definition '${def}': context ${context} takes no '='`);
  }
  const code = integerField(codeText, "code", def);
  const [lo, hi] = CONTEXT_CODES[context];
  if (code < lo || code > hi) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': code ${code} is outside ${lo}..${hi} for context ${context}`,
    );
  }
  const type = parseOptionType(typeText);
  if (!type) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': type '${typeText.trim()}' is not one of ASCII, OCTET, IP, NUMBER, BOOLEAN, UNUMBER8/16/32/64, SNUMBER8/16/32/64`,
    );
  }
  const granularity = integerField(granText, "granularity", def);
  const maximum = integerField(maxText, "maximum", def);
  if (type === "BOOLEAN" && granularity !== 0) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': granularity of a BOOLEAN must be 0`,
    );
  }
  if (type !== "BOOLEAN" && granularity === 0) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': granularity must be greater than 0`,
    );
  }
  if (type === "NUMBER" && ![1, 2, 4, 8].includes(granularity)) {
    throw new DhcptabSyntaxError(
      `Bad symbol definition '${def}': granularity of a NUMBER is its size in octets (1, 2, 4 or 8)`,
    );
  }
  if (type === "BOOLEAN" && maximum !== 0) {
    throw new DhcptabSyntaxError(`Bad symbol definition '${def}': maximum of a BOOLEAN must be 0`);
  }
  return { context, vendorClasses, code, type, granularity, maximum };
}

/** The canonical text of a symbol definition. */
export function formatSymbolDefinition(d: SymbolDefinition): string {
  const ctx = d.context === "Vendor"
    ? `Vendor=${d.vendorClasses.map((c) => (/[\s,]/.test(c) ? `"${c}"` : c)).join(" ")}`
    : d.context;
  return `${ctx},${d.code},${d.type},${d.granularity},${d.maximum}`;
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
