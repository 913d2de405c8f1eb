/**
 * The status page of a real daemon: the display commands with upstream's replies, the HTTP API
 * with and without the token, from other origins, with tokens of another display or daemon,
 * the live event stream, /metrics through a Prometheus text-format parser, and HTTP clients
 * that are malformed, oversized or slow while the socket commands keep answering.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Buffer } from "node:buffer";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { tempDir, waitFor } from "../../helpers.ts";
import { killLeftovers, send } from "../daemon-helpers.ts";
import {
  type DisplayDaemon,
  parseResponse,
  rawHttp,
  readDisplayFile,
  request,
  startDisplayDaemon,
} from "./helpers.ts";

interface Family {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

describe("realms status page", () => {
  const tmp = tempDir("rdisp");
  let a: DisplayDaemon;
  const tokens: string[] = [];
  const auth = () => ({ Authorization: `Bearer ${a.token}`, Origin: a.origin });

  before(async () => {
    a = await startDisplayDaemon(path.join(tmp.path, "a"), { args: [] });
    tokens.push(a.token);
  });
  after(async () => {
    await a?.stop();
    await killLeftovers(tmp.path);
    tmp[Symbol.dispose]();
  });

  test("display commands reply as dtrealms does, and each start makes a new token", async () => {
    const st = fs.statSync(path.join(a.fx.stateDir, "dnssec-tools", "display.json"));
    assert.equal(st.mode & 0o777, 0o600, "the display file is private");
    assert.equal(
      await send(a.fx.socket, "realmcmd_display", "1"),
      "9 \r\ndisplay status already as requested \r\n",
    );
    assert.equal(
      await send(a.fx.socket, "realmcmd_display", "0"),
      "0 \r\ndtrealms display stopped \r\n",
    );
    assert.equal(fs.existsSync(path.join(a.fx.stateDir, "dnssec-tools", "display.json")), false);
    await assert.rejects(rawHttp(a.port, "GET / HTTP/1.1\r\n\r\n", 3000), "the server is gone");
    assert.equal(
      await send(a.fx.socket, "realmcmd_nodisplay", "0"),
      "9 \r\ndisplay status already as requested \r\n",
    );
    assert.match(
      await send(a.fx.socket, "realmcmd_display", "2"),
      /^12 \r\ninvalid display data "2": expected 1 \[HOST:PORT\] or 0 \r\n$/,
    );
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const busy = (taken.address() as net.AddressInfo).port;
    try {
      assert.match(
        await send(a.fx.socket, "realmcmd_display", `1 127.0.0.1:${busy}`),
        /^15 \r\ncommand failed: display not started: .*EADDRINUSE.* \r\n$/,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
    assert.equal(fs.existsSync(path.join(a.fx.stateDir, "dnssec-tools", "display.json")), false);
    const on = await send(a.fx.socket, "realmcmd_display", "1 127.0.0.1:0");
    const m = /^0 \r\ndtrealms display started\nurl: (http:\/\/127\.0\.0\.1:(\d+)\/) \r\n$/.exec(
      on,
    );
    assert.ok(m, on);
    const file = readDisplayFile(a.fx.stateDir);
    assert.equal(file.url, m[1]);
    assert.notEqual(file.token, a.token, "a new display has a new token");
    const old = a.token;
    a.origin = file.url.replace(/\/$/, "");
    a.port = Number(m[2]);
    a.token = file.token;
    tokens.push(a.token);
    const replayed = await request(a.port, "POST", "/api/realms/gamma/start", {
      Authorization: `Bearer ${old}`,
      Origin: a.origin,
    });
    assert.equal(replayed.status, 401, "the previous display's token is refused");
    assert.equal(
      await send(a.fx.socket, "realmcmd_nodisplay", "0"),
      "0 \r\ndtrealms display stopped \r\n",
    );
    const again = await send(a.fx.socket, "realmcmd_display", "1 127.0.0.1:0");
    assert.match(again, /^0 \r\ndtrealms display started\n/);
    const f2 = readDisplayFile(a.fx.stateDir);
    a.origin = f2.url.replace(/\/$/, "");
    a.port = Number(new URL(f2.url).port);
    a.token = f2.token;
    tokens.push(a.token);
  });

  test("the page, its script and its style are served with a strict security policy", async () => {
    const page = await request(a.port, "GET", "/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(page.body, /<script src="\/app.js" defer><\/script>/);
    assert.equal(page.headers.get("cache-control"), "no-store");
    assert.match((await request(a.port, "GET", "/app.js")).body, /EventStream|api\/events/);
    assert.match((await request(a.port, "GET", "/app.css")).body, /prefers-color-scheme: dark/);
    assert.equal((await request(a.port, "GET", "/nosuch")).status, 404);
    assert.equal((await request(a.port, "POST", "/metrics")).status, 405);
  });

  test("actions are refused without the token, with a wrong one, or from another origin", async () => {
    const stop = "/api/realms/beta/stop";
    assert.equal((await request(a.port, "POST", stop, { Origin: a.origin })).status, 401);
    assert.equal(
      (await request(a.port, "POST", stop, { Authorization: "Bearer nottherightone" })).status,
      401,
    );
    assert.equal(
      (await request(a.port, "POST", stop, { Authorization: a.token })).status,
      401,
      "the token alone without Bearer is not accepted",
    );
    const cross = [
      { Origin: "http://evil.example" },
      { Origin: `http://localhost:${a.port + 1}` },
      { "Sec-Fetch-Site": "cross-site" },
      { "Sec-Fetch-Site": "same-site" },
    ];
    for (const h of cross) {
      const r = await request(a.port, "POST", stop, { Authorization: `Bearer ${a.token}`, ...h });
      assert.equal(r.status, 403, JSON.stringify(h));
    }
    const rebound = await request(a.port, "POST", stop, {
      ...auth(),
      Host: `evil.example:${a.port}`,
    });
    assert.equal(rebound.status, 403, "a foreign Host header (DNS rebinding) is refused");
    assert.equal((await request(a.port, "GET", stop, auth())).status, 405);
    assert.match(await send(a.fx.socket, "realmcmd_realmstatus"), /beta\tactive\t\(running;/);
  });

  test("an action with the token goes through the socket command path", async () => {
    const post = async (realm: string, action: string) => {
      const r = await request(a.port, "POST", `/api/realms/${realm}/${action}`, auth());
      assert.equal(r.status, 200, r.body);
      return JSON.parse(r.body) as { ok: boolean; code: number; message: string };
    };
    assert.deepEqual(await post("gamma", "start"), {
      ok: true,
      code: 0,
      message: 'realm "gamma" started',
    });
    assert.match(fs.readFileSync(a.fx.realmsFile, "utf8"), /realm "gamma"\n\tstate\t\t"active"/);
    assert.deepEqual(await post("gamma", "restart"), {
      ok: true,
      code: 0,
      message: 'realm "gamma" started',
    });
    assert.deepEqual(await post("gamma", "stop"), {
      ok: true,
      code: 0,
      message: 'realm "gamma" stopped',
    });
    assert.deepEqual(await post("nosuch", "stop"), {
      ok: false,
      code: 4,
      message: 'unable to stop realm "nosuch": no realm named "nosuch"',
    });
    assert.deepEqual(await post("a%2Fb", "start"), {
      ok: false,
      code: 4,
      message: 'unable to start realm "a/b": no realm named "a/b"',
    });
    assert.equal(
      (await request(a.port, "POST", "/api/realms/gamma/explode", auth())).status,
      404,
    );
    const log = fs.readFileSync(a.fx.logFile, "utf8");
    assert.match(log, /<command>: cmd {3}- "realmcmd_startrealm"\n.*<command>: data {2}- "gamma"/);
    assert.match(log, /display: page asks to restart realm "gamma"/);
  });

  test("the snapshot shows log tails only to token holders", async () => {
    const open = JSON.parse((await request(a.port, "GET", "/api/realms")).body);
    const alpha = open.realms.find((r: { name: string }) => r.name === "alpha");
    assert.equal(alpha.state, "running");
    assert.equal(typeof alpha.pid, "number");
    assert.equal(alpha.log, undefined);
    const full = JSON.parse((await request(a.port, "GET", "/api/realms", auth())).body);
    const beta = full.realms.find((r: { name: string }) => r.name === "beta");
    assert.ok(beta.log.some((l: string) => l.startsWith("argv: -name beta")), beta.log);
    assert.deepEqual(full.realms.map((r: { name: string }) => r.name), ["alpha", "beta", "gamma"]);
  });

  test("the event stream sends a snapshot at once and again when a realm changes", async () => {
    const s = net.connect(a.port, "127.0.0.1");
    s.on("error", () => {});
    let text = "";
    s.on("data", (c: Buffer) => (text += c.toString("utf8")));
    try {
      s.write(
        `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n` +
          `Authorization: Bearer ${a.token}\r\n\r\n`,
      );
      const gammaState = () => {
        const events = text.split("\n\n").filter((e) => e.includes("event: snapshot"));
        const last = events.at(-1);
        if (!last) return undefined;
        const data = JSON.parse(last.slice(last.indexOf("data: ") + 6));
        return data.realms.find((r: { name: string }) => r.name === "gamma")?.state as string;
      };
      assert.equal(await waitFor(gammaState, 10_000, "a first snapshot"), "inactive");
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n(.*\r\n)*Content-Type: text\/event-stream/);
      assert.equal(
        await send(a.fx.socket, "realmcmd_startrealm", "gamma"),
        '0 \r\nrealm "gamma" started \r\n',
      );
      await waitFor(() => gammaState() === "running", 10_000, "gamma running on the stream");
      assert.equal(
        await send(a.fx.socket, "realmcmd_stoprealm", "gamma"),
        '0 \r\nrealm "gamma" stopped \r\n',
      );
      await waitFor(() => gammaState() === "inactive", 10_000, "gamma stopped on the stream");
    } finally {
      s.destroy();
    }
  });

  test("/metrics parses as Prometheus text and tells each realm's state", async () => {
    const r = await request(a.port, "GET", "/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(r.body) as Family[];
    const fam = (name: string) => {
      const f = families.find((x) => x.name === name);
      assert.ok(f, `family ${name}`);
      return f;
    };
    const value = (name: string, labels: Record<string, string>) => {
      const m = fam(name).metrics.find((x) =>
        Object.entries(labels).every(([k, v]) => x.labels?.[k] === v)
      );
      assert.ok(m, `${name} ${JSON.stringify(labels)}`);
      return Number(m.value);
    };
    assert.equal(fam("steward_realm_up").type, "GAUGE");
    assert.equal(value("steward_realm_up", { realm: "alpha" }), 1);
    assert.equal(value("steward_realm_up", { realm: "gamma" }), 0);
    assert.equal(value("steward_realm_state", { realm: "beta", state: "running" }), 1);
    assert.equal(value("steward_realm_state", { realm: "beta", state: "inactive" }), 0);
    assert.equal(value("steward_realm_state", { realm: "gamma", state: "inactive" }), 1);
    assert.equal(value("steward_realm_restarts", { realm: "alpha" }), 0);
    // gamma was just stopped: exit 0 from its TERM trap, or 143 (128 + SIGTERM) when the
    // signal came before the shell had set the trap.
    assert.ok([0, 143].includes(value("steward_realm_last_exit_code", { realm: "gamma" })));
    assert.ok(value("steward_realm_uptime_seconds", { realm: "alpha" }) >= 0);
    const start = value("steward_realms_daemon_start_time_seconds", {});
    assert.ok(Math.abs(start - Date.now() / 1000) < 600, String(start));
    assert.equal(fam("steward_realms_commands_total").type, "COUNTER");
    assert.ok(value("steward_realms_commands_total", { command: "realmcmd_startrealm" }) >= 3);
    assert.ok(value("steward_realms_commands_total", { command: "realmcmd_display" }) >= 4);
  });

  test("malformed, oversized and slow HTTP clients never stall the socket commands", async () => {
    const statusTakes = async () => {
      const t0 = Date.now();
      assert.match(await send(a.fx.socket, "realmcmd_status"), /^0 \r\ndtrealms parameters:/);
      return Date.now() - t0;
    };
    // Slow clients: each sends half a request line and then nothing.
    const slow: net.Socket[] = [];
    const slowText: string[] = [];
    for (let i = 0; i < 20; i++) {
      const s = net.connect(a.port, "127.0.0.1");
      s.on("error", () => {});
      const k = slow.push(s) - 1;
      slowText[k] = "";
      s.on("data", (c: Buffer) => (slowText[k] += c.toString("latin1")));
      s.write("GET /metr");
    }
    // An event stream that is never read.
    const stuck = net.connect(a.port, "127.0.0.1");
    stuck.on("error", () => {});
    stuck.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n\r\n`);
    stuck.pause();
    try {
      assert.ok((await statusTakes()) < 3000, "status answers while slow clients wait");
      const cases: [string | Uint8Array, number][] = [
        [Buffer.from([0xff, 0x00, 0x41, 0x0d, 0x0a, 0x0d, 0x0a]), 400],
        ["GET / HTTP/1.1\r\n" + `X-Big: ${"x".repeat(10_000)}\r\n\r\n`, 431],
        ["G".repeat(20_000), 431],
        [`POST /api/realms/beta/stop HTTP/1.1\r\nContent-Length: 5000\r\n\r\n`, 413],
        [`POST /api/realms/beta/stop HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n`, 501],
        ["GET / HTTP/2.0\r\n\r\n", 505],
        ["GET / HTTP/1.1\r\n folded\r\n\r\n", 400],
        ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
        ["GET http://evil/ HTTP/1.1\r\n\r\n", 400],
        [`GET /${"a".repeat(3000)} HTTP/1.1\r\n\r\n`, 414],
        ["GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400],
      ];
      for (const [bytes, status] of cases) {
        const r = parseResponse(await rawHttp(a.port, bytes));
        assert.equal(r.status, status, JSON.stringify(String(bytes).slice(0, 60)));
      }
      // Too many connections at once: the extra ones are turned away, not queued.
      const many: net.Socket[] = [];
      const answers: string[] = [];
      for (let i = 0; i < 60; i++) {
        const s = net.connect(a.port, "127.0.0.1");
        s.on("error", () => {});
        const k = many.push(s) - 1;
        answers[k] = "";
        s.on("data", (c: Buffer) => (answers[k] += c.toString("latin1")));
      }
      await waitFor(
        () => answers.some((x) => x.startsWith("HTTP/1.1 503 ")),
        10_000,
        "a 503 for connections over the limit",
      );
      assert.ok((await statusTakes()) < 3000, "status answers at the connection limit");
      for (const s of many) s.destroy();
      // The slow clients are cut off at the request deadline with a 408.
      await waitFor(
        () => slowText.every((x) => x.startsWith("HTTP/1.1 408 ")),
        15_000,
        "408 for every slow client",
      );
      const ok = await request(a.port, "GET", "/metrics");
      assert.equal(ok.status, 200, "the server still serves after all that");
      assert.ok((await statusTakes()) < 3000);
    } finally {
      for (const s of slow) s.destroy();
      stuck.destroy();
    }
  });

  test("a token of another daemon is refused", async () => {
    const b = await startDisplayDaemon(path.join(tmp.path, "b"));
    try {
      const act = (port: number, token: string, origin: string) =>
        request(port, "POST", "/api/realms/gamma/start", {
          Authorization: `Bearer ${token}`,
          Origin: origin,
        });
      assert.equal((await act(b.port, a.token, b.origin)).status, 401, "a's token at b");
      assert.equal((await act(a.port, b.token, a.origin)).status, 401, "b's token at a");
      const logs = await request(b.port, "GET", "/api/realms", {
        Authorization: `Bearer ${a.token}`,
      });
      assert.ok(!logs.body.includes('"log"'), "no log tails for a's token at b");
      const own = await act(b.port, b.token, b.origin);
      assert.equal(own.status, 200, own.body);
      tokens.push(b.token);
      await b.stop();
      const blog = fs.readFileSync(b.fx.logFile, "utf8");
      for (const t of tokens) assert.ok(!blog.includes(t), "no token in b's log");
    } finally {
      await b.stop();
    }
  });

  test("the token is never written to the log", () => {
    const log = fs.readFileSync(a.fx.logFile, "utf8");
    assert.match(log, /page action refused: missing or wrong token/);
    for (const t of tokens) assert.ok(!log.includes(t), "no token in the log");
  });
});
