/**
 * `lsrealm` as `steward realms list`: upstream's options (single-dash, abbreviations), output and
 * exit codes, plus `--json`. Malformed lines are reported with their line numbers instead of being
 * silently merged or dropped.
 * @internal
 * @module
 */
import path from "node:path";
import { getoptLong, type GetoptSpec } from "./getopt.ts";
import { realmsFileProblems, type ToolOptions } from "./io.ts";
import { readRealmsFileSync, type RealmRecord } from "../realmsfile.ts";

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
      for (const p of realmsFileProblems(file, e)) io.stderr(`${p}\n`);
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
