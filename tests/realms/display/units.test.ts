/**
 * The status page's pure parts: the HTTP request-head parser and its limits, the listen-address
 * syntax, the metrics text (through a real Prometheus text-format parser), the token helpers
 * and the log tail reader.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { DEFAULT_HTTP_LIMITS, parseRequestHead } from "../../../lib/realms/display/http.ts";
import { parseDisplayListen } from "../../../lib/realms/display/display.ts";
import { exitNumber, renderMetrics } from "../../../lib/realms/display/metrics.ts";
import { bearerToken, newDisplayToken, tokenMatches } from "../../../lib/realms/display/token.ts";
import { tailLines } from "../../../lib/realms/display/daemon-context.ts";
import type { RealmView } from "../../../lib/realms/display/context.ts";
import { tempDir } from "../../helpers.ts";

test("parseRequestHead reads a request and refuses what could be smuggled or is too big", () => {
  const r = parseRequestHead(
    "POST /api/realms/a%2Fb/stop?x=1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3",
    DEFAULT_HTTP_LIMITS,
  );
  assert.equal(r.method, "POST");
  assert.equal(r.path, "/api/realms/a%2Fb/stop");
  assert.equal(r.query, "x=1");
  assert.equal(r.headers.get("host"), "h:1");
  assert.equal(r.length, 3);
  const refused: [string, number][] = [
    ["get / HTTP/1.1", 400],
    ["GET / HTTP/1.1 extra", 400],
    ["GET / HTTP/3.0", 505],
    ["GET * HTTP/1.1", 400],
    ["GET / HTTP/1.1\r\nBad Header: x", 400],
    ["GET / HTTP/1.1\r\nX: a\u0001b", 400],
    ["GET / HTTP/1.1\r\nContent-Length: 1e3", 400],
    ["GET / HTTP/1.1\r\nContent-Length: 1025", 413],
    ["GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1", 400],
    ["GET / HTTP/1.1\r\nTransfer-Encoding: identity", 501],
    ["GET / HTTP/1.1" + "\r\nX: y".repeat(65), 431],
    [`GET /${"x".repeat(2048)} HTTP/1.1`, 414],
  ];
  for (const [head, status] of refused) {
    assert.throws(
      () => parseRequestHead(head, DEFAULT_HTTP_LIMITS),
      (e: { status?: number }) => e.status === status,
      JSON.stringify(head.slice(0, 50)),
    );
  }
});

test("parseDisplayListen accepts host:port forms and refuses the rest", () => {
  assert.deepEqual(parseDisplayListen(""), {});
  assert.deepEqual(parseDisplayListen("127.0.0.1:8080"), { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseDisplayListen(":0"), { port: 0 });
  assert.deepEqual(parseDisplayListen("localhost"), { host: "localhost" });
  assert.deepEqual(parseDisplayListen("[::1]:9731"), { host: "::1", port: 9731 });
  assert.deepEqual(parseDisplayListen("::1"), { host: "::1" });
  for (const bad of ["1.2.3.4:99999", "host:port", "a b:1", "x:-1", "[::1]:x", "h/x:1"]) {
    assert.equal(parseDisplayListen(bad), undefined, bad);
  }
});

function realm(name: string, over: Partial<RealmView> = {}): RealmView {
  return {
    name,
    state: "running",
    pid: 10,
    adopted: false,
    since: 0,
    uptimeSeconds: 42,
    restarts: 2,
    lastExit: null,
    restartAt: null,
    reason: null,
    rollerd: false,
    counts: null,
    ...over,
  };
}

test("renderMetrics escapes realm names so a Prometheus parser reads them back", () => {
  const odd = 'we"ird\\name\nwith newline';
  const text = renderMetrics({
    realms: [
      realm(odd),
      realm("down", {
        state: "failed",
        pid: null,
        uptimeSeconds: null,
        lastExit: { code: null, signal: "SIGKILL" },
      }),
    ],
    startedAt: 1_700_000_000_500,
    commandCounts: new Map([["realmcmd_status", 3], ["(unknown)", 1]]),
    now: 0,
  });
  const families = parsePrometheusTextFormat(text) as {
    name: string;
    metrics: { value: string; labels?: Record<string, string> }[];
  }[];
  const up = families.find((f) => f.name === "steward_realm_up");
  assert.deepEqual(up?.metrics.map((m) => [m.labels?.realm, m.value]), [[odd, "1"], ["down", "0"]]);
  const exit = families.find((f) => f.name === "steward_realm_last_exit_code");
  assert.deepEqual(exit?.metrics, [{ labels: { realm: "down" }, value: "137" }]);
  const state = families.find((f) => f.name === "steward_realm_state");
  assert.equal(state?.metrics.filter((m) => m.value === "1").length, 2, "one state per realm");
  assert.equal(
    families.find((f) => f.name === "steward_realms_daemon_start_time_seconds")?.metrics[0]?.value,
    "1700000000",
  );
  assert.match(text, /^steward_realms_commands_total\{command="\(unknown\)"\} 1$/m);
  assert.ok(text.endsWith("\n"));
});

test("exitNumber gives exit codes as they are and signals as 128 + their number", () => {
  assert.equal(exitNumber({ code: 3, signal: null }), 3);
  assert.equal(exitNumber({ code: null, signal: "SIGTERM" }), 143);
  assert.equal(exitNumber({ code: null, signal: null }), null);
});

test("tokens are random, compared whole, and read only from a Bearer header", () => {
  const t = newDisplayToken();
  assert.match(t, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(newDisplayToken(), t);
  assert.equal(tokenMatches(t, t), true);
  assert.equal(tokenMatches(t, t.slice(0, -1)), false);
  assert.equal(tokenMatches(t, ""), false);
  assert.equal(tokenMatches(t, undefined), false);
  assert.equal(bearerToken(`Bearer ${t}`), t);
  for (const h of [t, `bearer ${t}`, `Bearer  ${t}`, `Bearer ${t} x`, "Bearer a.b", undefined]) {
    assert.equal(bearerToken(h), undefined, String(h));
  }
});

test("tailLines returns the last lines of a log, cutting long ones and partial first lines", () => {
  using tmp = tempDir("rtail");
  const f = path.join(tmp.path, "log");
  assert.deepEqual(tailLines(f), [], "a missing log has no lines");
  fs.writeFileSync(f, "");
  assert.deepEqual(tailLines(f), []);
  fs.writeFileSync(f, Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n") + "\n");
  assert.deepEqual(tailLines(f, 3), ["line 47", "line 48", "line 49"]);
  fs.writeFileSync(f, "x".repeat(30_000) + "\nlast\n" + "y".repeat(1000));
  const t = tailLines(f);
  assert.deepEqual(t.slice(0, 1), ["last"], "the cut first line is dropped");
  assert.equal(t[1]?.length, 401, "a long line is cut with an ellipsis");
});
