/**
 * Copy every container of one datastore into another (the data part of upstream's
 * `dhcpconfig -C`): the dhcptab and each network table are read whole and added to new
 * containers, which get fresh signatures; the old containers are removed afterwards unless asked
 * to keep them. Used to move SUNWfiles version 0 locations to version 1, or to another module.
 * @module
 */
import type { DhcpStore } from "./store-api.ts";
import { DSVC, DSVC_CREATE, DSVC_READ, DSVC_WRITE, DsvcError, qinit } from "./spi.ts";

/** Options of {@link convertStore}. */
export interface ConvertOptions {
  /** Keep the source containers (upstream -k). Default false: they are removed after the copy. */
  keep?: boolean;
  /** Netmask of a network (dotted or prefix length); default the classful mask. */
  netmask?: (network: string) => string | number | undefined;
  /** Called after each container is copied. */
  progress?: (container: string, records: number) => void;
}

/** What was copied. */
export interface ConvertResult {
  /** Records copied per container ("dhcptab" or dotted network). */
  containers: Array<{ name: string; records: number }>;
  /** Whether the source containers were removed. */
  removed: boolean;
}

/**
 * Copy the dhcptab and every network container of `from` into `to` (which must not have them
 * yet: TABLE_EXISTS otherwise), in their file order. Refuses to copy a store onto itself.
 */
export async function convertStore(
  from: DhcpStore,
  to: DhcpStore,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  const a = from.datastore;
  const b = to.datastore;
  if (a.resource === b.resource && a.conver === b.conver && from.loctoken === to.loctoken) {
    throw new DsvcError(DSVC.INVAL, "the source and destination datastores are the same");
  }
  const containers: ConvertResult["containers"] = [];
  if ((await from.listDhcptab()).length > 0) {
    const src = await from.openDhcptab(DSVC_READ);
    const dst = await to.openDhcptab(DSVC_CREATE | DSVC_READ | DSVC_WRITE);
    try {
      const { records } = await src.lookup(qinit(), {});
      // Lookups return reverse file order; adding in reverse keeps the original order.
      for (const r of records.reverse()) await dst.add({ ...r, sig: 0n });
      containers.push({ name: "dhcptab", records: records.length });
      options.progress?.("dhcptab", records.length);
    } finally {
      await src.close();
      await dst.close();
    }
  }
  const networks = await from.listNetworks();
  for (const net of networks) {
    const mask = options.netmask?.(net);
    const o = mask === undefined ? {} : { netmask: mask };
    const src = await from.openNetwork(net, DSVC_READ, o);
    const dst = await to.openNetwork(net, DSVC_CREATE | DSVC_READ | DSVC_WRITE, o);
    try {
      const { records } = await src.lookup(qinit(), {});
      for (const r of records.reverse()) await dst.add({ ...r, sig: 0n });
      containers.push({ name: net, records: records.length });
      options.progress?.(net, records.length);
    } finally {
      await src.close();
      await dst.close();
    }
  }
  if (options.keep) return { containers, removed: false };
  for (const net of networks) await from.removeNetwork(net);
  if (containers.some((c) => c.name === "dhcptab")) await from.removeDhcptab();
  return { containers, removed: true };
}
