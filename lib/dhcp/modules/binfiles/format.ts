/**
 * The SUNWbinfiles version 1 on-disk layouts (upstream `dhcp_network.h`, `dhcptab.h`): the
 * 32 KiB network header, the 280-byte network record, the client-ID hash, and the dhcptab
 * header and records. Every integer the upstream code byte-swaps is big-endian here; bytes
 * upstream leaves uninitialized are written as zeros and ignored when read.
 * @internal
 * @module
 */
import type { DnRec, DtRec } from "../../spi.ts";

/** Hash buckets of the client-ID chains. */
export const DN_CIDHASHSZ = 4056;
/** Network container magic. */
export const DN_MAGIC = 0x0d6c92e4;
/** dnh_tempimage: the temporary record is not in use. */
export const DN_NOIMAGE = 0x80;
/** No record / end of chain. */
export const DN_NOREC = 0;
/** Record id of the header's temporary record. */
export const DN_TEMPREC = 0xffffffff;
/** rec_prev of a chain's first record. */
export const DN_HASHHEAD = 0xfffffffe;
/** Size of the network header. */
export const DN_HEADER_SIZE = 32768;
/** Size of one network record. */
export const DN_REC_SIZE = 280;
/** Container version written in byte 0 once the container is complete. */
export const BINFILES_CONVER = 1;

/** Header field offsets. */
export const H = {
  version: 0,
  dirty: 1,
  image: 2,
  tempimage: 3,
  magic: 4,
  network: 8,
  netmask: 12,
  temp: 16,
  checks: 296,
  errors: 300,
  /**
   * steward's change counter (big-endian u32) in the first word of `dnh_pad`: upstream creates
   * the pad as zeros, never writes it, and rewrites it unchanged in its recovery pass.
   */
  changes: 304,
  cidhash: 320,
} as const;

/** Record field offsets. */
export const R = {
  next0: 0,
  next1: 4,
  prev0: 8,
  prev1: 12,
  sig: 16,
  cip: 24,
  sip: 28,
  lease: 32,
  macro: 36,
  comment: 165,
  cid: 214,
  cidLen: 278,
  flags: 279,
} as const;

const MACRO_FIELD = 129;
const COMMENT_FIELD = 49;
const CID_FIELD = 64;

/** Offset of record `id` (DN_TEMPREC: the header's temporary record). */
export function recOffset(id: number): number {
  return id === DN_TEMPREC ? H.temp : DN_HEADER_SIZE + DN_REC_SIZE * (id - 1);
}

/** Record id of address `addr` under `mask`: one slot per address, ids from 1. */
export function recId(addr: number, mask: number): number {
  return ((addr & ~mask) >>> 0) + 1;
}

/** Number of record slots of a network with `mask`. */
export function slotCount(mask: number): number {
  return ((~mask) >>> 0) + 1;
}

/** Full size of a container with `mask` (upstream extends the file to it at creation). */
export function containerSize(mask: number): number {
  return DN_HEADER_SIZE + DN_REC_SIZE * slotCount(mask);
}

/** Offset of hash head `h` of image `image`. */
export function headOffset(h: number, image: number): number {
  return H.cidhash + 8 * h + 4 * image;
}

/** The client-ID hash: CRC-16 (reflected 0x8408, init 0xffff, no final xor) modulo 4056. */
export function cidHash(cid: Uint8Array): number {
  let r = 0xffff;
  for (const b of cid) {
    r ^= b;
    for (let i = 0; i < 8; i++) r = r & 1 ? (r >>> 1) ^ 0x8408 : r >>> 1;
  }
  return r % DN_CIDHASHSZ;
}

/** A record slot as stored: pointers of both images and the record. */
export interface FileRec {
  next: [number, number];
  prev: [number, number];
  rec: DnRec;
}

/** Why a string field could not be stored. */
export class FieldTooLong extends Error {}

function putString(buf: Buffer, at: number, field: number, s: string, what: string): void {
  if (Buffer.byteLength(s, "utf8") > field - 1) {
    throw new FieldTooLong(`${what} is longer than ${field - 1} bytes: ${s}`);
  }
  const n = buf.write(s, at, field - 1, "utf8");
  buf.fill(0, at + n, at + field);
}

