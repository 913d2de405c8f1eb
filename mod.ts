/**
 * steward as a library: the lock manager client, the DHCP data-store framework and its
 * store modules, and the realm manager client, with the building blocks they share.
 *
 * @example Hold an exclusive lock while doing work (the lock manager is started on demand)
 * ```ts
 * import { LockClient } from "./mod.ts";
 *
 * const client = new LockClient();
 * {
 *   await using lock = await client.acquire("backup/nightly", { mode: "exclusive" });
 *   // … only one holder of "backup/nightly" at a time runs here …
 * }
 * client.close();
 * ```
 *
 * @module
 */

// Shared building blocks
export * from "./lib/platform/atomic.ts";
export * from "./lib/platform/guard.ts";
export * from "./lib/platform/rundir.ts";
export * from "./lib/log/logger.ts";
export { VERSION } from "./lib/platform/version.ts";

// Lock manager: the client, the daemon, its defaults file and its wire protocol
export * from "./lib/lockd/client.ts";
export * from "./lib/lockd/daemon.ts";
export * from "./lib/lockd/defaults.ts";
export * from "./lib/lockd/protocol.ts";

// DHCP: dhcptab values and the standard option table
export * from "./lib/dhcp/dhcptab/inittab.ts";
export * from "./lib/dhcp/dhcptab/macro.ts";
export * from "./lib/dhcp/dhcptab/symbol.ts";
export * from "./lib/dhcp/dhcptab/validate.ts";

// DHCP data-store framework (service-provider API, records, dhcpsvc.conf, store API)
export * from "./lib/dhcp/spi.ts";
export * from "./lib/dhcp/records.ts";
export * from "./lib/dhcp/naming.ts";
export * from "./lib/dhcp/conf.ts";
export * from "./lib/dhcp/store-api.ts";
export * from "./lib/dhcp/store.ts";
export * from "./lib/dhcp/modules.ts";
export { MemorySynchronizer } from "./lib/dhcp/sync.ts";
export * from "./lib/dhcp/match.ts";
export * from "./lib/dhcp/modules/files/module.ts";
export * from "./lib/dhcp/modules/files0/module.ts";
export * from "./lib/dhcp/convert.ts";
export * from "./lib/dhcp/netmasks.ts";
export * from "./lib/dhcp/roots.ts";

// Realms: the control protocol, paths, the realms file and its lock
export * from "./lib/realms/errors.ts";
export * from "./lib/realms/wire.ts";
export * from "./lib/realms/paths.ts";
export * from "./lib/realms/lock.ts";
export * from "./lib/realms/realmsfile.ts";
export * from "./lib/realms/realmmgr.ts";
export * from "./lib/realms/channel.ts";
export * from "./lib/realms/client.ts";
export * from "./lib/realms/realmchk.ts";

// Realms: the daemon, the supervision of realm managers, the daemon log, per-realm settings
export {
  REALMS_DAEMON_EXIT,
  RealmsDaemon,
  type RealmsDaemonOptions,
  RealmsDaemonStartError,
} from "./lib/realms/daemon.ts";
export {
  type ActionResult as RealmActionResult,
  backoffDelay as realmBackoffDelay,
  type Clock as SupervisorClock,
  DEFAULT_POLICY as DEFAULT_SUPERVISION_POLICY,
  describeExit as describeManagerExit,
  type ExitInfo as ManagerExit,
  type Launcher as ManagerLauncher,
  type LaunchHooks as ManagerLaunchHooks,
  type ManagerProcess,
  type RealmEvent,
  type RealmSnapshot,
  type RealmState,
  RealmSupervisor,
  type RestartPolicy,
  type SupervisionPolicy,
  type SupervisorOptions,
  type Transition as RealmTransition,
} from "./lib/realms/supervisor.ts";
export {
  formatLogLine as formatRealmLogLine,
  LogFileError as RealmLogFileError,
  logLevelName as realmLogLevelName,
  logTimestamp as realmLogTimestamp,
  type LogTz as RealmLogTz,
  RollLog,
  type RollLogOptions,
} from "./lib/realms/rolllog.ts";
export {
  commandAllowed as realmCommandAllowed,
  parseSignal as parseRealmStopSignal,
  policyProblems as realmPolicyProblems,
  realmPolicy,
  SUPERVISION_FIELDS,
} from "./lib/realms/policy.ts";

// DHCP: the upstream admin tools (pntadm, dhtadm, batch mode) as a library
export {
  ADMIN_EXIT,
  AdminError,
  flagKeywords,
  formatDhcptab,
  formatFlags,
  formatLease,
  formatNetworkTable,
  type LeaseStyle,
  type NetworkTableFormat,
  parseFlags,
  parseLeaseDate,
} from "./lib/dhcp/admin/format.ts";
export { adminFailure, asDsvcError } from "./lib/dhcp/admin/failure.ts";
export {
  AdminSession,
  type AdminSessionOptions,
  type DatastoreOverrides,
} from "./lib/dhcp/admin/session.ts";
export {
  type AdminTool,
  type BatchOptions,
  BatchSyntaxError,
  runAdminTool,
  runBatch,
  type RunToolOptions,
  splitWords,
} from "./lib/dhcp/admin/batch.ts";
export { parsePntadm, PNTADM_USAGE, type PntadmCommand } from "./lib/dhcp/admin/pntadm.ts";
export { DHTADM_USAGE, type DhtadmCommand, parseDhtadm } from "./lib/dhcp/admin/dhtadm.ts";
