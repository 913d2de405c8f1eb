/**
 * A framed connection on a socket, with the limits every daemon needs: frame size, a deadline
 * for a frame once started, an idle timeout, and a cap on unsent output.
 * @internal
 * @module
 */
import type net from "node:net";
import {
  type Decoded,
  DEFAULT_MAX_FRAME,
  encodeFrame,
  FrameDecoder,
  FrameError,
} from "./frames.ts";

/** Limits for a {@link FrameConnection}. */
export interface ConnectionLimits {
  /** Largest frame body (default 64 KiB). */
  maxFrame?: number;
  /** A frame once started must be complete within this time (default 5 s). */
  frameTimeoutMs?: number;
  /** Close after this long without any traffic; 0 = never (default 0). */
  idleTimeoutMs?: number;
  /** Close when more than this many bytes wait to be written (default 1 MiB). */
  maxPendingWrite?: number;
}

/** A socket speaking length-prefixed JSON frames. */
export class FrameConnection {
  readonly socket: net.Socket;
  #decoder: FrameDecoder;
  #frameTimer: ReturnType<typeof setTimeout> | undefined;
  #limits: Required<ConnectionLimits>;
  #closed = false;
  #onClose: Array<(reason: string | undefined) => void> = [];

  constructor(
    socket: net.Socket,
    onFrame: (d: Decoded, conn: FrameConnection) => void,
    limits: ConnectionLimits = {},
  ) {
    this.socket = socket;
    this.#limits = {
      maxFrame: limits.maxFrame ?? DEFAULT_MAX_FRAME,
      frameTimeoutMs: limits.frameTimeoutMs ?? 5000,
      idleTimeoutMs: limits.idleTimeoutMs ?? 0,
      maxPendingWrite: limits.maxPendingWrite ?? 1024 * 1024,
    };
    this.#decoder = new FrameDecoder(this.#limits.maxFrame);
    socket.setNoDelay?.(true);
    if (this.#limits.idleTimeoutMs > 0) {
      socket.setTimeout(this.#limits.idleTimeoutMs, () => this.close("idle timeout"));
    }
    socket.on("data", (chunk: Buffer) => {
      let frames: Decoded[];
      try {
        frames = this.#decoder.push(chunk);
      } catch (e) {
        if (e instanceof FrameError) {
          this.close(e.message);
          return;
        }
        throw e;
      }
      this.#armFrameTimer(frames.length > 0);
      for (const f of frames) {
        if (this.#closed) return;
        try {
          onFrame(f, this);
        } catch (e) {
          // A bug met while serving this peer ends this connection only, never the process.
          this.close(`internal error: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
      }
    });
    socket.on("error", () => this.close("socket error"));
    socket.on("close", () => this.close(undefined));
  }

  // The deadline runs from a frame's first byte: later chunks of the same frame never restart
  // it, so a peer trickling one byte at a time is cut when the deadline passes.
  #armFrameTimer(completed: boolean): void {
    if (this.#frameTimer && (completed || this.#decoder.pending === 0)) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    }
    if (this.#decoder.pending > 0 && !this.#frameTimer) {
      this.#frameTimer = setTimeout(
        () => this.close("incomplete frame timed out"),
        this.#limits.frameTimeoutMs,
      );
    }
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Send one message; returns false (and closes) when the peer does not read its output. */
  send(message: unknown): boolean {
    if (this.#closed) return false;
    if (this.socket.writableLength > this.#limits.maxPendingWrite) {
      this.close("peer does not read its replies");
      return false;
    }
    this.socket.write(encodeFrame(message));
    return true;
  }

  /** Run `fn` once when the connection closes, with the reason if it was closed on purpose. */
  onClose(fn: (reason: string | undefined) => void): void {
    if (this.#closed) fn(undefined);
    else this.#onClose.push(fn);
  }

  /** Close the connection (idempotent). */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#frameTimer) clearTimeout(this.#frameTimer);
    this.socket.destroy();
    for (const fn of this.#onClose.splice(0)) fn(reason);
  }

  /** Send a last message, then close once it is flushed. */
  end(message?: unknown): void {
    if (this.#closed) return;
    if (message !== undefined) this.socket.write(encodeFrame(message));
    this.socket.end();
    this.socket.once("finish", () => this.close());
  }
}
