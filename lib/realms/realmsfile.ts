/**
 * The realms file (upstream `realm.pm`, `realm(5)`): parse, query, edit and write it back with
 * every comment, blank line and unknown field kept. Malformed lines are reported with their line
 * numbers instead of being merged or dropped as upstream does; an edit that would leave the file
 * malformed is refused and changes nothing. Writes are atomic and take the realms lock.
 * @module
 */
import { Buffer } from "node:buffer";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../platform/atomic.ts";
import { RealmError } from "./errors.ts";
import { withRealmsLock } from "./lock.ts";

/** The fields upstream knows, in its order (`@REALMFIELDS`); new stanzas are written in it. */
export const REALM_FIELDS = [
  "state",
  "realmdir",
  "configdir",
  "statedir",
  "rollrec",
  "administrator",
  "display",
  "user",
  "manager",
  "args",
  "hoard",
] as const;

/** A field name of {@link REALM_FIELDS}. */
export type RealmField = typeof REALM_FIELDS[number];

/** Limits of the parser. */
export const REALMS_FILE_LIMITS = { maxBytes: 16 * 1024 * 1024, maxLine: 64 * 1024 } as const;

/** One problem found in a realms file. */
export interface RealmsFileIssue {
  /** 1-based line number (0 for the file as a whole). */
  line: number;
  /** `error`s make the file unusable; `warning`s are accepted as upstream accepts them. */
  severity: "error" | "warning";
  /** What is wrong. */
  message: string;
}

/** Raised when a realms file cannot be read or an edit would break it; lists every problem. */
export class RealmsFileError extends RealmError {
  /** The error class name. */
  override name = "RealmsFileError";
  /** The file, when read from one. */
  readonly file: string | undefined;
  /** Every problem found. */
  readonly issues: readonly RealmsFileIssue[];
  /** An error listing the file's problems. */
  constructor(file: string | undefined, issues: readonly RealmsFileIssue[]) {
    const where = file ?? "realms file";
    const lines = issues.filter((i) => i.severity === "error").map((i) =>
      i.line > 0 ? `${where}:${i.line}: ${i.message}` : `${where}: ${i.message}`
    );
    super("invalid", `Realms file is malformed: ${lines.join("; ")}`);
    this.file = file;
    this.issues = issues;
  }
}

/** A realm as read from the file. */
export interface RealmRecord {
  /** The realm's name. */
  name: string;
  /** 1-based line of its `realm "…"` line. */
  line: number;
  /** Field values by keyword, exactly as spelled in the file (unknown keywords included). */
  fields: Record<string, string>;
}

// Perl's \s on a byte string: space, \t, \n, \r, \f, \v (not NBSP).
const WS = "[ \\t\\n\\r\\f\\v]";
const VALUE_CHARS = "A-Za-z0-9\\/\\-+_.,: @\\t";
const LINE_RE = new RegExp(`^${WS}*([A-Za-z_]+)${WS}+"([${VALUE_CHARS}]*)"`);
const BLANK_RE = new RegExp(`^${WS}*$`);
const COMMENT_RE = new RegExp(`^${WS}*[;#]`);
const VALUE_RE = new RegExp(`^[${VALUE_CHARS}]*$`);
const KEY_RE = /^[A-Za-z_]+$/;
// What steward reads beyond upstream's grammar: any keyword line, the value quoted or not.
const LOOSE_RE = new RegExp(`^(${WS}*)([A-Za-z_]+)(${WS}+)(.*)$`);
const BOM = "\xef\xbb\xbf";

interface Line {
  /** The line without its terminator (latin1 text, so every byte survives). */
  text: string;
  eol: string;
}

