/**
 * The DHCP data store: open the datastore a dhcpsvc.conf names, read and change the dhcptab and
 * the per-network tables through its store module (SUNWfiles built in, third-party modules from
 * a module directory), run pntadm/dhtadm command lines, and convert between datastores.
 *
 * @example Open the configured store and look up a client by IP and by client ID
 * ```ts
 * import {
 *   cidFromHex,
 *   cidToHex,
 *   DN_QCID,
 *   DN_QCIP,
 *   DSVC_READ,
 *   ipToString,
 *   openConfiguredStore,
 *   parseIp,
 *   qeq,
 *   qinit,
 * } from "@steward/steward/dhcp";
 *
 * // The dhcpsvc.conf named by $STEWARD_DHCPSVC_CONF, else /etc/inet/dhcpsvc.conf.
 * await using store = await openConfiguredStore();
 * await using net = await store.openNetwork("192.168.10.0", DSVC_READ);
 *
 * const byIp = await net.lookup(qeq(qinit(), DN_QCIP), { cip: parseIp("192.168.10.20") });
 * const byCid = await net.lookup(qeq(qinit(), DN_QCID), { cid: cidFromHex("01080020ABCDEF") });
 * for (const rec of [...byIp.records, ...byCid.records]) {
 *   console.log(ipToString(rec.cip), cidToHex(rec.cid), rec.macro, rec.comment);
 * }
 * ```
 *
 * @module
 */

// Opening a datastore
export {
  configuredConfFile,
  DHCPSVC_CONF_ENV,
  openConfiguredStore,
  openStore,
  resolveNetwork,
} from "./lib/dhcp/store.ts";
export type {
  Datastore,
  DhcpLockdSettings,
  DhcpStore,
  DhcpStoreOptions,
  DnContainer,
  DtContainer,
  OpenNetworkOptions,
  RemoveOptions,
  StoreContainer,
  Synchronizer,
  SyncLock,
  SyncMode,
} from "./lib/dhcp/store-api.ts";

// Records, queries, flags and error codes (the service-provider API)
export {
  DHCP_PERM,
  DN_FAUTOMATIC,
  DN_FBOOTP_ONLY,
  DN_FDYNAMIC,
  DN_FMANUAL,
  DN_FUNUSABLE,
  DN_QCID,
  DN_QCIP,
  DN_QFAUTOMATIC,
  DN_QFBOOTP_ONLY,
  DN_QFDYNAMIC,
  DN_QFMANUAL,
  DN_QFUNUSABLE,
  DN_QLEASE,
  DN_QMACRO,
  DN_QSIP,
  type DnRec,
  DSVC,
  DSVC_CREATE,
  DSVC_NONBLOCK,
  DSVC_READ,
  DSVC_WRITE,
  type DsvcCode,
  type DsvcCodeName,
  dsvcCodeName,
  DsvcError,
  DT_MACRO,
  DT_QKEY,
  DT_QTYPE,
  DT_SYMBOL,
  type DtRec,
  type DtType,
  isDsvcError,
  type LookupOptions,
  type LookupResult,
  qeq,
  qinit,
  qneq,
  type Query,
} from "./lib/dhcp/spi.ts";
export {
  cidFromHex,
  cidToHex,
  type DnRecInit,
  ipToString,
  makeDnRec,
  makeDtRec,
  parseIp,
} from "./lib/dhcp/records.ts";

// dhcpsvc.conf
export {
  DHCPSVC_CONF_FILE,
  DhcpsvcConf,
  type DhcpsvcConfLine,
  readDhcpsvcConf,
  writeDhcpsvcConf,
} from "./lib/dhcp/conf.ts";

// dhcptab values: macros and symbol definitions
export { formatMacroValue, type MacroItem, parseMacroValue } from "./lib/dhcp/dhcptab/macro.ts";
export {
  DhcptabSyntaxError,
  formatSymbolDefinition,
  parseSymbolDefinition,
  type SymbolContext,
  type SymbolDefinition,
} from "./lib/dhcp/dhcptab/symbol.ts";
export type { OptionType } from "./lib/dhcp/dhcptab/inittab.ts";

// Store modules: the built-in ones, loading third-party ones, and writing one
export {
  builtinModuleNames,
  listModules,
  loadModule,
  MODULE_PATH_ENV,
} from "./lib/dhcp/modules.ts";
export type { DsvcModuleInfo, LoadedDsvcModule } from "./lib/dhcp/store-api.ts";
export {
  type CommitFence,
  DSVC_PUBLIC_VERSION,
  DSVC_SYNCH_CROSSHOST,
  DSVC_SYNCH_DSVCD,
  DSVC_SYNCH_NONE,
  type DsvcModule,
  type DsvcModuleExport,
  type ModuleDescription,
  type ModuleHandle,
  type ModuleLookup,
  type WriteOptions,
} from "./lib/dhcp/spi.ts";
export { matchDnRec, matchDtRec } from "./lib/dhcp/match.ts";

// The upstream admin tools as a library, and converting between datastores
export {
  AdminSession,
  type AdminSessionOptions,
  type DatastoreOverrides,
} from "./lib/dhcp/admin/session.ts";
export {
  type AdminTool,
  type BatchOptions,
  runAdminTool,
  runBatch,
  type RunToolOptions,
} from "./lib/dhcp/admin/batch.ts";
export { type ConvertOptions, type ConvertResult, convertStore } from "./lib/dhcp/convert.ts";
export {
  convertConfigured,
  type ConvertJobOptions,
  type ConvertJobResult,
  type ConvertProgress,
} from "./lib/dhcp/convert-job.ts";
export {
  checkNetwork,
  type NetworkCheckOptions,
  type NetworkCheckReport,
} from "./lib/dhcp/check.ts";
// Netmasks and the directories a store may live in
export {
  describeNetmask,
  findNetmask,
  type FoundNetmask,
  NETMASKS_ENV,
  NETMASKS_FILES,
  netmasksFiles,
} from "./lib/dhcp/netmasks.ts";
export { configuredRoots, DHCP_ROOTS_ENV, type DhcpRoots } from "./lib/dhcp/roots.ts";

// The DHCPv4 server on the store (steward dhcp serve)
export { defaultStatusFile, runServer, type RunServerOptions } from "./lib/dhcp/serve/server.ts";
export {
  type NetworkSpec,
  SERVE_KEYS,
  type ServeConfig,
  serveConfig,
} from "./lib/dhcp/serve/config.ts";
export { PG_CONVER, PG_RESOURCE } from "./lib/dhcp/modules/pg/module.ts";
export {
  BINFILES_RESOURCE,
  type Durability as BinfilesDurability,
} from "./lib/dhcp/modules/binfiles/module.ts";
