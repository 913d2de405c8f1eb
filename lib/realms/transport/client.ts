/**
 * The client side of the realm manager's control channel over its Unix socket (upstream
 * `realmmgr_channel(0)`, `realmmgr_sendcmd`, `realmmgr_getresp`): one request and its reply on a
 * fresh connection, under one deadline, retried with backoff while the daemon answers BUSY. The
 * one socket client of the realms code: `RealmManagerClient` (lib/realms/client.ts) and realmctl
 * (lib/realms/tools/realmctl.ts) both send through it.
 * @module
 */
import net from "node:net";
import type { Buffer } from "node:buffer";
import { setTimeout as sleep } from "node:timers/promises";
import { RealmError } from "../errors.ts";
import { realmmgrCommandInterrupt, realmmgrLocation, type RealmmgrOptions } from "../idfile.ts";
import {
  encodeRealmRequest,
  type RealmReply,
  RealmReplyParser,
  type RealmWireLimits,
} from "../protocol/framing.ts";
import { REALM_RC } from "../protocol/codes.ts";

/** Options of the client side of the channel. */
export interface RealmChannelClientOptions extends RealmmgrOptions {
  /** Connect to this socket instead of the state directory's. */
  socketPath?: string;
  /**
   * With {@link sendRealmCommandNoWait}, connecting and sending must be done within this time
   * (default 2 s); {@link sendRealmCommand} puts its whole exchange under `timeoutMs`.
   */
  connectTimeoutMs?: number;
  /** The whole reply must arrive within this time after sending (default 10 s). */
  timeoutMs?: number;
  /**
   * After sending, SIGHUP the daemon named by the id file, as upstream clients do (an upstream
   * dtrealms reads its socket only then). Default false: steward's daemon does not need it.
   */
  nudge?: boolean;
  /** Refuse commands the protocol does not know before sending (default true). */
  verify?: boolean;
  /** Retry with backoff while the daemon answers BUSY (code 16), within `timeoutMs` (default true). */
  retryBusy?: boolean;
  /** Wire limits instead of the defaults. */
  limits?: Partial<RealmWireLimits>;
  /** Cancel the exchange. */
  signal?: AbortSignal;
}

function connectError(e: NodeJS.ErrnoException, socketPath: string): RealmError {
  if (e.code === "ENOENT" || e.code === "ECONNREFUSED" || e.code === "ENOTSOCK") {
    return new RealmError(
      "no-daemon",
      `The realm manager is not running: nothing listens on ${socketPath}`,
      { cause: e },
    );
  }
  if (e.code === "EACCES" || e.code === "EPERM") {
    return new RealmError("no-daemon", `Permission denied on the control socket ${socketPath}`, {
      cause: e,
    });
  }
  return new RealmError("io", `Cannot connect to ${socketPath}: ${e.message}`, { cause: e });
}

// Refuse a bad request before connecting, so that a daemon never sees half of a mistake.
function checkRequest(command: string, data: string, options: RealmChannelClientOptions): Buffer {
  return encodeRealmRequest(command, data, {
    verify: options.verify !== false,
    ...(options.limits ? { limits: options.limits } : {}),
  });
}

/**
 * One request on a fresh connection, with plain callbacks and one timer: this is the hot path of
 * every client. With `noReply` (upstream CHANNEL_CLOSE) the connection is closed once the request
 * is written and nothing is read; otherwise the reply is read up to the server's close (upstream
 * `realmmgr_getresp`).
 */
