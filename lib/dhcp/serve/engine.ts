/**
 * The DHCP protocol engine (RFC 2131 §4.3, upstream in.dhcpd dhcp.c and bootp.c): one request
 * in, at most one reply out, with the allocation done over the store. Which network a request
 * belongs to, the macro chain, lease times and RFC 2131 §4.1 reply addressing are decided here;
 * sockets are not (see socket.ts).
 * @module
 */
import { ipToString } from "../records.ts";
import {
  DHCP_PERM,
  DN_FAUTOMATIC,
  DN_FMANUAL,
  DN_FUNUSABLE,
  type DnRec,
  isDsvcError,
} from "../spi.ts";
import { Pool } from "./allocate.ts";
import { cidHex, classId, clientId } from "./clientid.ts";
import {
  type ClientOptions,
  clientOptions,
  type OptionTable,
  vendorOptionBytes,
} from "./options.ts";
import {
  BOOTP_MIN_SIZE,
  BROADCAST_FLAG,
  decodeRequest,
  DHCP,
  type DhcpRequest,
  encodeReply,
  maxReplySize,
  OPT,
  optionIp,
  PacketError,
} from "./packet.ts";
import { ServeStats } from "./stats.ts";

/** Upstream's lease when no LeaseTim is configured (DEFAULT_LEASE, seconds). */
export const DEFAULT_LEASE = 3600;

/** A network this server hands addresses out on. */
export interface ServedNetwork {
  pool: Pool;
  /** Dotted network, also the name of its network macro. */
  name: string;
  network: number;
  netmask: number;
  /** The server identifier (option 54) on this network. */
  serverId: number;
  /** Whether it is directly attached (clients broadcast to us) rather than only relayed. */
  direct: boolean;
}

/** Where a datagram came from. */
export interface Incoming {
  data: Uint8Array;
  address: string;
  port: number;
  /** The local address of the socket it arrived on, when that socket is bound to one. */
  local?: number;
}

/** A reply to send. */
export interface Outgoing {
  data: Uint8Array;
  address: string;
  port: number;
  /** Sent to a broadcast address (the socket layer may choose which). */
  broadcast: boolean;
  /** The served network, whose directed broadcast and interface the socket layer uses. */
  network: ServedNetwork;
  /** The local address to send from (the server identifier). */
  from: number;
}

/** A line the engine wants logged. */
export type EngineLog = (level: "debug" | "info" | "warn" | "error", message: string) => void;

/** Options of {@link Engine}. */
export interface EngineOptions {
  networks: readonly ServedNetwork[];
  table: OptionTable;
  /** Addresses that count as "this server" in option 54 (every server identifier, OWNER_IP). */
  serverIds: ReadonlySet<number>;
  /** RELAY_HOPS: requests with more hops are dropped (upstream default 4). */
  relayHops?: number;
  /** BOOTP_COMPAT=automatic: BOOTP clients get free BOOTP records permanently. */
  bootpAutomatic?: boolean;
  /** Seconds since the epoch (injectable for tests). */
  now?: () => number;
  log?: EngineLog;
  stats?: ServeStats;
}

const TYPE_NAMES = [
  "",
  "discover",
  "offer",
  "request",
  "decline",
  "ack",
  "nak",
  "release",
  "inform",
];
// Options the server itself owns: never copied from a macro.
const PROTOCOL_OPTIONS = new Set<number>([
  OPT.REQUESTED_IP,
  OPT.LEASE_TIME,
  OPT.OVERLOAD,
  OPT.MESSAGE_TYPE,
  OPT.SERVER_ID,
  OPT.PARAMETER_LIST,
  OPT.MESSAGE,
  OPT.MAX_MESSAGE_SIZE,
  OPT.T1,
  OPT.T2,
  OPT.CLIENT_ID,
  OPT.VENDOR_SPECIFIC,
  OPT.PAD,
  OPT.END,
]);

const TEXT = new TextEncoder();

function ipBytes(ip: number): Uint8Array {
  return Uint8Array.of(ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255);
}

function u32(v: Uint8Array | undefined): number | undefined {
  return v !== undefined && v.length === 4
    ? ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0
    : undefined;
}

