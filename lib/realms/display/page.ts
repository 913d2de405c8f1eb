/**
 * The status page: HTML, CSS and a small script as strings, so that the page is inside the
 * module graph (and so inside the single binary) with no build step of its own. The script
 * reads the token from the URL's fragment, keeps it in the tab's session storage, removes it
 * from the address bar, follows the event stream with `fetch` (so the token goes in a header,
 * never in a URL), and renders every realm with `textContent` only.
 * @internal
 * @module
 */

/** The page. */
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>steward realms</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1>steward realms</h1>
  <p class="meta"><span id="conn" class="conn" data-state="connecting">connecting</span>
  <span id="daemon"></span></p>
</header>
<p id="readonly" class="notice" hidden>Read-only view: to start and stop realms, open the
address that <code>steward realms display url</code> prints.</p>
<p id="message" class="message" role="status" aria-live="polite"></p>
<main id="realms" class="realms" aria-live="polite"></main>
<p id="empty" class="notice" hidden>No realms are managed.</p>
</body>
</html>
`;

/** The page's style: a grid of cards, one column on a phone; light and dark from the browser. */
export const PAGE_CSS = String.raw`:root {
  --bg: #f6f7f9; --fg: #1b1f24; --muted: #5b6470; --card: #ffffff; --line: #d8dde3;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --idle: #6e7781; --accent: #0969da;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --card: #161b22; --line: #30363d;
    --ok: #3fb950; --warn: #d29922; --bad: #f85149; --idle: #8b949e; --accent: #4493f8;
  }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem; background: var(--bg); color: var(--fg); line-height: 1.4; }
.top { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between;
  gap: 0.5rem; margin-bottom: 0.75rem; }
h1 { font-size: 1.3rem; margin: 0; }
.meta { margin: 0; color: var(--muted); font-size: 0.9rem; }
.conn { display: inline-block; padding: 0 0.5em; border-radius: 1em; border: 1px solid var(--line); }
.conn[data-state="live"] { color: var(--ok); border-color: var(--ok); }
.conn[data-state="reconnecting"] { color: var(--warn); border-color: var(--warn); }
.notice { color: var(--muted); border-left: 3px solid var(--line); padding-left: 0.75rem; }
.message { min-height: 1.4em; margin: 0.25rem 0 0.75rem; }
.message[data-ok="false"] { color: var(--bad); }
.realms { display: grid; gap: 0.75rem; align-items: start;
  grid-template-columns: repeat(auto-fill, minmax(19rem, 1fr)); }
.realm { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--idle);
  border-radius: 8px; padding: 0.75rem 0.9rem; min-width: 0; }
.realm[data-state="running"] { border-left-color: var(--ok); }
.realm[data-state="starting"], .realm[data-state="stopping"], .realm[data-state="backoff"] {
  border-left-color: var(--warn); }
