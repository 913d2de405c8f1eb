/**
 * A scripted realm manager for client tests: listens on the real socket path of a state
 * directory, records the exact bytes of each connection and answers with scripted bytes,
 * the way dtrealms would (reply, then close).
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Buffer } from "node:buffer";

/** What the fake daemon answers: raw bytes, or "hang" (never answer, never close). */
export type Script = (request: string) => string | "hang";

/** A running fake daemon. */
export interface FakeRealmd {
  socketPath: string;
  /** Raw bytes received, one entry per connection, in arrival order. */
  received: string[];
  /** Replace the script. */
  script: Script;
  close(): Promise<void>;
}

/** Start a fake daemon on `<stateDir>/dnssec-tools/realmmgr.socket`. */
export async function startFakeRealmd(stateDir: string, script: Script): Promise<FakeRealmd> {
  const socketPath = path.join(stateDir, "dnssec-tools", "realmmgr.socket");
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const open = new Set<net.Socket>();
  const fake: FakeRealmd = {
    socketPath,
    received: [],
    script,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on("close", () => open.delete(sock));
    sock.on("error", () => sock.destroy());
    let buf = "";
    const index = fake.received.push("") - 1;
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      const out = fake.script(buf);
      if (out === "hang") return;
      sock.end(Buffer.from(out, "latin1"));
    };
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      fake.received[index] = buf;
      // Two lines make a request, as dtrealms reads it.
      if ((buf.match(/\n/g) ?? []).length >= 2) answer();
    });
    sock.on("end", answer);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return fake;
}

/** Reply bytes the way dtrealms writes them. */
export function reply(code: number, message: string): string {
  return `${code} \r\n${message} \r\n`;
}
