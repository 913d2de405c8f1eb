/**
 * The SUNWbinfiles dhcptab container (upstream `dhcptab.c`): a 24-byte header, then records
 * back to back in no particular order; every update copies the file to `<file>.new` (created
 * exclusively), with the added or modified record at the end, and renames it into place.
 * @internal
 * @module
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { matchDtRec } from "../../match.ts";
import { newSignature, nextSignature } from "../../records.ts";
import {
  type CommitFence,
  DSVC,
  DsvcError,
  type DtRec,
  type LookupResult,
  type ModuleLookup,
} from "../../spi.ts";
import { fileMode, readContainer, replaceContainer } from "../util.ts";
import {
  decodeDhcptab,
  dhcptabHeaderDamage,
  DtDamage,
  type DtFound,
  encodeDtRec,
  FieldTooLong,
} from "./format.ts";

function what(r: { key: string; type: string }): string {
  return `${r.type === "m" ? "macro" : "symbol"} ${r.key}`;
}

/** Read and parse the dhcptab `file` (INTERNAL naming the file and the damage). */
export async function readDhcptab(file: string): Promise<{ buf: Buffer; recs: DtFound[] }> {
  const buf = await readContainer(file);
  const bad = dhcptabHeaderDamage(buf);
  if (bad) throw new DsvcError(DSVC.INTERNAL, `${file}: not a SUNWbinfiles dhcptab: ${bad}`);
  try {
    return { buf, recs: decodeDhcptab(buf) };
  } catch (e) {
    if (e instanceof DtDamage) {
      throw new DsvcError(DSVC.INTERNAL, `${file}: damaged: ${e.message}`);
    }
    throw e;
  }
}

function encode(r: DtRec): Buffer {
  try {
    return encodeDtRec(r);
  } catch (e) {
    if (e instanceof FieldTooLong) throw new DsvcError(DSVC.INVAL, e.message);
    throw e;
  }
}

async function rewrite(
  file: string,
  parts: Uint8Array[],
  fence: CommitFence | undefined,
): Promise<void> {
  await replaceContainer(file, parts, { mode: await fileMode(file), fence });
}

/** Records matching the request, in reverse file order (upstream prepends). */
export async function lookupDhcptab(
  file: string,
  req: ModuleLookup<DtRec>,
): Promise<LookupResult<DtRec>> {
  const { recs } = await readDhcptab(file);
  const limit = req.count < 0 ? Infinity : req.count;
  const out: DtRec[] = [];
  let n = 0;
  for (const f of recs) {
    if (n >= limit) break;
    if (!matchDtRec(f.rec, req.query, req.target)) continue;
    n++;
    if (!req.countOnly) out.push(f.rec);
  }
  return { records: req.countOnly ? [] : out.reverse(), count: n };
}

function find(recs: DtFound[], key: string, type: string): DtFound | undefined {
  return recs.find((f) => f.rec.key === key && f.rec.type === type);
}

/** Add `newp` at the end (sets its signature). */
export async function addDhcptab(
  file: string,
  newp: DtRec,
  fence?: CommitFence,
): Promise<void> {
  const { buf, recs } = await readDhcptab(file);
  if (find(recs, newp.key, newp.type)) throw new DsvcError(DSVC.EXISTS, what(newp));
  const stored = { ...newp, sig: newSignature() };
  await rewrite(file, [buf, encode(stored)], fence);
  newp.sig = stored.sig;
}

/** Replace `origp` (same signature) by `newp`, appended at the end. */
export async function modifyDhcptab(
  file: string,
  origp: DtRec,
  newp: DtRec,
  fence?: CommitFence,
): Promise<void> {
  const { buf, recs } = await readDhcptab(file);
  if ((origp.key !== newp.key || origp.type !== newp.type) && find(recs, newp.key, newp.type)) {
    throw new DsvcError(DSVC.EXISTS, what(newp));
  }
  const old = find(recs, origp.key, origp.type);
  if (!old) throw new DsvcError(DSVC.NOENT, what(origp));
  if (old.rec.sig !== origp.sig) {
    throw new DsvcError(DSVC.COLLISION, `${what(origp)} changed since it was read`);
  }
  const stored = { ...newp, sig: nextSignature(old.rec.sig) };
  await rewrite(file, [
    buf.subarray(0, old.start),
    buf.subarray(old.end),
    encode(stored),
  ], fence);
  newp.sig = stored.sig;
}

/** Delete the record with `dtp`'s key and type (signature checked unless 0). */
export async function deleteDhcptab(
  file: string,
  dtp: DtRec,
  fence?: CommitFence,
): Promise<void> {
  const { buf, recs } = await readDhcptab(file);
  const old = find(recs, dtp.key, dtp.type);
  if (!old) throw new DsvcError(DSVC.NOENT, what(dtp));
  if (dtp.sig !== 0n && old.rec.sig !== dtp.sig) {
    throw new DsvcError(DSVC.COLLISION, `${what(dtp)} changed since it was read`);
  }
  await rewrite(file, [buf.subarray(0, old.start), buf.subarray(old.end)], fence);
}

/** Remove a stale `.new` left by an interrupted update (for `network check`). */
export async function removeStaleNew(file: string): Promise<boolean> {
  try {
    await fsp.unlink(`${file}.new`);
    return true;
  } catch {
    return false;
  }
}

/** The file name of the dhcptab in `location`. */
export function dhcptabFile(location: string): string {
  return path.join(location, "SUNWbinfiles1_dhcptab");
}
