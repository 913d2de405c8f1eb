/**
 * `steward dhcp convert`: move the configured store to another module, location or container
 * version (upstream `dhcpconfig -C`), with a progress bar on a terminal.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { convertConfigured, type ConvertProgress } from "../lib/dhcp/convert-job.ts";
import {
  adminSession,
  cliFailure,
  confFile,
  type DhcpCommonOptions,
  storeOptions,
} from "./dhcp-common.ts";
import { usageError } from "./errors.ts";
import { printJson } from "./output.ts";

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A progress display: a bar redrawn on a terminal, one line per container otherwise. */
function progressPrinter(tty: boolean): (p: ConvertProgress) => void {
  let t0 = 0;
  let last = 0;
  let lastContainer: string | undefined;
  const out = (s: string) => void process.stderr.write(s);
  return (p) => {
    if (!tty) {
      if (
        p.phase === "copy" && p.containerDone === p.containerRecords &&
        p.container !== lastContainer
      ) {
        lastContainer = p.container;
        out(`${p.container}: ${p.containerRecords} records\n`);
      } else if (p.phase === "switch") out("dhcpsvc.conf switched\n");
      else if (p.phase === "remove") out("removing the old containers\n");
      return;
    }
    const now = performance.now();
    // The rate counts from the first record, not from opening the stores.
    if (t0 === 0) t0 = now;
    if (p.phase === "copy" && now - last < 100 && p.containerDone !== p.containerRecords) return;
    last = now;
    if (p.phase !== "copy") {
      out(
        `\r\x1b[K${
          p.phase === "switch"
            ? "switching dhcpsvc.conf"
            : p.phase === "remove"
            ? "removing the old containers"
            : "done"
        }${p.phase === "done" ? "\n" : ""}`,
      );
      return;
    }
    const width = 30;
    const frac = p.total > 0 ? p.done / p.total : 1;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const rate = p.done / Math.max(0.001, (now - t0) / 1000);
    const left = (p.total - p.done) / rate;
    out(
      `\r\x1b[K[${bar}] ${p.done}/${p.total} records  ${Math.round(rate)}/s  ${clock(left)} left  ${
        p.container ?? ""
      }`,
    );
  };
}

/** Add `steward dhcp convert`. */
export function registerDhcpConvert(dhcp: Command, common: () => DhcpCommonOptions): void {
  dhcp.command("convert")
    .description(
      "Copy the dhcptab and every network table to another module, location or container version, switch dhcpsvc.conf and remove the old tables (as dhcpconfig -C); safe to interrupt and rerun",
    )
    .option("--resource <module>", "destination module, e.g. SUNWbinfiles")
    .option("--path <location>", "destination location, e.g. /var/dhcp")
    .option("--config <string>", "destination RESOURCE_CONFIG")
    .option("--conver <n>", "destination container version (default: the module's current)")
    .option("--keep", "keep the old tables")
    .option("--json", "print the result as JSON")
    .action(async (o) => {
      if (o.resource === undefined || o.path === undefined) {
        throw usageError("Give --resource and --path of the destination");
      }
      let conver = -1;
      if (o.conver !== undefined) {
        if (!/^\d{1,3}$/.test(o.conver)) throw usageError(`--conver must be a number: ${o.conver}`);
        conver = Number(o.conver);
      }
      const c = common();
      const session = adminSession(c);
      try {
        const from = await session.datastore();
        const result = await convertConfigured({
          confFile: confFile(c),
          from,
          to: {
            resource: o.resource,
            location: o.path,
            conver,
            ...(o.config !== undefined ? { config: o.config } : {}),
          },
          keep: o.keep === true,
          storeOptions: storeOptions(c),
          netmask: (net) => session.netmaskFor(net),
          progress: progressPrinter(process.stderr.isTTY === true),
        });
        if (o.json) printJson(result);
      } catch (e) {
        throw cliFailure(e);
      } finally {
        await session.close();
      }
    });
}