interface ParsedLine {
  kind: "blank" | "comment" | "realm" | "field" | "bad";
  key?: string;
  value?: string;
  /** Offsets of the value inside the line (between the quotes). */
  valueStart?: number;
  valueEnd?: number;
  /** Realm this line belongs to. */
  realm?: string;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0) {
      lines.push({ text: text.slice(pos), eol: "" });
      break;
    }
    const raw = text.slice(pos, nl);
    if (raw.endsWith("\r")) lines.push({ text: raw.slice(0, -1), eol: "\r\n" });
    else lines.push({ text: raw, eol: "\n" });
    pos = nl + 1;
  }
  return lines;
}

/** The characters of `value` that upstream's grammar does not allow, for messages. */
function disallowed(value: string): string {
  const bad = [...new Set([...value].filter((c) => !VALUE_RE.test(c)))];
  return bad.slice(0, 5).map((c) => JSON.stringify(c)).join(", ");
}

/**
 * Read a keyword line upstream's parser would drop: the value in double quotes (any character
 * but the quote) or, without quotes, the rest of the line. Undefined when it is no keyword line.
 */
function looseLine(text: string, skip: number):
  | { key: string; value: string; valueStart: number; valueEnd: number; rest: string; why: string }
  | undefined {
  const m = LOOSE_RE.exec(text);
  if (!m) return undefined;
  const key = m[2] as string;
  const after = m[4] as string;
  const at = skip + (m[1] as string).length + key.length + (m[3] as string).length;
  if (after.startsWith('"')) {
    const close = after.indexOf('"', 1);
    if (close < 0) {
      const value = after.slice(1).replace(/[ \t\r]+$/, "");
      return {
        key,
        value,
        valueStart: at + 1,
        valueEnd: at + 1 + value.length,
        rest: "",
        why: `Value of "${key}" has no closing double quote; upstream tools ignore this line`,
      };
    }
    const value = after.slice(1, close);
    return {
      key,
      value,
      valueStart: at + 1,
      valueEnd: at + 1 + value.length,
      rest: after.slice(close + 1).trim(),
      why: `Value of "${key}" contains characters upstream's parser does not accept (${
        disallowed(value)
      }); upstream tools ignore this line`,
    };
  }
  const value = after.replace(/[ \t\r]+$/, "");
  if (value === "") return undefined;
  return {
    key,
    value,
    valueStart: at,
    valueEnd: at + value.length,
    rest: "",
    why: `Value of "${key}" is not in double quotes; upstream tools ignore this line`,
  };
}

interface Analysis {
  parsed: ParsedLine[];
  realms: Map<string, RealmRecord>;
  order: string[];
  issues: RealmsFileIssue[];
}

