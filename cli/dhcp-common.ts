/**
 * What every `steward dhcp` command shares: where dhcpsvc.conf is, which module directories
 * are searched, opening the configured store, and turning store errors into one-line messages.
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
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
import { printJson } from "./output.ts";

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

/** A store failure as a CLI error that remembers the DSVC_* name of its cause. */
class StoreCliError extends CliError {
  readonly dsvc: string;
  constructor(message: string, dsvc: string) {
    super(message, EXIT.FAILURE);
    this.dsvc = dsvc;
  }
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
  return d ? new StoreCliError(escapeDiagnostic(d.message), d.codeName) : e;
}

/** What a `--json` command of `steward dhcp` prints on standard output when it fails. */
export interface DhcpJsonFailure {
  /** Always false: tells the failure from a command's result. */
  ok: false;
  /** The command, as typed after `steward dhcp` (e.g. "network show"). */
  command: string;
  /** The exit code the command ends with. */
  exitCode: number;
  /** The message also printed on standard error (without the `steward: ` prefix). */
  error: string;
  /** The DSVC_* name when the data store refused (e.g. "DSVC_NO_TABLE"), else null. */
  dsvc: string | null;
}

/** The JSON failure object for `e` thrown by the action of `command`. */
export function jsonFailure(command: string, e: unknown): DhcpJsonFailure {
  const dsvc = e instanceof StoreCliError ? e.dsvc : asDsvcError(e)?.codeName ?? null;
  if (e instanceof CliError) {
    return { ok: false, command, exitCode: e.exitCode, error: e.message, dsvc };
  }
  // Anything else is what the program reports as an internal error (exit 70).
  const message = escapeDiagnostic(e instanceof Error ? e.message : String(e));
  return { ok: false, command, exitCode: 70, error: `internal error: ${message}`, dsvc };
}

/**
 * Where commander (15) keeps a command's action; tests/dhcp/cli/json-schema.test.ts fails for
 * every --json command if that ever changes.
 */
interface WithActionHandler {
  _actionHandler: ((args: unknown[]) => unknown) | null;
}

function commandPath(cmd: Command, group: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c !== group; c = c.parent as Command | null) {
    names.unshift(c.name());
  }
  return names.join(" ");
}

/**
 * Wrap the action of every command under `group`, in this one place so that no action has to
 * remember it: a store error the action did not convert becomes a one-line error (exit 1, not
 * an internal error), and a command that takes `--json`, when given it, prints a
 * {@link DhcpJsonFailure} on standard output before the error goes on as usual (message on
 * standard error, exit code). Call once every command is registered.
 */
export function printJsonFailures(group: Command, root: Command = group): void {
  if (group.commands.length > 0) {
    // A mistake the option parser finds (unknown option, missing argument) never reaches the
    // action: when the command about to parse takes --json, its exit hook reports it too.
    // Set here, at dispatch, because the program sets every command's exit hook after building.
    group.hook("preSubcommand", (_self, sub) => {
      const cmd = sub as unknown as Command;
      if (!cmd.options.some((opt) => opt.long === "--json")) return;
      const name = commandPath(cmd, root);
      cmd.exitOverride((err) => {
        const quiet = ["commander.helpDisplayed", "commander.help", "commander.version"];
        if (!quiet.includes(err.code) && (cmd.opts() as { json?: boolean }).json === true) {
          const error = escapeDiagnostic(err.message.replace(/^error: /, ""));
          printJson({ ok: false, command: name, exitCode: EXIT.USAGE, error, dsvc: null });
        }
        throw err;
      });
    });
  }
  for (const sub of group.commands) {
    const cmd = sub as unknown as Command;
    const handler = cmd as unknown as WithActionHandler;
    const inner = handler._actionHandler;
    const json = cmd.options.some((opt) => opt.long === "--json");
    if (json && typeof inner !== "function") {
      throw new Error(`${commandPath(cmd, root)}: --json on a command without an action`);
    }
    if (typeof inner === "function") {
      const name = commandPath(cmd, root);
      handler._actionHandler = async (args: unknown[]) => {
        try {
          return await inner.call(cmd, args);
        } catch (e) {
          const failure = cliFailure(e);
          if (json && (cmd.opts() as { json?: boolean }).json === true) {
            printJson(jsonFailure(name, failure));
          }
          throw failure;
        }
      };
    }
    printJsonFailures(cmd, root);
  }
}
