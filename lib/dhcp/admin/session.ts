/**
 * What the admin commands run against: the configured store (dhcpsvc.conf, overridden per
 * command by -r/-p/-u), opened once per session and reused by every command of a batch, plus
 * the host facts they need (this server's address, name resolution) and their output.
 * @module
 */
import dns from "node:dns/promises";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { datastoreFromConf, DHCPSVC_CONF_FILE, readDhcpsvcConf } from "../conf.ts";
import { exactNetmask, findNetmask, netmasksFiles } from "../netmasks.ts";
import { ipToString, parseIp, parseNetmask } from "../records.ts";
import { DSVC, DSVC_CUR_CONVER, DsvcError } from "../spi.ts";
import type { Datastore, DhcpStore } from "../store-api.ts";
import { ADMIN_EXIT, AdminError, escapeDiagnostic } from "./format.ts";

/** Per-command overrides of the configured datastore (upstream -r, -p, -u). */
export interface DatastoreOverrides {
  /** RESOURCE instead of the configured one. */
  resource?: string | undefined;
  /** PATH instead of the configured one. */
  path?: string | undefined;
  /** RESOURCE_CONFIG instead of the configured one. */
  config?: string | undefined;
}

/** Options of {@link AdminSession}. */
export interface AdminSessionOptions {
  /** dhcpsvc.conf to read; default /etc/inet/dhcpsvc.conf. */
  confFile?: string;
  /** Opens a datastore through the framework (module load, version check, configure, locks). */
  openStore(ds: Datastore): Promise<DhcpStore>;
  /** The current container version of a module, for the "needs conversion" check. */
  currentVersion?(resource: string): Promise<number>;
  /** Where normal output goes. */
  stdout(text: string): void;
  /** Where messages go. */
  stderr(text: string): void;
  /** This server's address (pntadm's default -s); default: resolve the host name. */
  serverAddress?(): Promise<number>;
  /** Resolve a host name to an IPv4 address (host order); default: the system resolver. */
  resolveHost?(name: string): Promise<number | undefined>;
  /** Host name of an address, for `pntadm -P -v`; default: reverse DNS with a short timeout. */
  hostName?(ip: number): Promise<string | undefined>;
  /** Ask the DHCP server to reload the dhcptab (dhtadm -g); throws when it cannot. */
  reloadServer?(): Promise<void>;
  /** The networks(4) database; default /etc/networks. */
  networksFile?: string;
  /** This host's interfaces (as os.networkInterfaces()); default the real ones. */
  interfaces?(): ReturnType<typeof os.networkInterfaces>;
  /**
   * The netmasks files in the order they are read, steward's own first (where `network create
   * --netmask` records a mask); default: `$STEWARD_NETMASKS`, else `<confFile>.netmasks`, then
   * /etc/inet/netmasks, /etc/netmasks (lib/dhcp/netmasks.ts).
   */
  netmasksFiles?: readonly string[];
}

/** `work`, or undefined when it takes longer than `ms`. */
async function bounded<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolve with the system resolver, IPv4 only, bounded in time. */
function systemResolve(name: string): Promise<number | undefined> {
  if (name.length === 0 || name.length > 253 || !/^[A-Za-z0-9._-]+$/.test(name)) {
    return Promise.resolve(undefined);
  }
  return bounded(
    dns.lookup(name, { family: 4 }).then((a) => parseIp(a.address), () => undefined),
    3000,
  );
}

function systemHostName(ip: number): Promise<string | undefined> {
  return bounded(dns.reverse(ipToString(ip)).then((names) => names[0], () => undefined), 1000);
}

/** Most reverse lookups of `pntadm -P -v` in flight at once. */
export const HOST_LOOKUP_CONCURRENCY = 32;

/** A session of admin commands sharing opened stores. */
export class AdminSession implements AsyncDisposable {
  /** The options the session was made with. */
  readonly options: AdminSessionOptions;
  /** The dhcpsvc.conf it reads. */
  readonly confFile: string;
  readonly #stores = new Map<string, Promise<DhcpStore>>();
  readonly #names = new Map<number, string | undefined>();
  #where: string | undefined;
  #warnedNoConf = false;

  /** A session over the configured store (opened on first use). */
  constructor(options: AdminSessionOptions) {
    this.options = options;
    this.confFile = options.confFile ?? DHCPSVC_CONF_FILE;
  }

  /** Write normal output. */
  out(text: string): void {
    this.options.stdout(text);
  }

  /**
   * Write a message line, control characters escaped (it may echo request data); inside
   * {@link at}, prefixed with where the command came from (`batch.txt:12: `).
   */
  err(line: string): void {
    const where = this.#where !== undefined && line !== "" ? `${this.#where}: ` : "";
    this.options.stderr(`${escapeDiagnostic(where + line)}\n`);
  }