function getString(buf: Buffer, at: number, field: number): string {
  let end = buf.indexOf(0, at);
  if (end < 0 || end > at + field) end = at + field;
  return buf.toString("utf8", at, end);
}

/** Encode `f` into `buf` at `at` (280 bytes; undefined bytes zero). */
export function encodeFileRec(f: FileRec, buf: Buffer, at = 0): void {
  buf.writeUInt32BE(f.next[0], at + R.next0);
  buf.writeUInt32BE(f.next[1], at + R.next1);
  buf.writeUInt32BE(f.prev[0], at + R.prev0);
  buf.writeUInt32BE(f.prev[1], at + R.prev1);
  encodeDnData(f.rec, buf, at);
}

/** Encode the record part (bytes 16..279) of a slot. */
export function encodeDnData(r: DnRec, buf: Buffer, at = 0): void {
  buf.writeBigUInt64BE(r.sig, at + R.sig);
  buf.writeUInt32BE(r.cip >>> 0, at + R.cip);
  buf.writeUInt32BE(r.sip >>> 0, at + R.sip);
  buf.writeUInt32BE(r.lease >>> 0, at + R.lease);
  putString(buf, at + R.macro, MACRO_FIELD, r.macro, "macro");
  putString(buf, at + R.comment, COMMENT_FIELD, r.comment, "comment");
  buf.fill(0, at + R.cid, at + R.cid + CID_FIELD);
  buf.set(r.cid.subarray(0, CID_FIELD), at + R.cid);
  buf.writeUInt8(Math.min(r.cid.length, CID_FIELD), at + R.cidLen);
  buf.writeUInt8(r.flags & 0xff, at + R.flags);
}

/** Decode the record part of the slot at `at`. */
export function decodeDnData(buf: Buffer, at = 0): DnRec {
  const len = Math.min(buf[at + R.cidLen] as number, CID_FIELD);
  return {
    sig: buf.readBigUInt64BE(at + R.sig),
    cid: Uint8Array.from(buf.subarray(at + R.cid, at + R.cid + len)),
    flags: buf[at + R.flags] as number,
    cip: buf.readUInt32BE(at + R.cip),
    sip: buf.readUInt32BE(at + R.sip),
    lease: buf.readUInt32BE(at + R.lease),
    macro: getString(buf, at + R.macro, MACRO_FIELD),
    comment: getString(buf, at + R.comment, COMMENT_FIELD),
  };
}

/** Decode a whole slot. */
export function decodeFileRec(buf: Buffer, at = 0): FileRec {
  return {
    next: [buf.readUInt32BE(at + R.next0), buf.readUInt32BE(at + R.next1)],
    prev: [buf.readUInt32BE(at + R.prev0), buf.readUInt32BE(at + R.prev1)],
    rec: decodeDnData(buf, at),
  };
}

/** What is wrong with the stored record at `at` beyond its pointers, or undefined. */
export function recordDamage(buf: Buffer, at: number): string | undefined {
  const len = buf[at + R.cidLen] as number;
  if (len < 1 || len > CID_FIELD) return `client ID length ${len} is outside 1..64`;
  const flags = buf[at + R.flags] as number;
  if (flags & ~0x0f) return `flags 0x${flags.toString(16)} have undefined bits`;
  if (buf.indexOf(0, at + R.macro) >= at + R.macro + MACRO_FIELD) {
    return "macro is not NUL-terminated";
  }
  if (buf.indexOf(0, at + R.comment) >= at + R.comment + COMMENT_FIELD) {
    return "comment is not NUL-terminated";
  }
  return undefined;
}

/** The header of a new container (version 0 until it is complete). */
export function newNetworkHeader(net: number, mask: number): Buffer {
  const h = Buffer.alloc(DN_HEADER_SIZE);
  h[H.version] = 0;
  h[H.dirty] = 0;
  h[H.image] = 0;
  h[H.tempimage] = DN_NOIMAGE;
  h.writeUInt32BE(DN_MAGIC, H.magic);
  h.writeUInt32BE(net >>> 0, H.network);
  h.writeUInt32BE(mask >>> 0, H.netmask);
  return h;
}

