/**
 * The daemon's display (upstream `realmcmd_display`, which started the grandvizier GUI): an
 * HTTP status page with live updates, actions behind a token, and `/metrics`. On and off with
 * upstream's reply texts and "already as requested" code; the reply of "on" also gives the URL.
 * @internal
 * @module
 */
import net from "node:net";
import type { DisplayContext } from "./context.ts";
import { DisplayApp } from "./app.ts";
import { type HttpLimits, HttpServer } from "./http.ts";
import { newDisplayToken, removeDisplayFile, writeDisplayFile } from "./token.ts";
import { REALM_RC } from "../protocol/codes.ts";
import { parseRealmDisplayData, REALM_REPLY } from "../protocol/bodies.ts";
import { type RealmReply } from "../protocol/framing.ts";

/** The default listening address of the display. */
export const DEFAULT_DISPLAY_HOST = "127.0.0.1";
/** The default port of the display. */
export const DEFAULT_DISPLAY_PORT = 9731;

/** Where the display listens. */
export interface DisplayListen {
  host?: string;
  port?: number;
}

/** Options of {@link RealmsDisplay}. */
export interface RealmsDisplayOptions extends DisplayListen {
  /** The daemon's state directory (the display file goes into its socket directory). */
  stateDir: string;
  limits?: Partial<HttpLimits>;
  /** Time between full refreshes of the page (default 5 s). */
  refreshMs?: number;
}

/**
 * Parse `HOST:PORT`, `[V6]:PORT`, `HOST` or `:PORT` (the missing part keeps its default).
 * Returns undefined for anything else.
 */
export function parseDisplayListen(text: string): DisplayListen | undefined {
  const t = text.trim();
  if (t === "") return {};
  const port = (p: string) => {
    if (!/^\d{1,5}$/.test(p)) return undefined;
    const n = Number(p);
    return n <= 65535 ? n : undefined;
  };
  let host: string | undefined;
  let p: string | undefined;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(t);
  if (v6) {
    host = v6[1];
    p = v6[2];
  } else if (net.isIPv6(t)) {
    host = t;
  } else {
    const i = t.lastIndexOf(":");
    host = i < 0 ? t : t.slice(0, i);
    p = i < 0 ? undefined : t.slice(i + 1);
  }
  const out: DisplayListen = {};
  if (host !== undefined && host !== "") {
    if (!net.isIP(host) && !/^[A-Za-z0-9.-]{1,253}$/.test(host)) return undefined;
    out.host = host;
  }
  if (p !== undefined) {
    const n = port(p);
    if (n === undefined) return undefined;
    out.port = n;
  }
  return out;
}

function urlHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

/** The display of one daemon. */
export class RealmsDisplay {
  readonly #ctx: DisplayContext;
  readonly #o: RealmsDisplayOptions;
  #server: HttpServer | undefined;
  #app: DisplayApp | undefined;
  #url: string | undefined;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(context: DisplayContext, options: RealmsDisplayOptions) {
    this.#ctx = context;
    this.#o = options;
  }

  /** Whether the display is on. */
  get on(): boolean {
    return this.#server !== undefined;
  }

  /** The page's URL (without the token) while the display is on. */
  get url(): string | undefined {
    return this.#url;
  }

  /**
   * The realmcmd_display command: data `1` (optionally followed by `HOST:PORT`) turns the
   * display on, `0` turns it off. Commands are handled one after another.
   */
  command(data: string): Promise<RealmReply> {
    const next = this.#busy.then(() => this.#command(data));
    this.#busy = next.catch(() => {});
    return next;
  }

  async #command(data: string): Promise<RealmReply> {
    const asked = parseRealmDisplayData(data);
    const listen = asked === undefined ? undefined : parseDisplayListen(asked.listen);
    if (asked === undefined || listen === undefined) {
      return {
        code: REALM_RC.BADCOMMAND,
        message: `invalid display data "${data.trim()}": expected 1 [HOST:PORT] or 0`,
      };
    }
    const want = asked.on;
    if (want === this.on) {
      this.#ctx.log("info", `graphical display is already ${want ? "on" : "off"}`);
      return { code: REALM_RC.DISPLAY, message: REALM_REPLY.displayAlready };
    }
    if (!want) {
      await this.stop();
      this.#ctx.log("info", REALM_REPLY.displayStopped);
      return { code: REALM_RC.OKAY, message: REALM_REPLY.displayStopped };
    }
    try {
      const url = await this.start(listen);
      this.#ctx.log("info", `${REALM_REPLY.displayStarted} at ${url}`);
      return { code: REALM_RC.OKAY, message: `${REALM_REPLY.displayStarted}\nurl: ${url}` };
    } catch (e) {
      const why = `display not started: ${(e as Error).message}`;
      this.#ctx.log("err", why);
      return { code: REALM_RC.FAILED, message: REALM_REPLY.failed(why) };
    }
  }

  /** Turn the display on; returns the page's URL (without the token). */
  async start(listen: DisplayListen = {}): Promise<string> {
    if (this.#server) return this.#url as string;
    const host = listen.host ?? this.#o.host ?? DEFAULT_DISPLAY_HOST;
    const port = listen.port ?? this.#o.port ?? DEFAULT_DISPLAY_PORT;
    const token = newDisplayToken();
    const ref: { app?: DisplayApp } = {};
    const server = await HttpServer.listen(
      host,
      port,
      (req) => (ref.app as DisplayApp).handle(req),
      {
        ...(this.#o.limits ? { limits: this.#o.limits } : {}),
        onError: (e) => this.#ctx.log("err", `status page: ${(e as Error)?.message ?? e}`),
      },
    );
    const bound = server.address;
    const origin = `http://${urlHost(host)}:${bound.port}`;
    const hosts = [`${urlHost(host)}:${bound.port}`, `${urlHost(bound.host)}:${bound.port}`];
    if (host === "127.0.0.1" || host === "::1" || host === "localhost") {
      hosts.push(`localhost:${bound.port}`, `127.0.0.1:${bound.port}`, `[::1]:${bound.port}`);
    }
    const app = ref.app = new DisplayApp({
      context: this.#ctx,
      token,
      origin,
      hosts,
      ...(this.#o.refreshMs !== undefined ? { refreshMs: this.#o.refreshMs } : {}),
    });
    const url = `${origin}/`;
    try {
      writeDisplayFile(this.#o.stateDir, { url, token, pid: process.pid });
    } catch (e) {
      app.close();
      await server.close();
      throw new Error(`cannot write the display file: ${(e as Error).message}`, { cause: e });
    }
    this.#server = server;
    this.#app = app;
    this.#url = url;
    return url;
  }

  /** Turn the display off: close the server and its streams, remove the display file. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#url = undefined;
    this.#app?.close();
    this.#app = undefined;
    try {
      removeDisplayFile(this.#o.stateDir);
    } catch (e) {
      this.#ctx.log("err", `display file not removed: ${(e as Error).message}`);
    }
    await server.close();
  }
}
