/**
 * The lockd wire protocol, version 1: message shapes, limits, error codes and the validation of
 * requests. Pure: no sockets. Framing is lib/ipc/frames.ts (4-byte big-endian length + UTF-8 JSON).
 * docs/lockd.md describes it for people writing their own clients.
 * @module
 */
import { Buffer } from "node:buffer";
import type { LockMode } from "./table.ts";

/** The protocol version this build speaks. */
export const LOCKD_PROTOCOL_VERSION = 1;

/** Largest request frame body the daemon accepts, in bytes. */
export const LOCKD_MAX_REQUEST_FRAME = 16 * 1024;

/** Largest reply or event frame body a client accepts, in bytes (status lists can be long). */
export const LOCKD_MAX_REPLY_FRAME = 64 * 1024 * 1024;

/** A status reply lists at most this many locks (by name); `truncated` counts the rest. */
export const LOCKD_STATUS_MAX_LOCKS = 5000;

/** A status reply lists at most this many holders and waiters in all. */
export const LOCKD_STATUS_MAX_ENTRIES = 10_000;

/** Lock names are 1..1024 bytes of UTF-8. */
export const LOCKD_MAX_NAME_BYTES = 1024;

/** Longest wait a lock request may ask for, in ms (about 24.8 days, the largest timer). */
export const LOCKD_MAX_TIMEOUT_MS = 2_147_483_647;

/** Error codes a reply can carry. */
export type LockdWireCode =
  | "BUSY"
  | "TIMEOUT"
  | "ABORTED"
  | "SYNCH_ERR"
  | "PROTOCOL"
  | "VERSION"
  | "LIMIT";

/** `hello`: the first request on a connection. */
export interface HelloRequest {
  op: "hello";
  id: number;
  version: number;
  pid?: number;
  client?: string;
  /** What the client runs, shown for its locks in status and in BUSY replies. */
  command?: string;
}

/** `lock`: ask for a lock; the reply comes when it is granted, busy, timed out or cancelled. */
export interface LockRequest {
  op: "lock";
  id: number;
  name: string;
  mode: LockMode;
  nonblock: boolean;
  timeoutMs: number | undefined;
  /**
   * Also take the cross-host lock on `<dir>/.<base>.lock` (name `<absolute dir>/<base>`) before
   * the local one; absent when false, so version 1 requests without it parse as before.
   */
  crosshost?: true;
  /** What this lock is taken for (overrides the hello's `command`). */
  command?: string;
  /**
   * Lock caching: the client may keep the grant after use; the daemon sends
   * `{"event":"revoke","lock":N,"name":…}` when another request wants the name.
   */
  cache?: true;
}

/** `annotate`: tell more about a held lock: the pid of the command run under it, the command. */
export interface AnnotateRequest {
  op: "annotate";
  id: number;
  lock: number;
  commandPid?: number;
  command?: string;
}

/** `stop`: stop the daemon; with `force: false`, only when no lock is held. */
export interface StopRequest {
  op: "stop";
  id: number;
  force?: boolean;
}

/** `unlock`: release a grant (`lock` is the id the grant reply carried). */
export interface UnlockRequest {
  op: "unlock";
  id: number;
  lock: number;
}

/** `cancel`: withdraw a queued `lock` request (`request` is its id). */
export interface CancelRequest {
  op: "cancel";
  id: number;
  request: number;
}

/** `status` and `ping` carry nothing but their id. */
export interface SimpleRequest {
  op: "status" | "ping";
  id: number;
}

/** Any valid request. */
export type LockdRequest =
  | HelloRequest
  | LockRequest
  | UnlockRequest
  | CancelRequest
  | AnnotateRequest
  | StopRequest
  | SimpleRequest;

/** Result of {@link parseRequest}. */
export type ParsedRequest =
  | { ok: true; request: LockdRequest }
  | { ok: false; id: number | null; code: LockdWireCode; error: string };

/** The operations of version 1. */
export const LOCKD_OPS = [
  "hello",
  "lock",
  "unlock",
  "cancel",
  "annotate",
  "status",
  "ping",
  "stop",
] as const;

