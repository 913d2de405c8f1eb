/**
 * A third-party module loaded from a module directory (tests/dhcp/fixtures/modules/
 * ds_SAMPLEjson.1.mjs, plain JavaScript) passes the same conformance suite, on a smaller data set.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { conformanceSuite } from "../../../dhcp-testing.ts";
import { TMP_ROOT } from "../../helpers.ts";

const modules = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "fixtures",
  "modules",
);

conformanceSuite(
  "SAMPLEjson (third-party, from a module directory)",
  () => ({ resource: "SAMPLEjson", conver: 1, moduleDirs: [modules], config: "indent=0" }),
  {
    lastAddress: "172.21.3.255",
    capacityPrefix: 24,
    stress: { processes: 2, threads: 2, rounds: 3 },
    tempRoot: TMP_ROOT,
  },
);
