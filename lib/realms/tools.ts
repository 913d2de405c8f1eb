/**
 * `realmchk` and `lsrealm` as `steward realms check` and `steward realms list`: upstream's
 * options (single-dash, abbreviations), output and exit codes, plus `--json`. Malformed lines
 * are reported with their line numbers instead of being silently merged or dropped.
 * @internal
 * @module
 */
import path from "node:path";
import { getoptLong, type GetoptSpec } from "./getopt.ts";
import { checkRealmDefinition } from "./realmchk.ts";
import { readRealmsFileSync, type RealmRecord, RealmsFileError } from "./realmsfile.ts";

/** Where a tool writes. */
export interface ToolIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Options of the tool runners. */
export interface ToolOptions {
  io: ToolIo;
  version: string;
  /** Base for relative paths in realms (default the current directory). */
  baseDir?: string;
}

function readProblems(file: string, e: unknown): string[] {
  if (e instanceof RealmsFileError) {
    return e.issues.filter((i) => i.severity === "error").map((i) =>
      i.line > 0 ? `${file}:${i.line}: ${i.message}` : `${file}: ${i.message}`
    );
  }
  return [(e as Error).message];
}

// ---------------------------------------------------------------------------------------------
// realmchk

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
      report.fileProblems = readProblems(file, e);
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

// ---------------------------------------------------------------------------------------------
// lsrealm

const LS_SPEC: GetoptSpec = {
  active: "flag",
  inactive: "flag",
  state: "flag",
  realmdir: "flag",
  configdir: "flag",
  rollrec: "flag",
  admin: "flag",
  display: "flag",
  manager: "flag",
  args: "flag",
  user: "flag",
  count: "flag",
  fullpaths: "flag",
  headers: "flag",
  terse: "flag",
  long: "flag",
  Version: "flag",
  help: "flag",
  json: "flag",
};

/** lsrealm's usage. */
export const LSREALM_USAGE = [
  "usage:  lsrealm [options] <realm-file>",
  "\trecord-selection options:",
  "\t\t-active        active records",
  "\t\t-inactive      inactive records",
  "\tattribute-selection options:",
  "\t\t-state         realm's state",
  "\t\t-realmdir      realm's directory",
  "\t\t-configdir     configuration directory",
  "\t\t-rollrec       rollrec file",
  "\t\t-admin         realm adminstrator's email",
  "\t\t-display       display flag",
  "\t\t-manager       realm's rollover manager",
  "\t\t-args          manager arguments",
  "\t\t-user          manager user",
  "\toutput-format options:",
  "\t\t-count         only give count of matching realms",
  "\t\t-fullpaths     show full path names",
  "\t\t-headers       give explanatory column headers",
  "\t\t-terse         terse output",
  "\t\t-long          long output",
  "\t\t--json         JSON output (steward)",
  "\t\t-Version       display version number",
  "\t\t-help          help message ",
  "",
].join("\n");

const HEADER = "<<<header>>>";

// Output columns in lsrealm's order, with the realm key each one shows.
const COLUMNS: { flag: string; key: string }[] = [
  { flag: "", key: "realm_name" },
  { flag: "state", key: "state" },
  { flag: "realmdir", key: "realmdir" },
  { flag: "rollrec", key: "rollrec" },
  { flag: "configdir", key: "configdir" },
  { flag: "admin", key: "administrator" },
  { flag: "manager", key: "manager" },
  { flag: "display", key: "display" },
  { flag: "user", key: "user" },
  { flag: "args", key: "args" },
];

function lastNode(p: string | undefined, full: boolean): string | undefined {
  if (p === undefined || full || !p.includes("/")) return p;
  const nodes = p.split("/");
  while (nodes.length > 0 && nodes[nodes.length - 1] === "") nodes.pop(); // Perl's split drops them
  return nodes[nodes.length - 1] ?? "";
}

