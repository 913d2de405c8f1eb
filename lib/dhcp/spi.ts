/**
 * The DHCP data-service provider API (upstream libdhcpsvc's public-module layer) as TypeScript:
 * return codes and the one error class that carries them, open flags, record types and limits,
 * flag bits, query words and the module contract every store module implements.
 * @module
 */

/** Version of the public-module API (upstream DSVC_PUBLIC_VERSION); `version()` must report it. */
export const DSVC_PUBLIC_VERSION = 1;
/** "Current container version": the framework resolves it to the module's newest version. */
export const DSVC_CUR_CONVER = -1;

/** Upstream return codes (DSVC_*), by name, with their upstream numbers. */
export const DSVC = {
  SUCCESS: 0,
  EXISTS: 1,
  ACCESS: 2,
  NO_CRED: 3,
  NOENT: 4,
  BUSY: 5,
  INVAL: 6,
  INTERNAL: 7,
  UNAVAILABLE: 8,
  COLLISION: 9,
  UNSUPPORTED: 10,
  NO_MEMORY: 11,
  NO_RESOURCES: 12,
  BAD_RESOURCE: 13,
  BAD_PATH: 14,
  MODULE_VERSION: 15,
  MODULE_ERR: 16,
  MODULE_LOAD_ERR: 17,
  MODULE_UNLOAD_ERR: 18,
  MODULE_CFG_ERR: 19,
  SYNCH_ERR: 20,
  NO_LOCKMGR: 21,
  NO_LOCATION: 22,
  BAD_CONVER: 23,
  NO_TABLE: 24,
  TABLE_EXISTS: 25,
} as const;

/** A DSVC_* name without its prefix ("BUSY"). */
export type DsvcCodeName = keyof typeof DSVC;
/** A DSVC_* number (0..25). */
export type DsvcCode = (typeof DSVC)[DsvcCodeName];
/** Number of defined codes (upstream DSVC_NERR). */
export const DSVC_NERR = 26;

/** Upstream message texts (errmsgs.c), indexed by code. */
export const DSVC_MESSAGES: readonly string[] = [
  "Success",
  "Already exists",
  "Access denied",
  "No underlying service credential",
  "Entry does not exist",
  "Busy",
  "Invalid arguments",
  "Internal error",
  "Underlying service required by public module is unavailable",
  "Update collision",
  "Operation unsupported",
  "Virtual memory exhausted",
  "Non-memory resources unavailable",
  "Malformed/missing RESOURCE setting",
  "Malformed/missing PATH setting",
  "Public module version mismatch",
  "Error in public module",
  "Error loading public module",
  "Error unloading public module",
  "Module-specific configuration failed",
  "Error in synchronization protocol",
  "Cannot contact lock manager",
  "Location does not exist",
  "Malformed/missing CONVER setting",
  "Table does not exist",
  "Table already exists",
];

/** The upstream message for a code (dhcpsvc_errmsg), "<unknown error>" outside 0..25. */
export function dsvcErrmsg(code: number): string {
  return DSVC_MESSAGES[code] ?? "<unknown error>";
}

const NAMES: readonly string[] = Object.keys(DSVC);

/** "DSVC_BUSY" for 5; "DSVC_<n>" for an unknown number. */
export function dsvcCodeName(code: number): string {
  return `DSVC_${NAMES[code] ?? String(code)}`;
}

/** Whether `n` is one of the defined DSVC_* numbers. */
export function isDsvcCode(n: unknown): n is DsvcCode {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n < DSVC_NERR;
}

/**
 * The one error of the dhcp service: carries a DSVC_* code. The message is the upstream text,
 * then the detail after a colon ("Update collision: record 10.0.0.5 changed since it was read").
 */