.realm[data-state="failed"] { border-left-color: var(--bad); }
.realm h2 { font-size: 1.1rem; margin: 0; overflow-wrap: anywhere; }
.head { display: flex; justify-content: space-between; align-items: center; gap: 0.5rem; }
.state { font-weight: 600; font-size: 0.9rem; text-transform: uppercase; letter-spacing: 0.03em; }
.realm[data-state="running"] .state { color: var(--ok); }
.realm[data-state="failed"] .state { color: var(--bad); }
.realm[data-state="backoff"] .state, .realm[data-state="starting"] .state,
.realm[data-state="stopping"] .state { color: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 0.75rem; margin: 0.6rem 0;
  font-size: 0.92rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
.actions { display: flex; gap: 0.5rem; flex-wrap: wrap; }
button { font: inherit; padding: 0.45rem 0.9rem; min-height: 2.5rem; border-radius: 6px;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
details { margin-top: 0.6rem; }
summary { cursor: pointer; color: var(--muted); }
pre { margin: 0.4rem 0 0; padding: 0.5rem; max-height: 14rem; overflow: auto; font-size: 0.8rem;
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
code { font-size: 0.9em; }
@media (max-width: 30rem) { body { padding: 0.6rem; } .realms { grid-template-columns: 1fr; } }
`;

/** The page's script. */
export const PAGE_JS = String.raw`"use strict";
(function () {
  var KEY = "steward-realms-token";
  var token = "";
  var m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  try {
    if (m) {
      token = m[1];
      sessionStorage.setItem(KEY, token);
      history.replaceState(null, "", location.pathname);
    } else {
      token = sessionStorage.getItem(KEY) || "";
    }
  } catch (e) {
    token = m ? m[1] : "";
  }
  var $ = function (id) { return document.getElementById(id); };
  var cards = new Map();
  var offset = 0;
  var last = null;

  function auth() {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), mi = Math.floor(s % 3600 / 60);
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + mi + "m";
    if (mi > 0) return mi + "m " + (s % 60) + "s";
    return s + "s";
  }

  function exitText(x) {
    if (!x) return "none";
    if (x.signal) return "signal " + x.signal;
    return x.code === null ? "unknown" : "code " + x.code;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function card(name) {
    var c = cards.get(name);
    if (c) return c;
    var root = el("article", "realm");
    root.dataset.realm = name;
    var head = el("div", "head");
    head.append(el("h2", "", name));
    var state = el("span", "state");
    head.append(state);
    root.append(head);
    var dl = el("dl");
    var fields = {};
    [["pid", "pid"], ["uptime", "uptime"], ["restarts", "restarts"], ["exit", "last exit"],
      ["counts", "zones"], ["detail", "detail"]].forEach(function (f) {
      var dt = el("dt", "", f[1]);
      var dd = el("dd");
      dd.dataset.field = f[0];
      dl.append(dt, dd);
      fields[f[0]] = { dt: dt, dd: dd };
    });
    root.append(dl);
    var actions = el("div", "actions");
    var buttons = {};
    ["start", "stop", "restart"].forEach(function (a) {
      var b = el("button", "", a.charAt(0).toUpperCase() + a.slice(1));
      b.type = "button";
      b.dataset.action = a;
      b.addEventListener("click", function () { act(name, a, b); });
      actions.append(b);
      buttons[a] = b;
    });
    root.append(actions);
    var details = el("details");
    details.append(el("summary", "", "log"));
    var pre = el("pre");
    details.append(pre);
    root.append(details);
    c = { root: root, state: state, fields: fields, buttons: buttons, details: details, pre: pre };
    cards.set(name, c);
    return c;
  }

  function show(c, key, value) {
    var f = c.fields[key];
    var on = value !== null && value !== undefined && value !== "";
    f.dt.hidden = !on;
    f.dd.hidden = !on;
    if (on && f.dd.textContent !== value) f.dd.textContent = value;
  }

  function render() {
    if (!last) return;
    var now = Date.now() - offset;
    var main = $("realms");
    var seen = new Set();
    last.realms.forEach(function (r, i) {
      seen.add(r.name);
      var c = card(r.name);
      if (main.children[i] !== c.root) main.insertBefore(c.root, main.children[i] || null);
      c.root.dataset.state = r.state;
      c.state.textContent = r.state;
      show(c, "pid", r.pid === null ? "" : String(r.pid) + (r.adopted ? " (adopted)" : ""));
      show(c, "uptime", r.state === "running" ? duration((now - r.since) / 1000) : "");
      show(c, "restarts", String(r.restarts));
      show(c, "exit", exitText(r.lastExit));
      show(c, "counts", r.counts ? "normal " + r.counts.normal + ", ZSK " + r.counts.zsk +
        ", KSK " + r.counts.ksk + ", KSK phase 6 " + r.counts.kskPhase6 : "");
      var detail = r.reason || (r.restartAt ? "restart in " +
        duration((r.restartAt - now) / 1000) : "");
      show(c, "detail", detail);
      var busy = c.root.dataset.busy === "1";
      c.buttons.start.disabled = !token || busy ||
        !(r.state === "inactive" || r.state === "failed");
      c.buttons.stop.disabled = !token || busy || r.state === "inactive";
      c.buttons.restart.disabled = !token || busy || r.state !== "running";
      c.details.hidden = !r.log;
      if (r.log) {
        var t = r.log.length ? r.log.join("\n") : "(empty)";
        if (c.pre.textContent !== t) c.pre.textContent = t;
      }
    });
    cards.forEach(function (c, name) {
      if (!seen.has(name)) {
        c.root.remove();
        cards.delete(name);
      }
    });
    $("empty").hidden = last.realms.length !== 0;
    $("readonly").hidden = !!token;
    $("daemon").textContent = "daemon up " + duration((now - last.startedAt) / 1000);
  }

  function message(text, ok) {
    var e = $("message");
    e.textContent = text;
    e.dataset.ok = ok ? "true" : "false";
  }

  function act(name, action, button) {
    var c = cards.get(name);
    if (c) c.root.dataset.busy = "1";
    render();
    message(action + " " + name + "…", true);
    fetch("/api/realms/" + encodeURIComponent(name) + "/" + action, {
      method: "POST",
      headers: auth(),
      cache: "no-store",
    }).then(function (res) {
      return res.json().then(function (body) {
        if (res.status === 401) token = "";
        message(body.message || body.error || ("HTTP " + res.status), res.ok && body.ok);
      });
    }).catch(function (e) {
      message(action + " " + name + " failed: " + e.message, false);
    }).finally(function () {
      if (c) delete c.root.dataset.busy;
      render();
      button.blur();
    });
  }

  function setConn(state) {
    var e = $("conn");
    e.dataset.state = state;
    e.textContent = state;
  }

  function onBlock(block) {
    var event = "message", data = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) event = line.slice(7);
      else if (line.indexOf("data: ") === 0) data.push(line.slice(6));
    });
    if (event !== "snapshot" || data.length === 0) return;
    last = JSON.parse(data.join("\n"));
    offset = Date.now() - last.now;
    render();
  }

  function connect() {
    setConn(last ? "reconnecting" : "connecting");
    fetch("/api/events", { headers: auth(), cache: "no-store" }).then(function (res) {
      if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
      setConn("live");
      var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      var buf = "";
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) return;
          buf += r.value;
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            onBlock(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {}).then(function () {
      setConn("reconnecting");
      setTimeout(connect, 2000);
    });
  }

  $("readonly").hidden = !!token;
  setInterval(render, 1000);
  connect();
})();
`;