function analyse(lines: readonly Line[]): Analysis {
  const parsed: ParsedLine[] = [];
  const realms = new Map<string, RealmRecord>();
  const order: string[] = [];
  const issues: RealmsFileIssue[] = [];
  const fieldLines = new Map<string, number>();
  let current: RealmRecord | undefined;
  let refused: number | undefined;
  lines.forEach((l, i) => {
    const n = i + 1;
    if (l.text.length > REALMS_FILE_LIMITS.maxLine) {
      issues.push({
        line: n,
        severity: "error",
        message: `Line is longer than ${REALMS_FILE_LIMITS.maxLine} bytes; ignored`,
      });
      parsed.push({ kind: "bad" });
      return;
    }
    // A UTF-8 byte order mark (as latin1 text) before the first line is kept but not parsed.
    const skip = i === 0 && l.text.startsWith(BOM) ? BOM.length : 0;
    const text = l.text.slice(skip);
    if (BLANK_RE.test(text)) return void parsed.push({ kind: "blank" });
    if (COMMENT_RE.test(text)) return void parsed.push({ kind: "comment" });
    const m = LINE_RE.exec(text);
    let key: string;
    let value: string;
    let valueStart: number;
    let valueEnd: number;
    let rest: string;
    if (m) {
      key = m[1] as string;
      value = m[2] as string;
      valueEnd = skip + m[0].length - 1;
      valueStart = valueEnd - value.length;
      rest = text.slice(m[0].length).trim();
    } else {
      const loose = looseLine(text, skip);
      if (!loose) {
        issues.push({
          line: n,
          severity: "error",
          message: "Line ignored: not a comment, a blank line or a keyword with a value",
        });
        parsed.push({ kind: "bad" });
        return;
      }
      ({ key, value, valueStart, valueEnd, rest } = loose);
      issues.push({ line: n, severity: "warning", message: loose.why });
    }
    if (rest !== "" && !/^[#;]/.test(rest)) {
      issues.push({
        line: n,
        severity: "warning",
        message: `Text after the closing quote is ignored: ${rest.slice(0, 60)}`,
      });
    }
    if (key.toLowerCase() === "realm") {
      if (value.trim() === "") {
        issues.push({
          line: n,
          severity: "error",
          message: "Realm name is empty; this realm is ignored",
        });
        current = undefined;
        refused = n;
        parsed.push({ kind: "bad" });
        return;
      }
      const previous = realms.get(value);
      if (previous) {
        issues.push({
          line: n,
          severity: "error",
          message: `Duplicate realm name "${value}" (first on line ${previous.line}); ` +
            "this second definition is ignored",
        });
        current = undefined;
        refused = n;
        parsed.push({ kind: "bad" });
        return;
      }
      refused = undefined;
      current = { name: value, line: n, fields: {} };
      realms.set(value, current);
      order.push(value);
      fieldLines.clear();
      parsed.push({ kind: "realm", key, value, valueStart, valueEnd, realm: value });
      return;
    }
    if (!current) {
      issues.push({
        line: n,
        severity: "error",
        message: refused === undefined
          ? `Field "${key}" is not inside a realm (no realm line before it); ignored`
          : `Field "${key}" ignored with the realm of line ${refused}`,
      });
      parsed.push({ kind: "bad" });
      return;
    }
    const seen = fieldLines.get(key);
    if (seen !== undefined) {
      issues.push({
        line: n,
        severity: "warning",
        message:
          `Field "${key}" of realm "${current.name}" repeats line ${seen}; the last value wins`,
      });
    }
    fieldLines.set(key, n);
    current.fields[key] = value;
    parsed.push({ kind: "field", key, value, valueStart, valueEnd, realm: current.name });
  });
  return { parsed, realms, order, issues };
}

function checkValue(what: string, value: string): void {
  if (!VALUE_RE.test(value)) {
    const bad = [...value].find((c) => !VALUE_RE.test(c));
    throw new RealmError(
      "invalid",
      `${what} contains a character realms files do not allow: ${JSON.stringify(bad)}`,
    );
  }
}

function fieldLine(key: string, value: string): string {
  return `\t${key}${key.length > 7 ? "\t" : "\t\t"}"${value}"`;
}

/**
 * A realms file in memory: its lines, exactly as read, and the realms they define. Edits work on
 * the lines (like upstream's `@realmlines`), so everything they do not touch is written back
 * byte for byte.
 */
export class RealmsFile {
  #lines: Line[];
  #a: Analysis;
  /** The file name, for messages (undefined for text parsed from memory). */
  readonly file: string | undefined;

  private constructor(lines: Line[], a: Analysis, file: string | undefined) {
    this.#lines = lines;
    this.#a = a;
    this.file = file;
  }

  /**
   * Parse `text`. As upstream, a line that cannot be read never refuses the whole file: lines
   * upstream would drop are read with a warning when steward can make sense of them (values with
   * other characters, unquoted values), and ignored with an error otherwise (a duplicate or
   * nameless realm, a field outside any realm, a line that is no keyword line); see
   * {@link RealmsFile.warnings}. Throws {@link RealmsFileError} only for a file over the size
   * limit.
   */
  static parse(text: string, options: { file?: string } = {}): RealmsFile {
    if (text.length > REALMS_FILE_LIMITS.maxBytes) {
      throw new RealmsFileError(options.file, [
        {
          line: 0,
          severity: "error",
          message: `File is larger than ${REALMS_FILE_LIMITS.maxBytes} bytes`,
        },
      ]);
    }
    const lines = splitLines(text);
    return new RealmsFile(lines, analyse(lines), options.file);
  }

  /** An empty realms file. */
  static empty(options: { file?: string } = {}): RealmsFile {
    return RealmsFile.parse("", options);
  }

  /**
   * Every line-numbered issue: `error` for a line ignored, `warning` for one read in a way
   * upstream does not (or that is probably a mistake: a repeated field, text after a value).
   */
  get warnings(): readonly RealmsFileIssue[] {
    return this.#a.issues;
  }

  /** Realm names in file order. */
  names(): string[] {
    return [...this.#a.order];
  }

  /** All realms in file order. */
  realms(): RealmRecord[] {
    return this.#a.order.map((n) => this.get(n) as RealmRecord);
  }

  /** Whether a realm of that name exists. */
  has(name: string): boolean {
    return this.#a.realms.has(name);
  }

  /** A copy of a realm, or undefined. */
  get(name: string): RealmRecord | undefined {
    const r = this.#a.realms.get(name);
    return r ? { name: r.name, line: r.line, fields: { ...r.fields } } : undefined;
  }

  /** A field's value, or undefined when the realm or the field is absent. */
  value(name: string, key: string): string | undefined {
    return this.#a.realms.get(name)?.fields[key];
  }

  /** The file's text, with every untouched byte as read. */
  toString(): string {
    return this.#lines.map((l) => l.text + l.eol).join("");
  }

  /** The file's bytes (latin1, so that any byte of a comment survives a rewrite). */
  toBytes(): Buffer {
    return Buffer.from(this.toString(), "latin1");
  }

  #indexOfRealm(name: string): number {
    return this.#a.parsed.findIndex((p) => p.kind === "realm" && p.realm === name);
  }

  #apply(lines: Line[]): void {
    // Edits check what they write; lines already there that cannot be read stay as they are.
    this.#lines = lines;
    this.#a = analyse(lines);
  }

  #eol(): string {
    return this.#lines.find((l) => l.eol !== "")?.eol ?? "\n";
  }

  /** Lines with a guaranteed terminator on the last one, ready for appending. */
  #terminated(): Line[] {
    const lines = this.#lines.map((l) => ({ ...l }));
    const last = lines[lines.length - 1];
    if (last && last.eol === "") last.eol = this.#eol();
    return lines;
  }

  /**
   * Set a field (upstream `realm_setval`): an existing field's quoted value is replaced in place
   * (the last one when it repeats); a new field goes directly after the realm line as
   * TAB key TAB(TAB) "value". An unknown realm gets a new stanza at the end.
   */
  setField(realm: string, key: string, value: string): void {
    if (!KEY_RE.test(key) || key.toLowerCase() === "realm") {
      throw new RealmError("invalid", `Not a field name: ${JSON.stringify(key)}`);
    }
    checkValue(`Value of "${key}"`, value);
    if (!this.has(realm)) {
      checkValue("Realm name", realm);
      const eol = this.#eol();
      const lines = this.#terminated();
      const last = lines[lines.length - 1];
      if (last && !BLANK_RE.test(last.text)) lines.push({ text: "", eol });
      lines.push({ text: `realm\t"${realm}"`, eol }, { text: fieldLine(key, value), eol });
      this.#apply(lines);
      return;
    }
    const lines = this.#lines.map((l) => ({ ...l }));
    let at = -1;
    this.#a.parsed.forEach((p, i) => {
      if (p.kind === "field" && p.realm === realm && p.key === key) at = i;
    });
    if (at >= 0) {
      const p = this.#a.parsed[at] as ParsedLine;
      const l = lines[at] as Line;
      l.text = l.text.slice(0, p.valueStart) + value + l.text.slice(p.valueEnd);
    } else {
      const r = this.#indexOfRealm(realm);
      const eol = (lines[r] as Line).eol || this.#eol();
      if ((lines[r] as Line).eol === "") (lines[r] as Line).eol = eol;
      lines.splice(r + 1, 0, { text: fieldLine(key, value), eol });
    }
    this.#apply(lines);
  }

  /** Remove a field (every occurrence) from a realm; false when there was none. */
  deleteField(realm: string, key: string): boolean {
    const drop = new Set<number>();
    this.#a.parsed.forEach((p, i) => {
      if (p.kind === "field" && p.realm === realm && p.key === key) drop.add(i);
    });
    if (drop.size === 0) return false;
    this.#apply(this.#lines.filter((_, i) => !drop.has(i)));
    return true;
  }

  /**
   * Append a new realm (upstream `realm_add`): a blank line unless the file already ends with
   * one, `realm TAB "name"`, the known fields in upstream order, then any other fields, then a
   * blank line. Throws when the realm exists.
   */
  addRealm(name: string, fields: Record<string, string> = {}): void {
    if (this.has(name)) throw new RealmError("invalid", `Realm already exists: ${name}`);
    checkValue("Realm name", name);
    if (name.trim() === "") throw new RealmError("invalid", "Realm name is empty");
    const keys = [
      ...REALM_FIELDS.filter((k) => k in fields),
      ...Object.keys(fields).filter((k) => !(REALM_FIELDS as readonly string[]).includes(k)),
    ];
    for (const k of keys) {
      if (!KEY_RE.test(k) || k.toLowerCase() === "realm") {
        throw new RealmError("invalid", `Not a field name: ${JSON.stringify(k)}`);
      }
      checkValue(`Value of "${k}"`, fields[k] as string);
    }
    const eol = this.#eol();
    const lines = this.#terminated();
    const last = lines[lines.length - 1];
    if (last && !BLANK_RE.test(last.text)) lines.push({ text: "", eol });
    lines.push({ text: `realm\t"${name}"`, eol });
    for (const k of keys) lines.push({ text: fieldLine(k, fields[k] as string), eol });
    lines.push({ text: "", eol });
    this.#apply(lines);
  }

  /**
   * Remove a realm: its realm line, its field lines and the comments between them. Comments and
   * blank lines after its last field stay (they usually introduce the next realm). False when
   * there was no such realm.
   */
  removeRealm(name: string): boolean {
    const start = this.#indexOfRealm(name);
    if (start < 0) return false;
    let end = start; // last field line of the realm
    for (let i = start + 1; i < this.#a.parsed.length; i++) {
      const p = this.#a.parsed[i] as ParsedLine;
      if (p.kind === "realm") break;
      if (p.kind === "field") end = i;
    }
    const lines = this.#lines.filter((_, i) => i < start || i > end);
    // Do not leave two blank lines where the stanza was.
    const before = lines[start - 1];
    const after = lines[start];
    if (before && after && BLANK_RE.test(before.text) && BLANK_RE.test(after.text)) {
      lines.splice(start, 1);
    }
    this.#apply(lines);
    return true;
  }

  /** Rename a realm in place (upstream `realm_rename`). */
  renameRealm(from: string, to: string): void {
    const at = this.#indexOfRealm(from);
    if (at < 0) throw new RealmError("invalid", `No such realm: ${from}`);
    if (this.has(to)) throw new RealmError("invalid", `Realm already exists: ${to}`);
    checkValue("Realm name", to);
    if (to.trim() === "") throw new RealmError("invalid", "Realm name is empty");
    const p = this.#a.parsed[at] as ParsedLine;
    const lines = this.#lines.map((l) => ({ ...l }));
    const l = lines[at] as Line;
    l.text = l.text.slice(0, p.valueStart) + to + l.text.slice(p.valueEnd);
    this.#apply(lines);
  }
}