function inNet(ip: number, n: ServedNetwork): boolean {
  return ((ip & n.netmask) >>> 0) === n.network;
}

type OptionList = readonly (readonly [number, Uint8Array])[];
/** The ordered macro options of a ClientOptions, by parameter request list and netmask. */
const ORDERED = new WeakMap<ClientOptions, Map<string, OptionList>>();
/** Most parameter request lists remembered per ClientOptions. */
const ORDERED_MAX = 64;

/**
 * The options of the client's macros in the order they go out: the subnet mask first (RFC 2132
 * §3.3: before the router option; the network's own if unset), then those of the parameter
 * request list in its order, then the others, then the vendor options (43). Made once per
 * combined options and request list: most clients of a network share both.
 */
function macroOptions(
  opts: ClientOptions,
  prl: Uint8Array | undefined,
  net: ServedNetwork,
): OptionList {
  let byPrl = ORDERED.get(opts);
  if (byPrl === undefined) ORDERED.set(opts, byPrl = new Map());
  let key = String(net.netmask);
  if (prl !== undefined) { for (const c of prl) key += `,${c}`; }
  const hit = byPrl.get(key);
  if (hit !== undefined) return hit;
  const o = opts.options;
  const list: [number, Uint8Array][] = [];
  list.push([OPT.SUBNET_MASK, o.get(OPT.SUBNET_MASK) ?? ipBytes(net.netmask)]);
  const done = new Set<number>([OPT.SUBNET_MASK]);
  for (const code of prl ?? []) {
    const v = o.get(code);
    if (v !== undefined && !done.has(code) && !PROTOCOL_OPTIONS.has(code)) {
      list.push([code, v]);
      done.add(code);
    }
  }
  for (const [code, v] of o) {
    if (!done.has(code) && !PROTOCOL_OPTIONS.has(code)) {
      list.push([code, v]);
      done.add(code);
    }
  }
  if (opts.vendor.size > 0) list.push([OPT.VENDOR_SPECIFIC, vendorOptionBytes(opts.vendor)]);
  if (byPrl.size >= ORDERED_MAX) byPrl.clear();
  byPrl.set(key, list);
  return list;
}

/** A request with what the engine derived from it. */
interface Ctx {
  req: DhcpRequest;
  cid: Uint8Array;
  cidText: string;
  classId: string | undefined;
  net: ServedNetwork;
  serverId: number;
  now: number;
}

/** The protocol engine. */
export class Engine {
  readonly stats: ServeStats;
  #o: EngineOptions;
  #table: OptionTable;
  #log: EngineLog;
  #relayHops: number;
  #lastWarn = new Map<string, number>();

  constructor(options: EngineOptions) {
    this.#o = options;
    this.#table = options.table;
    this.#log = options.log ?? (() => {});
    this.stats = options.stats ?? new ServeStats();
    this.#relayHops = options.relayHops ?? 4;
  }

  /** The networks served. */
  get networks(): readonly ServedNetwork[] {
    return this.#o.networks;
  }

  /** Replace the dhcptab (SIGHUP, RESCAN_INTERVAL) and forget cached candidates. */
  setTable(table: OptionTable): void {
    this.#table = table;
    for (const n of this.#o.networks) n.pool.invalidate();
  }

  #now(): number {
    return Math.floor(this.#o.now?.() ?? Date.now() / 1000);
  }

  #drop(reason: string): undefined {
    ServeStats.bump(this.stats.drops, reason);
    return undefined;
  }

