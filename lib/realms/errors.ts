/**
 * The one error class of the realms service. It carries the upstream return code when the error
 * is a reply from the daemon, and a kind that says what went wrong otherwise.
 * @module
 */

/**
 * What went wrong:
 * - `reply`: the daemon answered with a non-zero return code (see `code` and `reply`);
 * - `no-daemon`: nothing listens on the control socket (upstream `realmmgr_channel(0)` → 0);
 * - `no-reply`: the daemon closed the connection without a reply (upstream getresp → undef);
 * - `timeout`: no complete reply within the deadline;
 * - `protocol`: bytes that break the request/response framing;
 * - `limit`: a line, request or reply larger than allowed;
 * - `invalid`: a bad argument (unknown command, newline in data, bad realm name…);
 * - `path`: the socket path is too long for a Unix socket (upstream `realmmgr_channel` → -5);
 * - `id-file`: the id (pid) file cannot be read, written or removed;
 * - `io`: any other operating-system error.
 */
export type RealmErrorKind =
  | "reply"
  | "no-daemon"
  | "no-reply"
  | "timeout"
  | "protocol"
  | "limit"
  | "invalid"
  | "path"
  | "id-file"
  | "io";

/** Options of {@link RealmError}. */
export interface RealmErrorOptions {
  /** The upstream return code of a `reply` error (0..11, steward's own 12..15). */
  code?: number;
  /** The reply text of a `reply` error. */
  replyText?: string;
  cause?: unknown;
}

/** An error of the realms service: a failed reply, a missing daemon, a protocol or file problem. */
export class RealmError extends Error {
  /** The error class name. */
  override name = "RealmError";
  /** What went wrong. */
  readonly kind: RealmErrorKind;
  /** The upstream return code, for `reply` errors. */
  readonly code: number | undefined;
  /** The daemon's reply text, for `reply` errors. */
  readonly replyText: string | undefined;
  /** An error of `kind` with a sentence-case message. */
  constructor(kind: RealmErrorKind, message: string, options: RealmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code;
    this.replyText = options.replyText;
  }
}

/**
 * Whether `e` is Deno's `NotCapable`: the permission scope refuses a look or a spawn (outside
 * the read scope, a program not allowed to run). Each caller decides what that means for it;
 * pid liveness and signals are lib/platform/pid.ts's.
 * @internal
 */
export function isNotCapable(e: unknown): boolean {
  return (e as Error | undefined)?.name === "NotCapable";
}
