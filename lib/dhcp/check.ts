/**
 * `steward dhcp network check`: verify a network container of the configured store under its
 * exclusive lock — SUNWbinfiles (interrupted updates, images, chains, records; repaired as the
 * upstream recovery pass does, chains rebuilt when damaged) or SUNWfiles (every line parses,
 * addresses inside the network, no address twice; reported, as upstream has no repair) — and
 * say what was found and done.
 * @module
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { checkBinfilesNetwork } from "./modules/binfiles/check.ts";
import { binfilesNetworkFile } from "./modules/binfiles/module.ts";
import { decodeDn, splitFields } from "./modules/files/format.ts";
import { decodeDn0 } from "./modules/files0/format.ts";
import { lines, readContainer } from "./modules/util.ts";
import { ipToString } from "./records.ts";
import { type DnRec, DSVC, DSVC_READ, DsvcError, qinit } from "./spi.ts";
import type { DhcpStore, SyncMode } from "./store-api.ts";
import { resolveNetwork } from "./store.ts";

/** What `network check` reports. */
export interface NetworkCheckReport {
  /** The network checked, dotted. */
  network: string;
  /** The module of its container. */
  module: string;
  /** The container file checked (empty for a module whose files are unknown). */
  container: string;
  /** Records read. */
  records: number;
  /** Every problem found. */
  problems: string[];
  /** What was repaired. */
  repairs: string[];
  /** Problems left as they are. */
  unrepaired: string[];
  /** No problem left. */
  ok: boolean;
}

/** Options of {@link checkNetwork}. */
export interface NetworkCheckOptions {
  /** The network's mask (default: the netmask rule). */
  netmask?: string | number;
  /** Repair what can be repaired (default true). */
  repair?: boolean;
}

interface Lockable {
  locked<T>(name: string, mode: SyncMode, nonblock: boolean, fn: () => Promise<T>): Promise<T>;
}

/** Check (and repair) network container `network` of `store`. */
export async function checkNetwork(
  store: DhcpStore,
  network: string,
  options: NetworkCheckOptions = {},
): Promise<NetworkCheckReport> {
  const { net, mask } = resolveNetwork(network, options.netmask);
  const dotted = ipToString(net);
  const lockable = store as unknown as Partial<Lockable>;
  if (typeof lockable.locked !== "function") {
    throw new DsvcError(DSVC.INTERNAL, "this store cannot lock its containers for a check");
  }
  const repair = options.repair ?? true;
  const loc = store.datastore.location;
  const mod = store.module;
  const locked = lockable.locked.bind(store) as Lockable["locked"];
  return await locked<NetworkCheckReport>(
    store.lockName(dotted),
    "exclusive",
    false,
    async (): Promise<NetworkCheckReport> => {
      const base = { network: dotted, module: `${mod.name} version ${mod.conver}` };
      if (mod.name === "SUNWbinfiles" && mod.source === "builtin") {
        const container = binfilesNetworkFile(loc, net);
        await fsp.access(container).catch(() => {
          throw new DsvcError(DSVC.NO_TABLE, container);
        });
        const c = checkBinfilesNetwork(container, net, mask, repair);
        return { ...base, container, ...c, ok: c.unrepaired.length === 0 };
      }
      if (mod.name === "SUNWfiles" && mod.source === "builtin") {
        const file = dotted.replaceAll(".", "_");
        const container = path.join(loc, mod.conver === 1 ? `SUNWfiles1_${file}` : file);
        const c = await checkText(container, net, mask, mod.conver, repair);
        return { ...base, container, ...c, ok: c.unrepaired.length === 0 };
      }
      // Another module: all that can be said is whether its container reads.
      const c = await store.openNetwork(dotted, DSVC_READ, { netmask: mask });
      try {
        const n = (await c.lookup(qinit(), {}, { countOnly: true })).count;
        return {
          ...base,
          container: "",
          records: n,
          problems: [],
          repairs: [],
          unrepaired: [],
          ok: true,
        };
      } finally {
        await c.close();
      }
    },
  );
}

async function checkText(
  file: string,
  net: number,
  mask: number,
  conver: number,
  repair: boolean,
): Promise<{ records: number; problems: string[]; repairs: string[]; unrepaired: string[] }> {
  const buf = await readContainer(file);
  const problems: string[] = [];
  const repairs: string[] = [];
  const seen = new Map<number, number>();
  let records = 0;
  for (const l of lines(buf, false)) {
    if (l.text === "" || l.text.startsWith("#")) continue;
    let r: DnRec | undefined;
    try {
      r = conver === 1 ? decodeDn(l.text, { file, lineNo: l.lineNo }) : decodeDn0(l.text, {
        file,
        lineNo: l.lineNo,
      });
    } catch (e) {
      problems.push(
        `line ${l.lineNo}: ${e instanceof DsvcError ? (e.detail ?? e.message) : String(e)}`,
      );
      continue;
    }
    if (!r) {
      // Upstream skips such a line (fewer than 8 fields) or never matches it (a client ID that
      // is not even-length hex): the records stay readable, but the line is for the admin.
      problems.push(
        conver === 1 && splitFields(l.text, 8) !== undefined
          ? `line ${l.lineNo}: client ID is not even-length hex: no lookup ever finds the line`
          : `line ${l.lineNo}: malformed record: expected 8 fields, upstream skips the line`,
      );
      continue;
    }
    records++;
    if (((r.cip & mask) >>> 0) !== net) {
      problems.push(`line ${l.lineNo}: client IP ${ipToString(r.cip)} is outside the network`);
    }
    const first = seen.get(r.cip);
    if (first !== undefined) {
      problems.push(
        `line ${l.lineNo}: client IP ${ipToString(r.cip)} again (first on line ${first})`,
      );
    } else seen.set(r.cip, l.lineNo);
  }
  // An update interrupted before its rename leaves `<file>.new`; the container itself is whole.
  const stale = `${file}.new`;
  if (await fsp.access(stale).then(() => true, () => false)) {
    if (repair) {
      await fsp.rm(stale, { force: true });
      repairs.push(`removed ${path.basename(stale)}, left by an interrupted update`);
    } else problems.push(`${path.basename(stale)} was left by an interrupted update`);
  }
  // Upstream has no repair for text tables: a bad line is for the administrator to fix.
  return { records, problems, repairs, unrepaired: [...problems] };
}