/** Longest `command` a client may give, in characters. */
export const LOCKD_MAX_COMMAND = 1024;

/** A holder in a status reply. */
export interface LockdHolderStatus {
  /** The grant id (the unlock token). */
  lock: number;
  /** Process id of the holder, when the client said it. */
  pid: number | null;
  /** ISO 8601 time the lock was granted. */
  since: string;
  /** What the holder runs, as it said (hello, lock or annotate), or null. */
  command: string | null;
  /** The pid of the command run under the lock (`steward lock run`'s child), or null. */
  commandPid: number | null;
}

/** A waiter in a status reply. */
export interface LockdWaiterStatus {
  /** Process id of the waiter, when the client said it. */
  pid: number | null;
  /** The mode it waits for. */
  mode: LockMode;
  /** ISO 8601 time the request was queued. */
  since: string;
  /** The waiter's command line, when the client said it. */
  command: string | null;
}

/** One lock in a status reply. */
export interface LockdLockStatus {
  /** The lock's name. */
  name: string;
  /** The mode it is held in, or null while only waited for. */
  mode: LockMode | null;
  /** Who holds it. */
  holders: LockdHolderStatus[];
  /** Who waits for it, in queue order. */
  waiters: LockdWaiterStatus[];
  /** Holders left out of `holders` (the reply's entry limit). */
  moreHolders?: number;
  /** Waiters left out of `waiters`. */
  moreWaiters?: number;
}

/** The daemon's answer to `status`. */
export interface LockdStatus {
  /** Process id of the lock manager. */
  pid: number;
  /** steward version of the lock manager. */
  version: string;
  /** Wire protocol version. */
  protocol: number;
  /** Socket path it listens on. */
  socket: string;
  /** When it started (ISO 8601). */
  startedAt: string;
  /** Minutes without locks or waiters before the daemon exits; 0 = never. */
  idleMinutes: number;
  /** What the daemon runs on: "node", "deno" or "binary". */
  runtime: string;
  /** Connections open now. */
  connections: number;
  /** Everything in the table, including what the reply leaves out. */
  totals: { locks: number; held: number; waiting: number };
  /** Every lock held or waited for (up to the reply limit). */
  locks: LockdLockStatus[];
  /** Locks left out of `locks` (more than {@link LOCKD_STATUS_MAX_LOCKS}). */
  truncated?: number;
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function fail(id: number | null, code: LockdWireCode, error: string): ParsedRequest {
  return { ok: false, id, code, error };
}

/** Check a lock name: 1..1024 bytes of UTF-8; returns an error message or undefined. */
export function checkLockName(name: unknown): string | undefined {
  if (typeof name !== "string") return "Lock name must be a string";
  if (name.length === 0) return "Lock name is empty";
  // Fast path: a UTF-16 length ≤ 341 cannot exceed 1024 bytes of UTF-8.
  if (name.length > 341 && Buffer.byteLength(name, "utf8") > LOCKD_MAX_NAME_BYTES) {
    return `Lock name is longer than ${LOCKD_MAX_NAME_BYTES} bytes`;
  }
  if (!name.isWellFormed()) return "Lock name is not valid Unicode";
  return undefined;
}

function checkCommand(v: unknown): string | { error: string } | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length > LOCKD_MAX_COMMAND || !v.isWellFormed()) {
    return { error: `command must be a string of at most ${LOCKD_MAX_COMMAND} characters` };
  }
  return v;
}

