/**
 * The standard DHCP option table (dhcp_inittab(4)): parsing and the built-in copy.
 * @module
 */
import { INITTAB_TEXT } from "./inittab-data.ts";

/** Categories of an inittab entry. */
export type InittabCategory = "STANDARD" | "SITE" | "VENDOR" | "FIELD" | "INTERNAL";

/** Value types a DHCP option can have (dhcp_inittab(4), dhcptab(4)). */
export type OptionType =
  | "ASCII"
  | "OCTET"
  | "IP"
  | "NUMBER"
  | "BOOLEAN"
  | "UNUMBER8"
  | "UNUMBER16"
  | "UNUMBER32"
  | "UNUMBER64"
  | "SNUMBER8"
  | "SNUMBER16"
  | "SNUMBER32"
  | "SNUMBER64";

/** One line of the inittab: `Name Category, Code, Type, Granularity, Max, Visibility`. */
export interface InittabEntry {
  name: string;
  category: InittabCategory;
  code: number;
  type: OptionType;
  granularity: number;
  maximum: number;
  /** Letters of the programs that use the entry (s server, d dhcpagent, m manager, i info). */
  visibility: string;
}

const CATEGORIES: readonly InittabCategory[] = ["STANDARD", "SITE", "VENDOR", "FIELD", "INTERNAL"];
const TYPES: readonly OptionType[] = [
  "ASCII",
  "OCTET",
  "IP",
  "NUMBER",
  "BOOLEAN",
  "UNUMBER8",
  "UNUMBER16",
  "UNUMBER32",
  "UNUMBER64",
  "SNUMBER8",
  "SNUMBER16",
  "SNUMBER32",
  "SNUMBER64",
];

/** Parse an option type name, case-insensitively; `BOOL` is accepted for BOOLEAN. */
export function parseOptionType(text: string): OptionType | undefined {
  const t = text.trim().toUpperCase();
  if (t === "BOOL") return "BOOLEAN";
  return TYPES.find((x) => x === t);
}

/** An inittab line that cannot be parsed. */
export class InittabSyntaxError extends Error {
  override name = "InittabSyntaxError";
}

function parseInteger(field: string, what: string, line: number): number {
  const t = field.trim();
  if (!/^\d{1,10}$/.test(t)) {
    throw new InittabSyntaxError(`Bad inittab line ${line}: ${what} is not a number: '${t}'`);
  }
  return Number(t);
}

/** Parse inittab text: blank and `#` lines are skipped, every other line must be an entry. */
export function parseInittab(text: string): InittabEntry[] {
  const entries: InittabEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new InittabSyntaxError(`Bad inittab line ${lineNo}: missing fields`);
    const fields = (m[2] ?? "").split(",");
    if (fields.length !== 6) {
      throw new InittabSyntaxError(
        `Bad inittab line ${lineNo}: expected 6 comma-separated fields after the name, found ${fields.length}`,
      );
    }
    const [cat, code, type, gran, max, vis] = fields.map((f) => f.trim()) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const category = CATEGORIES.find((c) => c === cat.toUpperCase());
    if (!category) throw new InittabSyntaxError(`Bad inittab line ${lineNo}: category '${cat}'`);
    const optionType = parseOptionType(type);
    if (!optionType) throw new InittabSyntaxError(`Bad inittab line ${lineNo}: type '${type}'`);
    entries.push({
      name: m[1] ?? "",
      category,
      code: parseInteger(code, "code", lineNo),
      type: optionType,
      granularity: parseInteger(gran, "granularity", lineNo),
      maximum: parseInteger(max, "maximum", lineNo),
      visibility: vis,
    });
  });
  return entries;
}

let builtin: readonly InittabEntry[] | undefined;

/** The entries of the standard inittab shipped with steward. */
export function standardInittab(): readonly InittabEntry[] {
  builtin ??= Object.freeze(parseInittab(INITTAB_TEXT));
  return builtin;
}
