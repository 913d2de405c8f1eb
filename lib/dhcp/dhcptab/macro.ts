/**
 * dhcptab macro values (`:sym=value:sym:Include=mac:`, dhcptab(4)): parsing into items,
 * formatting (the checks and the edit of `dhtadm -M -e` are in validate.ts).
 * @module
 */
import { DhcptabSyntaxError } from "./symbol.ts";

/** One `sym=value` (or boolean `sym`) item of a macro, with the value as written. */
export interface MacroItem {
  /** The option (symbol) name. */
  name: string;
  /** The value text exactly as written (quotes and escapes kept); null for a boolean symbol. */
  value: string | null;
}

/** Longest macro value steward accepts (the text files have no limit; this bounds memory). */
export const MAX_MACRO_VALUE = 64 * 1024;

function show(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value;
}

/**
 * Split a macro value into items. The value must start and end with `:`; quotes and
 * backslash escapes protect `:`; whitespace between items (left by line continuations) and
 * empty items are skipped.
 */
export function parseMacroValue(value: string): MacroItem[] {
  if (value.length > MAX_MACRO_VALUE) {
    throw new DhcptabSyntaxError(`Bad macro value: longer than ${MAX_MACRO_VALUE} characters`);
  }
  if (!value.startsWith(":")) {
    throw new DhcptabSyntaxError(`Bad macro value '${show(value)}': it must start with ':'`);
  }
  const items: MacroItem[] = [];
  let i = 1;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
    if (i >= n) break;
    if (value[i] === ":") {
      i++;
      continue;
    }
    const start = i;
    while (i < n && value[i] !== "=" && value[i] !== ":") i++;
    const name = value.slice(start, i).trim();
    if (i >= n) {
      throw new DhcptabSyntaxError(
        `Bad macro value '${
          show(value)
        }': '${name}' is not followed by ':' (a macro ends with ':')`,
      );
    }
    if (name === "" || /[\s"\\]/.test(name)) {
      throw new DhcptabSyntaxError(
        `Bad macro value '${show(value)}': bad symbol name '${name}' at offset ${start}`,
      );
    }
    if (value[i] === ":") {
      items.push({ name, value: null });
      i++;
      continue;
    }
    i++; // past '='
    const vstart = i;
    let quoted = false;
    while (i < n) {
      const ch = value[i];
      if (ch === "\\") {
        i += 2;
        continue;
      }
      if (ch === '"') quoted = !quoted;
      else if (ch === ":" && !quoted) break;
      i++;
    }
    if (quoted) {
      throw new DhcptabSyntaxError(
        `Bad macro value '${show(value)}': the value of '${name}' has no closing quote`,
      );
    }
    if (i >= n) {
      throw new DhcptabSyntaxError(
        `Bad macro value '${
          show(value)
        }': the value of '${name}' is not followed by ':' (a macro ends with ':')`,
      );
    }
    items.push({ name, value: value.slice(vstart, Math.min(i, n)) });
    i++;
  }
  return items;
}

/** Format items as a macro value. */
export function formatMacroValue(items: readonly MacroItem[]): string {
  return `:${
    items.map((it) => (it.value === null ? it.name : `${it.name}=${it.value}`)).join(":")
  }:`;
}

/** Remove quotes and backslash escapes from a value as written. */
export function unquoteValue(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch === "\\" && i + 1 < raw.length) {
      out += raw[++i];
    } else if (ch !== '"') out += ch;
  }
  return out;
}
