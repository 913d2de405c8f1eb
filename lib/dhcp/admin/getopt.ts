/**
 * Option parsing of the upstream admin tools (pntadm, dhtadm): their getopt variant, option
 * sets, and the usage errors they report (each ends the command with exit 4).
 * @internal
 * @module
 */

/** A usage error of pntadm/dhtadm: message, blank line, usage text, exit 4 (CRITICAL). */
export class AdminUsageError extends Error {
  override name = "AdminUsageError";
}

/** One parsed option: its letter and argument (undefined when it takes none or none was given). */
export interface ParsedOption {
  letter: string;
  value: string | undefined;
}

/** Result of {@link getopt}. */
export interface GetoptResult {
  options: ParsedOption[];
  /** Arguments after the last option. */
  operands: string[];
}

/**
 * Parse `args` with an option string like upstream's (`x` flag, `x:` required argument, `x;`
 * optional argument). As upstream: parsing stops at the first word that is not an option
 * (there is no `--`); flags may be grouped (`-Pv`); an option with an argument may not be
 * grouped; its argument may be attached (`-mfoo`) or the next word, unless that word is itself
 * a valid option.
 */
export function getopt(args: readonly string[], optstring: string): GetoptResult {
  const valid = (c: string | undefined) =>
    c !== undefined && c !== ":" && c !== ";" && optstring.includes(c);
  const kind = (c: string): "flag" | "required" | "optional" => {
    const next = optstring[optstring.indexOf(c) + 1];
    return next === ":" ? "required" : next === ";" ? "optional" : "flag";
  };
  const options: ParsedOption[] = [];
  let i = 0;
  while (i < args.length) {
    const word = args[i] ?? "";
    if (word.length < 2 || word[0] !== "-") break;
    for (let pos = 1; pos < word.length; pos++) {
      const c = word[pos] ?? "";
      if (!valid(c)) throw new AdminUsageError(`Illegal Option: ${c}`);
      const k = kind(c);
      if (k === "flag") {
        options.push({ letter: c, value: undefined });
        continue;
      }
      if (pos !== 1) throw new AdminUsageError(`Option cannot be grouped with other options: ${c}`);
      if (word.length > 2) {
        options.push({ letter: c, value: word.slice(2) });
      } else {
        const next = args[i + 1];
        if (next === undefined || (next.length > 1 && next[0] === "-" && valid(next[1]))) {
          if (k === "required") throw new AdminUsageError(`Option requires an argument: ${c}`);
          options.push({ letter: c, value: undefined });
        } else {
          options.push({ letter: c, value: next });
          i++;
        }
      }
      break;
    }
    i++;
  }
  return { options, operands: args.slice(i) };
}

/** The options of one command line once the function letter is taken out. */
export class OptionSet {
  readonly #values = new Map<string, string | undefined>();

  /** Record an option; upstream refuses repeats. */
  set(letter: string, value: string | undefined): void {
    if (this.#values.has(letter)) {
      throw new AdminUsageError(`Specify option ${letter} once per command.`);
    }
    this.#values.set(letter, value);
  }

  /** Whether the option was given. */
  has(letter: string): boolean {
    return this.#values.has(letter);
  }

  /** The option's argument, if given. */
  get(letter: string): string | undefined {
    return this.#values.get(letter);
  }

  /** Refuse options the function does not take. */
  allowOnly(letters: string): void {
    for (const l of this.#values.keys()) {
      if (!letters.includes(l)) throw new AdminUsageError(`Illegal option for this function: ${l}`);
    }
  }
}

/**
 * Split options into the one function letter (with its argument) and the others, refusing a
 * second function as upstream does.
 */
export function splitFunction(
  parsed: readonly ParsedOption[],
  functions: string,
): { fn: ParsedOption | undefined; options: OptionSet } {
  let fn: ParsedOption | undefined;
  const options = new OptionSet();
  for (const o of parsed) {
    if (functions.includes(o.letter)) {
      if (fn) {
        throw new AdminUsageError(`Options ${fn.letter} and ${o.letter} cannot be used together.`);
      }
      fn = o;
    } else options.set(o.letter, o.value);
  }
  return { fn, options };
}
