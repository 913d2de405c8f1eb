/**
 * The status page's HTTP server on its own: an event-stream reader that stops reading is
 * dropped instead of filling the daemon's memory, the stream limit answers 503, and close()
 * ends open streams.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Buffer } from "node:buffer";
import { type EventStream, HttpServer } from "../../../lib/realms/display/http.ts";
import { waitFor } from "../../helpers.ts";
import { parseResponse, rawHttp } from "./helpers.ts";

test("an event stream whose reader stops reading is dropped at the buffer limit", async () => {
  const streams: EventStream[] = [];
  let closed = 0;
  const chunk = "x".repeat(64 * 1024);
  const server = await HttpServer.listen("127.0.0.1", 0, () => ({
    status: 200,
    stream: (s) => {
      streams.push(s);
      s.onClose(() => closed++);
    },
  }), { limits: { maxBufferedBytes: 128 * 1024, maxStreams: 1 } });
  const client = net.connect(server.address.port, "127.0.0.1");
  client.on("error", () => {});
  try {
    client.write("GET /events HTTP/1.1\r\n\r\n");
    await waitFor(() => streams.length === 1, 5000, "the stream");
    client.pause(); // never reads again
    const second = parseResponse(await rawHttp(server.address.port, "GET /e HTTP/1.1\r\n\r\n"));
    assert.equal(second.status, 503, "one stream at most");
    const s = streams[0] as EventStream;
    // Kernel buffers take a few megabytes first; then the server's own queue grows to the limit.
    const deadline = Date.now() + 20_000;
    let sent = 0;
    while (!s.closed && Date.now() < deadline) {
      s.send("snapshot", chunk);
      sent += chunk.length;
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(s.closed, true, `dropped after ${sent} bytes`);
    assert.equal(s.send("snapshot", "more"), false, "a closed stream takes nothing");
    assert.equal(closed, 1);
  } finally {
    client.destroy();
    await server.close();
  }
});

test("close() ends open event streams and refuses new connections", async () => {
  const streams: EventStream[] = [];
  const server = await HttpServer.listen("127.0.0.1", 0, () => ({
    status: 200,
    stream: (s) => {
      streams.push(s);
      s.send("hello", "a\nb");
    },
  }));
  const port = server.address.port;
  const client = net.connect(port, "127.0.0.1");
  client.on("error", () => {});
  let text = "";
  client.on("data", (c: Buffer) => (text += c.toString("utf8")));
  const ended = new Promise((r) => client.once("close", r));
  client.write("GET / HTTP/1.1\r\n\r\n");
  await waitFor(() => text.includes("event: hello\ndata: a\ndata: b\n\n"), 5000, "the event");
  await server.close();
  await ended;
  assert.equal(streams[0]?.closed, true);
  await assert.rejects(rawHttp(port, "GET / HTTP/1.1\r\n\r\n", 3000));
});
