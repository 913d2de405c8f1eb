/**
 * Per-realm supervision settings read from realms-file fields that upstream tools ignore
 * (they keep unknown keywords): restart backoff and limits, stop signal and deadline, the
 * commands `realmcmd_command` may run, the rollctl used for status, the manager's output log.
 * @module
 */
import { constants } from "node:os";
import { RealmError } from "./errors.ts";
import { DEFAULT_POLICY, type RestartPolicy, type SupervisionPolicy } from "./supervisor.ts";
import type { RealmEntry } from "./process.ts";

/** The realms-file fields steward adds, with what they hold. */
export const SUPERVISION_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  restartdelay: "seconds before the first restart (default 1), doubled after each failure",
  restartmaxdelay: "ceiling of the restart delay in seconds (default 30)",
  maxrestarts: "consecutive failed runs restarted before the realm is marked failed (default 5)",
  stableafter: "seconds a manager must run for its failures to be forgotten (default 60)",
  restart: "on-failure (default), always, or never",
  stopsignal: "signal asking the manager to stop (default SIGINT with a rollrec, else SIGTERM)",
  stoptimeout: "seconds between the stop signal and SIGKILL (default 5)",
  allowcommands: "programs realmcmd_command may run in the realm, space-separated, or *",
  commandshell:
    'run realmcmd_command through /bin/sh -c, as upstream did: "1" (needs allowcommands "*")',
  commandtimeout: "seconds a realmcmd_command may run before it is killed (default 60)",
  rollctl: "program asked for rollerd-style zone status (default rollctl)",
  outputlog: "file the manager's output is appended to (default realm-logs/<realm>.log)",
  passenv: "variables of the daemon's environment passed to a realm running as another user",
});

function seconds(realm: RealmEntry, key: string, fallbackMs: number, min = 0): number {
  const v = realm.fields[key];
  if (v === undefined || v.trim() === "") return fallbackMs;
  const n = Number(v.trim());
  if (!Number.isFinite(n) || n < min || n > 86_400) {
    throw new RealmError(
      "invalid",
      `Realm ${realm.name}: ${key} must be a number of seconds: ${v}`,
    );
  }
  return Math.round(n * 1000);
}

/** Normalise `TERM`, `sigterm`, `15` to `SIGTERM`; undefined when it is not a signal. */
export function parseSignal(text: string): NodeJS.Signals | undefined {
  const t = text.trim().toUpperCase();
  const signals = constants.signals as Record<string, number>;
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    return Object.keys(signals).find((k) => signals[k] === n) as NodeJS.Signals | undefined;
  }
  const name = t.startsWith("SIG") ? t : `SIG${t}`;
  return name in signals ? name as NodeJS.Signals : undefined;
}

/** The supervision policy of a realm; throws a {@link RealmError} naming a bad field. */
export function realmPolicy(realm: RealmEntry): SupervisionPolicy {
  const f = realm.fields;
  const restart = (f.restart ?? "").trim() || DEFAULT_POLICY.restart;
  if (!["on-failure", "always", "never"].includes(restart)) {
    throw new RealmError(
      "invalid",
      `Realm ${realm.name}: restart must be on-failure, always or never: ${restart}`,
    );
  }
  const rollerd = (f.rollrec ?? "") !== "";
  const sigText = (f.stopsignal ?? "").trim();
  const stopSignal = sigText === "" ? (rollerd ? "SIGINT" : "SIGTERM") : parseSignal(sigText);
  if (!stopSignal) {
    throw new RealmError("invalid", `Realm ${realm.name}: stopsignal is not a signal: ${sigText}`);
  }
  let maxRestarts = DEFAULT_POLICY.maxRestarts;
  if (f.maxrestarts !== undefined && f.maxrestarts.trim() !== "") {
    maxRestarts = Number(f.maxrestarts.trim());
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0 || maxRestarts > 1_000_000) {
      throw new RealmError(
        "invalid",
        `Realm ${realm.name}: maxrestarts must be a whole number: ${f.maxrestarts}`,
      );
    }
  }
  const policy: SupervisionPolicy = {
    ...DEFAULT_POLICY,
    restartDelayMs: seconds(realm, "restartdelay", DEFAULT_POLICY.restartDelayMs, 0.01),
    maxRestartDelayMs: seconds(realm, "restartmaxdelay", DEFAULT_POLICY.maxRestartDelayMs, 0.01),
    maxRestarts,
    stableAfterMs: seconds(realm, "stableafter", DEFAULT_POLICY.stableAfterMs),
    restart: restart as RestartPolicy,
    stopSignal,
    stopTimeoutMs: seconds(realm, "stoptimeout", DEFAULT_POLICY.stopTimeoutMs),
  };
  realmCommandTimeout(realm);
  return policy;
}

/** Problems with a realm's steward fields, for checks (empty when none). */
export function policyProblems(realm: RealmEntry): string[] {
  try {
    realmPolicy(realm);
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** The time limit of realmcmd_command in the realm (field `commandtimeout`, default 60 s). */
export function realmCommandTimeout(realm: RealmEntry, fallbackMs = 60_000): number {
  return seconds(realm, "commandtimeout", fallbackMs, 0.01);
}

/** Whether the realm runs realmcmd_command through `/bin/sh -c` (field `commandshell`). */
export function commandShell(realm: RealmEntry): boolean {
  return ["1", "yes", "true", "on"].includes(
    (realm.fields.commandshell ?? "").trim().toLowerCase(),
  );
}

/** Whether the realm's `allowcommands` is `*`. */
export function allowsAllCommands(realm: RealmEntry): boolean {
  return (realm.fields.allowcommands ?? "").split(/[ \t,]+/).includes("*");
}

/** Whether `realmcmd_command` may run `program` in the realm (or every command is allowed). */
export function commandAllowed(realm: RealmEntry, program: string, allowAll: boolean): boolean {
  if (allowAll) return true;
  const list = (realm.fields.allowcommands ?? "").split(/[ \t,]+/).filter((w) => w !== "");
  return list.includes("*") || list.includes(program);
}
