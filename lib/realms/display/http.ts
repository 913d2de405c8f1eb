/**
 * A small HTTP/1.1 server for the status page, on `node:net` so that it behaves the same on
 * Node and Deno: one request per connection (`Connection: close`), hard limits on the request
 * line, headers and body, a deadline for the whole request and for every response, a cap on
 * connections and on event streams, and event streams that drop a client that does not read.
 * Nothing a client does can block the event loop, so the daemon's socket commands keep answering.
 * @internal
 * @module
 */
import net from "node:net";
import { Buffer } from "node:buffer";

/** Limits of {@link HttpServer}. */
export interface HttpLimits {
  /** Request line and headers together. */
  maxHeaderBytes: number;
  /** Header lines. */
  maxHeaders: number;
  /** Request body (Content-Length). */
  maxBodyBytes: number;
  /** Time a client has to send its whole request. */
  requestTimeoutMs: number;
  /** Time a response (not an event stream) has to be written out. */
  responseTimeoutMs: number;
  /** Connections open at once; more are answered 503 and closed. */
  maxConnections: number;
  /** Event streams open at once; more are answered 503. */
  maxStreams: number;
  /** Bytes queued to a slow reader before its connection is dropped. */
  maxBufferedBytes: number;
}

/** Defaults of {@link HttpLimits}. */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxHeaderBytes: 8 * 1024,
  maxHeaders: 64,
  maxBodyBytes: 1024,
  requestTimeoutMs: 5000,
  responseTimeoutMs: 10_000,
  maxConnections: 64,
  maxStreams: 16,
  maxBufferedBytes: 256 * 1024,
});

/** A parsed request. Header names are lower case; a repeated header is refused. */
export interface HttpRequest {
  method: string;
  /** The path, percent-encoding kept. */
  path: string;
  query: string;
  headers: ReadonlyMap<string, string>;
  body: Buffer;
}

/** An event stream as a route sees it. */
export interface EventStream {
  /** Send one event; false once the stream is closed (or dropped for reading too slowly). */
  send(event: string, data: string): boolean;
  /** Send a comment line (keeps proxies and the browser from timing out). */
  ping(): boolean;
  close(): void;
  readonly closed: boolean;
  /** Called once when the stream ends, whoever ended it. */
  onClose(fn: () => void): void;
}

/** What a route answers: a complete response, or an event stream. */
export type HttpResponse =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer }
  | { status: 200; headers?: Record<string, string>; stream: (s: EventStream) => void };

/** Handles one request. A thrown error becomes a 500 without detail. */
export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** Why a request was refused before it reached the handler. */
class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MAX_TARGET = 2048;

/**
 * Parse the head of a request (everything before the blank line). Throws a {@link RequestError}
 * with the status to answer.
 */
export function parseRequestHead(
  head: string,
  limits: Pick<HttpLimits, "maxHeaders" | "maxBodyBytes">,
): { method: string; path: string; query: string; headers: Map<string, string>; length: number } {
  const lines = head.split(/\r?\n/);
  const first = lines.shift() ?? "";
  const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(first);
  if (!m) throw new RequestError(400, "malformed request line");
  const [, method, target, major, minor] = m as unknown as [string, string, string, string, string];
  if (major !== "1" || (minor !== "0" && minor !== "1")) {
    throw new RequestError(505, "unsupported HTTP version");
  }
  if (target.length > MAX_TARGET) throw new RequestError(414, "request target too long");
  if (!target.startsWith("/")) throw new RequestError(400, "request target is not a path");
  if (lines.length > limits.maxHeaders) throw new RequestError(431, "too many header lines");
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (line === "") continue;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      throw new RequestError(400, "folded header line");
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new RequestError(400, "malformed header line");
    const value = line.slice(colon + 1).trim();
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
      throw new RequestError(400, "control character in a header");
    }
    const key = name.toLowerCase();
    if (headers.has(key)) throw new RequestError(400, `repeated header: ${key}`);
    headers.set(key, value);
  }
  if (headers.has("transfer-encoding")) {
    throw new RequestError(501, "transfer codings are not accepted");
  }
  let length = 0;
  const cl = headers.get("content-length");
  if (cl !== undefined) {
    if (!/^\d{1,9}$/.test(cl)) throw new RequestError(400, "malformed Content-Length");
    length = Number(cl);
    if (length > limits.maxBodyBytes) throw new RequestError(413, "request body too large");
  }
  const q = target.indexOf("?");
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
    headers,
    length,
  };
}

function head(status: number, headers: Record<string, string>): string {
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  return text + "\r\n";
}

