/**
 * The server's counters: what `steward dhcp serve status` prints and the metrics endpoint
 * exposes in the Prometheus text format.
 * @module
 */

/** Counters of one server process. */
export class ServeStats {
  readonly started = Date.now();
  received = 0;
  /** Requests by message type name (discover, request, …, bootp). */
  readonly requests = new Map<string, number>();
  /** Replies by type name (offer, ack, nak, bootreply). */
  readonly replies = new Map<string, number>();
  /** Dropped datagrams by reason. */
  readonly drops = new Map<string, number>();
  /** Store and send errors by kind. */
  readonly errors = new Map<string, number>();
  /** ACKs that bound an address to a client (written to the store). */
  leases = 0;
  declines = 0;
  releases = 0;
  exhausted = 0;
  collisions = 0;

  /** Add one to `map[key]`. */
  static bump(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  /** Total of a map. */
  static total(map: ReadonlyMap<string, number>): number {
    let t = 0;
    for (const v of map.values()) t += v;
    return t;
  }

  /** A plain object for JSON (the status file and `serve status --json`). */
  toJSON(): Record<string, unknown> {
    return {
      started: new Date(this.started).toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      received: this.received,
      requests: Object.fromEntries(this.requests),
      replies: Object.fromEntries(this.replies),
      drops: Object.fromEntries(this.drops),
      errors: Object.fromEntries(this.errors),
      leases: this.leases,
      declines: this.declines,
      releases: this.releases,
      exhausted: this.exhausted,
      collisions: this.collisions,
    };
  }

  /** The counters in the Prometheus text exposition format. */
  prometheus(): string {
    const lines: string[] = [];
    const one = (name: string, help: string, type: string, v: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${v}`);
    };
    const many = (name: string, help: string, label: string, m: ReadonlyMap<string, number>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [k, v] of [...m].sort()) lines.push(`${name}{${label}="${k}"} ${v}`);
    };
    one("steward_dhcp_received_total", "Datagrams received", "counter", this.received);
    many("steward_dhcp_requests_total", "Requests by message type", "type", this.requests);
    many("steward_dhcp_replies_total", "Replies sent by message type", "type", this.replies);
    many("steward_dhcp_drops_total", "Datagrams dropped by reason", "reason", this.drops);
    many("steward_dhcp_errors_total", "Store and socket errors by kind", "kind", this.errors);
    one("steward_dhcp_leases_total", "Addresses bound by an ACK", "counter", this.leases);
    one("steward_dhcp_declines_total", "Addresses declined", "counter", this.declines);
    one("steward_dhcp_releases_total", "Addresses released", "counter", this.releases);
    one(
      "steward_dhcp_exhausted_total",
      "Requests finding no free address",
      "counter",
      this.exhausted,
    );
    one("steward_dhcp_collisions_total", "Update collisions retried", "counter", this.collisions);
    one(
      "steward_dhcp_uptime_seconds",
      "Seconds since the server started",
      "gauge",
      Math.round((Date.now() - this.started) / 1000),
    );
    return lines.join("\n") + "\n";
  }
}
