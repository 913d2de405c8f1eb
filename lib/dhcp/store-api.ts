/**
 * The framework's store API (upstream libdhcpsvc private layer) as types: a datastore
 * descriptor, an opened store, its containers, module information and the synchronizer the
 * framework locks containers with.
 * @module
 */
import type {
  DnRec,
  DsvcModule,
  DtRec,
  LookupOptions,
  LookupResult,
  ModuleDescription,
  Query,
} from "./spi.ts";

/** Which store: module name, location, config string and container version (upstream dsvc_datastore_t). */
export interface Datastore {
  /** RESOURCE, e.g. "SUNWfiles". */
  resource: string;
  /** PATH, e.g. "/var/dhcp". */
  location: string;
  /** RESOURCE_CONFIG, passed to the module's configure(). */
  config?: string;
  /** CONVER; -1 (DSVC_CUR_CONVER) or absent = the module's current version. */
  conver?: number;
}

/** Lock modes a synchronizer grants. */
export type SyncMode = "shared" | "exclusive";

/** A granted lock. */
export interface SyncLock {
  /** Release the lock. */
  release(): Promise<void>;
  /**
   * Resolve only while the lock is still held (a lock-manager round trip for `LockClient`);
   * reject otherwise. Writers call it right before they commit, so that a write whose lock was
   * lost (the lock manager died) never commits. Optional for in-process synchronizers.
   */
  verify?(): Promise<void>;
}

/**
 * Grants named shared/exclusive locks between processes. `LockClient` from lib/lockd/client.ts
 * is one; tests may pass an in-memory one. Errors with `code` "BUSY" become DSVC_BUSY,
 * "NO_LOCKMGR" DSVC_NO_LOCKMGR, anything else DSVC_SYNCH_ERR.
 */
export interface Synchronizer {
  /**
   * `crosshost` is set (only) when the module declares DSVC_SYNCH_CROSSHOST: the lock must also
   * exclude other hosts sharing the location (lockd's host lock on `<dir>/.<base>.lock`).
   */
  acquire(
    name: string,
    options: { mode: SyncMode; nonblock?: boolean; crosshost?: boolean },
  ): Promise<SyncLock>;
  /** Close the synchronizer's connections. */
  close(): void;
}

/** Lock-manager settings used when the framework starts its own LockClient. */
export interface DhcpLockdSettings {
  /** Run directory of lockd (socket `<runDir>/lockd.sock`); default defaultRunDir(). */
  runDir?: string;
  /** lockd's socket; default `<runDir>/lockd.sock`. */
  socketPath?: string;
  /** Start lockd on demand (default true). */
  autoStart?: boolean;
  /** Idle minutes of a lockd the framework starts. */
  idleMinutes?: number;
  /**
   * Lock caching (default true): keep a container's lock after an operation until another
   * process asks for it, so an uncontended process pays no lock-manager round trip per
   * operation (see `LockClientOptions.cache`). Mutual exclusion across processes is unchanged;
   * cross-host locks (SUNWfiles) are never cached. `false` gives one round trip per operation.
   */
  cache?: boolean;
}

/** Options of openStore / openConfiguredStore / listModules / loadModule. */
export interface DhcpStoreOptions {
  /**
   * Directories searched for third-party modules (`ds_<NAME>.<version>.mjs|.cjs|.js`) after the
   * built-in ones; default: $STEWARD_DHCP_MODULE_PATH (colon-separated) or DEFAULT_MODULE_DIR.
   */
  moduleDirs?: readonly string[];
  /** Lock manager to start/contact when the module asks for synchronization. */
  lockd?: DhcpLockdSettings;
  /**
   * Inter-process synchronizer to use instead of lockd; `null` turns inter-process locking off
   * (in-process serialization always stays on). A synchronizer passed here stays open when the
   * store closes; one the store started (from `lockd`) is closed with it.
   */
  synchronizer?: Synchronizer | null;
  /**
   * Directories a file-system PATH must resolve inside (symbolic links included), else
   * DSVC_BAD_PATH before anything is touched; default: $STEWARD_DHCP_ROOTS, else the lock
   * manager's CROSSHOST_ROOTS (lib/dhcp/roots.ts). An empty list or `null` allows any PATH.
   */
  roots?: readonly string[] | null;
  /**
   * The netmasks files of the netmask rule, in the order they are read (lib/dhcp/netmasks.ts);
   * default: `$STEWARD_NETMASKS` or `<dhcpsvc.conf>.netmasks` (openConfiguredStore: its
   * configuration's), then /etc/inet/netmasks, /etc/netmasks.
   */
  netmasksFiles?: readonly string[];
}

