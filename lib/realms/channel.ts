/**
 * The realm manager's control channel over its Unix socket, both sides (upstream
 * `realmmgr_channel`, `realmmgr_getcmd`, `realmmgr_sendresp`, `realmmgr_closechan` on the server;
 * `realmmgr_channel(0)`, `realmmgr_sendcmd`, `realmmgr_getresp` on the client).
 *
 * The server serves connections concurrently and continuously (no SIGHUP needed), answers every
 * request (unknown commands and malformed requests included), closes each connection after its
 * reply, puts deadlines on reading requests and writing replies, and survives peers that vanish.
 * @module
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Buffer } from "node:buffer";
import { setTimeout as sleep } from "node:timers/promises";
import { claimSocket } from "../ipc/socket.ts";
import { RealmError } from "./errors.ts";
import { checkRealmSocketPathLength, prepareRealmStateDir } from "./paths.ts";
import {
  readRealmmgrId,
  type RealmCommandQueue,
  realmmgrCommandInterrupt,
  realmmgrLocation,
  type RealmmgrOptions,
} from "./idfile.ts";
import {
  DEFAULT_REALM_WIRE_LIMITS,
  encodeRealmReply,
  encodeRealmRequest,
  type RealmReply,
  RealmReplyParser,
  type RealmRequest,
  RealmRequestParser,
  type RealmWireLimits,
} from "./protocol/framing.ts";
import { REALM_RC, type RealmCommand, verifyRealmCommand } from "./protocol/codes.ts";
import { REALM_REPLY } from "./protocol/bodies.ts";

/** A verified request, as the handler sees it (upstream `realmmgr_getcmd`'s result). */
export interface RealmChannelRequest {
  /** The command word. */
  command: RealmCommand;
  /** Its data (may be empty). */
  data: string;
  /** `socket` for a client's request, `queue` for one from the in-process queue. */
  source: "socket" | "queue";
}

/** What a handler returns: a reply, optionally with work to do once it has been sent. */
export type RealmHandlerResult = RealmReply | {
  reply: RealmReply;
  /** Runs after the reply is flushed and the connection closed (e.g. shutdown's halt). */
  afterReply?: () => void | Promise<void>;
};

/** Handles one verified request (upstream: the daemon's `commander` + `realmmgr_sendresp`). */
export type RealmCommandHandler = (
  request: RealmChannelRequest,
) => RealmHandlerResult | Promise<RealmHandlerResult>;

/** Options of {@link openRealmChannelServer}. */
export interface RealmChannelServerOptions {
  /** State directory whose socket to listen on. */
  stateDir: string;
  /** Answers each command. */
  handler: RealmCommandHandler;
  /** Wire limits instead of the defaults. */
  limits?: Partial<RealmWireLimits>;
  /** A client must send its whole request within this time (default 5 s, upstream's alarm). */
  requestTimeoutMs?: number;
  /** A reply must be flushed within this time, or the connection is dropped (default 10 s). */
  replyTimeoutMs?: number;
  /**
   * Connections served at once (default 256). Further ones wait in a queue of `maxQueued`
   * (default 4 × maxConnections) and are served in turn; beyond that they are answered at once
   * with code 16 (BUSY), which steward's clients retry with backoff.
   */
  maxConnections?: number;
  /** Connections waiting for a slot (see maxConnections). */
  maxQueued?: number;
  /** Queued commands to run before each socket command. */
  queue?: RealmCommandQueue;
  /** Called for each request refused before the handler (unknown, malformed, timed out). */
  onRejected?: (info: { reason: string; command?: string }) => void;
  /** Called when the handler throws (the client gets code 15); for logging. */
  onHandlerError?: (error: unknown, request: RealmChannelRequest) => void;
}

/** A listening control channel. */
export interface RealmChannelServer extends AsyncDisposable {
  /** The socket's path. */
  readonly path: string;
  /** Connections open now. */
  readonly connections: number;
  /** Whether the path still names our socket. */
  stillOurs(): boolean;
  /** Run every queued command through the handler now. */
  drainQueue(): Promise<void>;
  /** Stop accepting, drop open connections, remove the socket if it is still ours. */
  close(): Promise<void>;
}

/** Busy answers being sent at once; a flood beyond this is cut without one. */
const MAX_BUSY_ANSWERS = 4096;

function toResult(
  r: RealmHandlerResult,
): { reply: RealmReply; afterReply?: () => void | Promise<void> } {
  return "reply" in r ? r : { reply: r };
}

