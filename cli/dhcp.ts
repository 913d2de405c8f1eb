/**
 * `steward dhcp` commands: the upstream admin tools (pntadm, dhtadm, batch mode), modules,
 * dhcpsvc.conf, and readable network and dhcptab commands.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { runAdminTool, runBatch } from "../lib/dhcp/admin/batch.ts";
import { listModules, synchTypeName } from "../lib/dhcp/modules.ts";
import type { DsvcModuleInfo } from "../lib/dhcp/store-api.ts";
import {
  adminSession,
  CONF_ENV,
  DEFAULT_DHCPD_PIDFILE,
  type DhcpCommonOptions,
  DHCPD_PIDFILE_ENV,
  printJsonFailures,
  readBatchInput,
  storeOptions,
} from "./dhcp-common.ts";
import { registerDhcpNetworkCheck } from "./dhcp-check.ts";
import { registerDhcpConvert } from "./dhcp-convert.ts";
import { registerDhcpConfig } from "./dhcp-config.ts";
import { registerDhcpNetwork, registerDhcpTable } from "./dhcp-data.ts";
import { registerDhcpServe } from "./dhcp-serve.ts";
import { CliError } from "./errors.ts";
import { printJson, println, printTable, stdoutIsTty } from "./output.ts";

const ADMIN_EXIT_HELP =
  "\nExit codes (as upstream): 0 success, 1 the object already exists, 2 the object does " +
  "not exist,\n3 non-critical error (the operation failed), 4 critical error (bad usage, unusable configuration).";

async function runTool(
  tool: "pntadm" | "dhtadm",
  args: string[],
  o: DhcpCommonOptions,
): Promise<number> {
  const session = adminSession(o);
  try {
    return await runAdminTool(session, tool, args, { readBatch: readBatchInput });
  } finally {
    await session.close();
  }
}

function moduleJson(m: DsvcModuleInfo): Record<string, unknown> {
  return {
    name: m.name,
    versions: m.versions,
    current: m.current,
    source: m.source,
    synchronization: synchTypeName(m.synchtype),
    synchtype: m.synchtype,
    description: m.description.summary,
    path: { meaning: m.description.pathHelp, example: m.description.pathExample },
    config: m.description.configHelp ?? null,
    ...(m.error !== undefined ? { error: m.error } : {}),
  };
}

/** Add the `dhcp` command group to `program`. */
export function registerDhcp(program: Command): void {
  const dhcp = program.command("dhcp")
    .description(
      "Administer the DHCP data store: dhcpsvc.conf, store modules, the dhcptab (macros and " +
        "symbols) and the per-network address tables; pntadm and dhtadm as upstream",
    )
    .option(
      "--conf <file>",
      `dhcpsvc.conf to use (default: $${CONF_ENV} or /etc/inet/dhcpsvc.conf)`,
    )
    .option(
      "--module-dir <dir>",
      "directory of third-party store modules, repeatable (default: $STEWARD_DHCP_MODULE_PATH or /usr/lib/steward/dhcp)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    );
  // Root options are positional, so every command of the group declares --conf and
  // --module-dir too; the command that runs wins over the group.
  let chosen: DhcpCommonOptions = {};
  dhcp.hook("preAction", (_group, action) => {
    const o = action.opts() as DhcpCommonOptions;
    chosen = {
      ...(o.conf !== undefined ? { conf: o.conf } : {}),
      ...(o.moduleDir !== undefined ? { moduleDir: o.moduleDir } : {}),
    };
  });
  const common = (): DhcpCommonOptions => ({ ...dhcp.opts(), ...chosen });

  dhcp.command("pntadm")
    .description(
      "Run pntadm(1M): manage network tables with the upstream options, messages, exit codes " +
        "and -P output (e.g. steward dhcp pntadm -P 10.0.0.0)",
    )
    .argument("[args...]", "pntadm options and network, exactly as upstream")
    .helpOption("--help", "show help for this command")
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText("after", ADMIN_EXIT_HELP)
    .action(async (args) => {
      process.exitCode = await runTool("pntadm", args, common());
    });

  dhcp.command("dhtadm")
    .description(
      "Run dhtadm(1M): manage dhcptab macros and symbols with the upstream options, messages, " +
        "exit codes and -P output (e.g. steward dhcp dhtadm -P)",
    )
    .argument("[args...]", "dhtadm options, exactly as upstream")
    .helpOption("--help", "show help for this command")
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      "after",
      `${ADMIN_EXIT_HELP}\n-g signals the DHCP server named by the pid file in $${DHCPD_PIDFILE_ENV} ` +
        `(default ${DEFAULT_DHCPD_PIDFILE}).`,
    )
    .action(async (args) => {
      process.exitCode = await runTool("dhtadm", args, common());
    });

  dhcp.command("batch")
    .description(
      "Run a batch of pntadm/dhtadm command lines from FILE or standard input (as pntadm -B): " +
        "'#' comments, '\\' continuations, shell quoting; errors are reported and processing goes on",
    )
    .argument("[file]", "batch file (default: standard input)")
    .option("-v, --verbose", "echo each command, prefixed by '> '")
    .addHelpText(
      "after",
      "\nExit codes: 0 every command succeeded, 4 the file cannot be read or a line cannot be parsed,\n" +
        "otherwise the highest exit code of a failed command (1 exists, 2 does not exist, 3 failed).",
    )
    .action(async (file, o) => {
      const session = adminSession(common());
      try {
        process.exitCode = await runBatch(session, {
          file,
          verbose: o.verbose === true,
          readBatch: readBatchInput,
        });
      } finally {
        await session.close();
      }
    });

  const mod = dhcp.command("module")
    .description(
      "Show the store modules found: built-in ones and third-party ones in the module directories",
    );
  mod.command("list")
    .description("List the modules with their versions, synchronization and description")
    .option("--json", "print JSON")
    .action(async (o) => {
      const mods = await listModules(storeOptions(common()));
      if (o.json) return printJson(mods.map(moduleJson));
      printTable(mods, [
        { header: "NAME", value: (m) => m.name },
        { header: "VERSIONS", value: (m) => m.versions.join(",") },
        { header: "CURRENT", value: (m) => String(m.current), align: "right" },
        { header: "SYNCHRONIZATION", value: (m) => synchTypeName(m.synchtype) },
        {
          header: "DESCRIPTION",
          value: (m) => m.error !== undefined ? `unusable: ${m.error}` : m.description.summary,
        },
        { header: "SOURCE", value: (m) => m.source },
      ]);
    });
  mod.command("info")
    .description("Describe one module: what PATH and the config string mean for it")
    .argument("<name>", "module name, e.g. SUNWfiles")
    .option("--json", "print JSON")
    .action(async (name, o) => {
      const m = (await listModules(storeOptions(common()))).find((x) => x.name === name);
      if (!m) throw new CliError(`No such module: ${name} (see 'steward dhcp module list')`);
      if (o.json) return printJson(moduleJson(m));
      const rows: [string, string][] = [
        ["Name", m.name],
        ["Description", m.description.summary],
        ["Versions", `${m.versions.join(", ")} (current ${m.current})`],
        ["Synchronization", synchTypeName(m.synchtype)],
        ["Source", m.source],
        ["PATH", m.description.pathHelp],
        ["PATH example", m.description.pathExample],
        ["Config string", m.description.configHelp ?? "none (the module takes no RESOURCE_CONFIG)"],
      ];
      if (m.error !== undefined) rows.push(["Error", m.error]);
      if (stdoutIsTty()) {
        const w = Math.max(...rows.map(([k]) => k.length));
        for (const [k, v] of rows) println(`${k.padEnd(w)}  ${v}`);
      } else {
        for (const [k, v] of rows) println(`${k}\t${v}`);
      }
    });

  registerDhcpConfig(dhcp, common);
  registerDhcpNetwork(dhcp, common);
  registerDhcpNetworkCheck(dhcp, common);
  registerDhcpConvert(dhcp, common);
  registerDhcpTable(dhcp, common);
  registerDhcpServe(dhcp, common);
  addCommonOptions(dhcp.commands as unknown as Command[]);
  printJsonFailures(dhcp as unknown as Command);
}

function addCommonOptions(commands: readonly Command[]): void {
  for (const c of commands) {
    c.option("--conf <file>", "dhcpsvc.conf to use (as the dhcp option)");
    c.option(
      "--module-dir <dir>",
      "directory of third-party store modules, repeatable (as the dhcp option)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    );
    addCommonOptions(c.commands as unknown as Command[]);
  }
}
