/**
 * The realm manager protocol's framing, byte for byte as upstream `realmmgr.pm` speaks it, as a
 * pure codec (no sockets): a request is `<command> SP CR LF <data> SP CR LF`; a reply is
 * `<code> SP CR LF <message> SP CR LF`, after which the server closes. One command per
 * connection. Both sides enforce the limits.
 * @module
 */
import { Buffer } from "node:buffer";
import { RealmError } from "../errors.ts";
import { verifyRealmCommand } from "./codes.ts";

/** Limits on the framing; both sides enforce them. */
export interface RealmWireLimits {
  /** Largest request line (command or data) in bytes, terminator included (default 8 KiB). */
  maxLine: number;
  /** Largest reply in bytes (default 4 MiB). */
  maxReply: number;
}

/** Default {@link RealmWireLimits}. */
export const DEFAULT_REALM_WIRE_LIMITS: Readonly<RealmWireLimits> = {
  maxLine: 8 * 1024,
  maxReply: 4 * 1024 * 1024,
};

/** A request: the command string and its data (empty when there is none). */
export interface RealmRequest {
  /** The command word. */
  command: string;
  /** Its data (may be empty). */
  data: string;
}

/** A reply: the return code and the message (which may contain `\n`). */
export interface RealmReply {
  /** Return code (REALM_RC). */
  code: number;
  /** The reply's message. */
  message: string;
}

function checkLine(what: string, text: string, maxLine: number): void {
  if (/[\r\n\0]/.test(text)) {
    throw new RealmError(
      "invalid",
      `${what} must be one line without CR, LF or NUL: ${JSON.stringify(text)}`,
    );
  }
  if (Buffer.byteLength(text, "utf8") + 3 > maxLine) {
    throw new RealmError("limit", `${what} is longer than ${maxLine - 3} bytes`);
  }
}

/** Options of {@link encodeRealmRequest}. */
export interface EncodeRealmRequestOptions {
  /** Refuse commands that {@link verifyRealmCommand} does not know (default true). */
  verify?: boolean;
  limits?: Partial<RealmWireLimits>;
}

/**
 * Encode a request: `cmd + " \r\n" + data + " \r\n"`. Throws a {@link RealmError} (`invalid`)
 * for an unknown command (unless `verify: false`) or a CR/LF/NUL in either part, and `limit`
 * for an over-long line.
 */
export function encodeRealmRequest(
  command: string,
  data = "",
  options: EncodeRealmRequestOptions = {},
): Buffer {
  const maxLine = options.limits?.maxLine ?? DEFAULT_REALM_WIRE_LIMITS.maxLine;
  if (options.verify !== false && !verifyRealmCommand(command)) {
    throw new RealmError("invalid", `Unknown realm manager command: ${command}`);
  }
  if (command === "") throw new RealmError("invalid", "Command is empty");
  checkLine("Command", command, maxLine);
  checkLine("Data", data, maxLine);
  return Buffer.from(`${command} \r\n${data} \r\n`, "utf8");
}

/**
 * Strip a line's terminator: exactly one upstream `" \r\n"` (any other trailing spaces are data),
 * or, for looser clients, `\r\n` / `\n` and then trailing blanks.
 */
function stripRequestLine(line: string): string {
  if (line.endsWith(" \r\n")) return line.slice(0, -3);
  return line.replace(/\r?\n$/, "").replace(/[ \t\r]+$/, "");
}

/**
 * Incremental request parser for the server side. Feed chunks with {@link push}; it returns the
 * request once both lines are in. {@link end} handles a client that half-closes early: a command
 * line without a data line is a request with empty data. Throws a {@link RealmError} (`limit`) for
 * a line longer than `maxLine` and (`protocol`) for a NUL byte or a request without a command.
 */
export class RealmRequestParser {
  readonly #maxLine: number;
  #buf: Buffer = Buffer.alloc(0);
  #lines: string[] = [];
  #done: RealmRequest | undefined;

  constructor(limits: Partial<RealmWireLimits> = {}) {
    this.#maxLine = limits.maxLine ?? DEFAULT_REALM_WIRE_LIMITS.maxLine;
  }

