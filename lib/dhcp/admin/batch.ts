/**
 * Running pntadm/dhtadm command lines as the upstream tools do, one at a time or from a batch
 * file (`-B`, dhcpbatch): comments, continuation lines, shell-style word splitting, errors
 * reported as they come while processing goes on, one opened store for the whole batch.
 * @module
 */
import { DhcptabSyntaxError } from "../dhcptab/symbol.ts";
import { DHTADM_USAGE, parseDhtadm, runDhtadmCommand } from "./dhtadm.ts";
import { asDsvcError } from "./failure.ts";
import { ADMIN_EXIT, AdminError, escapeDiagnostic } from "./format.ts";
import { AdminUsageError } from "./getopt.ts";
import { parsePntadm, PNTADM_USAGE, runPntadmCommand } from "./pntadm.ts";
import type { AdminSession } from "./session.ts";

/** The two upstream tools. */
export type AdminTool = "pntadm" | "dhtadm";

/** Longest batch line steward accepts, continuation lines included. */
export const MAX_BATCH_LINE = 64 * 1024;

/** A batch line that cannot be split into words. */
export class BatchSyntaxError extends Error {
  override name = "BatchSyntaxError";
}

/**
 * Split a command line into words the way wordexp(3C) does with command substitution
 * disabled: blanks separate words; single quotes, double quotes and backslashes quote;
 * `$NAME` and `${NAME}` expand from `env` outside single quotes; `$(…)` and backquotes are
 * refused. No pathname expansion is done.
 */