  // At most one line a minute per key, so a flood cannot flood the log.
  #warnOnce(key: string, message: string, level: "warn" | "info" = "warn"): void {
    const t = Date.now();
    if ((this.#lastWarn.get(key) ?? 0) + 60_000 > t) return;
    if (this.#lastWarn.size > 10_000) this.#lastWarn.clear();
    this.#lastWarn.set(key, t);
    this.#log(level, message);
  }

  /** Handle one datagram; resolves to the reply to send, if any. Never throws. */
  async handle(inc: Incoming): Promise<Outgoing | undefined> {
    this.stats.received++;
    let req: DhcpRequest;
    try {
      req = decodeRequest(inc.data, Math.min(16, this.#relayHops));
    } catch (e) {
      if (e instanceof PacketError) return this.#drop(e.reason);
      return this.#drop("decode");
    }
    const type = req.messageType;
    ServeStats.bump(this.stats.requests, type === undefined ? "bootp" : TYPE_NAMES[type]!);
    if (type === DHCP.OFFER || type === DHCP.ACK || type === DHCP.NAK) return this.#drop("type");
    try {
      const ctx = await this.#context(req, inc);
      if (!ctx) return undefined;
      for (const n of this.#o.networks) n.pool.purge(ctx.now);
      switch (type) {
        case undefined:
          return await this.#bootp(ctx);
        case DHCP.DISCOVER:
          return await this.#discover(ctx);
        case DHCP.REQUEST:
          return await this.#request(ctx);
        case DHCP.DECLINE:
        case DHCP.RELEASE:
          await this.#decline(ctx, type === DHCP.DECLINE);
          return undefined;
        case DHCP.INFORM:
          return this.#inform(ctx);
      }
      return this.#drop("type");
    } catch (e) {
      const code = isDsvcError(e) ? e.codeName : "internal";
      ServeStats.bump(this.stats.errors, `store:${code}`);
      this.#warnOnce(`err:${code}`, `Cannot answer a request: ${(e as Error).message}`);
      return undefined;
    }
  }

  async #context(req: DhcpRequest, inc: Incoming): Promise<Ctx | undefined> {
    const nets = this.#o.networks;
    let net: ServedNetwork | undefined;
    const cid = clientId(req);
    if (req.giaddr !== 0) {
      net = nets.find((n) => inNet(req.giaddr, n));
      if (!net) return this.#drop("giaddr");
    } else if (req.ciaddr !== 0 && nets.some((n) => inNet(req.ciaddr, n))) {
      // A client with an address, also on a relayed network: RENEWING is unicast to the server.
      net = nets.find((n) => inNet(req.ciaddr, n));
    } else if (inc.local !== undefined && nets.some((n) => n.direct && inNet(inc.local!, n))) {
      net = nets.find((n) => n.direct && inNet(inc.local!, n));
    } else {
      const direct = nets.filter((n) => n.direct);
      if (direct.length === 1) net = direct[0];
      else if (direct.length > 1) {
        // Several directly attached networks and no way to tell the arrival interface: the
        // client's own record decides, if it has one on exactly one of them.
        const found: ServedNetwork[] = [];
        for (const n of direct) {
          if (await n.pool.existing(cid, req.messageType === undefined)) found.push(n);
        }
        if (found.length === 1) net = found[0];
        else {
          this.#warnOnce(
            "ambiguous",
            "A broadcast from an unconfigured client cannot be placed on one of several directly attached networks: configure one interface per server or use a relay",
          );
          return this.#drop("ambiguous");
        }
      }
    }
    if (!net) return this.#drop("nonetwork");
    const serverId = !net.direct && inc.local !== undefined ? inc.local : net.serverId;
    return {
      req,
      cid,
      cidText: cidHex(cid),
      classId: classId(req),
      net,
      serverId,
      now: this.#now(),
    };
  }

  #options(ctx: Ctx, macro: string | undefined): ClientOptions {
    // A client with a macro of its own (named by its client ID) has a chain nobody else shares:
    // combine it afresh; every other client of a network and record macro shares one, cached.
    const t = this.#table;
    return t.hasMacro(ctx.cidText)
      ? clientOptions(t, [ctx.classId, ctx.net.name, macro, ctx.cidText], ctx.classId)
      : t.chainOptions([ctx.classId, ctx.net.name, macro], ctx.classId);
  }

  /** upstream config_lease: the relative lease to give. */
  #lease(ctx: Ctx, rec: DnRec, opts: ClientOptions, oldLease: number, negot: boolean): number {
    const policy = u32(opts.options.get(OPT.LEASE_TIME)) ?? DEFAULT_LEASE;
    if (rec.flags & DN_FAUTOMATIC) return DHCP_PERM;
    if (!negot) return oldLease !== 0 ? oldLease : policy;
    const cap = oldLease > policy ? oldLease : policy;
    const asked = u32(ctx.req.options.get(OPT.LEASE_TIME));
    return asked !== undefined && asked < cap ? asked : cap;
  }

  #reply(
    ctx: Ctx,
    type: number,
    yiaddr: number,
    opts: ClientOptions | undefined,
    lease: number | undefined,
    message?: string,
  ): Outgoing {
    const { req, net } = ctx;
    const list: (readonly [number, Uint8Array])[] = [];
    const bootp = type === 0;
    if (!bootp) {
      list.push([OPT.MESSAGE_TYPE, Uint8Array.of(type)]);
      list.push([OPT.SERVER_ID, ipBytes(ctx.serverId)]);
    }
    if (lease !== undefined) {
      list.push([OPT.LEASE_TIME, ipBytes(lease)]);
      if (lease !== DHCP_PERM) {
        const t1c = u32(opts?.options.get(OPT.T1));
        const t2c = u32(opts?.options.get(OPT.T2));
        const t2 = t2c !== undefined && t2c < lease ? t2c : Math.floor(lease * 7 / 8);
        const t1 = t1c !== undefined && t1c < t2 ? t1c : Math.min(Math.floor(lease / 2), t2);
        list.push([OPT.T1, ipBytes(t1)], [OPT.T2, ipBytes(t2)]);
      }
    }
    if (message !== undefined) list.push([OPT.MESSAGE, TEXT.encode(message)]);
    if (opts) {
      for (const e of macroOptions(opts, req.options.get(OPT.PARAMETER_LIST), net)) list.push(e);
      if (opts.echoVendorClass && req.options.has(OPT.CLASS_ID)) {
        list.push([OPT.CLASS_ID, req.options.get(OPT.CLASS_ID)!]);
      }
    }
    let flags = req.flags & BROADCAST_FLAG;
    if (type === DHCP.NAK && req.giaddr !== 0) flags |= BROADCAST_FLAG;
    const { bytes, dropped } = encodeReply({
      xid: req.xid,
      flags,
      htype: req.htype,
      hlen: req.hlen,
      chaddr: req.chaddr,
      ciaddr: type === DHCP.NAK ? 0 : req.ciaddr,
      yiaddr,
      siaddr: opts?.siaddr ?? 0,
      giaddr: req.giaddr,
      ...(opts?.sname ? { sname: opts.sname } : {}),
      ...(opts?.file ? { file: opts.file } : {}),
      options: list,
      bootp,
    }, bootp ? Math.max(BOOTP_MIN_SIZE, 576) : maxReplySize(req));
    if (dropped.length > 0) {
      ServeStats.bump(this.stats.drops, "option-room", dropped.length);
      this.#warnOnce(
        `room:${net.name}`,
        `Options ${dropped.join(", ")} do not fit in a reply on ${net.name}; left out`,
        "info",
      );
    }
    ServeStats.bump(this.stats.replies, bootp ? "bootreply" : TYPE_NAMES[type]!);
    return {
      ...this.#destination(ctx, type, yiaddr),
      data: bytes,
      network: net,
      from: ctx.serverId,
    };
  }

  /** RFC 2131 §4.1 addressing. */
  #destination(
    ctx: Ctx,
    type: number,
    yiaddr: number,
  ): Pick<Outgoing, "address" | "port" | "broadcast"> {
    const { req } = ctx;
    if (req.giaddr !== 0) return { address: ipToString(req.giaddr), port: 67, broadcast: false };
    if (type === DHCP.NAK) return { address: "255.255.255.255", port: 68, broadcast: true };
    if (req.ciaddr !== 0) return { address: ipToString(req.ciaddr), port: 68, broadcast: false };
    // Unicast to yiaddr needs an ARP entry the server cannot make from node:dgram: broadcast
    // (RFC 2131 §4.1 allows it when unicast is not possible).
    void yiaddr;
    return { address: "255.255.255.255", port: 68, broadcast: true };
  }

  async #discover(ctx: Ctx): Promise<Outgoing | undefined> {
    const { net, cid, now } = ctx;
    const pool = net.pool;
    let rec: DnRec | undefined;
    let oldLease = 0;
    const offered = pool.offer(cid, now, ctx.cidText);
    if (offered) rec = offered.rec;
    else {
      const own = await pool.existing(cid, false);
      if (own === null) {
        this.#log(
          "info",
          `Client ${ctx.cidText} has a MANUAL record on ${net.name} that cannot be used; no other address is offered`,
        );
        return this.#drop("manual");
      }
      if (own) {
        rec = own;
        oldLease = own.lease === DHCP_PERM || (own.flags & DN_FAUTOMATIC)
          ? DHCP_PERM
          : Math.max(0, own.lease - now);
      } else {
        rec = await pool.select(cid, now, {
          requested: optionIp(ctx.req, OPT.REQUESTED_IP) ?? -1,
          bootp: false,
          key: ctx.cidText,
        });
      }
    }
    if (!rec) {
      this.stats.exhausted++;
      this.#warnOnce(
        `exhausted:${net.name}`,
        `No more IP addresses on ${net.name} network (${ctx.cidText})`,
      );
      return this.#drop("exhausted");
    }
    const opts = this.#options(ctx, rec.macro);
    const lease = this.#lease(ctx, rec, opts, offered ? offered.lease : oldLease, true);
    pool.reserve(cid, rec, lease, now, ctx.cidText);
    return this.#reply(ctx, DHCP.OFFER, rec.cip, opts, lease);
  }

  #nak(ctx: Ctx, message: string): Outgoing {
    return this.#reply(ctx, DHCP.NAK, 0, undefined, undefined, message);
  }

  async #request(ctx: Ctx): Promise<Outgoing | undefined> {
    const { req, net, cid, now } = ctx;
    const pool = net.pool;
    const sidOpt = req.options.get(OPT.SERVER_ID);
    const requested = optionIp(req, OPT.REQUESTED_IP);
    let rec: DnRec;
    let oldLease: number;
    let selecting = false;
    if (sidOpt !== undefined) {
      const sid = u32(sidOpt);
      if (sid === undefined) return this.#drop("serverid");
      if (requested === undefined) return this.#drop("norequested");
      if (!this.#o.serverIds.has(sid) && sid !== ctx.serverId) {
        pool.dropOffer(cid, ctx.cidText);
        return this.#drop("otherserver");
      }
      const offer = pool.offer(cid, now, ctx.cidText);
      if (!offer) return this.#drop("nooffer");
      if (offer.rec.cip !== requested) return this.#drop("notoffered");
      selecting = true;
      rec = offer.rec;
      oldLease = offer.lease;
    } else {
      let claddr: number;
      let own: DnRec | null | undefined;
      if (req.ciaddr === 0) {
        if (requested === undefined) return this.#drop("norequested");
        claddr = requested;
        own = await pool.existing(cid, false);
      } else {
        claddr = req.ciaddr;
        own = await pool.existing(cid, false, req.ciaddr);
      }
      if (own === null) return this.#drop("manual");
      if (!own) {
        if (req.ciaddr !== 0) {
          this.#warnOnce(
            `renew:${ctx.cidText}`,
            `Client ${ctx.cidText} is trying to renew ${
              ipToString(req.ciaddr)
            }, an IP address it has not leased`,
            "info",
          );
          return this.#drop("unleased");
        }
        if (inNet(claddr, net)) return this.#drop("unrecorded");
        return this.#nak(ctx, `No valid configuration exists on network: ${net.name}`);
      }
      if (claddr !== own.cip) return this.#nak(ctx, "Incorrect IP address.");
      if (!(own.flags & DN_FAUTOMATIC) && own.lease !== DHCP_PERM && own.lease < now) {
        return this.#nak(ctx, "Lease has expired.");
      }
      rec = own;
      oldLease = own.lease === DHCP_PERM || (own.flags & DN_FAUTOMATIC)
        ? DHCP_PERM
        : own.lease - now;
    }
    const opts = this.#options(ctx, rec.macro);
    const lease = this.#lease(ctx, rec, opts, oldLease, opts.leaseNeg);
    const leaseEnd = lease === DHCP_PERM ? DHCP_PERM : now + lease;
    let given = lease;
    if (selecting || oldLease !== lease) {
      const stored = await pool.write(rec, Pool.bind(rec, cid, leaseEnd), (cur) => {
        this.stats.collisions++;
        return pool.bindable(cur, cid, now, false) ? Pool.bind(cur, cid, leaseEnd) : undefined;
      }).catch((e: unknown) => {
        ServeStats.bump(this.stats.errors, `write:${isDsvcError(e) ? e.codeName : "internal"}`);
        this.#warnOnce(
          `write:${net.name}`,
          `Cannot write the lease of ${ipToString(rec.cip)}: ${(e as Error).message}`,
        );
        return undefined;
      });
      if (!stored) {
        pool.dropOffer(cid, ctx.cidText);
        // Upstream: a client verifying or extending still gets its old lease; a new one nothing.
        if (selecting) return this.#drop("writefailed");
        given = oldLease;
      } else {
        if (selecting) this.stats.leases++;
        rec = stored;
      }
    }
    pool.dropOffer(cid, ctx.cidText);
    return this.#reply(ctx, DHCP.ACK, rec.cip, opts, given);
  }

  async #decline(ctx: Ctx, decline: boolean): Promise<void> {
    const { req, net, cid } = ctx;
    const ip = decline ? optionIp(req, OPT.REQUESTED_IP) : req.ciaddr;
    net.pool.dropOffer(cid, ctx.cidText);
    if (ip === undefined || ip === 0 || !inNet(ip, net)) {
      this.#drop(decline ? "decline-noaddr" : "release-noaddr");
      return;
    }
    const rec = await net.pool.existing(cid, false, ip);
    if (!rec) {
      this.#drop(decline ? "decline-unknown" : "release-unknown");
      return;
    }
    if (!decline && (rec.flags & DN_FMANUAL)) {
      this.#log(
        "warn",
        `Client ${ctx.cidText} is trying to RELEASE manual address: ${ipToString(ip)}`,
      );
      return;
    }
    const change = (cur: DnRec): DnRec => {
      const n = { ...cur, cid: cur.cid.slice() };
      if (decline) n.flags |= DN_FUNUSABLE;
      if (!(n.flags & DN_FMANUAL)) {
        n.cid = Uint8Array.of(0);
        n.lease = 0;
      }
      return n;
    };
    const done = await net.pool.write(
      rec,
      change(rec),
      (cur) =>
        cur.cid.length === cid.length && cur.cid.every((b, i) => b === cid[i])
          ? change(cur)
          : undefined,
    );
    if (decline) {
      this.stats.declines++;
      this.#log(
        "warn",
        `Client ${ctx.cidText} DECLINED address: ${ipToString(ip)}${
          done ? "; marked UNUSABLE" : ""
        }`,
      );
    } else if (done) this.stats.releases++;
  }

  #inform(ctx: Ctx): Outgoing | undefined {
    if (ctx.req.ciaddr === 0) return this.#drop("inform-noaddr");
    const t = this.#table;
    const opts = t.hasMacro(ctx.cidText)
      ? clientOptions(t, [ctx.classId, ctx.net.name, ctx.cidText], ctx.classId)
      : t.chainOptions([ctx.classId, ctx.net.name], ctx.classId);
    return this.#reply(ctx, DHCP.ACK, 0, opts, undefined);
  }

  async #bootp(ctx: Ctx): Promise<Outgoing | undefined> {
    const { net, cid, now } = ctx;
    let rec = await net.pool.existing(cid, true, ctx.req.ciaddr !== 0 ? ctx.req.ciaddr : undefined);
    if (rec === null) return this.#drop("manual");
    if (!rec) {
      if (!this.#o.bootpAutomatic) return this.#drop("bootp-unknown");
      const free = await net.pool.select(cid, now, { bootp: true });
      if (!free) {
        this.stats.exhausted++;
        this.#warnOnce(
          `bexhausted:${net.name}`,
          `No more BOOTP IP addresses for ${net.name} network (${ctx.cidText})`,
        );
        return this.#drop("exhausted");
      }
      const stored = await net.pool.write(
        free,
        Pool.bind(free, cid, DHCP_PERM),
        (cur) =>
          net.pool.bindable(cur, cid, now, true) ? Pool.bind(cur, cid, DHCP_PERM) : undefined,
      ).finally(() => net.pool.dropOffer(cid, ctx.cidText));
      if (!stored) return this.#drop("writefailed");
      this.stats.leases++;
      rec = stored;
    }
    const opts = this.#options(ctx, rec.macro);
    return this.#reply(ctx, 0, rec.cip, opts, undefined);
  }
}
