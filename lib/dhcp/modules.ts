/**
 * Module discovery and loading: the built-in modules, and third-party modules found by name and
 * version as `ds_<NAME>.<VERSION>.mjs|.cjs|.js` in the module directories (upstream
 * `ds_<NAME>.so.<VERSION>`); version check, required functions, configure.
 * @module
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isDeno } from "../platform/runtime.ts";
import { createBinfilesModule } from "./modules/binfiles/module.ts";
import { createFilesModule } from "./modules/files/module.ts";
import { createFiles0Module } from "./modules/files0/module.ts";
import { createPgModule } from "./modules/pg/module.ts";
import { checkResourceName, MAX_CONVER } from "./naming.ts";
import type { DhcpStoreOptions, DsvcModuleInfo, LoadedDsvcModule } from "./store-api.ts";
import {
  DSVC,
  DSVC_CUR_CONVER,
  DSVC_PUBLIC_VERSION,
  DSVC_SYNCH_CROSSHOST,
  DSVC_SYNCH_DSVCD,
  DSVC_SYNCH_FLAGMASK,
  DSVC_SYNCH_NONE,
  DSVC_SYNCH_STRATMASK,
  dsvcErrmsg,
  DsvcError,
  type DsvcModule,
  isDsvcCode,
  SPL_FUNCTIONS,
} from "./spi.ts";

/** Where third-party modules are looked for when nothing else is configured. */
export const DEFAULT_MODULE_DIR = "/usr/lib/steward/dhcp";
/** Environment variable with colon-separated module directories. */
export const MODULE_PATH_ENV = "STEWARD_DHCP_MODULE_PATH";

/** Module files: `ds_<NAME>.<VERSION>.<ext>`. */
export const MODULE_FILE_RE = /^ds_([A-Za-z][A-Za-z0-9-]{0,63})\.(\d{1,3})\.(mjs|cjs|js)$/;

const BUILTIN: ReadonlyMap<string, ReadonlyMap<number, () => DsvcModule>> = new Map([
  ["SUNWfiles", new Map([[1, createFilesModule], [0, createFiles0Module]])],
  ["SUNWbinfiles", new Map([[1, createBinfilesModule]])],
  ["STEWpgsql", new Map([[1, () => createPgModule(1)]])],
]);

/** Names of the built-in modules. */
export function builtinModuleNames(): string[] {
  return [...BUILTIN.keys()];
}

/** The module directories for `options` (option, else $STEWARD_DHCP_MODULE_PATH, else the default). */
export function moduleDirs(options: DhcpStoreOptions = {}): string[] {
  if (options.moduleDirs) return options.moduleDirs.map((d) => path.resolve(d));
  const env = process.env[MODULE_PATH_ENV];
  if (env) return env.split(":").filter(Boolean).map((d) => path.resolve(d));
  return [DEFAULT_MODULE_DIR];
}

/** "none", "lock manager" or "lock manager, cross-host" for a synchronization type. */
export function synchTypeName(synchtype: number): string {
  const strategy = synchtype & DSVC_SYNCH_STRATMASK;
  if (strategy === DSVC_SYNCH_NONE) return "none";
  if (strategy === DSVC_SYNCH_DSVCD) {
    return synchtype & DSVC_SYNCH_CROSSHOST ? "lock manager, cross-host" : "lock manager";
  }
  return `unknown (${synchtype})`;
}

interface ModuleFile {
  name: string;
  version: number;
  file: string;
}

function scanDirs(dirs: readonly string[]): ModuleFile[] {
  const found: ModuleFile[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names.sort()) {
      const m = MODULE_FILE_RE.exec(n);
      if (!m) continue;
      const key = `${m[1]}.${Number(m[2])}`;
      // The first directory wins, like a search path.
      if (seen.has(key)) continue;
      seen.add(key);
      found.push({ name: m[1] as string, version: Number(m[2]), file: path.join(dir, n) });
    }
  }
  return found;
}

async function importFile(file: string): Promise<unknown> {
  // Deno imports by URL; Node (from source and inside the single binary, where the bundle's
  // own require only knows built-ins) uses a real require, which also loads synchronous ESM.
  if (isDeno()) return await import(pathToFileURL(file).href);
  return createRequire(file)(file);
}

function moduleErr(where: string, detail: string): DsvcError {
  return new DsvcError(DSVC.MODULE_ERR, `${where}: ${detail}`);
}

