/**
 * `realmchk` as `steward realms check`: upstream's options (single-dash, abbreviations), output
 * and exit codes, plus `--json`. Malformed lines are reported with their line numbers instead of
 * being silently merged or dropped. The checks themselves are lib/realms/check.ts's, the daemon's.
 * @internal
 * @module
 */
import path from "node:path";
import { getoptLong, type GetoptSpec } from "./getopt.ts";
import { realmsFileProblems, type ToolOptions } from "./io.ts";
import { checkRealmDefinition } from "../check.ts";
import { readRealmsFileSync, type RealmRecord } from "../realmsfile.ts";

export type { ToolIo, ToolOptions } from "./io.ts";

const CHK_SPEC: GetoptSpec = {
  quiet: "flag",
  verbose: "flag",
  help: "flag",
  Version: "flag",
  json: "flag",
  directory: "required",
};

/** realmchk's usage. */
export const REALMCHK_USAGE = "usage:  realmchk [options] <realm-file1> ... <realm-fileN>\n" +
  "\toptions:\n\t\t-quiet\n\t\t-verbose\n\t\t-Version\n\t\t-help\n" +
  "\t\t--directory DIR   base of relative paths, as the daemon's --directory (steward)\n" +
  "\t\t--json            JSON output (steward)\n";

/** One realm's verdict in `check --json`. */
export interface RealmCheckReport {
  file: string;
  /** Problems reading the file: lines ignored, with their numbers. */
  fileProblems: string[];
  /** Lines upstream accepts but that are probably mistakes (repeated fields, text after a value). */
  warnings: string[];
  realms: { name: string; problems: string[] }[];
  valid: boolean;
}

/** Run realmchk with `argv`; resolves to its exit code (the number of errors, at most 255). */
export function runRealmchk(argv: readonly string[], options: ToolOptions): number {
  const { io } = options;
  const { options: o, rest, errors } = getoptLong(argv, CHK_SPEC, new Set(["json", "directory"]));
  if (errors.length > 0 || o.has("help")) {
    for (const e of errors) io.stderr(`${e}\n`);
    io.stderr(REALMCHK_USAGE);
    return 1;
  }
  if (o.has("Version")) {
    io.stderr(`realmchk version: ${options.version} (steward)\n`);
    return 0;
  }
  const quiet = o.has("quiet");
  const verbose = o.has("verbose");
  if (quiet && verbose) {
    io.stderr("-quiet and -verbose may not be given together\n");
    return 1;
  }
  const json = o.has("json");
  const qprint = (s: string) => !quiet && !json && io.stdout(`${s}\n`);
  const vprint = (s: string) => verbose && !json && io.stdout(`${s}\n`);
  let total = 0;
  const reports: RealmCheckReport[] = [];
  for (const file of rest) {
    const report: RealmCheckReport = {
      file,
      fileProblems: [],
      warnings: [],
      realms: [],
      valid: true,
    };
    reports.push(report);
    vprint(`${file}:  checking realm file`);
    let realms: RealmRecord[];
    try {
      // FILE is taken from --directory, as `realms daemon` takes it.
      const dirOpt = o.get("directory");
      const doc = readRealmsFileSync(
        typeof dirOpt === "string" ? path.resolve(dirOpt, file) : path.resolve(file),
      );
      realms = doc.realms();
      // Lines the daemon ignores count as errors; lines it reads differently from upstream warn.
      for (const w of doc.warnings) {
        if (w.severity === "error") report.fileProblems.push(`${file}:${w.line}: ${w.message}`);
        else report.warnings.push(`${file}:${w.line}: warning: ${w.message}`);
      }
      for (const w of doc.warnings) {
        const text = w.severity === "error"
          ? `${file}:${w.line}: ${w.message}`
          : `${file}:${w.line}: warning: ${w.message}`;
        if (!quiet && !json) io.stderr(`${text}\n`);
      }
      total += report.fileProblems.length;
    } catch (e) {
      report.fileProblems = realmsFileProblems(file, e);
      report.valid = false;
      for (const p of report.fileProblems) !quiet && !json && io.stderr(`${p}\n`);
      qprint(`${file}:  unable to read realm file`);
      total += Math.max(1, report.fileProblems.length);
      continue;
    }
    if (realms.length === 0) {
      vprint(`${file}:  no realms in realm file`);
      continue;
    }
    let bad = 0;
    for (
      const realm of [...realms].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    ) {
      vprint(`    ${realm.name}:  checking realm definition`);
      const dir = o.get("directory");
      const baseDir = typeof dir === "string"
        ? path.resolve(dir)
        : options.baseDir ?? process.cwd();
      const problems = checkRealmDefinition(realm, { baseDir });
      for (const p of problems) vprint(`\t${p}`);
      report.realms.push({ name: realm.name, problems });
      total += problems.length;
      if (problems.length > 0) {
        bad++;
        vprint(`  ${realm.name}:  invalid realm`);
      } else vprint(`  ${realm.name}:  valid realm`);
    }
    report.valid = bad === 0 && report.fileProblems.length === 0;
    qprint(`${file}:  ${report.valid ? "valid" : "invalid"} realm file`);
    vprint(" ");
  }
  if (json) io.stdout(`${JSON.stringify({ errors: total, files: reports }, null, 2)}\n`);
  return Math.min(total, 255);
}