  /** Run `fn` with its messages prefixed by `where` (a batch file and line). */
  async at<T>(where: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#where;
    this.#where = where;
    try {
      return await fn();
    } finally {
      this.#where = before;
    }
  }

  /**
   * The datastore for a command: dhcpsvc.conf with -r/-p/-u applied. Without a readable
   * configuration both -r and -p are needed (CRITICAL otherwise).
   */
  async datastore(o: DatastoreOverrides = {}): Promise<Datastore> {
    let base: Datastore | undefined;
    let confProblem: string | undefined;
    try {
      base = datastoreFromConf(await readDhcpsvcConf(this.confFile));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      confProblem = code === "ENOENT"
        ? `No DHCP configuration file exists: ${this.confFile} (run 'steward dhcp config' first, or give -r and -p)`
        : `Cannot use ${this.confFile}: ${(e as Error).message}`;
    }
    const resource = o.resource ?? base?.resource;
    // A PATH in the file starting with ./ or ../ is taken from the file's directory, so a
    // configuration can travel with its store (upstream needs an absolute one). Other PATHs
    // are passed as written: for some modules PATH is not a file name.
    const location = o.path ??
      (base?.location !== undefined && /^\.\.?\//.test(base.location)
        ? path.resolve(path.dirname(this.confFile), base.location)
        : base?.location);
    if (resource === undefined || location === undefined) {
      throw new AdminError(confProblem ?? "No data store configured", ADMIN_EXIT.CRITICAL);
    }
    if (!base && !this.#warnedNoConf) {
      // Upstream's warning when -r/-p stand in for a missing configuration file.
      this.#warnedNoConf = true;
      this.options.stderr(
        "\nWarning: No DHCP configuration file exists. There is no way to verify the\n" +
          "data store version for this operation.\n\n",
      );
    }
    const config = o.config ?? (o.resource === undefined ? base?.config : undefined);
    // A -r naming another module uses that module's current version.
    const conver = o.resource !== undefined && o.resource !== base?.resource
      ? DSVC_CUR_CONVER
      : base?.conver ?? DSVC_CUR_CONVER;
    return { resource, location, conver, ...(config !== undefined ? { config } : {}) };
  }

  /** The opened store for a command (opened once per datastore for the whole session). */
  async store(o: DatastoreOverrides = {}): Promise<DhcpStore> {
    const ds = await this.datastore(o);
    const key = JSON.stringify([ds.resource, ds.location, ds.config ?? null, ds.conver]);
    let p = this.#stores.get(key);
    if (!p) {
      p = this.#open(ds);
      this.#stores.set(key, p);
      p.catch(() => this.#stores.delete(key));
    }
    return await p;
  }

  async #open(ds: Datastore): Promise<DhcpStore> {
    if (ds.conver !== undefined && ds.conver !== DSVC_CUR_CONVER && this.options.currentVersion) {
      let current: number | undefined;
      try {
        current = await this.options.currentVersion(ds.resource);
      } catch { /* the open below reports a missing module */ }
      if (current !== undefined && current !== ds.conver) {
        throw new AdminError(
          `There is a version mismatch between the DHCP management software and the DHCP data store: ` +
            `CONVER=${ds.conver} in ${this.confFile}, module ${ds.resource} is at version ${current}. ` +
            `Convert the data store to the new version first`,
          ADMIN_EXIT.CRITICAL,
        );
      }
    }
    return await this.options.openStore(ds);
  }

  /**
   * This server's address, pntadm's default owner of new records, never a loopback address:
   * the address of this host's interface on `network` (dotted) when it has one, else its
   * name's address, else its only non-loopback IPv4 address; otherwise an error saying to give
   * the server's address.
   */
  async serverAddress(network?: string): Promise<number> {
    if (this.options.serverAddress) return await this.options.serverAddress();
    const loopback = (ip: number) => ip >>> 24 === 127;
    const mine: { ip: number; mask: number }[] = [];
    for (const list of Object.values(this.options.interfaces?.() ?? os.networkInterfaces())) {
      for (const a of list ?? []) {
        const ip = a.family === "IPv4" ? parseIp(a.address) : undefined;
        const mask = parseNetmask(a.netmask);
        if (ip !== undefined && mask !== undefined && !a.internal && !loopback(ip)) {
          mine.push({ ip, mask });
        }
      }
    }
    const net = network === undefined ? undefined : parseIp(network);
    if (net !== undefined) {
      const mask = parseNetmask(this.netmaskFor(network ?? "")) ?? 0xffffffff;
      const on = mine.find((m) => ((m.ip & mask) >>> 0) === net);
      if (on) return on.ip;
    }
    const named = await this.resolveHost(os.hostname());
    if (named !== undefined && !loopback(named)) return named;
    if (mine.length === 1) return (mine[0] as { ip: number }).ip;
    throw new AdminError(
      `Cannot tell this server's address: ${
        mine.length === 0
          ? `its name ${os.hostname()} resolves to a loopback address and it has no other`
          : `it has no interface on network ${network ?? "?"} and several others`
      }; give the server's address (-s, or --server)`,
      ADMIN_EXIT.WARNING,
    );
  }