/** Check that `m` has the shape of a module, and its version. */
async function checkModuleShape(m: unknown, where: string): Promise<DsvcModule> {
  if (typeof m !== "object" || m === null) {
    throw moduleErr(where, "default export is not a module object");
  }
  const mod = m as Partial<DsvcModule> & Record<string, unknown>;
  if (typeof mod.version !== "function") throw moduleErr(where, "version() is missing");
  let v: unknown;
  try {
    v = await mod.version();
  } catch (e) {
    throw new DsvcError(DSVC.MODULE_VERSION, `${where}: version() failed: ${String(e)}`);
  }
  if (v !== DSVC_PUBLIC_VERSION) {
    throw new DsvcError(
      DSVC.MODULE_VERSION,
      `${where}: reports API version ${String(v)}, not ${DSVC_PUBLIC_VERSION}`,
    );
  }
  const missing = SPL_FUNCTIONS.filter((f) => typeof mod[f] !== "function");
  if (missing.length) throw moduleErr(where, `missing functions: ${missing.join(", ")}`);
  if (typeof mod.name !== "string") throw moduleErr(where, "name is missing");
  if (
    !Number.isInteger(mod.conver) || (mod.conver as number) < 0 ||
    (mod.conver as number) > MAX_CONVER
  ) {
    throw moduleErr(where, "conver must be an integer 0..999");
  }
  const st = mod.synchtype;
  if (
    typeof st !== "number" || !Number.isInteger(st) ||
    ![DSVC_SYNCH_NONE, DSVC_SYNCH_DSVCD].includes(st & DSVC_SYNCH_STRATMASK) ||
    (st & DSVC_SYNCH_FLAGMASK & ~DSVC_SYNCH_CROSSHOST) !== 0
  ) throw moduleErr(where, `unknown synchtype ${String(st)}`);
  const d = mod.description;
  if (
    typeof d !== "object" || d === null || typeof d.summary !== "string" ||
    typeof d.pathHelp !== "string" || typeof d.validatePath !== "function"
  ) throw moduleErr(where, "description (summary, pathHelp, validatePath) is missing");
  if (mod.configure !== undefined && typeof mod.configure !== "function") {
    throw moduleErr(where, "configure is not a function");
  }
  return mod as DsvcModule;
}

