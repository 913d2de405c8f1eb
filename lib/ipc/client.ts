/**
 * Request/response client over framed JSON with request ids, several requests in flight,
 * per-request timeouts and cancellation, and messages started by the server.
 * @internal
 * @module
 */
import net from "node:net";
import { type ConnectionLimits, FrameConnection } from "./connection.ts";
import type { Decoded } from "./frames.ts";

/** Raised when the connection closes or fails under a request. */
export class ConnectionClosedError extends Error {
  override name = "ConnectionClosedError";
}

/** Raised when a request gets no reply in time. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
}

/** A reply or event frame. */
export type Message = Record<string, unknown>;

interface Pending {
  resolve(m: Message): void;
  reject(e: Error): void;
  cleanup(): void;
}

/** Options for one request. */
export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Connect to a Unix socket; rejects with the errno error (ENOENT, ECONNREFUSED, …). */
export function connectUnix(socketPath: string, timeoutMs = 2000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        Object.assign(new Error(`Timed out connecting to ${socketPath}`), { code: "ETIMEDOUT" }),
      );
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A framed request/response client on one connection. */
export class RpcClient {
  readonly connection: FrameConnection;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #events: Array<(m: Message) => void> = [];
  #closeReason: string | undefined;

  constructor(socket: net.Socket, limits: ConnectionLimits = {}) {
    this.connection = new FrameConnection(socket, (d) => this.#onFrame(d), {
      frameTimeoutMs: 30_000,
      ...limits,
    });
    this.connection.onClose((reason) => {
      this.#closeReason = reason ?? "connection closed";
      for (const p of this.#pending.values()) {
        p.cleanup();
        p.reject(new ConnectionClosedError(`Connection closed: ${this.#closeReason}`));
      }
      this.#pending.clear();
    });
  }

  /** Connect to `socketPath`. */
  static async connect(
    socketPath: string,
    options: { timeoutMs?: number } = {},
  ): Promise<RpcClient> {
    return new RpcClient(await connectUnix(socketPath, options.timeoutMs));
  }

  #onFrame(d: Decoded): void {
    if (!d.ok || typeof d.message !== "object" || d.message === null) return;
    const m = d.message as Message;
    const id = m.id;
    if (typeof id === "number" && this.#pending.has(id)) {
      const p = this.#pending.get(id) as Pending;
      this.#pending.delete(id);
      p.cleanup();
      p.resolve(m);
      return;
    }
    for (const fn of this.#events) fn(m);
  }

  /** Listen to messages the server sends on its own (no matching request id). */
  onEvent(fn: (m: Message) => void): void {
    this.#events.push(fn);
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.connection.closed;
  }

  /** Send a request and wait for the reply with the same id. */
  request(body: Message, options: RequestOptions = {}): Promise<Message> {
    if (this.connection.closed) {
      return Promise.reject(
        new ConnectionClosedError(`Connection closed: ${this.#closeReason ?? "closed"}`),
      );
    }
    const id = this.#nextId++;
    return new Promise<Message>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => {
        this.#pending.delete(id);
        cleanup();
        reject(options.signal?.reason ?? new Error("Aborted"));
      };
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? new Error("Aborted"));
        return;
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#pending.delete(id);
          cleanup();
          reject(new RequestTimeoutError(`No reply within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      this.#pending.set(id, { resolve, reject, cleanup });
      this.connection.send({ ...body, id });
    });
  }

  /** Send a message that expects no reply. */
  notify(body: Message): void {
    this.connection.send(body);
  }

  /** Close the connection; pending requests fail. */
  close(): void {
    this.connection.close("closed by client");
  }
}
