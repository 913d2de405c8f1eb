/**
 * `steward dhcp config`: write dhcpsvc.conf for a store (a wizard on a terminal, flags for
 * scripts), and show, set or delete its parameters (the role of `dhcpconfig -P`).
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline/promises";
import type { Command } from "@commander-js/extra-typings";
import {
  DHCPSVC_CONF_KEYS,
  DhcpsvcConf,
  readDhcpsvcConf,
  setConfDatastore,
  setConfParam,
  writeDhcpsvcConf,
} from "../lib/dhcp/conf.ts";
import { checkLocationRoots, configuredRoots } from "../lib/dhcp/roots.ts";
import { listModules, synchTypeName } from "../lib/dhcp/modules.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, DsvcError } from "../lib/dhcp/spi.ts";
import type { DsvcModuleInfo } from "../lib/dhcp/store-api.ts";
import { openStore } from "../lib/dhcp/store.ts";
import { cliFailure, confFile, type DhcpCommonOptions, storeOptions } from "./dhcp-common.ts";
import { CliError, usageError } from "./errors.ts";
import { printJson, println, printTable } from "./output.ts";

/** What the store should become. */
interface ConfigChoice {
  module: DsvcModuleInfo;
  path: string;
  config: string | undefined;
  createLocation: boolean;
  createDhcptab: boolean;
}

/** Why `location` is outside the configured dhcp roots, or undefined. */
function outsideRoots(location: string): string | undefined {
  try {
    checkLocationRoots(location, configuredRoots());
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function checkChoice(
  module: DsvcModuleInfo,
  path: string,
  config: string | undefined,
): string | undefined {
  if (module.error !== undefined) return `Module ${module.name} cannot be used: ${module.error}`;
  const p = module.description.validatePath(path) ?? outsideRoots(path);
  if (p !== undefined) return `Bad PATH for ${module.name}: ${p}`;
  if (config !== undefined && config !== "") {
    if (module.description.configHelp === undefined) {
      return `Module ${module.name} takes no config string`;
    }
    const c = module.description.validateConfig?.(config);
    if (c !== undefined) return `Bad config string for ${module.name}: ${c}`;
  }
  return undefined;
}

async function readConfOrNew(file: string): Promise<DhcpsvcConf> {
  try {
    return await readDhcpsvcConf(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    return new DhcpsvcConf([{
      kind: "comment",
      text: " dhcpsvc.conf written by steward dhcp config",
    }]);
  }
}

/** A file-system error on dhcpsvc.conf as a one-line CLI error; anything else unchanged. */
function fileFailure(e: unknown, file: string, verb = "write"): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    const why = code === "ENOENT" ? "its directory does not exist" : code;
    return new CliError(`Cannot ${verb} ${file}: ${why}`);
  }
  return cliFailure(e);
}

/** Refuse early when dhcpsvc.conf cannot be written, before anything else is created. */
function checkWritableDir(file: string): void {
  const dir = path.dirname(file);
  let ok = false;
  try {
    ok = fs.statSync(dir).isDirectory();
    if (ok) fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    ok = false;
  }
  if (!ok) throw new CliError(`Cannot write ${file}: ${dir} is not a writable directory`);
}

async function apply(file: string, choice: ConfigChoice, common: DhcpCommonOptions): Promise<void> {
  checkWritableDir(file);
  const conf = await readConfOrNew(file);
  setConfDatastore(conf, {
    resource: choice.module.name,
    location: choice.path,
    conver: choice.module.current,
    config: choice.config,
  });
  if (!conf.has("DAEMON_ENABLED")) conf.set("DAEMON_ENABLED", "TRUE");
  if (choice.createLocation || choice.createDhcptab) {
    const ds = {
      resource: choice.module.name,
      location: choice.path,
      conver: choice.module.current,
      ...(choice.config ? { config: choice.config } : {}),
    };
    await using store = await openStore(ds, storeOptions(common));
    if (choice.createLocation) {
      try {
        await store.mklocation();
        println(`Created location ${choice.path}`);
      } catch (e) {
        if (!(e instanceof DsvcError && e.code === DSVC.EXISTS)) throw e;
      }
    }
    if (choice.createDhcptab) {
      try {
        const t = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
        await t.close();
        println("Created an empty dhcptab");
      } catch (e) {
        if (!(e instanceof DsvcError && e.code === DSVC.TABLE_EXISTS)) throw e;
        println("The dhcptab already exists; it was kept");
      }
    }
  }
  await writeDhcpsvcConf(file, conf);
  println(
    `Wrote ${file}: RESOURCE=${choice.module.name} PATH=${choice.path} CONVER=${choice.module.current}` +
      (choice.config ? ` RESOURCE_CONFIG=${choice.config}` : ""),
  );
}

/** Lines of standard input, read one at a time (works on a terminal and on a pipe). */
class Prompter {
  readonly #rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY === true,
  });
  readonly #lines = this.#rl[Symbol.asyncIterator]();

  async ask(question: string, fallback = ""): Promise<string> {
    process.stdout.write(`${question}${fallback ? ` [${fallback}]` : ""}: `);
    const r = await this.#lines.next();
    if (r.done) throw new CliError("Standard input ended before the configuration was complete");
    if (process.stdin.isTTY !== true) process.stdout.write("\n");
    const a = String(r.value).trim();
    return a === "" ? fallback : a;
  }

  async yes(question: string, fallback: boolean): Promise<boolean> {
    for (;;) {
      const a = (await this.ask(`${question} (y/n)`, fallback ? "y" : "n")).toLowerCase();
      if (a === "y" || a === "yes") return true;
      if (a === "n" || a === "no") return false;
      println("Please answer y or n");
    }
  }

  close(): void {
    this.#rl.close();
  }
}

