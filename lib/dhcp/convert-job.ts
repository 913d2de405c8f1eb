/**
 * `steward dhcp convert`, the whole of upstream's `dhcpconfig -C`: copy the dhcptab and every
 * network container of the configured store to another module, location or container version,
 * switch dhcpsvc.conf, and remove the old containers unless asked to keep them — safe to
 * interrupt at any instant. A journal beside dhcpsvc.conf (`<conf>.convert`) names the source,
 * the destination and the containers already copied; the configured store stays the one in use
 * until every container is complete and dhcpsvc.conf is replaced atomically; a rerun finishes
 * the job (a container copied only in part is removed and copied again).
 * @module
 */
import fsp from "node:fs/promises";
import { writeFileAtomic } from "../platform/atomic.ts";
import { readDhcpsvcConf, setConfDatastore, writeDhcpsvcConf } from "./conf.ts";
import {
  DSVC,
  DSVC_CREATE,
  DSVC_CUR_CONVER,
  DSVC_READ,
  DSVC_WRITE,
  DsvcError,
  isDsvcError,
  qinit,
} from "./spi.ts";
import type { Datastore, DhcpStore, DhcpStoreOptions } from "./store-api.ts";
import { openStore } from "./store.ts";

/** Where a conversion is, for a progress display. */
export interface ConvertProgress {
  /** Copying records, switching dhcpsvc.conf, removing the old containers, or finished. */
  phase: "copy" | "switch" | "remove" | "done";
  /** "dhcptab" or a dotted network (copy phase). */
  container?: string;
  /** Records copied of this container, and its size. */
  containerDone: number;
  /** Records in this container. */
  containerRecords: number;
  /** Records copied (or found already copied) of every container, and their total. */
  done: number;
  /** Records in every container. */
  total: number;
}

/** Options of {@link convertConfigured}. */
export interface ConvertJobOptions {
  /** The dhcpsvc.conf whose store is converted. */
  confFile: string;
  /** The source datastore as the configuration names it (PATH resolved). */
  from: Datastore;
  /** The destination: module, location, config string, container version (-1: current). */
  to: Datastore;
  /** Keep the old containers (upstream -k). */
  keep?: boolean;
  /** How the stores are opened (lock manager, module directories). */
  storeOptions?: DhcpStoreOptions;
  /** Netmask of a network; default classful. */
  netmask?: (network: string) => string | number | undefined;
  /** Called after every record and at every phase. A throw stops the job (to be rerun). */
  progress?: (p: ConvertProgress) => void;
  /** Stops the job between records (a rerun finishes it). */
  signal?: AbortSignal;
}

/** What a conversion did. */
export interface ConvertJobResult {
  /** The datastore converted from. */
  from: Datastore;
  /** The datastore converted to, now the configured one. */
  to: Datastore;
  /** Each container copied, its record count, and whether an earlier run had copied it. */
  containers: Array<{ name: string; records: number; copiedBefore: boolean }>;
  /** Whether this run continued an interrupted one. */
  resumed: boolean;
  /** Whether the old containers were removed. */
  removed: boolean;
}

interface Journal {
  version: 1;
  from: Datastore;
  to: Datastore;
  keep: boolean;
  /** Containers whose copy began (only these may be replaced by a rerun). */
  started: string[];
  done: string[];
}

/** The journal of a conversion of the store `confFile` names. */
export function convertJournalFile(confFile: string): string {
  return `${confFile}.convert`;
}

function same(a: Datastore, b: Datastore): boolean {
  return a.resource === b.resource && a.location === b.location &&
    (a.conver ?? DSVC_CUR_CONVER) === (b.conver ?? DSVC_CUR_CONVER) &&
    (a.config ?? "") === (b.config ?? "");
}

function describe(d: Datastore): string {
  return `${d.resource} version ${d.conver ?? DSVC_CUR_CONVER} at ${d.location}`;
}

