/**
 * The C library's lenient number and address readers, as upstream's SUNWfiles modules read
 * hand-edited container lines with them: `inet_addr`, `atoi`, `atoll`, the client-ID hex reader
 * and the fixed-size copies of the macro and comment fields.
 * @internal
 * @module
 */
import { DN_MAX_CID_LEN } from "../../spi.ts";

/** INADDR_NONE: what inet_addr returns for text it cannot read (255.255.255.255). */
export const INADDR_NONE = 0xffffffff;

function cNumber(text: string): number | undefined {
  // One part of inet_aton: 0x hex, leading-0 octal, else decimal.
  let m: RegExpExecArray | null;
  if ((m = /^0[xX]([0-9a-fA-F]*)$/.exec(text))) return m[1] === "" ? 0 : parseInt(m[1] ?? "", 16);
  if (/^0[0-7]*$/.test(text)) return parseInt(text, 8);
  if (/^[1-9][0-9]*$/.test(text)) return Number(text);
  return undefined;
}

/**
 * `inet_addr(3C)`: one to four parts (`a`, `a.b`, `a.b.c`, `a.b.c.d`, the last filling the
 * remaining bytes), each decimal, octal or hex, trailing blanks allowed; anything else is
 * INADDR_NONE. Host order.
 */
export function inetAddr(text: string): number {
  const body = text.replace(/[ \t\n\r\f\v].*$/s, "");
  const parts = body.split(".");
  if (body === "" || parts.length > 4) return INADDR_NONE;
  const nums: number[] = [];
  for (const p of parts) {
    const n = cNumber(p);
    if (n === undefined || !Number.isFinite(n) || n > 0xffffffff) return INADDR_NONE;
    nums.push(n);
  }
  const last = nums.pop() as number;
  if (nums.some((n) => n > 0xff)) return INADDR_NONE;
  const room = [0xffffffff, 0xffffff, 0xffff, 0xff][nums.length] as number;
  if (last > room) return INADDR_NONE;
  let v = 0;
  for (const n of nums) v = v * 256 + n;
  return (v * (room + 1) + last) >>> 0;
}

function leadingInteger(text: string): { negative: boolean; digits: string } {
  const m = /^[ \t\n\r\f\v]*([+-]?)([0-9]*)/.exec(text) as RegExpExecArray;
  return { negative: m[1] === "-", digits: m[2] ?? "" };
}

/** `atoi(3C)` as Solaris computes it, as an unsigned 32-bit value: wraps modulo 2^32, garbage is 0. */
export function atoi32(text: string): number {
  const { negative, digits } = leadingInteger(text.slice(0, 4096));
  let n = 0;
  for (const c of digits) n = (n * 10 + (c.charCodeAt(0) - 48)) % 0x100000000;
  return (negative ? 0x100000000 - n : n) >>> 0;
}

/** `atoll(3C)` as an unsigned 64-bit value: wraps modulo 2^64, garbage is 0. */
export function atoll64(text: string): bigint {
  const { negative, digits } = leadingInteger(text.slice(0, 4096));
  const mod = 1n << 64n;
  const n = digits === "" ? 0n : BigInt(digits) % mod;
  return negative ? (mod - n) % mod : n;
}

/**
 * `hexascii_to_octet` into a DN_MAX_CID_LEN buffer: either case, an even number of hex digits,
 * at most 64 bytes; empty text is an empty ID. undefined (the line matches nothing) otherwise.
 */
export function hexToOctets(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || hex.length > DN_MAX_CID_LEN * 2) return undefined;
  if (!/^[0-9A-Fa-f]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * At most `max` bytes of `s` in UTF-8, as upstream's copy into a fixed field keeps (macro 128,
 * comment 48); a character that would be split is dropped whole.
 */
export function cutBytes(s: string, max: number): string {
  if (s.length <= max / 4) return s;
  const bytes = new TextEncoder().encode(s);
  if (bytes.length <= max) return s;
  let end = max;
  // Back up to the start of a UTF-8 character.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
