/**
 * `steward dhcp serve`: the DHCPv4 server in the foreground, and `serve status`.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import fsp from "node:fs/promises";
import { defaultStatusFile, runServer } from "../lib/dhcp/serve/server.ts";
import { pidAlive } from "../lib/platform/pid.ts";
import {
  confFile,
  DEFAULT_DHCPD_PIDFILE,
  type DhcpCommonOptions,
  DHCPD_PIDFILE_ENV,
  storeOptions,
} from "./dhcp-common.ts";
import { CliError } from "./errors.ts";
import { printJson, println } from "./output.ts";

function total(m: Record<string, number> | undefined): number {
  return Object.values(m ?? {}).reduce((a, b) => a + b, 0);
}

function pairs(m: Record<string, number> | undefined): string {
  const e = Object.entries(m ?? {}).sort((a, b) => b[1] - a[1]);
  return e.length === 0 ? "none" : e.map(([k, v]) => `${k} ${v}`).join(", ");
}

/** Add `serve` and `serve status` to the dhcp group. */
export function registerDhcpServe(dhcp: Command, common: () => DhcpCommonOptions): void {
  const serve = dhcp.command("serve")
    .description(
      "Run the DHCPv4 server in the foreground on the configured store (the role of upstream " +
        "in.dhcpd); SIGHUP reloads the dhcptab and reopens the log, SIGTERM stops",
    )
    .option(
      "--pid-file <file>",
      `pid file dhtadm -g signals (default: $${DHCPD_PIDFILE_ENV} or ${DEFAULT_DHCPD_PIDFILE})`,
    )
    .option("--status-file <file>", "status file (default: <run dir>/dhcpd.status.json)")
    .addHelpText(
      "after",
      "\nSettings come from dhcpsvc.conf: INTERFACES, OFFER_CACHE_TIMEOUT, RESCAN_INTERVAL,\n" +
        "RELAY_HOPS, BOOTP_COMPAT, OWNER_IP, CACHE_TIMEOUT, VERBOSE and the STEWARD_SERVE_* keys\n" +
        "(see docs/dhcp.md, section Serving).",
    )
    .action(async (o) => {
      const c = common();
      await runServer({
        confFile: confFile(c),
        store: storeOptions(c),
        pidFile: o.pidFile ?? process.env[DHCPD_PIDFILE_ENV] ?? DEFAULT_DHCPD_PIDFILE,
        ...(o.statusFile !== undefined ? { statusFile: o.statusFile } : {}),
      });
    });
  serve.command("status")
    .description("Show a running server's leases handed out, rates, drops and errors")
    .option("--status-file <file>", "status file (default: <run dir>/dhcpd.status.json)")
    .option("--json", "print JSON")
    .action(async (o) => {
      const file = o.statusFile ?? defaultStatusFile();
      const read = async () => JSON.parse((await fsp.readFile(file, "utf8")).slice(0, 1 << 20));
      let s: Record<string, unknown>;
      try {
        // A file rewritten in place (after a switch of user) may be caught mid-write: once more.
        s = await read().catch(async () => {
          await new Promise((r) => setTimeout(r, 200));
          return await read();
        });
      } catch (e) {
        throw new CliError(`No server status in ${file}: ${(e as Error).message}`);
      }
      const pid = Number(s.pid);
      const running = s.state === "running" && Number.isInteger(pid) && pidAlive(pid);
      if (!running) process.exitCode = 1;
      if (o.json) return printJson({ ...s, running });
      const rates = s.rates as { leasesPerSecond: number; requestsPerSecond: number } | undefined;
      const nets = (s.networks as {
        network: string;
        serverId: string;
        direct: boolean;
        offersHeld: number;
      }[]) ?? [];
      println(
        `Server     pid ${pid}, ${running ? "running" : "not running"} (status of ${s.updated})`,
      );
      println(
        `Store      ${(s.store as { resource: string; location: string }).resource}:${
          (s.store as { location: string }).location
        }`,
      );
      for (const n of nets) {
        println(
          `Network    ${n.network} server id ${n.serverId}${
            n.direct ? " direct" : " relayed"
          }, ${n.offersHeld} offer(s) held`,
        );
      }
      println(`Leases     ${s.leases} handed out, ${s.releases} released, ${s.declines} declined`);
      println(
        `Rates      ${rates?.leasesPerSecond ?? 0} leases/s, ${
          rates?.requestsPerSecond ?? 0
        } requests/s (last 10 s)`,
      );
      println(`Requests   ${s.received} received: ${pairs(s.requests as Record<string, number>)}`);
      println(
        `Replies    ${total(s.replies as Record<string, number>)}: ${
          pairs(s.replies as Record<string, number>)
        }`,
      );
      println(
        `Drops      ${total(s.drops as Record<string, number>)}: ${
          pairs(s.drops as Record<string, number>)
        }`,
      );
      println(
        `Errors     ${total(s.errors as Record<string, number>)}: ${
          pairs(s.errors as Record<string, number>)
        }`,
      );
      println(
        `Exhausted  ${s.exhausted} request(s) found no free address; ${s.collisions} collision(s) retried`,
      );
    });
}
