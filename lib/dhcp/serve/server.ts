/**
 * The DHCP server process (`steward dhcp serve`): opens the configured store and the networks
 * it serves, loads the dhcptab, binds the sockets, drops privileges, and wires datagrams to the
 * engine with a bound on requests in flight. SIGHUP reopens the log and reloads the dhcptab;
 * SIGTERM stops receiving and exits once the requests in flight are answered. A status file and
 * an optional Prometheus endpoint report the counters.
 * @module
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { writeFileAtomic } from "../../platform/atomic.ts";
import { defaultRunDir } from "../../platform/rundir.ts";
import { fileSink, Logger, type LogSink, stderrSink } from "../../log/logger.ts";
import { datastoreFromConf, readDhcpsvcConf } from "../conf.ts";
import { findNetmask, netmasksFiles } from "../netmasks.ts";
import { ipToString, parseIp } from "../records.ts";
import { DSVC, DSVC_READ, DSVC_WRITE, DsvcError, qinit } from "../spi.ts";
import type { DhcpStore, DhcpStoreOptions } from "../store-api.ts";
import { openStore } from "../store.ts";
import { Pool } from "./allocate.ts";
import { type ServeConfig, serveConfig } from "./config.ts";
import { Engine, type Incoming, type ServedNetwork } from "./engine.ts";
import { OptionTable } from "./options.ts";
import { openSockets, type ServerSockets } from "./socket.ts";
import { ServeStats } from "./stats.ts";

/** How long SIGTERM waits for requests in flight. */
export const STOP_DEADLINE_MS = 5000;
/** How often the status file is rewritten. */
export const STATUS_INTERVAL_MS = 1000;

/** Options of {@link runServer}. */
export interface RunServerOptions {
  /** The dhcpsvc.conf naming the store and the server's settings. */
  confFile: string;
  /** How the store is opened (lock manager, module directories). */
  store?: DhcpStoreOptions;
  /** Pid file (signalled by `dhtadm -g`); undefined: none. */
  pidFile?: string;
  /** Status file; default <run dir>/dhcpd.status.json. */
  statusFile?: string;
  /** Called once the sockets are bound and privileges dropped. */
  onReady?: (info: { networks: string[] }) => void;
  /** Stops the server (as SIGTERM does). */
  signal?: AbortSignal;
}

/** The status file's default path. */
export function defaultStatusFile(): string {
  return path.join(defaultRunDir(), "dhcpd.status.json");
}

interface Iface {
  name: string;
  address: number;
  netmask: number;
}

function interfaceAddresses(names: readonly string[]): Iface[] {
  const all = os.networkInterfaces();
  return names.map((name) => {
    const v4 = (all[name] ?? []).find((a) => a.family === "IPv4" && !a.internal) ??
      (all[name] ?? []).find((a) => a.family === "IPv4");
    if (!v4) {
      throw new DsvcError(DSVC.INVAL, `INTERFACES names ${name}, which has no IPv4 address`);
    }
    return { name, address: parseIp(v4.address)!, netmask: parseIp(v4.netmask)! };
  });
}

async function loadTable(store: DhcpStore, log: Logger): Promise<OptionTable> {
  const names = await store.listDhcptab();
  if (names.length === 0) {
    log.warn("The store has no dhcptab: replies carry no options beyond the lease");
    return new OptionTable([]);
  }
  const dt = await store.openDhcptab(DSVC_READ);
  try {
    const { records } = await dt.lookup(qinit(), {});
    const t = new OptionTable(records);
    for (const p of t.problems.slice(0, 20)) log.warn(`dhcptab: ${p}`);
    return t;
  } finally {
    await dt.close();
  }
}

