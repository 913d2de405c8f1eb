/**
 * Claiming a Unix socket path: mode 0600, never displacing a live daemon, taking over a stale one.
 * @internal
 * @module
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Raised when another live server already listens on the socket. */
export class SocketInUseError extends Error {
  override name = "SocketInUseError";
  /** Who holds it, as told by the identify callback (e.g. "pid 1234"). */
  readonly holder: string | undefined;
  constructor(socketPath: string, holder: string | undefined) {
    super(`Already running${holder ? ` (${holder})` : ""} on ${socketPath}`);
    this.holder = holder;
  }
}

/** What a connect attempt found at a socket path. */
export type ProbeResult = "live" | "stale" | "absent";

/** Connect to `socketPath` and say whether a server answers. */
export function probeSocket(socketPath: string, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const timer = setTimeout(() => {
      s.destroy();
      resolve("live"); // something holds the path and accepted the SYN; never displace it
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.destroy();
      resolve("live");
    });
    s.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ECONNREFUSED" || e.code === "ENOTSOCK") resolve("stale");
      else if (e.code === "ENOENT") resolve("absent");
      else resolve("live");
    });
  });
}

function listenOnce(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off("listening", onListening);
      reject(e);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(socketPath);
  });
}

/** Options for {@link claimSocket}. */
export interface ClaimOptions {
  /** File mode of the socket (default 0600). */
  mode?: number;
  /** Ask a live holder who it is, for the error message. */
  identify?: (socketPath: string) => Promise<string | undefined>;
  /** How long to keep trying while another starter holds the take-over lock (default 5 s). */
  timeoutMs?: number;
}

/** A listening server that owns its socket path. */
export interface ClaimedSocket {
  server: net.Server;
  path: string;
  /** Whether the path still names the socket this server created. */
  stillOurs(): boolean;
  /** Stop listening, cut every open connection and remove the path if it is still ours. */
  close(): Promise<void>;
}

function takeOverLock(lockDir: string): boolean {
  try {
    fs.mkdirSync(lockDir, { mode: 0o700 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    // A starter killed inside the few milliseconds it holds the lock leaves it behind.
    try {
      const age = Date.now() - fs.statSync(lockDir).mtimeMs;
      if (age > 10_000) fs.rmdirSync(lockDir);
    } catch { /* gone already */ }
    return false;
  }
}

/**
 * Listen on `socketPath` for `server`. A live server on the path is never displaced
 * ({@link SocketInUseError}); a stale socket is replaced under a short lock so that of many
 * simultaneous starters exactly one listens.
 */
export async function claimSocket(
  server: net.Server,
  socketPath: string,
  options: ClaimOptions = {},
): Promise<ClaimedSocket> {
  const mode = options.mode ?? 0o600;
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const lockDir = path.join(path.dirname(socketPath), `.${path.basename(socketPath)}.takeover`);
  for (;;) {
    try {
      await listenOnce(server, socketPath);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
    }
    const found = await probeSocket(socketPath);
    if (found === "live") {
      throw new SocketInUseError(
        socketPath,
        await options.identify?.(socketPath).catch(() => undefined),
      );
    }
    if (takeOverLock(lockDir)) {
      try {
        if ((await probeSocket(socketPath)) === "live") continue; // re-checked under the lock
        fs.rmSync(socketPath, { force: true });
        await listenOnce(server, socketPath);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
      } finally {
        fs.rmSync(lockDir, { recursive: true, force: true });
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`Could not claim socket ${socketPath}: another starter keeps it busy`);
    }
    await sleep(10 + Math.random() * 20);
  }
  fs.chmodSync(socketPath, mode);
  const ino = fs.statSync(socketPath).ino;
  const stillOurs = () => {
    try {
      return fs.statSync(socketPath).ino === ino;
    } catch {
      return false;
    }
  };
  // Closing must not wait for peers that never read: track connections and cut them on close.
  const connections = new Set<net.Socket>();
  server.on("connection", (sock: net.Socket) => {
    connections.add(sock);
    sock.once("close", () => connections.delete(sock));
  });
  let closed = false;
  return {
    server,
    path: socketPath,
    stillOurs,
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      if (stillOurs()) fs.rmSync(socketPath, { force: true });
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const sock of connections) sock.destroy();
      return done;
    },
  };
}