async function readJournal(file: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const j = JSON.parse(text) as Partial<Journal>;
    if (
      j.version !== 1 || !j.from || !j.to || !Array.isArray(j.done) || !Array.isArray(j.started)
    ) throw new Error("fields");
    return j as Journal;
  } catch {
    throw new DsvcError(
      DSVC.INTERNAL,
      `${file} is not a conversion journal; remove it to start over`,
    );
  }
}

async function writeJournal(file: string, j: Journal): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(j)}\n`, { mode: 0o644 });
}

/**
 * Convert the configured store (see the module comment). The destination's container version
 * is resolved to the module's current one when -1. Records are added in lookup order, as
 * upstream's conversion does (so a version-0 file's records come out reversed in the new file
 * and `pntadm -P` lists them in their old file order), with fresh signatures.
 */
export async function convertConfigured(o: ConvertJobOptions): Promise<ConvertJobResult> {
  const jfile = convertJournalFile(o.confFile);
  // The configuration must be readable before anything starts.
  await readDhcpsvcConf(o.confFile);
  const sameStore = (a: Datastore, b: Datastore) =>
    a.resource === b.resource && a.location === b.location &&
    (a.conver ?? DSVC_CUR_CONVER) === (b.conver ?? DSVC_CUR_CONVER);
  const opts = o.storeOptions ?? {};
  // Resolve the destination's version so a rerun recognises its own journal.
  const probe = await openStore(o.to, { ...opts, synchronizer: null });
  const to: Datastore = { ...o.to, conver: probe.datastore.conver };
  await probe.close();
  let journal = await readJournal(jfile);
  let from = o.from;
  let resumed = false;
  if (journal) {
    if (!same(journal.to, to)) {
      throw new DsvcError(
        DSVC.INVAL,
        `an unfinished conversion to ${
          describe(journal.to)
        } is recorded in ${jfile}: rerun it with that destination, or remove the file to give it up`,
      );
    }
    from = journal.from;
    resumed = true;
    if (!sameStore(o.from, journal.from) && !sameStore(o.from, journal.to)) {
      throw new DsvcError(
        DSVC.INVAL,
        `${o.confFile} names neither the source nor the destination of the conversion recorded in ${jfile}`,
      );
    }
  } else {
    if (same(from, to)) {
      throw new DsvcError(DSVC.INVAL, `the store already is ${describe(to)}`);
    }
    journal = { version: 1, from, to, keep: o.keep ?? false, started: [], done: [] };
  }
  const fresh = !resumed;
  const keep = journal.keep || (o.keep ?? false);
  // Already switched (an interruption after the switch): only the removal is left.
  const switched = sameStore(o.from, to);
  const src = await openStore(from, opts);
  const dst = await openStore(to, opts);
  const containers: ConvertJobResult["containers"] = [];
  try {
    const names = [
      ...(await src.listDhcptab()),
      ...(await src.listNetworks()),
    ];
    if (!switched) {
      await dst.mklocation().catch((e: unknown) => {
        if (!isDsvcError(e, DSVC.EXISTS)) throw e;
      });
      // Containers the destination has already and that this job did not begin: refuse early.
      const have = new Set([...(await dst.listDhcptab()), ...(await dst.listNetworks())]);
      const theirs = names.filter((n) => have.has(n) && !journal.started.includes(n));
      if (theirs.length > 0) {
        throw new DsvcError(
          DSVC.TABLE_EXISTS,
          `${describe(to)} already has ${theirs.join(", ")}; remove ${
            theirs.length > 1 ? "them" : "it"
          } or convert elsewhere`,
        );
      }
      if (fresh) await writeJournal(jfile, journal);
      const sizes = new Map<string, number>();
      for (const name of names) sizes.set(name, await countRecords(src, name, o));
      const total = [...sizes.values()].reduce((a, b) => a + b, 0);
      let done = 0;
      for (const name of names) {
        const size = sizes.get(name) as number;
        if (journal.done.includes(name)) {
          done += size;
          containers.push({ name, records: size, copiedBefore: true });
          o.progress?.({
            phase: "copy",
            container: name,
            containerDone: size,
            containerRecords: size,
            done,
            total,
          });
          continue;
        }
        o.signal?.throwIfAborted();
        if (!journal.started.includes(name)) {
          journal.started.push(name);
          await writeJournal(jfile, journal);
        }
        const copied = await copyContainer(src, dst, name, o, (k) => {
          o.progress?.({
            phase: "copy",
            container: name,
            containerDone: k,
            containerRecords: size,
            done: done + k,
            total,
          });
        });
        done += copied;
        containers.push({ name, records: copied, copiedBefore: false });
        journal.done.push(name);
        await writeJournal(jfile, journal);
      }
      o.signal?.throwIfAborted();
      o.progress?.({ phase: "switch", containerDone: 0, containerRecords: 0, done, total });
      // The switch: one atomic replacement of dhcpsvc.conf.
      const next = await readDhcpsvcConf(o.confFile);
      setConfDatastore(next, {
        resource: to.resource,
        location: to.location,
        conver: to.conver ?? DSVC_CUR_CONVER,
        config: to.config,
      });
      await writeDhcpsvcConf(o.confFile, next);
    }
    let removed = false;
    if (!keep) {
      o.progress?.({ phase: "remove", containerDone: 0, containerRecords: 0, done: 0, total: 0 });
      for (const name of names) {
        o.signal?.throwIfAborted();
        try {
          if (name === "dhcptab") await src.removeDhcptab();
          else await src.removeNetwork(name);
        } catch (e) {
          if (!isDsvcError(e, DSVC.NO_TABLE)) throw e;
        }
      }
      removed = true;
    }
    o.progress?.({ phase: "done", containerDone: 0, containerRecords: 0, done: 0, total: 0 });
    await fsp.rm(jfile, { force: true });
    return { from, to, containers, resumed, removed };
  } finally {
    await src.close();
    await dst.close();
  }
}

async function countRecords(s: DhcpStore, name: string, o: ConvertJobOptions): Promise<number> {
  if (name === "dhcptab") {
    await using c = await s.openDhcptab(DSVC_READ);
    return (await c.lookup(qinit(), {}, { countOnly: true })).count;
  }
  const mask = o.netmask?.(name);
  await using c = await s.openNetwork(name, DSVC_READ, mask === undefined ? {} : { netmask: mask });
  return (await c.lookup(qinit(), {}, { countOnly: true })).count;
}

/** Copy one container, replacing whatever an interrupted run left of it; returns its records. */
async function copyContainer(
  src: DhcpStore,
  dst: DhcpStore,
  name: string,
  o: ConvertJobOptions,
  onRecord: (k: number) => void,
): Promise<number> {
  const mask = o.netmask?.(name);
  const m = mask === undefined ? {} : { netmask: mask };
  try {
    if (name === "dhcptab") await dst.removeDhcptab();
    else await dst.removeNetwork(name, {});
  } catch (e) {
    if (!isDsvcError(e, DSVC.NO_TABLE)) throw e;
  }
  const RWC = DSVC_CREATE | DSVC_READ | DSVC_WRITE;
  let k = 0;
  if (name === "dhcptab") {
    await using from = await src.openDhcptab(DSVC_READ);
    await using to = await dst.openDhcptab(RWC);
    const { records } = await from.lookup(qinit(), {});
    for (const r of records) {
      o.signal?.throwIfAborted();
      await to.add({ ...r, sig: 0n });
      onRecord(++k);
    }
    return k;
  }
  await using from = await src.openNetwork(name, DSVC_READ, m);
  await using to = await dst.openNetwork(name, RWC, m);
  const { records } = await from.lookup(qinit(), {});
  for (const r of records) {
    o.signal?.throwIfAborted();
    await to.add({ ...r, sig: 0n });
    onRecord(++k);
  }
  return k;
}
