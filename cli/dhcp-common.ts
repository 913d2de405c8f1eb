/**
 * What every `steward dhcp` command shares: where dhcpsvc.conf is, which module directories
 * are searched, opening the configured store, and turning store errors into one-line messages.
 * @module
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { asDsvcError } from "../lib/dhcp/admin/failure.ts";
import { AdminError, escapeDiagnostic } from "../lib/dhcp/admin/format.ts";
import { AdminSession } from "../lib/dhcp/admin/session.ts";
import { DHCPSVC_CONF_FILE } from "../lib/dhcp/conf.ts";
import { listModules } from "../lib/dhcp/modules.ts";
import { DSVC, DsvcError } from "../lib/dhcp/spi.ts";
import type { DhcpStore, DhcpStoreOptions } from "../lib/dhcp/store-api.ts";
import { openStore } from "../lib/dhcp/store.ts";
import { DhcptabSyntaxError } from "../lib/dhcp/dhcptab/symbol.ts";
import { pidState, sendSignal } from "../lib/platform/pid.ts";
import { CliError, EXIT } from "./errors.ts";

/** Environment variable naming the dhcpsvc.conf to use. */
export const CONF_ENV = "STEWARD_DHCPSVC_CONF";
/** Environment variable naming the DHCP server's pid file (signalled by `dhtadm -g`). */
export const DHCPD_PIDFILE_ENV = "STEWARD_DHCPD_PIDFILE";
/** The DHCP server's pid file when the environment names none. */
export const DEFAULT_DHCPD_PIDFILE = "/var/run/in.dhcpd.pid";
/** Largest batch file read. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** Options every dhcp command accepts. */
export interface DhcpCommonOptions {
  conf?: string;
  moduleDir?: string[];
}

/** The dhcpsvc.conf path: --conf, else $STEWARD_DHCPSVC_CONF, else /etc/inet/dhcpsvc.conf. */
export function confFile(o: DhcpCommonOptions): string {
  const f = o.conf ?? process.env[CONF_ENV];
  return f !== undefined && f !== "" ? path.resolve(f) : DHCPSVC_CONF_FILE;
}

/** Store options for the framework (module directories; lockd honours $STEWARD_RUN_DIR). */
export function storeOptions(o: DhcpCommonOptions): DhcpStoreOptions {
  return o.moduleDir && o.moduleDir.length > 0 ? { moduleDirs: o.moduleDir } : {};
}

/** Read a batch file, or standard input when `file` is undefined, with a size limit. */
export async function readBatchInput(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    const st = await fsp.stat(file);
    if (st.size > MAX_BATCH_BYTES) throw new Error(`larger than ${MAX_BATCH_BYTES} bytes`);
    return await fsp.readFile(file, "utf8");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_BATCH_BYTES) {
      throw new Error(`standard input is larger than ${MAX_BATCH_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function reloadDhcpd(): Promise<void> {
  const file = process.env[DHCPD_PIDFILE_ENV] || DEFAULT_DHCPD_PIDFILE;
  let text: string;
  try {
    text = (await fsp.readFile(file, "utf8")).slice(0, 64).trim();
  } catch {
    throw new Error(`no DHCP server pid file ${file}`);
  }
  if (!/^\d{1,10}$/.test(text)) throw new Error(`${file} does not hold a process id`);
  const pid = Number(text);
  if (!sendSignal(pid, "SIGHUP")) {
    throw new Error(
      pidState(pid) === "gone"
        ? `process ${pid} named in ${file} is not running`
        : `not permitted to signal process ${pid} named in ${file}`,
    );
  }
}

/** An admin session on the configured store, writing to the process's output. */
export function adminSession(o: DhcpCommonOptions): AdminSession {
  const opts = storeOptions(o);
  return new AdminSession({
    confFile: confFile(o),
    openStore: (ds) => openStore(ds, opts),
    currentVersion: async (resource) => {
      const m = (await listModules(opts)).find((x) => x.name === resource);
      if (!m) throw new DsvcError(DSVC.MODULE_LOAD_ERR, `no module ${resource}`);
      return m.current;
    },
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(escapeDiagnostic(t)),
    reloadServer: reloadDhcpd,
  });
}

/** Run `fn` with the configured store, closing it afterwards. */
export async function withStore<T>(
  o: DhcpCommonOptions,
  fn: (store: DhcpStore, session: AdminSession) => Promise<T>,
): Promise<T> {
  const session = adminSession(o);
  try {
    return await fn(await session.store(), session);
  } catch (e) {
    throw cliFailure(e);
  } finally {
    await session.close();
  }
}

/** A store, syntax or admin error as a one-line CLI error (exit 1); anything else unchanged. */
export function cliFailure(e: unknown): unknown {
  if (e instanceof CliError) return e;
  // Messages may echo what the user or a file gave: no raw control characters on stderr.
  if (e instanceof DhcptabSyntaxError || e instanceof AdminError) {
    return new CliError(escapeDiagnostic(e.message), EXIT.FAILURE);
  }
  const d = asDsvcError(e);
  return d ? new CliError(escapeDiagnostic(d.message), EXIT.FAILURE) : e;
}
