/**
 * SUNWfiles (container version 1, built in) passes the conformance suite.
 */
import { conformanceSuite } from "./suite.ts";

conformanceSuite("SUNWfiles version 1", () => ({ resource: "SUNWfiles", conver: 1 }));