function exchange(
  socketPath: string,
  request: Buffer,
  options: RealmChannelClientOptions,
  noReply: boolean,
): Promise<RealmReply | undefined> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = options.signal;
  return new Promise<RealmReply | undefined>((resolve, reject) => {
    if (signal?.aborted) return reject(new RealmError("timeout", "Cancelled before connecting"));
    const parser = new RealmReplyParser(options.limits);
    const sock = net.connect(socketPath);
    let connected = false;
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sock.destroy();
      if (error !== undefined) return reject(error);
      if (noReply) return resolve(undefined);
      try {
        resolve(parser.end());
      } catch (e) {
        reject(e);
      }
    };
    const onAbort = () => finish(new RealmError("timeout", "Cancelled"));
    signal?.addEventListener("abort", onAbort, { once: true });
    // One timer per exchange, on the whole deadline: connecting to a Unix socket succeeds or fails
    // at once, so a connect still pending at the deadline is reported as such.
    const timer = setTimeout(() => {
      finish(
        new RealmError(
          "timeout",
          connected
            ? `No reply from the realm manager within ${timeoutMs} ms`
            : `Timed out connecting to ${socketPath}`,
        ),
      );
    }, timeoutMs);
    sock.once("connect", () => {
      connected = true;
      sock.write(request, (e) => {
        if (e) {
          return finish(
            new RealmError("io", `Cannot send the command: ${e.message}`, { cause: e }),
          );
        }
        if (options.nudge) realmmgrCommandInterrupt(options);
        if (noReply) {
          sock.end();
          finish();
        }
      });
    });
    sock.on("data", (chunk: Buffer) => {
      if (noReply) return;
      try {
        parser.push(chunk);
      } catch (e) {
        finish(e);
      }
    });
    sock.on("end", () => finish());
    sock.on("close", () => finish());
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected) finish(connectError(e, socketPath));
      // A reset after the reply arrived still leaves a complete reply to decode.
      else if (e.code === "ECONNRESET" || e.code === "EPIPE") finish();
      else finish(new RealmError("io", `Control socket error: ${e.message}`, { cause: e }));
    });
  });
}

const emptyRequests = new Map<string, Buffer>();

/**
 * Send one command and wait for its reply on a fresh connection (upstream
 * `realmmgr_sendcmd(CHANNEL_WAIT, …)` + `realmmgr_getresp`). The reply is returned whatever its
 * code; check `code` (or use `RealmManagerClient`, which throws for non-zero codes). Throws
 * {@link RealmError}: `invalid` or `limit` before connecting, `no-daemon`, `timeout`,
 * `no-reply` (the daemon closed without answering), `protocol`, `limit`, `io`.
 */
export function sendRealmCommand(
  command: string,
  data = "",
  options: RealmChannelClientOptions = {},
): Promise<RealmReply> {
  // Requests without data (status, realmstatus, shutdown…) are encoded once and reused.
  const cacheable = data === "" && options.limits === undefined;
  const key = `${options.verify !== false}|${command}`;
  let request = cacheable ? emptyRequests.get(key) : undefined;
  if (!request) {
    try {
      request = checkRequest(command, data, options);
    } catch (e) {
      return Promise.reject(e);
    }
    if (cacheable && emptyRequests.size < 64) emptyRequests.set(key, request);
  }
  const socketPath = options.socketPath ?? realmmgrLocation(options).socketPath;
  if (options.retryBusy === false) {
    return exchange(socketPath, request, options, false) as Promise<RealmReply>;
  }
  return retryWhileBusy(socketPath, request, options);
}

/**
 * A daemon at its connection limit answers BUSY without doing anything: try again after a
 * growing, jittered pause, within the caller's deadline, a bounded number of times.
 */
async function retryWhileBusy(
  socketPath: string,
  request: Buffer,
  options: RealmChannelClientOptions,
): Promise<RealmReply> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0;; attempt++) {
    const left = deadline - Date.now();
    const reply = await exchange(
      socketPath,
      request,
      { ...options, timeoutMs: Math.max(1, left) },
      false,
    ) as RealmReply;
    if (reply.code !== REALM_RC.BUSY || attempt >= 60) return reply;
    const pause = Math.min(500, 10 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
    if (Date.now() + pause >= deadline) return reply;
    await sleep(pause);
    if (options.signal?.aborted) throw new RealmError("timeout", "Cancelled");
  }
}

/** Send one command and close without reading the reply (upstream CHANNEL_CLOSE). */
export async function sendRealmCommandNoWait(
  command: string,
  data = "",
  options: RealmChannelClientOptions = {},
): Promise<void> {
  const request = checkRequest(command, data, options);
  const socketPath = options.socketPath ?? realmmgrLocation(options).socketPath;
  await exchange(socketPath, request, {
    ...options,
    timeoutMs: options.connectTimeoutMs ?? 2000,
  }, true);
}
