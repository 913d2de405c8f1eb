/**
 * The server's UDP sockets (daemon plumbing, not part of the library's face). node:dgram can
 * neither bind to a device nor report the arrival interface, so: one wildcard socket on port 67
 * for broadcasts, one per interface address for unicast (which names the local address), and
 * broadcast replies to the network's directed broadcast address, which routing sends out of the
 * right interface (255.255.255.255 follows the default route).
 * @internal
 * @module
 */
import dgram from "node:dgram";
import { ipToString, parseIp } from "../records.ts";
import type { Incoming, Outgoing } from "./engine.ts";

/** Receive buffer asked for (the kernel caps it at net.core.rmem_max). */
const RECV_BUFFER = 4 * 1024 * 1024;

/** A bound set of sockets. */
export interface ServerSockets {
  /** Send a reply; resolves when handed to the kernel; rejects with the send error. */
  send(out: Outgoing): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link openSockets}. */
export interface SocketOptions {
  port: number;
  /** Address of the broadcast socket (0.0.0.0). */
  listen: string;
  /** Local addresses to open unicast sockets on. */
  addresses: readonly number[];
  broadcast: "directed" | "limited";
  onMessage(inc: Incoming): void;
  onError(e: Error): void;
}

function bind(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
    s.once("error", reject);
    s.bind({ port, address, exclusive: true }, () => {
      s.off("error", reject);
      try {
        s.setBroadcast(true);
        s.setRecvBufferSize(RECV_BUFFER);
        s.setSendBufferSize(RECV_BUFFER);
      } catch { /* the kernel may cap or refuse the sizes: the defaults still work */ }
      resolve(s);
    });
  });
}

/** Bind the wildcard socket and one socket per address, all on `port`. */
export async function openSockets(o: SocketOptions): Promise<ServerSockets> {
  const wildcard = await bind(o.listen, o.port);
  const byAddr = new Map<number, dgram.Socket>();
  try {
    for (const a of o.addresses) {
      if (byAddr.has(a) || ipToString(a) === o.listen) continue;
      byAddr.set(a, await bind(ipToString(a), o.port));
    }
  } catch (e) {
    wildcard.close();
    for (const s of byAddr.values()) s.close();
    throw e;
  }
  const listen = (s: dgram.Socket, local: number | undefined) => {
    s.on("message", (msg, rinfo) => {
      o.onMessage({
        data: msg,
        address: rinfo.address,
        port: rinfo.port,
        ...(local !== undefined ? { local } : {}),
      });
    });
    s.on("error", (e) => o.onError(e));
  };
  const listenIp = parseIp(o.listen);
  listen(wildcard, listenIp !== undefined && listenIp !== 0 ? listenIp : undefined);
  for (const [a, s] of byAddr) listen(s, a);
  return {
    send(out) {
      const sock = byAddr.get(out.from) ?? wildcard;
      let address = out.address;
      if (out.broadcast && o.broadcast === "directed") {
        address = ipToString((out.network.network | ~out.network.netmask) >>> 0);
      }
      return new Promise((resolve, reject) => {
        sock.send(out.data, out.port, address, (e) => (e ? reject(e) : resolve()));
      });
    },
    async close() {
      const all = [wildcard, ...byAddr.values()];
      await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
