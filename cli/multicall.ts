/**
 * The multi-call binary: invoked through a link named after an upstream tool, steward runs the
 * subcommand that stands for it, so existing scripts need no change.
 * @module
 */
import path from "node:path";

/** Upstream tool names and the steward subcommands that stand for them. */
export const MULTICALL: Readonly<Record<string, readonly string[]>> = {
  pntadm: ["dhcp", "pntadm"],
  dhtadm: ["dhcp", "dhtadm"],
  realmctl: ["realms", "ctl"],
  lsrealm: ["realms", "list"],
  realmchk: ["realms", "check"],
  dtrealms: ["realms", "daemon"],
};

/**
 * The name steward was invoked as: the link's name for the binary (`argv0`), the script's name
 * without its extension otherwise (`bin/pntadm -> cli/main.js`).
 */
export function invokedName(argv0: string, script: string | undefined, binary: boolean): string {
  const name = path.basename(binary || script === undefined ? argv0 : script);
  return name.replace(/\.(c|m)?(js|ts)$/, "");
}

/** `argv` (two leading entries) with the subcommand of `name` inserted when it is a tool's. */
export function expandMulticall(argv: readonly string[], name: string): string[] {
  const sub = Object.hasOwn(MULTICALL, name) ? MULTICALL[name] : undefined;
  if (!sub) return [...argv];
  return [...argv.slice(0, 2), ...sub, ...argv.slice(2)];
}