// ---------------------------------------------------------------------------------------------
// dhcptab

/** dhcptab magic. */
export const DT_MAGIC = 0x0d6c94ab;
/** dhcptab header size. */
export const DT_HEADER_SIZE = 24;
/** Fixed part of a dhcptab record before its value. */
export const DT_REC_FIXED = 148;
const DT_KEY_FIELD = 129;

/** The 24-byte dhcptab header. */
export function newDhcptabHeader(): Buffer {
  const h = Buffer.alloc(DT_HEADER_SIZE);
  h[0] = BINFILES_CONVER;
  h.writeUInt32BE(DT_MAGIC, 4);
  return h;
}

/** Why a dhcptab header is not acceptable, or undefined. */
export function dhcptabHeaderDamage(buf: Buffer): string | undefined {
  if (buf.length < DT_HEADER_SIZE) return `only ${buf.length} bytes, shorter than its header`;
  const magic = buf.readUInt32BE(4);
  if (magic !== DT_MAGIC) return `magic is 0x${magic.toString(16)}, not 0x${DT_MAGIC.toString(16)}`;
  if (buf[0] !== BINFILES_CONVER) return `version is ${buf[0]}, not ${BINFILES_CONVER}`;
  return undefined;
}

/** Encode one dhcptab record (148 bytes plus the value and its NUL). */
export function encodeDtRec(r: DtRec): Buffer {
  const value = Buffer.from(r.value, "utf8");
  if (value.includes(0)) throw new FieldTooLong(`value of ${r.key} contains a NUL character`);
  const buf = Buffer.alloc(DT_REC_FIXED + value.length + 1);
  buf.writeBigUInt64BE(r.sig, 0);
  putString(buf, 12, DT_KEY_FIELD, r.key, "key");
  buf.write(r.type, 141, 1, "latin1");
  buf.writeUInt32BE(value.length + 1, 144);
  value.copy(buf, DT_REC_FIXED);
  return buf;
}

/** A dhcptab record found in a file, with its byte range. */
export interface DtFound {
  rec: DtRec;
  start: number;
  end: number;
}

/** Why the file is not a well-formed dhcptab (records), with the offset. */
export class DtDamage extends Error {
  readonly offset: number;
  constructor(offset: number, why: string) {
    super(`record at offset ${offset}: ${why}`);
    this.offset = offset;
  }
}

/**
 * The records of a dhcptab file, in file order. Each record is read with its own length
 * (upstream reads a fixed 152 bytes and fails on a short last record: flaw F2).
 */
export function decodeDhcptab(buf: Buffer): DtFound[] {
  const out: DtFound[] = [];
  let at = DT_HEADER_SIZE;
  while (at < buf.length) {
    if (buf.length - at < DT_REC_FIXED) {
      throw new DtDamage(
        at,
        `truncated: ${buf.length - at} bytes left, a record needs at least 149`,
      );
    }
    const size = buf.readUInt32BE(at + 144);
    if (size < 1 || size > buf.length - at - DT_REC_FIXED) {
      throw new DtDamage(at, `value size ${size} does not fit in the file`);
    }
    const end = at + DT_REC_FIXED + size;
    if (buf[end - 1] !== 0) throw new DtDamage(at, "value is not NUL-terminated");
    if (buf.indexOf(0, at + 12) >= at + 12 + DT_KEY_FIELD) {
      throw new DtDamage(at, "key is not NUL-terminated");
    }
    const type = String.fromCharCode(buf[at + 141] as number);
    if (type !== "s" && type !== "m") throw new DtDamage(at, `type ${JSON.stringify(type)}`);
    let vend = buf.indexOf(0, at + DT_REC_FIXED);
    if (vend < 0 || vend > end - 1) vend = end - 1;
    out.push({
      rec: {
        sig: buf.readBigUInt64BE(at),
        key: getString(buf, at + 12, DT_KEY_FIELD),
        type,
        value: buf.toString("utf8", at + DT_REC_FIXED, vend),
      },
      start: at,
      end,
    });
    at = end;
  }
  return out;
}