/** Parse realms-file text (see {@link RealmsFile.parse}). */
export function parseRealmsFile(text: string, options: { file?: string } = {}): RealmsFile {
  return RealmsFile.parse(text, options);
}

/** Read and parse a realms file. Missing or unreadable files throw a {@link RealmError} (`io`). */
export async function readRealmsFile(file: string): Promise<RealmsFile> {
  let bytes: Buffer;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new RealmError("io", `Realms file is not a regular file: ${file}`);
    if (st.size > REALMS_FILE_LIMITS.maxBytes) {
      throw new RealmsFileError(file, [
        {
          line: 0,
          severity: "error",
          message: `File is larger than ${REALMS_FILE_LIMITS.maxBytes} bytes`,
        },
      ]);
    }
    bytes = await fsp.readFile(file);
  } catch (e) {
    if (e instanceof RealmError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "does not exist" : err.message;
    throw new RealmError("io", `Cannot read realms file ${file}: ${why}`, { cause: e });
  }
  return RealmsFile.parse(bytes.toString("latin1"), { file });
}

/** Synchronous {@link readRealmsFile}, for start-up paths. */
export function readRealmsFileSync(file: string): RealmsFile {
  let text: string;
  try {
    text = fs.readFileSync(file).toString("latin1");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "does not exist" : err.message;
    throw new RealmError("io", `Cannot read realms file ${file}: ${why}`, { cause: e });
  }
  return RealmsFile.parse(text, { file });
}