/**
 * Listen on `<statedir>/dnssec-tools/realmmgr.socket` (upstream `realmmgr_channel(1)`). Throws
 * {@link RealmError} `path` for a socket path longer than upstream allows (upstream -5),
 * `SocketInUseError` when a live daemon already listens there (upstream would have stolen the
 * path), and `io` when the socket's mode cannot be made and verified 0600 (upstream -3, never
 * actually detected there).
 */
export async function openRealmChannelServer(
  options: RealmChannelServerOptions,
): Promise<RealmChannelServer> {
  const stateDir = path.resolve(options.stateDir);
  checkRealmSocketPathLength(stateDir);
  prepareRealmStateDir(stateDir);
  const socketPath = realmmgrLocation({ stateDir }).socketPath;
  const limits = { ...DEFAULT_REALM_WIRE_LIMITS, ...options.limits };
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const replyTimeoutMs = options.replyTimeoutMs ?? 10_000;
  const open = new Set<net.Socket>();
  let closing = false;

  const runQueue = async (): Promise<void> => {
    const q = options.queue;
    for (let item = q?.next(); item; item = q?.next()) {
      if (!verifyRealmCommand(item.command)) {
        options.onRejected?.({ reason: "unknown queued command", command: item.command });
        continue;
      }
      const req: RealmChannelRequest = { command: item.command, data: item.data, source: "queue" };
      try {
        const r = toResult(await options.handler(req));
        await r.afterReply?.();
      } catch (e) {
        options.onHandlerError?.(e, req);
      }
    }
  };

  const serve = (sock: net.Socket): void => {
    open.add(sock);
    const parser = new RealmRequestParser(limits);
    let answered = false;
    const finish = () => {
      clearTimeout(readTimer);
      open.delete(sock);
    };
    sock.on("close", finish);
    sock.on("error", () => {
      // EPIPE/ECONNRESET from a peer that left: nothing to do but forget it.
      sock.destroy();
    });
    const reply = (r: RealmReply, after?: () => void | Promise<void>) => {
      if (answered) return;
      answered = true;
      clearTimeout(readTimer);
      sock.pause();
      // The follow-up work (e.g. shutdown's halt) runs exactly once, whether the reply was
      // flushed or the peer vanished before it could be.
      let followed = false;
      const follow = () => {
        if (followed) return;
        followed = true;
        void Promise.resolve().then(() => after?.()).catch(() => {});
      };
      if (sock.destroyed || !sock.writable) {
        sock.destroy();
        follow();
        return;
      }
      const writeTimer = setTimeout(() => sock.destroy(), replyTimeoutMs);
      writeTimer.unref?.();
      sock.once("close", () => {
        clearTimeout(writeTimer);
        follow();
      });
      sock.end(encodeRealmReply(r), () => {
        clearTimeout(writeTimer);
        sock.destroy();
        follow();
      });
    };
    const reject = (reason: string, command?: string, message?: string) => {
      options.onRejected?.(command === undefined ? { reason } : { reason, command });
      reply({
        code: REALM_RC.BADCOMMAND,
        message: message ?? REALM_REPLY.malformedRequest(reason),
      });
    };
    const dispatch = async (req: RealmRequest) => {
      if (!verifyRealmCommand(req.command)) {
        return reject("unknown command", req.command, REALM_REPLY.unknownCommand(req.command));
      }
      const request: RealmChannelRequest = {
        command: req.command,
        data: req.data,
        source: "socket",
      };
      try {
        await runQueue();
        const r = toResult(await options.handler(request));
        reply(r.reply, r.afterReply);
      } catch (e) {
        options.onHandlerError?.(e, request);
        const detail = e instanceof Error ? e.message : String(e);
        reply({ code: REALM_RC.FAILED, message: REALM_REPLY.failed(detail) });
      }
    };
    const readTimer = setTimeout(() => {
      reject(`no complete request within ${requestTimeoutMs} ms`);
    }, requestTimeoutMs);
    readTimer.unref?.();
    let started = false;
    const take = (req: RealmRequest | undefined) => {
      if (!req || started) return;
      started = true;
      clearTimeout(readTimer);
      sock.pause();
      void dispatch(req);
    };
    sock.on("data", (chunk: Buffer) => {
      if (started || answered) return;
      try {
        take(parser.push(chunk));
      } catch (e) {
        reject(e instanceof Error ? e.message : String(e));
      }
    });
    sock.on("end", () => {
      if (started || answered) return;
      try {
        take(parser.end());
      } catch (e) {
        reject(e instanceof Error ? e.message : String(e));
      }
    });
  };

  const maxConnections = Math.max(1, options.maxConnections ?? 256);
  const maxQueued = Math.max(0, options.maxQueued ?? maxConnections * 4);
  const waiting: net.Socket[] = [];
  const next = () => {
    while (open.size < maxConnections && waiting.length > 0) {
      const s = waiting.shift() as net.Socket;
      s.removeAllListeners("close");
      s.removeAllListeners("error");
      if (s.destroyed) continue;
      serve(s);
      s.once("close", next);
      s.resume();
    }
  };
  let busyOpen = 0;
  const busy = (sock: net.Socket) => {
    if (busyOpen >= MAX_BUSY_ANSWERS) return void sock.destroy();
    busyOpen++;
    options.onRejected?.({ reason: "connection limit reached; answered busy" });
    // The request is read (and dropped) before the answer: a client still writing when the
    // connection closes would see a reset instead of the reply.
    const parser = new RealmRequestParser(limits);
    let done = false;
    const answer = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeAllListeners("data");
      sock.end(encodeRealmReply({ code: REALM_RC.BUSY, message: REALM_REPLY.busy }), () => {
        sock.destroy();
      });
      const cut = setTimeout(() => sock.destroy(), replyTimeoutMs);
      cut.unref?.();
      sock.once("close", () => clearTimeout(cut));
    };
    const timer = setTimeout(answer, Math.min(requestTimeoutMs, 1000));
    timer.unref?.();
    sock.once("close", () => {
      busyOpen--;
      clearTimeout(timer);
    });
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: Buffer) => {
      try {
        if (parser.push(chunk)) answer();
      } catch {
        answer();
      }
    });
    sock.on("end", answer);
  };
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    if (closing) return void sock.destroy();
    if (open.size < maxConnections) {
      serve(sock);
      sock.once("close", next);
      return;
    }
    if (waiting.length >= maxQueued) return busy(sock);
    // Nothing is read until a slot is free: the request waits in the socket's buffer.
    sock.pause();
    sock.once("error", () => sock.destroy());
    sock.once("close", () => {
      const i = waiting.indexOf(sock);
      if (i >= 0) waiting.splice(i, 1);
    });
    waiting.push(sock);
  });
  const claimed = await claimSocket(server, socketPath, {
    mode: 0o600,
    identify: () => {
      try {
        const pid = readRealmmgrId({ stateDir });
        return Promise.resolve(pid === undefined ? undefined : `pid ${pid}`);
      } catch {
        return Promise.resolve(undefined);
      }
    },
  });
  try {
    fs.chmodSync(socketPath, 0o600);
    const st = fs.lstatSync(socketPath);
    if (!st.isSocket() || (st.mode & 0o777) !== 0o600) {
      throw new Error(`mode is ${(st.mode & 0o777).toString(8)}`);
    }
  } catch (e) {
    await claimed.close();
    throw new RealmError(
      "io",
      `Unable to change the permissions on the Unix socket: ${socketPath}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const close = async () => {
    closing = true;
    for (const s of waiting.splice(0)) s.destroy();
    for (const s of open) s.destroy();
    await claimed.close();
  };
  return {
    path: socketPath,
    get connections() {
      return open.size;
    },
    stillOurs: () => claimed.stillOurs(),
    drainQueue: runQueue,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------------------------
// Client side.

/** Options of the client side of the channel. */
export interface RealmChannelClientOptions extends RealmmgrOptions {
  /** Connect to this socket instead of the state directory's. */
  socketPath?: string;
  /** With {@link RealmChannel.connect}, connecting must succeed within this time (default 2 s);
   * {@link sendRealmCommand} puts its whole exchange under `timeoutMs`. */
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

/**
 * One client connection to the daemon (upstream `realmmgr_channel(0)`): send one command, read
 * its reply, close. Use {@link sendRealmCommand} unless you need the steps apart.
 */
export class RealmChannel {
  readonly #sock: net.Socket;
  readonly #parser: RealmReplyParser;
  readonly #ended: Promise<void>;
  readonly #options: RealmChannelClientOptions;
  #sent = false;

  private constructor(sock: net.Socket, options: RealmChannelClientOptions) {
    this.#sock = sock;
    this.#options = options;
    this.#parser = new RealmReplyParser(options.limits);
    this.#ended = new Promise<void>((resolve, reject) => {
      sock.on("data", (chunk: Buffer) => {
        try {
          this.#parser.push(chunk);
        } catch (e) {
          sock.destroy();
          reject(e);
        }
      });
      sock.on("end", () => resolve());
      sock.on("close", () => resolve());
      sock.on("error", (e: NodeJS.ErrnoException) => {
        // A reset after the reply arrived still leaves a complete reply to decode.
        if (e.code === "ECONNRESET" || e.code === "EPIPE") resolve();
        else reject(new RealmError("io", `Control socket error: ${e.message}`, { cause: e }));
      });
    });
    this.#ended.catch(() => {});
  }

  /** Connect (upstream `realmmgr_channel(0)`: 0 ↔ `no-daemon` error). */
  static connect(options: RealmChannelClientOptions = {}): Promise<RealmChannel> {
    const socketPath = options.socketPath ?? realmmgrLocation(options).socketPath;
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        return reject(new RealmError("timeout", "Cancelled before connecting"));
      }
      const sock = net.connect(socketPath);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RealmError("timeout", `Timed out connecting to ${socketPath}`));
      }, options.connectTimeoutMs ?? 2000);
      sock.once("connect", () => {
        clearTimeout(timer);
        sock.removeAllListeners("error");
        resolve(new RealmChannel(sock, options));
      });
      sock.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(connectError(e, socketPath));
      });
    });
  }

  /**
   * Send one command (upstream `realmmgr_sendcmd`). With `close` (upstream CHANNEL_CLOSE) the
   * connection is closed right after writing and no reply is read.
   */
  async send(command: string, data = "", options: { close?: boolean } = {}): Promise<void> {
    if (this.#sent) throw new RealmError("invalid", "A connection carries exactly one command");
    this.#sent = true;
    const bytes = encodeRealmRequest(command, data, {
      verify: this.#options.verify !== false,
      ...(this.#options.limits ? { limits: this.#options.limits } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      this.#sock.write(bytes, (e) => {
        if (e) reject(new RealmError("io", `Cannot send the command: ${e.message}`, { cause: e }));
        else resolve();
      });
    });
    if (options.close) this.#sock.end();
    if (this.#options.nudge) realmmgrCommandInterrupt(this.#options);
  }

  /**
   * Read the reply up to the server's close (upstream `realmmgr_getresp`). Throws
   * {@link RealmError}: `timeout`, `no-reply` (the daemon closed without answering),
   * `protocol`, `limit`.
   */
  async response(): Promise<RealmReply> {
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => this.#sock.destroy();
    this.#options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([
        this.#ended,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(
              new RealmError("timeout", `No reply from the realm manager within ${timeoutMs} ms`),
            );
          }, timeoutMs);
        }),
      ]);
      if (this.#options.signal?.aborted) throw new RealmError("timeout", "Cancelled");
      return this.#parser.end();
    } finally {
      clearTimeout(timer);
      this.#options.signal?.removeEventListener("abort", onAbort);
      this.#sock.destroy();
    }
  }

  /** Close the connection (upstream `realmmgr_closechan`). */
  close(): void {
    this.#sock.destroy();
  }
}

// Refuse a bad request before connecting, so that a daemon never sees half of a mistake.
function checkRequest(command: string, data: string, options: RealmChannelClientOptions): Buffer {
  return encodeRealmRequest(command, data, {
    verify: options.verify !== false,
    ...(options.limits ? { limits: options.limits } : {}),
  });
}

/**
 * One request/reply exchange on a fresh connection, with plain callbacks and one timer at a time:
 * this is the hot path of every client, so it avoids the promise chains of {@link RealmChannel}.
 */
function exchange(
  socketPath: string,
  request: Buffer,
  options: RealmChannelClientOptions,
): Promise<RealmReply> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = options.signal;
  return new Promise<RealmReply>((resolve, reject) => {
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
      sock.write(request, () => {
        if (options.nudge) realmmgrCommandInterrupt(options);
      });
    });
    sock.on("data", (chunk: Buffer) => {
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
 * code; check `code` (or use `RealmManagerClient`, which throws for non-zero codes).
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
  if (options.retryBusy === false) return exchange(socketPath, request, options);
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
    const reply = await exchange(socketPath, request, { ...options, timeoutMs: Math.max(1, left) });
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
  checkRequest(command, data, options);
  const ch = await RealmChannel.connect(options);
  try {
    await ch.send(command, data, { close: true });
  } finally {
    ch.close();
  }
}
