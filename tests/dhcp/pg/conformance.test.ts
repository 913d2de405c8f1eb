/**
 * STEWpgsql (built in) passes the conformance suite against the local PostgreSQL, each run in
 * schemas of its own; skipped with the reason when no server answers.
 */
import { after, it } from "node:test";
import { conformanceSuite } from "../conformance/suite.ts";
import { endAllClients } from "../../../lib/dhcp/modules/pg/client.ts";
import { dropSchemas, PG_TEST_CONFIG, pgSkipReason, runTag } from "./helpers.ts";

const skip = await pgSkipReason();
const tag = runTag("conf");

if (skip) {
  it("conformance: STEWpgsql version 1", { skip }, () => {});
} else {
  conformanceSuite("STEWpgsql version 1", () => ({
    resource: "STEWpgsql",
    conver: 1,
    config: PG_TEST_CONFIG,
    newLocation: (_dir, n) => `${tag}_${n}`,
    invalidLocation: () => "Not a schema; DROP TABLE x",
    removeLocation: async (loc) => await dropSchemas(loc),
  }));
  after(async () => {
    await dropSchemas(tag);
    await endAllClients();
  });
}