export function splitWords(line: string, env: Record<string, string | undefined> = {}): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let i = 0;
  const n = line.length;
  const expand = (): void => {
    // at line[i] === "$"
    const rest = line.slice(i + 1);
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
    const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (rest.startsWith("(")) throw new BatchSyntaxError("command substitution is not allowed");
    if (braced) {
      cur += env[braced[1] ?? ""] ?? "";
      i += 1 + braced[0].length;
    } else if (plain) {
      cur += env[plain[0]] ?? "";
      i += 1 + plain[0].length;
    } else {
      cur += "$";
      i++;
    }
    inWord = true;
  };
  while (i < n) {
    const ch = line[i] ?? "";
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
      i++;
    } else if (ch === "\\") {
      if (i + 1 < n) {
        // A backslash-newline (a continuation) disappears; any other escaped character is literal.
        if (line[i + 1] !== "\n") {
          cur += line[i + 1];
          inWord = true;
        }
        i += 2;
      } else {
        i++;
      }
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new BatchSyntaxError("unterminated single quote");
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= n) throw new BatchSyntaxError("unterminated double quote");
        const c = line[i];
        if (c === '"') {
          i++;
          break;
        }
        if (c === "`") throw new BatchSyntaxError("command substitution is not allowed");
        if (c === "$") {
          expand();
          continue;
        }
        if (c === "\\" && i + 1 < n && '$`"\\\n'.includes(line[i + 1] ?? "")) {
          if (line[i + 1] !== "\n") cur += line[i + 1];
          i += 2;
          continue;
        }
        cur += c;
        i++;
      }
    } else if (ch === "`") {
      throw new BatchSyntaxError("command substitution is not allowed");
    } else if (ch === "$") {
      expand();
    } else if ("|&;<>()".includes(ch)) {
      throw new BatchSyntaxError(`unquoted '${ch}' is not allowed`);
    } else {
      cur += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function usageText(tool: AdminTool): string {
  return tool === "pntadm" ? PNTADM_USAGE : DHTADM_USAGE;
}

/** Options of {@link runAdminTool}. */
export interface RunToolOptions {
  /** Reads a batch file (or standard input when the name is undefined) as text. */
  readBatch?(file: string | undefined): Promise<string>;
  /** Whether this is a command of a batch (nested -B is refused). */
  inBatch?: boolean;
}

/**
 * Run `pntadm ARGS` or `dhtadm ARGS`: messages as `<tool>: …` on stderr, usage errors followed
 * by the usage text; returns the upstream exit code (0 success, 1 exists, 2 does not exist,
 * 3 warning, 4 critical).
 */
export async function runAdminTool(
  session: AdminSession,
  tool: AdminTool,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<number> {
  let code: number;
  let signal = false;
  try {
    if (tool === "pntadm") {
      const cmd = parsePntadm(args);
      if (cmd.fn === "B") {
        if (options.inBatch) throw new AdminUsageError("Batch mode cannot be nested.");
        return await runBatch(session, {
          file: cmd.arg,
          verbose: cmd.options.has("v"),
          ...options,
        });
      }
      code = await runPntadmCommand(session, cmd);
    } else {
      const cmd = parseDhtadm(args);
      if (cmd.fn === "B") {
        if (options.inBatch) throw new AdminUsageError("Batch mode cannot be nested.");
        return await runBatch(session, {
          file: cmd.arg,
          verbose: cmd.options.has("v"),
          ...options,
        });
      }
      signal = cmd.options.has("g");
      code = await runDhtadmCommand(session, cmd);
    }
  } catch (e) {
    if (e instanceof AdminUsageError) {
      session.err(`${tool}: ${e.message}`);
      session.err("");
      session.options.stderr(usageText(tool));
      return ADMIN_EXIT.CRITICAL;
    }
    if (e instanceof AdminError) {
      session.err(`${tool}: ${e.message}`);
      return e.exitCode;
    }
    const d = asDsvcError(e);
    if (d || e instanceof DhcptabSyntaxError) {
      session.err(`${tool}: ${(d ?? (e as Error)).message}`);
      return ADMIN_EXIT.WARNING;
    }
    throw e;
  }
  if (code === ADMIN_EXIT.SUCCESS && signal) {
    try {
      await session.reloadServer();
    } catch (e) {
      session.err(
        `${tool}: Unable to signal the daemon to reload the dhcptab: ${(e as Error).message}`,
      );
      return ADMIN_EXIT.WARNING;
    }
  }
  return code;
}

/** Options of {@link runBatch}. */
export interface BatchOptions extends RunToolOptions {
  /** The batch file; standard input when undefined. */
  file?: string | undefined;
  /** Echo each command, prefixed by "> ". */
  verbose?: boolean;
  /** Environment for `$NAME` expansion; default process.env. */
  env?: Record<string, string | undefined>;
}

/**
 * Run a batch of pntadm/dhtadm command lines. Blank lines are skipped, `#` lines are comments,
 * a line ending in `\` continues on the next one. Errors are reported ("dhcpbatch: …") and
 * processing goes on. Returns 0 when every command succeeded, 4 when the file cannot be read
 * or a line cannot be parsed, otherwise the highest exit code of a failed command.
 */
export async function runBatch(session: AdminSession, options: BatchOptions): Promise<number> {
  let text: string;
  try {
    if (!options.readBatch) throw new Error("no batch input available");
    text = await options.readBatch(options.file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    session.err(
      code === "ENOENT"
        ? `dhcpbatch: File not found - ${options.file}`
        : `dhcpbatch: Error opening batch file - ${options.file ?? "(standard input)"}: ${
          (e as Error).message
        }`,
    );
    return ADMIN_EXIT.CRITICAL;
  }
  let worst = ADMIN_EXIT.SUCCESS as number;
  const env = options.env ?? process.env;
  let pending = "";
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const source = options.file ?? "(standard input)";
  let first = 0;
  const run = (line: string) =>
    session.at(`${source}:${first}`, () => runBatchLine(session, line, { ...options, env }));
  for (const [i, raw] of lines.entries()) {
    const input = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (pending === "" && (input === "" || input.trim() === "")) continue;
    if (pending === "" && input.startsWith("#")) continue;
    if (pending === "") first = i + 1;
    pending += input;
    if (pending.length > MAX_BATCH_LINE) {
      session.err(
        `${source}:${first}: dhcpbatch: Error processing command: line longer than ${MAX_BATCH_LINE} characters`,
      );
      worst = Math.max(worst, ADMIN_EXIT.CRITICAL);
      pending = "";
      continue;
    }
    if (input.endsWith("\\")) {
      // As upstream, the backslash stays in the joined text; the word splitter drops it.
      pending += "\n";
      continue;
    }
    const line = pending;
    pending = "";
    worst = Math.max(worst, await run(line));
  }
  if (pending !== "") worst = Math.max(worst, await run(pending));
  return worst;
}

async function runBatchLine(
  session: AdminSession,
  line: string,
  options: BatchOptions & { env: Record<string, string | undefined> },
): Promise<number> {
  const shown = line.replace(/\\\n/g, "\\");
  // The echo is a diagnostic of the input, not data: no raw control characters.
  if (options.verbose) session.out(`> ${escapeDiagnostic(shown)}\n`);
  let words: string[];
  try {
    words = splitWords(line, options.env);
  } catch (e) {
    session.err(`dhcpbatch: Error processing command: ${shown}`);
    session.err(`Message is: ${(e as Error).message}`);
    return ADMIN_EXIT.CRITICAL;
  }
  const [program, ...args] = words;
  if (program !== "pntadm" && program !== "dhtadm") {
    session.err(`dhcpbatch: Invalid command - ${program ?? ""}`);
    return ADMIN_EXIT.CRITICAL;
  }
  return await runAdminTool(session, program, args, { ...options, inBatch: true });
}