/** The uid and primary gid of `user`, through id(1) (so that NSS sources count). */
function lookupUser(user: string): { uid: number; gid: number } {
  const id = (flag: string) => {
    const r = spawnSync("id", [flag, user], { encoding: "utf8", timeout: 5000 });
    const n = Number(r.stdout.trim());
    if (r.status !== 0 || !Number.isInteger(n)) {
      throw new DsvcError(DSVC.INVAL, `STEWARD_SERVE_USER names an unknown user: ${user}`);
    }
    return n;
  };
  return { uid: id("-u"), gid: id("-g") };
}

function dropPrivileges(user: string, ids: { uid: number; gid: number }): void {
  const p = process as unknown as {
    setgid?: (id: number) => void;
    setuid?: (id: number) => void;
    setgroups?: (groups: number[]) => void;
    initgroups?: (u: string, g: number) => void;
  };
  if (typeof p.setuid !== "function" || typeof p.setgid !== "function") {
    throw new DsvcError(
      DSVC.UNSUPPORTED,
      "this runtime cannot switch users: leave STEWARD_SERVE_USER unset and let the service manager do it",
    );
  }
  try {
    if (typeof p.initgroups === "function") p.initgroups(user, ids.gid);
    else p.setgroups?.([ids.gid]);
    p.setgid(ids.gid);
    p.setuid(ids.uid);
  } catch (e) {
    throw new DsvcError(DSVC.ACCESS, `cannot switch to user ${user}: ${(e as Error).message}`);
  }
}

