/**
 * What the status page and the metrics need from the realms daemon, and nothing more: the
 * realms as the page shows them, the actions (through the daemon's own command path), a change
 * hook, and the daemon's start time and command counts.
 * @internal
 * @module
 */
import type { RealmReply } from "../protocol/framing.ts";

/** The states a realm can be in (the supervisor's). */
export const REALM_VIEW_STATES = [
  "inactive",
  "starting",
  "running",
  "backoff",
  "stopping",
  "failed",
] as const;

/** A realm state. */
export type RealmViewState = typeof REALM_VIEW_STATES[number];

/** rollerd's zone counts of a realm, as realmstatus gives them. */
export interface RealmCounts {
  normal: number;
  zsk: number;
  ksk: number;
  kskPhase6: number;
}

/** One realm as the page and the metrics show it. */
export interface RealmView {
  name: string;
  state: RealmViewState;
  pid: number | null;
  /** A manager found from a previous daemon run. */
  adopted: boolean;
  /** When the current state was entered (ms since the epoch). */
  since: number;
  /** Seconds the manager has been running (running only). */
  uptimeSeconds: number | null;
  /** Restarts made since the realm was last started by hand. */
  restarts: number;
  /** How the manager last ended. */
  lastExit: { code: number | null; signal: string | null } | null;
  /** When the next restart is due (backoff only, ms since the epoch). */
  restartAt: number | null;
  /** Why the realm failed (failed only). */
  reason: string | null;
  /** Whether the realm runs rollerd (has a rollrec). */
  rollerd: boolean;
  /** rollerd's counts, when known (refreshed in the background). */
  counts: RealmCounts | null;
  /** The last lines of the realm's output log (only when asked for). */
  log?: string[];
}

/** The actions the page offers. */
export type RealmAction = "start" | "stop" | "restart";

/** What the page needs from the daemon. */
export interface DisplayContext {
  /** Every realm, sorted by name; with `log`, the last lines of each realm's output log. */
  listRealms(options?: { log?: boolean }): Promise<RealmView[]>;
  /** Start, stop or restart a realm through the same path as the socket commands. */
  act(realm: string, action: RealmAction): Promise<RealmReply>;
  /** Call `fn` when a realm changes; returns the function that unsubscribes. */
  onChange(fn: () => void): () => void;
  /** When the daemon started (ms since the epoch). */
  readonly startedAt: number;
  /** Commands handled so far, by command string (socket and page together). */
  commandCounts(): ReadonlyMap<string, number>;
  /** A log line (never given the token). */
  log(level: "info" | "err", message: string): void;
}
