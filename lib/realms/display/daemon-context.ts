/**
 * The one place where the display meets the daemon: a {@link DisplayContext} over a running
 * {@link RealmsDaemon}. Actions are handled as the socket commands `realmcmd_startrealm` /
 * `realmcmd_stoprealm` (logged, counted and answered the same way); rollerd counts come from
 * the same `rollctl -zonestatus` as realmstatus, refreshed in the background at most every
 * `countsMs`; log tails are read from the end of each realm's output log.
 * @internal
 * @module
 */
import { readLogTail } from "../log-tail.ts";
import { type HandledRealm, type HandlerContext, statusEntry } from "../handlers.ts";
import { managerSpec } from "../process.ts";
import type { Transition } from "../supervisor.ts";
import { REALM_RC, REALMCMD, type RealmCommand } from "../protocol/codes.ts";
import { type RealmReply } from "../protocol/framing.ts";
import type { DisplayContext, RealmAction, RealmCounts, RealmView } from "./context.ts";
import { type DisplayListen, RealmsDisplay } from "./display.ts";

/** What the adapter needs from the daemon (`RealmsDaemon` is one). */
export interface DisplayDaemon extends HandlerContext {
  readonly stateDir: string;
  readonly startedAt: number;
  readonly commandCounts: ReadonlyMap<string, number>;
  readonly transitions: Set<(t: Transition) => void>;
  handle(req: { command: RealmCommand; data: string }): Promise<{ reply: RealmReply }>;
}

/** Lines of a realm's output log shown on the page, and the bytes read to find them. */
const LOG_LINES = 20;
const LOG_BYTES = 16 * 1024;
const LOG_LINE_MAX = 400;

/** The last lines of a file (at most {@link LOG_LINES}, each cut at {@link LOG_LINE_MAX}). */
export function tailLines(file: string, lines = LOG_LINES, bytes = LOG_BYTES): string[] {
  return readLogTail(file, { lines, bytes, maxLineLength: LOG_LINE_MAX });
}

/** A {@link DisplayContext} over a daemon. */
export function daemonDisplayContext(
  d: DisplayDaemon,
  options: { countsMs?: number } = {},
): DisplayContext {
  const countsMs = options.countsMs ?? 30_000;
  const counts = new Map<string, { at: number; counts: RealmCounts | null }>();
  const refreshing = new Set<string>();
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const f of listeners) f();
  };
  const refreshCounts = (m: HandledRealm) => {
    const name = m.entry.name;
    if (refreshing.has(name)) return;
    refreshing.add(name);
    void statusEntry(d, m).then((e) => {
      counts.set(name, { at: Date.now(), counts: e.counts ?? null });
      changed();
    }, () => counts.set(name, { at: Date.now(), counts: null })).finally(() =>
      refreshing.delete(name)
    );
  };
  const logFile = (m: HandledRealm): string | undefined => {
    try {
      return managerSpec(m.entry, {
        directory: d.directory,
        stateDir: d.stateDir,
        env: d.env,
      }).logFile;
    } catch {
      return undefined;
    }
  };
  const view = (m: HandledRealm, withLog: boolean, now: number): RealmView => {
    const s = m.sup.snapshot();
    const rollerd = (m.entry.fields.rollrec ?? "") !== "";
    const c = counts.get(s.name);
    if (rollerd && s.state === "running" && (!c || now - c.at >= countsMs)) refreshCounts(m);
    const file = withLog ? logFile(m) : undefined;
    return {
      name: s.name,
      state: s.state,
      pid: s.pid ?? null,
      adopted: s.adopted,
      since: s.since,
      uptimeSeconds: s.state === "running" ? Math.max(0, Math.floor((now - s.since) / 1000)) : null,
      restarts: s.restarts,
      lastExit: s.lastExit ?? null,
      restartAt: s.restartAt ?? null,
      reason: s.reason ?? null,
      rollerd,
      counts: rollerd && s.state === "running" ? c?.counts ?? null : null,
      ...(withLog ? { log: file ? tailLines(file) : [] } : {}),
    };
  };
  const send = async (command: RealmCommand, realm: string): Promise<RealmReply> =>
    (await d.handle({ command, data: realm })).reply;
  const onTransition = (t: Transition) => {
    if (t.to !== "running") counts.delete(t.realm);
    changed();
  };
  return {
    listRealms: (o = {}) => {
      const now = Date.now();
      return Promise.resolve(d.sorted().map((m) => view(m, o.log === true, now)));
    },
    act: async (realm: string, action: RealmAction) => {
      d.write(4, "display", `page asks to ${action} realm "${realm}"`);
      if (action === "start") return send(REALMCMD.STARTREALM, realm);
      if (action === "stop") return send(REALMCMD.STOPREALM, realm);
      const stopped = await send(REALMCMD.STOPREALM, realm);
      if (stopped.code !== REALM_RC.OKAY) return stopped;
      return send(REALMCMD.STARTREALM, realm);
    },
    onChange: (fn) => {
      if (listeners.size === 0) d.transitions.add(onTransition);
      listeners.add(fn);
      return () => {
        listeners.delete(fn);
        if (listeners.size === 0) d.transitions.delete(onTransition);
      };
    },
    startedAt: d.startedAt,
    commandCounts: () => d.commandCounts,
    log: (level, message) => d.write(level === "err" ? 8 : 4, "display", message),
  };
}

/** The display of a daemon (what the daemon creates at start-up). */
export function createDaemonDisplay(
  d: DisplayDaemon,
  listen: DisplayListen & { countsMs?: number } = {},
): RealmsDisplay {
  const { countsMs, ...where } = listen;
  return new RealmsDisplay(daemonDisplayContext(d, countsMs !== undefined ? { countsMs } : {}), {
    stateDir: d.stateDir,
    ...where,
  });
}