/** Run the server until SIGTERM/SIGINT (or `signal`); resolves after a clean stop. */
export async function runServer(o: RunServerOptions): Promise<void> {
  const conf = await readDhcpsvcConf(o.confFile);
  const cfg: ServeConfig = serveConfig(conf);
  let sink: LogSink & { close?: () => void } = cfg.logFile ? fileSink(cfg.logFile) : stderrSink;
  const log = new Logger("dhcpd", { level: cfg.verbose ? "debug" : "info", sink });
  const stats = new ServeStats();
  const store = await openStore(datastoreFromConf(conf), o.store ?? {});
  let sockets: ServerSockets | undefined;
  let metrics: http.Server | undefined;
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let rescanTimer: ReturnType<typeof setInterval> | undefined;
  const cleanup: (() => void)[] = [];
  try {
    const ifaces = interfaceAddresses(cfg.interfaces);
    const containers = new Set(await store.listNetworks());
    const defaultSid = cfg.serverId ?? ifaces[0]?.address ?? cfg.ownerIps[0];
    if (defaultSid === undefined) {
      throw new DsvcError(
        DSVC.INVAL,
        "no server identifier: set INTERFACES, STEWARD_SERVE_SERVER_ID or OWNER_IP",
      );
    }
    const owners = new Set<number>([defaultSid, ...cfg.ownerIps, ...ifaces.map((i) => i.address)]);
    const poolOptions = { owners, offerTimeout: cfg.offerTimeout, cacheTimeout: cfg.cacheTimeout };
    const networks: ServedNetwork[] = [];
    const add = async (net: number, mask: number, sid: number, direct: boolean) => {
      const name = ipToString(net);
      if (networks.some((n) => n.network === net)) return;
      if (!containers.has(name)) {
        throw new DsvcError(
          DSVC.NO_TABLE,
          `no network container ${name} in the store (create it with 'steward dhcp network create ${name}')`,
        );
      }
      const c = await store.openNetwork(name, DSVC_READ | DSVC_WRITE, {
        netmask: ipToString(mask),
      });
      networks.push({
        pool: new Pool(c, poolOptions),
        name,
        network: net,
        netmask: mask,
        serverId: sid,
        direct,
      });
    };
    for (const i of ifaces) await add((i.address & i.netmask) >>> 0, i.netmask, i.address, true);
    if (cfg.networks) {
      for (const s of cfg.networks) await add(s.network, s.netmask, defaultSid, false);
    } else {
      for (const name of containers) {
        const net = parseIp(name)!;
        if (!networks.some((n) => n.network === net)) {
          // The one netmask rule (netmasks files, else classful), as the admin commands.
          await add(
            net,
            findNetmask(net, netmasksFiles(undefined, o.confFile)).mask,
            defaultSid,
            false,
          );
        }
      }
    }
    if (networks.length === 0) throw new DsvcError(DSVC.INVAL, "no network to serve");
    const engine = new Engine({
      networks,
      table: await loadTable(store, log),
      serverIds: owners,
      relayHops: cfg.relayHops,
      bootpAutomatic: cfg.bootpAutomatic,
      stats,
      log: (level, m) => log.log(level, m),
    });

    let inflight = 0;
    let stopping = false;
    let idle: (() => void) | undefined;
    const chains = new Map<string, Promise<void>>();
    const sendErrors = new Map<string, number>();
    const answer = async (inc: Incoming): Promise<void> => {
      const out = await engine.handle(inc);
      if (out && sockets) {
        await sockets.send(out).catch((e: NodeJS.ErrnoException) => {
          ServeStats.bump(stats.errors, `send:${e.code ?? "error"}`);
          const k = `${e.code}:${out.address}`;
          if (!sendErrors.has(k) && sendErrors.size < 100) {
            sendErrors.set(k, 1);
            log.error(`Cannot send a reply to ${out.address}:${out.port}: ${e.message}`);
          }
        });
      }
    };
    const onMessage = (inc: Incoming) => {
      if (stopping) return;
      if (inflight >= cfg.maxInflight) {
        stats.received++;
        ServeStats.bump(stats.drops, "busy");
        return;
      }
      inflight++;
      // Requests of one hardware address are answered in order; others run side by side.
      const d = inc.data;
      const key = d.length >= 44
        ? Buffer.from(d.buffer, d.byteOffset + 28, 16).toString("latin1")
        : "";
      const prev = chains.get(key);
      // The common case, nothing of this client in flight, starts at once (no extra promise hop).
      const next = (prev === undefined ? answer(inc) : prev.then(() => answer(inc))).finally(() => {
        inflight--;
        if (chains.get(key) === next) chains.delete(key);
        if (inflight === 0 && idle) idle();
      });
      chains.set(key, next);
    };
    sockets = await openSockets({
      port: cfg.port,
      listen: cfg.listen,
      addresses: ifaces.map((i) => i.address),
      broadcast: cfg.broadcast,
      onMessage,
      onError: (e) => {
        ServeStats.bump(stats.errors, "socket");
        log.error(`Socket error: ${e.message}`);
      },
    });
    if (o.pidFile) {
      await fsp.writeFile(o.pidFile, `${process.pid}\n`, { mode: 0o644 });
      // After a switch of user the pid file may not be ours to remove: leave it then.
      cleanup.push(() => {
        try {
          fs.rmSync(o.pidFile!, { force: true });
        } catch { /* a stale pid file names a dead process; dhtadm -g then says so */ }
      });
    }
    if (cfg.metrics) {
      metrics = http.createServer((req, res) => {
        if (req.url !== "/metrics") {
          res.writeHead(404).end("Not found\n");
          return;
        }
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(stats.prometheus());
      });
      metrics.requestTimeout = 5000;
      metrics.headersTimeout = 5000;
      metrics.maxConnections = 16;
      await new Promise<void>((resolve, reject) => {
        metrics!.once("error", reject);
        metrics!.listen(cfg.metrics!.port, cfg.metrics!.host, () => resolve());
      });
    }
    const statusFile = o.statusFile ?? defaultStatusFile();
    await fsp.mkdir(path.dirname(statusFile), { recursive: true, mode: 0o755 }).catch(() => {});
    if (cfg.user) {
      // The status file is made now and given to the user, who may not write its directory:
      // then it is rewritten in place instead of replaced.
      const ids = lookupUser(cfg.user);
      // One lookup per network first: the lock manager's connection (in root's run directory)
      // is opened now, while it can be, and kept.
      for (const n of networks) await n.pool.container.lookup(qinit(), {}, { count: 1 });
      await fsp.writeFile(statusFile, "{}\n", { mode: 0o644 });
      await fsp.chown(statusFile, ids.uid, ids.gid).catch(() => {});
      dropPrivileges(cfg.user, ids);
    }
    const history: { t: number; leases: number; received: number }[] = [];
    const writeStatus = async (state: string) => {
      const t = Date.now();
      history.push({ t, leases: stats.leases, received: stats.received });
      while (history.length > 11) history.shift();
      const first = history[0]!;
      const dt = Math.max(1, (t - first.t) / 1000);
      const body = {
        pid: process.pid,
        state,
        updated: new Date(t).toISOString(),
        store: { resource: store.datastore.resource, location: store.datastore.location },
        networks: networks.map((n) => ({
          network: `${n.name}/${ipToString(n.netmask)}`,
          serverId: ipToString(n.serverId),
          direct: n.direct,
          offersHeld: n.pool.offers,
        })),
        rates: {
          leasesPerSecond: Math.round((stats.leases - first.leases) / dt * 10) / 10,
          requestsPerSecond: Math.round((stats.received - first.received) / dt * 10) / 10,
        },
        inflight,
        ...stats.toJSON(),
      };
      const text = JSON.stringify(body, null, 2) + "\n";
      await writeFileAtomic(statusFile, text)
        .catch(() => fsp.writeFile(statusFile, text))
        .catch(() => ServeStats.bump(stats.errors, "status-file"));
    };
    let statusBusy = false;
    // The periodic write in progress: "stopped" waits for it, so that it cannot land after.
    let statusWrite: Promise<void> = Promise.resolve();
    statusTimer = setInterval(() => {
      if (statusBusy) return;
      statusBusy = true;
      statusWrite = writeStatus("running").finally(() => (statusBusy = false));
    }, STATUS_INTERVAL_MS);
    await writeStatus("running");

    const reload = async (why: string) => {
      try {
        engine.setTable(await loadTable(store, log));
        log.info(`Reloaded the dhcptab (${why})`);
      } catch (e) {
        ServeStats.bump(stats.errors, "reload");
        log.error(`Cannot reload the dhcptab, keeping the old one: ${(e as Error).message}`);
      }
    };
    if (cfg.rescanMinutes > 0) {
      rescanTimer = setInterval(() => void reload("RESCAN_INTERVAL"), cfg.rescanMinutes * 60_000);
    }
    const onHup = () => {
      if (cfg.logFile) {
        const old = sink;
        try {
          sink = fileSink(cfg.logFile);
          log.sink = sink;
          old.close?.();
        } catch (e) {
          log.error(`Cannot reopen ${cfg.logFile}: ${(e as Error).message}`);
        }
      }
      void reload("SIGHUP");
    };
    process.on("SIGHUP", onHup);
    cleanup.push(() => process.off("SIGHUP", onHup));
    log.info(
      `Serving ${
        networks.map((n) => `${n.name}/${ipToString(n.netmask)}${n.direct ? " (direct)" : ""}`)
          .join(", ")
      } on port ${cfg.port} from ${store.datastore.resource}:${store.datastore.location}`,
    );
    o.onReady?.({ networks: networks.map((n) => n.name) });

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      o.signal?.addEventListener("abort", stop, { once: true });
      cleanup.push(() => {
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
      });
    });
    stopping = true;
    log.info(`Stopping: ${inflight} request(s) in flight`);
    if (inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_DEADLINE_MS);
        idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await sockets.close();
    sockets = undefined;
    clearInterval(statusTimer);
    statusTimer = undefined;
    await statusWrite;
    await writeStatus("stopped");
    log.info("Stopped");
  } finally {
    if (statusTimer) clearInterval(statusTimer);
    if (rescanTimer) clearInterval(rescanTimer);
    await sockets?.close().catch(() => {});
    metrics?.close();
    for (const c of cleanup) c();
    await store.close();
    sink.close?.();
  }
}
