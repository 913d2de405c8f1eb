/**
 * The framework (upstream libdhcpsvc private layer): opens a configured datastore through its
 * module, validates records before the module sees them, and locks each container — shared
 * around lookups, exclusive around add/modify/delete — in this process and, when the module
 * asks for it, through the lock manager (started on demand).
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import { LockClient } from "../lockd/client.ts";
import { datastoreFromConf, DHCPSVC_CONF_FILE, readDhcpsvcConf } from "./conf.ts";
import { loadModule } from "./modules.ts";
import { checkConver, checkResourceName, containerLockName, parseNetworkName } from "./naming.ts";
import { checkLocationRoots, configuredRoots } from "./roots.ts";
import { describeNetmask, findNetmask, netmasksFiles } from "./netmasks.ts";
import { copyDnRec, copyDtRec, ipToString, parseNetmask } from "./records.ts";
import type {
  Datastore,
  DhcpStore,
  DhcpStoreOptions,
  DnContainer,
  DtContainer,
  LoadedDsvcModule,
  OpenNetworkOptions,
  RemoveOptions,
  StoreContainer,
  Synchronizer,
  SyncMode,
} from "./store-api.ts";
import {
  type CommitFence,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_CUR_CONVER,
  DSVC_NONBLOCK,
  DSVC_OPEN_FLAGS,
  DSVC_SYNCH_CROSSHOST,
  DSVC_SYNCH_DSVCD,
  DSVC_SYNCH_STRATMASK,
  DSVC_WRITE,
  DsvcError,
  type DsvcModule,
  DT_DHCPTAB,
  type DtRec,
  type LookupOptions,
  type LookupResult,
  type ModuleHandle,
  type Query,
  type WriteOptions,
} from "./spi.ts";
import { NO_FENCE, withProcessLock, withSyncLock } from "./sync.ts";
import {
  checkDnKeyOnly,
  checkDnQuery,
  checkDnRec,
  checkDtKeyOnly,
  checkDtQuery,
  checkDtRec,
  fullDnTarget,
  fullDtTarget,
} from "./validate.ts";

function checkFlags(flags: number): void {
  if (!Number.isInteger(flags) || (flags & ~DSVC_OPEN_FLAGS) !== 0) {
    throw new DsvcError(DSVC.INVAL, `unknown open flags: ${flags}`);
  }
  if ((flags & DSVC_CREATE) && !(flags & DSVC_WRITE)) {
    throw new DsvcError(DSVC.INVAL, "DSVC_CREATE needs DSVC_WRITE");
  }
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < -1) {
    throw new DsvcError(DSVC.INVAL, `count must be -1 or a non-negative integer: ${count}`);
  }
}

interface Ops<R> {
  close(h: ModuleHandle): Promise<void>;
  lookup(h: ModuleHandle, q: Query, t: R, o: Required<LookupOptions>): Promise<LookupResult<R>>;
  add(h: ModuleHandle, r: R, w: WriteOptions): Promise<void>;
  modify(h: ModuleHandle, o: R, r: R, w: WriteOptions): Promise<void>;
  delete(h: ModuleHandle, r: R, w: WriteOptions): Promise<void>;
  /** The module's flush after an update, outside the lock (group commit), if it has one. */
  flush?(h: ModuleHandle): Promise<void>;
  checkQuery(q: Query, t: Partial<R>): void;
  full(t: Partial<R>): R;
  checkRec(r: R): void;
  checkKey(r: R): void;
  copy(r: R): R;
}

class Container<R extends { sig: bigint }> implements StoreContainer<R> {
  readonly name: string;
  readonly flags: number;
  #store: Store;
  #handle: ModuleHandle | undefined;
  #ops: Ops<R>;
  #lockName: string;

  constructor(store: Store, name: string, flags: number, handle: ModuleHandle, ops: Ops<R>) {
    this.#store = store;
    this.name = name;
    this.flags = flags;
    this.#handle = handle;
    this.#ops = ops;
    this.#lockName = store.lockName(name);
  }

