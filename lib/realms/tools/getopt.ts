/**
 * The subset of Perl's Getopt::Long that the upstream realm tools use (`no_ignore_case_always`):
 * `-name` or `--name`, `-name=value`, unique abbreviations, flags, mandatory (`=s`) and optional
 * (`:s`) string values, options and operands in any order, `--` ending the options.
 * @internal
 * @module
 */

/** How an option takes a value: none, a mandatory string (`=s`), an optional string (`:s`). */
export type GetoptKind = "flag" | "required" | "optional";

/** An option table: name → kind (names are case-sensitive). */
export type GetoptSpec = Readonly<Record<string, GetoptKind>>;

/** What {@link getoptLong} found. */
export interface GetoptResult {
  /** Options given: `true` for flags, the string value otherwise ("" for an absent optional value). */
  options: Map<string, string | true>;
  /** The operands, in order. */
  rest: string[];
  /** Getopt::Long's warnings (`Unknown option: x`…); non-empty means GetOptions failed. */
  errors: string[];
}

function resolve(
  spec: GetoptSpec,
  given: string,
  exact: ReadonlySet<string>,
): { name?: string; error?: string } {
  if (given in spec) return { name: given };
  const candidates = Object.keys(spec).filter((n) => !exact.has(n) && n.startsWith(given));
  if (candidates.length === 1) return { name: candidates[0] as string };
  if (candidates.length > 1) {
    return { error: `Option ${given} is ambiguous (${candidates.sort().join(", ")})` };
  }
  return { error: `Unknown option: ${given}` };
}

/**
 * Parse `argv` against `spec` as Getopt::Long would. Options named in `exactOnly` (steward's
 * additions) match only when spelled out, so they never make an upstream abbreviation ambiguous.
 */
export function getoptLong(
  argv: readonly string[],
  spec: GetoptSpec,
  exactOnly: ReadonlySet<string> = new Set(),
): GetoptResult {
  const options = new Map<string, string | true>();
  const rest: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      rest.push(arg);
      continue;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf("=");
    const given = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    const { name, error } = resolve(spec, given, exactOnly);
    if (!name) {
      errors.push(error as string);
      continue;
    }
    const kind = spec[name] as GetoptKind;
    if (kind === "flag") {
      if (inline !== undefined) errors.push(`Option ${name} does not take an argument`);
      else options.set(name, true);
      continue;
    }
    if (inline !== undefined) {
      options.set(name, inline);
      continue;
    }
    const next = argv[i + 1];
    if (kind === "required") {
      if (next === undefined) {
        errors.push(`Option ${name} requires an argument`);
        continue;
      }
      options.set(name, next);
      i++;
      continue;
    }
    // Optional value: taken only when the next word does not look like an option.
    if (next !== undefined && (!next.startsWith("-") || next === "-")) {
      options.set(name, next);
      i++;
    } else options.set(name, "");
  }
  return { options, rest, errors };
}
