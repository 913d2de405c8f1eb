/**
 * RESOURCE_CONFIG of the PostgreSQL module: a libpq-style connection string (`key=value …` or a
 * `postgresql://` URI) with steward's pool and timeout keys, and the password file lookup
 * (`passfile=`, $PGPASSFILE, ~/.pgpass) with its mode check. A password in the string itself is
 * refused: dhcpsvc.conf is not a place for secrets.
 * @internal
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Connection settings parsed from RESOURCE_CONFIG, with defaults applied. */
export interface PgSettings {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  /** Password file named by the config (`passfile=`); else $PGPASSFILE or ~/.pgpass. */
  passfile?: string;
  /** "disable" (default), "require" (encrypted, unverified) or "verify-full". */
  sslmode: "disable" | "require" | "verify-full";
  /** Most connections one process opens to the server (default 8). */
  poolMax: number;
  /** Server-side statement_timeout, milliseconds (default 15000; 0 = none). */
  statementTimeoutMs: number;
  /** Give up connecting (with retries and backoff) after this many seconds (default 10). */
  connectTimeoutS: number;
  /** Close idle connections after this many seconds (default 30). */
  idleTimeoutS: number;
  /** application_name shown in pg_stat_activity (default "steward-dhcp"). */
  applicationName: string;
}

/** A RESOURCE_CONFIG that cannot be used; the message says why. */
export class PgConfigError extends Error {
  override name = "PgConfigError";
}

const MAX_CONFIG = 4096;
const KEYS = new Set([
  "host",
  "hostaddr",
  "port",
  "dbname",
  "user",
  "passfile",
  "sslmode",
  "pool_max",
  "statement_timeout",
  "connect_timeout",
  "idle_timeout",
  "application_name",
]);

/** Split `key=value key='quoted value'` (libpq conninfo syntax: `\` escapes inside quotes). */
function splitConninfo(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && /[A-Za-z0-9_]/.test(text[i] as string)) i++;
    const key = text.slice(start, i);
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (key === "" || text[i] !== "=") {
      throw new PgConfigError(
        `expected key=value at offset ${start}: ${text.slice(start, start + 20)}`,
      );
    }
    i++;
    while (i < n && /\s/.test(text[i] as string)) i++;
    let value = "";
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) throw new PgConfigError(`unterminated quoted value of ${key}`);
    } else {
      while (i < n && !/\s/.test(text[i] as string)) {
        if (text[i] === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else value += text[i++];
      }
    }
    out.push([key, value]);
  }
  return out;
}

/** The key/value pairs of a `postgresql://[user@]host[:port][/dbname][?key=value&…]` URI. */
function splitUri(text: string): Array<[string, string]> {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new PgConfigError(`not a valid URI: ${text}`);
  }
  if (u.password !== "") {
    throw new PgConfigError(
      "RESOURCE_CONFIG must not hold a password; use passfile=FILE (mode 0600), $PGPASSFILE or ~/.pgpass",
    );
  }
  const out: Array<[string, string]> = [];
  if (u.username) out.push(["user", decodeURIComponent(u.username)]);
  if (u.hostname) out.push(["host", decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, "$1")]);
  if (u.port) out.push(["port", u.port]);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (db) out.push(["dbname", db]);
  for (const [k, v] of u.searchParams) out.push([k, v]);
  return out;
}

function intIn(key: string, value: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new PgConfigError(`${key} must be an integer ${min}..${max}: ${value}`);
  }
  return Number(value);
}

/**
 * Parse RESOURCE_CONFIG (undefined or empty: libpq defaults, i.e. $PGHOST etc. or a local
 * server). Throws PgConfigError naming the bad part.
 */