/** Run lsrealm with `argv`; resolves to its exit code. */
export function runLsrealm(argv: readonly string[], options: ToolOptions): number {
  const { io } = options;
  const { options: o, rest, errors } = getoptLong(argv, LS_SPEC, new Set(["json"]));
  const usage = () => {
    io.stderr(LSREALM_USAGE);
    return 1;
  };
  if (errors.length > 0) {
    for (const e of errors) io.stderr(`${e}\n`);
    return usage();
  }
  if (o.has("Version")) {
    io.stderr(`lsrealm version: ${options.version} (steward)\n`);
    return 0;
  }
  if (o.has("help")) return usage();
  if (o.has("active") && o.has("inactive")) {
    io.stderr("please select only one of -active and -inactive\n");
    return 0;
  }
  if (rest.length === 0) return usage();
  const long = o.has("long");
  const terse = o.has("terse");
  if (long && terse) return usage();

  const realms = new Map<string, { file: string; record: RealmRecord }>();
  let malformed = false;
  for (const file of rest) {
    let records: RealmRecord[];
    try {
      records = readRealmsFileSync(file).realms();
    } catch (e) {
      for (const p of readProblems(file, e)) io.stderr(`${p}\n`);
      malformed = true;
      continue;
    }
    let found = 0;
    for (const r of records) {
      const state = r.fields.state;
      if (o.has("active") && state === "inactive") continue;
      if (o.has("inactive") && state === "active") continue;
      realms.set(r.name, { file, record: r }); // a later file's realm wins, as upstream
      found++;
    }
    if (found === 0) io.stderr(`no realm entries found in ${file}\n`);
  }
  if (realms.size === 0) return 1;
  const names = [...realms.keys()].sort();

  if (o.has("json")) {
    const list = names.map((n) => {
      const { file, record } = realms.get(n) as { file: string; record: RealmRecord };
      return { name: n, file: path.resolve(file), line: record.line, fields: record.fields };
    });
    io.stdout(`${JSON.stringify(o.has("count") ? { count: list.length } : list, null, 2)}\n`);
    return malformed ? 1 : 0;
  }

  const show = new Set<string>(["realm_name"]);
  if (long) { for (const c of COLUMNS) show.add(c.key); }
  else if (!terse) show.add("state");
  for (const c of COLUMNS) if (c.flag && o.has(c.flag)) show.add(c.key);
  const full = o.has("fullpaths");

  const rows = new Map<string, Record<string, string | undefined>>();
  for (const n of names) {
    const f = (realms.get(n) as { record: RealmRecord }).record.fields;
    rows.set(n, {
      ...f,
      realm_name: n,
      administrator: f.administrator ?? "(defadmin)",
      manager: f.manager ?? "(defmgr)",
      configdir: lastNode(f.configdir, full),
      realmdir: lastNode(f.realmdir, full),
      rollrec: lastNode(f.rollrec, full),
      args: f.args !== undefined ? `"${f.args}"` : "(none)",
    });
  }
  if (o.has("headers")) {
    rows.set(HEADER, {
      administrator: "Administrator",
      args: "Manager Arguments",
      configdir: "Configuration Directory",
      display: "Display Flag",
      manager: "Rollover Manager",
      realm_name: "Name",
      realmdir: "Realm Directory",
      rollrec: "Rollrec",
      state: "Realm State",
      user: "User",
    });
  }
  const widths = new Map<string, number>();
  for (const row of rows.values()) {
    for (const [k, v] of Object.entries(row)) {
      widths.set(k, Math.max(widths.get(k) ?? 0, (v ?? "").length));
    }
  }
  let count = 0;
  let out = "";
  for (const key of [...rows.keys()].sort()) {
    if (key !== HEADER) count++;
    if (o.has("count")) continue;
    const row = rows.get(key) as Record<string, string | undefined>;
    let line = "";
    let prev: string | undefined;
    for (const c of COLUMNS) {
      if (!show.has(c.key)) continue;
      if (prev !== undefined) {
        const pad = (widths.get(prev) ?? 0) + 4 - (row[prev] ?? "").length;
        line += " ".repeat(Math.max(0, pad));
      }
      line += row[c.key] ?? "";
      prev = c.key;
    }
    out += `${line}\n`;
  }
  if (o.has("count")) {
    out += terse ? `${count}\n` : `${count} matching record${count === 1 ? "" : "s"}\n`;
  }
  io.stdout(out);
  return malformed ? 1 : 0;
}
