/**
 * Fixtures for the status page tests: a realms daemon with its display on a free port, the
 * page's URL and token from the display file, and a raw HTTP client (so that requests can be
 * malformed, oversized or slow on purpose).
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Buffer } from "node:buffer";
import { testPermissions, waitFor } from "../../helpers.ts";
import { startDaemon, type TestDaemon, writeFixture } from "../daemon-helpers.ts";

/** A daemon whose display is on. */
export interface DisplayDaemon {
  d: TestDaemon;
  fx: ReturnType<typeof writeFixture>;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  token: string;
  stop(): Promise<void>;
}

/** Read the display file of a state directory. */
export function readDisplayFile(stateDir: string): { url: string; token: string; pid: number } {
  return JSON.parse(fs.readFileSync(path.join(stateDir, "dnssec-tools", "display.json"), "utf8"));
}

/** Start the fixture's daemon in `dir` with `--display --display-port 0`. */
export async function startDisplayDaemon(
  dir: string,
  options: { realms?: string; args?: string[] } = {},
): Promise<DisplayDaemon> {
  const fx = writeFixture(dir, options.realms);
  const d = await startDaemon(dir, {
    args: ["--display", "--display-port", "0", ...(options.args ?? [])],
    permissions: {
      ...testPermissions(dir, { unixSockets: [fx.socket], read: ["/proc", "/etc/passwd"] }),
      net: ["127.0.0.1"],
    },
  });
  const file = await waitFor(
    () => {
      try {
        return readDisplayFile(fx.stateDir);
      } catch {
        return undefined;
      }
    },
    10_000,
    "the display file",
  );
  const origin = file.url.replace(/\/$/, "");
  return {
    d,
    fx,
    origin,
    port: Number(new URL(file.url).port),
    token: file.token,
    stop: () => d.stop(),
  };
}

/** A raw HTTP response. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Parse what a server sent on one connection. */
export function parseResponse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const [first = "", ...lines] = head.split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(first);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(":");
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers, body: end < 0 ? "" : text.slice(end + 4) };
}

/** Send raw bytes to `port` and read until the server closes (bounded by `timeoutMs`). */
export function rawHttp(
  port: number,
  bytes: string | Uint8Array,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => s.write(bytes));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.once("error", (e) => {
      clearTimeout(timer);
      // A server that closes while we still send may reset the connection: what came is kept.
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString("utf8"));
      else reject(e);
    });
    s.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** One well-formed request. */
export async function request(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const all = { Host: `127.0.0.1:${port}`, ...headers };
  const lines = Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`);
  return parseResponse(
    await rawHttp(port, `${method} ${target} HTTP/1.1\r\n${lines.join("")}\r\n`),
  );
}
