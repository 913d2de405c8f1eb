/**
 * The built-in SUNWfiles module, container version 0 (legacy `dhcptab` and `a_b_c_d` files
 * without headers or signatures), so old locations can be read and converted.
 * @module
 */
import path from "node:path";
import { ipToString, parseIp } from "../../records.ts";
import { DSVC_SYNCH_CROSSHOST, DSVC_SYNCH_DSVCD, type DsvcModule } from "../../spi.ts";
import { FILES_RESOURCE, validateDirectoryPath } from "../files/module.ts";
import { textModule } from "../textstore.ts";
import { decodeDn0, decodeDt0, encodeDn0, encodeDt0 } from "./format.ts";

/** A fresh SUNWfiles version 0 module. */
export function createFiles0Module(): DsvcModule {
  return textModule({
    name: FILES_RESOURCE,
    conver: 0,
    synchtype: DSVC_SYNCH_DSVCD | DSVC_SYNCH_CROSSHOST,
    description: {
      summary: "Text files, legacy version 0 format (Solaris 2.6 to 8), for conversion",
      pathHelp:
        "Absolute path of the directory holding the legacy tables (dhcptab, <network with underscores>)",
      pathExample: "/var/dhcp",
      validatePath: validateDirectoryPath,
    },
    signatures: false,
    dtFileName: "dhcptab",
    dtFile: (location) => path.join(location, "dhcptab"),
    dnFile: (location, net) => path.join(location, ipToString(net).replaceAll(".", "_")),
    dtHeader: () => "",
    dnHeader: () => "",
    checkDtHead: () => undefined,
    checkDnHead: () => undefined,
    dtContinuation: true,
    dnContinuation: true,
    decodeDt: decodeDt0,
    decodeDn: decodeDn0,
    encodeDt: encodeDt0,
    encodeDn: encodeDn0,
    networkOf: (name) => {
      if (!/^\d{1,3}_\d{1,3}_\d{1,3}_\d{1,3}$/.test(name)) return undefined;
      const dotted = name.split("_").map(Number).join(".");
      return parseIp(dotted) === undefined ? undefined : dotted;
    },
  });
}
