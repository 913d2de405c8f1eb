/**
 * SUNWfiles (container version 1, built in) passes the conformance suite.
 */
import { conformanceSuite } from "../../../dhcp-testing.ts";
import { TMP_ROOT } from "../../helpers.ts";

conformanceSuite("SUNWfiles version 1", () => ({ resource: "SUNWfiles", conver: 1 }), {
  tempRoot: TMP_ROOT,
});