/** A module as found by discovery. */
export interface DsvcModuleInfo {
  /** The module's RESOURCE name. */
  name: string;
  /** Container versions available, ascending. */
  versions: number[];
  /** The current (highest) version. */
  current: number;
  /** "builtin" or the module file's absolute path (of the current version). */
  source: string;
  /** Its DSVC_SYNCH_* synchronization type. */
  synchtype: number;
  /** What the configuration wizard shows about it. */
  description: ModuleDescription;
  /** Why a module file could not be loaded (the other fields are then best effort). */
  error?: string;
}

/** A module loaded, version-checked and configured for one store. */
export interface LoadedDsvcModule {
  /** The module object. */
  readonly module: DsvcModule;
  /** Its RESOURCE name. */
  readonly name: string;
  /** The container version in use. */
  readonly conver: number;
  /** "builtin" or the module file's absolute path. */
  readonly source: string;
}

/** Common operations of an opened container. */
export interface StoreContainer<R> extends AsyncDisposable {
  /** "dhcptab" or the dotted network. */
  readonly name: string;
  /** DSVC_* open flags it was opened with. */
  readonly flags: number;
  /** Records matching `query` against `target` (see qinit/qeq/qneq); shared lock. */
  lookup(query: Query, target: Partial<R>, options?: LookupOptions): Promise<LookupResult<R>>;
  /** Add `rec`; returns the stored copy and sets `rec.sig`; exclusive lock. */
  add(rec: R): Promise<R>;
  /** Replace `orig` (matched by key and signature) by `rec`; returns the stored copy and sets `rec.sig`. */
  modify(orig: R, rec: R): Promise<R>;
  /** Delete the record with `rec`'s key (signature checked unless it is 0). */
  delete(rec: R): Promise<void>;
  /** Close the handle (idempotent). */
  close(): Promise<void>;
}

/** The opened dhcptab. */
export type DtContainer = StoreContainer<DtRec>;

/** An opened network container. */
export interface DnContainer extends StoreContainer<DnRec> {
  /** Network address, host order. */
  readonly network: number;
  /** Netmask, host order. */
  readonly netmask: number;
}

/** Options of DhcpStore.openNetwork. */
export interface OpenNetworkOptions {
  /**
   * Netmask (dotted or prefix length); default: the netmasks files (steward's own, then
   * /etc/inet/netmasks, /etc/netmasks), else the classful mask (lib/dhcp/netmasks.ts).
   */
  netmask?: string | number;
}

/** Options of DhcpStore.removeDhcptab / removeNetwork. */
export interface RemoveOptions {
  /** DSVC_BUSY at once instead of waiting for the container's lock. */
  nonblock?: boolean;
}

/** An opened, configured datastore. */
export interface DhcpStore extends AsyncDisposable {
  /** The datastore with its container version resolved. */
  readonly datastore: Readonly<Required<Omit<Datastore, "config">>> & { config?: string };
  /** The module serving this store. */
  readonly module: LoadedDsvcModule;
  /** The canonical location used in lock names. */
  readonly loctoken: string;
  /** Whether the framework takes inter-process locks for this store. */
  readonly synchronized: boolean;
  /** Whether those locks are also cross-host (the module declares DSVC_SYNCH_CROSSHOST). */
  readonly crosshost: boolean;
  /** The lock-manager name of container `container` ("dhcptab" or a dotted network). */
  lockName(container: string): string;
  /**
   * Run `fn` holding the update lock of `container` ("dhcptab" or a dotted network): a second
   * `serialize` of the same container, in this process or (for a synchronized store) in any other
   * using the same lock manager, and on other hosts for a cross-host module, waits until `fn`
   * ends. Single calls (lookup, add, …) are not held up. For check-then-write sequences that
   * span several calls, such as refusing a symbol whose code another symbol already uses.
   */
  serialize<T>(container: string, fn: () => Promise<T>): Promise<T>;
  /** The module's status of the location (throws NO_LOCATION, ACCESS, …). */
  status(): Promise<void>;
  /** Create the location directory (EXISTS when it already exists). */
  mklocation(): Promise<void>;
  /** ["dhcptab"] or []. */
  listDhcptab(): Promise<string[]>;
  /** Dotted networks of the network containers. */
  listNetworks(): Promise<string[]>;
  /** Open the dhcptab with DSVC_* `flags`. */
  openDhcptab(flags: number): Promise<DtContainer>;
  /** Open the table of `network` (dotted address) with DSVC_* `flags`. */
  openNetwork(network: string, flags: number, options?: OpenNetworkOptions): Promise<DnContainer>;
  /** Remove the dhcptab, after any update in progress on it (BUSY instead of waiting with `nonblock`). */
  removeDhcptab(options?: RemoveOptions): Promise<void>;
  /** Remove a network container, after any update in progress on it. */
  removeNetwork(network: string, options?: RemoveOptions): Promise<void>;
  /** Close every container still open and the lock-manager connection. */
  close(): Promise<void>;
}