  /** A dotted address or a host name, as an address. */
  async resolveHost(text: string): Promise<number | undefined> {
    const ip = parseIp(text);
    if (ip !== undefined) return ip;
    return await (this.options.resolveHost ?? systemResolve)(text);
  }

  /**
   * Host names of addresses, for `pntadm -P -v` (dotted when unknown): each address resolved
   * once per session (cached), at most HOST_LOOKUP_CONCURRENCY at a time, each bounded in time
   * (a slow name server costs about a second per batch of lookups, not per address).
   */
  async hostNames(ips: Iterable<number>): Promise<Map<number, string>> {
    const lookup = this.options.hostName ?? systemHostName;
    const todo = [...new Set(ips)].filter((ip) => !this.#names.has(ip));
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const ip = todo[next++] as number;
        this.#names.set(ip, await bounded(lookup(ip).catch(() => undefined), 1500));
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(HOST_LOOKUP_CONCURRENCY, todo.length) }, worker),
    );
    const out = new Map<number, string>();
    for (const ip of ips) {
      const n = this.#names.get(ip);
      if (n) out.set(ip, n);
    }
    return out;
  }

  /**
   * A network operand: a dotted address, or a name from the networks(4) database. Returns the
   * dotted network.
   */
  resolveNetwork(text: string): string {
    if (parseIp(text) !== undefined) return text;
    const file = this.options.networksFile ?? "/etc/networks";
    let content = "";
    try {
      content = fs.readFileSync(file, "utf8").slice(0, 1024 * 1024);
    } catch { /* no database */ }
    for (const raw of content.split("\n")) {
      const words = raw.replace(/#.*/, "").trim().split(/\s+/);
      const [name, number, ...aliases] = words;
      if (!name || !number || (name !== text && !aliases.includes(text))) continue;
      const parts = number.split(".");
      while (parts.length < 4) parts.push("0");
      const dotted = parts.join(".");
      if (parseIp(dotted) !== undefined) return dotted;
    }
    throw new AdminError("Could not determine correct network table name.", ADMIN_EXIT.WARNING);
  }

  /** The netmasks files this session reads, steward's own first. */
  get netmasksFiles(): readonly string[] {
    return this.options.netmasksFiles ?? netmasksFiles(undefined, this.confFile);
  }

  /** Steward's own netmasks file, where `network create --netmask` records a network's mask. */
  get ownNetmasksFile(): string {
    return this.netmasksFiles[0] ?? netmasksFiles(undefined, this.confFile)[0] ?? "";
  }

  /**
   * The netmask of an address (dotted) when the command gives none, by the one rule of
   * lib/dhcp/netmasks.ts: the entry for the address itself, else for its classful network, in
   * steward's netmasks file or the system's, else the classful mask.
   */
  netmaskFor(network: string): string {
    return this.netmaskSource(network).mask;
  }

  /** {@link netmaskFor} and where the mask came from ("classful" or the netmasks file). */
  netmaskSource(network: string): { mask: string; source: string } {
    const net = parseIp(network);
    if (net === undefined) return { mask: "", source: "" };
    const found = findNetmask(net, this.netmasksFiles);
    return { mask: ipToString(found.mask), source: found.source };
  }

  /** The netmasks entry naming `network` (dotted) itself, and its file; undefined without one. */
  exactNetmask(network: string): { mask: string; source: string } | undefined {
    const net = parseIp(network);
    const found = net === undefined ? undefined : exactNetmask(net, this.netmasksFiles);
    return found && { mask: ipToString(found.mask), source: found.source };
  }

  /** Signal the DHCP server to reload (dhtadm -g). */
  async reloadServer(): Promise<void> {
    if (!this.options.reloadServer) {
      throw new DsvcError(DSVC.UNSUPPORTED, "no DHCP server to signal");
    }
    await this.options.reloadServer();
  }

  /** Close every store opened by the session. */
  /** Close, so that `await using` ends the session with its block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Close every store the session opened. */
  async close(): Promise<void> {
    const stores = [...this.#stores.values()];
    this.#stores.clear();
    for (const p of stores) {
      try {
        await (await p).close();
      } catch { /* it failed to open: nothing to close */ }
    }
  }
}
