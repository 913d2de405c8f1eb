/**
 * steward as a library: the lock manager client, the DHCP data store and its store modules,
 * and the realm manager client. Each service also has its own entry point, which loads only
 * that service: `@steward/steward/lockd`, `@steward/steward/dhcp`, `@steward/steward/realms`,
 * and `@steward/steward/dhcp/testing` for authors of store modules.
 *
 * @example Hold an exclusive lock while doing work (the lock manager is started on demand)
 * ```ts
 * import { LockClient } from "@steward/steward";
 *
 * await using client = new LockClient();
 * {
 *   await using lock = await client.acquire("backup/nightly", { mode: "exclusive" });
 *   console.log(`holding ${lock.name}`);
 * }
 * ```
 *
 * @module
 */

export * from "./lockd.ts";
export * from "./dhcp.ts";
export * from "./realms.ts";