/** The module's check of its service with `config` (for a database: a connection test). */
async function serviceProblem(
  module: DsvcModuleInfo,
  location: string,
  config: string,
  common: DhcpCommonOptions,
): Promise<string | undefined> {
  try {
    const ds = { resource: module.name, location, conver: module.current };
    await using store = await openStore(config ? { ...ds, config } : ds, storeOptions(common));
    await store.module.module.status();
    println("Service check passed");
    return undefined;
  } catch (e) {
    if (e instanceof DsvcError && e.code === DSVC.UNSUPPORTED) return undefined;
    return `service check failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

async function wizard(file: string, common: DhcpCommonOptions): Promise<void> {
  const modules = (await listModules(storeOptions(common))).filter((m) => m.error === undefined);
  let existing: DhcpsvcConf | undefined;
  try {
    existing = await readDhcpsvcConf(file);
  } catch { /* a new file */ }
  const p = new Prompter();
  try {
    println(`Configure the DHCP data store in ${file}`);
    println("");
    println("Store modules:");
    modules.forEach((m, i) =>
      println(
        `  ${i + 1}) ${m.name.padEnd(14)} ${m.description.summary} (synchronization: ${
          synchTypeName(m.synchtype)
        })`,
      )
    );
    let module: DsvcModuleInfo | undefined;
    const defModule = existing?.get("RESOURCE") ?? modules[0]?.name ?? "";
    while (!module) {
      const a = await p.ask("Module (name or number)", defModule);
      module = modules.find((m, i) => m.name === a || String(i + 1) === a);
      if (!module) println(`No module ${a}; choose one of the list`);
    }
    println("");
    println(`PATH: ${module.description.pathHelp}`);
    let location = "";
    for (;;) {
      location = await p.ask("PATH", existing?.get("PATH") ?? module.description.pathExample);
      const bad = module.description.validatePath(location) ?? outsideRoots(location);
      if (bad === undefined) break;
      println(`Not usable: ${bad}`);
    }
    let config: string | undefined;
    if (module.description.configHelp !== undefined) {
      println("");
      println(`Config string: ${module.description.configHelp}`);
      for (;;) {
        config = await p.ask(
          "Config string (empty for none)",
          existing?.get("RESOURCE_CONFIG") ?? "",
        );
        const bad = (config === "" ? undefined : module.description.validateConfig?.(config)) ??
          (await serviceProblem(module, location, config, common));
        if (bad === undefined) break;
        println(`Not usable: ${bad}`);
      }
      if (config === "") config = undefined;
    }
    const createLocation = await p.yes(`Create ${location} if it does not exist`, true);
    const createDhcptab = await p.yes("Create an empty dhcptab if there is none", true);
    if (!(await p.yes(`Write ${file}`, true))) {
      println("Nothing written");
      return;
    }
    await apply(file, { module, path: location, config, createLocation, createDhcptab }, common);
  } finally {
    p.close();
  }
}

function parseAssignment(text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw usageError(`Expected KEY=VALUE: ${text}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Add `steward dhcp config …`. */
export function registerDhcpConfig(dhcp: Command, common: () => DhcpCommonOptions): void {
  const config = dhcp.command("config")
    .description(
      "Write dhcpsvc.conf for a data store: a wizard on a terminal, or --resource/--path for " +
        "scripts; 'show', 'set' and 'delete' edit single parameters (as dhcpconfig -P)",
    )
    .option("--resource <module>", "store module, e.g. SUNWfiles (see 'steward dhcp module list')")
    .option(
      "--path <path>",
      "location in the store (for SUNWfiles an absolute directory, e.g. /var/dhcp)",
    )
    .option("--resource-config <string>", "module-specific config string (RESOURCE_CONFIG)")
    .option("--create-location", "also create the location if it does not exist")
    .option("--create-dhcptab", "also create an empty dhcptab if there is none")
    .option("--interactive", "run the wizard even when standard input is not a terminal")
    .addHelpText(
      "after",
      "\nThe file is rewritten atomically; comments, order and other parameters are kept.\n" +
        "Exit codes: 0 written, 1 failed (nothing written), 2 usage error.",
    )
    .action(async (o) => {
      const c = common();
      const file = confFile(c);
      try {
        if (o.resource === undefined && o.path === undefined) {
          if (!o.interactive && !(process.stdin.isTTY && process.stdout.isTTY)) {
            throw usageError("Give --resource and --path (or run on a terminal for the wizard)");
          }
          await wizard(file, c);
          return;
        }
        if (o.resource === undefined || o.path === undefined) {
          throw usageError("Give both --resource and --path");
        }
        const module = (await listModules(storeOptions(c))).find((m) => m.name === o.resource);
        if (!module) {
          throw new CliError(`No such module: ${o.resource} (see 'steward dhcp module list')`);
        }
        const bad = checkChoice(module, o.path, o.resourceConfig);
        if (bad !== undefined) throw new CliError(bad);
        await apply(file, {
          module,
          path: o.path,
          config: o.resourceConfig === "" ? undefined : o.resourceConfig,
          createLocation: o.createLocation === true,
          createDhcptab: o.createDhcptab === true,
        }, c);
      } catch (e) {
        throw fileFailure(e, file);
      }
    });

  config.command("show")
    .description("Print dhcpsvc.conf parameters (all, or the KEYs given)")
    .argument("[keys...]", "parameter names (case-insensitive)")
    .option("--json", "print JSON")
    .action(async (keys, o) => {
      const file = confFile(common());
      let conf: DhcpsvcConf;
      try {
        conf = await readDhcpsvcConf(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          throw new CliError(`No DHCP configuration file: ${file} (run 'steward dhcp config')`);
        }
        throw fileFailure(e, file, "read");
      }
      let entries = conf.entries();
      if (keys.length > 0) {
        const missing = keys.filter((k) => !conf.has(k));
        if (missing.length > 0) throw new CliError(`Not set in ${file}: ${missing.join(", ")}`);
        entries = keys.map((k) => [k.toUpperCase(), conf.get(k) ?? ""]);
      }
      if (o.json) return printJson(Object.fromEntries(entries));
      printTable(entries, [
        { header: "PARAMETER", value: ([k]) => k },
        { header: "VALUE", value: ([, v]) => v },
        {
          header: "MEANING",
          value: ([k]) => DHCPSVC_CONF_KEYS.find((x) => x.key === k.toUpperCase())?.meaning ?? "",
        },
      ]);
    });

  config.command("set")
    .description("Set parameters (KEY=VALUE; an empty VALUE deletes, as dhcpconfig -P)")
    .argument("<assignments...>", "KEY=VALUE pairs")
    .action(async (assignments) => {
      const file = confFile(common());
      const pairs = assignments.map(parseAssignment);
      try {
        const conf = await readConfOrNew(file);
        for (const [k, v] of pairs) {
          if (v === "") conf.delete(k);
          else setConfParam(conf, k, v);
        }
        await writeDhcpsvcConf(file, conf);
      } catch (e) {
        throw fileFailure(e, file);
      }
    });

  config.command("delete")
    .description("Delete parameters")
    .argument("<keys...>", "parameter names (case-insensitive)")
    .action(async (keys) => {
      const file = confFile(common());
      try {
        if (!fs.existsSync(file)) throw new CliError(`No DHCP configuration file: ${file}`);
        const conf = await readDhcpsvcConf(file);
        const missing = keys.filter((k) => !conf.has(k));
        if (missing.length > 0) throw new CliError(`Not set in ${file}: ${missing.join(", ")}`);
        for (const k of keys) conf.delete(k);
        await writeDhcpsvcConf(file, conf);
      } catch (e) {
        throw fileFailure(e, file);
      }
    });
}
