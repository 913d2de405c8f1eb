/**
 * Length-prefixed JSON frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
 * Pure: no sockets.
 * @internal
 * @module
 */
import { Buffer } from "node:buffer";

/** Default largest frame body, in bytes. */
export const DEFAULT_MAX_FRAME = 64 * 1024;

/** Raised for a frame that breaks the framing rules; the connection cannot continue. */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Encode one message as a frame. */
export function encodeFrame(message: unknown): Buffer {
  // One allocation and one UTF-8 pass: this is on every daemon's hot path.
  const text = JSON.stringify(message);
  const length = Buffer.byteLength(text, "utf8");
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(text, 4, "utf8");
  return frame;
}

/** Result of decoding one frame body: a message, or why it is not one. */
export type Decoded = { ok: true; message: unknown } | { ok: false; error: string };

function parseBody(body: Buffer): Decoded {
  try {
    return { ok: true, message: JSON.parse(body.toString("utf8")) };
  } catch {
    return { ok: false, error: "Frame is not valid JSON" };
  }
}

/**
 * Incremental decoder. Feed it chunks; it returns the complete frames. An oversized length
 * throws {@link FrameError}, since the stream can no longer be resynchronised.
 */
export class FrameDecoder {
  readonly maxFrame: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pending(): number {
    return this.#buffered;
  }

  /** Add a chunk and return the frames it completes. */
  push(chunk: Uint8Array): Decoded[] {
    this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#buffered += chunk.byteLength;
    const out: Decoded[] = [];
    if (this.#buffered < 4) return out;
    let buf = this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks);
    let offset = 0;
    while (buf.length - offset >= 4) {
      const len = buf.readUInt32BE(offset);
      if (len > this.maxFrame) {
        throw new FrameError(`Frame of ${len} bytes exceeds the limit of ${this.maxFrame}`);
      }
      if (buf.length - offset - 4 < len) break;
      out.push(parseBody(buf.subarray(offset + 4, offset + 4 + len)));
      offset += 4 + len;
    }
    if (offset > 0) buf = buf.subarray(offset);
    this.#chunks = buf.length ? [buf] : [];
    this.#buffered = buf.length;
    return out;
  }
}
