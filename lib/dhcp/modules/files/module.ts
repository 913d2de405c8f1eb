/**
 * The built-in SUNWfiles module, container version 1: text files byte-compatible with
 * upstream's `SUNWfiles1_dhcptab` and `SUNWfiles1_a_b_c_d`, shareable over NFS, synchronized
 * through the lock manager.
 * @module
 */
import path from "node:path";
import { cidToHex, ipToString } from "../../records.ts";
import { networkOfFileName } from "../../naming.ts";
import {
  DN_QCID,
  DSVC_SYNCH_CROSSHOST,
  DSVC_SYNCH_DSVCD,
  type DsvcModule,
  type ModuleDescription,
  qiseq,
} from "../../spi.ts";
import { textModule } from "../textstore.ts";
import {
  decodeDn,
  decodeDt,
  dnHeader,
  dtHeader,
  encodeDn,
  encodeDt,
  firstLineOf,
  headerMatches,
} from "./format.ts";

/** Module name. */
export const FILES_RESOURCE = "SUNWfiles";
/** Container version of this module. */
export const FILES_CONVER = 1;

/** Checks shared by the text-file modules' PATH. */
export function validateDirectoryPath(p: string): string | undefined {
  if (p === "") return "PATH is empty";
  if (!path.isAbsolute(p)) return `PATH must be an absolute directory path: ${p}`;
  if (/[\n\r\0]/.test(p)) return "PATH must not contain line breaks or NUL characters";
  return undefined;
}

/** What administrators are told about SUNWfiles. */
export const FILES_DESCRIPTION: ModuleDescription = {
  summary: "Text files",
  pathHelp:
    "Absolute path of the directory holding the tables (SUNWfiles1_dhcptab, SUNWfiles1_<network>); it may be shared over NFS",
  pathExample: "/var/dhcp",
  validatePath: validateDirectoryPath,
};

const FILE_PREFIX = `${FILES_RESOURCE}${FILES_CONVER}_`;

/** A fresh SUNWfiles version 1 module. */
export function createFilesModule(): DsvcModule {
  const dtLine = `# ${FILE_PREFIX}dhcptab`;
  return textModule({
    name: FILES_RESOURCE,
    conver: FILES_CONVER,
    synchtype: DSVC_SYNCH_DSVCD | DSVC_SYNCH_CROSSHOST,
    description: FILES_DESCRIPTION,
    signatures: true,
    dtFileName: `${FILE_PREFIX}dhcptab`,
    dtFile: (location) => path.join(location, `${FILE_PREFIX}dhcptab`),
    dnFile: (location, net) =>
      path.join(location, FILE_PREFIX + ipToString(net).replaceAll(".", "_")),
    dtHeader: () => dtHeader(FILES_RESOURCE, FILES_CONVER),
    dnHeader: (net) => dnHeader(FILES_RESOURCE, FILES_CONVER, net),
    checkDtHead: (head) =>
      headerMatches(head, dtLine)
        ? undefined
        : `first line is ${firstLineOf(head)}, expected "${dtLine}"`,
    checkDnHead: (head, net) => {
      const want = `# ${FILE_PREFIX}${ipToString(net).replaceAll(".", "_")}`;
      return headerMatches(head, want)
        ? undefined
        : `first line is ${firstLineOf(head)}, expected "${want}"`;
    },
    dtContinuation: true,
    dnContinuation: false,
    decodeDt: (text, at) => (text === "" || text.startsWith("#") ? undefined : decodeDt(text, at)),
    decodeDn: (text, at) => (text === "" || text.startsWith("#") ? undefined : decodeDn(text, at)),
    encodeDt,
    encodeDn,
    cipNeedle: (cip) => `${ipToString(cip)}|`,
    dnPrefilter: (text, query, target) => {
      // Client-ID lookups (a server's DISCOVER path) compare the hex field before parsing.
      if (!qiseq(query, DN_QCID) || text === "" || text.startsWith("#")) return true;
      const a = text.indexOf("|");
      const b = a < 0 ? -1 : text.indexOf("|", a + 1);
      if (b < 0) return true;
      const field = text.slice(a + 1, b);
      const want = cidToHex(target.cid);
      return field.length === want.length && field.toUpperCase() === want;
    },
    networkOf: (name) => networkOfFileName(FILES_RESOURCE, FILES_CONVER, name),
  });
}
