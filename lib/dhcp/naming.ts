/**
 * Container and module names: `<MODULE><version>_dhcptab`, `<MODULE><version>_a_b_c_d`, the lock
 * name of a container, and the checks that keep any name from a request inside the location.
 * @module
 */
import { ipToString, parseIp } from "./records.ts";
import { DSVC, DsvcError, DT_DHCPTAB } from "./spi.ts";

/** Module (RESOURCE) names: a letter, then letters, digits or `-`, at most 64 characters. */
export const RESOURCE_NAME_RE = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

/** Highest container version accepted (container names carry 1..3 digits). */
export const MAX_CONVER = 999;

/** Throw DSVC_BAD_RESOURCE unless `name` is an acceptable module name. */
export function checkResourceName(name: string): string {
  if (!RESOURCE_NAME_RE.test(name)) {
    throw new DsvcError(
      DSVC.BAD_RESOURCE,
      `module names are a letter then letters, digits or '-' (at most 64): ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Throw DSVC_BAD_CONVER unless `conver` is a container version 0..999. */
export function checkConver(conver: number): number {
  if (!Number.isInteger(conver) || conver < 0 || conver > MAX_CONVER) {
    throw new DsvcError(DSVC.BAD_CONVER, `container versions are 0..${MAX_CONVER}: ${conver}`);
  }
  return conver;
}

/**
 * Parse a network container name from a request: a strict dotted quad that is not
 * 255.255.255.255 (DSVC_INVAL otherwise). Nothing else can reach a file name.
 */
export function parseNetworkName(name: string): number {
  const ip = parseIp(name);
  if (ip === undefined) {
    throw new DsvcError(
      DSVC.INVAL,
      `network names are dotted IPv4 addresses such as 10.0.0.0: ${JSON.stringify(name)}`,
    );
  }
  if (ip === 0xffffffff) throw new DsvcError(DSVC.INVAL, `not a network: ${name}`);
  return ip;
}

/** The container name of the dhcptab or a network (dotted), as administrators see it. */
export type ContainerName = string;

/** `SUNWfiles1_dhcptab`, `SUNWfiles1_10_0_0_0`: the upstream file/table name of a container. */
export function containerFileName(
  resource: string,
  conver: number,
  container: ContainerName,
): string {
  checkResourceName(resource);
  checkConver(conver);
  if (container === DT_DHCPTAB) return `${resource}${conver}_${DT_DHCPTAB}`;
  const net = parseNetworkName(container);
  return `${resource}${conver}_${ipToString(net).replaceAll(".", "_")}`;
}

/**
 * The network a container file name stands for ("10.0.0.0" for SUNWfiles1_10_0_0_0) when it
 * belongs to `resource` version `conver`, else undefined (upstream list_dn's pattern).
 */
export function networkOfFileName(
  resource: string,
  conver: number,
  fileName: string,
): string | undefined {
  const m = /^(.+?)(\d{1,3})_(\d{1,3})_(\d{1,3})_(\d{1,3})_(\d{1,3})$/.exec(fileName);
  if (!m || m[1] !== resource || Number(m[2]) !== conver) return undefined;
  const dotted = `${Number(m[3])}.${Number(m[4])}.${Number(m[5])}.${Number(m[6])}`;
  return parseIp(dotted) === undefined ? undefined : dotted;
}

/**
 * The lock-manager name of a container: `<canonical location>/<module><version>_<container>`,
 * dots kept (`/var/dhcp/SUNWfiles1_10.0.0.0`), as upstream dsvclockd names it.
 */
export function containerLockName(
  loctoken: string,
  resource: string,
  conver: number,
  container: ContainerName,
): string {
  const base = loctoken.endsWith("/") && loctoken.length > 1 ? loctoken.slice(0, -1) : loctoken;
  return `${base}/${resource}${conver}_${container}`;
}

/** The network address of `ip` under `mask`, dotted. */
export function networkName(ip: number, mask: number): string {
  return ipToString((ip & mask) >>> 0);
}
