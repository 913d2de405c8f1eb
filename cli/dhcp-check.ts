/**
 * `steward dhcp network check NET`: verify a network container of the configured store and
 * repair what the recovery pass repairs; exit 1 when problems remain.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { checkNetwork } from "../lib/dhcp/check.ts";
import { type DhcpCommonOptions, withStore } from "./dhcp-common.ts";
import { EXIT } from "./errors.ts";
import { printJson, println } from "./output.ts";

/** Add `check` to `steward dhcp network`. */
export function registerDhcpNetworkCheck(dhcp: Command, common: () => DhcpCommonOptions): void {
  const network = dhcp.commands.find((c) => c.name() === "network") as Command | undefined;
  if (!network) throw new Error("steward dhcp network must be registered before its check");
  network.command("check")
    .description(
      "Verify a network's table (chains, images, duplicates, lines that do not parse) and repair what can be repaired",
    )
    .argument("<network>", "network address")
    .option("--netmask <mask>", "netmask (dotted or prefix length); default classful")
    .option("--no-repair", "only report, change nothing")
    .option("--json", "print JSON")
    .action(async (net: string, o: { netmask?: string; repair: boolean; json?: boolean }) => {
      const report = await withStore(common(), (store, session) => {
        const mask = o.netmask ?? session.netmaskFor(net);
        return checkNetwork(store, net, {
          repair: o.repair,
          ...(mask !== undefined ? { netmask: mask } : {}),
        });
      });
      if (!report.ok) process.exitCode = EXIT.FAILURE;
      if (o.json) return printJson(report);
      println(`${report.network}: ${report.module}, ${report.container || "container"}`);
      println(`records: ${report.records}`);
      for (const p of report.problems) println(`problem: ${p}`);
      for (const r of report.repairs) println(`repaired: ${r}`);
      for (const u of report.unrepaired) println(`not repaired: ${u}`);
      println(report.ok ? "ok" : "problems remain");
    });
}