export function parsePgConfig(config: string | undefined): PgSettings {
  const s: PgSettings = {
    sslmode: "disable",
    poolMax: 8,
    statementTimeoutMs: 15_000,
    connectTimeoutS: 10,
    idleTimeoutS: 30,
    applicationName: "steward-dhcp",
  };
  const text = (config ?? "").trim();
  if (text.length > MAX_CONFIG) throw new PgConfigError(`longer than ${MAX_CONFIG} characters`);
  if (/[\0\n\r]/.test(text)) throw new PgConfigError("must not contain NUL or line breaks");
  if (text === "") return s;
  const pairs = /^postgres(ql)?:\/\//i.test(text) ? splitUri(text) : splitConninfo(text);
  const seen = new Set<string>();
  for (const [key, value] of pairs) {
    if (key === "password") {
      throw new PgConfigError(
        "RESOURCE_CONFIG must not hold a password; use passfile=FILE (mode 0600), $PGPASSFILE or ~/.pgpass",
      );
    }
    if (!KEYS.has(key)) {
      throw new PgConfigError(`unknown key ${key} (known: ${[...KEYS].join(", ")})`);
    }
    if (seen.has(key)) throw new PgConfigError(`${key} given twice`);
    seen.add(key);
    switch (key) {
      case "host":
      case "hostaddr":
        if (value === "") throw new PgConfigError(`${key} is empty`);
        s.host = value;
        break;
      case "port":
        s.port = intIn(key, value, 1, 65535);
        break;
      case "dbname":
        s.database = value;
        break;
      case "user":
        s.user = value;
        break;
      case "passfile":
        if (!path.isAbsolute(value)) throw new PgConfigError(`passfile must be absolute: ${value}`);
        s.passfile = value;
        break;
      case "sslmode":
        if (value !== "disable" && value !== "require" && value !== "verify-full") {
          throw new PgConfigError(`sslmode must be disable, require or verify-full: ${value}`);
        }
        s.sslmode = value;
        break;
      case "pool_max":
        s.poolMax = intIn(key, value, 1, 100);
        break;
      case "statement_timeout":
        s.statementTimeoutMs = intIn(key, value, 0, 3_600_000);
        break;
      case "connect_timeout":
        s.connectTimeoutS = intIn(key, value, 1, 600);
        break;
      case "idle_timeout":
        s.idleTimeoutS = intIn(key, value, 1, 86_400);
        break;
      case "application_name":
        if (!/^[\x20-\x7e]{1,63}$/.test(value)) {
          throw new PgConfigError("application_name must be 1..63 printable ASCII characters");
        }
        s.applicationName = value;
        break;
    }
  }
  return s;
}

/** Throw PgConfigError unless the password file named by `passfile=` is a regular file of mode 0600 or stricter. */
export function checkPassfile(s: PgSettings): void {
  if (!s.passfile) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(s.passfile);
  } catch (e) {
    throw new PgConfigError(`cannot read password file ${s.passfile}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new PgConfigError(`password file ${s.passfile} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new PgConfigError(
      `password file ${s.passfile} has mode ${
        (st.mode & 0o777).toString(8)
      }; it must be 0600 (chmod 600 ${s.passfile})`,
    );
  }
}

/** Unescape one `\:`/`\\`-escaped .pgpass field list. */
function pgpassFields(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "\\" && i + 1 < line.length) cur += line[++i];
    else if (c === ":" && out.length < 4) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The file a password is looked up in: `passfile=`, else $PGPASSFILE, else ~/.pgpass. */
export function passwordFile(s: PgSettings): { file: string; explicit: boolean } {
  if (s.passfile) return { file: s.passfile, explicit: true };
  const env = process.env.PGPASSFILE;
  if (env) return { file: env, explicit: true };
  return { file: path.join(os.homedir(), ".pgpass"), explicit: false };
}

/**
 * The password for `host:port:database:user` from a libpq password file, checked to be a
 * regular file readable by its owner only (like libpq, which ignores a file that group or
 * others can read; steward refuses it with the reason instead). undefined when no line
 * matches, or when the default ~/.pgpass does not exist.
 */
export function lookupPassword(
  s: PgSettings,
  want: { host: string; port: number; database: string; user: string },
): string | undefined {
  const { file, explicit } = passwordFile(s);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PgConfigError(`cannot read password file ${file}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new PgConfigError(`password file ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new PgConfigError(
      `password file ${file} has mode ${
        (st.mode & 0o777).toString(8)
      }; it must be 0600 (chmod 600 ${file})`,
    );
  }
  if (st.size > 1024 * 1024) throw new PgConfigError(`password file ${file} is over 1 MiB`);
  const text = fs.readFileSync(file, "utf8");
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const f = pgpassFields(line);
    if (f.length !== 5) continue;
    const [h, p, d, u, pw] = f as [string, string, string, string, string];
    const ok = (pat: string, v: string) => pat === "*" || pat === v;
    const hostOk = ok(h, want.host) || (h === "localhost" && want.host.startsWith("/"));
    if (hostOk && ok(p, String(want.port)) && ok(d, want.database) && ok(u, want.user)) return pw;
  }
  return undefined;
}

/** RESOURCE_CONFIG as shown to people: it never holds a secret, so it is shown whole. */
export function describeSettings(s: PgSettings): string {
  const host = s.host ?? process.env.PGHOST ?? "localhost";
  const port = s.port ?? (Number(process.env.PGPORT) || 5432);
  const user = s.user ?? process.env.PGUSER ?? os.userInfo().username;
  const db = s.database ?? process.env.PGDATABASE ?? user;
  return `${user}@${host}:${port}/${db}`;
}
