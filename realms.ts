/**
 * The realm manager: read, check and edit realms files, talk to a running realms daemon as
 * `realmctl` does, and serve the control channel of a realm manager of your own.
 *
 * @example Read a realms file and ask a running daemon for status
 * ```ts
 * import { RealmManagerClient, readRealmsFile } from "@steward/steward/realms";
 *
 * const file = await readRealmsFile("example.realm");
 * for (const realm of file.realms()) {
 *   console.log(`${realm.name}: ${realm.fields.state ?? "active"} in the file`);
 * }
 *
 * // The daemon listens on <statedir>/dnssec-tools/realmmgr.socket.
 * const client = new RealmManagerClient({ stateDir: "state" });
 * for (const realm of await client.realmStatus()) {
 *   console.log(`${realm.name}: ${realm.state} in the daemon`);
 * }
 * ```
 *
 * @module
 */

// The realms file
export {
  parseRealmsFile,
  readRealmsFile,
  readRealmsFileSync,
  REALM_FIELDS,
  type RealmField,
  type RealmRecord,
  RealmsFile,
  RealmsFileError,
  type RealmsFileIssue,
  type RealmsWriteOptions,
  type ResolvedRealmPaths,
  resolveRealmPaths,
  updateRealmsFile,
  writeRealmsFile,
} from "./lib/realms/realmsfile.ts";
export { checkRealmDefinition, type RealmCheckOptions } from "./lib/realms/check.ts";

// Talking to a running daemon
export {
  type RealmCallOptions,
  type RealmCommandOutput,
  RealmManagerClient,
  type RealmManagerClientOptions,
  type RealmManagerStatus,
} from "./lib/realms/client.ts";
export {
  type PhaseCounts,
  type RealmBatchResult,
  type RealmManagerStatusParameter,
  type RealmStatusEntry,
  type RealmSupervision,
  type RealmSupervisionReport,
} from "./lib/realms/protocol/bodies.ts";
export {
  REALM_COMMANDS,
  REALM_RC,
  REALMCMD,
  type RealmCommand,
} from "./lib/realms/protocol/codes.ts";
export {
  type RealmReply,
  type RealmRequest,
  type RealmWireLimits,
} from "./lib/realms/protocol/framing.ts";
export { RealmError, type RealmErrorKind } from "./lib/realms/errors.ts";
export {
  defaultRealmsFile,
  realmSocketPath,
  realmStateDir,
  type RealmStateDirOptions,
} from "./lib/realms/paths.ts";

// Serving the control channel of a realm manager of your own
export {
  openRealmChannelServer,
  type RealmChannelRequest,
  type RealmChannelServer,
  type RealmChannelServerOptions,
  type RealmCommandHandler,
  RealmCommandQueue,
  type RealmHandlerResult,
} from "./lib/realms/transport/server.ts";
export { type RealmChannelClientOptions } from "./lib/realms/transport/client.ts";
export { type RealmmgrOptions } from "./lib/realms/idfile.ts";
export { VERSION } from "./lib/platform/version.ts";
