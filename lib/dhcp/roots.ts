/**
 * The directories a dhcp PATH may name: `$STEWARD_DHCP_ROOTS` (colon-separated), else the lock
 * manager's CROSSHOST_ROOTS in /etc/default/steward-lockd, the same list lockd makes host-lock
 * files in, so that no command creates a container where another cannot lock or remove it.
 * No roots configured means no restriction (as upstream).
 * @module
 */
import path from "node:path";
import { LOCKD_DEFAULTS_FILE, readLockdDefaults } from "../lockd/defaults.ts";
import { PathGuard } from "../platform/guard.ts";
import { DSVC, DsvcError } from "./spi.ts";

/** Environment variable listing the allowed dhcp data directories. */
export const DHCP_ROOTS_ENV = "STEWARD_DHCP_ROOTS";

/** Allowed directories and where the list came from (for messages). */
export interface DhcpRoots {
  /** The directories a store may live in (empty: anywhere). */
  roots: readonly string[];
  /** Where the list came from: the environment variable or the lockd defaults file. */
  source: string;
}

/** The configured roots: $STEWARD_DHCP_ROOTS, else CROSSHOST_ROOTS of the lockd defaults file. */
export function configuredRoots(
  env: Record<string, string | undefined> = process.env,
  defaultsFile: string = LOCKD_DEFAULTS_FILE,
): DhcpRoots {
  const text = env[DHCP_ROOTS_ENV];
  if (text !== undefined && text !== "") {
    const roots = text.split(":").filter((r) => r !== "");
    const bad = roots.find((r) => !path.isAbsolute(r));
    if (bad !== undefined) {
      throw new DsvcError(DSVC.BAD_PATH, `${DHCP_ROOTS_ENV} entry is not an absolute path: ${bad}`);
    }
    return { roots, source: `$${DHCP_ROOTS_ENV}` };
  }
  return {
    roots: readLockdDefaults(defaultsFile).crosshostRoots,
    source: `CROSSHOST_ROOTS in ${defaultsFile}`,
  };
}

/**
 * Refuse (DSVC_BAD_PATH) a PATH that is a file-system path resolving, symbolic links included,
 * outside the roots. PATHs that are not absolute paths (a database name) are the module's
 * business and pass.
 */
export function checkLocationRoots(location: string, roots: DhcpRoots): void {
  if (roots.roots.length === 0 || !path.isAbsolute(location)) return;
  if (new PathGuard(roots.roots).allows(location)) return;
  throw new DsvcError(
    DSVC.BAD_PATH,
    `PATH ${location} is outside the allowed data directories ${
      roots.roots.join(", ")
    } (from ${roots.source})`,
  );
}