export class DsvcError extends Error {
  /** The error class name. */
  override name = "DsvcError";
  /** The DSVC_* number. */
  readonly code: DsvcCode;
  /** The detail given when the error was raised, if any. */
  readonly detail: string | undefined;
  /** An error with a DSVC_* `code` and an optional detail after the upstream message. */
  constructor(code: DsvcCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${dsvcErrmsg(code)}: ${detail}` : dsvcErrmsg(code), options);
    this.code = code;
    this.detail = detail;
  }
  /** The code's name, e.g. "DSVC_COLLISION". */
  get codeName(): string {
    return dsvcCodeName(this.code);
  }
}

/** Whether `e` is a DsvcError, optionally with the given code. */
export function isDsvcError(e: unknown, code?: DsvcCode): e is DsvcError {
  return e instanceof DsvcError && (code === undefined || e.code === code);
}

// ---------------------------------------------------------------------------------------------
// Open flags, synchronization types

/** Create the container; it must not exist yet (needs DSVC_WRITE). */
export const DSVC_CREATE = 0x01;
/** Open for lookups. */
export const DSVC_READ = 0x02;
/** Open for add/modify/delete. */
export const DSVC_WRITE = 0x04;
/** Return DSVC_BUSY instead of waiting for a lock. */
export const DSVC_NONBLOCK = 0x08;
/** Every defined open flag. */
export const DSVC_OPEN_FLAGS = 0x0f;

/** The module wants no framework locking. */
export const DSVC_SYNCH_NONE = 0;
/** The module wants per-container shared/exclusive locks from the lock manager (dsvclockd). */
export const DSVC_SYNCH_DSVCD = 1;
/** Strategy part of a synchronization type. */
export const DSVC_SYNCH_STRATMASK = 0x0000ffff;
/** Flag part of a synchronization type. */
export const DSVC_SYNCH_FLAGMASK = 0xffff0000;
/** The location is shared between hosts (for example over NFS): locks must reach every host. */
export const DSVC_SYNCH_CROSSHOST = 0x00010000;

// ---------------------------------------------------------------------------------------------
// Records

/** Longest macro or symbol name (DSVC_MAX_MACSYM_LEN). */
export const DSVC_MAX_MACSYM_LEN = 128;
/** Longest binary client ID, in bytes (128 hex characters). */
export const DN_MAX_CID_LEN = 64;
/** Longest comment of a network record. */
export const DN_MAX_COMMENT_LEN = 48;
/** The name callers use for the dhcptab container. */
export const DT_DHCPTAB = "dhcptab";
/** dhcptab record type: symbol definition. */
export const DT_SYMBOL = "s";
/** dhcptab record type: macro. */
export const DT_MACRO = "m";
/** Permanent lease (0xffffffff, shown as -1 / "Forever"). */
export const DHCP_PERM = 0xffffffff;

/** dhcptab record type character. */
export type DtType = "s" | "m";

/**
 * A dhcptab record (upstream dt_rec_t). `sig` is the 64-bit update signature the module
 * assigns: 0 in a record that was never stored.
 */
export interface DtRec {
  /** Update signature (set by the store). */
  sig: bigint;
  /** Macro or symbol name, at most 128 characters. */
  key: string;
  /** DT_SYMBOL or DT_MACRO. */
  type: DtType;
  /** The definition; any length. */
  value: string;
}

/**
 * A network-table record (upstream dn_rec_t). Addresses are unsigned 32-bit numbers in host
 * order (10.0.0.1 = 0x0a000001); the lease is absolute seconds since the epoch (DHCP_PERM =
 * permanent). The client ID is binary: 1..64 bytes ("00" in text = the one byte 0x00 = free).
 */
export interface DnRec {
  /** Update signature (set by the store). */
  sig: bigint;
  /** Client identifier (empty for an unassigned address). */
  cid: Uint8Array;
  /** DN_F* bits, within DN_FALL. */
  flags: number;
  /** Client IP address, host order. */
  cip: number;
  /** Server IP address, host order. */
  sip: number;
  /** Lease expiry, seconds since the epoch (DHCP_PERM: permanent). */
  lease: number;
  /** At most 128 characters. */
  macro: string;
  /** At most 48 characters; cannot be queried. */
  comment: string;
}

/** Dynamic address (no bit set). */
export const DN_FDYNAMIC = 0x00;
/** Permanent lease ("PERMANENT"). */
export const DN_FAUTOMATIC = 0x01;
/** Manual, administrator-owned binding ("MANUAL"). */
export const DN_FMANUAL = 0x02;
/** Address marked unusable ("UNUSABLE"). */
export const DN_FUNUSABLE = 0x04;
/** BOOTP-only address ("BOOTP"). */
export const DN_FBOOTP_ONLY = 0x08;
/** Every valid flag bit. */
export const DN_FALL = 0x0f;

// ---------------------------------------------------------------------------------------------
// Query words

/** dhcptab query: key. */
export const DT_QKEY = 0x01;
/** dhcptab query: type. */
export const DT_QTYPE = 0x02;
/** Every dhcptab query field. */
export const DT_QALL = 0x03;

/** Network query: client ID. */
export const DN_QCID = 0x0001;
/** Network query: client IP. */
export const DN_QCIP = 0x0002;
/** Network query: server IP. */
export const DN_QSIP = 0x0004;
/** Network query: lease. */
export const DN_QLEASE = 0x0008;
/** Network query: macro. */
export const DN_QMACRO = 0x0010;
/** Network query: the DN_FDYNAMIC bit (always "equal": it is 0). */
export const DN_QFDYNAMIC = 0x0020;
/** Network query: the DN_FAUTOMATIC bit. */
export const DN_QFAUTOMATIC = 0x0040;
/** Network query: the DN_FMANUAL bit. */
export const DN_QFMANUAL = 0x0080;
/** Network query: the DN_FUNUSABLE bit. */
export const DN_QFUNUSABLE = 0x0100;
/** Network query: the DN_FBOOTP_ONLY bit. */
export const DN_QFBOOTP_ONLY = 0x0200;
/** Every network query field. */
export const DN_QALL = 0x03ff;

/**
 * A query word: the low 16 bits select the fields that take part; in the high 16 bits a set
 * bit means "must be equal", a clear one "must not be equal".
 */
export type Query = number;

/** An empty query: matches every record (QINIT). */
export function qinit(): Query {
  return 0;
}

/** `q` plus "field `v` must equal the target's" (QEQ). */
export function qeq(q: Query, v: number): Query {
  return (q | v | (v << 16)) >>> 0;
}

/** `q` plus "field `v` must differ from the target's" (QNEQ). */
export function qneq(q: Query, v: number): Query {
  return ((q | v) & ~(v << 16)) >>> 0;
}

/**
 * DSVC_QISEQ: whether any bit of `v` is selected in `q` and any bit of `v` is set in its
 * "equal" half (upstream `(q) & (v) && ((q) >> 16) & (v)`; for a single field, the field is
 * tested for equality).
 */
export function qiseq(q: Query, v: number): boolean {
  return (q & v) !== 0 && ((q >>> 16) & v) !== 0;
}

/**
 * DSVC_QISNEQ: whether any bit of `v` is selected in `q` and no bit of `v` is set in its
 * "equal" half (upstream `(q) & (v) && !(((q) >> 16) & (v))`).
 */
export function qisneq(q: Query, v: number): boolean {
  return (q & v) !== 0 && ((q >>> 16) & v) === 0;
}

/** Whether `q` only uses bits of `all` in both halves (else the framework says DSVC_INVAL). */
export function queryIsValid(q: Query, all: number): boolean {
  return Number.isInteger(q) && q >= 0 && q <= 0xffffffff && (q & 0xffff & ~all) === 0 &&
    ((q >>> 16) & ~all) === 0;
}

/** Lookup rules (upstream `partial`, `count`, `resultp == NULL`). */
export interface LookupOptions {
  /** Accept what was found if the scan could not finish (upstream B_TRUE). Default false. */
  partial?: boolean;
  /** At most this many records; -1 (default) = unlimited; 0 = return at once with none. */
  count?: number;
  /** Only count the matches: `records` stays empty, `count` holds the number. */
  countOnly?: boolean;
}

/** A lookup's outcome. Zero matches is success with `count` 0, never DSVC_NOENT. */
export interface LookupResult<R> {
  /** Matching records, fresh copies, in the module's order (SUNWfiles: reverse file order). */
  records: R[];
  /** Number of matches returned (or counted, with countOnly). */
  count: number;
}

/** What the framework passes to a module's lookup: the query, its target and the rules. */
export interface ModuleLookup<R> {
  /** The query bits (DT_Q… or DN_Q… constants). */
  query: Query;
  /** Holds at least every field the query selects. */
  target: R;
  /** Accept what was found if the scan could not finish. */
  partial: boolean;
  /** -1 = unlimited. Never 0 (the framework answers that itself). */
  count: number;
  /** Only count the matches. */
  countOnly: boolean;
}

// ---------------------------------------------------------------------------------------------
// The module contract

/** A module's own open-container state; opaque to the framework. */
export type ModuleHandle = object;

/**
 * Proof that a writer still holds its container's lock, checked right before the write
 * commits (the rename of a rewritten file, an unlink, a transaction's COMMIT). The framework
 * hands one to every add, modify, delete and remove; a module that commits in several steps
 * checks it before the one that makes the change visible.
 */
export interface CommitFence {
  /** Resolve while the lock is still held; reject with DSVC_SYNCH_ERR once it is lost. */
  check(): Promise<void>;
}

/** What the framework passes to a module's write functions besides the records. */
export interface WriteOptions {
  /** Absent when the module is not synchronized (nothing to lose). */
  fence?: CommitFence;
}

/**
 * What administrators are told about a module (the role of upstream's dhcpmgr management bean):
 * shown by `steward dhcp module list|info` and used by the `steward dhcp config` wizard.
 */
export interface ModuleDescription {
  /** One line, e.g. "Text files". */
  summary: string;
  /** What PATH means for this module, e.g. "Absolute path of the directory holding the tables". */
  pathHelp: string;
  /** A typical PATH, e.g. "/var/dhcp". */
  pathExample: string;
  /** What RESOURCE_CONFIG holds; absent when the module takes no config string. */
  configHelp?: string;
  /** A message saying what is wrong with `path`, or undefined when it is acceptable. */
  validatePath(path: string): string | undefined;
  /** A message saying what is wrong with `config`, or undefined when it is acceptable. */
  validateConfig?(config: string): string | undefined;
}

/**
 * A store module (upstream public module): the 19 required functions, an optional configure,
 * its synchronization type, container version and description. Failures are thrown as
 * DsvcError with the upstream code; success resolves. add/modify set `sig` on the record they
 * are given to the stored signature.
 */
export interface DsvcModule {
  /** RESOURCE name, e.g. "SUNWfiles". Letters, digits, `-`; starts with a letter. */
  readonly name: string;
  /** Container version this module reads and writes (upstream DSVC_CONVER). */
  readonly conver: number;
  /** DSVC_SYNCH_NONE, DSVC_SYNCH_DSVCD, or DSVC_SYNCH_DSVCD | DSVC_SYNCH_CROSSHOST. */
  readonly synchtype: number;
  /**
   * The module serializes concurrent updates itself (a database checking signatures in the
   * statement that writes): the framework runs its calls side by side instead of one update at
   * a time per container in this process. Optional; default false.
   */
  readonly concurrent?: boolean;
  /** What the configuration wizard shows about the module. */
  readonly description: ModuleDescription;

  /** Called with RESOURCE_CONFIG (undefined when unset) before any other call; throw DSVC_MODULE_CFG_ERR to refuse. */
  configure?(config: string | undefined): void | Promise<void>;
  /** The canonical name of a location, used in lock names; default is the location itself. */
  mkloctoken?(location: string): string | Promise<string>;

  /** Check the service and, when given, that `location` exists and is readable. */
  status(location?: string): Promise<void>;
  /** Must report DSVC_PUBLIC_VERSION. */
  version(): number | Promise<number>;
  /** Create `location` if it does not exist (DSVC_EXISTS if it does). */
  mklocation(location: string): Promise<void>;

  /** ["dhcptab"] or [] . */
  listDt(location: string): Promise<string[]>;
  /** Open the dhcptab at `location` with DSVC_* `flags`. */
  openDt(location: string, flags: number): Promise<ModuleHandle>;
  /** Close a dhcptab handle. */
  closeDt(handle: ModuleHandle): Promise<void>;
  /** Remove the dhcptab at `location`. */
  removeDt(location: string, options?: WriteOptions): Promise<void>;
  /** Records of the dhcptab matching the request. */
  lookupDt(handle: ModuleHandle, request: ModuleLookup<DtRec>): Promise<LookupResult<DtRec>>;
  /** Add a dhcptab record. */
  addDt(handle: ModuleHandle, newp: DtRec, options?: WriteOptions): Promise<void>;
  /** Replace `origp` (same key and signature) by `newp`. */
  modifyDt(handle: ModuleHandle, origp: DtRec, newp: DtRec, options?: WriteOptions): Promise<void>;
  /** Delete a dhcptab record. */
  deleteDt(handle: ModuleHandle, dtp: DtRec, options?: WriteOptions): Promise<void>;

  /** Dotted network addresses of the network containers, e.g. ["10.0.0.0"]. */
  listDn(location: string): Promise<string[]>;
  /** `net` and `mask` are host-order numbers. */
  openDn(location: string, flags: number, net: number, mask: number): Promise<ModuleHandle>;
  /** Close a network table handle. */
  closeDn(handle: ModuleHandle): Promise<void>;
  /** Remove the table of network `net` at `location`. */
  removeDn(location: string, net: number, options?: WriteOptions): Promise<void>;
  /** Records of a network table matching the request. */
  lookupDn(handle: ModuleHandle, request: ModuleLookup<DnRec>): Promise<LookupResult<DnRec>>;
  /** Add a network record. */
  addDn(handle: ModuleHandle, newp: DnRec, options?: WriteOptions): Promise<void>;
  /** Replace `origp` (same address and signature) by `newp`. */
  modifyDn(handle: ModuleHandle, origp: DnRec, newp: DnRec, options?: WriteOptions): Promise<void>;
  /** Delete a network record. */
  deleteDn(handle: ModuleHandle, dnp: DnRec, options?: WriteOptions): Promise<void>;
  /**
   * Optional: make the updates acknowledged through `handle` durable. The framework calls it
   * after each network update, once the container's lock is released and before the caller
   * hears of the update, so that concurrent updates can share one flush (group commit).
   */
  flushDn?(handle: ModuleHandle): Promise<void>;
}

/** The 19 required functions, in upstream's function-table order (dsvc_splapi_t). */
export const SPL_FUNCTIONS = [
  "status",
  "version",
  "mklocation",
  "listDt",
  "openDt",
  "closeDt",
  "removeDt",
  "lookupDt",
  "addDt",
  "modifyDt",
  "deleteDt",
  "listDn",
  "openDn",
  "closeDn",
  "removeDn",
  "lookupDn",
  "addDn",
  "modifyDn",
  "deleteDn",
] as const;

/**
 * What a module file exports as `default`: the module itself, or a factory that makes a fresh
 * one per opened store (so `configure` state is per store).
 */
export type DsvcModuleExport = DsvcModule | (() => DsvcModule);
