/**
 * The realm manager protocol's vocabulary, as upstream `realmmgr.pm` defines it: the command
 * strings and the return codes (plus steward's own), and command verification.
 * @module
 */

/** The command strings of the protocol (upstream `REALMCMD_*` constants, plus `realmcmd_nodisplay`). */
export const REALMCMD = {
  COMMAND: "realmcmd_command",
  DISPLAY: "realmcmd_display",
  GETSTATUS: "realmcmd_getstatus",
  LOGFILE: "realmcmd_logfile",
  LOGLEVEL: "realmcmd_loglevel",
  LOGMSG: "realmcmd_logmsg",
  LOGTZ: "realmcmd_logtz",
  NODISPLAY: "realmcmd_nodisplay",
  REALMSTATUS: "realmcmd_realmstatus",
  SHUTDOWN: "realmcmd_shutdown",
  STARTALL: "realmcmd_startall",
  STARTREALM: "realmcmd_startrealm",
  STATUS: "realmcmd_status",
  STOPALL: "realmcmd_stopall",
  STOPREALM: "realmcmd_stoprealm",
  /** steward's: each realm's supervision state as JSON (see docs/realms.md); not upstream's. */
  SUPERVISION: "realmcmd_supervision",
} as const;

/** One of the command strings of {@link REALMCMD}. */
export type RealmCommand = typeof REALMCMD[keyof typeof REALMCMD];

/** Every command string, sorted. */
export const REALM_COMMANDS: readonly RealmCommand[] = Object.values(REALMCMD).sort();

/**
 * Return codes. 0..11 are upstream's `REALMCMD_RC_*` values; 12..16 are steward's own, for the
 * cases where upstream sent no reply at all (or crashed). Upstream clients treat every non-zero code as failure.
 */
export const REALM_RC = {
  /** 0 — success. */
  OKAY: 0,
  /** 1 — bad log level (loglevel, logmsg). */
  BADLEVEL: 1,
  /** 2 — log file change failed. */
  BADFILE: 2,
  /** 3 — unused upstream (inherited from rollmgr). */
  BADSLEEP: 3,
  /** 4 — a realm could not be started or stopped (upstream crashed sending it). */
  BADREALM: 4,
  /** 5 — bad log time zone. */
  BADTZ: 5,
  /** 6 — unused upstream. */
  REALMOPEN: 6,
  /** 7 — startall/stopall had nothing to do. */
  NOREALMS: 7,
  /** 8 — malformed realmcmd_command data. */
  BADREALMDATA: 8,
  /** 9 — display already in the requested state. */
  DISPLAY: 9,
  /** 10 — unused upstream. */
  NOARGS: 10,
  /** 11 — realmcmd_command timed out. */
  BADEVENT: 11,
  /** 12 (steward) — unknown command or malformed request; upstream sent no reply. */
  BADCOMMAND: 12,
  /** 13 (steward) — a known command this daemon does not offer (yet). */
  UNAVAILABLE: 13,
  /** 14 (steward) — the request is not permitted (e.g. realmcmd_command not allowed in the realm). */
  REFUSED: 14,
  /** 15 (steward) — the daemon failed while carrying out the command (the message says why). */
  FAILED: 15,
  /** 16 (steward) — too many connections: nothing was done; retry after a short wait. */
  BUSY: 16,
} as const;

/** A return code name of {@link REALM_RC}. */
export type RealmReturnName = keyof typeof REALM_RC;

/** The return code's name (`OKAY`, `BADREALM`…), or undefined for a number steward does not know. */
export function realmReturnCodeName(code: number): RealmReturnName | undefined {
  for (const [name, value] of Object.entries(REALM_RC)) {
    if (value === code) return name as RealmReturnName;
  }
  return undefined;
}

/** The upstream constant for a return code (`REALMCMD_RC_BADREALM`), or undefined. */
export function realmReturnConstant(code: number): string | undefined {
  const name = realmReturnCodeName(code);
  return name === undefined ? undefined : `REALMCMD_RC_${name}`;
}

/** Client-side flags of upstream `realmmgr_sendcmd`: wait for the reply, or close right after sending. */
export const CHANNEL_WAIT = 0;
/** See {@link CHANNEL_WAIT}. */
export const CHANNEL_CLOSE = 1;

/** Whether `command` is one of the protocol's commands (what upstream `realmmgr_verifycmd` meant to do). */
export function verifyRealmCommand(command: string): command is RealmCommand {
  return (REALM_COMMANDS as readonly string[]).includes(command);
}