async function instantiate(file: ModuleFile): Promise<DsvcModule> {
  let ns: unknown;
  try {
    ns = await importFile(file.file);
  } catch (e) {
    throw new DsvcError(
      DSVC.MODULE_LOAD_ERR,
      `${file.file}: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
  const exp = (ns as { default?: unknown } | null)?.default ?? ns;
  let m: unknown = exp;
  if (typeof exp === "function") {
    try {
      m = (exp as () => unknown)();
    } catch (e) {
      throw moduleErr(file.file, `module factory failed: ${String(e)}`);
    }
  }
  const mod = await checkModuleShape(m, file.file);
  if (mod.name !== file.name || mod.conver !== file.version) {
    throw moduleErr(
      file.file,
      `declares ${mod.name} version ${mod.conver}, not ${file.name} version ${file.version}`,
    );
  }
  return mod;
}

/**
 * The error a module call failed with, as a DsvcError: module files outside steward cannot
 * import DsvcError, so an Error with a numeric `code` (a DSVC_* number) counts as one; anything
 * else is DSVC_MODULE_ERR.
 */
export function moduleError(e: unknown, where: string): DsvcError {
  if (e instanceof DsvcError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (isDsvcCode(code) && code !== DSVC.SUCCESS) {
    return new DsvcError(code, msg && msg !== dsvcErrmsg(code) ? msg : undefined, { cause: e });
  }
  return new DsvcError(DSVC.MODULE_ERR, `${where}: ${msg}`, { cause: e });
}

function checkResult(fn: string, v: unknown, where: string): void {
  const bad = (why: string) => new DsvcError(DSVC.MODULE_ERR, `${where}: ${fn} ${why}`);
  if (fn === "listDt" || fn === "listDn") {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
      throw bad("did not return a list of names");
    }
  } else if (fn === "lookupDt" || fn === "lookupDn") {
    const r = v as { records?: unknown; count?: unknown } | null;
    if (!r || !Array.isArray(r.records) || !Number.isInteger(r.count)) {
      throw bad("did not return { records, count }");
    }
    const dn = fn === "lookupDn";
    for (const rec of r.records as Array<Record<string, unknown> | null>) {
      if (
        typeof rec !== "object" || rec === null || typeof rec.sig !== "bigint" ||
        (dn
          ? !(rec.cid instanceof Uint8Array) || typeof rec.cip !== "number"
          : typeof rec.key !== "string")
      ) throw bad("returned a malformed record (signatures are bigint, client IDs Uint8Array)");
    }
  } else if (fn === "openDt" || fn === "openDn") {
    if (typeof v !== "object" || v === null) throw bad("did not return a handle object");
  }
}

/** `mod` with every required function wrapped so failures and malformed results become DsvcErrors. */
function guardModule(mod: DsvcModule, where: string): DsvcModule {
  const guarded: Record<string, unknown> = { ...mod };
  for (const fn of [...SPL_FUNCTIONS, "mkloctoken"] as const) {
    const f = (mod as unknown as Record<string, unknown>)[fn];
    if (typeof f !== "function") continue;
    guarded[fn] = async (...args: unknown[]) => {
      let v: unknown;
      try {
        v = await (f as (...a: unknown[]) => unknown).apply(mod, args);
      } catch (e) {
        throw moduleError(e, `${where}: ${fn}`);
      }
      checkResult(fn, v, where);
      return v;
    };
  }
  return guarded as unknown as DsvcModule;
}

async function configure(
  mod: DsvcModule,
  config: string | undefined,
  where: string,
): Promise<void> {
  if (!mod.configure) return;
  try {
    await mod.configure(config);
  } catch (e) {
    const detail = e instanceof DsvcError
      ? (e.detail ?? e.message)
      : e instanceof Error
      ? e.message
      : String(e);
    throw new DsvcError(DSVC.MODULE_CFG_ERR, `${where}: ${detail}`, { cause: e });
  }
}

/**
 * Load module `resource` at container version `conver` (-1 = current), check it and configure
 * it with `config`. DSVC_MODULE_LOAD_ERR when not found, DSVC_MODULE_VERSION on an API version
 * mismatch, DSVC_MODULE_ERR when malformed, DSVC_MODULE_CFG_ERR when configure refuses.
 */
export async function loadModule(
  resource: string,
  conver: number,
  options: DhcpStoreOptions & { config?: string | undefined } = {},
): Promise<LoadedDsvcModule> {
  checkResourceName(resource);
  const builtin = BUILTIN.get(resource);
  let mod: DsvcModule;
  let source: string;
  if (builtin) {
    const version = conver === DSVC_CUR_CONVER ? Math.max(...builtin.keys()) : conver;
    const make = builtin.get(version);
    if (!make) {
      throw new DsvcError(
        DSVC.MODULE_LOAD_ERR,
        `built-in module ${resource} has versions ${
          [...builtin.keys()].sort().join(", ")
        }, not ${conver}`,
      );
    }
    mod = await checkModuleShape(make(), `built-in ${resource}${version}`);
    source = "builtin";
  } else {
    const dirs = moduleDirs(options);
    const files = scanDirs(dirs).filter((f) => f.name === resource);
    const file = conver === DSVC_CUR_CONVER
      ? files.sort((a, b) => b.version - a.version)[0]
      : files.find((f) => f.version === conver);
    if (!file) {
      const v = conver === DSVC_CUR_CONVER ? "" : ` version ${conver}`;
      throw new DsvcError(
        DSVC.MODULE_LOAD_ERR,
        `no module ${resource}${v} among the built-in modules and ${dirs.join(", ")}`,
      );
    }
    mod = await instantiate(file);
    source = file.file;
  }
  await configure(mod, options.config, `${resource}${mod.conver}`);
  // Built-in modules throw DsvcError themselves; third-party ones are held to the contract.
  if (source !== "builtin") mod = guardModule(mod, source);
  return { module: mod, name: resource, conver: mod.conver, source };
}

/**
 * Every module found: the built-in ones and those in the module directories, with versions,
 * synchronization and description. A module file that cannot be loaded is listed with `error`.
 */
export async function listModules(options: DhcpStoreOptions = {}): Promise<DsvcModuleInfo[]> {
  const out: DsvcModuleInfo[] = [];
  for (const [name, versions] of BUILTIN) {
    const current = Math.max(...versions.keys());
    const mod = (versions.get(current) as () => DsvcModule)();
    out.push({
      name,
      versions: [...versions.keys()].sort((a, b) => a - b),
      current,
      source: "builtin",
      synchtype: mod.synchtype,
      description: mod.description,
    });
  }
  const byName = new Map<string, ModuleFile[]>();
  for (const f of scanDirs(moduleDirs(options))) {
    byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  }
  for (const [name, files] of byName) {
    files.sort((a, b) => a.version - b.version);
    const cur = files[files.length - 1] as ModuleFile;
    const info: DsvcModuleInfo = {
      name,
      versions: files.map((f) => f.version),
      current: cur.version,
      source: cur.file,
      synchtype: DSVC_SYNCH_NONE,
      description: { summary: "", pathHelp: "", pathExample: "", validatePath: () => undefined },
    };
    if (BUILTIN.has(name)) {
      info.error = `the name ${name} belongs to a built-in module; this file is ignored`;
    } else {
      try {
        const mod = await instantiate(cur);
        info.synchtype = mod.synchtype;
        info.description = mod.description;
      } catch (e) {
        info.error = e instanceof Error ? e.message : String(e);
      }
    }
    out.push(info);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
