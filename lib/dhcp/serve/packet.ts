/**
 * The DHCPv4 packet codec (RFC 2131 §2, RFC 2132, RFC 3396): decoding a request into fields and
 * options with every length checked, option overload (52) handled once, and encoding a reply
 * within a size limit, long options split and the file/sname fields used for overflow.
 * Pure: no sockets, no clock.
 * @module
 */

/** The magic cookie that starts the options field (RFC 2132 §2). */
export const MAGIC_COOKIE = 0x63825363;
/** Size of the fixed BOOTP header before the magic cookie. */
export const HEADER_SIZE = 236;
/** Smallest request accepted: the header plus the cookie. */
export const MIN_REQUEST_SIZE = HEADER_SIZE + 4;
/** Largest request accepted; larger datagrams are dropped unread. */
export const MAX_REQUEST_SIZE = 4096;
/** Size every DHCP client must accept (RFC 2131 §2: 576-byte IP datagrams). */
export const DEFAULT_MAX_MESSAGE = 576;
/** Largest reply steward builds (an Ethernet MTU less IP and UDP headers). */
export const MAX_REPLY_SIZE = 1500 - 28;
/** BOOTP replies are padded to this size (RFC 951: 300-byte messages). */
export const BOOTP_MIN_SIZE = 300;

/** BOOTP op codes. */
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** The broadcast bit of `flags` (RFC 1542). */
export const BROADCAST_FLAG = 0x8000;

/** DHCP message types (option 53). */
export const DHCP = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** Option codes the server itself reads or writes. */
export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  HOSTNAME: 12,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  T1: 58,
  T2: 59,
  CLASS_ID: 60,
  CLIENT_ID: 61,
  END: 255,
} as const;

/** Why a datagram was dropped; the name is what `serve status` counts. */
export class PacketError extends Error {
  override name = "PacketError";
  /** Short reason key, e.g. "short", "cookie", "overrun". */
  readonly reason: string;
  constructor(reason: string, detail: string) {
    super(`Malformed packet: ${detail}`);
    this.reason = reason;
  }
}

/** A decoded request. Addresses are unsigned 32-bit numbers in host order. */
export interface DhcpRequest {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** The 16-byte chaddr field. */
  chaddr: Uint8Array;
  /** The 64-byte sname field as received (may hold options under overload). */
  sname: Uint8Array;
  /** The 128-byte file field as received. */
  file: Uint8Array;
  /** Options by code; repeated instances concatenated (RFC 3396). */
  options: Map<number, Uint8Array>;
  /** Option 53, or undefined for a BOOTP request. */
  messageType: number | undefined;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function parseArea(
  b: Uint8Array,
  start: number,
  end: number,
  into: Map<number, Uint8Array>,
  where: string,
  allowOverload: boolean,
): number | undefined {
  let overload: number | undefined;
  let i = start;
  while (i < end) {
    const code = b[i]!;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) return overload;
    if (i + 1 >= end) throw new PacketError("overrun", `option ${code} in ${where} has no length`);
    const len = b[i + 1]!;
    if (i + 2 + len > end) {
      throw new PacketError("overrun", `option ${code} in ${where} runs past its field`);
    }
    const value = b.subarray(i + 2, i + 2 + len);
    if (code === OPT.OVERLOAD) {
      // Only the options field may overload; an overload option inside file or sname (a loop)
      // is ignored, as is a second one.
      if (allowOverload && overload === undefined) {
        if (len !== 1 || value[0]! < 1 || value[0]! > 3) {
          throw new PacketError("overload", `option 52 must be one octet 1..3`);
        }
        overload = value[0]!;
      }
    } else {
      const prev = into.get(code);
      if (prev === undefined) into.set(code, value);
      else {
        const joined = new Uint8Array(prev.length + len);
        joined.set(prev);
        joined.set(value, prev.length);
        into.set(code, joined);
      }
    }
    i += 2 + len;
  }
  // RFC 2131 requires an end option, but many stacks omit it in the padded fields: accept.
  return overload;
}

/**
 * Decode a request datagram. Throws PacketError for anything that is not a well-formed
 * BOOTREQUEST: too short or too long, wrong op, hlen over 16, a bad magic cookie, options that
 * overrun their field, a malformed overload option or message type.
 */
