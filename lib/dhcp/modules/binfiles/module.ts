/**
 * The built-in SUNWbinfiles module, container version 1: binary containers byte-compatible
 * with upstream's `SUNWbinfiles1_dhcptab` and `SUNWbinfiles1_a_b_c_d`, synchronized through the
 * lock manager (local to one host, as upstream), with lookups served from memory.
 * RESOURCE_CONFIG: `durability=durable` (default: every update on stable storage before it is
 * acknowledged, concurrent updates sharing one flush) or `durability=relaxed` (left to the
 * operating system, as upstream).
 * @module
 */
import path from "node:path";
import { ipToString } from "../../records.ts";
import {
  DSVC,
  DSVC_CREATE,
  DSVC_READ,
  DSVC_SYNCH_DSVCD,
  DSVC_WRITE,
  DsvcError,
  type DsvcModule,
  type ModuleDescription,
  type ModuleHandle,
} from "../../spi.ts";
import {
  canonicalLocation,
  checkLocation,
  createFileExclusive,
  listLocation,
  locationStatus,
  makeLocation,
  readHead,
  removeContainer,
} from "../util.ts";
import { validateDirectoryPath } from "../files/module.ts";
import { addDhcptab, deleteDhcptab, dhcptabFile, lookupDhcptab, modifyDhcptab } from "./dhcptab.ts";
import { dhcptabHeaderDamage, newDhcptabHeader } from "./format.ts";
import { NetworkFile } from "./network.ts";

/** Module name. */
export const BINFILES_RESOURCE = "SUNWbinfiles";
/** Container version. */
export const BINFILES_VERSION = 1;

const PREFIX = `${BINFILES_RESOURCE}${BINFILES_VERSION}_`;
const NETWORK_FILE_RE = /^SUNWbinfiles([0-9]{1,3})_(([0-9]{1,3}_){3}[0-9]{1,3})$/;

/** The durability settings RESOURCE_CONFIG may choose. */
export type Durability = "durable" | "relaxed";

/** Parse RESOURCE_CONFIG; a message when it is not acceptable. */
export function parseBinfilesConfig(config: string | undefined): Durability | string {
  const text = (config ?? "").trim();
  if (text === "") return "durable";
  let durability: Durability = "durable";
  for (const item of text.split(/[\s,;]+/).filter(Boolean)) {
    const m = /^durability=(durable|relaxed)$/.exec(item);
    if (!m) {
      return `unknown setting ${
        JSON.stringify(item)
      }: expected durability=durable or durability=relaxed`;
    }
    durability = m[1] as Durability;
  }
  return durability;
}

/** What administrators are told about SUNWbinfiles. */
export const BINFILES_DESCRIPTION: ModuleDescription = {
  summary: "Binary files (fast lookups and updates, one host)",
  pathHelp:
    "Absolute path of the local directory holding the tables (SUNWbinfiles1_dhcptab, SUNWbinfiles1_<network>); not shareable over NFS",
  pathExample: "/var/dhcp",
  configHelp:
    "durability=durable (default: every change on stable storage before it is acknowledged) or durability=relaxed (left to the operating system, as upstream)",
  validatePath: validateDirectoryPath,
  validateConfig: (config) => {
    const r = parseBinfilesConfig(config);
    return r === "durable" || r === "relaxed" ? undefined : r;
  },
};

interface DtHandle {
  kind: "bdt";
  file: string;
  flags: number;
}

interface DnHandle {
  kind: "bdn";
  nf: NetworkFile;
}

function dt(h: ModuleHandle): DtHandle {
  if ((h as Partial<DtHandle>).kind !== "bdt") {
    throw new DsvcError(DSVC.INVAL, "not a dhcptab handle");
  }
  return h as DtHandle;
}

function dn(h: ModuleHandle): NetworkFile {
  if ((h as Partial<DnHandle>).kind !== "bdn") {
    throw new DsvcError(DSVC.INVAL, "not a network handle");
  }
  return (h as DnHandle).nf;
}

function need(h: DtHandle, flag: number): void {
  if (!(h.flags & flag)) {
    throw new DsvcError(
      DSVC.ACCESS,
      `${path.basename(h.file)} was opened without ${
        flag === DSVC_READ ? "DSVC_READ" : "DSVC_WRITE"
      }`,
    );
  }
}

/** The network container file of `net` in `location`. */
export function binfilesNetworkFile(location: string, net: number): string {
  return path.join(location, PREFIX + ipToString(net).replaceAll(".", "_"));
}

