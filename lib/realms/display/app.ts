/**
 * The status page's routes over a {@link DisplayContext}: the page itself, a JSON snapshot, a
 * live event stream, the actions (token, same origin and own Host only) and `/metrics`.
 * @internal
 * @module
 */
import type { DisplayContext, RealmAction, RealmView } from "./context.ts";
import type { EventStream, HttpRequest, HttpResponse } from "./http.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "./page.ts";
import { bearerToken, tokenMatches } from "./token.ts";

/** Options of {@link DisplayApp}. */
export interface DisplayAppOptions {
  context: DisplayContext;
  /** The action token of this display. */
  token: string;
  /** The page's own origin, e.g. `http://127.0.0.1:9731`. */
  origin: string;
  /** Host header values the server answers to (its address and port, `localhost:port`). */
  hosts: readonly string[];
  /** Time between full refreshes on the event stream (log tails, counts); default 5 s. */
  refreshMs?: number;
  /** Time between keep-alive comments on the event stream; default 15 s. */
  pingMs?: number;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ACTIONS: ReadonlySet<string> = new Set(["start", "stop", "restart"]);

function json(status: number, value: unknown): HttpResponse {
  return {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8" },
    body: JSON.stringify(value) + "\n",
  };
}

function text(status: number, body: string): HttpResponse {
  return { status, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: `${body}\n` };
}

/** The routes of one display; {@link DisplayApp.close} ends its event streams' timers. */
export class DisplayApp {
  readonly #o: DisplayAppOptions;
  readonly #hosts: ReadonlySet<string>;
  readonly #streams = new Set<{ s: EventStream; log: boolean }>();
  #unsubscribe: (() => void) | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;

  constructor(options: DisplayAppOptions) {
    this.#o = options;
    this.#hosts = new Set(options.hosts.map((h) => h.toLowerCase()));
  }

  /** Answer one request. */
  handle = async (req: HttpRequest): Promise<HttpResponse> => {
    const host = req.headers.get("host");
    // A page of another site that got its name resolved to this address (DNS rebinding) sends
    // its own name here: nothing is answered to it.
    if (host !== undefined && !this.#hosts.has(host.toLowerCase())) {
      return text(403, "unknown Host");
    }
    const get = req.method === "GET" || req.method === "HEAD";
    switch (req.path) {
      case "/":
      case "/index.html":
        if (!get) return text(405, "method not allowed");
        return {
          status: 200,
          headers: { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP },
          body: PAGE_HTML,
        };
      case "/app.js":
        if (!get) return text(405, "method not allowed");
        return {
          status: 200,
          headers: { "Content-Type": "text/javascript; charset=utf-8" },
          body: PAGE_JS,
        };
      case "/app.css":
        if (!get) return text(405, "method not allowed");
        return {
          status: 200,
          headers: { "Content-Type": "text/css; charset=utf-8" },
          body: PAGE_CSS,
        };
      case "/metrics":
        if (!get) return text(405, "method not allowed");
        return {
          status: 200,
          headers: { "Content-Type": METRICS_CONTENT_TYPE },
          body: renderMetrics({
            realms: await this.#o.context.listRealms(),
            startedAt: this.#o.context.startedAt,
            commandCounts: this.#o.context.commandCounts(),
            now: Date.now(),
          }),
        };
      case "/api/realms":
        if (!get) return text(405, "method not allowed");
        return json(200, await this.#snapshot(this.#authorized(req)));
      case "/api/events":
        if (req.method !== "GET") return text(405, "method not allowed");
        return this.#events(this.#authorized(req));
    }
    const m = /^\/api\/realms\/([^/]+)\/([a-z]+)$/.exec(req.path);
    if (m) return this.#act(req, m[1] as string, m[2] as string);
    return text(404, "not found");
  };

  #authorized(req: HttpRequest): boolean {
    return tokenMatches(this.#o.token, bearerToken(req.headers.get("authorization")));
  }

  async #act(req: HttpRequest, encoded: string, action: string): Promise<HttpResponse> {
    if (req.method !== "POST") return text(405, "method not allowed");
    if (!ACTIONS.has(action)) return text(404, "not found");
    const origin = req.headers.get("origin");
    const site = req.headers.get("sec-fetch-site");
    if (
      (origin !== undefined && origin !== this.#o.origin) || (site !== undefined &&
        site !== "same-origin" && site !== "none")
    ) {
      this.#o.context.log("err", `page action refused: request from another origin`);
      return json(403, { error: "request from another origin" });
    }
    if (!this.#authorized(req)) {
      this.#o.context.log("err", `page action refused: missing or wrong token`);
      return json(401, { error: "missing or wrong token" });
    }
    let realm: string;
    try {
      realm = decodeURIComponent(encoded);
    } catch {
      return text(400, "malformed realm name");
    }
    const reply = await this.#o.context.act(realm, action as RealmAction);
    this.#changed();
    return json(200, { ok: reply.code === 0, code: reply.code, message: reply.message });
  }

  async #snapshot(log: boolean): Promise<{ now: number; startedAt: number; realms: RealmView[] }> {
    return {
      now: Date.now(),
      startedAt: this.#o.context.startedAt,
      realms: await this.#o.context.listRealms({ log }),
    };
  }

  #events(log: boolean): HttpResponse {
    return {
      status: 200,
      stream: (s) => {
        const entry = { s, log };
        this.#streams.add(entry);
        this.#watch();
        s.onClose(() => {
          this.#streams.delete(entry);
          if (this.#streams.size === 0) this.#unwatch();
        });
        void this.#push([entry]);
      },
    };
  }

  #watch(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#o.context.onChange(() => this.#changed());
    this.#refresh = setInterval(() => void this.#push(), this.#o.refreshMs ?? 5000);
    this.#ping = setInterval(() => {
      for (const { s } of this.#streams) s.ping();
    }, this.#o.pingMs ?? 15_000);
  }

  #unwatch(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#refresh);
    clearInterval(this.#ping);
    clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  /** Coalesce bursts of changes (startall of many realms) into one push. */
  #changed(): void {
    if (this.#pending || this.#streams.size === 0) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      void this.#push();
    }, 50);
  }

  async #push(to = [...this.#streams]): Promise<void> {
    const cache = new Map<boolean, string>();
    for (const { s, log } of to) {
      if (s.closed) continue;
      let data = cache.get(log);
      if (data === undefined) {
        try {
          data = JSON.stringify(await this.#snapshot(log));
        } catch (e) {
          this.#o.context.log("err", `status page update failed: ${(e as Error).message}`);
          return;
        }
        cache.set(log, data);
      }
      s.send("snapshot", data);
    }
  }

  /** Stop the timers (the server closes the streams). */
  close(): void {
    this.#unwatch();
    for (const { s } of this.#streams) s.close();
    this.#streams.clear();
  }
}
