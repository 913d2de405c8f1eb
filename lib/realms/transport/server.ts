/**
 * The server side of the realm manager's control channel over its Unix socket (upstream
 * `realmmgr_channel`, `realmmgr_getcmd`, `realmmgr_sendresp`, `realmmgr_closechan`): the one
 * place requests are read, verified and answered. The client side is ./client.ts.
 *
 * The server serves connections concurrently and continuously (no SIGHUP needed), answers every
 * request (unknown commands and malformed requests included), closes each connection after its
 * reply, puts deadlines on reading requests and writing replies, and survives peers that vanish.
 * @module
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Buffer } from "node:buffer";
import { claimSocket } from "../../ipc/socket.ts";
import { RealmError } from "../errors.ts";
import { checkRealmSocketPathLength, prepareRealmStateDir } from "../paths.ts";
import { readRealmmgrId, realmmgrLocation } from "../idfile.ts";
import {
  DEFAULT_REALM_WIRE_LIMITS,
  encodeRealmReply,
  type RealmReply,
  type RealmRequest,
  RealmRequestParser,
  type RealmWireLimits,
} from "../protocol/framing.ts";
import { REALM_RC, type RealmCommand, verifyRealmCommand } from "../protocol/codes.ts";
import { REALM_REPLY } from "../protocol/bodies.ts";

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

/**
 * The in-process command queue (upstream `realmmgr_queuecmd`, `realmmgr_getqueueitem`,
 * `realmmgr_getallqueuedcmds`). Queued commands are handled before socket commands by the
 * channel server. Unlike upstream, `all({clear: true})` returns the queue before clearing it.
 */
export class RealmCommandQueue {
  #items: RealmRequest[] = [];

  /** Add a command (upstream `realmmgr_queuecmd`). */
  queue(command: string, data = ""): void {
    this.#items.push({ command, data });
  }

  /** Take the oldest command, or undefined (upstream `realmmgr_getqueueitem`). */
  next(): RealmRequest | undefined {
    return this.#items.shift();
  }

  /** All queued commands, oldest first; `clear` empties the queue (upstream `realmmgr_getallqueuedcmds`). */
  all(options: { clear?: boolean } = {}): RealmRequest[] {
    const items = [...this.#items];
    if (options.clear) this.#items = [];
    return items;
  }

  /** How many commands wait. */
  get size(): number {
    return this.#items.length;
  }
}
