/**
 * How a request names its client, exactly as upstream in.dhcpd keys `dn_cid` (generic.c
 * get_clnt_id): the client-identifier option 61 of a DHCP request, or else the hardware type
 * followed by the hardware address (BOOTP, or DHCP without option 61).
 * @module
 */
import { DN_MAX_CID_LEN } from "../spi.ts";
import { type DhcpRequest, OPT } from "./packet.ts";

/** The client ID bytes of `req` (at most 64). */
export function clientId(req: DhcpRequest): Uint8Array {
  const opt = req.options.get(OPT.CLIENT_ID);
  if (req.messageType !== undefined && opt !== undefined && opt.length > 0) {
    return opt.slice(0, DN_MAX_CID_LEN);
  }
  const cid = new Uint8Array(Math.min(DN_MAX_CID_LEN, req.hlen + 1));
  cid[0] = req.htype;
  cid.set(req.chaddr.subarray(0, cid.length - 1), 1);
  return cid;
}

/** Uppercase hex of a client ID: the macro name of the client and the key of its caches. */
export function cidHex(cid: Uint8Array): string {
  let s = "";
  for (const b of cid) s += (b < 16 ? "0" : "") + b.toString(16);
  return s.toUpperCase();
}

/** The vendor class (option 60) as text, or undefined. */
export function classId(req: DhcpRequest): string | undefined {
  const v = req.options.get(OPT.CLASS_ID);
  if (v === undefined || v.length === 0) return undefined;
  return new TextDecoder("latin1").decode(v);
}