/** Headers every response carries. */
const BASE_HEADERS: Record<string, string> = {
  "Connection": "close",
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/** The HTTP server. Create it with {@link HttpServer.listen}. */
export class HttpServer {
  readonly limits: HttpLimits;
  readonly #server: net.Server;
  readonly #handler: HttpHandler;
  readonly #sockets = new Set<net.Socket>();
  readonly #streams = new Set<EventStream>();
  #onError: (e: unknown) => void;

  private constructor(handler: HttpHandler, limits: HttpLimits, onError: (e: unknown) => void) {
    this.#handler = handler;
    this.limits = limits;
    this.#onError = onError;
    this.#server = net.createServer((s) => this.#accept(s));
  }

  /** Listen on `host`:`port` (0 for any free port). Rejects when the address cannot be used. */
  static async listen(
    host: string,
    port: number,
    handler: HttpHandler,
    options: { limits?: Partial<HttpLimits>; onError?: (e: unknown) => void } = {},
  ): Promise<HttpServer> {
    const s = new HttpServer(
      handler,
      { ...DEFAULT_HTTP_LIMITS, ...options.limits },
      options.onError ?? (() => {}),
    );
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      s.#server.once("error", fail);
      s.#server.listen({ host, port, exclusive: true }, () => {
        s.#server.off("error", fail);
        s.#server.on("error", (e) => s.#onError(e));
        resolve();
      });
    });
    return s;
  }

  /** The bound address and port. */
  get address(): { host: string; port: number } {
    const a = this.#server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Connections open now (for tests and metrics). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stop listening and close every connection, event streams included. */
  close(): Promise<void> {
    for (const st of [...this.#streams]) st.close();
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    socket.on("error", () => socket.destroy());
    if (this.#sockets.size >= this.limits.maxConnections) {
      socket.end(head(503, { ...BASE_HEADERS, "Content-Length": "0" }));
      setTimeout(() => socket.destroy(), 1000).unref?.();
      return;
    }
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let parsed: ReturnType<typeof parseRequestHead> | undefined;
    let bodyStart = 0;
    let done = false;
    const timer = setTimeout(
      () => refuse(408, "request not received in time"),
      this.limits
        .requestTimeoutMs,
    );
    const finish = () => {
      done = true;
      clearTimeout(timer);
      // Whatever the client sends from now on is read and dropped, so that its closing is seen
      // (and the connection freed) and unread bytes do not turn our close into a reset.
      socket.removeListener("data", onData);
      socket.on("data", () => {});
    };
    const refuse = (status: number, why: string) => {
      if (done) return;
      finish();
      this.#send(socket, {
        status,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
        body: `${why}\n`,
      });
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        if (!parsed) {
          let end = buf.indexOf("\r\n\r\n");
          let sep = 4;
          if (end < 0) {
            end = buf.indexOf("\n\n");
            sep = 2;
          }
          if (end < 0) {
            if (buf.length > this.limits.maxHeaderBytes) {
              throw new RequestError(431, "request head too large");
            }
            return;
          }
          if (end > this.limits.maxHeaderBytes) {
            throw new RequestError(431, "request head too large");
          }
          parsed = parseRequestHead(buf.subarray(0, end).toString("latin1"), this.limits);
          bodyStart = end + sep;
        }
        const have = buf.length - bodyStart;
        if (have < parsed.length) return;
        if (have > parsed.length) throw new RequestError(400, "data after the request");
        const req: HttpRequest = {
          method: parsed.method,
          path: parsed.path,
          query: parsed.query,
          headers: parsed.headers,
          body: buf.subarray(bodyStart, bodyStart + parsed.length),
        };
        finish();
        void this.#handle(socket, req);
      } catch (e) {
        if (e instanceof RequestError) refuse(e.status, e.message);
        else throw e;
      }
    };
    socket.on("data", onData);
    socket.once("end", () => {
      if (!done) refuse(400, "connection closed before the request was complete");
    });
  }

  async #handle(socket: net.Socket, req: HttpRequest): Promise<void> {
    let res: HttpResponse;
    try {
      res = await this.#handler(req);
    } catch (e) {
      this.#onError(e);
      res = { status: 500, headers: { "Content-Type": "text/plain" }, body: "internal error\n" };
    }
    if ("stream" in res) this.#stream(socket, res);
    else this.#send(socket, res, req.method === "HEAD");
  }

  #send(
    socket: net.Socket,
    res: { status: number; headers?: Record<string, string>; body?: string | Buffer },
    headOnly = false,
  ): void {
    if (socket.destroyed) return;
    const body = typeof res.body === "string" ? Buffer.from(res.body) : res.body ?? Buffer.alloc(0);
    const headers = { ...BASE_HEADERS, ...res.headers, "Content-Length": String(body.length) };
    socket.write(head(res.status, headers));
    if (headOnly) socket.end();
    else socket.end(body);
    const t = setTimeout(() => socket.destroy(), this.limits.responseTimeoutMs);
    socket.once("close", () => clearTimeout(t));
    // A client that never reads its response is not waited for.
    socket.once("finish", () => {
      clearTimeout(t);
      setTimeout(() => socket.destroy(), 1000).unref?.();
    });
  }

  #stream(socket: net.Socket, res: Extract<HttpResponse, { stream: unknown }>): void {
    if (socket.destroyed) return;
    if (this.#streams.size >= this.limits.maxStreams) {
      this.#send(socket, {
        status: 503,
        headers: { "Content-Type": "text/plain" },
        body: "too many event streams\n",
      });
      return;
    }
    const closers: (() => void)[] = [];
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.#streams.delete(stream);
      socket.destroy();
      for (const f of closers) {
        try {
          f();
        } catch (e) {
          this.#onError(e);
        }
      }
    };
    const write = (text: string): boolean => {
      if (closed) return false;
      if (socket.writableLength > this.limits.maxBufferedBytes) {
        close();
        return false;
      }
      socket.write(text);
      return true;
    };
    const stream: EventStream = {
      send: (event, data) =>
        write(`event: ${event}\n${data.split("\n").map((l) => `data: ${l}\n`).join("")}\n`),
      ping: () => write(": ping\n\n"),
      close,
      get closed() {
        return closed;
      },
      onClose: (fn) => {
        if (closed) fn();
        else closers.push(fn);
      },
    };
    this.#streams.add(stream);
    socket.once("close", close);
    socket.write(head(200, {
      ...BASE_HEADERS,
      "Content-Type": "text/event-stream; charset=utf-8",
      ...res.headers,
    }));
    res.stream(stream);
  }
}