/** Validate one decoded frame as a request. */
export function parseRequest(message: unknown): ParsedRequest {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    return fail(null, "PROTOCOL", "Request must be a JSON object");
  }
  const m = message as Record<string, unknown>;
  if (!isId(m.id)) {
    return fail(null, "PROTOCOL", "Request id must be a non-negative integer");
  }
  const id = m.id;
  switch (m.op) {
    case "lock": {
      const bad = checkLockName(m.name);
      if (bad) return fail(id, "PROTOCOL", bad);
      const mode = m.mode ?? "exclusive";
      if (mode !== "shared" && mode !== "exclusive") {
        return fail(id, "PROTOCOL", 'Lock mode must be "shared" or "exclusive"');
      }
      if (m.nonblock !== undefined && typeof m.nonblock !== "boolean") {
        return fail(id, "PROTOCOL", "nonblock must be a boolean");
      }
      if (m.crosshost !== undefined && typeof m.crosshost !== "boolean") {
        return fail(id, "PROTOCOL", "crosshost must be a boolean");
      }
      if (m.cache !== undefined && typeof m.cache !== "boolean") {
        return fail(id, "PROTOCOL", "cache must be a boolean");
      }
      const t = m.timeoutMs;
      if (
        t !== undefined && t !== null &&
        !(typeof t === "number" && Number.isInteger(t) && t >= 0 && t <= LOCKD_MAX_TIMEOUT_MS)
      ) {
        return fail(
          id,
          "PROTOCOL",
          `timeoutMs must be an integer from 0 to ${LOCKD_MAX_TIMEOUT_MS}`,
        );
      }
      const command = checkCommand(m.command);
      if (command !== undefined && typeof command !== "string") {
        return fail(id, "PROTOCOL", command.error);
      }
      return {
        ok: true,
        request: {
          op: "lock",
          id,
          name: m.name as string,
          mode,
          nonblock: m.nonblock === true,
          timeoutMs: typeof t === "number" ? t : undefined,
          ...(m.crosshost === true ? { crosshost: true as const } : {}),
          ...(command !== undefined ? { command } : {}),
          ...(m.cache === true ? { cache: true as const } : {}),
        },
      };
    }
    case "annotate": {
      if (!isId(m.lock)) return fail(id, "PROTOCOL", "lock must be a grant id");
      const req: AnnotateRequest = { op: "annotate", id, lock: m.lock };
      if (m.commandPid !== undefined) {
        if (
          !(typeof m.commandPid === "number" && Number.isSafeInteger(m.commandPid) &&
            m.commandPid > 0)
        ) {
          return fail(id, "PROTOCOL", "commandPid must be a positive integer");
        }
        req.commandPid = m.commandPid;
      }
      const command = checkCommand(m.command);
      if (command !== undefined && typeof command !== "string") {
        return fail(id, "PROTOCOL", command.error);
      }
      if (command !== undefined) req.command = command;
      return { ok: true, request: req };
    }
    case "unlock":
      if (!isId(m.lock)) return fail(id, "PROTOCOL", "lock must be a grant id");
      return { ok: true, request: { op: "unlock", id, lock: m.lock } };
    case "cancel":
      if (!isId(m.request)) return fail(id, "PROTOCOL", "request must be a request id");
      return { ok: true, request: { op: "cancel", id, request: m.request } };
    case "hello": {
      if (typeof m.version !== "number" || !Number.isInteger(m.version)) {
        return fail(id, "PROTOCOL", "version must be an integer");
      }
      const req: HelloRequest = { op: "hello", id, version: m.version };
      if (m.pid !== undefined) {
        if (!(typeof m.pid === "number" && Number.isSafeInteger(m.pid) && m.pid > 0)) {
          return fail(id, "PROTOCOL", "pid must be a positive integer");
        }
        req.pid = m.pid;
      }
      if (m.client !== undefined) {
        if (typeof m.client !== "string" || m.client.length > 256) {
          return fail(id, "PROTOCOL", "client must be a string of at most 256 characters");
        }
        req.client = m.client;
      }
      const command = checkCommand(m.command);
      if (command !== undefined && typeof command !== "string") {
        return fail(id, "PROTOCOL", command.error);
      }
      if (command !== undefined) req.command = command;
      return { ok: true, request: req };
    }
    case "stop":
      if (m.force !== undefined && typeof m.force !== "boolean") {
        return fail(id, "PROTOCOL", "force must be a boolean");
      }
      return {
        ok: true,
        request: { op: "stop", id, ...(m.force === false ? { force: false } : {}) },
      };
    case "status":
    case "ping":
      return { ok: true, request: { op: m.op, id } };
    default:
      if (typeof m.op !== "string") return fail(id, "PROTOCOL", "op must be a string");
      return fail(id, "PROTOCOL", `Unknown op: ${m.op.slice(0, 64)}`);
  }
}