/** A fresh SUNWbinfiles version 1 module. */
export function createBinfilesModule(): DsvcModule {
  let durability: Durability = "durable";
  return {
    name: BINFILES_RESOURCE,
    conver: BINFILES_VERSION,
    // Lock manager, local to one host (upstream general.c declares no cross-host flag).
    synchtype: DSVC_SYNCH_DSVCD,
    description: BINFILES_DESCRIPTION,

    configure(config) {
      const r = parseBinfilesConfig(config);
      if (r !== "durable" && r !== "relaxed") throw new DsvcError(DSVC.MODULE_CFG_ERR, r);
      durability = r;
    },
    mkloctoken: (location) => canonicalLocation(location),
    status: (location) => locationStatus(location),
    version: () => 1,
    mklocation: (location) => makeLocation(location),

    async listDt(location) {
      const names = await listLocation(location);
      return names.includes(`${PREFIX}dhcptab`) ? ["dhcptab"] : [];
    },

    async openDt(location, flags) {
      await checkLocation(location);
      const file = dhcptabFile(location);
      if (flags & DSVC_CREATE) {
        await createFileExclusive(file, newDhcptabHeader());
      } else {
        const bad = dhcptabHeaderDamage(await readHead(file, 24));
        if (bad) throw new DsvcError(DSVC.INTERNAL, `${file}: not a SUNWbinfiles dhcptab: ${bad}`);
      }
      const h: DtHandle = { kind: "bdt", file, flags };
      return h;
    },
    async closeDt(handle) {
      await Promise.resolve(dt(handle));
    },
    async removeDt(location, options) {
      await checkLocation(location);
      await options?.fence?.check();
      await removeContainer(dhcptabFile(location));
    },
    async lookupDt(handle, req) {
      const h = dt(handle);
      need(h, DSVC_READ);
      return await lookupDhcptab(h.file, req);
    },
    async addDt(handle, newp, options) {
      const h = dt(handle);
      need(h, DSVC_WRITE);
      await addDhcptab(h.file, newp, options?.fence);
    },
    async modifyDt(handle, origp, newp, options) {
      const h = dt(handle);
      need(h, DSVC_WRITE);
      await modifyDhcptab(h.file, origp, newp, options?.fence);
    },
    async deleteDt(handle, dtp, options) {
      const h = dt(handle);
      need(h, DSVC_WRITE);
      await deleteDhcptab(h.file, dtp, options?.fence);
    },

    async listDn(location) {
      const names = await listLocation(location);
      const nets: string[] = [];
      for (const n of names) {
        const m = NETWORK_FILE_RE.exec(n);
        if (!m || Number(m[1]) !== BINFILES_VERSION) continue;
        nets.push((m[2] as string).split("_").map(Number).join("."));
      }
      return nets.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    },

    async openDn(location, flags, net, mask) {
      await checkLocation(location);
      const nf = NetworkFile.open(binfilesNetworkFile(location, net), net, mask, {
        writable: (flags & DSVC_WRITE) !== 0,
        create: (flags & DSVC_CREATE) !== 0,
        durable: durability === "durable",
      });
      const h: DnHandle & { flags: number } = { kind: "bdn", nf, flags };
      return h;
    },
    async closeDn(handle) {
      await dn(handle).close();
    },
    async removeDn(location, net, options) {
      await checkLocation(location);
      await options?.fence?.check();
      const file = binfilesNetworkFile(location, net);
      await removeContainer(file);
      NetworkFile.removeLog(file);
    },
    async lookupDn(handle, req) {
      const h = handle as DnHandle & { flags: number };
      const nf = dn(handle);
      if (!(h.flags & DSVC_READ)) {
        throw new DsvcError(
          DSVC.ACCESS,
          `${path.basename(nf.file)} was opened without DSVC_READ`,
        );
      }
      return await Promise.resolve(nf.lookup(req));
    },
    // An update is synchronous from the fence check to its one-byte commit, so nothing else of
    // this process runs between the proof that the lock is held and the commit.
    async addDn(handle, newp, options) {
      await options?.fence?.check();
      dn(handle).add(newp);
    },
    async modifyDn(handle, origp, newp, options) {
      await options?.fence?.check();
      dn(handle).modify(origp, newp);
    },
    async deleteDn(handle, dnp, options) {
      await options?.fence?.check();
      dn(handle).delete(dnp);
    },
    async flushDn(handle) {
      await dn(handle).flush();
    },
  };
}