export function decodeRequest(b: Uint8Array, maxHops = 16): DhcpRequest {
  if (b.length < MIN_REQUEST_SIZE) {
    throw new PacketError("short", `${b.length} bytes, fewer than ${MIN_REQUEST_SIZE}`);
  }
  if (b.length > MAX_REQUEST_SIZE) {
    throw new PacketError("oversized", `${b.length} bytes, more than ${MAX_REQUEST_SIZE}`);
  }
  if (b[0] !== BOOTREQUEST) throw new PacketError("op", `op ${b[0]} is not BOOTREQUEST`);
  const hlen = b[2]!;
  if (hlen > 16) throw new PacketError("hlen", `hlen ${hlen} is more than 16`);
  const hops = b[3]!;
  if (hops > maxHops) throw new PacketError("hops", `hops ${hops} is more than ${maxHops}`);
  if (u32(b, HEADER_SIZE) !== MAGIC_COOKIE) {
    throw new PacketError("cookie", "the magic cookie is not 99.130.83.99");
  }
  const options = new Map<number, Uint8Array>();
  const overload = parseArea(b, MIN_REQUEST_SIZE, b.length, options, "options", true);
  // RFC 2131 §4.1: the file field is read before sname.
  if (overload !== undefined && (overload & 1)) parseArea(b, 108, 236, options, "file", false);
  if (overload !== undefined && (overload & 2)) parseArea(b, 44, 108, options, "sname", false);
  const mt = options.get(OPT.MESSAGE_TYPE);
  let messageType: number | undefined;
  if (mt !== undefined) {
    if (mt.length !== 1 || mt[0]! < 1 || mt[0]! > 8) {
      throw new PacketError("type", "option 53 is not one octet 1..8");
    }
    messageType = mt[0]!;
  }
  return {
    op: b[0]!,
    htype: b[1]!,
    hlen,
    hops,
    xid: u32(b, 4),
    secs: (b[8]! << 8) | b[9]!,
    flags: (b[10]! << 8) | b[11]!,
    ciaddr: u32(b, 12),
    yiaddr: u32(b, 16),
    siaddr: u32(b, 20),
    giaddr: u32(b, 24),
    chaddr: b.slice(28, 44),
    sname: b.slice(44, 108),
    file: b.slice(108, 236),
    options,
    messageType,
  };
}

/** The option value as a 4-byte address, or undefined when absent or not 4 bytes long. */
export function optionIp(req: DhcpRequest, code: number): number | undefined {
  const v = req.options.get(code);
  return v !== undefined && v.length === 4 ? u32(v, 0) : undefined;
}

/** The largest reply this client accepts (option 57, at least 576, at most MAX_REPLY_SIZE). */
export function maxReplySize(req: DhcpRequest): number {
  const v = req.options.get(OPT.MAX_MESSAGE_SIZE);
  if (v === undefined || v.length !== 2) return DEFAULT_MAX_MESSAGE;
  const n = (v[0]! << 8) | v[1]!;
  return Math.min(MAX_REPLY_SIZE, Math.max(DEFAULT_MAX_MESSAGE, n));
}

/** A reply to encode. Options are emitted in the given order; each value may exceed 255 bytes. */
export interface DhcpReply {
  xid: number;
  secs?: number;
  flags: number;
  htype: number;
  hlen: number;
  chaddr: Uint8Array;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** Server host name for the sname field (BootSrvN); empty leaves it for overload. */
  sname?: Uint8Array;
  /** Boot file name for the file field (BootFile); empty leaves it for overload. */
  file?: Uint8Array;
  options: readonly (readonly [number, Uint8Array])[];
  /** BOOTP reply: no overload, padded to 300 bytes. */
  bootp?: boolean;
}

