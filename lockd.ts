/**
 * The lock manager, for programs: named shared/exclusive locks that are released when their
 * holder dies, served by a per-user daemon that is started on demand and exits when idle.
 * Importing this entry point loads no dhcp or realms code.
 *
 * @example Take a lock while doing work
 * ```ts
 * import { LockClient } from "@steward/steward/lockd";
 *
 * await using locks = new LockClient();
 * {
 *   await using lock = await locks.acquire("backup/nightly", {
 *     mode: "exclusive",
 *     timeoutMs: 10_000,
 *   });
 *   console.log(`holding ${lock.name} (${lock.mode})`);
 *   // … only one holder of "backup/nightly" at a time runs here …
 * } // the lock is released here
 * const status = await locks.status();
 * console.log(`lock manager pid ${status.pid}, ${status.locks.length} lock(s) held`);
 * ```
 *
 * @module
 */

// The client: acquire, release (also by `await using`), status, stop
export {
  type AcquireOptions,
  identifyLockd,
  LockClient,
  type LockClientOptions,
  type LockdEvent,
  LockError,
  type LockErrorCode,
  type LockHandle,
  type LockMode,
} from "./lib/lockd/client.ts";

// What `status()` reports
export type {
  LockdHolderStatus,
  LockdLockStatus,
  LockdStatus,
  LockdWaiterStatus,
} from "./lib/lockd/protocol.ts";

// Where the per-user lock manager lives (its socket is `<runDir>/lockd.sock`)
export { defaultRunDir } from "./lib/platform/rundir.ts";
export { VERSION } from "./lib/platform/version.ts";