  #open(): ModuleHandle {
    if (!this.#handle) throw new DsvcError(DSVC.INVAL, `container ${this.name} is closed`);
    return this.#handle;
  }

  #locked<T>(mode: SyncMode, fn: (h: ModuleHandle, w: WriteOptions) => Promise<T>): Promise<T> {
    const h = this.#open();
    return this.#store.locked(
      this.#lockName,
      // Updates of a concurrent module still wait for (or are BUSY against) exclusive holders.
      this.#store.module.module.concurrent ? "shared" : mode,
      (this.flags & DSVC_NONBLOCK) !== 0,
      (fence) => fn(h, { fence }),
    );
  }

  async lookup(
    query: Query,
    target: Partial<R>,
    options: LookupOptions = {},
  ): Promise<LookupResult<R>> {
    this.#open();
    this.#ops.checkQuery(query, target);
    const count = options.count ?? -1;
    checkCount(count);
    if (count === 0) return { records: [], count: 0 };
    const full = this.#ops.full(target);
    const o = { partial: options.partial ?? false, count, countOnly: options.countOnly ?? false };
    const res = await this.#locked("shared", (h) => this.#ops.lookup(h, query, full, o));
    return { records: res.records.map((r) => this.#ops.copy(r)), count: res.count };
  }

  async add(rec: R): Promise<R> {
    this.#open();
    this.#ops.checkRec(rec);
    const r = this.#ops.copy(rec);
    await this.#locked("exclusive", (h, w) => this.#ops.add(h, r, w));
    await this.#flush();
    rec.sig = r.sig;
    return this.#ops.copy(r);
  }

  async modify(orig: R, rec: R): Promise<R> {
    this.#open();
    this.#ops.checkKey(orig);
    this.#ops.checkRec(rec);
    const o = this.#ops.copy(orig);
    const r = this.#ops.copy(rec);
    await this.#locked("exclusive", (h, w) => this.#ops.modify(h, o, r, w));
    await this.#flush();
    rec.sig = r.sig;
    return this.#ops.copy(r);
  }

  async delete(rec: R): Promise<void> {
    this.#open();
    this.#ops.checkKey(rec);
    const r = this.#ops.copy(rec);
    await this.#locked("exclusive", (h, w) => this.#ops.delete(h, r, w));
    await this.#flush();
  }

  // Outside the lock, so that concurrent updates can share one flush.
  async #flush(): Promise<void> {
    if (this.#ops.flush) await this.#ops.flush(this.#open());
  }

  async close(): Promise<void> {
    const h = this.#handle;
    if (!h) return;
    this.#handle = undefined;
    this.#store.forget(this);
    await this.#ops.close(h);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class NetworkContainer extends Container<DnRec> implements DnContainer {
  readonly network: number;
  readonly netmask: number;
  constructor(
    store: Store,
    net: number,
    mask: number,
    flags: number,
    handle: ModuleHandle,
    ops: Ops<DnRec>,
  ) {
    super(store, ipToString(net), flags, handle, ops);
    this.network = net;
    this.netmask = mask;
  }
}

function dtOps(m: DsvcModule): Ops<DtRec> {
  return {
    close: (h) => m.closeDt(h),
    lookup: (h, query, target, o) => m.lookupDt(h, { query, target, ...o }),
    add: (h, r, w) => m.addDt(h, r, w),
    modify: (h, o, r, w) => m.modifyDt(h, o, r, w),
    delete: (h, r, w) => m.deleteDt(h, r, w),
    checkQuery: checkDtQuery,
    full: fullDtTarget,
    checkRec: checkDtRec,
    checkKey: checkDtKeyOnly,
    copy: copyDtRec,
  };
}

function dnOps(m: DsvcModule, net: number, mask: number, maskName: string): Ops<DnRec> {
  return {
    close: (h) => m.closeDn(h),
    lookup: (h, query, target, o) => m.lookupDn(h, { query, target, ...o }),
    add: (h, r, w) => m.addDn(h, r, w),
    modify: (h, o, r, w) => m.modifyDn(h, o, r, w),
    delete: (h, r, w) => m.deleteDn(h, r, w),
    ...(m.flushDn
      ? { flush: (h: ModuleHandle) => (m.flushDn as (h: ModuleHandle) => Promise<void>)(h) }
      : {}),
    checkQuery: checkDnQuery,
    full: fullDnTarget,
    checkRec: (r) => checkDnRec(r, net, mask, maskName),
    checkKey: (r) => checkDnKeyOnly(r, net, mask, maskName),
    copy: copyDnRec,
  };
}

/**
 * Resolve a network name and netmask option to (network, mask): without a netmask, the one
 * rule of lib/dhcp/netmasks.ts (netmasks database, else classful); INVAL when host bits are set.
 */
export function resolveNetwork(
  network: string,
  netmask?: string | number,
  files?: readonly string[],
): { net: number; mask: number; source: string } {
  const net = parseNetworkName(network);
  let mask: number;
  let source = "";
  if (netmask === undefined) {
    const found = findNetmask(net, files);
    mask = found.mask;
    source = describeNetmask(found);
  } else {
    const m = typeof netmask === "number"
      ? (Number.isInteger(netmask) && netmask >= 0 && netmask <= 32
        ? parseNetmask(String(netmask))
        : undefined)
      : parseNetmask(netmask);
    if (m === undefined) throw new DsvcError(DSVC.INVAL, `not a netmask: ${String(netmask)}`);
    mask = m;
    source = `${ipToString(mask)} (as given)`;
  }
  if (((net & ~mask) >>> 0) !== 0) {
    throw new DsvcError(
      DSVC.INVAL,
      netmask === undefined
        ? `${network} has host bits set under netmask ${source}: give the netmask`
        : `${network} has host bits set under netmask ${ipToString(mask)}`,
    );
  }
  return { net, mask, source };
}

class Store implements DhcpStore {
  readonly datastore: DhcpStore["datastore"];
  readonly module: LoadedDsvcModule;
  readonly loctoken: string;
  readonly synchronized: boolean;
  readonly crosshost: boolean;
  #sync: Synchronizer | undefined;
  #makeSync: () => Synchronizer;
  #ownsSync: boolean;
  #open = new Set<{ close(): Promise<void> }>();
  #closed = false;
  /** The netmasks files of the netmask rule (DhcpStoreOptions.netmasksFiles). */
  netmasksFiles: readonly string[] | undefined;

  constructor(
    ds: DhcpStore["datastore"],
    module: LoadedDsvcModule,
    loctoken: string,
    sync: { synchronized: boolean; crosshost: boolean; make: () => Synchronizer; owned: boolean },
  ) {
    this.datastore = ds;
    this.module = module;
    this.loctoken = loctoken;
    this.synchronized = sync.synchronized;
    this.crosshost = sync.synchronized && sync.crosshost;
    this.#makeSync = sync.make;
    this.#ownsSync = sync.owned;
  }

  get #m(): DsvcModule {
    if (this.#closed) throw new DsvcError(DSVC.INVAL, "the store is closed");
    return this.module.module;
  }

  lockName(container: string): string {
    return containerLockName(this.loctoken, this.module.name, this.module.conver, container);
  }

  serialize<T>(container: string, fn: () => Promise<T>): Promise<T> {
    // Its own name, so that the container's per-call locks stay free while `fn` uses them.
    const name = this.lockName(
      container === DT_DHCPTAB ? DT_DHCPTAB : ipToString(parseNetworkName(container)),
    );
    return this.locked(`${name}+update`, "exclusive", false, () => fn());
  }

  /**
   * Run `fn` under the in-process lock, then (when synchronized) the lock manager's lock, which
   * for a crosshost module first takes the host lock `<location>/.<module><ver>_<container>.lock`.
   * `fn` gets the fence its commit must pass.
   */
  locked<T>(
    name: string,
    mode: SyncMode,
    nonblock: boolean,
    fn: (fence: CommitFence) => Promise<T>,
  ): Promise<T> {
    return withProcessLock(name, mode, nonblock, () => {
      if (!this.synchronized) return fn(NO_FENCE);
      this.#sync ??= this.#makeSync();
      const held = withSyncLock(
        this.#sync,
        name,
        { mode, nonblock, crosshost: this.crosshost },
        fn,
      );
      return this.crosshost ? held.catch((e: unknown) => this.#noLocation(e)) : held;
    });
  }

  // The host lock file lives in the location: with the location gone, say so (as the module would).
  async #noLocation(e: unknown): Promise<never> {
    if (e instanceof DsvcError && e.code === DSVC.SYNCH_ERR) {
      const st = await fs.promises.stat(this.loctoken).catch(() => undefined);
      if (!st?.isDirectory()) {
        throw new DsvcError(DSVC.NO_LOCATION, `${this.datastore.location}`, { cause: e });
      }
    }
    throw e;
  }

  forget(c: { close(): Promise<void> }): void {
    this.#open.delete(c);
  }

  status(): Promise<void> {
    return this.#m.status(this.datastore.location);
  }

  mklocation(): Promise<void> {
    return this.#m.mklocation(this.datastore.location);
  }

  listDhcptab(): Promise<string[]> {
    return this.#m.listDt(this.datastore.location);
  }

  listNetworks(): Promise<string[]> {
    return this.#m.listDn(this.datastore.location);
  }

  async openDhcptab(flags: number): Promise<DtContainer> {
    checkFlags(flags);
    const m = this.#m;
    const h = await m.openDt(this.datastore.location, flags);
    const c = new Container<DtRec>(this, DT_DHCPTAB, flags, h, dtOps(m));
    this.#open.add(c);
    return c;
  }

  async openNetwork(
    network: string,
    flags: number,
    options: OpenNetworkOptions = {},
  ): Promise<DnContainer> {
    checkFlags(flags);
    const { net, mask, source } = resolveNetwork(network, options.netmask, this.netmasksFiles);
    const m = this.#m;
    const h = await m.openDn(this.datastore.location, flags, net, mask);
    const c = new NetworkContainer(this, net, mask, flags, h, dnOps(m, net, mask, source));
    this.#open.add(c);
    return c;
  }

  removeDhcptab(options: RemoveOptions = {}): Promise<void> {
    const m = this.#m;
    // Not interleaved with an update of the same container (upstream takes no lock here).
    return this.locked(
      this.lockName(DT_DHCPTAB),
      "exclusive",
      options.nonblock ?? false,
      (fence) => m.removeDt(this.datastore.location, { fence }),
    );
  }

  removeNetwork(network: string, options: RemoveOptions = {}): Promise<void> {
    const net = parseNetworkName(network);
    const m = this.#m;
    return this.locked(
      this.lockName(ipToString(net)),
      "exclusive",
      options.nonblock ?? false,
      (fence) => m.removeDn(this.datastore.location, net, { fence }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const open = [...this.#open];
    await Promise.allSettled(open.map((c) => c.close()));
    this.#closed = true;
    // Only a lock-manager connection the store opened itself is closed with it.
    if (this.#ownsSync) this.#sync?.close();
    this.#sync = undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Open datastore `ds` (upstream open of a dsvc_datastore_t): load, version-check and configure
 * its module, canonicalize the location for lock names, and decide synchronization.
 */
export async function openStore(ds: Datastore, options: DhcpStoreOptions = {}): Promise<DhcpStore> {
  checkResourceName(ds.resource);
  if (typeof ds.location !== "string" || ds.location === "" || ds.location.includes("\0")) {
    throw new DsvcError(DSVC.BAD_PATH, "PATH is empty or contains a NUL character");
  }
  if (options.roots !== null) {
    checkLocationRoots(
      ds.location,
      options.roots === undefined ? configuredRoots() : { roots: options.roots, source: "roots" },
    );
  }
  const conver = ds.conver ?? DSVC_CUR_CONVER;
  if (conver !== DSVC_CUR_CONVER) checkConver(conver);
  const loaded = await loadModule(ds.resource, conver, { ...options, config: ds.config });
  const m = loaded.module;
  let loctoken = ds.location;
  if (m.mkloctoken) {
    try {
      loctoken = await m.mkloctoken(ds.location);
    } catch (e) {
      throw e instanceof DsvcError ? e : new DsvcError(DSVC.INTERNAL, `mkloctoken: ${String(e)}`);
    }
  }
  const wants = (m.synchtype & DSVC_SYNCH_STRATMASK) === DSVC_SYNCH_DSVCD;
  const synchronized = wants && options.synchronizer !== null;
  // SUNWfiles: the location may be shared over NFS, so lockd also takes the host lock.
  const crosshost = (m.synchtype & DSVC_SYNCH_CROSSHOST) !== 0;
  // The framework's own client caches grants unless told not to (docs/dhcp.md "Lock caching").
  const make = (): Synchronizer =>
    options.synchronizer ??
      new LockClient({ ...options.lockd, cache: options.lockd?.cache ?? true });
  const store = new Store(
    {
      resource: ds.resource,
      location: ds.location,
      conver: loaded.conver,
      ...(ds.config !== undefined ? { config: ds.config } : {}),
    },
    loaded,
    loctoken,
    { synchronized, crosshost, make, owned: !options.synchronizer },
  );
  store.netmasksFiles = options.netmasksFiles;
  return store;
}

/** Environment variable naming the dhcpsvc.conf to use, as the command line honours it. */
export const DHCPSVC_CONF_ENV = "STEWARD_DHCPSVC_CONF";

/** The dhcpsvc.conf path: `confFile`, else $STEWARD_DHCPSVC_CONF, else /etc/inet/dhcpsvc.conf. */
export function configuredConfFile(confFile?: string): string {
  if (confFile !== undefined) return confFile;
  let env: string | undefined;
  try {
    env = process.env[DHCPSVC_CONF_ENV];
  } catch {
    // Deno without --allow-env: the default applies, as with the variable unset.
  }
  return env !== undefined && env !== "" ? path.resolve(env) : DHCPSVC_CONF_FILE;
}

/**
 * Open the datastore a dhcpsvc.conf names: `confFile`, else $STEWARD_DHCPSVC_CONF, else
 * /etc/inet/dhcpsvc.conf. A missing file is DSVC_BAD_RESOURCE "No dhcpsvc.conf at …".
 */
export async function openConfiguredStore(
  options: DhcpStoreOptions & { confFile?: string } = {},
): Promise<DhcpStore> {
  const file = configuredConfFile(options.confFile);
  let conf;
  try {
    conf = await readDhcpsvcConf(file);
  } catch (e) {
    if (e instanceof DsvcError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      const missing =
        `No dhcpsvc.conf at ${file} (set $${DHCPSVC_CONF_ENV} or run 'steward dhcp config')`;
      const err = new DsvcError(DSVC.BAD_RESOURCE, missing);
      // The file, not its RESOURCE line, is what is missing: say only that.
      err.message = missing;
      throw err;
    }
    throw new DsvcError(DSVC.ACCESS, `cannot read ${file}: ${(e as Error).message}`);
  }
  const ds = datastoreFromConf(conf);
  // As the command line does: a PATH starting with ./ or ../ is taken from the file's directory.
  if (/^\.\.?\//.test(ds.location)) ds.location = path.resolve(path.dirname(file), ds.location);
  // The netmasks file steward records masks in is the one beside this configuration.
  return openStore(ds, {
    ...options,
    netmasksFiles: options.netmasksFiles ?? netmasksFiles(undefined, file),
  });
}
