/**
 * Record helpers: update signatures (16-bit random generation + 48-bit counter, as bigint),
 * IPv4 addresses as host-order numbers, client IDs as bytes / uppercase hex, record makers
 * (upstream alloc_dtrec/alloc_dnrec) and copies.
 * @module
 */
import { randomBytes } from "node:crypto";
import {
  DN_MAX_CID_LEN,
  DN_MAX_COMMENT_LEN,
  type DnRec,
  DSVC,
  DSVC_MAX_MACSYM_LEN,
  DsvcError,
  type DtRec,
  type DtType,
} from "./spi.ts";

const MASK64 = (1n << 64n) - 1n;
const COUNTER_MASK = (1n << 48n) - 1n;
const GENERATION_MASK = MASK64 ^ COUNTER_MASK;

/** A signature for a newly stored record: random 16-bit generation, counter 1. */
export function newSignature(): bigint {
  const gen = randomBytes(2).readUInt16BE(0);
  return (BigInt(gen) << 48n) | 1n;
}

/** The signature after one more update: counter + 1, same generation (never 0). */
export function nextSignature(sig: bigint): bigint {
  let counter = ((sig & COUNTER_MASK) + 1n) & COUNTER_MASK;
  if (counter === 0n) counter = 1n;
  return (sig & GENERATION_MASK) | counter;
}

/** The 16-bit generation of a signature. */
export function signatureGeneration(sig: bigint): number {
  return Number((sig >> 48n) & 0xffffn);
}

/** The 48-bit counter of a signature. */
export function signatureCounter(sig: bigint): bigint {
  return sig & COUNTER_MASK;
}

/** Parse an unsigned decimal 64-bit signature exactly; undefined when it is not one. */
export function parseSignature(text: string): bigint | undefined {
  if (!/^[0-9]{1,20}$/.test(text)) return undefined;
  const v = BigInt(text);
  return v > MASK64 ? undefined : v;
}

/** Whether `sig` is a bigint in 0..2^64-1. */
export function isSignature(sig: unknown): sig is bigint {
  return typeof sig === "bigint" && sig >= 0n && sig <= MASK64;
}

// ---------------------------------------------------------------------------------------------
// IPv4

/** Parse a strict dotted quad ("10.0.0.1") to a host-order number; undefined when malformed. */
export function parseIp(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const o = Number(part);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

/** A host-order number as a dotted quad. */
export function ipToString(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Whether `ip` is an integer in 0..2^32-1. */
export function isIp(ip: unknown): ip is number {
  return typeof ip === "number" && Number.isInteger(ip) && ip >= 0 && ip <= 0xffffffff;
}

/** The classful default netmask of an address (A /8, B /16, C and above /24). */
export function classfulNetmask(ip: number): number {
  const top = ip >>> 24;
  if (top < 128) return 0xff000000;
  if (top < 192) return 0xffff0000;
  return 0xffffff00;
}

/** Parse a netmask given as dotted quad or "/prefix"/"prefix"; undefined when not contiguous. */
export function parseNetmask(text: string): number | undefined {
  let mask: number | undefined;
  const prefix = /^\/?(\d{1,2})$/.exec(text);
  if (prefix) {
    const p = Number(prefix[1]);
    if (p > 32) return undefined;
    mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  } else {
    mask = parseIp(text);
  }
  if (mask === undefined) return undefined;
  const inv = (~mask) >>> 0;
  return (inv & (inv + 1)) === 0 ? mask : undefined;
}

// ---------------------------------------------------------------------------------------------
// Client IDs

/** Client ID bytes as uppercase hex (the on-disk and display form). */
export function cidToHex(cid: Uint8Array): string {
  let s = "";
  for (const b of cid) s += b.toString(16).toUpperCase().padStart(2, "0");
  return s;
}

/** Parse hex (either case, even length, 2..128 characters) to bytes; undefined when malformed. */
export function cidFromHex(hex: string): Uint8Array | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || hex.length > DN_MAX_CID_LEN * 2) return undefined;
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Whether two client IDs have the same length and bytes. */
export function cidEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Record makers and copies

/** A dhcptab record with signature 0, key truncated to 128 characters (alloc_dtrec). */
export function makeDtRec(key: string, type: DtType, value: string): DtRec {
  return { sig: 0n, key: key.slice(0, DSVC_MAX_MACSYM_LEN), type, value };
}

/** Fields of {@link makeDnRec}; the client ID may be bytes or hex. */
export interface DnRecInit {
  /** Client identifier, bytes or hex (default empty). */
  cid?: Uint8Array | string;
  /** DN_F* flags (default 0). */
  flags?: number;
  /** Client IP address, number or dotted. */
  cip: number | string;
  /** Server IP address, number or dotted (default 0). */
  sip?: number | string;
  /** Lease expiry in seconds since the epoch (default 0). */
  lease?: number;
  /** Macro name (default empty). */
  macro?: string;
  /** Comment (default empty). */
  comment?: string;
}

function ipArg(v: number | string, what: string): number {
  const n = typeof v === "number" ? v : parseIp(v);
  if (n === undefined || !isIp(n)) {
    throw new DsvcError(DSVC.INVAL, `${what} is not an IPv4 address: ${String(v)}`);
  }
  return n;
}

/** A network record with signature 0, strings truncated to their limits (alloc_dnrec). */
export function makeDnRec(init: DnRecInit): DnRec {
  const cidIn = init.cid ?? "00";
  const cid = typeof cidIn === "string" ? cidFromHex(cidIn) : cidIn.slice(0, DN_MAX_CID_LEN);
  if (!cid) throw new DsvcError(DSVC.INVAL, `client ID is not hexadecimal: ${String(cidIn)}`);
  return {
    sig: 0n,
    cid,
    flags: init.flags ?? 0,
    cip: ipArg(init.cip, "client IP"),
    sip: ipArg(init.sip ?? 0, "server IP"),
    lease: init.lease ?? 0,
    macro: (init.macro ?? "").slice(0, DSVC_MAX_MACSYM_LEN),
    comment: (init.comment ?? "").slice(0, DN_MAX_COMMENT_LEN),
  };
}

/** An independent copy of a dhcptab record. */
export function copyDtRec(r: DtRec): DtRec {
  return { sig: r.sig, key: r.key, type: r.type, value: r.value };
}

/** An independent copy of a network record. */
export function copyDnRec(r: DnRec): DnRec {
  return {
    sig: r.sig,
    cid: Uint8Array.from(r.cid),
    flags: r.flags,
    cip: r.cip,
    sip: r.sip,
    lease: r.lease,
    macro: r.macro,
    comment: r.comment,
  };
}
