/**
 * SUNWbinfiles (container version 1, built in) passes the conformance suite, in both
 * durability settings.
 */
import { conformanceSuite } from "../conformance/suite.ts";

conformanceSuite("SUNWbinfiles version 1", () => ({ resource: "SUNWbinfiles", conver: 1 }));
conformanceSuite("SUNWbinfiles version 1, relaxed durability", () => ({
  resource: "SUNWbinfiles",
  conver: 1,
  config: "durability=relaxed",
}));
