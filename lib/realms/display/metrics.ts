/**
 * The daemon's metrics in the Prometheus text exposition format (version 0.0.4): per realm
 * up, state, restarts, last exit code and uptime; the daemon's start time and command counts.
 * @internal
 * @module
 */
import { REALM_VIEW_STATES, type RealmView } from "./context.ts";
import { constants } from "node:os";

/** The Content-Type of {@link renderMetrics}' output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escape a label value (backslash, double quote, line feed). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** An exit as one number: the exit code, or 128 + the signal number as a shell reports it. */
export function exitNumber(exit: { code: number | null; signal: string | null }): number | null {
  if (exit.code !== null) return exit.code;
  if (exit.signal === null) return null;
  const n = (constants.signals as Record<string, number | undefined>)[exit.signal];
  return n === undefined ? null : 128 + n;
}

/** What the metrics are made of. */
export interface MetricsInput {
  realms: readonly RealmView[];
  startedAt: number;
  commandCounts: ReadonlyMap<string, number>;
  now: number;
}

/** Render the metrics page. */
export function renderMetrics(input: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: "gauge" | "counter", help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const realm = (r: RealmView) => `realm="${escapeLabel(r.name)}"`;
  family("steward_realm_up", "gauge", "Whether the realm's manager is running (1) or not (0).");
  for (const r of input.realms) {
    out.push(`steward_realm_up{${realm(r)}} ${r.state === "running" ? 1 : 0}`);
  }
  family("steward_realm_state", "gauge", "The realm's supervision state: 1 for the current one.");
  for (const r of input.realms) {
    for (const s of REALM_VIEW_STATES) {
      out.push(`steward_realm_state{${realm(r)},state="${s}"} ${r.state === s ? 1 : 0}`);
    }
  }
  family(
    "steward_realm_restarts",
    "gauge",
    "Automatic restarts since the realm was last started by hand.",
  );
  for (const r of input.realms) out.push(`steward_realm_restarts{${realm(r)}} ${r.restarts}`);
  family(
    "steward_realm_last_exit_code",
    "gauge",
    "Exit code of the manager's last run (128 + signal number when a signal ended it).",
  );
  for (const r of input.realms) {
    const n = r.lastExit ? exitNumber(r.lastExit) : null;
    if (n !== null) out.push(`steward_realm_last_exit_code{${realm(r)}} ${n}`);
  }
  family(
    "steward_realm_uptime_seconds",
    "gauge",
    "Seconds the realm's manager has been running (0 when it is not).",
  );
  for (const r of input.realms) {
    out.push(`steward_realm_uptime_seconds{${realm(r)}} ${r.uptimeSeconds ?? 0}`);
  }
  family(
    "steward_realms_daemon_start_time_seconds",
    "gauge",
    "When the realms daemon started, in seconds since the epoch.",
  );
  out.push(`steward_realms_daemon_start_time_seconds ${Math.floor(input.startedAt / 1000)}`);
  family(
    "steward_realms_commands_total",
    "counter",
    "Control commands handled, from the socket and the status page.",
  );
  for (const [command, n] of [...input.commandCounts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out.push(`steward_realms_commands_total{command="${escapeLabel(command)}"} ${n}`);
  }
  return out.join("\n") + "\n";
}
