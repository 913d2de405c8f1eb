/**
 * Helpers of the dhcp serve tests: a SUNWfiles store in a temporary directory with a dhcptab
 * and network tables, requests built as a client would, and replies decoded.
 * @internal
 */
import { cidFromHex, makeDnRec, makeDtRec, parseIp } from "../../../lib/dhcp/records.ts";
import {
  type DnRec,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_WRITE,
  type DtRec,
} from "../../../lib/dhcp/spi.ts";
import type { DhcpStore, DnContainer } from "../../../lib/dhcp/store-api.ts";
import { openStore } from "../../../lib/dhcp/store.ts";
import { Pool } from "../../../lib/dhcp/serve/allocate.ts";
import { Engine, type EngineOptions, type ServedNetwork } from "../../../lib/dhcp/serve/engine.ts";
import { OptionTable } from "../../../lib/dhcp/serve/options.ts";
import {
  decodeRequest,
  DHCP,
  type DhcpRequest,
  encodeRequest,
  OPT,
} from "../../../lib/dhcp/serve/packet.ts";

/** 10.0.0.1 → number. */
export function ip(s: string): number {
  const v = parseIp(s);
  if (v === undefined) throw new Error(`bad address ${s}`);
  return v;
}

/** A MAC address as 6 bytes from a small number. */
export function mac(n: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/** What a test request carries. */
export interface RequestSpec {
  type?: number;
  mac?: Uint8Array;
  xid?: number;
  ciaddr?: number;
  giaddr?: number;
  flags?: number;
  hops?: number;
  options?: [number, Uint8Array | number[]][];
}

/** A request as a client sends it (message type first). */
export function request(spec: RequestSpec): Uint8Array {
  const hw = spec.mac ?? mac(1);
  const chaddr = new Uint8Array(16);
  chaddr.set(hw);
  const options: [number, Uint8Array][] = [];
  if (spec.type !== undefined) options.push([OPT.MESSAGE_TYPE, Uint8Array.of(spec.type)]);
  for (const [c, v] of spec.options ?? []) options.push([c, Uint8Array.from(v)]);
  return encodeRequest({
    xid: spec.xid ?? 0x1234,
    flags: spec.flags ?? 0,
    htype: 1,
    hlen: hw.length,
    chaddr,
    ciaddr: spec.ciaddr ?? 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: spec.giaddr ?? 0,
    options,
    hops: spec.hops ?? 0,
  });
}

/** 4 bytes of an address. */
export function ipb(s: string): number[] {
  const v = ip(s);
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

/** A test store with one or more networks. */
export interface TestServer extends AsyncDisposable {
  store: DhcpStore;
  engine: Engine;
  networks: ServedNetwork[];
  container(name: string): DnContainer;
  /** Every record of a network. */
  records(name: string): Promise<DnRec[]>;
  clock: { now: number };
  logs: string[];
}

/** Network definitions of {@link testServer}. */
export interface NetSpec {
  name: string;
  mask: string;
  serverId: string;
  direct: boolean;
  /** Addresses (last octet ranges are given as full addresses) to create as free records. */
  addresses: string[];
  macro?: string;
}

/** A store in `dir` with the given dhcptab and networks, and an engine over it. */
export async function testServer(
  dir: string,
  o: {
    dhcptab?: [string, "m" | "s", string][];
    networks: NetSpec[];
    records?: { net: string; rec: Partial<DnRec> & { cip: number } }[];
    engine?: Partial<EngineOptions>;
    offerTimeout?: number;
    /** The store module (default SUNWfiles). */
    resource?: string;
  },
): Promise<TestServer> {
  const store = await openStore({ resource: o.resource ?? "SUNWfiles", location: dir }, {
    synchronizer: null,
  });
  const dt = await store.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
  const recs: DtRec[] = [];
  for (const [k, t, v] of o.dhcptab ?? []) recs.push(await dt.add(makeDtRec(k, t, v)));
  await dt.close();
  const clock = { now: 1_800_000_000 };
  const networks: ServedNetwork[] = [];
  const containers = new Map<string, DnContainer>();
  const owners = new Set(o.networks.map((n) => ip(n.serverId)));
  for (const n of o.networks) {
    const c = await store.openNetwork(n.name, DSVC_CREATE | DSVC_READ | DSVC_WRITE, {
      netmask: n.mask,
    });
    containers.set(n.name, c);
    for (const a of n.addresses) {
      await c.add(makeDnRec({ cip: ip(a), sip: ip(n.serverId), macro: n.macro ?? n.name }));
    }
    networks.push({
      pool: new Pool(c, { owners, offerTimeout: o.offerTimeout ?? 10, cacheTimeout: 10 }),
      name: n.name,
      network: ip(n.name),
      netmask: ip(n.mask),
      serverId: ip(n.serverId),
      direct: n.direct,
    });
  }
  for (const r of o.records ?? []) {
    const c = containers.get(r.net)!;
    const existing = (await c.lookup(0x00020002, { cip: r.rec.cip })).records[0];
    const next = { ...(existing ?? makeDnRec({ cip: r.rec.cip })), ...r.rec };
    if (existing) await c.modify(existing, next);
    else await c.add(next);
  }
  const logs: string[] = [];
  const engine = new Engine({
    networks,
    table: new OptionTable(recs),
    serverIds: owners,
    now: () => clock.now,
    log: (level, m) => logs.push(`${level}: ${m}`),
    ...o.engine,
  });
  return {
    store,
    engine,
    networks,
    clock,
    logs,
    container: (name) => containers.get(name)!,
    records: async (name) => (await containers.get(name)!.lookup(0, {})).records,
    [Symbol.asyncDispose]: () => store.close(),
  };
}

/** A client ID from hex. */
export function cid(hex: string): Uint8Array {
  return cidFromHex(hex)!;
}

/** Decode a reply (the request decoder reads it once its op is flipped). */
export function replyOf(bytes: Uint8Array): DhcpRequest {
  const b = bytes.slice();
  b[0] = 1;
  return decodeRequest(b);
}

/** Message types. */
export const T = DHCP;
