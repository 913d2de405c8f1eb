/**
 * The conformance suite for store modules: every case of upstream's public-module test
 * specification, run through the framework against your module, plus the framework's own
 * validation rules. Run it from a `node:test` file (`node --test`, or `deno test` with
 * read, write, env, net, run and sys permissions).
 *
 * @example Run the suite against a store module loaded from a module directory
 * ```ts
 * import { conformanceSuite } from "@steward/steward/dhcp/testing";
 *
 * // A module directory holding ds_SAMPLEjson.1.mjs, the module under test.
 * conformanceSuite("SAMPLEjson", () => ({
 *   resource: "SAMPLEjson",
 *   conver: 1,
 *   moduleDirs: ["./modules"],
 * }), {
 *   // A smaller data set and stress run than the specification's, for a quick check.
 *   lastAddress: "172.21.3.255",
 *   capacityPrefix: 24,
 *   stress: { processes: 2, threads: 2, rounds: 3 },
 * });
 * ```
 *
 * @module
 */

export {
  type ConformanceOptions,
  conformanceSuite,
  type ModuleUnderTest,
  rejectsWith,
} from "./lib/dhcp/testing/conformance.ts";