  /** Add bytes; returns the request when complete (and keeps returning it). */
  push(chunk: Uint8Array): RealmRequest | undefined {
    if (this.#done) return this.#done;
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl < 0) break;
      if (nl + 1 > this.#maxLine) this.#tooLong();
      this.#lines.push(this.#decodeLine(this.#buf.subarray(0, nl + 1)));
      this.#buf = this.#buf.subarray(nl + 1);
      if (this.#lines.length === 2) return this.#finish();
    }
    if (this.#buf.length > this.#maxLine) this.#tooLong();
    return undefined;
  }

  /** The peer finished sending: complete the request from what arrived, or throw `protocol`. */
  end(): RealmRequest {
    if (this.#done) return this.#done;
    if (this.#buf.length > 0) this.#lines.push(this.#decodeLine(this.#buf));
    this.#buf = Buffer.alloc(0);
    if (this.#lines.length === 0 || this.#lines[0] === "") {
      throw new RealmError("protocol", "Request has no command line");
    }
    return this.#finish();
  }

  #decodeLine(bytes: Buffer): string {
    if (bytes.includes(0)) throw new RealmError("protocol", "Request contains a NUL byte");
    return stripRequestLine(bytes.toString("utf8"));
  }

  #tooLong(): never {
    throw new RealmError("limit", `Request line is longer than ${this.#maxLine} bytes`);
  }

  #finish(): RealmRequest {
    const command = (this.#lines[0] ?? "").trim();
    if (command === "") throw new RealmError("protocol", "Request has no command line");
    this.#done = { command, data: this.#lines[1] ?? "" };
    return this.#done;
  }
}

/** Parse a whole request (both lines, or what a client sent before closing). */
export function decodeRealmRequest(
  bytes: Uint8Array,
  limits: Partial<RealmWireLimits> = {},
): RealmRequest {
  const parser = new RealmRequestParser(limits);
  return parser.push(bytes) ?? parser.end();
}

/** Encode a reply: `code + " \r\n" + message + " \r\n"` (the message may contain `\n`). */
export function encodeRealmReply(reply: RealmReply): Buffer {
  if (!Number.isInteger(reply.code) || reply.code < 0) {
    throw new RealmError("invalid", `Return code must be a non-negative integer: ${reply.code}`);
  }
  return Buffer.from(`${reply.code} \r\n${reply.message} \r\n`, "utf8");
}

/**
 * Incremental reply parser for the client side. Upstream `realmmgr_getresp` reads the code line,
 * then everything up to EOF, and strips one trailing `" \r\n"`; so does {@link end}. Zero bytes is
 * a `no-reply` error (upstream returned undef and realmctl reported success); a code line that is
 * not a number is `protocol`; more than `maxReply` bytes is `limit`.
 */
export class RealmReplyParser {
  readonly #maxReply: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limits: Partial<RealmWireLimits> = {}) {
    this.#maxReply = limits.maxReply ?? DEFAULT_REALM_WIRE_LIMITS.maxReply;
  }

  /** Bytes received so far. */
  get size(): number {
    return this.#size;
  }

  /** Add bytes; throws `limit` once the reply is larger than allowed. */
  push(chunk: Uint8Array): void {
    this.#size += chunk.length;
    if (this.#size > this.#maxReply) {
      throw new RealmError("limit", `Reply is larger than ${this.#maxReply} bytes`);
    }
    // Socket chunks are fresh buffers: keep them as they are instead of copying.
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    );
  }

  /** The server closed the connection: decode the reply. */
  end(): RealmReply {
    const text =
      (this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks))
        .toString("utf8");
    if (text.length === 0) {
      throw new RealmError("no-reply", "The realm manager closed the connection without a reply");
    }
    const nl = text.indexOf("\n");
    const first = nl < 0 ? text : text.slice(0, nl + 1);
    const codeText = first.replace(/\r?\n$/, "").trim();
    if (!/^\d{1,9}$/.test(codeText)) {
      throw new RealmError(
        "protocol",
        `Reply does not start with a return code: ${JSON.stringify(first.slice(0, 80))}`,
      );
    }
    let message = nl < 0 ? "" : text.slice(nl + 1);
    if (message.endsWith(" \r\n")) message = message.slice(0, -3);
    else if (message.endsWith("\r\n")) message = message.slice(0, -2);
    return { code: Number(codeText), message };
  }
}

/** Parse a whole reply as received up to EOF. */
export function decodeRealmReply(
  bytes: Uint8Array,
  limits: Partial<RealmWireLimits> = {},
): RealmReply {
  const parser = new RealmReplyParser(limits);
  parser.push(bytes);
  return parser.end();
}