/** What encodeReply produced: the bytes and the codes left out for lack of room. */
export interface EncodedReply {
  bytes: Uint8Array;
  dropped: number[];
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/** The instances an option needs: values over 255 bytes are split (RFC 3396). */
function instances(code: number, value: Uint8Array): number {
  void code;
  return Math.max(1, Math.ceil(value.length / 255));
}

function optionSize(code: number, value: Uint8Array): number {
  return value.length + 2 * instances(code, value);
}

function writeOption(b: Uint8Array, at: number, code: number, value: Uint8Array): number {
  if (value.length === 0) {
    b[at] = code;
    b[at + 1] = 0;
    return at + 2;
  }
  for (let o = 0; o < value.length; o += 255) {
    const part = value.subarray(o, Math.min(value.length, o + 255));
    b[at] = code;
    b[at + 1] = part.length;
    b.set(part, at + 2);
    at += 2 + part.length;
  }
  return at;
}

/**
 * Encode a reply of at most `limit` bytes. The first two options (message type and server
 * identifier) always fit; others that do not fit in the options field go to file, then sname
 * (option 52) when those fields are free; what still does not fit is left out and named in
 * `dropped`.
 */
export function encodeReply(r: DhcpReply, limit: number): EncodedReply {
  const size = Math.max(MIN_REQUEST_SIZE + 4, Math.min(limit, MAX_REPLY_SIZE));
  const b = new Uint8Array(size);
  b[0] = BOOTREPLY;
  b[1] = r.htype;
  b[2] = r.hlen;
  b[3] = 0;
  putU32(b, 4, r.xid);
  b[8] = ((r.secs ?? 0) >>> 8) & 255;
  b[9] = (r.secs ?? 0) & 255;
  b[10] = (r.flags >>> 8) & 255;
  b[11] = r.flags & 255;
  putU32(b, 12, r.ciaddr);
  putU32(b, 16, r.yiaddr);
  putU32(b, 20, r.siaddr);
  putU32(b, 24, r.giaddr);
  b.set(r.chaddr.subarray(0, 16), 28);
  const snameUsed = r.sname !== undefined && r.sname.length > 0;
  const fileUsed = r.file !== undefined && r.file.length > 0;
  if (snameUsed) b.set(r.sname!.subarray(0, 63), 44);
  if (fileUsed) b.set(r.file!.subarray(0, 127), 108);
  putU32(b, HEADER_SIZE, MAGIC_COOKIE);
  // Areas: [start, end) with room kept for the end option (and 52 in the options field).
  const canOverload = !r.bootp;
  const reserveOverload = canOverload && (!fileUsed || !snameUsed) ? 3 : 0;
  const mainEnd = size - 1 - reserveOverload;
  const areas: { start: number; at: number; end: number; bit: number }[] = [
    { start: MIN_REQUEST_SIZE, at: MIN_REQUEST_SIZE, end: mainEnd, bit: 0 },
  ];
  if (canOverload && !fileUsed) areas.push({ start: 108, at: 108, end: 235, bit: 1 });
  if (canOverload && !snameUsed) areas.push({ start: 44, at: 44, end: 107, bit: 2 });
  const dropped: number[] = [];
  let overload = 0;
  for (const [code, value] of r.options) {
    const need = optionSize(code, value);
    // A split option stays in one area so that its parts are read in order.
    const area = areas.find((a) => a.end - a.at >= need);
    if (!area) {
      dropped.push(code);
      continue;
    }
    area.at = writeOption(b, area.at, code, value);
    overload |= area.bit;
  }
  let main = areas[0]!;
  if (overload !== 0) {
    main.at = writeOption(b, main.at, OPT.OVERLOAD, Uint8Array.of(overload));
    for (const a of areas.slice(1)) if (overload & a.bit) b[a.at] = OPT.END;
  }
  b[main.at] = OPT.END;
  let len = main.at + 1;
  if (r.bootp) len = Math.max(len, BOOTP_MIN_SIZE);
  main = areas[0]!;
  return { bytes: b.subarray(0, Math.min(size, len)), dropped };
}

/** Encode a request (for tests, fuzzers and the benchmark's own checks). */
export function encodeRequest(
  r: Omit<DhcpReply, "bootp"> & { hops?: number },
  limit = DEFAULT_MAX_MESSAGE,
): Uint8Array {
  const e = encodeReply(r, limit).bytes;
  e[0] = BOOTREQUEST;
  e[3] = r.hops ?? 0;
  return e;
}