/** Options of the writing functions. */
export interface RealmsWriteOptions {
  /** State directory whose realms lock to take (spec §9.7). */
  stateDir: string;
  /** How long to wait for the lock (default 10 s). */
  lockTimeoutMs?: number;
}

async function targetOf(file: string): Promise<string> {
  try {
    return await fsp.realpath(file);
  } catch {
    return path.resolve(file); // a new file
  }
}

/** Write a realms file atomically (temp file, fsync, rename) under the realms lock. */
export async function writeRealmsFile(
  file: string,
  doc: RealmsFile,
  options: RealmsWriteOptions,
): Promise<void> {
  const target = await targetOf(file);
  await withRealmsLock(
    options.stateDir,
    () => writeFileAtomic(target, doc.toBytes()),
    options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs },
  );
}

/**
 * Read-modify-write under the realms lock: read `file`, let `edit` change it, write it back
 * atomically if its text changed. If the file is malformed or `edit` throws, nothing is written.
 * Returns the file as written (or as read when unchanged).
 */
export async function updateRealmsFile(
  file: string,
  edit: (doc: RealmsFile) => void | Promise<void>,
  options: RealmsWriteOptions,
): Promise<RealmsFile> {
  const target = await targetOf(file);
  return await withRealmsLock(options.stateDir, async () => {
    const doc = await readRealmsFile(target);
    const before = doc.toString();
    await edit(doc);
    if (doc.toString() !== before) await writeFileAtomic(target, doc.toBytes());
    return doc;
  }, options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs });
}

/** Directories and files of a realm resolved against a base directory (the daemon's directory). */
export interface ResolvedRealmPaths {
  /** The manager's working directory. */
  realmdir: string;
  /** `DT_SYSCONFDIR` for the manager. */
  configdir: string;
  /** `DT_STATEDIR` for the manager; upstream uses "." (the realmdir) when the field is absent. */
  statedir: string;
  /** The rollrec file, relative values taken against realmdir; undefined when absent. */
  rollrec: string | undefined;
}

/**
 * Resolve a realm's paths in memory. Unlike upstream, the file itself is never rewritten with
 * absolute paths.
 */
export function resolveRealmPaths(realm: RealmRecord, baseDir: string): ResolvedRealmPaths {
  const f = realm.fields;
  const realmdir = path.resolve(baseDir, f.realmdir || ".");
  const configdir = f.configdir ? path.resolve(baseDir, f.configdir) : realmdir;
  const statedir = f.statedir ? path.resolve(baseDir, f.statedir) : realmdir;
  const rollrec = f.rollrec ? path.resolve(realmdir, f.rollrec) : undefined;
  return { realmdir, configdir, statedir, rollrec };
}
